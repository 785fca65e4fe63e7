r"""Sinusoidal positional encoding (Vaswani et al. 2017) for batched graphs.

.. math::
    \mathrm{PE}(p, 2i) = \sin\!\Big(\frac{p}{10000^{2i/d}}\Big), \qquad
    \mathrm{PE}(p, 2i + 1) = \cos\!\Big(\frac{p}{10000^{2i/d}}\Big),

where :math:`p` is the position of a node *inside its own graph* (0 for the
first node of every graph of a batch) and :math:`d` the channel count.

Adding the encoding makes a model depend on the node order, i.e. it **breaks
permutation invariance on purpose**: use it for ordered sequences (e.g.
constituents sorted by :math:`p_T`, tracks sorted by time), never when the set
symmetry is wanted.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from .._checks import check_input_dtype, debug_check_finite, check_ndim, check_positive_int, is_debug
from ..errors import InputShapeError


def local_positions(batch: Tensor, ptr: Optional[Tensor] = None) -> Tensor:
    r"""Return the position of every node inside its graph.

    Nodes keep their relative order within a graph; ``batch`` need not be
    sorted (the :math:`k`-th node of graph :math:`b` in storage order gets
    position :math:`k`).  If ``ptr`` (CSR offsets of a sorted batch) is given
    it is used instead of counting.

    Args:
        batch: Graph index per node, shape ``(N,)``.
        ptr: Optional offsets ``(B + 1,)`` with ``batch`` sorted.

    Shapes:
        - **input:** :math:`(N,)`
        - **output:** :math:`(N,)` long
    """
    check_ndim(batch, 1, "batch", "(num_nodes,)")
    batch = batch.to(torch.long)
    n = batch.numel()
    arange = torch.arange(n, device=batch.device)
    if n == 0:
        return arange
    if ptr is not None:
        return arange - ptr.to(torch.long)[batch]
    # graph by graph in a stable sort: a node's position is its distance to its graph's first node
    # (found by a running maximum, not by counting: no tensor of a data-dependent size, no host sync)
    order = torch.argsort(batch, stable=True)
    ordered = batch[order]
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[1:] = ordered[1:] != ordered[:-1]
    starts = torch.cummax(torch.where(first, arange, torch.zeros_like(arange)), 0).values
    pos = torch.empty_like(batch)
    pos[order] = arange - starts
    return pos


def sinusoidal_encoding(position: Tensor, channels: int, base: float = 10000.0) -> Tensor:
    r"""Evaluate the sinusoidal encoding at (possibly fractional) positions.

    .. math::
        \mathrm{PE}(p)_{2i} = \sin(p\,\omega_i), \quad
        \mathrm{PE}(p)_{2i+1} = \cos(p\,\omega_i), \quad
        \omega_i = \mathrm{base}^{-2i/d}

    Args:
        position: Positions, shape ``(N,)`` (any real values).
        channels: Encoding size :math:`d` (odd sizes drop the last cosine).
        base: Wavelength base (10000 in the original paper).

    Shapes:
        - **input:** :math:`(N,)`
        - **output:** :math:`(N, d)`
    """
    channels = check_positive_int(channels, "channels")
    pos = position.to(torch.get_default_dtype() if not position.is_floating_point() else position.dtype)
    half = (channels + 1) // 2
    i = torch.arange(half, device=pos.device, dtype=pos.dtype)
    freq = torch.exp(-(2.0 * i / channels) * math.log(base))
    angle = pos.reshape(-1, 1) * freq.view(1, -1)
    pe = pos.new_empty(pos.numel(), 2 * half)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe[:, :channels]


class SinusoidalPositionalEncoding(nn.Module):
    r"""Add the fixed sinusoidal encoding of each node's position to ``x``.

    .. math::
        \mathbf{x}_i' = \mathbf{x}_i + \mathrm{PE}(p_i),

    with :math:`p_i` the local position of node :math:`i` inside its graph
    (from ``batch``), or an explicit float ``position``.  Integer positions
    :math:`0 \dots \text{max\_len} - 1` are read from a precomputed table.

    .. warning::
        The output depends on the node order, so a model using this layer is
        **not** permutation invariant -- that is the purpose (ordered inputs).

    Args:
        channels: Feature size :math:`d` of ``x``.
        max_len: Size of the precomputed table; longer graphs raise
            :class:`~pgjets.errors.InputShapeError` in debug mode (:func:`pgjets.set_debug`), else an
            index error (the check reads a value back from the device, which the forward pass
            avoids); explicit ``position`` values are computed on the fly and have no limit.

    Shapes:
        - **input:** ``x`` :math:`(N, d)`, ``batch`` :math:`(N,)`, ``position`` :math:`(N,)`
        - **output:** :math:`(N, d)`
    """

    pe: Tensor

    def __init__(self, channels: int, max_len: int = 10000) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        self.max_len = check_positive_int(max_len, "max_len")
        table = sinusoidal_encoding(torch.arange(self.max_len, dtype=torch.float64), self.channels)
        self.register_buffer("pe", table.to(torch.get_default_dtype()), persistent=False)

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, position: Optional[Tensor] = None) -> Tensor:
        """Return ``x`` plus the encoding of each node's position."""
        check_ndim(x, 2, "x", "(num_nodes, channels)")
        check_input_dtype(x, self, "x")
        if x.size(1) != self.channels:
            raise InputShapeError(f"x has {x.size(1)} channels, the encoding has {self.channels}")
        debug_check_finite(x, "x")
        n = x.size(0)
        if position is not None:
            check_ndim(position, 1, "position", "(num_nodes,)")
            if position.numel() != n:
                raise InputShapeError(f"position has {position.numel()} entries but x has {n} nodes")
            debug_check_finite(position, "position")
            return x + sinusoidal_encoding(position.to(x.dtype), self.channels).to(x.dtype)
        if batch is None:
            pos = torch.arange(n, device=x.device)
        else:
            check_ndim(batch, 1, "batch", "(num_nodes,)")
            if batch.numel() != n:
                raise InputShapeError(f"batch has {batch.numel()} entries but x has {n} nodes")
            pos = local_positions(batch)
        if is_debug() and n and int(pos.max()) >= self.max_len:
            raise InputShapeError(
                f"a graph has {int(pos.max()) + 1} nodes but max_len is {self.max_len}"
            )
        return x + self.pe.to(device=x.device, dtype=x.dtype)[pos]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.channels}, max_len={self.max_len})"


__all__ = ["SinusoidalPositionalEncoding", "sinusoidal_encoding", "local_positions"]
