r"""Batched k-nearest-neighbour graphs in pure PyTorch (torch-cluster optional).

For every node :math:`i` of graph :math:`b` the :math:`k` nodes :math:`j` of the
same graph with the smallest distance

.. math::
    d(i, j) = \lVert \mathbf{x}_i - \mathbf{x}_j \rVert_2^2
    \qquad\text{or}\qquad
    d(i, j) = 1 - \frac{\mathbf{x}_i \cdot \mathbf{x}_j}
                       {\lVert \mathbf{x}_i \rVert \, \lVert \mathbf{x}_j \rVert}
    \quad (\text{cosine})

become the neighbours of :math:`i`.  The pure-torch backend sorts the graphs by size,
cuts them into a few buckets of similar size, scatters the nodes of each bucket
into a padded ``(G, N_b, D)`` block, computes the distance blocks of all its
graphs at once (chunked over query rows so that memory stays bounded), keeps
the :math:`k` smallest with :func:`torch.topk` and writes each edge straight
into its sorted slot.  Graphs with fewer than
:math:`k` other nodes get all of them; empty graphs get no edges.
"""

from __future__ import annotations

import math

from typing import Literal, Optional

import torch
from torch import Tensor

from .._checks import check_batch, check_finite, check_ndim, check_setting_int, is_debug
from ..errors import GraphSizeError, InputShapeError
from .sizes import ptr_from_counts

Backend = Literal["auto", "torch", "torch_cluster"]

#: ``backend="auto"`` uses torch-cluster (when importable) up to this many dimensions, torch above.
AUTO_CLUSTER_MAX_DIM = 3

#: Largest number of distance entries materialised at once by the torch backend.
MAX_BLOCK_ELEMENTS = 1 << 24


def torch_cluster_available() -> bool:
    """Return ``True`` when :mod:`torch_cluster` can be imported."""
    try:
        import torch_cluster  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def _graph_sizes(batch: Optional[Tensor], num_nodes: int, device: torch.device,
                 x: Optional[Tensor] = None) -> tuple[Tensor, Tensor]:
    """Return ``(batch, counts)`` with ``batch`` defaulting to one graph.

    With a ``batch`` the number of graphs is read back to the host; the same read also brings
    what the search relies on, checked at no further synchronisation: graph ids sorted and
    non-negative, and (``x``) finite points (from the sum of all coordinates: one reduction).

    Raises:
        InputShapeError: ``batch`` unsorted or negative.
        NonFiniteError: ``x`` holds NaN or infinite values.
    """
    if batch is None:
        batch = torch.zeros(num_nodes, dtype=torch.long, device=device)
        counts = torch.tensor([num_nodes], dtype=torch.long, device=device)
        return batch, counts
    batch = batch.to(torch.long)
    if not num_nodes:
        return batch, torch.zeros(0, dtype=torch.long, device=device)
    parts = [batch.max(), batch.min(), (batch[1:] < batch[:-1]).any().long()]
    if x is not None:  # the sum of all coordinates is NaN or infinite where one is: one pass, no temporary
        # (isfinite(x).any() was ~5x slower on CPUs); a sum beyond float32's range (3e38) counts as infinite
        parts.append((~torch.isfinite(x.detach().sum())).long())
    top, low, unsorted, *bad = torch.stack(parts).tolist()  # one host read
    if low < 0 or unsorted:
        raise InputShapeError("batch must hold graph ids >= 0 in ascending order (as PyG batches are), got "
                              + ("negative ids" if low < 0 else "an unsorted batch"))
    if bad and bad[0]:
        from ..errors import NonFiniteError

        raise NonFiniteError("the points of the kNN search hold NaN or infinite values (the coordinates or "
                             "features of a layer that builds its kNN graph)")
    counts = torch.bincount(batch, minlength=top + 1)
    return batch, counts


