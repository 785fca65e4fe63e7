r"""Max / mean pooling of grid graphs, the graph analogue of ``MaxPool2d(s, s)``.

A pixel at :math:`(r, c)` of image :math:`b` joins the cluster
:math:`(b, \lfloor r/s \rfloor, \lfloor c/s \rfloor)`; each non-empty cluster
becomes one coarse node with

.. math::
    \mathbf{x}'_{(b, R, C)} = \bigoplus_{(r, c):\, \lfloor r/s \rfloor = R,\,
        \lfloor c/s \rfloor = C} \mathbf{x}_{(b, r, c)},
    \qquad \bigoplus \in \{\max, \text{mean}\},

``pos = (R, C)`` and new 4- or 8-neighbour edges between existing coarse nodes
with ``edge_attr`` :math:`= \mathbf{pos}_j - \mathbf{pos}_i` (the convention of
:func:`pgjets.graphs.image.image_to_graph`), so the result can be fed to
:class:`~pgjets.nn.grid_conv.GridConv` again.

Behaviour to know:

* **Full images with sizes divisible by s:** identical to
  ``MaxPool2d(s, s)`` / ``AvgPool2d(s, s)`` (nodes in row-major order).
* **Sizes not divisible by s:** the last row/column of windows is partial and
  pools only the pixels that exist, i.e. it matches
  ``MaxPool2d(s, s, ceil_mode=True)`` and ``AvgPool2d(s, s, ceil_mode=True)``
  (the latter divides by the number of in-image pixels of the window).
* **Sparse images** (``drop_zeros=True`` graphs): absent pixels are *not*
  zeros.  ``max`` is taken over the present pixels only (a window holding only
  negative values stays negative, whereas ``MaxPool2d`` on the zero-filled
  image would give 0); ``mean`` divides by the number of present pixels, not
  by :math:`s^2`.  Windows without any pixel produce no coarse node.  For
  non-negative features (e.g. calorimeter energies) ``max`` therefore equals
  ``MaxPool2d`` on the zero-filled image at every produced node.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .._checks import debug_check_finite, check_ndim, check_nonempty, check_positive_int
from ..errors import InputShapeError
from ..ops.grid import check_connectivity, grid_offsets


class GridGraph(NamedTuple):
    """A (coarsened) grid graph: ``x (M, F)``, ``edge_index (2, E)``, ``edge_attr (E, 2)``,
    ``pos (M, 2)`` (row, col), ``batch (M,)``."""

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    pos: Tensor
    batch: Tensor


def grid_edges(pos: Tensor, batch: Tensor, connectivity: int = 8) -> tuple[Tensor, Tensor]:
    r"""Neighbour edges between the existing cells of a batch of grids (vectorised).

    For every node :math:`i` and every offset :math:`\delta` of the 4- or
    8-neighbourhood, an edge :math:`j \to i` is created if a node :math:`j` of
    the same graph sits at :math:`\mathbf{pos}_i + \delta`.

    Args:
        pos: Integer-valued ``(row, col)`` of each node, ``(N, 2)``, no two
            nodes of one graph at the same cell.
        batch: Graph index of each node, ``(N,)``.
        connectivity: 4 or 8.

    Returns:
        ``(edge_index, edge_attr)`` sorted by target node, then by offset;
        ``edge_attr = pos[j] - pos[i]`` as floats.

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``batch`` :math:`(N,)`
        - **output:** :math:`(2, E)`, :math:`(E, 2)`
    """
    connectivity = check_connectivity(connectivity)
    device = pos.device
    n = pos.size(0)
    if n == 0:
        return (torch.empty(2, 0, dtype=torch.long, device=device),
                torch.empty(0, 2, dtype=pos.dtype if pos.is_floating_point() else torch.float, device=device))
    p = torch.round(pos).to(torch.long)
    # Shift so that neighbour lookups one step outside stay non-negative.
    p = p - p.min(0).values + 1
    h = int(p[:, 0].max()) + 2
    w = int(p[:, 1].max()) + 2
    b = batch.to(torch.long)
    key = (b * h + p[:, 0]) * w + p[:, 1]
    sorted_key, order = torch.sort(key)
    offs = torch.tensor(grid_offsets(connectivity), dtype=torch.long, device=device)  # (O, 2)
    nb = p.unsqueeze(1) + offs.unsqueeze(0)  # (N, O, 2); always inside [0, h) x [0, w)
    nb_key = (b.unsqueeze(1) * h + nb[..., 0]) * w + nb[..., 1]
    loc = torch.searchsorted(sorted_key, nb_key.reshape(-1)).clamp_max(n - 1)
    found = sorted_key[loc] == nb_key.reshape(-1)
    src = order[loc][found]
    tgt = torch.arange(n, device=device).repeat_interleave(offs.size(0))[found]
    edge_attr = offs.repeat(n, 1)[found]
    dtype = pos.dtype if pos.is_floating_point() else torch.get_default_dtype()
    return torch.stack([src, tgt]), edge_attr.to(dtype)


class GridPool(nn.Module):
    r"""Coarsen a grid graph by :math:`s \times s` windows (like ``MaxPool2d(s, s)``).

    .. math::
        \mathbf{x}'_{(b, R, C)} = \bigoplus_{\lfloor r/s \rfloor = R,\;
            \lfloor c/s \rfloor = C} \mathbf{x}_{(b, r, c)}, \qquad
        \mathbf{pos}'_{(b, R, C)} = (R, C)

    It does not pass messages (a pure clustering + scatter), hence a plain
    ``nn.Module``.  Coarse nodes are sorted by graph, then row-major, so a full
    image stays in the order of :func:`~pgjets.graphs.image.image_to_graph`.
    See the module docstring for odd sizes (``ceil_mode=True``) and sparse
    images (absent pixels are not zeros).

    Args:
        kernel: Window size and stride :math:`s`.
        mode: ``"max"`` or ``"mean"``.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``pos`` :math:`(N, 2)` (row, col),
          ``batch`` :math:`(N,)` optional
        - **output:** :class:`GridGraph` with ``x`` :math:`(M, F)`,
          ``edge_index`` :math:`(2, E')`, ``edge_attr`` :math:`(E', 2)`,
          ``pos`` :math:`(M, 2)`, ``batch`` :math:`(M,)`
    """

    def __init__(self, kernel: int = 2, mode: str = "max") -> None:
        super().__init__()
        self.kernel = check_positive_int(kernel, "kernel")
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode

    def forward(
        self, x: Tensor, pos: Tensor, batch: Optional[Tensor] = None, connectivity: int = 8
    ) -> GridGraph:
        check_ndim(x, 2, "x", "(num_nodes, channels)")
        check_ndim(pos, 2, "pos", "(num_nodes, 2)")
        if pos.size(1) != 2 or pos.size(0) != x.size(0):
            raise InputShapeError(f"pos must have shape ({x.size(0)}, 2), got {tuple(pos.shape)}")
        check_nonempty(x.size(0), "grid graph")
        debug_check_finite(x, "x")
        debug_check_finite(pos, "pos")
        connectivity = check_connectivity(connectivity)
        n = x.size(0)
        device = x.device
        if batch is None:
            batch = torch.zeros(n, dtype=torch.long, device=device)
        else:
            check_ndim(batch, 1, "batch", "(num_nodes,)")
            if batch.numel() != n:
                raise InputShapeError(f"batch has {batch.numel()} entries but x has {n} nodes")
            batch = batch.to(torch.long)
        p = torch.round(pos).to(torch.long)
        if bool((p < 0).any()) or bool((batch < 0).any()):
            raise InputShapeError("pos (row, col) and batch must be non-negative")

        cell = torch.div(p, self.kernel, rounding_mode="floor")  # (N, 2) coarse (row, col)
        hc = int(cell[:, 0].max()) + 1
        wc = int(cell[:, 1].max()) + 1
        key = (batch * hc + cell[:, 0]) * wc + cell[:, 1]
        uniq, cluster = torch.unique(key, sorted=True, return_inverse=True)
        m = uniq.numel()
        reduce = "max" if self.mode == "max" else "mean"
        x_out = scatter(x, cluster, dim=0, dim_size=m, reduce=reduce)
        batch_out = torch.div(uniq, hc * wc, rounding_mode="floor")
        rem = uniq - batch_out * hc * wc
        dtype = pos.dtype if pos.is_floating_point() else torch.get_default_dtype()
        pos_out = torch.stack([torch.div(rem, wc, rounding_mode="floor"), rem % wc], dim=1).to(dtype)
        edge_index, edge_attr = grid_edges(pos_out, batch_out, connectivity)
        return GridGraph(x_out, edge_index, edge_attr, pos_out, batch_out)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(kernel={self.kernel}, mode={self.mode!r})"


__all__ = ["GridPool", "GridGraph", "grid_edges"]
