r"""Pre-norm transformer block on graphs.

.. math::
    \mathbf{h} &= \mathbf{x} + \mathrm{MHA}\big(\mathrm{LN}(\mathbf{x})\big), \\
    \mathbf{x}' &= \mathbf{h} + W_2\,\mathrm{GELU}\big(W_1\,\mathrm{LN}(\mathbf{h})\big),

with :class:`~pgjets.nn.attention.MultiHeadAttention` along the graph's edges
and a per-node :class:`torch.nn.LayerNorm`.  On a fully connected graph (with
self loops, or ``dense=True``) this is a standard transformer encoder layer;
without positional encodings it is permutation equivariant.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from .._checks import check_input_dtype, check_ndim, check_positive_int
from ..errors import InputShapeError
from .attention import DenseMask, MultiHeadAttention


class TransformerBlock(nn.Module):
    r"""Attention and feed-forward sub-layers, each pre-norm with a residual.

    Args:
        channels: Node feature size :math:`C`.
        heads: Attention heads (must divide ``channels``).
        ff_channels: Hidden size of the feed-forward network (default :math:`4C`).
        dropout: Dropout on the attention weights, inside the feed-forward
            network and on both residual branches.
        edge_dim: Edge feature size for a learned pairwise attention bias.

    Forward args are passed to :class:`~pgjets.nn.attention.MultiHeadAttention`:
    ``edge_index``, ``edge_attr``, ``attn_bias``, ``edge_mask``, ``causal``,
    ``batch``, ``ptr``, ``dense``, ``dense_bias``, ``dense_mask``.

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N, C)`
    """

    def __init__(self, channels: int, heads: int = 8, ff_channels: Optional[int] = None,
                 dropout: float = 0.0, edge_dim: Optional[int] = None) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        ff = 4 * self.channels if ff_channels is None else check_positive_int(ff_channels, "ff_channels")
        self.norm1 = nn.LayerNorm(self.channels)
        self.attn = MultiHeadAttention(self.channels, heads, dropout=dropout, edge_dim=edge_dim)
        self.norm2 = nn.LayerNorm(self.channels)
        self.ff = nn.Sequential(
            nn.Linear(self.channels, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, self.channels)
        )
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        """Re-initialise all weights."""
        self.norm1.reset_parameters()
        self.norm2.reset_parameters()
        self.attn.reset_parameters()
        for m in self.ff:
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, x: Tensor, edge_index: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                attn_bias: Optional[Tensor] = None, edge_mask: Optional[Tensor] = None, causal: bool = False,
                batch: Optional[Tensor] = None, ptr: Optional[Tensor] = None, dense: bool = False,
                dense_bias: Optional[Tensor] = None, dense_mask: Optional[DenseMask] = None) -> Tensor:
        """Apply the block; see the class docstring for the arguments."""
        check_ndim(x, 2, "x", "(num_nodes, channels)")
        check_input_dtype(x, self, "x")
        if x.size(1) != self.channels:
            raise InputShapeError(f"x has {x.size(1)} channels, the block expects {self.channels}")
        h = self.attn(self.norm1(x), edge_index, edge_attr=edge_attr, attn_bias=attn_bias, edge_mask=edge_mask,
                      causal=causal, batch=batch, ptr=ptr, dense=dense, dense_bias=dense_bias,
                      dense_mask=dense_mask)
        x = x + self.drop(h)
        return x + self.drop(self.ff(self.norm2(x)))

    def forward_padded(self, x: Tensor, mask: Tensor, dense_bias: Optional[Tensor] = None) -> Tensor:
        r"""The block on padded tensors (static shapes; inference and export path).

        .. math::
            \mathbf{h} = \mathbf{x} + \mathrm{MHA}_M\big(\mathrm{LN}(\mathbf{x})\big), \qquad
            \mathbf{x}' = \mathbf{h} + \mathrm{FF}\big(\mathrm{LN}(\mathbf{h})\big)

        with attention restricted to the valid particles ``mask``; equal to
        ``forward(..., dense=True, dense_bias=dense_bias)`` on the valid rows.

        Args:
            x: Padded features ``(B, N, C)``.
            mask: Valid-particle mask ``(B, N)``.
            dense_bias: Additive attention bias ``(B, H, N, N)``.

        Shapes:
            - **input:** :math:`(B, N, C)`, :math:`(B, N)`
            - **output:** :math:`(B, N, C)`
        """
        check_ndim(x, 3, "x", "(batch, particles, channels)")
        check_input_dtype(x, self, "x")
        h = self.norm1(x)
        x = x + self.drop(self.attn.attend_padded(h, h, mask, dense_bias))
        return x + self.drop(self.ff(self.norm2(x)))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.attn.heads})"


__all__ = ["TransformerBlock"]