def block_distances(q: Tensor, dense: Tensor, sq: Optional[Tensor]) -> Tensor:
    """Squared Euclidean distances of query rows ``q (G, c, D)`` to all rows of ``dense (G, n, D)``.

    Up to 3 dimensions (or ``sq=None``) coordinate by coordinate: exact.  Above, the matmul
    expansion :math:`|a|^2 + |b|^2 - 2 a \\cdot b` with ``sq`` the squared norms of ``dense``
    ``(G, n)``: fast but it cancels unless the coordinates are centred; use it only to pick
    candidates (:func:`exact_topk`).  Returns ``(G, c, n)``.
    """
    if sq is None or dense.size(-1) <= 3:
        # Coordinate by coordinate, in place: exact (no cancellation) and ~1.7x faster than
        # torch.cdist's direct kernel; no square root (the order is what matters).
        dense_t = dense.transpose(1, 2)  # (G, D, n)
        diff = q[:, :, 0:1] - dense_t[:, None, 0]
        dist = diff.mul_(diff)
        for c in range(1, dense.size(-1)):
            diff = q[:, :, c:c + 1] - dense_t[:, None, c]
            dist.addcmul_(diff, diff)
        return dist
    qq = (q * q).sum(-1)
    dist = torch.baddbmm(qq[:, :, None] + sq[:, None, :], q, dense.transpose(1, 2), alpha=-2.0)
    return dist.clamp_min_(0.0).abs_()  # abs: no -0.0 (its bits would sort first as integers)


