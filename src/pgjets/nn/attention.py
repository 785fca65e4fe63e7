r"""Multi-head attention as message passing (Vaswani et al. 2017; ParT, Qu et al. 2022).

For an edge :math:`j \to i` and head :math:`h`, with
:math:`\mathbf{q}_i = W_Q \mathbf{x}_i`, :math:`\mathbf{k}_j = W_K \mathbf{x}_j`,
:math:`\mathbf{v}_j = W_V \mathbf{x}_j` split into :math:`H` heads of size
:math:`d = C / H`:

.. math::
    \alpha_{ij}^{h} = \operatorname{softmax}_{j \in \mathcal{N}(i)}\Big(
        \frac{\mathbf{q}_i^{h} \cdot \mathbf{k}_j^{h}}{\sqrt{d}} + U_{ij}^{h}\Big),
    \qquad
    \mathbf{x}_i' = W_O \big\Vert_{h=1}^{H} \sum_{j \in \mathcal{N}(i)} \alpha_{ij}^{h}\, \mathbf{v}_j^{h},

where :math:`U_{ij}^h` is an optional additive pairwise bias (ParT's embedded
interaction features).  The softmax runs over each node's incoming edges, so a
fully connected graph with self loops gives ordinary (masked) self-attention,
and a bipartite graph gives cross-attention.  For fully connected graphs the
``dense=True`` path pads the batch once and calls
:func:`torch.nn.functional.scaled_dot_product_attention` (fused kernels); it
returns the same result as the sparse path.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import softmax, to_dense_batch

from .._checks import check_finite, check_ndim
from ..errors import InputShapeError


def local_positions(batch: Tensor) -> Tensor:
    """Position of each node inside its graph (``batch`` sorted)."""
    n = batch.numel()
    if n == 0:
        return batch.new_zeros(0)
    counts = torch.bincount(batch)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(n, device=batch.device) - starts[batch]


class MultiHeadAttention(MessagePassing):
    r"""Multi-head (self or cross) attention over the edges of a graph.

    Args:
        channels: Node feature size :math:`C` (query side; also key side unless
            ``kv_channels``).
        heads: Number of heads :math:`H` (must divide ``channels``).
        dropout: Dropout on the attention weights.
        edge_dim: If set, ``edge_attr`` :math:`(E, \text{edge\_dim})` is mapped
            to a per-head additive bias.
        bias: Bias in the projections.
        kv_channels: Feature size of the source nodes for cross-attention.

    Forward args:
        x: Node features ``(N, C)`` or a tuple ``(x_src, x_dst)`` (cross-attention).
        edge_index: ``(2, E)``, ``edge_index[0]`` source (keys/values),
            ``edge_index[1]`` target (queries).
        edge_attr: Edge features for the learned bias.
        attn_bias: Explicit additive bias ``(E, H)``.
        edge_mask: Boolean ``(E,)``; ``False`` drops the edge.
        causal: Keep only edges whose source position within its graph is
            not after the target's (needs ``batch``; self-attention only).
        batch: Graph index per node (for ``causal`` and ``dense``).
        dense: Use the padded fused path; the graph must be fully connected
            within each graph **including self loops** (``edge_index`` is then
            not read and may be ``None``).
        dense_bias: Additive bias ``(B, H, N_max, N_max)`` for the dense path.
        return_attention: Also return the weights ``(E, H)`` (sparse path).

    Shapes:
        - **input:** :math:`(N, C)`, :math:`(2, E)`
        - **output:** :math:`(N_{dst}, C)`
    """

    def __init__(
        self,
        channels: int,
        heads: int = 8,
        dropout: float = 0.0,
        edge_dim: Optional[int] = None,
        bias: bool = True,
        kv_channels: Optional[int] = None,
    ) -> None:
        super().__init__(aggr="add", node_dim=0)
        if channels % heads != 0:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.channels, self.heads, self.head_dim = channels, heads, channels // heads
        self.dropout = dropout
        kv = kv_channels or channels
        self.q = nn.Linear(channels, channels, bias=bias)
        self.k = nn.Linear(kv, channels, bias=bias)
        self.v = nn.Linear(kv, channels, bias=bias)
        self.out = nn.Linear(channels, channels, bias=bias)
        self.edge_bias = nn.Linear(edge_dim, heads, bias=False) if edge_dim else None
        self._alpha: Optional[Tensor] = None

    def reset_parameters(self) -> None:
        for m in (self.q, self.k, self.v, self.out, self.edge_bias):
            if m is not None:
                m.reset_parameters()

    def forward(
        self,
        x: Union[Tensor, Tuple[Tensor, Tensor]],
        edge_index: Optional[Tensor] = None,
        edge_attr: Optional[Tensor] = None,
        attn_bias: Optional[Tensor] = None,
        edge_mask: Optional[Tensor] = None,
        causal: bool = False,
        batch: Optional[Tensor] = None,
        dense: bool = False,
        dense_bias: Optional[Tensor] = None,
        return_attention: bool = False,
    ):
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        check_ndim(x_src, 2, "x_src", "(num_nodes, channels)")
        check_ndim(x_dst, 2, "x_dst", "(num_nodes, channels)")
        if x_dst.size(1) != self.channels:
            raise InputShapeError(f"x has {x_dst.size(1)} channels, attention expects {self.channels}")
        check_finite(x_dst, "x")
        if dense:
            if not isinstance(x, Tensor):
                raise ValueError("dense=True supports self-attention only")
            return self._dense(x, batch, dense_bias, causal)
        if edge_index is None:
            raise ValueError("edge_index is required unless dense=True")
        check_ndim(edge_index, 2, "edge_index", "(2, num_edges)")
        E, H, D = edge_index.size(1), self.heads, self.head_dim
        bias = None
        if self.edge_bias is not None:
            if edge_attr is None:
                raise ValueError("this attention layer was built with edge_dim: pass edge_attr")
            bias = self.edge_bias(edge_attr)
        if attn_bias is not None:
            if attn_bias.shape != (E, H):
                raise InputShapeError(f"attn_bias must have shape ({E}, {H}), got {tuple(attn_bias.shape)}")
            bias = attn_bias if bias is None else bias + attn_bias
        keep = None
        if edge_mask is not None:
            keep = edge_mask.bool()
        if causal:
            if batch is None:
                batch = torch.zeros(x_dst.size(0), dtype=torch.long, device=x_dst.device)
            loc = local_positions(batch)
            c = loc[edge_index[0]] <= loc[edge_index[1]]
            keep = c if keep is None else keep & c
        if keep is not None:
            edge_index = edge_index[:, keep]
            if bias is not None:
                bias = bias[keep]
        q = self.q(x_dst).view(-1, H, D)
        k = self.k(x_src).view(-1, H, D)
        v = self.v(x_src).view(-1, H, D)
        out = self.propagate(edge_index, q=q, k=k, v=v, bias=bias, size=(x_src.size(0), x_dst.size(0)))
        out = self.out(out.reshape(-1, self.channels))
        alpha, self._alpha = self._alpha, None
        return (out, alpha) if return_attention else out

    def message(self, q_i: Tensor, k_j: Tensor, v_j: Tensor, bias: Optional[Tensor], index: Tensor,
                ptr: Optional[Tensor], size_i: Optional[int]) -> Tensor:
        score = (q_i * k_j).sum(-1) / math.sqrt(self.head_dim)
        if bias is not None:
            score = score + bias
        alpha = softmax(score, index, ptr, size_i)
        self._alpha = alpha
        alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        return v_j * alpha.unsqueeze(-1)

    def _dense(self, x: Tensor, batch: Optional[Tensor], dense_bias: Optional[Tensor], causal: bool) -> Tensor:
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        xd, mask = to_dense_batch(x, batch)  # (B, N, C), (B, N)
        B, N, _ = xd.shape
        H, D = self.heads, self.head_dim
        q = self.q(xd).view(B, N, H, D).transpose(1, 2)
        k = self.k(xd).view(B, N, H, D).transpose(1, 2)
        v = self.v(xd).view(B, N, H, D).transpose(1, 2)
        attn_mask = torch.zeros(B, 1, 1, N, dtype=x.dtype, device=x.device)
        attn_mask = attn_mask.masked_fill(~mask[:, None, None, :], float("-inf"))
        if causal:
            tri = torch.ones(N, N, dtype=torch.bool, device=x.device).tril()
            attn_mask = attn_mask.masked_fill(~tri, float("-inf"))
        if dense_bias is not None:
            if dense_bias.shape != (B, H, N, N):
                raise InputShapeError(f"dense_bias must have shape {(B, H, N, N)}, got {tuple(dense_bias.shape)}")
            attn_mask = attn_mask + dense_bias
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        out = out.transpose(1, 2).reshape(B, N, self.channels)[mask]
        return self.out(out)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.heads})"


__all__ = ["MultiHeadAttention", "local_positions"]
