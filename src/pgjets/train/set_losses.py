r"""Permutation-invariant losses between predicted and target sets.

- :func:`hungarian_loss`: the cost of the optimal one-to-one assignment
  between the predicted and the target elements of each graph (Kuhn 1955,
  solved with :func:`scipy.optimize.linear_sum_assignment`).
- :func:`mmd_loss`: the squared maximum mean discrepancy between two samples
  (Gretton et al., 2012), with a sum of kernels of several bandwidths.

Sets are given PyG style: the elements of all graphs stacked along dimension
0 with a ``batch`` vector saying which graph each element belongs to.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from .._checks import check_finite, check_ndim, check_sorted
from ..errors import EmptyGraphError, GraphSizeError, InputShapeError

CostFn = Callable[[Tensor, Tensor], Tensor]


def _check_set(x: Tensor, batch: Optional[Tensor], name: str) -> Tensor:
    check_ndim(x, 2, name, "(num_elements, features)")
    check_finite(x, name)
    if batch is None:
        return torch.zeros(x.size(0), dtype=torch.long, device=x.device)
    check_ndim(batch, 1, f"{name}_batch", "(num_elements,)")
    if batch.numel() != x.size(0):
        raise InputShapeError(f"{name}_batch has {batch.numel()} entries but {name} has {x.size(0)} rows")
    batch = batch.to(torch.long)
    check_sorted(batch, f"{name}_batch must be sorted in ascending order")
    if batch.numel() and int(batch.min()) < 0:
        raise InputShapeError(f"{name}_batch must be non-negative")
    return batch


def _pairwise_cost(a: Tensor, b: Tensor, cost: Union[str, CostFn]) -> Tensor:
    """Cost blocks ``(B, Ma, Mb)`` between padded ``a (B, Ma, D)`` and ``b (B, Mb, D)``."""
    if callable(cost):
        c = cost(a, b)
        if c.shape != (a.size(0), a.size(1), b.size(1)):
            raise InputShapeError(
                f"cost callable must return shape {(a.size(0), a.size(1), b.size(1))}, got {tuple(c.shape)}"
            )
        return c
    diff = a.unsqueeze(2) - b.unsqueeze(1)
    if cost == "l2":
        return (diff * diff).sum(-1)
    if cost == "l1":
        return diff.abs().sum(-1)
    raise ValueError(f"cost must be 'l2', 'l1' or a callable, got {cost!r}")


def hungarian_loss(
    pred: Tensor,
    target: Tensor,
    pred_batch: Optional[Tensor] = None,
    target_batch: Optional[Tensor] = None,
    cost: Union[str, CostFn] = "l2",
    allow_unequal: bool = False,
    unmatched_cost: float = 1.0,
    reduction: str = "mean",
    return_assignment: bool = False,
) -> Union[Tensor, tuple[Tensor, Tensor]]:
    r"""Cost of the optimal matching between predicted and target sets.

    For every graph :math:`b` with cost matrix :math:`C^{(b)}_{ij} = c(\hat{\mathbf{x}}_i, \mathbf{x}_j)`

    .. math::
        \sigma_b = \arg\min_{\sigma} \sum_i C^{(b)}_{i\,\sigma(i)},\qquad
        \mathcal{L} = \frac{\sum_b \left(\sum_i C^{(b)}_{i\,\sigma_b(i)} + u\, U_b\right)}
                           {\sum_b \max(\hat{n}_b, n_b)}

    with :math:`c` the squared Euclidean distance (``"l2"``),
    :math:`\lVert\cdot\rVert_1` (``"l1"``) or a callable, :math:`U_b` the
    number of unmatched elements (only with ``allow_unequal``) and :math:`u`
    ``unmatched_cost`` (a constant, without gradient).  The cost blocks of all
    graphs are computed at once on padded dense tensors; the assignment is
    found by :func:`scipy.optimize.linear_sum_assignment` per graph on the CPU,
    which copies the (detached) costs to the host and synchronises with the
    device once per call.  The loss is differentiable with respect to ``pred``
    (and ``target``) through the matched entries of :math:`C`.

    Args:
        pred: Predicted elements, shape ``(N_pred, D)``.
        target: Target elements, shape ``(N_target, D)``.
        pred_batch: Graph index of each predicted element (default: one graph).
        target_batch: Graph index of each target element (default: one graph).
        cost: ``"l2"`` (squared distance), ``"l1"`` or ``fn(pred_dense, target_dense)``
            mapping ``(B, M, D)`` and ``(B, K, D)`` blocks to ``(B, M, K)`` costs.
        allow_unequal: Allow graphs with different counts in ``pred`` and ``target``.
        unmatched_cost: Penalty :math:`u` per unmatched element.
        reduction: ``"mean"`` (as above), ``"sum"`` (numerator only) or
            ``"none"`` (per-graph mean, shape ``(B,)``; 0 for empty graphs).
        return_assignment: Also return the matched global indices ``(2, M)``
            (row 0 into ``pred``, row 1 into ``target``).

    Shapes:
        - **input:** ``pred`` :math:`(N_p, D)`, ``target`` :math:`(N_t, D)`
        - **output:** :math:`()` (or :math:`(B,)`), optionally ``(2, M)`` indices
    """
    from scipy.optimize import linear_sum_assignment

    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    pb = _check_set(pred, pred_batch, "pred")
    tb = _check_set(target, target_batch, "target")
    if pred.size(1) != target.size(1) and not callable(cost):
        raise InputShapeError(
            f"pred and target must have the same number of features, got {pred.size(1)} and {target.size(1)}"
        )
    if pred.size(0) == 0 and target.size(0) == 0:
        raise EmptyGraphError("hungarian_loss got empty pred and target sets")
    num_graphs = max(int(pb.max()) + 1 if pb.numel() else 0, int(tb.max()) + 1 if tb.numel() else 0)
    n_pred = torch.bincount(pb, minlength=num_graphs)
    n_tgt = torch.bincount(tb, minlength=num_graphs)
    if not allow_unequal and bool((n_pred != n_tgt).any()):
        g = int(torch.nonzero(n_pred != n_tgt)[0])
        raise GraphSizeError(
            f"graph {g} has {int(n_pred[g])} predicted and {int(n_tgt[g])} target elements; "
            "pass allow_unequal=True to match sets of different sizes"
        )
    dense_p, _ = to_dense_batch(pred, pb, batch_size=num_graphs)
    dense_t, _ = to_dense_batch(target, tb, batch_size=num_graphs)
    cmat = _pairwise_cost(dense_p, dense_t, cost)  # (B, Mp, Mt)
    check_finite(cmat, "cost matrix")

    host = cmat.detach().cpu().numpy()  # one host sync for all graphs
    npc, ntc = n_pred.tolist(), n_tgt.tolist()
    gb, rows, cols = [], [], []
    for b in range(num_graphs):
        if npc[b] == 0 or ntc[b] == 0:
            continue
        r, c = linear_sum_assignment(host[b, : npc[b], : ntc[b]])
        gb.append(np.full(len(r), b))
        rows.append(r)
        cols.append(c)
    device = pred.device
    if gb:
        gbt = torch.as_tensor(np.concatenate(gb), dtype=torch.long, device=device)
        rt = torch.as_tensor(np.concatenate(rows), dtype=torch.long, device=device)
        ct = torch.as_tensor(np.concatenate(cols), dtype=torch.long, device=device)
    else:
        gbt = rt = ct = torch.zeros(0, dtype=torch.long, device=device)
    matched = cmat[gbt, rt, ct]
    per_graph = torch.zeros(num_graphs, dtype=cmat.dtype, device=device).index_add(0, gbt, matched)
    unmatched = (n_pred - n_tgt).abs().to(cmat.dtype)
    per_graph = per_graph + float(unmatched_cost) * unmatched
    denom = torch.maximum(n_pred, n_tgt).to(cmat.dtype)

    if reduction == "sum":
        loss = per_graph.sum()
    elif reduction == "mean":
        loss = per_graph.sum() / denom.sum()
    else:
        loss = per_graph / denom.clamp_min(1.0)

    if not return_assignment:
        return loss
    p_ptr = torch.cumsum(n_pred, 0) - n_pred
    t_ptr = torch.cumsum(n_tgt, 0) - n_tgt
    assignment = torch.stack([p_ptr[gbt] + rt, t_ptr[gbt] + ct])
    return loss, assignment


def _kernel(d2: Tensor, kernel: str, bandwidths: Sequence[float]) -> Tensor:
    out = torch.zeros_like(d2)
    for s in bandwidths:
        if kernel == "gaussian":
            out = out + torch.exp(-d2 / (2.0 * s * s))
        elif kernel == "laplacian":
            out = out + torch.exp(-torch.sqrt(d2.clamp_min(1e-12)) / s)
        else:  # imq
            out = out + s * s / (s * s + d2)
    return out / len(bandwidths)


def _sqdist(a: Tensor, b: Tensor) -> Tensor:
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)
    return (diff * diff).sum(-1)


def mmd_loss(
    x: Tensor,
    y: Tensor,
    kernel: str = "gaussian",
    bandwidths: Sequence[float] = (0.1, 0.5, 1.0, 2.0, 5.0),
    x_batch: Optional[Tensor] = None,
    y_batch: Optional[Tensor] = None,
    unbiased: bool = False,
    reduction: str = "mean",
) -> Tensor:
    r"""Squared maximum mean discrepancy between samples ``x`` and ``y``.

    .. math::
        \mathrm{MMD}^2 = \frac{1}{n^2}\sum_{i,i'} k(x_i, x_{i'})
        + \frac{1}{m^2}\sum_{j,j'} k(y_j, y_{j'})
        - \frac{2}{nm}\sum_{i,j} k(x_i, y_j)

    (the biased V-statistic: non-negative and exactly 0 for identical
    samples).  With ``unbiased=True`` the diagonal terms :math:`i = i'`,
    :math:`j = j'` are dropped and the first two sums divided by
    :math:`n(n-1)` and :math:`m(m-1)` (the U-statistic: unbiased, may be
    slightly negative).  The kernel is the average over ``bandwidths``
    :math:`s` of ``"gaussian"`` :math:`e^{-d^2/2s^2}`, ``"laplacian"``
    :math:`e^{-d/s}` or ``"imq"`` :math:`s^2/(s^2+d^2)`.  With ``x_batch`` and
    ``y_batch`` one MMD is computed per graph (all at once, padded).

    Args:
        x: First sample, shape ``(N, D)``.
        y: Second sample, shape ``(M, D)``.
        kernel: ``"gaussian"``, ``"laplacian"`` or ``"imq"``.
        bandwidths: Positive kernel widths :math:`s`.
        x_batch: Graph index of each row of ``x`` (both or neither batch).
        y_batch: Graph index of each row of ``y``.
        unbiased: Use the unbiased estimator.
        reduction: ``"mean"`` over graphs, ``"sum"`` or ``"none"`` (``(B,)``).

    Shapes:
        - **input:** ``x`` :math:`(N, D)`, ``y`` :math:`(M, D)`
        - **output:** :math:`()` or :math:`(B,)`
    """
    if kernel not in ("gaussian", "laplacian", "imq"):
        raise ValueError(f"kernel must be 'gaussian', 'laplacian' or 'imq', got {kernel!r}")
    bw = [float(s) for s in bandwidths]
    if not bw or any(not s > 0 or s == float("inf") for s in bw):
        raise ValueError(f"bandwidths must be a non-empty sequence of finite numbers > 0, got {bandwidths!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if (x_batch is None) != (y_batch is None):
        raise ValueError("pass both x_batch and y_batch, or neither")
    xb = _check_set(x, x_batch, "x")
    yb = _check_set(y, y_batch, "y")
    if x.size(1) != y.size(1):
        raise InputShapeError(f"x and y must have the same number of features, got {x.size(1)} and {y.size(1)}")
    if x.size(0) == 0 or y.size(0) == 0:
        raise EmptyGraphError("mmd_loss needs non-empty samples x and y")
    num_graphs = max(int(xb.max()), int(yb.max())) + 1
    nx = torch.bincount(xb, minlength=num_graphs)
    ny = torch.bincount(yb, minlength=num_graphs)
    need = 2 if unbiased else 1
    bad = (nx < need) | (ny < need)
    if bool(bad.any()):
        g = int(torch.nonzero(bad)[0])
        raise GraphSizeError(
            f"graph {g} has {int(nx[g])} x and {int(ny[g])} y elements; at least {need} of each are needed"
        )
    dx, mx = to_dense_batch(x, xb, batch_size=num_graphs)
    dy, my = to_dense_batch(y, yb, batch_size=num_graphs)
    mx_f, my_f = mx.to(x.dtype), my.to(x.dtype)
    kxx = _kernel(_sqdist(dx, dx), kernel, bw) * mx_f.unsqueeze(2) * mx_f.unsqueeze(1)
    kyy = _kernel(_sqdist(dy, dy), kernel, bw) * my_f.unsqueeze(2) * my_f.unsqueeze(1)
    kxy = _kernel(_sqdist(dx, dy), kernel, bw) * mx_f.unsqueeze(2) * my_f.unsqueeze(1)
    n, m = nx.to(x.dtype), ny.to(x.dtype)
    sxx, syy, sxy = kxx.sum((1, 2)), kyy.sum((1, 2)), kxy.sum((1, 2))
    if unbiased:
        sxx = sxx - torch.diagonal(kxx, dim1=1, dim2=2).sum(-1)
        syy = syy - torch.diagonal(kyy, dim1=1, dim2=2).sum(-1)
        mmd = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)
    else:
        mmd = sxx / (n * n) + syy / (m * m) - 2.0 * sxy / (n * m)
    if reduction == "mean":
        return mmd.mean()
    if reduction == "sum":
        return mmd.sum()
    return mmd


__all__ = ["hungarian_loss", "mmd_loss"]
