r"""Attention pooling: PMA (Set Transformer) and class attention (CaiT, ParT).

**PMA** (Lee et al., "Set Transformer", 2019): :math:`S` learned seed vectors
attend over the nodes of each graph,

.. math::
    \mathrm{PMA}(X) = \mathrm{LN}\big(H + \mathrm{FF}(H)\big), \qquad
    H = \mathrm{LN}\big(S + \mathrm{MHA}(S, X, X)\big).

**Class attention** (Touvron et al. 2021, used by ParT): a learned class token
:math:`c` attends to :math:`[c, \mathbf{x}_1, \dots, \mathbf{x}_n]` in a
pre-norm block

.. math::
    c \leftarrow c + \mathrm{MHA}\big(\mathrm{LN}_q(c), \mathrm{LN}_{kv}[c, X]\big), \qquad
    c \leftarrow c + \mathrm{FF}\big(\mathrm{LN}(c)\big);

ParT's blocks (``query_norm=False, normformer=True``) take the raw class token
as the query and are NormFormer blocks (:mod:`pgjets.nn.transformer`),

.. math::
    c \leftarrow c + \mathrm{LN}\big(\gamma \odot \mathrm{MHA}(c, \mathrm{LN}_{kv}[c, X])\big), \qquad
    c \leftarrow \boldsymbol\lambda \odot c + W_2\,\mathrm{LN}\big(\mathrm{GELU}(W_1\,\mathrm{LN}(c))\big).

Both are cross-attention of :class:`~pgjets.nn.attention.MultiHeadAttention`
on a bipartite graph in which every node of graph :math:`b` sends only to the
seeds (class token) of graph :math:`b`.  The softmax therefore runs over the
nodes of one graph only: the pools are permutation invariant and there is no
padding that could leak between graphs of a batch.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn.aggr import Aggregation

from .._checks import check_input_dtype, debug_check_finite, is_debug, check_ndim, check_positive_int
from ..errors import InputShapeError
from .attention import MultiHeadAttention
from .transformer import ChannelScale, HeadScaleNorm, feed_forward, reset_block


def _graph_index(x: Tensor, index: Optional[Tensor], ptr: Optional[Tensor],
                 dim_size: Optional[int]) -> tuple[Tensor, int]:
    """Return ``(batch, num_graphs)`` from ``index`` or ``ptr``."""
    n = x.size(0)
    if index is None and ptr is not None:
        check_ndim(ptr, 1, "ptr", "(num_graphs + 1,)")
        ptr = ptr.to(torch.long)
        if is_debug() and int(ptr[-1]) != n:
            raise InputShapeError(f"ptr ends at {int(ptr[-1])} but x has {n} nodes")
        index = torch.repeat_interleave(torch.arange(ptr.numel() - 1, device=x.device), ptr.diff(), output_size=n)
        dim_size = ptr.numel() - 1 if dim_size is None else dim_size
    if index is None:
        index = torch.zeros(n, dtype=torch.long, device=x.device)
    check_ndim(index, 1, "index", "(num_nodes,)")
    if index.numel() != n:
        raise InputShapeError(f"index (batch) has {index.numel()} entries but x has {n} nodes")
    index = index.to(torch.long)
    # the number of graphs: given (no host sync), else read once from the index
    size = dim_size if dim_size is not None else (int(index.max()) + 1 if n else 0)
    if is_debug() and n and (int(index.min()) < 0 or int(index.max()) >= size):
        raise InputShapeError(f"index refers to graphs outside 0..{size - 1}")
    return index, size


def _node_to_seed_edges(batch: Tensor, num_seeds: int) -> Tensor:
    """Edges ``node -> seed`` from every node to each of the seeds of its graph."""
    n = batch.numel()
    seeds = torch.arange(num_seeds, device=batch.device)
    src = torch.arange(n, device=batch.device).repeat_interleave(num_seeds)
    dst = (batch.view(-1, 1) * num_seeds + seeds.view(1, -1)).reshape(-1)
    return torch.stack([src, dst])


class _GraphPool(Aggregation):
    """Aggregation whose inputs are validated (typed errors) before PyG's checks."""

    channels: int

    def __call__(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                 dim_size: Optional[int] = None, dim: int = -2, **kwargs: Any) -> Tensor:
        _check_x(x, self.channels)
        check_input_dtype(x, self, "x")
        _graph_index(x, index, ptr, dim_size)
        return super().__call__(x, index, ptr, dim_size, dim, **kwargs)


