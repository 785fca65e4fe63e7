r"""Multi-head attention as message passing (Vaswani et al. 2017; ParT, Qu et al. 2022).

For an edge :math:`j \to i` (``edge_index[0] = j`` the source, ``edge_index[1]
= i`` the target) and head :math:`h` of size :math:`d = C / H`:

.. math::
    \mathbf{q}_i = W_Q \mathbf{x}_i, \quad \mathbf{k}_j = W_K \mathbf{x}_j, \quad
    \mathbf{v}_j = W_V \mathbf{x}_j,

.. math::
    \alpha_{ij}^{h} = \operatorname{softmax}_{j \in \mathcal{N}(i)}\Big(
        \frac{\mathbf{q}_i^{h} \cdot \mathbf{k}_j^{h}}{\sqrt{d}} + U_{ij}^{h}\Big),
    \qquad
    \mathbf{x}_i' = W_O \big\Vert_{h=1}^{H} \sum_{j \in \mathcal{N}(i)} \alpha_{ij}^{h}\, \mathbf{v}_j^{h},

where :math:`U_{ij}^h` is an optional additive pairwise bias (ParT's embedded
interaction features, :math:`U = W_U \mathbf{e}_{ij}`, or given explicitly).
The softmax runs over each target node's incoming edges: a fully connected
graph gives ordinary self-attention, a bipartite graph cross-attention.  A node
without incoming edges gets :math:`W_O \mathbf{0}` (the output bias).

The ``dense=True`` path pads the batch once with
:func:`torch_geometric.utils.to_dense_batch` and calls the fused
:func:`torch.nn.functional.scaled_dot_product_attention`.  Without
``edge_index`` it attends over **all nodes of the graph, the node itself
included**, so it matches the sparse path only on a fully connected graph
*with self loops*; with ``edge_index`` the edges become a dense boolean mask
and both paths agree on any graph.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax, to_dense_batch

from .._checks import check_input_dtype, debug_check_finite, is_debug, check_ndim, check_positive_int, check_sorted
from ..errors import InputShapeError
from ..ops.padded import key_padding_mask
from ..ops.sizes import ptr_from_counts
from .positional import local_positions

PairTensor = Tuple[Tensor, Tensor]


def _check_edge_index(edge_index: Tensor, num_src: int, num_dst: int) -> Tensor:
    check_ndim(edge_index, 2, "edge_index", "(2, num_edges)")
    if edge_index.size(0) != 2:
        raise InputShapeError(f"edge_index must have shape (2, num_edges), got {tuple(edge_index.shape)}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise InputShapeError(f"edge_index must hold integer indices, got dtype {edge_index.dtype}")
    edge_index = edge_index.to(torch.long)
    if is_debug() and edge_index.numel():  # value checks sync with the device: debug mode only
        if int(edge_index.min()) < 0:
            raise InputShapeError("edge_index holds negative indices")
        if int(edge_index[0].max()) >= num_src:
            raise InputShapeError(
                f"edge_index[0] refers to node {int(edge_index[0].max())} but there are {num_src} source nodes"
            )
        if int(edge_index[1].max()) >= num_dst:
            raise InputShapeError(
                f"edge_index[1] refers to node {int(edge_index[1].max())} but there are {num_dst} target nodes"
            )
    return edge_index


def _batch_from(num_nodes: int, batch: Optional[Tensor], ptr: Optional[Tensor], device: torch.device) -> Tensor:
    """Graph index per node from ``batch`` or ``ptr`` (default: one graph)."""
    if batch is not None:
        check_ndim(batch, 1, "batch", "(num_nodes,)")
        if batch.numel() != num_nodes:
            raise InputShapeError(f"batch has {batch.numel()} entries but x has {num_nodes} nodes")
        return batch.to(torch.long)
    if ptr is not None:
        check_ndim(ptr, 1, "ptr", "(num_graphs + 1,)")
        ptr = ptr.to(torch.long)
        if is_debug() and int(ptr[-1]) != num_nodes:
            raise InputShapeError(f"ptr ends at {int(ptr[-1])} but x has {num_nodes} nodes")
        return torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=device), ptr.diff(),
                                       output_size=num_nodes)
    return torch.zeros(num_nodes, dtype=torch.long, device=device)


class DenseMask(NamedTuple):
    r"""Additive attention mask of the dense path, built once and shared by several layers.

    ``mask`` is ``(B, H or 1, 1 or N, N)`` in the attention dtype, :math:`-\infty` at the
    padding keys; ``empty`` ``(B, 1, 1, 1)`` marks graphs without nodes (their rows are
    zeroed after attention); ``num_nodes`` is the node count it was built for; ``index``
    ``(num_nodes,)`` the row of each node in the flat ``(B * N)`` padded layout.

    ``chunks``, when given, is the mask split into groups of consecutive graphs
    (``(B_c, H or 1, 1 or N, N)`` each, :math:`\sum_c B_c = B`; ``mask`` is then only the
    ``(B, 1, 1, N)`` key-padding mask): attention runs group by group, so that no
    ``(B, H, N, N)`` block (bias, scores, softmax, dropout, their gradients) is ever
    allocated at once.  Same result as the unsplit mask.
    """

    mask: Tensor
    empty: Tensor
    num_nodes: int
    index: Optional[Tensor] = None
    chunks: Optional[Tuple[Tensor, ...]] = None


def dense_layout(batch: Tensor, num_graphs: Optional[int] = None,
                 max_num_nodes: Optional[int] = None) -> tuple[Tensor, Tensor, int, int]:
    r"""Padded layout of a sorted ``batch``: ``(counts, index, B, N)``.

    ``counts`` ``(B,)`` are the nodes per graph, ``index`` ``(num_nodes,)`` the row
    :math:`b N + (i - \mathrm{ptr}_b)` of each node in the flat ``(B * N)`` layout.  With
    ``num_graphs`` and ``max_num_nodes`` given, no value is read back to the host; without,
    they are read from ``batch`` (one synchronisation each).
    """
    n = batch.numel()
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if n else 1
    counts = torch.zeros(num_graphs, dtype=torch.long, device=batch.device).scatter_add_(
        0, batch, torch.ones_like(batch))
    if max_num_nodes is None:
        max_num_nodes = int(counts.max()) if n else 0
    start = ptr_from_counts(counts)[:-1]
    index = torch.arange(n, device=batch.device) - start[batch] + batch * max_num_nodes
    return counts, index, num_graphs, max_num_nodes


def dense_attention_mask(batch: Tensor, dense_bias: Optional[Union[Tensor, Sequence[Tensor]]] = None,
                         dtype: torch.dtype = torch.float32, num_graphs: Optional[int] = None,
                         max_num_nodes: Optional[int] = None,
                         chunk_sizes: Optional[Sequence[int]] = None) -> DenseMask:
    r"""Build the additive mask of ``MultiHeadAttention(dense=True)`` once for several layers.

    .. math::
        M_{bhij} = \begin{cases} U^h_{bij} & j < n_b \\ -\infty & \text{otherwise} \end{cases}

    (:math:`U = 0` without ``dense_bias``).  Passing the result as ``dense_mask`` to every
    block gives the same output as passing ``dense_bias`` to each (which rebuilds, checks and
    masks the ``(B, H, N, N)`` block, and back-propagates through that, once per layer).

    Args:
        batch: Graph index per node, sorted, ``(N_nodes,)``.
        dense_bias: Additive bias ``(B, H, N_max, N_max)`` (``N_max`` as produced by
            ``to_dense_batch(x, batch)``).
        dtype: dtype of the mask (that of the queries).
        num_graphs: Number of graphs :math:`B` (default: read from ``batch``, a host sync;
            the size of ``dense_bias`` when given).
        max_num_nodes: Largest graph :math:`N` (default: as ``num_graphs``).
        chunk_sizes: Build the mask in groups of this many consecutive graphs
            (:attr:`DenseMask.chunks`; they must add up to :math:`B`).  ``dense_bias`` is then a
            sequence of ``(B_c, H, N, N)`` blocks, one per group (or ``None``).

    Shapes:
        - **input:** ``batch`` :math:`(N_{nodes},)`, ``dense_bias`` :math:`(B, H, N, N)`
        - **output:** ``mask`` :math:`(B, H, N, N)` or :math:`(B, 1, 1, N)`
    """
    check_ndim(batch, 1, "batch", "(num_nodes,)")
    n = batch.numel()
    b = batch.to(torch.long)
    if is_debug():
        check_sorted(b, "dense=True needs batch sorted in ascending order (as PyG batches are)")
    if chunk_sizes is not None:
        return _chunked_dense_mask(b, dense_bias, dtype, num_graphs, max_num_nodes, list(chunk_sizes))
    if dense_bias is not None and not isinstance(dense_bias, Tensor):
        raise TypeError("a sequence of dense_bias blocks needs chunk_sizes")
    if dense_bias is not None and dense_bias.dim() == 4:
        num_graphs = dense_bias.size(0) if num_graphs is None else num_graphs
        max_num_nodes = dense_bias.size(-1) if max_num_nodes is None else max_num_nodes
    counts, index, B, N = dense_layout(b, num_graphs, max_num_nodes)
    node_mask = torch.arange(N, device=b.device) < counts.view(-1, 1)  # (B, N)
    if dense_bias is not None:
        _check_dense_bias(dense_bias, B, N, "dense_bias", f"B={B}")
    mask, empty = key_padding_mask(node_mask, dense_bias, dtype)
    return DenseMask(mask, empty, n, index)


def _check_dense_bias(bias: Tensor, num_graphs: int, num_nodes: int, name: str, graphs: str) -> None:
    """``bias`` must be ``(num_graphs, H, N, N)`` (``graphs`` is how the message writes the first size)."""
    if bias.dim() != 4 or bias.shape[0] != num_graphs or bias.shape[2:] != (num_nodes, num_nodes):
        raise InputShapeError(f"{name} must have shape ({graphs}, H, {num_nodes}, {num_nodes}), "
                              f"got {tuple(bias.shape)}")
    debug_check_finite(bias, "dense_bias")


def _chunked_dense_mask(b: Tensor, dense_bias: Optional[Sequence[Tensor]], dtype: torch.dtype,
                        num_graphs: Optional[int], max_num_nodes: Optional[int], sizes: list[int]) -> DenseMask:
    """:func:`dense_attention_mask` in groups of ``sizes`` consecutive graphs (:attr:`DenseMask.chunks`)."""
    if dense_bias is not None:
        if isinstance(dense_bias, Tensor):
            raise TypeError("with chunk_sizes, dense_bias is a sequence of (B_c, H, N, N) blocks")
        dense_bias = list(dense_bias)
        if len(dense_bias) != len(sizes):
            raise InputShapeError(f"{len(dense_bias)} dense_bias blocks for {len(sizes)} chunk sizes")
        if max_num_nodes is None and dense_bias:
            max_num_nodes = dense_bias[0].size(-1)
    if num_graphs is None:
        num_graphs = sum(sizes)
    counts, index, B, N = dense_layout(b, num_graphs, max_num_nodes)
    if sum(sizes) != B or any(c <= 0 for c in sizes):
        raise InputShapeError(f"chunk_sizes {sizes} do not split {B} graphs")
    node_mask = torch.arange(N, device=b.device) < counts.view(-1, 1)  # (B, N)
    key_mask, empty = key_padding_mask(node_mask, None, dtype)
    chunks = []
    for c, (m, size) in enumerate(zip(node_mask.split(sizes), sizes)):
        bias = None if dense_bias is None else dense_bias[c]
        if bias is not None:
            _check_dense_bias(bias, size, N, f"dense_bias block {c}", str(size))
        chunks.append(key_padding_mask(m, bias, dtype)[0])
    return DenseMask(key_mask, empty, b.numel(), index, tuple(chunks))


class MultiHeadAttention(MessagePassing):
    r"""Multi-head self- or cross-attention over the edges of a graph.

    Args:
        channels: Node feature size :math:`C`, or a pair ``(C_src, C_dst)`` for
            cross-attention between feature spaces.  The attention width is
            :math:`C_{dst}`, which ``heads`` must divide.
        heads: Number of heads :math:`H`.
        dropout: Dropout probability on the attention weights (training only).
        edge_dim: If set, ``edge_attr`` :math:`(E, \text{edge\_dim})` is mapped by a
            linear layer to an additive per-head bias :math:`(E, H)` (ParT).
        bias: Whether the Q/K/V/output projections have a bias.
        out_channels: Output size (default :math:`C_{dst}`).

    Forward args:
        x: Node features ``(N, C)``, or ``(x_src, x_dst)`` for cross-attention
            (queries from ``x_dst``, keys and values from ``x_src``).
        edge_index: ``(2, E)``; ``edge_index[0]`` indexes sources
            (keys/values), ``edge_index[1]`` targets (queries).
        edge_attr: Edge features for the learned bias (needs ``edge_dim``).
        attn_bias: Explicit additive bias ``(E, H)`` (added to the learned one).
        edge_mask: Boolean ``(E,)``; ``False`` drops the edge.
        causal: Keep only edges whose source's local position within its
            graph is ``<=`` the target's.  Local positions come from ``batch``
            or ``ptr`` (one graph if neither is given) in storage order;
            self-attention only.
        batch: Graph index per node (for ``causal`` and ``dense``).
        ptr: CSR graph offsets, an alternative to ``batch``.
        dense: Use the padded fused path (self-attention only; ``batch`` must
            be sorted).  Without ``edge_index`` every node attends to every
            node of its graph **including itself**; with ``edge_index`` only
            along the given edges (needed for ``edge_attr``/``attn_bias``/
            ``edge_mask``, and whenever the layer has ``edge_dim``; duplicate
            edges are not supported there).
        dense_bias: Additive bias ``(B, H, N_max, N_max)`` for the dense path
            (``N_max`` as produced by ``to_dense_batch(x, batch)``).
        dense_mask: A :class:`DenseMask` from :func:`dense_attention_mask` (dense path,
            no ``edge_index``/``dense_bias``/``causal``): the mask built once and shared by
            the layers of a network instead of ``dense_bias`` (same result).
        return_attention: Return ``(out, alpha)`` with the attention weights
            ``alpha`` of shape ``(E, H)``, aligned with the given ``edge_index``
            (edges dropped by ``edge_mask``/``causal`` get 0; sparse path only).

    Shapes:
        - **input:** ``x`` :math:`(N, C)` or :math:`((N_s, C_s), (N_t, C_t))`,
          ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N_t, C_{out})`
    """

    def __init__(
        self,
        channels: Union[int, Tuple[int, int]],
        heads: int = 8,
        dropout: float = 0.0,
        edge_dim: Optional[int] = None,
        bias: bool = True,
        out_channels: Optional[int] = None,
    ) -> None:
        super().__init__(aggr="sum", node_dim=0)
        if isinstance(channels, int):
            src_ch = dst_ch = channels
        else:
            src_ch, dst_ch = channels
        src_ch = check_positive_int(src_ch, "channels")
        dst_ch = check_positive_int(dst_ch, "channels")
        heads = check_positive_int(heads, "heads")
        if dst_ch % heads != 0:
            raise ValueError(f"channels ({dst_ch}) must be divisible by heads ({heads})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = (src_ch, dst_ch)
        self.channels = dst_ch
        self.heads = heads
        self.head_dim = dst_ch // heads
        self.dropout = float(dropout)
        self.edge_dim = None if edge_dim is None else check_positive_int(edge_dim, "edge_dim")
        self.out_channels = dst_ch if out_channels is None else check_positive_int(out_channels, "out_channels")
        self.lin_q = nn.Linear(dst_ch, dst_ch, bias=bias)
        self.lin_k = nn.Linear(src_ch, dst_ch, bias=bias)
        self.lin_v = nn.Linear(src_ch, dst_ch, bias=bias)
        self.lin_out = nn.Linear(dst_ch, self.out_channels, bias=bias)
        self.lin_edge = nn.Linear(self.edge_dim, heads, bias=False) if self.edge_dim else None
        self._alpha: Optional[Tensor] = None

    def reset_parameters(self) -> None:
        """Re-initialise all projections."""
        for lin in (self.lin_q, self.lin_k, self.lin_v, self.lin_out, self.lin_edge):
            if lin is not None:
                lin.reset_parameters()

    # ------------------------------------------------------------------ input
    def _split_x(self, x: Union[Tensor, PairTensor]) -> PairTensor:
        if isinstance(x, Tensor):
            x_src = x_dst = x
        elif isinstance(x, (tuple, list)) and len(x) == 2:
            x_src, x_dst = x
        else:
            raise InputShapeError("x must be a tensor or a pair (x_src, x_dst)")
        check_ndim(x_src, 2, "x_src", "(num_nodes, channels)")
        check_ndim(x_dst, 2, "x_dst", "(num_nodes, channels)")
        check_input_dtype(x_dst, self, "x_dst")
        check_input_dtype(x_src, self, "x_src")
        if x_src.size(1) != self.in_channels[0]:
            raise InputShapeError(f"x_src has {x_src.size(1)} channels, attention expects {self.in_channels[0]}")
        if x_dst.size(1) != self.in_channels[1]:
            raise InputShapeError(f"x has {x_dst.size(1)} channels, attention expects {self.in_channels[1]}")
        debug_check_finite(x_src, "x_src")
        if x_dst is not x_src:
            debug_check_finite(x_dst, "x_dst")
        return x_src, x_dst

    def _edge_bias(self, edge_index: Tensor, edge_attr: Optional[Tensor], attn_bias: Optional[Tensor]) -> Optional[Tensor]:
        E, H = edge_index.size(1), self.heads
        bias: Optional[Tensor] = None
        if edge_attr is not None and self.lin_edge is None:
            raise ValueError("edge_attr was given but the layer was built without edge_dim")
        if self.lin_edge is not None:
            if edge_attr is None:
                raise ValueError("this attention layer was built with edge_dim: pass edge_attr")
            if edge_attr.dim() == 1 and self.edge_dim == 1:
                edge_attr = edge_attr.view(-1, 1)
            check_ndim(edge_attr, 2, "edge_attr", "(num_edges, edge_dim)")
            if edge_attr.shape != (E, self.edge_dim):
                raise InputShapeError(
                    f"edge_attr must have shape ({E}, {self.edge_dim}), got {tuple(edge_attr.shape)}"
                )
            debug_check_finite(edge_attr, "edge_attr")
            bias = self.lin_edge(edge_attr)
        if attn_bias is not None:
            if attn_bias.shape != (E, H):
                raise InputShapeError(f"attn_bias must have shape ({E}, {H}), got {tuple(attn_bias.shape)}")
            debug_check_finite(attn_bias, "attn_bias")
            bias = attn_bias if bias is None else bias + attn_bias
        return bias

    def _keep_mask(self, edge_index: Tensor, edge_mask: Optional[Tensor], causal: bool, cross: bool,
                   num_nodes: int, batch: Optional[Tensor], ptr: Optional[Tensor]) -> Optional[Tensor]:
        keep: Optional[Tensor] = None
        if edge_mask is not None:
            check_ndim(edge_mask, 1, "edge_mask", "(num_edges,)")
            if edge_mask.numel() != edge_index.size(1):
                raise InputShapeError(
                    f"edge_mask has {edge_mask.numel()} entries but there are {edge_index.size(1)} edges"
                )
            if edge_mask.dtype != torch.bool:
                raise InputShapeError(f"edge_mask must be boolean, got dtype {edge_mask.dtype}")
            keep = edge_mask
        if causal:
            if cross:
                raise ValueError("causal=True needs self-attention (x a single tensor)")
            b = _batch_from(num_nodes, batch, ptr, edge_index.device)
            pos = local_positions(b, ptr if batch is None else None)
            c = pos[edge_index[0]] <= pos[edge_index[1]]
            keep = c if keep is None else keep & c
        return keep

    # ---------------------------------------------------------------- forward
    def forward(
        self,
        x: Union[Tensor, PairTensor],
        edge_index: Optional[Tensor] = None,
        edge_attr: Optional[Tensor] = None,
        attn_bias: Optional[Tensor] = None,
        edge_mask: Optional[Tensor] = None,
        causal: bool = False,
        batch: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dense: bool = False,
        dense_bias: Optional[Tensor] = None,
        return_attention: bool = False,
        dense_mask: Optional[DenseMask] = None,
    ):
        """Attend along ``edge_index`` (or densely within each graph)."""
        cross = not isinstance(x, Tensor)
        x_src, x_dst = self._split_x(x)
        if dense:
            if cross:
                raise ValueError("dense=True supports self-attention only; use the sparse path for cross-attention")
            if return_attention:
                raise ValueError("return_attention is only available on the sparse path (dense=False)")
            return self._dense(x_dst, edge_index, edge_attr, attn_bias, edge_mask, causal, batch, ptr, dense_bias,
                               dense_mask)
        if dense_mask is not None:
            raise ValueError("dense_mask is only used with dense=True")
        if dense_bias is not None:
            raise ValueError("dense_bias is only used with dense=True; pass attn_bias (E, heads) instead")
        if edge_index is None:
            raise ValueError("edge_index is required unless dense=True")
        edge_index = _check_edge_index(edge_index, x_src.size(0), x_dst.size(0))
        bias = self._edge_bias(edge_index, edge_attr, attn_bias)
        keep = self._keep_mask(edge_index, edge_mask, causal, cross, x_dst.size(0), batch, ptr)
        if keep is not None:
            edge_index = edge_index[:, keep]
            bias = None if bias is None else bias[keep]
        H, D = self.heads, self.head_dim
        q = self.lin_q(x_dst).view(-1, H, D)
        k = self.lin_k(x_src).view(-1, H, D)
        v = self.lin_v(x_src).view(-1, H, D)
        out = self.propagate(edge_index, q=q, k=k, v=v, bias=bias, size=(x_src.size(0), x_dst.size(0)))
        out = self.lin_out(out.reshape(-1, self.channels))
        alpha, self._alpha = self._alpha, None
        if not return_attention:
            return out
        if alpha is None:  # no edges at all
            alpha = out.new_zeros(edge_index.size(1), H)
        if keep is not None:  # align with the caller's edges; dropped edges get weight 0
            full = alpha.new_zeros(keep.numel(), H)
            full[keep] = alpha
            alpha = full
        return out, alpha

    def message(self, q_i: Tensor, k_j: Tensor, v_j: Tensor, bias: Optional[Tensor], index: Tensor,
                ptr: Optional[Tensor], size_i: Optional[int]) -> Tensor:
        score = (q_i * k_j).sum(-1) / math.sqrt(self.head_dim)  # (E, H)
        if bias is not None:
            score = score + bias
        alpha = softmax(score, index, ptr, size_i)
        self._alpha = alpha
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        return v_j * alpha.unsqueeze(-1)

    def _dense(self, x: Tensor, edge_index: Optional[Tensor], edge_attr: Optional[Tensor],
               attn_bias: Optional[Tensor], edge_mask: Optional[Tensor], causal: bool,
               batch: Optional[Tensor], ptr: Optional[Tensor], dense_bias: Optional[Tensor],
               dense_mask: Optional[DenseMask] = None) -> Tensor:
        n = x.size(0)
        if n == 0:  # no nodes, no queries: an empty output (the sparse path gives the same)
            return self.lin_out(x.new_zeros(0, self.channels))
        b = _batch_from(n, batch, ptr, x.device)
        if is_debug():
            check_sorted(b, "dense=True needs batch sorted in ascending order (as PyG batches are)")
        # Q, K, V of the real nodes only (one fused matmul), padded once: padding rows are never
        # projected (padded keys are masked, padded queries dropped).
        lins = (self.lin_q, self.lin_k, self.lin_v)
        w_qkv = torch.cat([lin.weight for lin in lins])
        b_qkv = None if self.lin_q.bias is None else torch.cat([lin.bias for lin in lins])  # all or none
        qkv = F.linear(x, w_qkv, b_qkv)
        if dense_mask is not None and dense_mask.index is not None:
            # the layout of the shared mask: no sizes to read back from the device
            B, N = dense_mask.mask.size(0), dense_mask.mask.size(-1)
            qkv_d, node_mask = to_dense_batch(qkv, b, batch_size=B, max_num_nodes=N)
        else:
            qkv_d, node_mask = to_dense_batch(qkv, b)  # (B, N, 3C), (B, N)
        B, N, _ = qkv_d.shape
        H = self.heads
        if dense_mask is not None:
            if edge_index is not None or dense_bias is not None or causal:
                raise ValueError("dense_mask replaces edge_index, dense_bias and causal; pass none of them")
            if edge_attr is not None or attn_bias is not None or edge_mask is not None:
                raise ValueError("edge_attr, attn_bias and edge_mask need edge_index, not dense_mask")
            if self.lin_edge is not None:
                raise ValueError("this attention layer was built with edge_dim: pass edge_index and edge_attr")
            m = dense_mask.mask
            if dense_mask.num_nodes != n or m.size(0) != B or m.size(-1) != N or m.size(1) not in (1, H):
                raise InputShapeError(f"dense_mask of shape {tuple(m.shape)} for {dense_mask.num_nodes} nodes "
                                      f"does not fit {n} nodes in {B} graphs of up to {N}")
            if dense_mask.chunks is not None and (sum(c.size(0) for c in dense_mask.chunks) != B or any(
                    c.size(-1) != N or c.size(1) not in (1, H) for c in dense_mask.chunks)):
                raise InputShapeError(f"dense_mask chunks do not fit {B} graphs of up to {N} nodes")
            return self._sdpa(qkv_d, node_mask, m, dense_mask.empty, dense_mask.index, dense_mask.chunks)
        if edge_index is None:
            if edge_attr is not None or attn_bias is not None or edge_mask is not None:
                raise ValueError("edge_attr, attn_bias and edge_mask need edge_index; use dense_bias instead")
            if self.lin_edge is not None:
                raise ValueError("this attention layer was built with edge_dim: pass edge_index and edge_attr")
            # a key-padding mask (B, 1, 1, N), broadcast by SDPA: no (B, 1, N, N) block to build and read
            allowed = node_mask[:, None, None, :]
            if causal:
                allowed = allowed & torch.ones(N, N, dtype=torch.bool, device=x.device).tril()  # (B, 1, N, N)
            mask = None if dense_bias is not None else torch.zeros(allowed.shape, dtype=x.dtype, device=x.device)
        else:
            edge_index = _check_edge_index(edge_index, n, n)
            if is_debug() and bool((b[edge_index[0]] != b[edge_index[1]]).any()):
                raise InputShapeError("dense=True needs every edge inside one graph")
            bias = self._edge_bias(edge_index, edge_attr, attn_bias)
            keep = self._keep_mask(edge_index, edge_mask, causal, False, n, b, None)
            if keep is not None:
                edge_index = edge_index[:, keep]
                bias = None if bias is None else bias[keep]
            pos = local_positions(b)
            g, i, j = b[edge_index[1]], pos[edge_index[1]], pos[edge_index[0]]
            allowed = torch.zeros(B, 1, N, N, dtype=torch.bool, device=x.device)
            allowed[g, 0, i, j] = True
            mask = torch.zeros(B, H if bias is not None else 1, N, N, dtype=x.dtype, device=x.device)
            if bias is not None:
                # Duplicate edges would be summed by softmax in the sparse path; densely they
                # cannot be represented, so the last one wins -- keep graphs free of duplicates.
                mask[g, :, i, j] = bias.to(x.dtype)
        if dense_bias is not None:
            if dense_bias.shape != (B, H, N, N):
                raise InputShapeError(f"dense_bias must have shape {(B, H, N, N)}, got {tuple(dense_bias.shape)}")
            debug_check_finite(dense_bias, "dense_bias")
            # without edges the bias is the whole additive mask: no zero block to add it to
            mask = dense_bias.to(x.dtype) if mask is None else mask + dense_bias.to(x.dtype)
        assert mask is not None
        # Rows without any allowed key would give NaN; let them attend to anything
        # and zero them afterwards (the sparse path gives an empty sum there).
        empty = ~allowed.any(-1, keepdim=True)  # (B, 1, N or 1, 1)
        allowed = allowed | empty
        mask = mask.masked_fill(~allowed, float("-inf"))
        return self._sdpa(qkv_d, node_mask, mask, empty)

    def _sdpa(self, qkv_d: Tensor, node_mask: Tensor, mask: Tensor, empty: Tensor,
              index: Optional[Tensor] = None, chunks: Optional[Tuple[Tensor, ...]] = None) -> Tensor:
        """Fused attention of the padded ``(B, N, 3C)`` projections; output rows of the real nodes
        (picked by their flat ``index`` when given: static shapes, else by ``node_mask``).

        With ``chunks`` (the mask split into groups of consecutive graphs) the attention runs
        group by group: the same result, with the ``(B_c, H, N, N)`` temporaries of one group."""
        B, N, _ = qkv_d.shape
        H, D = self.heads, self.head_dim
        p = self.dropout if self.training else 0.0
        if chunks is None:
            q, k, v = (t.reshape(B, N, H, D).transpose(1, 2) for t in qkv_d.split(self.channels, dim=-1))
            out = F.scaled_dot_product_attention(  # mask in q's dtype: under autocast q may be half
                q, k, v, attn_mask=mask.to(q.dtype), dropout_p=p
            )  # (B, H, N, D)
        else:
            # the groups in order (on the CPU dropout then draws what one call on the whole batch draws)
            parts = []
            for part, m in zip(qkv_d.split([c.size(0) for c in chunks]), chunks):
                q, k, v = (t.reshape(-1, N, H, D).transpose(1, 2) for t in part.split(self.channels, dim=-1))
                parts.append(F.scaled_dot_product_attention(q, k, v, attn_mask=m.to(q.dtype), dropout_p=p))
            out = torch.cat(parts)  # (B, H, N, D)
        out = out.masked_fill(empty, 0.0).transpose(1, 2).reshape(B, N, self.channels)
        out = out[node_mask] if index is None else out.reshape(B * N, self.channels).index_select(0, index)
        return self.lin_out(out)

    def attend_padded(self, x_q: Tensor, x_kv: Tensor, key_mask: Tensor,
                      bias: Optional[Tensor] = None) -> Tensor:
        r"""Attention on padded tensors with static shapes only (inference and export path).

        .. math::
            \mathbf{x}_{bi}' = W_O \big\Vert_h \sum_{j:\, M_{bj} = 1}
                \operatorname{softmax}_j\Big(\frac{\mathbf{q}^h_{bi} \cdot \mathbf{k}^h_{bj}}{\sqrt d}
                + U^h_{bij}\Big)\, \mathbf{v}^h_{bj}

        Queries come from ``x_q``, keys and values from ``x_kv`` (pass the same
        tensor twice for self-attention).  A query whose jet has no valid key gets
        :math:`W_O \mathbf{0}`, as on the sparse path.  With ``x_q is x_kv`` this
        equals the ``dense=True`` path of :meth:`forward` on the valid rows.

        Args:
            x_q: Query features ``(B, M, C_dst)``.
            x_kv: Key/value features ``(B, N, C_src)``.
            key_mask: Valid keys ``(B, N)``.
            bias: Additive bias ``(B, H, M, N)`` (e.g. ParT's interaction bias).

        Shapes:
            - **input:** :math:`(B, M, C_{dst})`, :math:`(B, N, C_{src})`, :math:`(B, N)`
            - **output:** :math:`(B, M, C_{out})`
        """
        check_ndim(x_q, 3, "x_q", "(batch, queries, channels)")
        check_ndim(x_kv, 3, "x_kv", "(batch, keys, channels)")
        check_input_dtype(x_kv, self, "x_kv")
        check_input_dtype(x_q, self, "x_q")
        B, M, _ = x_q.shape
        N = x_kv.size(1)
        H, D = self.heads, self.head_dim
        q = self.lin_q(x_q).view(B, M, H, D).transpose(1, 2)
        k = self.lin_k(x_kv).view(B, N, H, D).transpose(1, 2)
        v = self.lin_v(x_kv).view(B, N, H, D).transpose(1, 2)
        mask, empty = key_padding_mask(key_mask, bias, q.dtype)  # a jet without keys: zeroed below
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)  # (B, H, M, D)
        out = out.masked_fill(empty, 0.0)
        return self.lin_out(out.transpose(1, 2).reshape(B, M, self.channels))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels[0]}, {self.channels}, heads={self.heads}, "
                f"out_channels={self.out_channels})")


__all__ = ["DenseMask", "MultiHeadAttention", "dense_attention_mask", "local_positions"]
