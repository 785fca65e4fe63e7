r"""Image convolution as message passing on a grid graph.

On a grid graph (see :func:`pgjets.graphs.image.image_to_graph`) every edge
:math:`j \to i` carries the integer offset
:math:`\boldsymbol{\delta}_{ji} = \mathbf{pos}_j - \mathbf{pos}_i = (\delta_r, \delta_c)`.
:class:`GridConv` keeps one weight matrix per offset of a
:math:`K \times K` kernel (:math:`\rho = \lfloor K/2 \rfloor`) and computes

.. math::
    \mathbf{x}'_i = \mathbf{b} + W_{(0,0)}\,\mathbf{x}_i
        + \sum_{j \in \mathcal{N}(i),\; \lVert \boldsymbol{\delta}_{ji} \rVert_\infty \le \rho}
          W_{\boldsymbol{\delta}_{ji}}\,\mathbf{x}_j ,

which is exactly the cross-correlation of ``torch.nn.Conv2d(padding="same")``
with :math:`W_{(\delta_r, \delta_c)} = \text{weight}[:, :, \rho + \delta_r, \rho + \delta_c]`:
absent neighbours (outside the image, or dropped zero pixels) contribute
nothing, i.e. zero padding.  Edges whose offset lies outside the kernel are
ignored; offsets that the graph does not connect (e.g. :math:`|\delta| = 2` on
an 8-neighbour graph with ``kernel_size=5``) simply never contribute.

Implementation: all offset projections are computed at once per node,
``x @ W_all -> (N, K*K, F')``, and each edge gathers the row of its source and
offset from that table (one gather and one scatter-add, no Python loop over
offsets).

Dense fast path: when the caller passes ``grid_size=(H, W)`` and the graph is a
batch of *full* grid graphs (every pixel a node, row-major per image, as
:func:`~pgjets.graphs.image.images_to_batch` builds with ``drop_zeros=False``)
whose connectivity covers the kernel, the nodes are reshaped to
``(B, F, H, W)`` and :func:`torch.nn.functional.conv2d` runs instead (same
result, a fused kernel).  Sparse images (dropped zero pixels) keep the
message-passing path, whose cost scales with the kept pixels only.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing

from .._checks import check_input_dtype, debug_check_finite, check_ndim, check_nonempty, check_positive_int
from ..errors import InputShapeError
from .edge_conv import check_edge_index


class GridConv(MessagePassing):
    r"""Offset-dependent linear message passing that reproduces ``Conv2d``.

    .. math::
        \mathbf{x}'_i = \mathbf{b} + W_{(0,0)}\,\mathbf{x}_i
            + \sum_{j \to i,\; \lVert \boldsymbol{\delta}_{ji} \rVert_\infty \le \lfloor K/2 \rfloor}
              W_{\boldsymbol{\delta}_{ji}}\,\mathbf{x}_j

    Args:
        in_channels: Input channels :math:`F`.
        out_channels: Output channels :math:`F'`.
        kernel_size: Odd kernel size :math:`K` (:math:`K^2` weight matrices,
            the centre one applied as the self term).
        bias: Add a learnable bias :math:`\mathbf{b}`.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`,
          ``edge_attr`` :math:`(E, 2)` integer-valued offsets
          :math:`(\delta_r, \delta_c) = \mathbf{pos}_j - \mathbf{pos}_i`
        - **output:** :math:`(N, F')`

    Example:
        >>> conv2d = torch.nn.Conv2d(3, 8, 3, padding="same")
        >>> gconv = GridConv.from_conv2d(conv2d)  # same output on grid graphs
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True) -> None:
        super().__init__(aggr="add")
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = check_positive_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        kk = self.kernel_size * self.kernel_size
        #: ``weight[o]`` is the ``(F, F')`` matrix of offset ``o = (dr + r) * K + (dc + r)``.
        self.weight = nn.Parameter(torch.empty(kk, self.in_channels, self.out_channels))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self.reset_parameters()

    @property
    def radius(self) -> int:
        """Largest offset :math:`\\lfloor K/2 \\rfloor` covered by the kernel."""
        return self.kernel_size // 2

    @property
    def centre(self) -> int:
        """Index of the ``(0, 0)`` offset in :attr:`weight`."""
        return (self.kernel_size * self.kernel_size) // 2

    def reset_parameters(self) -> None:
        """Initialise like ``Conv2d`` (uniform with fan-in :math:`F K^2`)."""
        fan_in = self.in_channels * self.kernel_size * self.kernel_size
        bound = 1.0 / fan_in**0.5
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    # ------------------------------------------------------------------ Conv2d
    def load_conv2d_weights(self, conv: nn.Conv2d) -> "GridConv":
        r"""Copy the weights of a ``Conv2d`` so that both layers compute the same.

        The Conv2d must have a square ``K x K`` kernel equal to
        :attr:`kernel_size`, ``stride=1``, ``dilation=1``, ``groups=1``,
        ``padding_mode="zeros"`` and matching channels; the size of its zero padding is
        irrelevant (the graph layer always behaves like ``padding="same"``: a missing neighbour is
        a zero).  Circular, reflect and replicate padding have no graph counterpart (a circular
        :math:`\phi` needs edges across the image border) and are refused.  Returns ``self``.
        """
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be a torch.nn.Conv2d, got {type(conv).__name__}")
        if tuple(conv.stride) != (1, 1) or tuple(conv.dilation) != (1, 1) or conv.groups != 1:
            raise ValueError("only Conv2d with stride=1, dilation=1 and groups=1 maps to GridConv")
        if conv.padding_mode != "zeros":
            raise ValueError(f"only Conv2d with padding_mode='zeros' maps to GridConv, got {conv.padding_mode!r} "
                             "(the grid graph has no edges across the image border)")
        w = conv.weight  # (F', F, K, K)
        k = self.kernel_size
        if tuple(w.shape) != (self.out_channels, self.in_channels, k, k):
            raise InputShapeError(
                f"Conv2d weight has shape {tuple(w.shape)}, GridConv expects "
                f"{(self.out_channels, self.in_channels, k, k)}"
            )
        if (conv.bias is None) != (self.bias is None):
            raise ValueError("Conv2d and GridConv must agree on having a bias")
        with torch.no_grad():
            self.weight.copy_(w.permute(2, 3, 1, 0).reshape(k * k, self.in_channels, self.out_channels))
            if self.bias is not None and conv.bias is not None:
                self.bias.copy_(conv.bias)
        return self

    @classmethod
    def from_conv2d(cls, conv: nn.Conv2d) -> "GridConv":
        """Build a :class:`GridConv` with the weights of ``conv`` (see :meth:`load_conv2d_weights`)."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be a torch.nn.Conv2d, got {type(conv).__name__}")
        kh, kw = conv.kernel_size
        if kh != kw:
            raise ValueError(f"only square Conv2d kernels map to GridConv, got {conv.kernel_size}")
        layer = cls(conv.in_channels, conv.out_channels, kernel_size=kh, bias=conv.bias is not None)
        layer = layer.to(device=conv.weight.device, dtype=conv.weight.dtype)
        return layer.load_conv2d_weights(conv)

    # ----------------------------------------------------------------- forward
    def offset_index(self, edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(kernel index per edge, mask of edges inside the kernel)``.

        The centre offset ``(0, 0)`` (a self loop) is masked out as well: the
        self term is applied once, per node.
        """
        off = torch.round(edge_attr).to(torch.long)
        r = self.radius
        inside = (off.abs() <= r).all(dim=1) & (off != 0).any(dim=1)
        idx = (off[:, 0] + r) * self.kernel_size + (off[:, 1] + r)
        return idx, inside

    def full_grid_edges(self, height: int, width: int) -> int:
        r"""Edges of one full ``height x width`` grid graph whose neighbourhood is the kernel's.

        .. math::
            E = \sum_{0 < \lVert \boldsymbol{\delta} \rVert_\infty \le \rho}
                (H - |\delta_r|)^+ (W - |\delta_c|)^+
        """
        r = self.radius
        return sum(max(0, height - abs(dr)) * max(0, width - abs(dc))
                   for dr in range(-r, r + 1) for dc in range(-r, r + 1) if (dr, dc) != (0, 0))

    def conv2d_weight(self) -> Tensor:
        """The weights as a ``Conv2d`` kernel, shape ``(F', F, K, K)``."""
        k = self.kernel_size
        return self.weight.view(k, k, self.in_channels, self.out_channels).permute(3, 2, 0, 1)

    def _dense_grid(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, grid_size) -> Optional[Tensor]:
        """Conv2d on full grids, or ``None`` when the graph is not a batch of full grids in the builders'
        layout: row-major nodes and ``edge_attr`` the (row, column) offset of the source, so that every
        edge joins nodes ``dr * W + dc`` apart (a graph of PyG's ``grid()``, with ``pos = (col, H-1-row)``,
        or nodes in another order, has as many edges but not this layout)."""
        if isinstance(grid_size, Tensor):  # the builders' data.grid_size: (2,), (1, 2) or one row per image
            rows = grid_size.reshape(-1, 2)
            if rows.size(0) > 1 and not bool((rows == rows[:1]).all()):  # a sync, on the conv2d path only
                return None  # images of different sizes: message passing
            grid_size = rows[0].tolist()
        if len(grid_size) != 2:
            raise InputShapeError(f"grid_size must be (H, W), got {grid_size!r}")
        h, w = (int(v) for v in grid_size)
        n = x.size(0)
        if h <= 0 or w <= 0 or n % (h * w) != 0:
            return None
        b = n // (h * w)
        if self.radius > 0 and edge_index.size(1) != b * self.full_grid_edges(h, w):
            return None  # not every in-kernel neighbour is connected (e.g. 4-connectivity)
        off = torch.round(edge_attr).to(torch.long)
        if not bool((edge_index[0] - edge_index[1] == off[:, 0] * w + off[:, 1]).all()):  # (a sync, conv2d path)
            return None  # not the row-major layout of the builders: message passing reads edge_attr as given
        img = x.view(b, h, w, self.in_channels).permute(0, 3, 1, 2)
        out = F.conv2d(img, self.conv2d_weight(), self.bias, padding=self.radius)
        return out.permute(0, 2, 3, 1).reshape(n, self.out_channels)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor,
                grid_size: Optional[tuple[int, int]] = None) -> Tensor:
        r"""Apply the layer.

        Args:
            x: Node features ``(N, F)``.
            edge_index: ``(2, E)`` grid-graph edges.
            edge_attr: ``(E, 2)`` offsets :math:`\mathbf{pos}_j - \mathbf{pos}_i`.
            grid_size: ``(H, W)`` (or the builders' ``data.grid_size`` tensor) when the graph
                is a batch of *full* ``H x W`` grids, nodes in
                row-major order per image (``images_to_batch(..., drop_zeros=False)``); then, if
                the edge count shows that every in-kernel neighbour is connected, the layer runs
                as one ``conv2d`` (same result).  ``None`` always uses message passing.
        """
        check_ndim(x, 2, "x", "(num_nodes, channels)")
        check_input_dtype(x, self, "x")
        if x.size(1) != self.in_channels:
            raise InputShapeError(f"x has {x.size(1)} channels, GridConv expects {self.in_channels}")
        check_nonempty(x.size(0), "grid graph")
        debug_check_finite(x, "x")
        check_edge_index(edge_index, x.size(0))
        if not isinstance(edge_attr, Tensor):
            raise InputShapeError("GridConv needs edge_attr, the (num_edges, 2) offsets pos_j - pos_i of the grid "
                                  "graph (image_to_graph / images_to_batch build them)")
        check_ndim(edge_attr, 2, "edge_attr", "(num_edges, 2)")
        if edge_attr.size(1) != 2 or edge_attr.size(0) != edge_index.size(1):
            raise InputShapeError(
                f"edge_attr must have shape (num_edges, 2) = ({edge_index.size(1)}, 2), "
                f"got {tuple(edge_attr.shape)}"
            )
        debug_check_finite(edge_attr, "edge_attr")
        if grid_size is not None:
            dense = self._dense_grid(x, edge_index, edge_attr, grid_size)
            if dense is not None:
                return dense

        n = x.size(0)
        kk = self.weight.size(0)
        # (N, F) @ (F, K*K*F') -> (N*K*K, F'): every offset projection at once.
        w_all = self.weight.permute(1, 0, 2).reshape(self.in_channels, kk * self.out_channels)
        table = (x @ w_all).view(n * kk, self.out_channels)
        idx, inside = self.offset_index(edge_attr)
        if not bool(inside.all()):
            edge_index, idx = edge_index[:, inside], idx[inside]
        flat = edge_index[0] * kk + idx  # row (source j, offset) in the table
        out = self.propagate(edge_index, table=table, flat=flat, size=(n, n))
        out = out + table.view(n, kk, self.out_channels)[:, self.centre]
        if self.bias is not None:
            out = out + self.bias
        return out

    def message(self, table: Tensor, flat: Tensor) -> Tensor:  # type: ignore[override]
        return table.index_select(0, flat)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")


__all__ = ["GridConv"]