def _check_x(x: Tensor, channels: int) -> None:
    check_ndim(x, 2, "x", "(num_nodes, channels)")
    if x.size(1) != channels:
        raise InputShapeError(f"x has {x.size(1)} channels, the pool expects {channels}")
    debug_check_finite(x, "x")


class PMAPool(_GraphPool):
    r"""Pooling by multi-head attention with ``num_seeds`` learned seeds.

    Each seed is a query; keys and values are the nodes of the graph, with
    the softmax restricted to that graph.  A graph without nodes (possible
    with ``dim_size``) gets seeds that attended to nothing (zero message).
    Inputs are used as they are (the optional row-wise FF of the Set
    Transformer on :math:`X` is left to the caller).

    Args:
        channels: Node feature size :math:`C` (divisible by ``heads``).
        heads: Attention heads.
        num_seeds: Number of seeds :math:`S`.
        dropout: Dropout on the attention weights.
        flatten: Return :math:`(B, S \cdot C)` (seeds concatenated, default) or
            :math:`(B, S, C)`.

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``index`` (batch) :math:`(N,)`
        - **output:** :math:`(B, S \cdot C)` if ``flatten`` else :math:`(B, S, C)`
    """

    def __init__(self, channels: int, heads: int = 8, num_seeds: int = 1, dropout: float = 0.0,
                 flatten: bool = True) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.num_seeds = check_positive_int(num_seeds, "num_seeds")
        self.flatten = bool(flatten)
        self.seeds = nn.Parameter(torch.empty(self.num_seeds, self.channels))
        self.attn = MultiHeadAttention(self.channels, heads, dropout=dropout)
        self.norm1 = nn.LayerNorm(self.channels)
        self.norm2 = nn.LayerNorm(self.channels)
        self.ff = nn.Sequential(nn.Linear(self.channels, 2 * self.channels), nn.GELU(),
                                nn.Linear(2 * self.channels, self.channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise seeds and weights."""
        nn.init.normal_(self.seeds, std=self.channels ** -0.5)
        self.attn.reset_parameters()
        for m in (self.norm1, self.norm2, self.ff[0], self.ff[2]):
            m.reset_parameters()

    def forward(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                dim_size: Optional[int] = None, dim: int = -2) -> Tensor:
        """Pool each graph into ``num_seeds`` vectors; see the class docstring."""
        _check_x(x, self.channels)
        check_input_dtype(x, self, "x")
        batch, b = _graph_index(x, index, ptr, dim_size)
        seeds = self.seeds.repeat(b, 1)  # (B*S, C), seed s of graph g at row g*S + s
        h = self.norm1(seeds + self.attn((x, seeds), _node_to_seed_edges(batch, self.num_seeds)))
        h = self.norm2(h + self.ff(h))
        return h.view(b, self.num_seeds * self.channels) if self.flatten else h.view(b, self.num_seeds, self.channels)

    def forward_padded(self, x: Tensor, mask: Tensor) -> Tensor:
        r"""PMA on padded jets (static shapes; inference and export path).

        .. math::
            H_b = \mathrm{LN}\big(S + \mathrm{MHA}(S, X_b, X_b)\big)

        with the keys restricted to the valid particles of jet :math:`b`; equal to
        :meth:`forward` on the same jets.

        Shapes:
            - **input:** ``x`` :math:`(B, N, C)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, S \cdot C)` if ``flatten`` else :math:`(B, S, C)`
        """
        check_ndim(x, 3, "x", "(batch, particles, channels)")
        check_input_dtype(x, self, "x")
        b = x.size(0)
        seeds = self.seeds.unsqueeze(0).expand(b, -1, -1)
        h = self.norm1(seeds + self.attn.attend_padded(seeds, x, mask))
        h = self.norm2(h + self.ff(h))
        return h.reshape(b, self.num_seeds * self.channels) if self.flatten else h

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.attn.heads}, num_seeds={self.num_seeds})"


class ClassAttentionPool(_GraphPool):
    r"""Class-attention pooling: a learned class token attends to itself and the nodes.

    Args:
        channels: Node feature size :math:`C` (divisible by ``heads``).
        heads: Attention heads.
        num_blocks: Number of class-attention blocks (ParT uses 2); the nodes
            stay fixed, only the class token is updated.
        dropout: Dropout in attention and feed-forward.
        query_norm: Normalise the class token as the query (``False``: the raw
            token, as ParT; keys and values are normalised either way).
        normformer: NormFormer blocks, as ParT (see the module docstring).

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``index`` (batch) :math:`(N,)`
        - **output:** :math:`(B, C)`
    """

    def __init__(self, channels: int, heads: int = 8, num_blocks: int = 1, dropout: float = 0.0,
                 query_norm: bool = True, normformer: bool = False) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        num_blocks = check_positive_int(num_blocks, "num_blocks")
        self.cls = nn.Parameter(torch.empty(1, self.channels))
        self.blocks = nn.ModuleList()
        for _ in range(num_blocks):
            self.blocks.append(nn.ModuleDict({
                "norm_q": nn.LayerNorm(self.channels) if query_norm else nn.Identity(),
                "norm_kv": nn.LayerNorm(self.channels),
                "attn": MultiHeadAttention(self.channels, heads, dropout=dropout),
                "attn_out": HeadScaleNorm(self.channels, heads) if normformer else nn.Identity(),
                "norm_ff": nn.LayerNorm(self.channels),
                "ff": feed_forward(self.channels, 4 * self.channels, dropout, normformer),
                "resid_scale": ChannelScale(self.channels) if normformer else nn.Identity(),
            }))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the class token and the blocks."""
        nn.init.trunc_normal_(self.cls, std=0.02)
        for blk in self.blocks:
            reset_block(blk)

    @staticmethod
    def _feed_forward(blk: nn.ModuleDict, cls: Tensor) -> Tensor:
        return blk["resid_scale"](cls) + blk["ff"](blk["norm_ff"](cls))

    def forward(self, x: Tensor, index: Optional[Tensor] = None, ptr: Optional[Tensor] = None,
                dim_size: Optional[int] = None, dim: int = -2) -> Tensor:
        """Pool each graph into its class token; see the class docstring."""
        _check_x(x, self.channels)
        check_input_dtype(x, self, "x")
        batch, b = _graph_index(x, index, ptr, dim_size)
        n = x.size(0)
        graphs = torch.arange(b, device=x.device)
        # Sources: [x_1..x_N, cls_1..cls_B]; target g is the class token of graph g.
        edges = torch.cat([_node_to_seed_edges(batch, 1), torch.stack([graphs + n, graphs])], 1)
        cls = self.cls.expand(b, -1)
        for blk in self.blocks:
            src = blk["norm_kv"](torch.cat([x, cls], 0))
            cls = cls + blk["attn_out"](blk["attn"]((src, blk["norm_q"](cls)), edges))
            cls = self._feed_forward(blk, cls)
        return cls

    def forward_padded(self, x: Tensor, mask: Tensor) -> Tensor:
        r"""Class attention on padded jets (static shapes; inference and export path).

        .. math::
            c_b \leftarrow c_b + \mathrm{MHA}\big(\mathrm{LN}_q(c_b), \mathrm{LN}_{kv}[X_b, c_b]\big)

        with the keys restricted to the valid particles of jet :math:`b` and its
        class token; equal to :meth:`forward` on the same jets.

        Shapes:
            - **input:** ``x`` :math:`(B, N, C)`, ``mask`` :math:`(B, N)`
            - **output:** :math:`(B, C)`
        """
        check_ndim(x, 3, "x", "(batch, particles, channels)")
        check_input_dtype(x, self, "x")
        b = x.size(0)
        cls = self.cls.unsqueeze(0).expand(b, -1, -1)  # (B, 1, C)
        key_mask = torch.cat([mask, mask.new_ones(b, 1)], dim=1)
        for blk in self.blocks:
            src = blk["norm_kv"](torch.cat([x, cls], dim=1))
            cls = cls + blk["attn_out"](blk["attn"].attend_padded(blk["norm_q"](cls), src, key_mask))
            cls = self._feed_forward(blk, cls)
        return cls.squeeze(1)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, heads={self.blocks[0]['attn'].heads})"


__all__ = ["PMAPool", "ClassAttentionPool"]
