r"""Classification metrics as physicists quote them.

For a binary tagger with signal efficiency :math:`\varepsilon_S` (true
positive rate) and background efficiency :math:`\varepsilon_B` (false positive
rate), the figure of merit of the jet-tagging literature is the background
rejection at a fixed signal efficiency,

.. math::
    R_{\varepsilon_S} = \frac{1}{\varepsilon_B(\varepsilon_S)},

read off the ROC curve by linear interpolation (e.g. :math:`R_{30\%}` and
:math:`R_{50\%}` in the top-tagging comparison of Kasieczka et al., 2019), next
to the area under the ROC curve (AUC) and the accuracy.

Every metric takes ``sample_weight``: per-example weights (Monte Carlo event weights, which may be
negative for NLO generators).  Efficiencies are then sums of weights: :math:`\varepsilon_S` is the
weight of the signal that passes a cut over the weight of all signal, and likewise
:math:`\varepsilon_B`.  With negative weights a ROC curve need not rise monotonically; the rejection
is still read where :math:`\varepsilon_S` first reaches the working point, and the AUC is the
trapezoidal area under the curve as drawn.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import InputDtypeError, InputShapeError, NonFiniteError


def _to_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds NaN or infinite values")
    return arr


def _single_column(s: np.ndarray) -> np.ndarray:
    """A one-logit binary head ``(N, 1)`` as the 1-D score it is."""
    return s[:, 0] if s.ndim == 2 and s.shape[1] == 1 else s


def _labels(labels) -> np.ndarray:
    """Class labels as a flat int64 array; non-integer values (soft targets, or arguments swapped) are refused."""
    y = _to_numpy(labels, "labels").reshape(-1)
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.array_equal(y, np.round(y)):
            raise InputShapeError("labels must be integer class indices, got non-integer values; pgjets metrics "
                                  "take (scores, labels), in the opposite order to sklearn's (y_true, y_score)")
    elif y.dtype.kind not in "iub":
        raise InputDtypeError(f"labels must be integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64)


def _sample_weights(sample_weight, n: int) -> Optional[np.ndarray]:
    """Per-example weights as a flat float64 array of length ``n`` (``None`` stays ``None``)."""
    if sample_weight is None:
        return None
    w = _to_numpy(sample_weight, "sample_weight").astype(np.float64).reshape(-1)
    if w.shape != (n,):
        raise InputShapeError(f"sample_weight has {w.size} values for {n} examples")
    return w


def _check_class_weights(y: np.ndarray, w: Optional[np.ndarray], classes: Sequence[int]) -> None:
    """Refuse classes whose weights do not sum to a positive number (no efficiency can be formed)."""
    if w is None:
        return
    for c in classes:
        total = float(w[y == c].sum())
        if not total > 0.0:
            raise InputShapeError(f"the weights of class {c} sum to {total:g}: efficiencies need a positive sum "
                                  "of weights per class")


def _binary_inputs(scores, labels, signal: int = 1) -> tuple[np.ndarray, np.ndarray]:
    s = _single_column(_to_numpy(scores, "scores").astype(np.float64))
    y = _labels(labels)
    if signal not in (0, 1):
        raise ValueError(f"signal must be class 0 or 1 of a binary tagger, got {signal!r}")
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, signal] - s[:, 1 - signal]  # logits of a 2-class head: signal minus background
    elif signal == 0:
        s = -s
    if signal == 0:
        y = np.where(np.isin(y, (0, 1)), 1 - y, y)
    s = s.reshape(-1)
    if s.shape != y.shape:
        raise InputShapeError(f"scores {s.shape} and labels {y.shape} differ in length")
    if s.size == 0:
        raise InputShapeError("scores are empty")
    classes = np.unique(y)
    if not np.isin(classes, [0, 1]).all():
        raise InputShapeError(f"binary metrics need labels in {{0, 1}}, got {classes.tolist()}")
    if classes.size < 2:
        raise InputShapeError("binary metrics need both signal (1) and background (0) examples")
    return s, y


def roc_curve(scores, labels, signal: int = 1, sample_weight=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of a binary score.

    Args:
        scores: Signal scores ``(N,)`` or two-class logits ``(N, 2)``.
        labels: Class labels ``(N,)`` in ``{0, 1}``.
        signal: The signal class (1 by default; 0 flips the roles).
        sample_weight: Optional weights ``(N,)`` (see the module docs); each class's must sum to a
            positive number.

    Returns:
        ``(eps_b, eps_s, thresholds)``: false and true positive rates, one point per distinct score
        (from the cut that passes nothing to the one that passes all).
    """
    from sklearn.metrics import roc_curve as _roc

    s, y = _binary_inputs(scores, labels, signal)
    w = _sample_weights(sample_weight, y.size)
    _check_class_weights(y, w, (0, 1))
    fpr, tpr, thr = _roc(y, s, sample_weight=w, drop_intermediate=False)
    return fpr, tpr, thr


