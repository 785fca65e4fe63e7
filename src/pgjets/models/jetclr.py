r"""JetCLR: self-supervised, contrastively trained jet representations.

Follows the idea of Dillon, Kasieczka, Olischlager, Plehn, Sorrenson and Vogel,
*Symmetries, Safety, and Self-Supervision* (hep-ph/2108.04253): a
permutation-invariant transformer encoder :math:`f` maps a jet to a
representation :math:`r = f(x)`; it is trained with the NT-Xent loss so that
two augmented views :math:`t_1(x), t_2(x)` of the same jet land close together
and views of different jets far apart. The symmetries (rotations,
translations) and the IRC "nuisances" (soft smearing, collinear splitting) the
representation should ignore enter only through the augmentations.

The representation is then judged with a *linear classifier test* (LCT): a
logistic regression on the frozen, standardised representations, reported as
the ROC AUC and the background rejection :math:`1/\varepsilon_B` at
:math:`\varepsilon_S = 0.5`.

IR safety is built in: particles enter the attention only as keys weighted by
their momentum fraction (an additive bias :math:`\log z_j`), and the pooling is
the :math:`z`-weighted sum of :class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool`,
so a particle with :math:`p_T = 0` changes nothing.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, to_dense_batch

from .._checks import as_tensor, check_finite, check_ndim, check_nonempty, check_positive_int, check_sorted
from ..errors import EmptyGraphError, InputShapeError
from ..nn.energy_flow_pool import EnergyFlowPool
from ..nn.transformer import TransformerBlock
from ..train.augment import RandomRotation, two_views
from ..train.contrastive import nt_xent_loss

#: Additive attention bias for keys with :math:`z_j = 0`; exp of it underflows to exactly 0.
_NO_KEY = -1.0e4


def _momentum_fractions(pt: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    """:math:`z_i = p_{T,i} / \\sum_{j \\in \\text{jet}} p_{T,j}` with typed errors."""
    if bool((pt < 0).any()):
        raise InputShapeError("pt must be non-negative")
    total = scatter(pt, batch, 0, dim_size=num_graphs, reduce="sum")
    bad = total <= 0
    if bool(bad.any()):
        g = int(torch.nonzero(bad)[0])
        raise EmptyGraphError(f"jet {g} has no constituents with pt > 0 (momentum fractions undefined)")
    return pt / total[batch]


def _batch_vector(data: Any, n: int, device: torch.device) -> tuple[Tensor, int]:
    batch = getattr(data, "batch", None)
    if batch is None:
        return torch.zeros(n, dtype=torch.long, device=device), 1
    check_ndim(batch, 1, "batch", "(num_nodes,)")
    if batch.numel() != n:
        raise InputShapeError(f"batch has {batch.numel()} entries but the jets have {n} particles")
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1
    return batch.long(), int(num_graphs)


class JetCLREncoder(nn.Module):
    r"""Permutation-invariant, IR-safe transformer encoder of JetCLR.

    Per particle :math:`i` of a jet the input is
    :math:`u_i = (\Delta\eta_i, \Delta\phi_i, z_i)` with
    :math:`z_i = p_{T,i} / \sum_j p_{T,j}` (``features="pos_z"``, the default)
    or the node features ``x`` (``features="x"``). The encoder computes

    .. math::
        h_i^{(0)} = W u_i + b, \qquad
        h^{(l+1)} = \mathrm{Block}_l\big(h^{(l)};\ \beta_{ij} = \log z_j\big),

    .. math::
        r = \mathrm{MLP}\Big(\sum_{i \in \text{jet}} z_i\, h_i^{(L)}\Big),

    where each :class:`~pgjets.nn.transformer.TransformerBlock` attends over
    the fully connected jet (dense path) with the additive key bias
    :math:`\beta_{ij} = \log z_j`, i.e. attention weights
    :math:`\propto z_j \exp(q_i \cdot k_j / \sqrt{d})`. A particle with
    :math:`z_j = 0` is therefore never attended to and gets zero weight in the
    :class:`~pgjets.nn.energy_flow_pool.EnergyFlowPool`, so with
    ``features="pos_z"`` the representation is exactly invariant to adding
    soft particles (IR safe); it is permutation invariant by construction.
    With ``features="x"`` IR safety holds only if ``x`` itself does not depend
    on the soft particle (it never changes the other rows of ``x`` in practice).

    Args:
        in_channels: Size of the per-particle input (3 for ``"pos_z"``).
        channels: Hidden size :math:`C` of the transformer.
        heads: Attention heads (must divide ``channels``).
        num_layers: Number of transformer blocks :math:`L`.
        out_channels: Size of the representation :math:`r`.
        features: ``"pos_z"`` (build :math:`u_i` from ``pos`` and ``pt``) or ``"x"``.
        pt_weighted_attention: Use the :math:`\log z_j` key bias (needed for
            IR safety); ``False`` gives plain full attention.
        dropout: Dropout inside the blocks.

    Shapes:
        - **input:** a (batch of) jet graph(s) with ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)` (and ``x`` :math:`(N, F)` for ``features="x"``)
        - **output:** :math:`(B, \text{out\_channels})`
    """

    def __init__(
        self,
        in_channels: int = 3,
        channels: int = 64,
        heads: int = 4,
        num_layers: int = 2,
        out_channels: int = 32,
        features: str = "pos_z",
        pt_weighted_attention: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if features not in ("pos_z", "x"):
            raise ValueError(f"features must be 'pos_z' or 'x', got {features!r}")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        if features == "pos_z" and self.in_channels != 3:
            raise ValueError(f"features='pos_z' gives 3 input channels, got in_channels={in_channels}")
        self.channels = check_positive_int(channels, "channels")
        self.heads = check_positive_int(heads, "heads")
        if self.channels % self.heads:
            raise ValueError(f"heads ({heads}) must divide channels ({channels})")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.features = features
        self.pt_weighted_attention = bool(pt_weighted_attention)
        self.embed = nn.Linear(self.in_channels, self.channels)
        self.blocks = nn.ModuleList(
            [TransformerBlock(self.channels, self.heads, dropout=dropout) for _ in range(self.num_layers)]
        )
        self.norm = nn.LayerNorm(self.channels)
        self.pool = EnergyFlowPool(normalize=True)
        self.head = nn.Sequential(
            nn.Linear(self.channels, self.channels), nn.ReLU(), nn.Linear(self.channels, self.out_channels)
        )

    def reset_parameters(self) -> None:
        """Re-initialise all weights."""
        self.embed.reset_parameters()
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()
        for m in self.head:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def _inputs(self, data: Any) -> tuple[Tensor, Tensor, Tensor, int]:
        pt = getattr(data, "pt", None)
        if pt is None:
            raise InputShapeError("JetCLREncoder needs pt (N,) on the jets")
        if pt.dim() == 2 and pt.size(1) == 1:
            pt = pt.view(-1)
        check_ndim(pt, 1, "pt", "(num_nodes,)")
        n = pt.numel()
        check_nonempty(n, "jet batch")
        check_finite(pt, "pt")
        batch, num_graphs = _batch_vector(data, n, pt.device)
        check_sorted(batch, "batch must be sorted in ascending order (as PyG batches are)")
        z = _momentum_fractions(pt.to(torch.get_default_dtype()), batch, num_graphs)
        if self.features == "pos_z":
            pos = getattr(data, "pos", None)
            if pos is None:
                raise InputShapeError("features='pos_z' needs pos (N, 2) on the jets")
            check_ndim(pos, 2, "pos", "(num_nodes, 2)")
            if pos.shape != (n, 2):
                raise InputShapeError(f"pos must have shape ({n}, 2), got {tuple(pos.shape)}")
            u = torch.cat([pos.to(z.dtype), z.unsqueeze(-1)], dim=-1)
        else:
            x = getattr(data, "x", None)
            if x is None:
                raise InputShapeError("features='x' needs x (N, F) on the jets")
            check_ndim(x, 2, "x", "(num_nodes, features)")
            if x.shape != (n, self.in_channels):
                raise InputShapeError(f"x must have shape ({n}, {self.in_channels}), got {tuple(x.shape)}")
            u = x.to(z.dtype)
        check_finite(u, "per-particle input")
        return u, z, batch, num_graphs

    def _attention_bias(self, z: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        logz = torch.where(z > 0, torch.log(z.clamp_min(1e-30)), torch.full_like(z, _NO_KEY))
        dense, _ = to_dense_batch(logz, batch, fill_value=_NO_KEY, batch_size=num_graphs)  # (B, Nmax)
        b, nmax = dense.shape
        return dense[:, None, None, :].expand(b, self.heads, nmax, nmax)

    def pooled(self, data: Any) -> Tensor:
        r"""The pooled particle embedding :math:`\sum_i z_i h_i^{(L)}` before the head, :math:`(B, C)`."""
        u, z, batch, num_graphs = self._inputs(data)
        h = self.embed(u)
        bias = self._attention_bias(z, batch, num_graphs) if self.pt_weighted_attention else None
        for block in self.blocks:
            h = block(h, batch=batch, dense=True, dense_bias=bias)
        h = self.norm(h)
        return self.pool(h, batch, dim_size=num_graphs, pt=z)

    def forward(self, data: Any) -> Tensor:
        """Representation :math:`r` of every jet in ``data``; see the class docstring."""
        return self.head(self.pooled(data))

    @property
    def padded_inputs(self) -> tuple[str, ...]:
        """Fields of :meth:`forward_padded` (before the mask), see :func:`pgjets.models.padded.pad_batch`."""
        return ("pos", "pt") if self.features == "pos_z" else ("x", "pt")

    def forward_padded(self, u: Tensor, pt: Tensor, mask: Tensor) -> Tensor:
        r"""Representations from padded jets (``torch.compile`` / ONNX path).

        .. math::
            z_{bi} = \frac{M_{bi}\, p_{T,bi}}{\sum_j M_{bj}\, p_{T,bj}}, \qquad
            r_b = \mathrm{MLP}\Big(\sum_i z_{bi}\, h_{bi}^{(L)}\Big)

        with attention restricted to the valid particles.  Equal to :meth:`forward`
        on the same jets; no check for jets with zero total :math:`p_T` here.

        Args:
            u: ``pos`` :math:`(B, N, 2)` for ``features="pos_z"``, else ``x`` :math:`(B, N, F)`.
            pt: Padded transverse momenta :math:`(B, N)`.
            mask: Valid-particle mask :math:`(B, N)`.

        Shapes:
            - **output:** :math:`(B, \text{out\_channels})`
        """
        ptm = pt.to(u.dtype) * mask.to(u.dtype)
        z = ptm / ptm.sum(1, keepdim=True)
        if self.features == "pos_z":
            u = torch.cat([u, z.unsqueeze(-1)], dim=-1)
        h = self.embed(u)
        bias = None
        if self.pt_weighted_attention:
            logz = torch.where(z > 0, torch.log(z.clamp_min(1e-30)), torch.full_like(z, _NO_KEY))
            b, n = z.shape
            bias = logz[:, None, None, :].expand(b, self.heads, n, n)
        for block in self.blocks:
            h = block.forward_padded(h, mask, bias)
        return self.head((self.norm(h) * z.unsqueeze(-1)).sum(1))

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, channels={self.channels}, "
            f"heads={self.heads}, num_layers={self.num_layers}, features={self.features!r})"
        )


def jetclr_loss(
    encoder: nn.Module,
    batch: Any,
    augmentations: Union[Callable, Sequence[Callable]],
    temperature: float = 0.1,
    seed: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
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

    Shapes:
        - **input:** :math:`B` jets; **output:** scalar
    """
    view1, view2 = two_views(batch, augmentations, seed=seed, generator=generator)
    return nt_xent_loss(encoder(view1), encoder(view2), temperature=temperature)


def train_jetclr(
    encoder: nn.Module,
    batches_fn: Union[Callable[[int], Iterable[Any]], Iterable[Any]],
    augmentations: Union[Callable, Sequence[Callable]],
    epochs: int = 10,
    lr: float = 1e-3,
    temperature: float = 0.1,
    seed: int = 0,
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
            loss = jetclr_loss(encoder, batch, augmentations, temperature=temperature, generator=g)
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
            (:meth:`JetCLREncoder.pooled`) instead of the head output.

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

    from ..train.metrics import background_rejection, roc_auc

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


__all__ = [
    "JetCLREncoder",
    "jetclr_loss",
    "train_jetclr",
    "representations",
    "linear_classifier_test",
    "rotation_invariance",
]
