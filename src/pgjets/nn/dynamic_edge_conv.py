r"""EdgeConvBlock: the ParticleNet block (Qu and Gouskos, 2020; Wang et al., 2019).

Each forward pass rebuilds the :math:`k`-nearest-neighbour graph from its input
(the :math:`(\Delta\eta, \Delta\phi)` coordinates in the first block, the learned
features afterwards) and applies

.. math::
    \mathbf{x}_i' = \mathrm{ReLU}\Big(
        \frac{1}{|\mathcal{N}(i)|}\sum_{j \in \mathcal{N}(i)}
        h_\Theta\big(\mathbf{x}_i \,\Vert\, \mathbf{x}_j - \mathbf{x}_i\big)
        + \mathrm{BN}(W_s \mathbf{x}_i)\Big),

where :math:`h_\Theta` is a stack of (Linear, BatchNorm, ReLU) layers and the
shortcut :math:`W_s` is a linear map with batch normalisation.

Two exact fast paths: the first linear map of the edge MLP is split as
:math:`W (\mathbf{x}_i \Vert \mathbf{x}_j - \mathbf{x}_i) = (W_1 - W_2)\mathbf{x}_i + W_2 \mathbf{x}_j`,
computed per node and gathered per edge; and when every node has exactly
:math:`k` neighbours (the usual case) the mean is a reshape to ``(N, k, C)``
instead of a scatter.

Names: the block is called ``EdgeConvBlock``, as in weaver's ParticleNet.
``DynamicEdgeConv`` is a deprecated alias kept for one release; it is *not*
PyG's :class:`torch_geometric.nn.DynamicEdgeConv` (``DynamicEdgeConv(nn, k)``,
a user-given edge network, max aggregation, no batch norm or shortcut), which is
what PyG users should use for those semantics.  A later release may offer a
PyG-compatible ``DynamicEdgeConv(nn, k, aggr)`` here, once the alias is gone.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from .._checks import (check_input_dtype, debug_check_finite, check_ndim, check_positive_int,
                       warn_deprecated_name)
from ..errors import InputShapeError
from ..ops.knn import block_distances, layer_knn_graph, unit_rows

#: Extra candidates that :func:`padded_knn` re-ranks by exact distances above 3-D.
PADDED_REFINE_MARGIN = 8
from ..ops.padded import rowwise


def padded_knn(coords: Tensor, mask: Tensor, k: int, cosine: bool = False) -> tuple[Tensor, Tensor]:
    r"""k nearest neighbours inside each padded jet, with static shapes.

    .. math::
        \mathrm{kNN}(i) = \operatorname{arg\,topk}_{j \ne i,\, M_{bj} = 1}\big(-d(i, j)\big)

    with the squared Euclidean (or cosine) distance of
    :func:`pgjets.nn.knn.knn_graph`.  Above 3-D the coordinates are centred per
    jet, the matmul expansion picks :math:`k +` :data:`PADDED_REFINE_MARGIN`
    candidates and exact distances rank them (static shapes, so no fallback: a
    node with more near-ties than the margin may differ from ``knn_graph`` by a
    tie-level distance).  Every row gets exactly ``k`` indices;
    those that are not real neighbours (jets with at most ``k`` particles)
    point to particle 0 and have ``valid = False``.

    Args:
        coords: Padded coordinates ``(B, N, D)``.
        mask: Valid-particle mask ``(B, N)``.
        k: Number of neighbours.
        cosine: Cosine instead of Euclidean distance.

    Returns:
        ``(index, valid)``, both ``(B, N, k)``; ``index`` is local to the jet.

    Shapes:
        - **input:** :math:`(B, N, D)`, :math:`(B, N)`
        - **output:** :math:`(B, N, k)`, :math:`(B, N, k)`
    """
    B, N, D = coords.shape
    if cosine:
        coords = unit_rows(coords)  # Euclidean order on unit vectors = cosine order
    m = mask.to(coords.dtype).unsqueeze(-1)
    if D > 3:  # centred per jet: no cancellation in the expansion (see knn_graph)
        coords = coords - (coords * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
    sq = (coords * coords).sum(-1) if D > 3 else None
    dist = block_distances(coords, coords, sq)  # the kernels of knn_graph
    eye = torch.eye(N, dtype=torch.bool, device=coords.device)
    dist = dist.masked_fill(eye.unsqueeze(0) | ~mask.unsqueeze(1), float("inf"))
    # k (+ margin) columns of +inf: topk is valid even when N <= k.
    kc = k + PADDED_REFINE_MARGIN if D > 3 else k
    dist = torch.cat([dist, dist.new_full((B, N, kc), float("inf"))], dim=-1)
    val, idx = torch.topk(dist, kc, dim=-1, largest=False, sorted=True)
    if D > 3:
        # re-rank the candidates by exact distances (static shapes: a fixed margin, no fallback)
        safe = torch.where(torch.isfinite(val), idx, torch.zeros_like(idx))
        flat = coords.reshape(B * N, D)
        off = (torch.arange(B, device=coords.device) * N).view(B, 1, 1)
        diff = flat[(safe + off).view(-1)].view(B, N, kc, D) - coords.unsqueeze(2)
        exact = (diff * diff).sum(-1).masked_fill(~torch.isfinite(val), float("inf"))
        val, order = torch.topk(exact, k, dim=-1, largest=False, sorted=True)
        idx = safe.gather(2, order)
    valid = torch.isfinite(val)
    return torch.where(valid, idx, torch.zeros_like(idx)), valid


class EdgeConvBlock(MessagePassing):
    r"""EdgeConv on a kNN graph rebuilt at every call (ParticleNet block).

    .. math::
        \mathbf{x}_i' = \mathrm{ReLU}\Big(
            \underset{j \in \mathrm{kNN}(i)}{\mathrm{mean}}\;
            h_\Theta\big(\mathbf{x}_i \,\Vert\, \mathbf{x}_j - \mathbf{x}_i\big)
            + \mathrm{BN}(W_s \mathbf{x}_i)\Big), \qquad
        h_\Theta = \bigcirc_{l} \mathrm{ReLU} \circ \mathrm{BN} \circ \mathrm{Linear}_l

    With ``pad_neighbours=True`` a node with fewer than :math:`k` neighbours (a jet of
    :math:`n \le k` particles) also averages over :math:`k - |\mathrm{kNN}(i)|` neighbours of
    features 0, the padding slots that weaver-core's padded kNN takes (it pushes padded
    particles far away and zeroes their features, so they are the farthest neighbours):

    .. math::
        \mathbf{x}_i' = \mathrm{ReLU}\Big(\frac{1}{\max(|\mathrm{kNN}(i)|, k)}\Big[
            \sum_{j \in \mathrm{kNN}(i)} h_\Theta(\mathbf{x}_i \Vert \mathbf{x}_j - \mathbf{x}_i)
            + \big(k - |\mathrm{kNN}(i)|\big)_+\, h_\Theta(\mathbf{x}_i \Vert -\mathbf{x}_i)\Big]
            + \mathrm{BN}(W_s \mathbf{x}_i)\Big)

    (``aggr="max"``: the padding message joins the maximum).  Nodes with :math:`k` neighbours get
    the same result as without it; in eval mode the block then equals weaver's for every jet
    (weaver's padded length at least :math:`k + 1`).  In training mode, in a batch where some node
    lacks neighbours, the edge MLP's batch norms see one padding message for every node of the
    batch (computed for all, counted only where neighbours are missing; selecting those rows would
    read the mask back to the host), so their statistics, and then the outputs of all the batch's
    jets, differ from ``pad_neighbours=False`` (weaver's see every padding slot).

    The first edge-MLP layer is stored as two bias-free maps,
    ``lin_center`` (:math:`W_1`, on :math:`\mathbf{x}_i`) and ``lin_diff``
    (:math:`W_2`, on :math:`\mathbf{x}_j - \mathbf{x}_i`); later layers are
    ``lins``; every linear map is followed by ``norms`` (BatchNorm1d) and ReLU.
    In training mode a batch-norm that would see a single row is skipped.

    Args:
        in_channels: Input feature size :math:`F`.
        channels: Output sizes of the edge MLP layers (last = output size).
        k: Number of neighbours.
        aggr: ``"mean"`` (ParticleNet) or ``"max"``.
        cosine: Use cosine distance for the kNN search.
        pad_neighbours: Count the missing neighbours of nodes with fewer than ``k`` as
            neighbours of features 0, as weaver-core does (default ``False``: the mean over the
            neighbours there are).

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``pos`` :math:`(N, D)` optional,
          ``batch`` :math:`(N,)` optional
        - **output:** :math:`(N, \text{channels}[-1])`
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int] = (64, 64, 64),
        k: int = 16,
        aggr: str = "mean",
        cosine: bool = False,
        pad_neighbours: bool = False,
    ) -> None:
        if aggr not in ("mean", "max"):
            raise ValueError(f"aggr must be 'mean' or 'max', got {aggr!r}")
        super().__init__(aggr=aggr)
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.k = check_positive_int(k, "k")
        self.channels = tuple(check_positive_int(c, "channels entry") for c in channels)
        if not self.channels:
            raise ValueError("channels must name at least one layer size")
        self.cosine = cosine
        self.pad_neighbours = bool(pad_neighbours)
        c0 = self.channels[0]
        self.lin_center = nn.Linear(in_channels, c0, bias=False)  # acts on x_i
        self.lin_diff = nn.Linear(in_channels, c0, bias=False)  # acts on x_j - x_i
        self.norms = nn.ModuleList([nn.BatchNorm1d(c) for c in self.channels])
        self.lins = nn.ModuleList(
            [nn.Linear(a, b, bias=False) for a, b in zip(self.channels[:-1], self.channels[1:])]
        )
        self.shortcut = nn.Linear(in_channels, self.channels[-1], bias=False)
        self.shortcut_norm = nn.BatchNorm1d(self.channels[-1])

    def reset_parameters(self) -> None:
        for m in [self.lin_center, self.lin_diff, self.shortcut, *self.lins, *self.norms, self.shortcut_norm]:
            m.reset_parameters()

    def edge_mlp_first(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """First edge-MLP linear map, via the per-node split (fast path)."""
        a = self.lin_center.weight  # (C, F)
        b = self.lin_diff.weight
        node_i = x @ (a - b).t()  # (W1 - W2) x_i
        node_j = x @ b.t()  # W2 x_j
        # index_select, not node_i[edge_index[1]]: the backward of advanced indexing (index_put_
        # with accumulate) sums in a thread-dependent order on CPU, so two runs differed in the last bits
        return node_i.index_select(0, edge_index[1]) + node_j.index_select(0, edge_index[0])

    def edge_mlp_reference(self, x: Tensor, edge_index: Tensor) -> Tensor:
        """First edge-MLP linear map computed on concatenated edge features (reference)."""
        xi, xj = x[edge_index[1]], x[edge_index[0]]
        return self.lin_center(xi) + self.lin_diff(xj - xi)

    def forward(self, x: Tensor, pos: Optional[Tensor] = None, batch: Optional[Tensor] = None) -> Tensor:
        r"""Rebuild the kNN graph and apply the block.

        Args:
            x: Node features, ``(N, F)``.
            pos: Coordinates for the kNN search, ``(N, D)`` (e.g. :math:`(\Delta\eta, \Delta\phi)`
                in the first block); ``None`` searches in feature space ``x``.
            batch: Sorted graph index of each node, ``(N,)``; ``None`` means one graph.

        Returns:
            Node features ``(N, channels[-1])``.  A graph with fewer than
            :math:`k + 1` nodes uses all its other nodes as neighbours; a single
            isolated node gets only the shortcut term (with ``pad_neighbours``: the mean also
            counts the missing neighbours, see the class docstring).
        """
        check_ndim(x, 2, "x", "(num_nodes, features)")
        check_input_dtype(x, self, "x")
        if x.size(1) != self.in_channels:
            raise InputShapeError(f"x has {x.size(1)} features, EdgeConvBlock expects {self.in_channels}")
        debug_check_finite(x, "x")
        if pos is not None:
            check_ndim(pos, 2, "pos", "(num_nodes, dims)")
            if pos.size(0) != x.size(0):
                raise InputShapeError(f"pos has {pos.size(0)} rows but x has {x.size(0)}")
            debug_check_finite(pos, "pos")
        coords = x if pos is None else pos
        edge_index = layer_knn_graph(coords, self.k, batch, self.cosine)  # value checks in debug mode only
        # knn_graph's edges are sorted by centre, at most k each: exactly k each iff E = N k
        return self.propagate_edges(x, edge_index, uniform=edge_index.size(1) == x.size(0) * self.k)

    def _uniform_k(self, target: Tensor, n: int) -> bool:
        """Whether every node is the centre of exactly ``k`` consecutive edges."""
        if n == 0 or target.numel() != n * self.k:
            return False
        expected = torch.arange(n, device=target.device).repeat_interleave(self.k)
        return bool(torch.equal(target, expected))

    def propagate_edges(self, x: Tensor, edge_index: Tensor, fast: bool = True,
                        uniform: Optional[bool] = None) -> Tensor:
        r"""Apply the block on a given graph.

        ``fast=True`` uses the split first linear map and, when every node has
        exactly :math:`k` edges sorted by centre, a reshape-mean instead of a
        scatter; ``fast=False`` is the straightforward reference path (same
        result up to rounding).  ``uniform`` says that every node is the centre of
        exactly :math:`k` consecutive edges (known from the kNN search; default:
        checked on ``edge_index``, a host sync).

        Shapes:
            - **input:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`
            - **output:** :math:`(N, \text{channels}[-1])`
        """
        n = x.size(0)
        target = edge_index[1]
        reshape = fast and (self._uniform_k(target, n) if uniform is None else uniform)
        h = self.edge_mlp_first(x, edge_index) if fast else self.edge_mlp_reference(x, edge_index)
        pad = self.pad_neighbours and not reshape  # k neighbours everywhere: nothing to pad
        n_edges = h.size(0)
        if pad:  # the message from a padding slot, x_j = 0: W1 x_i + W2 (0 - x_i), one row per node
            h = torch.cat([h, self.lin_center(x) - self.lin_diff(x)])
        h = torch.relu(self.norms[0](h)) if h.size(0) > 1 or not self.training else torch.relu(h)
        for lin, norm in zip(self.lins, self.norms[1:]):
            h = lin(h)
            h = torch.relu(norm(h)) if h.size(0) > 1 or not self.training else torch.relu(h)
        c = h.size(1)
        if reshape:
            # Every node has exactly k neighbours, edges sorted by centre: a reshape.
            hk = h.view(n, self.k, c)
            agg = hk.mean(1) if self.aggr == "mean" else hk.amax(1)
        elif pad:
            h, h_pad = h[:n_edges], h[n_edges:]
            deg = h.new_zeros(n).index_add_(0, target, h.new_ones(n_edges))
            missing = (self.k - deg).clamp_min(0).unsqueeze(1)
            if self.aggr == "mean":
                agg = (scatter(h, target, 0, dim_size=n, reduce="sum") + missing * h_pad) / (deg.unsqueeze(1) + missing)
            else:  # messages are >= 0 (ReLU), so a node without neighbours (max 0) gets h_pad
                agg = self.aggr_module(h, target, dim_size=n)
                agg = torch.where(missing > 0, torch.maximum(agg, h_pad), agg)
        else:
            agg = self.aggr_module(h, target, dim_size=n)
        sc = self.shortcut(x)
        if sc.size(0) > 1 or not self.training:
            sc = self.shortcut_norm(sc)
        return torch.relu(agg + sc)

    def forward_padded(self, x: Tensor, mask: Tensor, pos: Optional[Tensor] = None) -> Tensor:
        r"""The block on padded jets, with static shapes only (inference path).

        The kNN search runs on the padded distance blocks: padded particles and
        the particle itself get distance :math:`+\infty`, and :math:`k` extra
        columns of :math:`+\infty` keep ``topk`` valid for jets with fewer than
        :math:`k + 1` particles.  Neighbours at infinite distance are dropped from
        the mean (max), so a jet with :math:`n \le k` particles uses its
        :math:`n - 1` other particles, as :meth:`forward` does (with ``pad_neighbours`` they
        are neighbours of features 0 instead, as weaver's).  Equal to
        :meth:`forward` on the valid particles (up to rounding); the rows of
        padded particles hold finite values that nothing reads.

        Args:
            x: Padded node features ``(B, N, F)``.
            mask: Valid-particle mask ``(B, N)``.
            pos: Padded kNN coordinates ``(B, N, D)``; ``None`` searches in ``x``.

        Shapes:
            - **input:** ``x`` :math:`(B, N, F)`, ``mask`` :math:`(B, N)`, ``pos`` :math:`(B, N, D)`
            - **output:** :math:`(B, N, \text{channels}[-1])`
        """
        check_ndim(x, 3, "x", "(batch, particles, features)")
        check_input_dtype(x, self, "x")
        if x.size(2) != self.in_channels:
            raise InputShapeError(f"x has {x.size(2)} features, EdgeConvBlock expects {self.in_channels}")
        B, N, _ = x.shape
        idx, valid = padded_knn((x if pos is None else pos).detach(), mask, self.k, self.cosine)
        a, b = self.lin_center.weight, self.lin_diff.weight
        node_i = x @ (a - b).t()  # (W1 - W2) x_i
        node_j = x @ b.t()  # W2 x_j
        offset = (torch.arange(B, device=x.device) * N).view(B, 1, 1)
        c0 = node_j.size(-1)
        w = valid.unsqueeze(-1)
        gathered = node_j.reshape(B * N, c0)[idx + offset]
        if self.pad_neighbours:  # the missing neighbours are padding slots of features 0
            gathered = torch.where(w, gathered, torch.zeros_like(gathered))
            w = torch.ones_like(w)
        h = node_i.unsqueeze(2) + gathered  # (B, N, k, C0)
        h = torch.relu(rowwise(self.norms[0], h))
        for lin, norm in zip(self.lins, self.norms[1:]):
            h = torch.relu(rowwise(norm, lin(h)))
        if self.aggr == "mean":
            agg = (h * w.to(h.dtype)).sum(2) / w.to(h.dtype).sum(2).clamp_min(1.0)
        else:
            agg = h.masked_fill(~w, float("-inf")).amax(2)
            agg = torch.where(w.any(2), agg, torch.zeros_like(agg))
        sc = rowwise(self.shortcut_norm, self.shortcut(x))
        return torch.relu(agg + sc)

    def __repr__(self) -> str:
        pad = ", pad_neighbours=True" if self.pad_neighbours else ""
        return (f"{self.__class__.__name__}({self.in_channels}, channels={self.channels}, k={self.k}, "
                f"aggr={self.aggr}{pad})")


class DynamicEdgeConv(EdgeConvBlock):
    r"""Deprecated alias of :class:`EdgeConvBlock` (removed in the next release).

    Same arguments, parameters and outputs as :class:`EdgeConvBlock`; constructing
    it emits a ``DeprecationWarning``.  This is not PyG's
    :class:`torch_geometric.nn.DynamicEdgeConv` ``(nn, k, aggr)``: use that one
    for PyG's semantics, :class:`EdgeConvBlock` for the ParticleNet block.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warn_deprecated_name("pgjets.nn.DynamicEdgeConv", "pgjets.nn.EdgeConvBlock, the ParticleNet block",
                             "; for PyG's DynamicEdgeConv(nn, k) use torch_geometric.nn.DynamicEdgeConv")
        if (args and callable(args[0])) or callable(kwargs.get("nn")):  # PyG's call DynamicEdgeConv(nn, k)
            raise TypeError("pgjets.nn.DynamicEdgeConv is the deprecated alias of EdgeConvBlock(in_channels, "
                            "channels, k), not PyG's DynamicEdgeConv(nn, k, aggr): use "
                            "torch_geometric.nn.DynamicEdgeConv (PyG 2.8 needs pyg-lib for its kNN)")
        super().__init__(*args, **kwargs)


__all__ = ["EdgeConvBlock", "DynamicEdgeConv", "padded_knn"]
