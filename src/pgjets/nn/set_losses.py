r"""Permutation-invariant losses between predicted and target sets.

- :func:`hungarian_loss`: the cost of the optimal one-to-one assignment
  between the predicted and the target elements of each graph (Kuhn 1955,
  solved with :func:`scipy.optimize.linear_sum_assignment`).
- :func:`mmd_loss`: the squared maximum mean discrepancy between two samples
  (Gretton et al., 2012), with a sum of kernels of several bandwidths.
- :func:`set_distances`: the Hungarian (optimal matching) distance between
  chosen pairs of sets.
- :func:`set_of_sets_mmd`: the MMD between two samples of *sets* (replicas of
  one truth jet), with a kernel of the per-pair Hungarian distance (the
  "double Hungarian" of fast simulation with replicas, Di Bello et al. 2023).
- :func:`proxy_loss`: the cheaper proxy :math:`L_{\mathrm{proxy}}`, the
  distance of the closest pair of generated and reference replicas.

Sets are given PyG style: the elements of all graphs stacked along dimension
0 with a ``batch`` vector saying which graph each element belongs to.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from .._checks import check_finite, check_ndim, check_sorted
from ..errors import EmptyGraphError, GraphSizeError, InputShapeError
from ..ops.sizes import ptr_from_counts

CostFn = Callable[[Tensor, Tensor], Tensor]


def _check_set(x: Tensor, batch: Optional[Tensor], name: str) -> Tensor:
    check_ndim(x, 2, name, "(num_elements, features)")
    check_finite(x, name)
    if batch is None:
        return torch.zeros(x.size(0), dtype=torch.long, device=x.device)
    check_ndim(batch, 1, f"{name}_batch", "(num_elements,)")
    if batch.numel() != x.size(0):
        raise InputShapeError(f"{name}_batch has {batch.numel()} entries but {name} has {x.size(0)} rows")
    if batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
        raise InputShapeError(f"{name}_batch must hold integer graph indices, got dtype {batch.dtype}")
    batch = batch.to(torch.long)
    check_sorted(batch, f"{name}_batch must be sorted in ascending order")
    if batch.numel() and int(batch.min()) < 0:
        raise InputShapeError(f"{name}_batch must be non-negative")
    return batch


def _check_unmatched_cost(u: float) -> None:
    if isinstance(u, bool) or not isinstance(u, numbers.Real) or not 0.0 <= float(u) < math.inf:
        raise ValueError(f"unmatched_cost must be a finite number >= 0, got {u!r}")


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


def _assign(cmat: Tensor, n_a: Tensor, n_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Optimal assignment of every block of ``cmat (G, Ma, Mb)`` restricted to ``n_a[g] x n_b[g]``.

    Returns the block, row and column index of every matched entry (long
    tensors on ``cmat.device``).  One host copy of the detached costs for all
    blocks, then :func:`scipy.optimize.linear_sum_assignment` per block.
    """
    from scipy.optimize import linear_sum_assignment

    host = cmat.detach().float().cpu().numpy() if cmat.dtype in (torch.bfloat16, torch.float16) \
        else cmat.detach().cpu().numpy()  # one host sync for all blocks (numpy has no bfloat16)
    nac, nbc = n_a.tolist(), n_b.tolist()
    gb, rows, cols = [], [], []
    for g in range(cmat.size(0)):
        if nac[g] == 0 or nbc[g] == 0:
            continue
        r, c = linear_sum_assignment(host[g, : nac[g], : nbc[g]])
        gb.append(np.full(len(r), g))
        rows.append(r)
        cols.append(c)
    device = cmat.device
    if not gb:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty, empty
    return tuple(torch.as_tensor(np.concatenate(v), dtype=torch.long, device=device)  # type: ignore[return-value]
                 for v in (gb, rows, cols))


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
    num_graphs: Optional[int] = None,
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
        num_graphs: Number of graphs :math:`B` (default: one more than the largest
            graph index), so that trailing empty graphs count (``reduction="none"``).

    Shapes:
        - **input:** ``pred`` :math:`(N_p, D)`, ``target`` :math:`(N_t, D)`
        - **output:** :math:`()` (or :math:`(B,)`), optionally ``(2, M)`` indices
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    _check_unmatched_cost(unmatched_cost)
    pb = _check_set(pred, pred_batch, "pred")
    tb = _check_set(target, target_batch, "target")
    if pred.size(1) != target.size(1) and not callable(cost):
        raise InputShapeError(
            f"pred and target must have the same number of features, got {pred.size(1)} and {target.size(1)}"
        )
    if pred.size(0) == 0 and target.size(0) == 0:
        raise EmptyGraphError("hungarian_loss got empty pred and target sets")
    used = max(int(pb.max()) + 1 if pb.numel() else 0, int(tb.max()) + 1 if tb.numel() else 0)
    if num_graphs is None:
        num_graphs = used
    elif isinstance(num_graphs, bool) or not isinstance(num_graphs, int) or num_graphs < used:
        raise InputShapeError(f"num_graphs must be an integer >= the {used} graphs the batch vectors index, "
                              f"got {num_graphs!r}")
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

    gbt, rt, ct = _assign(cmat, n_pred, n_tgt)
    device = pred.device
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
    p_ptr, t_ptr = ptr_from_counts(n_pred)[:-1], ptr_from_counts(n_tgt)[:-1]
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
    return _reduce(mmd, reduction)




