r"""JetCLR training and evaluation: contrastive training loop, frozen representations, LCT.

The training side of JetCLR (Dillon, Kasieczka, Olischlager, Plehn, Sorrenson and
Vogel, *Symmetries, Safety, and Self-Supervision*, hep-ph/2108.04253); the encoder
is :class:`~pgjets.models.JetCLREncoder`.  :func:`train_jetclr` minimises the NT-Xent
loss (:func:`~pgjets.nn.nt_xent_loss`) of two augmented views
(:mod:`pgjets.train.augment`) of each jet; :func:`linear_classifier_test` judges the
frozen representations with a logistic regression (ROC AUC and background
rejection :math:`1/\varepsilon_B` at :math:`\varepsilon_S = 0.5`);
:func:`rotation_invariance` measures how much rotating a jet changes them.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from .._checks import as_tensor, check_finite, check_ndim, check_nonempty, check_positive_int
from ..errors import EmptyGraphError, InputShapeError
from ..nn.contrastive import nt_xent_loss
from .augment import RandomRotation, two_views
from .metrics import background_rejection, roc_auc


def jetclr_loss(
    encoder: nn.Module,
    batch: Any,
    augmentations: Union[Callable, Sequence[Callable]],
    temperature: float = 0.1,
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    second_view: Union[Callable, Sequence[Callable]] = (),
) -> Tensor:
    r"""NT-Xent loss of ``encoder`` on two augmented views of ``batch``.

    .. math::
        \mathcal{L} = \mathrm{NTXent}_\tau\big(f(t_1(x)), f(t_2(x))\big),
        \qquad (t_1(x), t_2(x)) = \texttt{two\_views}(x)

    Args:
        encoder: Maps a jet batch to representations :math:`(B, D)`.
        batch: A batch of :math:`B \geq 2` jets.
        augmentations: Transform(s) of :mod:`pgjets.train.augment` (an empty
            list gives two identical views).
        temperature: :math:`\tau > 0`.
        seed: Seed of the augmentation generator (reproducible views).
        generator: Or an existing generator (advanced during training).
        second_view: Transforms applied to the second view only
            (:func:`~pgjets.train.augment.two_views`).

    Shapes:
        - **input:** :math:`B` jets; **output:** scalar
    """
    view1, view2 = two_views(batch, augmentations, seed=seed, generator=generator, second_view=second_view)
    return nt_xent_loss(encoder(view1), encoder(view2), temperature=temperature)


def train_jetclr(
    encoder: nn.Module,
    batches_fn: Union[Callable[[int], Iterable[Any]], Iterable[Any]],
    augmentations: Union[Callable, Sequence[Callable]],
    epochs: int = 10,
    lr: float = 1e-3,
    temperature: float = 0.1,
    seed: int = 0,
    second_view: Union[Callable, Sequence[Callable]] = (),
    on_epoch_end: Optional[Callable[[int, float], None]] = None,
) -> list[float]:
    r"""Train ``encoder`` contrastively with Adam; return the mean loss of every epoch.

    Each step minimises :func:`jetclr_loss`; the augmentations draw from one
    generator seeded by ``seed``, so a run is reproducible. Batches with fewer
    than two jets are skipped (NT-Xent needs negatives).

    .. math::
        \bar{\mathcal{L}}_e = \frac{1}{S_e} \sum_{s=1}^{S_e} \mathcal{L}(x_s)

    Args:
        encoder: The encoder (put into training mode).
        batches_fn: ``epoch -> iterable of batches`` or a re-iterable
            collection of batches (e.g. a list).
        augmentations: The augmentation pipeline.
        epochs: Number of epochs.
        lr: Adam learning rate.
        temperature: NT-Xent temperature :math:`\tau`.
        seed: Seed of the augmentation generator.
        second_view: Transforms applied to the second view only (JetCLR's
            soft smearing and collinear splitting).
        on_epoch_end: Called as ``on_epoch_end(epoch, mean_loss)`` after every
            epoch, with the encoder in evaluation mode (e.g. to run a linear
            classifier test); training resumes in training mode, the optimiser
            state is kept.

    Shapes:
        - **output:** list of ``epochs`` floats
    """
    epochs = check_positive_int(epochs, "epochs")
    if not lr > 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    g = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    losses: list[float] = []
    encoder.train()
    for epoch in range(epochs):
        batches = batches_fn(epoch) if callable(batches_fn) else batches_fn
        total, steps = 0.0, 0
        for batch in batches:
            if getattr(batch, "num_graphs", 2) < 2:
                continue
            loss = jetclr_loss(encoder, batch, augmentations, temperature=temperature, generator=g,
                               second_view=second_view)
            if not bool(torch.isfinite(loss)):
                raise FloatingPointError(f"JetCLR loss became {float(loss)} in epoch {epoch}")
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
            steps += 1
        if steps == 0:
            raise EmptyGraphError(f"epoch {epoch} had no batch with at least two jets")
        losses.append(total / steps)
        if on_epoch_end is not None:
            encoder.eval()
            on_epoch_end(epoch, losses[-1])
            encoder.train()
    encoder.eval()
    return losses


@torch.no_grad()
def representations(encoder: nn.Module, batches: Iterable[Any], pooled: bool = False) -> tuple[Tensor, Tensor]:
    r"""Frozen representations :math:`r = f(x)` and labels ``y`` of all jets in ``batches``.

    Args:
        encoder: The (trained) encoder; it is evaluated in eval mode and its
            mode is restored afterwards.
        batches: Iterable of jet batches carrying ``y``.
        pooled: Return the pooled embedding before the head
            (:meth:`~pgjets.models.JetCLREncoder.pooled`) instead of the head output.

    Shapes:
        - **output:** features :math:`(N_\text{jets}, D)`, labels :math:`(N_\text{jets},)`
    """
    was_training = encoder.training
    encoder.eval()
    feats, labels = [], []
    try:
        for batch in batches:
            y = getattr(batch, "y", None)
            if y is None:
                raise InputShapeError("representations needs labels y on every batch")
            r = encoder.pooled(batch) if pooled else encoder(batch)
            feats.append(r.detach().cpu())
            labels.append(y.view(-1).cpu().long())
    finally:
        encoder.train(was_training)
    if not feats:
        raise EmptyGraphError("batches yielded no jets")
    f, y = torch.cat(feats), torch.cat(labels)
    if f.size(0) != y.numel():
        raise InputShapeError(f"got {f.size(0)} representations but {y.numel()} labels")
    return f, y


def linear_classifier_test(
    representations: Union[Tensor, np.ndarray],
    labels: Union[Tensor, np.ndarray],
    test_fraction: float = 0.3,
    seed: int = 0,
    signal_efficiency: float = 0.5,
) -> dict[str, float]:
    r"""Linear classifier test: logistic regression on frozen, standardised features.

    The jets are split (stratified) into train and test sets; the features are
    standardised with the training mean and spread and a logistic regression

    .. math::
        p(\text{signal} \mid r) = \sigma(w^\top \hat r + b)

    is fitted on the training set. Reported on the test set: ``auc``,
    ``rejection`` :math:`= 1/\varepsilon_B` at :math:`\varepsilon_S` =
    ``signal_efficiency``, ``accuracy``, and ``n_train`` / ``n_test``.

    Args:
        representations: Features :math:`(N, D)`.
        labels: Binary labels :math:`(N,)` (1 = signal).
        test_fraction: Fraction of jets in the test set, in :math:`(0, 1)`.
        seed: Seed of the split and the classifier.
        signal_efficiency: Working point :math:`\varepsilon_S`.

    Shapes:
        - **input:** :math:`(N, D)`, :math:`(N,)`; **output:** dict of floats
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    feats = as_tensor(representations, "representations").detach().cpu().double()
    y = as_tensor(labels, "labels").detach().cpu().view(-1).long()
    check_ndim(feats, 2, "representations", "(num_jets, features)")
    check_nonempty(feats.size(0), "representations")
    check_finite(feats, "representations")
    if y.numel() != feats.size(0):
        raise InputShapeError(f"labels has {y.numel()} entries but representations has {feats.size(0)} rows")
    classes = sorted(set(y.tolist()))
    if classes != [0, 1]:
        raise InputShapeError(f"labels must be binary with both classes 0 and 1 present, got classes {classes}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    X, Y = feats.numpy(), y.numpy()
    try:
        X_tr, X_te, y_tr, y_te = train_test_split(X, Y, test_size=test_fraction, random_state=seed, stratify=Y)
    except ValueError as exc:
        raise InputShapeError(f"too few jets for a stratified split: {exc}") from exc
    if len(set(y_te.tolist())) < 2 or len(set(y_tr.tolist())) < 2:
        raise InputShapeError("train and test sets must both contain signal and background jets")
    scaler = StandardScaler().fit(X_tr)
    clf = LogisticRegression(max_iter=2000, random_state=seed)
    clf.fit(scaler.transform(X_tr), y_tr)
    scores = clf.decision_function(scaler.transform(X_te))
    return {
        "auc": roc_auc(scores, y_te),
        "rejection": background_rejection(scores, y_te, signal_efficiency),
        "accuracy": float(((scores > 0).astype(np.int64) == y_te).mean()),
        "n_train": float(len(y_tr)),
        "n_test": float(len(y_te)),
    }


@torch.no_grad()
def rotation_invariance(encoder: nn.Module, batch: Any, seed: int = 0) -> float:
    r"""Mean cosine similarity between :math:`f(x)` and :math:`f(R_\theta x)`.

    Every jet gets its own random rotation
    :math:`\theta_b \sim U[0, 2\pi)` of ``pos`` about the jet axis
    (:class:`~pgjets.train.augment.RandomRotation`); the encoder runs in eval mode.

    .. math::
        S = \frac{1}{B} \sum_b \frac{f(x_b) \cdot f(R_{\theta_b} x_b)}
            {\lVert f(x_b) \rVert \, \lVert f(R_{\theta_b} x_b) \rVert}

    :math:`S = 1` means a perfectly rotation-invariant representation.

    Args:
        encoder: The encoder (mode restored afterwards).
        batch: A batch of jets with ``pos``.
        seed: Seed of the rotation angles.

    Shapes:
        - **input:** :math:`B` jets; **output:** float
    """
    was_training = encoder.training
    encoder.eval()
    try:
        rotated = RandomRotation(seed=seed)(batch)
        a, b = encoder(batch), encoder(rotated)
    finally:
        encoder.train(was_training)
    return float(torch.nn.functional.cosine_similarity(a, b, dim=-1, eps=1e-12).mean())


__all__ = ["jetclr_loss", "train_jetclr", "representations", "linear_classifier_test", "rotation_invariance"]
