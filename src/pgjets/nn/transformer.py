r"""Pre-norm transformer block on graphs.

.. math::
    \mathbf{h} &= \mathbf{x} + \mathrm{MHA}\big(\mathrm{LN}(\mathbf{x})\big), \\
    \mathbf{x}' &= \mathbf{h} + W_2\,\mathrm{GELU}\big(W_1\,\mathrm{LN}(\mathbf{h})\big),

with :class:`~pgjets.nn.attention.MultiHeadAttention` along the graph's edges
and a per-node :class:`torch.nn.LayerNorm`.  On a fully connected graph (with
self loops, or ``dense=True``) this is a standard transformer encoder layer;
without positional encodings it is permutation equivariant.

With ``normformer=True`` the block is the NormFormer block (Shleifer et al.
2021) that the Particle Transformer uses: a learned scale :math:`\gamma_h` per
head and a LayerNorm on the attention output, a LayerNorm after the
feed-forward activation and a learned scale :math:`\boldsymbol\lambda` on the
feed-forward residual,

.. math::
    \mathbf{h} &= \mathbf{x} + \mathrm{LN}\big(\gamma \odot \mathrm{MHA}(\mathrm{LN}(\mathbf{x}))\big), \\
    \mathbf{x}' &= \boldsymbol\lambda \odot \mathbf{h}
        + W_2\,\mathrm{LN}\big(\mathrm{GELU}(W_1\,\mathrm{LN}(\mathbf{h}))\big),

where :math:`\gamma` repeats each head's scale over that head's channels of the
(out-projected) attention output.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .._checks import check_input_dtype, check_ndim, check_positive_int
from ..errors import InputShapeError
from .attention import DenseMask, MultiHeadAttention


def feed_forward(channels: int, hidden: int, dropout: float = 0.0, normformer: bool = False) -> nn.Sequential:
    """The feed-forward sub-layer ``Linear, GELU, Dropout, [LayerNorm,] Linear`` (``normformer``: with the norm)."""
    layers: list[nn.Module] = [nn.Linear(channels, hidden), nn.GELU(), nn.Dropout(dropout)]
    if normformer:
        layers.append(nn.LayerNorm(hidden))
    layers.append(nn.Linear(hidden, channels))
    return nn.Sequential(*layers)


class HeadScaleNorm(nn.Module):
    r"""NormFormer's attention-output step: a learned scale per head, then a LayerNorm.

    .. math::
        \mathbf{h} \mapsto \mathrm{LN}(\gamma \odot \mathbf{h}), \qquad
        \gamma_c = s_{\lfloor c / (C/H) \rfloor}

    Args:
        channels: Feature size :math:`C`.
        heads: Heads :math:`H` (must divide ``channels``); :math:`s` starts at 1.

    Shapes:
        - **input / output:** :math:`(*, C)`
    """

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.channels, self.heads = check_positive_int(channels, "channels"), check_positive_int(heads, "heads")
        if self.channels % self.heads:
            raise ValueError(f"heads ({heads}) must divide channels ({channels})")
        self.scale = nn.Parameter(torch.ones(self.heads))
        self.norm = nn.LayerNorm(self.channels)

    def reset_parameters(self) -> None:
        """Scales back to 1, the norm to identity."""
        nn.init.ones_(self.scale)
        self.norm.reset_parameters()

    def forward(self, h: Tensor) -> Tensor:
        return self.norm(h * self.scale.repeat_interleave(self.channels // self.heads))


class ChannelScale(nn.Module):
    r"""A learned scale per channel, :math:`\mathbf{x} \mapsto \boldsymbol\lambda \odot \mathbf{x}`, starting at 1.

    Shapes:
        - **input / output:** :math:`(*, C)`
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(check_positive_int(channels, "channels")))

    def reset_parameters(self) -> None:
        """Scales back to 1."""
        nn.init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight


def reset_block(*modules: nn.Module) -> None:
    """Re-initialise every linear map, norm and NormFormer scale in ``modules`` (their own
    ``reset_parameters``; an attention layer is left to its own)."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm, HeadScaleNorm, ChannelScale)):
                m.reset_parameters()


class TransformerBlock(nn.Module):
    r"""Attention and feed-forward sub-layers, each pre-norm with a residual.

    Args:
        channels: Node feature size :math:`C`.
        heads: Attention heads (must divide ``channels``).
        ff_channels: Hidden size of the feed-forward network (default :math:`4C`).
        dropout: Dropout on the attention weights, inside the feed-forward
            network and on both residual branches.
        edge_dim: Edge feature size for a learned pairwise attention bias.
        normformer: The NormFormer block of the Particle Transformer (see the
            module docstring): head scales and a norm on the attention output,
            a norm after the feed-forward activation, a residual scale.

    Forward args are passed to :class:`~pgjets.nn.attention.MultiHeadAttention`:
    ``edge_index``, ``edge_attr``, ``attn_bias``, ``edge_mask``, ``causal``,
    ``batch``, ``ptr``, ``dense``, ``dense_bias``, ``dense_mask``.

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N, C)`
    """

    def __init__(self, channels: int, heads: int = 8, ff_channels: Optional[int] = None,
                 dropout: float = 0.0, edge_dim: Optional[int] = None, normformer: bool = False) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        ff = 4 * self.channels if ff_channels is None else check_positive_int(ff_channels, "ff_channels")
        self.normformer = bool(normformer)
        self.norm1 = nn.LayerNorm(self.channels)
        self.attn = MultiHeadAttention(self.channels, heads, dropout=dropout, edge_dim=edge_dim)
        self.attn_out = HeadScaleNorm(self.channels, heads) if normformer else nn.Identity()
        self.norm2 = nn.LayerNorm(self.channels)
        self.ff = feed_forward(self.channels, ff, dropout, normformer)
        self.resid_scale = ChannelScale(self.channels) if normformer else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        """Re-initialise all weights."""
        self.attn.reset_parameters()
        reset_block(self.norm1, self.attn_out, self.norm2, self.ff, self.resid_scale)

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.resid_scale(x) + self.drop(self.ff(self.norm2(x)))

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
        return self._feed_forward(x + self.drop(self.attn_out(h)))

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
        return self._feed_forward(x + self.drop(self.attn_out(self.attn.attend_padded(h, h, mask, dense_bias))))

    def __repr__(self) -> str:
        extra = ", normformer=True" if self.normformer else ""
        return f"{self.__class__.__name__}({self.channels}, heads={self.attn.heads}{extra})"


__all__ = ["TransformerBlock", "HeadScaleNorm", "ChannelScale", "feed_forward", "reset_block"]