def _check_groups(group: Tensor, num_sets: int, name: str) -> Tensor:
    check_ndim(group, 1, name, "(num_sets,)")
    if group.numel() != num_sets:
        raise InputShapeError(f"{name} has {group.numel()} entries but there are {num_sets} sets")
    if group.is_floating_point() or group.is_complex():
        raise InputShapeError(f"{name} must be an integer tensor")
    group = group.to(torch.long)
    if group.numel() and int(group.min()) < 0:
        raise InputShapeError(f"{name} must be non-negative")
    return group


def _set_layout(x: Tensor, set_index: Tensor, num_sets: Optional[int], name: str) -> tuple[Tensor, Tensor, int]:
    """Checked ``(set_index, counts, num_sets)``; sets may be empty (count 0)."""
    b = _check_set(x, set_index, name)
    n = int(b.max()) + 1 if b.numel() else 0
    if num_sets is None:
        num_sets = n
    elif n > num_sets:
        raise InputShapeError(f"{name}_set indexes set {n - 1} but only {num_sets} sets were declared")
    return b, torch.bincount(b, minlength=num_sets), int(num_sets)


def set_distances(
    a: Tensor,
    a_set: Tensor,
    b: Tensor,
    b_set: Tensor,
    pairs: Tensor,
    cost: Union[str, CostFn] = "l2",
    unmatched_cost: float = 1.0,
    normalize: bool = True,
    num_sets: Optional[tuple[int, int]] = None,
) -> Tensor:
    r"""Hungarian distance between set ``pairs[0, p]`` of ``a`` and set ``pairs[1, p]`` of ``b``.

    .. math::
        d(A, B) = \frac{1}{\max(|A|, |B|)}\Big(\min_{\sigma}\sum_{i} c(\mathbf{a}_i, \mathbf{b}_{\sigma(i)})
            + u\,\big||A| - |B|\big|\Big)

    with :math:`\sigma` a one-to-one matching of the smaller set into the
    larger one, :math:`c` the squared Euclidean distance (``"l2"``),
    :math:`u` ``unmatched_cost`` per unmatched element (no gradient) and
    :math:`d = 0` for two empty sets.  ``normalize=False`` drops the
    :math:`1/\max` factor.  The cost blocks of all pairs are built at once
    (padded); the assignments are solved on the host, one
    :func:`scipy.optimize.linear_sum_assignment` per pair.  Differentiable
    through the matched costs.

    Args:
        a: Elements of the first collection of sets ``(N_a, D)``.
        a_set: Sorted set index of each element of ``a`` ``(N_a,)``.
        b: Elements of the second collection ``(N_b, D)``.
        b_set: Sorted set index of each element of ``b`` ``(N_b,)``.
        pairs: ``(2, P)`` set indices (row 0 into ``a``'s sets, row 1 into ``b``'s).
        cost: ``"l2"``, ``"l1"`` or a callable (see :func:`hungarian_loss`).
        unmatched_cost: Penalty :math:`u` per unmatched element.
        normalize: Divide by the larger set size.
        num_sets: ``(S_a, S_b)`` numbers of sets, so trailing empty sets can be
            addressed (default: one more than the largest index).

    Shapes:
        - **input:** ``a`` :math:`(N_a, D)`, ``b`` :math:`(N_b, D)`, ``pairs`` :math:`(2, P)`
        - **output:** :math:`(P,)`
    """
    _check_unmatched_cost(unmatched_cost)
    sa, sb = (None, None) if num_sets is None else num_sets
    ab, na, sa = _set_layout(a, a_set, sa, "a")
    bb, nb, sb = _set_layout(b, b_set, sb, "b")
    if a.size(1) != b.size(1) and not callable(cost):
        raise InputShapeError(f"a and b must have the same number of features, got {a.size(1)} and {b.size(1)}")
    check_ndim(pairs, 2, "pairs", "(2, num_pairs)")
    if pairs.size(0) != 2 or pairs.is_floating_point():
        raise InputShapeError(f"pairs must be an integer tensor of shape (2, P), got {tuple(pairs.shape)}")
    pairs = pairs.to(torch.long)
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs[0].max()) >= sa or int(pairs[1].max()) >= sb):
        raise InputShapeError(f"pairs must index sets in [0, {sa}) x [0, {sb})")
    if pairs.size(1) == 0:
        return a.new_zeros(0)
    dense_a, _ = to_dense_batch(a, ab, batch_size=sa) if a.size(0) else (a.new_zeros(sa, 1, a.size(1)), None)
    dense_b, _ = to_dense_batch(b, bb, batch_size=sb) if b.size(0) else (b.new_zeros(sb, 1, b.size(1)), None)
    pa, pb = pairs[0], pairs[1]
    cmat = _pairwise_cost(dense_a[pa], dense_b[pb], cost)  # (P, Ma, Mb)
    check_finite(cmat, "cost matrix")
    n_a, n_b = na[pa], nb[pb]
    g, r, c = _assign(cmat, n_a, n_b)
    dist = torch.zeros(pairs.size(1), dtype=cmat.dtype, device=cmat.device).index_add(0, g, cmat[g, r, c])
    dist = dist + float(unmatched_cost) * (n_a - n_b).abs().to(cmat.dtype)
    if normalize:
        dist = dist / torch.maximum(n_a, n_b).clamp_min(1).to(cmat.dtype)
    return dist


