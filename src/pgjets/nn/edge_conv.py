r"""EdgeConv (Wang et al. 2019) on a given graph.

.. math::
    \mathbf{x}_i' = \bigoplus_{j \in \mathcal{N}(i)} h_\Theta\big(\mathbf{x}_i \,\Vert\, \mathbf{x}_j - \mathbf{x}_i\big),
    \qquad \bigoplus \in \{\max, \text{mean}\}

The edge function sees the centre and the relative offset of the neighbour,
so local structure is learned independently of absolute position.  See
:class:`~pgjets.nn.dynamic_edge_conv.EdgeConvBlock` for the version that
rebuilds a kNN graph every call.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.inits import reset
from torch_geometric.utils import is_sparse, to_edge_index

from .._checks import check_input_dtype, debug_check_finite, is_debug, check_ndim, check_positive_int
from ..errors import InputShapeError


def as_edge_index(edge_index: Any) -> Tensor:
    """``edge_index`` as a ``(2, E)`` tensor; a sparse adjacency ``adj_t`` (PyG's transposed layout) is converted.

    A ``torch.sparse`` tensor or a ``torch_sparse.SparseTensor`` ``adj_t`` of shape
    ``(num_dst, num_src)`` holds edge :math:`j \to i` at ``adj_t[i, j]``, as in PyG;
    its values are not used (the layers aggregate unweighted edges).
    """
    if is_sparse(edge_index):
        return to_edge_index(edge_index)[0].flip(0)  # PyG's (row, col) = (dst, src) of adj_t
    return edge_index


def split_pair(x: Any, name: str = "x") -> tuple[Tensor, Optional[Tensor]]:
    """``(x_src, x_dst)`` of a node feature tensor or of PyG's bipartite pair (``x_dst`` may be ``None``)."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2 or not isinstance(x[0], Tensor) or not (x[1] is None or isinstance(x[1], Tensor)):
            raise InputShapeError(f"{name} must be a tensor or a pair (x_src, x_dst) of tensors")
        return x[0], x[1]
    return x, x


def check_node_pair(module: torch.nn.Module, x_src: Tensor, x_dst: Optional[Tensor],
                    in_channels: Optional[int]) -> None:
    """The input checks of a layer on ``(x_src, x_dst)`` (``x_dst`` may be ``None``): 2-D, the layer's
    dtype, ``in_channels`` features (when known); NaN in debug mode.  Metadata only outside debug mode."""
    for name, t in (("x_src", x_src), ("x_dst", x_dst)):
        if t is None:
            continue
        check_ndim(t, 2, name, "(num_nodes, features)")
        check_input_dtype(t, module, name)
        if in_channels is not None and t.size(1) != in_channels:
            raise InputShapeError(f"{name} has {t.size(1)} features, {type(module).__name__} expects {in_channels}")
        debug_check_finite(t, name)


def check_edge_index(edge_index: Tensor, num_nodes: int) -> None:
    """Raise :class:`~pgjets.errors.InputShapeError` unless ``edge_index`` is a valid ``(2, E)`` index.

    It must be an integer tensor of shape ``(2, E)`` whose entries lie in
    ``[0, num_nodes)``.
    """
    if not isinstance(edge_index, Tensor):
        raise InputShapeError(f"edge_index must be a tensor, got {type(edge_index).__name__}")
    check_ndim(edge_index, 2, "edge_index", "(2, num_edges)")
    if edge_index.size(0) != 2:
        raise InputShapeError(f"edge_index must have shape (2, num_edges), got {tuple(edge_index.shape)}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise InputShapeError(f"edge_index must be an integer tensor, got {edge_index.dtype}")
    if is_debug() and edge_index.numel() > 0:  # value check: a host sync, debug mode only
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise InputShapeError(
                f"edge_index refers to node {lo if lo < 0 else hi} but the graph has {num_nodes} nodes"
            )


class EdgeConvLayer(MessagePassing):
    r"""Edge convolution with message :math:`h_\Theta(\mathbf{x}_i \Vert \mathbf{x}_j - \mathbf{x}_i)`.

    .. math::
        \mathbf{x}_i' = \bigoplus_{j \in \mathcal{N}(i)}
            h_\Theta\big(\mathbf{x}_i \,\Vert\, \mathbf{x}_j - \mathbf{x}_i\big)

    A node without incoming edges gets the zero vector (PyG's convention for
    empty max/mean aggregation).  As PyG's ``EdgeConv``, it also takes a
    bipartite pair ``x = (x_src, x_dst)`` (:math:`\mathbf{x}_j` from ``x_src``,
    :math:`\mathbf{x}_i` from ``x_dst``; e.g. inside ``HeteroConv``) and a sparse
    ``adj_t`` in place of ``edge_index``.

    Args:
        nn: The edge function on ``2 * in_channels`` inputs (a module or any
            callable, as PyG's ``EdgeConv(nn, aggr)``); if ``None`` an MLP
            ``Linear(2F, F') - ReLU - Linear(F', F')`` is built.
        aggr: ``"max"`` or ``"mean"``.
        in_channels: Input size :math:`F` (needed when ``nn`` is ``None``).
        out_channels: Output size :math:`F'` (needed when ``nn`` is ``None``).

    Shapes:
        - **input:** ``x`` :math:`(N, F)` or :math:`((N_s, F), (N_d, F))`, ``edge_index``
          :math:`(2, E)` (``edge_index[0]`` = neighbour :math:`j`, ``edge_index[1]`` = centre :math:`i`)
        - **output:** :math:`(N, F')` (:math:`(N_d, F')` for a pair)
    """

    def __init__(
        self,
        nn: Optional[Callable[[Tensor], Tensor]] = None,
        aggr: str = "max",
        in_channels: Optional[int] = None,
        out_channels: Optional[int] = None,
    ) -> None:
        if aggr not in ("max", "mean"):
            raise ValueError(f"aggr must be 'max' or 'mean', got {aggr!r}")
        super().__init__(aggr=aggr)
        self.in_channels = None if in_channels is None else check_positive_int(in_channels, "in_channels")
        self.out_channels = None if out_channels is None else check_positive_int(out_channels, "out_channels")
        if nn is None:
            if self.in_channels is None or self.out_channels is None:
                raise ValueError("give either nn or both in_channels and out_channels")
            nn = torch.nn.Sequential(
                torch.nn.Linear(2 * self.in_channels, self.out_channels),
                torch.nn.ReLU(),
                torch.nn.Linear(self.out_channels, self.out_channels),
            )
        elif not callable(nn):
            raise TypeError(f"nn must be a torch.nn.Module or a callable, got {type(nn).__name__}")
        self.nn = nn

    def reset_parameters(self) -> None:
        if isinstance(self.nn, torch.nn.Module):  # a plain function has no parameters
            reset(self.nn)  # PyG's: the module itself, or each child that can reset

    def forward(self, x: Union[Tensor, tuple[Tensor, Optional[Tensor]]], edge_index: Any) -> Tensor:
        x_src, x_dst = split_pair(x)
        if x_dst is None:
            raise InputShapeError("EdgeConvLayer needs the centre features x_dst of a bipartite pair")
        check_node_pair(self, x_src, x_dst, self.in_channels)
        edge_index = as_edge_index(edge_index)
        check_edge_index(edge_index, max(x_src.size(0), x_dst.size(0)))
        return self.propagate(edge_index, x=(x_src, x_dst), size=(x_src.size(0), x_dst.size(0)))

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:  # type: ignore[override]
        return self.nn(torch.cat([x_i, x_j - x_i], dim=-1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(nn={self.nn}, aggr={self.aggr})"


__all__ = ["EdgeConvLayer", "check_edge_index", "check_node_pair", "as_edge_index", "split_pair"]