def roc_auc(scores, labels, signal: int = 1, sample_weight=None) -> float:
    """Area under the ROC curve of a binary score (see :func:`roc_curve`).

    Unweighted, this is scikit-learn's ``roc_auc_score``; with ``sample_weight`` the trapezoidal area
    under the weighted curve (the same number for non-negative weights, and defined for negative ones,
    where the curve may turn back).
    """
    if sample_weight is None:
        from sklearn.metrics import roc_auc_score

        s, y = _binary_inputs(scores, labels, signal)
        return float(roc_auc_score(y, s))
    fpr, tpr, _ = roc_curve(scores, labels, signal, sample_weight)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def background_rejection(scores, labels, signal_efficiency: float = 0.3, signal: int = 1,
                         sample_weight=None) -> float:
    r"""Background rejection :math:`1/\varepsilon_B` at a fixed signal efficiency.

    :math:`\varepsilon_B` is read off the ROC curve (the points of every cut, joined by straight
    lines) where it first reaches :math:`\varepsilon_S`:

    .. math::
        \varepsilon_B(\varepsilon_S) = \varepsilon_{B,j-1} + (\varepsilon_S - \varepsilon_{S,j-1})
        \frac{\varepsilon_{B,j} - \varepsilon_{B,j-1}}{\varepsilon_{S,j} - \varepsilon_{S,j-1}},
        \qquad j = \min\{i : \varepsilon_{S,i} \ge \varepsilon_S\}

    Between two cuts that pass only signal the curve is vertical in the
    :math:`(\varepsilon_B, \varepsilon_S)` plane, and :math:`\varepsilon_B` is
    that of the looser cut: the background that must pass to reach :math:`\varepsilon_S`. Tied
    scores of both classes give a slanted stretch, interpolated (a random choice among the tied
    jets).  This equals ``np.interp(eps_S, tpr, fpr)`` on scikit-learn's ``roc_curve``, the
    convention of the top-tagging comparisons, except where :math:`\varepsilon_S` is exactly the
    efficiency of a flat stretch (background only between the cuts): ``np.interp`` takes its last
    point, here the first (the cut that reaches :math:`\varepsilon_S` with the least background).
    If no background passes at that point the rejection is ``inf``.

    Args:
        scores: Signal scores ``(N,)`` or two-class logits ``(N, 2)``.
        labels: 1 for signal, 0 for background.
        signal_efficiency: Working point :math:`\varepsilon_S` in ``(0, 1]``.
        signal: The signal class (see :func:`roc_curve`).
        sample_weight: Optional weights ``(N,)``: efficiencies are sums of weights (see the module docs).
    """
    if not 0.0 < signal_efficiency <= 1.0:
        raise ValueError(f"signal_efficiency must be in (0, 1], got {signal_efficiency}")
    fpr, tpr, _ = roc_curve(scores, labels, signal, sample_weight)  # from (0, 0) to (1, 1)
    # the first cut with eps_S >= the target (tpr never decreases unless weights are negative)
    j = int(np.argmax(tpr >= signal_efficiency))
    if tpr[j] == signal_efficiency:
        eps_b = float(fpr[j])
    else:  # tpr[j - 1] < target < tpr[j] (j >= 1: tpr[0] = 0)
        t = (signal_efficiency - tpr[j - 1]) / (tpr[j] - tpr[j - 1])
        eps_b = float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))
    return float("inf") if eps_b <= 0.0 else 1.0 / eps_b