def _group_pairs(ga: Tensor, gb: Tensor, strict_upper: bool) -> Tensor:
    """All ``(i, j)`` with ``ga[i] == gb[j]`` (and ``i < j`` if ``strict_upper``), shape ``(2, P)``."""
    same = ga.unsqueeze(1) == gb.unsqueeze(0)
    if strict_upper:
        same = torch.triu(same, diagonal=1)
    return torch.nonzero(same).t()


def _set_kernel(d: Tensor, kernel: str, bandwidths: Sequence[float]) -> Tensor:
    if kernel == "energy":
        return -torch.sqrt(d.clamp_min(1e-12))
    return _kernel(d, kernel, bandwidths)


def _reduce(values: Tensor, reduction: str) -> Tensor:
    """``mean``, ``sum`` or ``none`` of per-graph (per-group) values."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _replica_inputs(pred: Tensor, pred_set: Tensor, pred_group: Tensor, target: Tensor, target_set: Tensor,
                    target_group: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, int]:
    """Checked layouts of two replica collections; every group needs a set on both sides."""
    pg = _check_groups(torch.as_tensor(pred_group, device=pred.device), pred_group.numel(), "pred_group")
    tg = _check_groups(torch.as_tensor(target_group, device=target.device), target_group.numel(),
                       "target_group")
    ps, _, _ = _set_layout(pred, pred_set, pg.numel(), "pred")
    ts, _, _ = _set_layout(target, target_set, tg.numel(), "target")
    if pg.numel() == 0 or tg.numel() == 0:
        raise EmptyGraphError("need at least one predicted and one target set")
    num_groups = max(int(pg.max()), int(tg.max())) + 1
    rp = torch.bincount(pg, minlength=num_groups)
    rt = torch.bincount(tg, minlength=num_groups)
    bad = (rp == 0) | (rt == 0)
    if bool(bad.any()):
        g = int(torch.nonzero(bad)[0])
        raise GraphSizeError(f"group {g} has {int(rp[g])} predicted and {int(rt[g])} target sets; "
                             "every group needs at least one of each")
    return ps, pg, rp, ts, tg, rt, num_groups


def set_of_sets_mmd(
    pred: Tensor,
    pred_set: Tensor,
    pred_group: Tensor,
    target: Tensor,
    target_set: Tensor,
    target_group: Tensor,
    kernel: str = "gaussian",
    bandwidths: Sequence[float] = (0.01, 0.1, 1.0),
    cost: Union[str, CostFn] = "l2",
    unmatched_cost: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    r"""MMD between generated and reference *replicas*, with a Hungarian kernel between sets.

    Each group :math:`g` (one truth jet) has generated sets
    :math:`Y_1, \dots, Y_m` (replicas from the model) and reference sets
    :math:`X_1, \dots, X_n` (e.g. several detector simulations of the same
    truth).  With the Hungarian set distance :math:`d` of
    :func:`set_distances` and a kernel :math:`k` of it,

    .. math::
        \mathrm{MMD}^2_g = \frac{1}{n^2}\sum_{r, r'} k(X_r, X_{r'})
        + \frac{1}{m^2}\sum_{s, s'} k(Y_s, Y_{s'})
        - \frac{2}{nm}\sum_{r, s} k(X_r, Y_s),

    :math:`k(X, Y) = \frac{1}{|S|}\sum_{s\in S} e^{-d(X, Y)/2s^2}`
    (``"gaussian"``: :math:`d` is a mean squared distance per element, so it
    plays the role of :math:`\lVert x - y\rVert^2`), ``"laplacian"``
    :math:`e^{-\sqrt{d}/s}`, ``"imq"`` :math:`s^2/(s^2 + d)` or
    ``"energy"`` :math:`k = -\sqrt{d}` (then :math:`\mathrm{MMD}^2_g` is the
    energy distance :math:`2\mathbb{E}\sqrt{d(X,Y)} - \mathbb{E}\sqrt{d(X,X')}
    - \mathbb{E}\sqrt{d(Y,Y')}`).  Matching *inside* each kernel evaluation
    and comparing distributions of sets across replicas is the seed's
    "double Hungarian": the loss vanishes when the generated replicas follow
    the reference distribution, unlike a Hungarian loss against one
    reference set, which is minimised by the conditional mean.  The biased
    (V-statistic) form is used; diagonal terms are :math:`k(X, X) = k(0)`.
    Cost: :math:`\tfrac12 n(n-1) + \tfrac12 m(m-1) + nm` assignments per
    group; the :math:`X X'` term carries no gradient with respect to
    ``pred``.

    Args:
        pred: Generated elements ``(N_p, D)``.
        pred_set: Sorted set (replica) index of every generated element.
        pred_group: Group (truth jet) of every generated set ``(S_p,)``.
        target: Reference elements ``(N_t, D)``.
        target_set: Sorted set index of every reference element.
        target_group: Group of every reference set ``(S_t,)``.
        kernel: ``"gaussian"``, ``"laplacian"``, ``"imq"`` or ``"energy"``.
        bandwidths: Kernel widths :math:`s` (unused by ``"energy"``).
        cost: Element cost of the matching (see :func:`hungarian_loss`).
        unmatched_cost: Penalty per unmatched element when set sizes differ.
        reduction: ``"mean"`` over groups, ``"sum"`` or ``"none"`` (``(G,)``).

    Shapes:
        - **input:** ``pred`` :math:`(N_p, D)`, ``pred_group`` :math:`(S_p,)`,
          ``target`` :math:`(N_t, D)`, ``target_group`` :math:`(S_t,)`
        - **output:** :math:`()` or :math:`(G,)`
    """
    if kernel not in ("gaussian", "laplacian", "imq", "energy"):
        raise ValueError(f"kernel must be 'gaussian', 'laplacian', 'imq' or 'energy', got {kernel!r}")
    bw = [float(s) for s in bandwidths]
    if not bw or any(not s > 0 or s == float("inf") for s in bw):
        raise ValueError(f"bandwidths must be a non-empty sequence of finite numbers > 0, got {bandwidths!r}")
    _check_reduction(reduction)
    ps, pg, rp, ts, tg, rt, num_groups = _replica_inputs(pred, pred_set, pred_group, target, target_set,
                                                         target_group)
    kw = {"cost": cost, "unmatched_cost": unmatched_cost}
    k0 = _set_kernel(pred.new_zeros(1), kernel, bw)[0]

    def within(x: Tensor, xs: Tensor, g: Tensor) -> Tensor:
        pairs = _group_pairs(g, g, strict_upper=True)
        k = _set_kernel(set_distances(x, xs, x, xs, pairs, num_sets=(g.numel(), g.numel()), **kw), kernel, bw)
        total = x.new_zeros(num_groups).index_add(0, g[pairs[0]], 2.0 * k) if pairs.numel() else \
            x.new_zeros(num_groups)
        return total + k0 * torch.bincount(g, minlength=num_groups).to(x.dtype)

    spp = within(pred, ps, pg)
    stt = within(target.to(pred.dtype), ts, tg)
    cross = _group_pairs(pg, tg, strict_upper=False)
    kpt = _set_kernel(set_distances(pred, ps, target.to(pred.dtype), ts, cross,
                                    num_sets=(pg.numel(), tg.numel()), **kw), kernel, bw)
    spt = pred.new_zeros(num_groups).index_add(0, pg[cross[0]], kpt)
    m, n = rp.to(pred.dtype), rt.to(pred.dtype)
    mmd = spp / (m * m) + stt / (n * n) - 2.0 * spt / (m * n)
    return _reduce(mmd, reduction)


def proxy_loss(
    pred: Tensor,
    pred_set: Tensor,
    pred_group: Tensor,
    target: Tensor,
    target_set: Tensor,
    target_group: Tensor,
    mode: str = "min",
    cost: Union[str, CostFn] = "l2",
    unmatched_cost: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    r"""The proxy loss :math:`L_{\mathrm{proxy}}` between generated and reference replicas.

    The seed (fast simulation with replicas) trades the full set-of-sets MMD
    (:func:`set_of_sets_mmd`) for the distance of the closest pair,

    .. math::
        L_{\mathrm{proxy}, g} = \min_{r, s}\ d(X_r, Y_s)  \qquad (\text{``min''}),

    with :math:`d` the Hungarian set distance of :func:`set_distances`,
    :math:`X_r` the reference and :math:`Y_s` the generated sets of group
    :math:`g`.  Only the closest pair gets a gradient, so the other
    generated replicas are free to spread out.  ``mode="nearest"`` averages
    over the generated replicas instead,
    :math:`\frac{1}{m}\sum_s \min_r d(X_r, Y_s)` (every replica is pulled to
    its nearest reference, a one-sided Chamfer distance between the two
    samples of sets).

    Args:
        pred, pred_set, pred_group, target, target_set, target_group: As in
            :func:`set_of_sets_mmd`.
        mode: ``"min"`` (the seed's :math:`L_{\mathrm{proxy}}`) or ``"nearest"``.
        cost: Element cost of the matching.
        unmatched_cost: Penalty per unmatched element.
        reduction: ``"mean"`` over groups, ``"sum"`` or ``"none"`` (``(G,)``).

    Shapes:
        - **output:** :math:`()` or :math:`(G,)`
    """
    if mode not in ("min", "nearest"):
        raise ValueError(f"mode must be 'min' or 'nearest', got {mode!r}")
    _check_reduction(reduction)
    ps, pg, rp, ts, tg, _, num_groups = _replica_inputs(pred, pred_set, pred_group, target, target_set,
                                                        target_group)
    cross = _group_pairs(pg, tg, strict_upper=False)
    d = set_distances(pred, ps, target.to(pred.dtype), ts, cross, num_sets=(pg.numel(), tg.numel()),
                      cost=cost, unmatched_cost=unmatched_cost)
    inf = torch.full((), float("inf"), dtype=d.dtype, device=d.device)
    if mode == "min":
        out = inf.expand(num_groups).scatter_reduce(0, pg[cross[0]], d, reduce="amin", include_self=True)
    else:
        per_pred = inf.expand(pg.numel()).scatter_reduce(0, cross[0], d, reduce="amin", include_self=True)
        out = pred.new_zeros(num_groups).index_add(0, pg, per_pred) / rp.to(pred.dtype)
    return _reduce(out, reduction)


__all__ = ["hungarian_loss", "mmd_loss", "proxy_loss", "set_distances", "set_of_sets_mmd"]