def centre_per_graph(x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    r"""Subtract the mean of each graph from its nodes: :math:`\mathbf{x}_i - \bar{\mathbf{x}}_{b(i)}`.

    Distances are unchanged; the common offset that makes the matmul expansion cancel
    (features that sit far from zero) is gone.  When the offset dominates, the subtraction
    itself is exact (Sterbenz: both numbers within a factor of two).
    """
    total = x.new_zeros(num_graphs, x.size(1)).index_add_(0, batch, x)
    counts = torch.bincount(batch, minlength=num_graphs).clamp_min_(1).to(x.dtype)
    return x - (total / counts[:, None])[batch]


#: Query rows re-ranked at once by :func:`exact_topk` (keeps the gathered candidates in cache).
EXACT_ROWS = 1024


def exact_topk(x: Tensor, centre: Tensor, candidates: Tensor, invalid: Tensor, k: int) -> tuple[Tensor, Tensor]:
    r"""Re-rank candidate neighbours by exact squared distances; keep the ``k`` nearest.

    .. math::
        d(i, j) = \sum_c (x_{ic} - x_{jc})^2

    by direct differences, so no cancellation whatever the offset of the coordinates.

    Args:
        x: Coordinates ``(M, D)``.
        centre: Row of ``x`` of each query ``(R,)``.
        candidates: Rows of ``x`` of each query's candidates ``(R, K)``.
        invalid: Candidates that are no neighbours (padding, the node itself) ``(R, K)``.
        k: How many to keep (``k <= K``).

    Returns:
        ``(index, dist)``: the ``k`` nearest candidates of each query, nearest first, and their
        squared distances (``inf`` for invalid ones, which come last), both ``(R, k)``.
    """
    num, kc = candidates.shape
    index = candidates.new_empty(num, k)
    dist_k = x.new_empty(num, k)
    for r0 in range(0, num, EXACT_ROWS):
        r1 = min(num, r0 + EXACT_ROWS)
        cand = candidates[r0:r1]
        diff = x.index_select(0, cand.reshape(-1)).view(r1 - r0, kc, -1)
        diff.sub_(x.index_select(0, centre[r0:r1]).unsqueeze(1)).square_()
        dist = diff.sum(-1).masked_fill_(invalid[r0:r1], float("inf"))
        val, order = torch.topk(dist, k, dim=-1, largest=False, sorted=True)
        index[r0:r1] = cand.gather(1, order)
        dist_k[r0:r1] = val
    return index, dist_k


def unit_rows(x: Tensor) -> Tensor:
    """Rows scaled to unit length: on them the Euclidean order is the cosine order (|a-b|^2 = 2 - 2 cos)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _knn_torch_padded(x: Tensor, k: int, batch: Tensor, counts: Tensor, loop: bool,
                      cosine: bool) -> tuple[Tensor, Tensor]:
    """Reference pure-torch kNN: all graphs in one ``(B, N_max, D)`` block, exact distances
    coordinate by coordinate in every dimension; returns ``(source, target)``."""
    num_nodes, dim = x.shape
    num_graphs = counts.numel()
    ptr = ptr_from_counts(counts)
    n_max = int(counts.max())
    local = torch.arange(num_nodes, device=x.device) - ptr[batch]

    xs = unit_rows(x.detach()) if cosine else x.detach()
    dense = xs.new_zeros(num_graphs, n_max, dim)
    dense[batch, local] = xs
    kk = min(k, n_max)

    col = torch.arange(n_max, device=x.device)
    col_invalid = col.view(1, 1, -1) >= counts.view(-1, 1, 1)  # (B, 1, N)

    rows_per_chunk = max(1, MAX_BLOCK_ELEMENTS // max(1, num_graphs * n_max))
    sources, targets = [], []
    for r0 in range(0, n_max, rows_per_chunk):
        r1 = min(n_max, r0 + rows_per_chunk)
        dist = block_distances(dense[:, r0:r1], dense, None)
        dist = dist.masked_fill(col_invalid, float("inf"))
        if not loop:
            rows = torch.arange(r0, r1, device=x.device)
            self_mask = rows.view(1, -1, 1) == col.view(1, 1, -1)
            dist = dist.masked_fill(self_mask, float("inf"))
        val, idx = torch.topk(dist, kk, dim=-1, largest=False, sorted=True)  # (B, c, kk)
        row_local = torch.arange(r0, r1, device=x.device).view(1, -1, 1)
        valid = torch.isfinite(val) & (row_local < counts.view(-1, 1, 1))
        g = torch.arange(num_graphs, device=x.device).view(-1, 1, 1).expand_as(idx)
        tgt = (ptr[:-1].view(-1, 1, 1) + row_local).expand_as(idx)
        src = ptr[g] + idx
        # Order by target node: (B, c, kk) with g-major == target-major order.
        sources.append(src[valid])
        targets.append(tgt[valid])
    if len(sources) == 1:
        return sources[0], targets[0]
    source = torch.cat(sources)
    target = torch.cat(targets)
    order = torch.argsort(target, stable=True)
    return source[order], target[order]


#: Signed integer dtype of each float size, to compare non-negative floats by their bits.
_SAME_SIZE_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}

#: Largest number of size buckets the bucketed torch backend splits a batch into.
MAX_BUCKETS = 8
#: Fixed cost of one extra bucket, in distance entries (kernel launches, indexing).
BUCKET_OVERHEAD = 1 << 15


def _size_buckets(sizes: list[int]) -> list[int]:
    r"""Split graph sizes, sorted ascending, into contiguous buckets; return the end of each.

    Tries 1, 2, 4, ... :data:`MAX_BUCKETS` buckets of equal graph count and keeps the split of
    least padded work :math:`\sum_b |b|\, n_{\max,b}^2` plus :data:`BUCKET_OVERHEAD` per bucket.
    """
    g = len(sizes)
    best_cost, best = None, [g]
    nb = 1
    while nb <= min(MAX_BUCKETS, g):
        ends = sorted({round(g * (i + 1) / nb) for i in range(nb)})
        cost, a = 0, 0
        for e in ends:
            cost += (e - a) * sizes[e - 1] ** 2 + BUCKET_OVERHEAD
            a = e
        if best_cost is None or cost < best_cost:
            best_cost, best = cost, ends
        nb *= 2
    return best


def _expansion_slack(x: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    r"""Twice a bound on the rounding error of the matmul expansion, per query node ``(N,)``.

    For query :math:`i` and any node :math:`j` of its graph the computed
    :math:`|x_i|^2 + |x_j|^2 - 2 x_i \cdot x_j` is within
    :math:`(D + 2)\,\epsilon\,(|x_i| + \max_j |x_j|)^2` of the exact value; the rounding of
    the centring (:func:`centre_per_graph`) adds at most :math:`2\epsilon` times the same.
    The factor two is a safety margin.
    """
    norm = x.norm(dim=-1)
    reach = norm.new_zeros(num_graphs).scatter_reduce_(0, batch, norm, "amax")
    return 2.0 * (x.size(1) + 4) * torch.finfo(x.dtype).eps * (norm + reach[batch]).square()


def _refine(xs: Tensor, centre: Tensor, start: Tensor, cand: Tensor, approx: Tensor, count: Tensor,
            slack: Tensor, n_b: int, loop: bool) -> Tensor:
    r"""Make the ``kk`` nearest found by the matmul expansion exact; returns ``(R, kk)``.

    ``cand`` holds the ``kk + 1`` best candidates of each query by the expansion (nearest
    first, local to the graph that starts at node ``start``), ``approx`` their expansion
    distances (as integer bits).  Where
    the gap between the :math:`k`-th and the :math:`(k+1)`-th exceeds ``slack`` (twice the
    error bound, :func:`_expansion_slack`) the first ``kk`` are the true :math:`k` nearest;
    rows where it does not (near-ties at the boundary, clustered points; rare) are searched
    again over their whole graph with exact distances (:func:`exact_topk`).
    """
    kk = cand.size(1) - 1
    out = cand[:, :kk] + start.view(-1, 1)
    gap = approx.view(xs.dtype)
    unsure = gap[:, kk] - gap[:, kk - 1] <= slack[centre]  # inf - inf = NaN: sure (no (k+1)-th)
    unsure &= cand[:, kk - 1] < count  # a graph with at most k other nodes: all are found
    if bool(unsure.any()):
        every = torch.arange(n_b, device=xs.device).view(1, -1)
        todo = torch.nonzero(unsure).view(-1)
        step = max(1, MAX_BLOCK_ELEMENTS // (n_b * xs.size(1)))
        for r0 in range(0, todo.numel(), step):
            rows = todo[r0:r0 + step]
            c, s0 = centre[rows], start[rows].view(-1, 1)
            bad = every >= count[rows].view(-1, 1)  # padding slots
            if not loop:
                bad |= every + s0 == c.view(-1, 1)
            out[rows] = exact_topk(xs, c, (every + s0).masked_fill(bad, 0), bad, kk)[0]
    return out


def _knn_torch(x: Tensor, k: int, batch: Tensor, counts: Tensor, loop: bool, cosine: bool) -> tuple[Tensor, Tensor]:
    r"""Pure-torch kNN with graphs grouped by size; returns ``(source, target)``.

    Jets of a batch differ a lot in size (20 to 150 particles), and one padded
    ``(B, N_{max}, N_{max})`` distance block spends most of its work on padding.
    The graphs are sorted by size and cut into a few buckets (:func:`_size_buckets`),
    each padded to its own largest graph.  Every node has
    :math:`\min(k, n_g - 1)` neighbours (:math:`n_g` with ``loop``), so the
    output slot of each edge is known in advance: edges are written in place,
    sorted by centre and then by distance, with no final sort.

    The neighbours are exact in every dimension.  Up to 3-D the distances are
    computed coordinate by coordinate.  Above, the coordinates are first centred per
    graph (:func:`centre_per_graph`) and the matmul expansion ranks them; where the
    gap between the :math:`k`-th and :math:`(k+1)`-th is within its rounding error
    bound, the node is searched again with exact distances (:func:`_refine`).
    Cosine distances are Euclidean ones between unit vectors.

    The padding slots hold a point farther from every real point than any two
    real points are from each other (:math:`4 \max |x| + 1` in every coordinate),
    so no padding mask is needed; self loops are excluded by filling the diagonal
    of each distance block.  Same result as :func:`_knn_torch_padded` (the
    reference) up to ties.
    """
    num_nodes, dim = x.shape
    device = x.device
    num_graphs = counts.numel()
    ptr = ptr_from_counts(counts)
    xs = unit_rows(x.detach()) if cosine else x.detach()
    refine = dim > 3
    exact, slack = xs, xs.new_empty(0)  # exact distances from the coordinates as given
    if refine:
        xs = centre_per_graph(xs, batch, num_graphs)
        slack = _expansion_slack(xs, batch, num_graphs)

    deg_graph = (counts if loop else counts - 1).clamp(0, k)  # neighbours of each node of graph g
    deg = deg_graph[batch]
    edge_ptr = ptr_from_counts(deg)
    num_edges = int(edge_ptr[-1])
    target = torch.repeat_interleave(torch.arange(num_nodes, device=device), deg, output_size=num_edges)
    source = torch.empty(num_edges, dtype=torch.long, device=device)
    if num_edges == 0:
        return source, target

    # Padding value: far from every real point (no mask), unless that could overflow.
    pad_value = 4.0 * float(xs.abs().max()) + 1.0
    use_pad = pad_value * pad_value * dim < 0.01 * torch.finfo(xs.dtype).max
    if not use_pad:
        pad_value = 0.0

    sizes, order = torch.sort(counts, stable=True)
    size_list = sizes.tolist()
    # Node slots in graph-size order: each bucket is one contiguous range of slots.
    sorted_ptr = ptr_from_counts(sizes)
    sorted_ptr_list = sorted_ptr.tolist()
    gpos = torch.repeat_interleave(torch.arange(num_graphs, device=device), sizes, output_size=num_nodes)
    local_all = torch.arange(num_nodes, device=device) - sorted_ptr[gpos]
    start_all = ptr[order][gpos]  # global index of the first node of each slot's graph
    node_all = start_all + local_all
    min_deg_list = deg_graph[order].tolist()
    a = 0
    for e in _size_buckets(size_list):
        n_b = size_list[e - 1]
        if n_b == 0 or (n_b == 1 and not loop):
            a = e
            continue  # empty or single-node graphs: no edges
        s0, s1 = sorted_ptr_list[a], sorted_ptr_list[e]
        local = local_all[s0:s1]
        node = node_all[s0:s1]
        flat = (gpos[s0:s1] - a) * n_b + local  # row of each node in the (G * n_b) block
        dense = xs.new_full(((e - a) * n_b, dim), pad_value)
        dense.index_copy_(0, flat, xs.index_select(0, node))
        dense = dense.view(e - a, n_b, dim)
        sq = (dense * dense).sum(-1) if refine else None
        col_invalid = None
        if not use_pad:
            col_invalid = torch.arange(n_b, device=device).view(1, 1, -1) >= counts[order[a:e]].view(-1, 1, 1)
        kk = min(k, n_b)
        # candidates: the kk nearest, and the next one to check the gap in the expansion
        kc = min(n_b, kk + 1) if refine else kk
        full_deg = min_deg_list[a] == kk  # every node of the bucket has kk neighbours
        rows_per_chunk = max(1, MAX_BLOCK_ELEMENTS // max(1, (e - a) * n_b))
        t = torch.arange(kk, device=device)
        for r0 in range(0, n_b, rows_per_chunk):
            r1 = min(n_b, r0 + rows_per_chunk)
            dist = block_distances(dense[:, r0:r1], dense, sq)
            if col_invalid is not None:
                dist = dist.masked_fill(col_invalid, float("inf"))
            if not loop:
                dist.diagonal(offset=r0, dim1=1, dim2=2).fill_(float("inf"))
            # Non-negative floats order like their bit patterns read as signed integers,
            # and the CPU top-k kernel compares integers ~30 % faster (same order, same ties).
            dist = dist.view(_SAME_SIZE_INT[dist.element_size()])
            val, idx = torch.topk(dist, kc, dim=-1, largest=False, sorted=True)  # (G, c, kc)
            # Row r of graph g: slot t is valid iff t < deg_g (real points sort first);
            # its edge goes to position edge_ptr[centre] + t.
            if r0 == 0 and r1 == n_b:
                rows, centre, start = flat, node, start_all[s0:s1]
            else:
                sel = (local >= r0) & (local < r1)
                rows = (flat - r0 - (gpos[s0:s1] - a) * (n_b - (r1 - r0)))[sel]
                centre, start = node[sel], start_all[s0:s1][sel]
            cand = idx.view(-1, kc).index_select(0, rows)  # (R, kc), local to the graph
            if kc > kk:
                nb = _refine(exact, centre, start, cand, val.view(-1, kc).index_select(0, rows),
                             counts[batch[centre]], slack, n_b, loop)
            else:
                nb = cand + start.view(-1, 1)
            pos = edge_ptr[centre].view(-1, 1) + t
            if full_deg:
                source.index_copy_(0, pos.view(-1), nb.reshape(-1))
            else:
                ok = t < deg[centre].view(-1, 1)
                source[pos[ok]] = nb[ok]
        a = e
    return source, target


def knn_graph(
    x: Tensor,
    k: int,
    batch: Optional[Tensor] = None,
    loop: bool = False,
    flow: str = "source_to_target",
    cosine: bool = False,
    num_workers: int = 1,
    batch_size: Optional[int] = None,
    backend: Backend = "auto",
    strict: bool = False,
) -> Tensor:
    r"""Build the k-nearest-neighbour graph of a batch of point sets.

    Same contract as :func:`torch_geometric.nn.knn_graph`: for
    ``flow="source_to_target"`` the returned ``edge_index`` holds edges
    :math:`j \to i` (``edge_index[0]`` are neighbours, ``edge_index[1]`` the
    centres), sorted by centre and, for the torch backend, by distance.
    Integer coordinates are searched in the default float dtype, float16 and
    bfloat16 ones in float32 (exact for every half-precision value); 1-D ``x``
    is one coordinate per node, as in PyG.

    Args:
        x: Node coordinates or features, shape ``(N, D)``.
        k: Number of neighbours per node (capped by the graph's size, unless
            ``strict``); 0 gives no edges, as in PyG.
        batch: Graph index of each node, sorted, shape ``(N,)``; ``None``
            means one graph.
        loop: Whether a node counts as its own neighbour.
        flow: ``"source_to_target"`` or ``"target_to_source"``.
        cosine: Use cosine distance instead of Euclidean.
        num_workers: CPU threads of the torch-cluster search (PyG's argument, ``>= 0`` as
            torch-cluster takes it; the torch backend runs on torch's own threads).
        batch_size: The number of graphs (PyG's argument); checked against ``batch``
            when given.
        backend: ``"torch"``, ``"torch_cluster"`` or ``"auto"`` (torch-cluster
            when importable and ``D <= AUTO_CLUSTER_MAX_DIM``, else torch).
        strict: Raise :class:`~pgjets.errors.GraphSizeError` if any non-empty
            graph has fewer than ``k`` candidate neighbours.

    Returns:
        ``edge_index`` of shape ``(2, E)`` with ``E <= N * k``.

    Raises:
        NonFiniteError: ``x`` holds NaN or inf.
        InputShapeError: wrong shapes, an unsorted ``batch``, or coordinates so large
            that their squared distances overflow (:func:`check_distance_range`).
        GraphSizeError: with ``strict``, a graph smaller than ``k`` allows.

    Shapes:
        - **input:** ``x`` :math:`(N, D)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(2, E)`
    """
    if isinstance(x, Tensor) and x.dim() == 1:
        x = x.view(-1, 1)
    check_ndim(x, 2, "x", "(num_nodes, dims)")
    if isinstance(k, bool) or int(k) != k or int(k) < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    k = int(k)
    num_workers = check_setting_int(num_workers, "num_workers", minimum=0)  # torch-cluster takes 0 too
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")
    if backend not in ("auto", "torch", "torch_cluster"):
        raise ValueError(f"backend must be 'auto', 'torch' or 'torch_cluster', got {backend!r}")
    if batch is not None:
        check_ndim(batch, 1, "batch", "(num_nodes,)")
        if batch.numel() != x.size(0):
            raise InputShapeError(
                f"batch has {batch.numel()} entries but x has {x.size(0)} nodes"
            )
    if not x.is_floating_point():  # integer coordinates: distances in the default float dtype
        x = x.to(torch.get_default_dtype())
    check_distance_range(x, "x")
    if batch is not None:
        check_batch(batch)
    if batch_size is not None:
        graphs = int(batch.max()) + 1 if batch is not None and batch.numel() else 1
        if int(batch_size) < graphs:
            raise InputShapeError(f"batch_size={batch_size}, but batch holds graph ids up to {graphs - 1}")
    if k == 0:  # no neighbours: no edges, as torch-cluster's (PyG's) knn_graph
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    return knn_graph_unchecked(x, k, batch, loop, flow, cosine, backend, strict, num_workers)


def check_distance_range(x: Tensor, name: str = "x") -> None:
    r"""Raise unless the coordinates ``x`` are finite and their squared distances fit the search dtype.

    One reduction (one host read): the largest magnitude :math:`m`; NaN and inf propagate into it.
    A finite :math:`m` must satisfy

    .. math::
        D\,(2m)^2 < f_{\max}

    with :math:`f_{\max}` the largest float of the search dtype (float32 for half-precision
    inputs), else distances overflow to inf, tie with the masked slots, and the search returns
    self loops and edges between graphs.

    Args:
        x: Coordinates ``(N, D)``.
        name: Name used in the error.

    Shapes:
        - **input:** ``x`` :math:`(N, D)`

    Raises:
        NonFiniteError: ``x`` holds NaN or inf.
        InputShapeError: coordinates too large for squared distances.
    """
    if x.numel() == 0:
        return
    m = float(x.detach().abs().amax())
    if not math.isfinite(m):
        check_finite(x, name)
    search = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    limit = math.sqrt(torch.finfo(search).max / max(1, x.size(1))) / 2
    if m > limit:
        raise InputShapeError(f"{name} holds coordinates up to {m:.3g}: their squared distances overflow "
                              f"{search} (largest allowed magnitude {limit:.3g} in {x.size(1)}-D); scale them "
                              "or search in float64")


def knn_graph_unchecked(x: Tensor, k: int, batch: Optional[Tensor], loop: bool, flow: str, cosine: bool,
               backend: Backend, strict: bool, num_workers: int = 1) -> Tensor:
    """:func:`knn_graph` on inputs already checked (by the caller: no value checks here).

    For layers that build their graph inside ``forward`` (:class:`~pgjets.nn.DynamicEdgeConv`):
    ``x`` floating ``(N, D)``, ``batch`` sorted ``(N,)`` or ``None``, ``k >= 1``.
    """
    if x.size(0) == 0:
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    source, target = _knn_edges(x, k, batch, loop, cosine, backend, strict, num_workers)
    if flow == "source_to_target":
        return torch.stack([source, target], dim=0)
    return torch.stack([target, source], dim=0)


def layer_knn_graph(x: Tensor, k: int, batch: Optional[Tensor], cosine: bool = False) -> Tensor:
    r"""The kNN graph a layer builds inside its ``forward`` (no self loops, ``source_to_target``).

    The inputs were checked at the model's entry, so outside debug mode this is
    :func:`knn_graph_unchecked` (the shape of ``batch`` is checked; with a ``batch``, the read of
    the number of graphs that the search needs also checks that ``batch`` is sorted and
    non-negative and ``x`` finite: no host sync of its own); in debug mode
    (:func:`pgjets.set_debug`) it is the checked :func:`knn_graph`.

    Args:
        x: Coordinates or features ``(N, D)``.
        k: Neighbours per node.
        batch: Sorted graph index ``(N,)`` or ``None``.
        cosine: Cosine distance instead of Euclidean.

    Shapes:
        - **input:** ``x`` :math:`(N, D)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(2, E)`, :math:`E \le N k`, sorted by centre
    """
    if batch is not None and (batch.dim() != 1 or batch.numel() != x.size(0)):  # shapes: no sync
        raise InputShapeError(f"batch must be 1-D with one entry per node ({x.size(0)}), got shape "
                              f"{tuple(batch.shape)}")
    if is_debug():
        return knn_graph(x, k, batch, loop=False, cosine=cosine)
    return knn_graph_unchecked(x, k, batch, False, "source_to_target", cosine, "auto", False)


@torch.compiler.disable
def _knn_edges(x: Tensor, k: int, batch: Optional[Tensor], loop: bool, cosine: bool, backend: Backend,
               strict: bool, num_workers: int = 1) -> tuple[Tensor, Tensor]:
    """The ``(source, target)`` edges of :func:`knn_graph_unchecked`, always run eagerly.

    The search is data dependent (graph sizes read back to the host, size buckets, rows
    re-ranked where the matmul expansion is unsure), so ``torch.compile`` gains nothing by
    tracing it: traced, every new batch recompiles its pieces until dynamo's recompile
    limit.  Under ``torch.compile`` it is one graph break per call, and the backend chosen
    is the eager one (torch-cluster included).  It runs with autocast off: the distances are
    float32 (or float64) whatever the surrounding mixed precision, as the error bound of the
    expansion and the bit-pattern ranking assume.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _knn_edges_full_precision(x, k, batch, loop, cosine, backend, strict, num_workers)


def _knn_edges_full_precision(x: Tensor, k: int, batch: Optional[Tensor], loop: bool, cosine: bool,
                              backend: Backend, strict: bool, num_workers: int = 1) -> tuple[Tensor, Tensor]:
    num_nodes = x.size(0)
    if x.dtype in (torch.float16, torch.bfloat16):
        # searched in float32, which holds every half-precision value exactly: float16 squared
        # distances overflow from coordinates of about 180 (autocast features reach that), and
        # bfloat16 ones keep 8 bits, too few to rank close neighbours
        x = x.float()
    batch, counts = _graph_sizes(batch, num_nodes, x.device, x)
    if strict:
        need = k if loop else k + 1
        small = (counts > 0) & (counts < need)
        if bool(small.any()):
            g = int(torch.nonzero(small)[0])
            raise GraphSizeError(
                f"k={k} needs graphs of at least {need} nodes, but graph {g} has {int(counts[g])}"
            )

    # auto: torch-cluster's k-d trees win in 2-3 dimensions (jet (eta, phi) planes); in learned
    # feature spaces (ParticleNet's later blocks, 64-256 dims) the batched torch path is faster.
    use_cluster = backend == "torch_cluster" or (
        backend == "auto" and x.size(1) <= AUTO_CLUSTER_MAX_DIM and torch_cluster_available()
    )
    if backend == "torch_cluster" and not torch_cluster_available():
        from ..errors import MissingExtraError

        raise MissingExtraError(
            "backend='torch_cluster' needs torch-cluster; install it with "
            "pip install --no-build-isolation torch-cluster (extra 'pgjets[ext]')"
        )
    if use_cluster:
        import torch_cluster

        # torch-cluster has no cosine mode on CPU; on unit vectors the Euclidean order is the
        # cosine order.  Its distances are direct differences (exact), like the torch backend's.
        xc = unit_rows(x.detach()) if cosine else x.detach()
        ei = torch_cluster.knn_graph(xc, k, batch, loop=loop, flow="source_to_target", num_workers=num_workers)
        source, target = ei[0], ei[1]
        if not loop:
            # torch-cluster asks for k+1 and drops self loops; with duplicate
            # points the self loop may be missed, leaving k+1 neighbours.
            deg = torch.bincount(target, minlength=num_nodes)
            if bool((deg > k).any()):
                rank = torch.arange(target.numel(), device=x.device) - ptr_from_counts(deg)[:-1][target]
                keep = rank < k
                source, target = source[keep], target[keep]
    else:
        with torch.no_grad():
            source, target = _knn_torch(x, k, batch, counts, loop, cosine)
    return source, target


__all__ = ["knn_graph", "knn_graph_unchecked", "check_distance_range", "layer_knn_graph", "block_distances", "unit_rows", "torch_cluster_available",
           "MAX_BLOCK_ELEMENTS", "MAX_BUCKETS", "AUTO_CLUSTER_MAX_DIM"]
