r"""Metrics for generated or reconstructed jets and particles.

- :func:`wasserstein_1d`: the 1-Wasserstein (earth mover's) distance between
  the marginal distributions of each feature of two samples.
- :func:`resolution`: location and width of the relative residual
  :math:`(\hat{x} - x)/x` of each feature (or the absolute residual).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..errors import EmptyGraphError, InputShapeError, NonFiniteError


def _as_2d(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InputShapeError(f"{name} must be 1-D (N,) or 2-D (N, features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise EmptyGraphError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    return arr


def _names(names: Optional[Sequence[str]], num: int) -> list[str]:
    if names is None:
        return [str(i) for i in range(num)]
    names = list(names)
    if len(names) != num:
        raise InputShapeError(f"names has {len(names)} entries but there are {num} features")
    return names


def _w1(a: np.ndarray, b: np.ndarray) -> float:
    """W1 of two 1-D samples: integral of |F_a - F_b| over the merged sorted values."""
    a = np.sort(a)
    b = np.sort(b)
    grid = np.sort(np.concatenate([a, b]))
    widths = np.diff(grid)
    fa = np.searchsorted(a, grid[:-1], side="right") / a.size
    fb = np.searchsorted(b, grid[:-1], side="right") / b.size
    return float(np.sum(np.abs(fa - fb) * widths))


def wasserstein_1d(a: Any, b: Any, names: Optional[Sequence[str]] = None) -> dict[str, float]:
    r"""1-Wasserstein distance between the marginals of each feature.

    .. math::
        W_1(P_a, P_b) = \int_{-\infty}^{\infty} \left| F_a(t) - F_b(t) \right| \, dt

    with :math:`F` the empirical CDFs (sample sizes may differ).  For two
    samples that differ only by a shift :math:`\delta`, :math:`W_1 = |\delta|`.

    Args:
        a: First sample, ``(N,)`` or ``(N, F)`` (tensor or array).
        b: Second sample, ``(M,)`` or ``(M, F)``.
        names: Feature names (default ``"0"``, ``"1"``, ...).

    Returns:
        ``{name: W1}`` per feature.

    Shapes:
        - **input:** :math:`(N, F)`, :math:`(M, F)`
        - **output:** dict with :math:`F` entries
    """
    aa, bb = _as_2d(a, "a"), _as_2d(b, "b")
    if aa.shape[1] != bb.shape[1]:
        raise InputShapeError(f"a and b must have the same number of features, got {aa.shape[1]} and {bb.shape[1]}")
    keys = _names(names, aa.shape[1])
    return {k: _w1(aa[:, i], bb[:, i]) for i, k in enumerate(keys)}


def resolution(
    pred: Any,
    truth: Any,
    names: Optional[Sequence[str]] = None,
    relative: bool = True,
) -> dict[str, dict[str, float]]:
    r"""Bias and spread of the residuals of each feature.

    .. math::
        r_i = \frac{\hat{x}_i - x_i}{x_i} \quad(\text{relative})
        \qquad\text{or}\qquad r_i = \hat{x}_i - x_i,

    summarised by its ``mean``, ``std`` (population, ``ddof=0``), ``median``
    and ``iqr`` (:math:`q_{75} - q_{25}`, robust against tails) and by
    ``iqr_sigma`` :math:`= \mathrm{IQR}/1.349` (equal to :math:`\sigma` for
    a Gaussian).

    Args:
        pred: Predictions :math:`\hat{x}`, ``(N,)`` or ``(N, F)``.
        truth: Truth :math:`x`, same shape.
        names: Feature names.
        relative: Relative residuals; a truth value of 0 then raises
            :class:`~pgjets.errors.NonFiniteError` (use ``relative=False``).

    Returns:
        ``{name: {"mean", "std", "median", "iqr", "iqr_sigma"}}``.

    Shapes:
        - **input:** :math:`(N, F)` twice
        - **output:** dict with :math:`F` entries
    """
    p, t = _as_2d(pred, "pred"), _as_2d(truth, "truth")
    if p.shape != t.shape:
        raise InputShapeError(f"pred and truth must have the same shape, got {p.shape} and {t.shape}")
    keys = _names(names, p.shape[1])
    if relative:
        zero = t == 0
        if zero.any():
            col = int(np.nonzero(zero.any(axis=0))[0][0])
            raise NonFiniteError(
                f"truth of feature {keys[col]!r} holds zeros; relative residuals are undefined "
                "(use relative=False)"
            )
        r = (p - t) / t
    else:
        r = p - t
    out: dict[str, dict[str, float]] = {}
    for i, k in enumerate(keys):
        q25, q50, q75 = np.percentile(r[:, i], [25.0, 50.0, 75.0])
        out[k] = {
            "mean": float(r[:, i].mean()),
            "std": float(r[:, i].std()),
            "median": float(q50),
            "iqr": float(q75 - q25),
            "iqr_sigma": float((q75 - q25) / 1.3489795),
        }
    return out


__all__ = ["wasserstein_1d", "resolution"]
