r"""Attention pooling: PMA (Set Transformer) and class attention (CaiT, ParT).

**PMA** (Lee et al. 2019): :math:`S` learned seed vectors attend over the nodes
of each graph,

.. math::
    \mathrm{PMA}(X) = \mathrm{LN}\big(H + \mathrm{FF}(H)\big), \quad
    H = \mathrm{LN}\big(S + \mathrm{MHA}(S, X, X)\big).

**Class attention** (Touvron et al. 2021, used by ParT): a learned class token
:math:`c` attends to :math:`[c, \mathbf{x}_1, \dots, \mathbf{x}_n]` in a pre-norm
block :math:`c \leftarrow c + \mathrm{MHA}(\mathrm{LN}\,c, \mathrm{LN}[c, X])`,
:math:`c \leftarrow c + \mathrm{FF}(\mathrm{LN}\,c)`.

Both are cross-attention on a bipartite graph (every node of graph :math:`b`
sends to the seeds of graph :math:`b`), so they are permutation invariant and
graphs of a batch never see each other.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .._checks import check_ndim
from .attention import MultiHeadAttention


def _batch_vector(x: Tensor, batch: Optional[Tensor]) -> tuple[Tensor, int]:
    if batch is None:
        return torch.zeros(x.size(0), dtype=torch.long, device=x.device), 1
    return batch, int(batch.max()) + 1 if batch.numel() else 0


def _node_to_seed_edges(batch: Tensor, num_seeds: int) -> Tensor:
    """Edges from every node to each of the ``num_seeds`` seeds of its graph."""
    n = batch.numel()
    src = torch.arange(n, device=batch.device).repeat_interleave(num_seeds)
    dst = (batch * num_seeds).repeat_interleave(num_seeds) + torch.arange(num_seeds, device=batch.device).repeat(n)
    return torch.stack([src, dst])


class PMAPool(nn.Module):
    r"""Pooling by multi-head attention with ``num_seeds`` learned seeds.

    Args:
        channels: Node feature size :math:`C`.
        heads: Attention heads.
        num_seeds: Number of seeds :math:`S`.

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B, S \cdot C)` (seeds concatenated)
    """

    def __init__(self, channels: int, heads: int = 8, num_seeds: int = 1) -> None:
        super().__init__()
        self.channels, self.num_seeds = channels, num_seeds
        self.seeds = nn.Parameter(torch.randn(num_seeds, channels) / channels**0.5)
        self.attn = MultiHeadAttention(channels, heads)
        self.norm1 = nn.LayerNorm(channels)
        self.norm2 = nn.LayerNorm(channels)
        self.ff = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, dim_size: Optional[int] = None) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, channels)")
        batch, b = _batch_vector(x, batch)
        b = dim_size or b
        seeds = self.seeds.repeat(b, 1)  # (B*S, C)
        h = seeds + self.attn((x, seeds), _node_to_seed_edges(batch, self.num_seeds))
        h = self.norm1(h)
        h = self.norm2(h + self.ff(h))
        return h.view(b, self.num_seeds * self.channels)


class ClassAttentionPool(nn.Module):
    r"""Class-attention pooling: a class token attends to itself and the nodes.

    Args:
        channels: Node feature size :math:`C`.
        heads: Attention heads.
        num_blocks: Number of class-attention blocks (ParT uses 2).
        dropout: Dropout in attention and feed-forward.

    Shapes:
        - **input:** ``x`` :math:`(N, C)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(B, C)`
    """

    def __init__(self, channels: int, heads: int = 8, num_blocks: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.zeros(1, channels))
        nn.init.trunc_normal_(self.cls, std=0.02)
        self.blocks = nn.ModuleList()
        for _ in range(num_blocks):
            self.blocks.append(nn.ModuleDict({
                "norm_q": nn.LayerNorm(channels), "norm_kv": nn.LayerNorm(channels),
                "attn": MultiHeadAttention(channels, heads, dropout=dropout),
                "norm_ff": nn.LayerNorm(channels),
                "ff": nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Dropout(dropout),
                                    nn.Linear(4 * channels, channels)),
            }))

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, dim_size: Optional[int] = None) -> Tensor:
        check_ndim(x, 2, "x", "(num_nodes, channels)")
        batch, b = _batch_vector(x, batch)
        b = dim_size or b
        n = x.size(0)
        cls = self.cls.expand(b, -1)
        node_edges = _node_to_seed_edges(batch, 1)
        self_edges = torch.stack([torch.arange(b, device=x.device) + n, torch.arange(b, device=x.device)])
        edges = torch.cat([node_edges, self_edges], 1)
        for blk in self.blocks:
            src = torch.cat([x, cls], 0)
            h = blk["attn"]((blk["norm_kv"](src), blk["norm_q"](cls)), edges)
            cls = cls + h
            cls = cls + blk["ff"](blk["norm_ff"](cls))
        return cls


__all__ = ["PMAPool", "ClassAttentionPool"]
