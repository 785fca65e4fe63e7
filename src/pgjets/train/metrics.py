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
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import InputShapeError, NonFiniteError


def _to_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds NaN or infinite values")
    return arr


def _binary_inputs(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = _to_numpy(scores, "scores").astype(np.float64)
    y = _to_numpy(labels, "labels").astype(np.int64).reshape(-1)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1] - s[:, 0]  # logits of a 2-class head: signal minus background
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


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve of a binary score.

    Args:
        scores: Signal scores ``(N,)`` or two-class logits ``(N, 2)``.
        labels: 1 for signal, 0 for background, ``(N,)``.

    Returns:
        ``(eps_b, eps_s, thresholds)``: false and true positive rates.
    """
    from sklearn.metrics import roc_curve as _roc

    s, y = _binary_inputs(scores, labels)
    fpr, tpr, thr = _roc(y, s, drop_intermediate=False)
    return fpr, tpr, thr


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve of a binary score (see :func:`roc_curve`)."""
    from sklearn.metrics import roc_auc_score

    s, y = _binary_inputs(scores, labels)
    return float(roc_auc_score(y, s))


def background_rejection(scores, labels, signal_efficiency: float = 0.3) -> float:
    r"""Background rejection :math:`1/\varepsilon_B` at a fixed signal efficiency.

    :math:`\varepsilon_B` is interpolated linearly on the ROC curve; if no
    background passes at that working point the rejection is ``inf``.

    Args:
        scores: Signal scores ``(N,)`` or two-class logits ``(N, 2)``.
        labels: 1 for signal, 0 for background.
        signal_efficiency: Working point :math:`\varepsilon_S` in ``(0, 1]``.
    """
    if not 0.0 < signal_efficiency <= 1.0:
        raise ValueError(f"signal_efficiency must be in (0, 1], got {signal_efficiency}")
    fpr, tpr, _ = roc_curve(scores, labels)
    eps_b = float(np.interp(signal_efficiency, tpr, fpr))
    return float("inf") if eps_b <= 0.0 else 1.0 / eps_b


def accuracy(logits, labels) -> float:
    """Fraction of correct arg-max predictions (or of ``score > 0`` for 1-D scores)."""
    s = _to_numpy(logits, "logits")
    y = _to_numpy(labels, "labels").astype(np.int64).reshape(-1)
    pred = (s.reshape(-1) > 0).astype(np.int64) if s.ndim == 1 else s.argmax(-1)
    if pred.shape != y.shape:
        raise InputShapeError(f"logits {s.shape} do not match labels {y.shape}")
    return float((pred == y).mean())


def confusion_matrix(logits, labels, num_classes: Optional[int] = None) -> np.ndarray:
    """Confusion matrix ``C[true, predicted]`` (counts) from logits ``(N, K)``."""
    s = _to_numpy(logits, "logits")
    y = _to_numpy(labels, "labels").astype(np.int64).reshape(-1)
    if s.ndim != 2:
        raise InputShapeError(f"logits must be 2-D (N, classes), got {s.shape}")
    k = num_classes or s.shape[1]
    pred = s.argmax(-1)
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def multiclass_auc(logits, labels) -> float:
    """Macro one-vs-rest AUC of a softmax classifier (equals :func:`roc_auc` for 2 classes)."""
    s = _to_numpy(logits, "logits")
    y = _to_numpy(labels, "labels").astype(np.int64).reshape(-1)
    if s.ndim == 1 or s.shape[1] == 2:
        return roc_auc(s, y)
    from sklearn.metrics import roc_auc_score

    prob = torch.softmax(torch.as_tensor(s, dtype=torch.float64), -1).numpy()
    present = np.unique(y)
    aucs = [roc_auc_score(y == c, prob[:, c]) for c in present if 0 < (y == c).sum() < y.size]
    return float(np.mean(aucs)) if aucs else float("nan")


def classification_report(
    logits, labels, working_points: Sequence[float] = (0.3, 0.5)
) -> dict[str, float]:
    """AUC, accuracy and, for two classes, ``1/eps_B`` at each working point.

    Returns a flat dict such as ``{"auc": ..., "accuracy": ..., "rej@0.3": ...}``.
    """
    s = _to_numpy(logits, "logits")
    y = _to_numpy(labels, "labels").astype(np.int64).reshape(-1)
    out = {"accuracy": accuracy(s, y), "auc": multiclass_auc(s, y)}
    if s.ndim == 1 or s.shape[1] == 2:
        for wp in working_points:
            out[f"rej@{wp:g}"] = background_rejection(s, y, wp)
    return out


__all__ = [
    "roc_curve",
    "roc_auc",
    "background_rejection",
    "accuracy",
    "confusion_matrix",
    "multiclass_auc",
    "classification_report",
]
