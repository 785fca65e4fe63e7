r"""Pre-norm transformer block on graphs.

.. math::
    \mathbf{h} &= \mathbf{x} + \mathrm{MHA}\big(\mathrm{LN}(\mathbf{x})\big), \\
    \mathbf{x}' &= \mathbf{h} + W_2\,\mathrm{GELU}\big(W_1\,\mathrm{LN}(\mathbf{h})\big),

with :class:`~pgjets.nn.attention.MultiHeadAttention` over the graph's edges
(fully connected graph = a standard transformer encoder layer; without
positional encodings it is permutation equivariant).
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from .attention import MultiHeadAttention


class TransformerBlock(nn.Module):
    r"""Attention + feed-forward, pre-norm, residual.

    Args:
        channels: Node feature size :math:`C`.
        heads: Attention heads.
        ff_channels: Hidden size of the feed-forward network (default :math:`4C`).
        dropout: Dropout on attention weights and after each sub-layer.
        edge_dim: Edge feature size for a learned pairwise attention bias.

    Forward args are those of :class:`~pgjets.nn.attention.MultiHeadAttention`
    (``edge_index``, ``edge_attr``, ``attn_bias``, ``edge_mask``, ``causal``,
    ``batch``, ``dense``, ``dense_bias``).

    Shapes:
        - **input:** :math:`(N, C)`
        - **output:** :math:`(N, C)`
    """

    def __init__(self, channels: int, heads: int = 8, ff_channels: Optional[int] = None,
                 dropout: float = 0.0, edge_dim: Optional[int] = None) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = MultiHeadAttention(channels, heads, dropout=dropout, edge_dim=edge_dim)
        self.norm2 = nn.LayerNorm(channels)
        ff = ff_channels or 4 * channels
        self.ff = nn.Sequential(nn.Linear(channels, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, channels))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                attn_bias: Optional[Tensor] = None, edge_mask: Optional[Tensor] = None, causal: bool = False,
                batch: Optional[Tensor] = None, dense: bool = False, dense_bias: Optional[Tensor] = None) -> Tensor:
        h = self.attn(self.norm1(x), edge_index, edge_attr=edge_attr, attn_bias=attn_bias, edge_mask=edge_mask,
                      causal=causal, batch=batch, dense=dense, dense_bias=dense_bias)
        x = x + self.drop(h)
        return x + self.drop(self.ff(self.norm2(x)))


__all__ = ["TransformerBlock"]