def accuracy(logits, labels, sample_weight=None) -> float:
    """Fraction of correct arg-max predictions (or of ``score > 0`` for 1-D scores and ``(N, 1)`` heads);
    with ``sample_weight``, their fraction of the total weight."""
    s = _single_column(_to_numpy(logits, "logits"))
    y = _labels(labels)
    pred = (s.reshape(-1) > 0).astype(np.int64) if s.ndim == 1 else s.argmax(-1)
    if pred.shape != y.shape:
        raise InputShapeError(f"logits {s.shape} do not match labels {y.shape}")
    if y.size == 0:
        raise InputShapeError("accuracy of no examples: logits and labels are empty")
    w = _sample_weights(sample_weight, y.size)
    if w is None:
        return float((pred == y).mean())
    if not w.sum() > 0.0:
        raise InputShapeError(f"the weights sum to {w.sum():g}: an accuracy needs a positive total weight")
    return float(w[pred == y].sum() / w.sum())


def confusion_matrix(logits, labels, num_classes: Optional[int] = None) -> np.ndarray:
    """Confusion matrix ``C[true, predicted]`` (counts) from logits ``(N, K)``."""
    s = _to_numpy(logits, "logits")
    y = _labels(labels)
    if s.ndim != 2:
        raise InputShapeError(f"logits must be 2-D (N, classes), got {s.shape}")
    k = num_classes or s.shape[1]
    if y.shape[0] != s.shape[0]:
        raise InputShapeError(f"logits {s.shape} do not match labels {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= k):
        raise InputShapeError(f"labels must lie in [0, {k}), got {y.min()} .. {y.max()}")
    pred = s.argmax(-1)
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def multiclass_auc(logits, labels, sample_weight=None) -> float:
    r"""Macro one-vs-rest AUC of a softmax classifier (equals :func:`roc_auc` for 2 classes), averaged
    over the classes of :func:`auc_classes` (those present in ``labels``, unlike scikit-learn's
    ``roc_auc_score(..., labels=all)``, which has no AUC for an absent class).  Each class :math:`c` is
    ranked by the logit of its softmax probability, :math:`\log\frac{p_c}{1 - p_c} = l_c -
    \log\sum_{j \ne c} e^{l_j}`: the same order as :math:`p_c`, without the ties of the
    probabilities that round to 1.  ``sample_weight``: see :func:`roc_auc`."""
    s = _single_column(_to_numpy(logits, "logits"))
    y = _labels(labels)
    if s.ndim == 1 or s.shape[1] == 2:
        return roc_auc(s, y, sample_weight=sample_weight)
    w = _sample_weights(sample_weight, y.size)

    t = torch.as_tensor(s, dtype=torch.float64)

    def logit(c: int) -> np.ndarray:
        return (t[:, c] - torch.logsumexp(torch.cat([t[:, :c], t[:, c + 1:]], 1), 1)).numpy()

    aucs = [roc_auc(logit(c), (y == c).astype(np.int64), sample_weight=w) for c in auc_classes(y)]
    return float(np.mean(aucs)) if aucs else float("nan")


def auc_classes(labels) -> list[int]:
    """The classes that :func:`multiclass_auc` averages over: those with jets of their own and of
    other classes in ``labels``."""
    y = _labels(labels)
    return [int(c) for c in np.unique(y) if 0 < (y == c).sum() < y.size]


#: Signal efficiencies of the rejections :func:`classification_report` quotes for a binary tagger.
BINARY_WORKING_POINTS = (0.3, 0.5)


def classification_report(
    logits, labels, working_points: Sequence[float] = BINARY_WORKING_POINTS, signal: int = 1,
    sample_weight=None,
) -> dict[str, float]:
    """AUC, accuracy and, for two classes, ``1/eps_B`` at each working point.

    Args:
        logits: ``(N, K)`` logits (or ``(N,)`` binary scores).
        labels: ``(N,)`` class labels.
        working_points: Signal efficiencies of the binary rejections.
        signal: The signal class of a binary tagger (1 by default).
        sample_weight: Optional weights ``(N,)`` (see the module docs).

    Returns a flat dict such as ``{"auc": ..., "accuracy": ..., "rej@0.3": ...}``.
    """
    s = _single_column(_to_numpy(logits, "logits"))
    y = _labels(labels)
    w = sample_weight
    binary = s.ndim == 1 or s.shape[1] == 2
    out = {"accuracy": accuracy(s, y, w),
           "auc": roc_auc(s, y, signal, w) if binary else multiclass_auc(s, y, w)}
    if binary:
        for wp in working_points:
            out[f"rej@{wp:g}"] = background_rejection(s, y, wp, signal, w)
    return out


def discriminant(logits, signal: int, background: int) -> np.ndarray:
    r"""The score of ``signal`` against ``background``: :math:`l_S - l_B` in float64.

    A monotonic function of :math:`p_S / (p_S + p_B)` (its logit), so the same cuts, without the
    float32 probabilities that round to 1 for a strong tagger (many tied at the top).

    Args:
        logits: ``(N, K)`` logits.
        signal: The signal class.
        background: The background class.
    """
    s = _to_numpy(logits, "logits").astype(np.float64)
    if signal == background:
        raise ValueError(f"the signal and the background are the same class {signal}")
    if s.ndim != 2 or not (0 <= signal < s.shape[1] and 0 <= background < s.shape[1]):
        raise InputShapeError(f"discriminant of class {signal} against {background} needs (N, K) logits with "
                              f"both classes, got {s.shape}")
    return s[:, signal] - s[:, background]


def _background_of(num_classes: int, signal: int, background: Optional[int]) -> int:
    """``background``, or by default the other class of a binary tagger and class 0 of a multi-class one."""
    if background is not None:
        return int(background)
    return 1 - int(signal) if num_classes == 2 and signal in (0, 1) else 0


def working_point_cut(logits, labels, signal_efficiency: float, signal: int = 1,
                      background: Optional[int] = None) -> float:
    r"""The cut on :func:`discriminant` that keeps the fraction ``signal_efficiency`` of the signal jets.

    With the :math:`n_S` signal scores sorted from high to low, the cut is the
    :math:`\lceil \varepsilon_S n_S \rceil`-th: ``score >= cut`` keeps that many, an efficiency
    within :math:`1/n_S` of the asked one, unless scores tie at the cut (then all tied jets pass:
    on a small or saturated reference the efficiency can be well above the asked one, which
    :func:`efficiencies_at_cuts` reports as it is).

    Args:
        logits: ``(N, K)`` logits of a reference sample (a run's test jets).
        labels: ``(N,)`` their classes.
        signal_efficiency: :math:`\varepsilon_S` in ``(0, 1]``.
        signal: The signal class.
        background: The class the discriminant is taken against (default: the other class of a
            binary tagger, class 0 of a multi-class one).

    Raises:
        InputShapeError: The reference has no jet of class ``signal``.
        ValueError: ``signal`` is ``background``, or an efficiency outside ``(0, 1]``.
    """
    if not 0.0 < signal_efficiency <= 1.0:
        raise ValueError(f"signal_efficiency must be in (0, 1], got {signal_efficiency}")
    y = _labels(labels)
    width = np.shape(logits)[1] if np.ndim(logits) == 2 else 0
    score = discriminant(logits, signal, _background_of(width, signal, background))[y == signal]
    if score.size == 0:
        raise InputShapeError(f"the reference sample has no jet of the signal class {signal}: no cut to set")
    keep = math.ceil(signal_efficiency * score.size - 1e-9)
    return float(np.sort(score)[::-1][max(keep, 1) - 1])


def efficiencies_at_cuts(
    ref_logits, ref_labels, logits, labels, label_names: Sequence[str],
    working_points: dict[int, Union[float, Sequence[float]]], background: Optional[int] = None,
) -> list[dict]:
    r"""The cuts set on a reference sample, applied to another sample: the fraction of each of its classes
    that passes.

    For each signal class :math:`X` and efficiency :math:`\varepsilon` of ``working_points``, the cut of
    :func:`working_point_cut` on the reference (a run's own test jets) is applied to ``logits``.  On
    a sample of one class this is the number it has: :math:`\varepsilon_S` for a signal sample (does
    the working point hold on other data?), :math:`\varepsilon_B` and :math:`1/\varepsilon_B` for a
    background sample.

    Args:
        ref_logits: ``(M, K)`` logits of the reference sample.
        ref_labels: ``(M,)`` its classes.
        logits: ``(N, K)`` logits of the sample.
        labels: ``(N,)`` its classes; ``-1`` for events of no known class (collision data), whose
            passing fraction is reported as ``"unlabelled"``.
        label_names: The ``K`` class names.
        working_points: Signal class -> the efficiency (or efficiencies) at which its cuts are set
            (:func:`signal_efficiencies` gives one per class).
        background: The class the discriminants are taken against (default: the other class of
            a binary tagger, class 0 of a multi-class one).

    Returns:
        list of dict: per cut ``signal`` (name), ``eps_S``, ``threshold`` (on :math:`l_X - l_B`),
        ``efficiency`` (class name -> passing fraction, for each class of the sample) and, when the
        sample has background jets, ``rejection`` (:math:`1/\varepsilon_B`, ``inf`` if none passes).
        Signal classes absent from the reference are left out.

    Raises:
        InputShapeError: labels or signal classes outside the ``K`` classes of ``label_names``.
    """
    y = _labels(labels)
    ref_y = _labels(ref_labels)
    names = [str(n) for n in label_names]
    k = len(names)
    if np.shape(logits)[-1] != k or np.shape(ref_logits)[-1] != k:
        raise InputShapeError(f"{k} label names for logits of {np.shape(logits)[-1]} and "
                              f"{np.shape(ref_logits)[-1]} classes")
    bad = sorted({int(c) for c in np.unique(np.r_[y, ref_y]) if c >= k} | {c for c in working_points if not 0 <= c < k})
    if bad:
        raise InputShapeError(f"classes {bad} are not among the {k} of label_names {names}")
    present = [int(c) for c in np.unique(y)]
    out: list[dict] = []
    for sig, effs in working_points.items():
        if not (ref_y == sig).any():
            continue
        bkg = _background_of(k, sig, background)
        score = discriminant(logits, sig, bkg)
        for eff in ([effs] if np.ndim(effs) == 0 else effs):
            cut = working_point_cut(ref_logits, ref_y, eff, sig, bkg)
            passed = score >= cut
            row: dict = {"signal": names[sig], "eps_S": float(eff), "threshold": cut,
                         "efficiency": {names[c] if c >= 0 else "unlabelled": float(passed[y == c].mean())
                                        for c in present}}
            if bkg in present:
                eps_b = row["efficiency"][names[bkg]]
                row["rejection"] = float("inf") if eps_b <= 0.0 else 1.0 / eps_b
            out.append(row)
    return out


#: Signal efficiency of the rejection quoted per class by the ParT paper (others: :data:`DEFAULT_EFFICIENCY`).
PART_WORKING_POINTS: dict[str, float] = {"Hqql": 0.99, "Tbl": 0.995}
#: Default signal efficiency of :func:`rejection_vs_background`.
DEFAULT_EFFICIENCY = 0.5


def signal_efficiencies(label_names: Sequence[str], background: int = 0,
                        working_points: Optional[dict[str, float]] = None) -> dict[int, float]:
    """The signal efficiency of each signal class's working point (every class but ``background``):
    ``working_points`` (class name -> efficiency), else :data:`PART_WORKING_POINTS`, else
    :data:`DEFAULT_EFFICIENCY`."""
    if not 0 <= background < len(label_names):
        raise ValueError(f"background class {background} is not one of the {len(label_names)} classes")
    wps = {**PART_WORKING_POINTS, **(working_points or {})}
    return {c: float(wps.get(str(name), DEFAULT_EFFICIENCY)) for c, name in enumerate(label_names) if c != background}


def rejection_vs_background(
    logits, labels, label_names: Optional[Sequence[str]] = None, background: int = 0,
    working_points: Optional[dict[str, float]] = None, sample_weight=None,
) -> dict[str, dict[str, float]]:
    r"""Per signal class, the rejection of the background class at a fixed signal efficiency.

    For class :math:`X \ne` ``background`` the score is
    :math:`p_X / (p_X + p_B)` on the jets of :math:`X` and of the background
    only, ranked by its logit :math:`l_X - l_B` (:func:`discriminant`: the probability rounds to 1
    in float64 once :math:`l_X - l_B > 37`, tying jets that the cuts tell apart); the rejection is
    :math:`1/\varepsilon_B` there (see
    :func:`background_rejection`, ``inf`` if no background passes).

    Args:
        logits: ``(N, K)`` logits.
        labels: ``(N,)`` labels in ``0..K-1``.
        label_names (sequence of str, optional): Class names (default
            ``"0"``, ``"1"``, ...).
        background (int): The background class (QCD, class 0).
        working_points (dict, optional): Signal efficiency per class name;
            missing classes use :data:`PART_WORKING_POINTS`, then
            :data:`DEFAULT_EFFICIENCY`.
        sample_weight (array, optional): Weights ``(N,)`` (see the module docs).

    Returns:
        dict: ``{name: {"signal_efficiency": eff, "rejection": r}}`` for every
        signal class with jets of both kinds (others are left out).
    """
    s = _to_numpy(logits, "logits").astype(np.float64)
    y = _labels(labels)
    if s.ndim != 2 or s.shape[0] != y.size:
        raise InputShapeError(f"logits must be (N, classes) matching labels {y.shape}, got {s.shape}")
    k = s.shape[1]
    names = list(label_names) if label_names is not None else [str(i) for i in range(k)]
    if len(names) != k:
        raise InputShapeError(f"{len(names)} label names for {k} classes")
    w = _sample_weights(sample_weight, y.size)
    out: dict[str, dict[str, float]] = {}
    for c, eff in signal_efficiencies(names, background, working_points).items():
        sel = (y == c) | (y == background)
        if not ((y == c).any() and (y == background).any()):
            continue
        score = s[sel, c] - s[sel, background]  # the logit of p_X / (p_X + p_B): the same order, no ties at 1
        out[names[c]] = {"signal_efficiency": eff,
                         "rejection": background_rejection(score, (y[sel] == c).astype(np.int64), eff,
                                                           sample_weight=None if w is None else w[sel])}
    return out


def multiclass_report(
    logits, labels, label_names: Optional[Sequence[str]] = None, background: int = 0,
    working_points: Optional[dict[str, float]] = None, sample_weight=None,
) -> dict:
    """Accuracy, macro AUC, confusion matrix and :func:`rejection_vs_background` of a K-class tagger.

    ``sample_weight`` weighs the accuracy, AUC and rejections (see the module docs); the confusion
    matrix stays in counts of examples.

    Returns:
        dict: ``accuracy``, ``auc`` (macro one-vs-rest), ``auc_classes`` (the names of the classes
        it averages, :func:`auc_classes`), ``confusion_matrix`` (``C[true][predicted]`` as nested
        lists), ``label_names``, ``background`` (its name) and ``rejection`` (per signal class),
        JSON-ready.
    """
    s = _to_numpy(logits, "logits")
    y = _labels(labels)
    k = s.shape[1]
    names = list(label_names) if label_names is not None else [str(i) for i in range(k)]
    w = sample_weight
    return {"accuracy": accuracy(s, y, w), "auc": multiclass_auc(s, y, w),
            "auc_classes": [names[c] for c in auc_classes(y)],
            "confusion_matrix": confusion_matrix(s, y, k).tolist(), "label_names": names,
            "background": names[background],
            "rejection": rejection_vs_background(s, y, names, background, working_points, w)}


def format_rejection_table(rejection: dict[str, dict[str, float]], background: str = "QCD") -> str:
    """The per-class rejections of :func:`rejection_vs_background` as a text table."""
    lines = [f"{'class':<10} {'eps_S':>7}  {'1/eps_B (' + background + ')':>16}"]
    for name, r in rejection.items():
        lines.append(f"{name:<10} {r['signal_efficiency']:>7.3f}  {r['rejection']:>16.1f}")
    return "\n".join(lines)


__all__ = [
    "roc_curve",
    "BINARY_WORKING_POINTS",
    "roc_auc",
    "background_rejection",
    "accuracy",
    "confusion_matrix",
    "multiclass_auc",
    "auc_classes",
    "classification_report",
    "rejection_vs_background",
    "multiclass_report",
    "format_rejection_table",
    "discriminant",
    "working_point_cut",
    "efficiencies_at_cuts",
    "signal_efficiencies",
    "PART_WORKING_POINTS",
    "DEFAULT_EFFICIENCY",
]
