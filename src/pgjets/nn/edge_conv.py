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
from torch_geometric.typing import SparseTensor
from torch_geometric.utils import is_sparse

from .._checks import check_input_dtype, debug_check_finite, is_debug, check_ndim, check_positive_int
from ..errors import InputShapeError


def as_edge_index(edge_index: Any) -> Tensor:
    """``edge_index`` as a ``(2, E)`` tensor; a sparse adjacency ``adj_t`` (PyG's transposed layout) is converted.

    The edges of :func:`as_weighted_edge_index`, without the values (for layers that, as
    PyG's counterpart, aggregate unweighted edges, e.g. :class:`EdgeConvLayer`).
    """
    return as_weighted_edge_index(edge_index)[0]


def as_weighted_edge_index(edge_index: Any) -> tuple[Tensor, Optional[Tensor]]:
    r"""``(edge_index, edge_weight)`` of a ``(2, E)`` ``edge_index`` or of a sparse adjacency ``adj_t``.

    A dense ``(2, E)`` tensor (``edge_index[0]`` = source :math:`j`, ``edge_index[1]`` = target
    :math:`i`) is returned as it is, with ``edge_weight = None``.  A sparse ``adj_t`` of shape
    ``(num_dst, num_src)`` holds edge :math:`j \to i` at ``adj_t[i, j]``, as in PyG: each stored
    entry is one edge and ``edge_weight`` its value (explicit zeros included).  A ``torch.sparse``
    COO, CSR or CSC tensor is read without a host-device synchronisation, except that an
    uncoalesced COO tensor is coalesced first (repeated entries summed into one edge, as PyG's
    ``spmm`` does by converting it to CSR); the input tensor is not modified.  A
    ``torch_sparse.SparseTensor`` gives its values, or ``None`` if it has none.
    """
    if isinstance(edge_index, SparseTensor):
        row, col, value = edge_index.coo()
        return torch.stack([col, row], dim=0).long(), value
    if not isinstance(edge_index, Tensor) or edge_index.layout == torch.strided:
        return edge_index, None
    layout = edge_index.layout
    if layout == torch.sparse_coo:
        adj = edge_index.coalesce()  # returns edge_index itself when it is coalesced already
        row, col = adj.indices()
    elif layout == torch.sparse_csr:
        adj = edge_index
        col = adj.col_indices()
        row = _ptr_to_index(adj.crow_indices(), col.numel())
    elif layout == torch.sparse_csc:
        adj = edge_index
        row = adj.row_indices()
        col = _ptr_to_index(adj.ccol_indices(), row.numel())
    else:
        raise InputShapeError(f"a sparse adj_t must be COO, CSR or CSC, got layout {layout}")
    if adj.dim() != 2:
        raise InputShapeError(f"a sparse adj_t must be 2-D (num_dst, num_src), got shape {tuple(adj.shape)}")
    return torch.stack([col, row], dim=0).long(), adj.values()


def _ptr_to_index(ptr: Tensor, numel: int) -> Tensor:
    """The row (column) of each entry of a CSR (CSC) tensor; ``numel`` given, so no device sync."""
    index = torch.arange(ptr.numel() - 1, dtype=torch.long, device=ptr.device)
    return index.repeat_interleave(ptr.diff(), output_size=numel)


def sparse_size(edge_index: Any) -> Optional[tuple[int, int]]:
    """``(num_src, num_dst)`` of a sparse ``adj_t`` (PyG's ``size`` of ``propagate``), ``None`` for an ``edge_index``."""
    if is_sparse(edge_index):
        return int(edge_index.size(1)), int(edge_index.size(0))
    return None


def check_sparse_size(edge_index: Any, num_src: int, num_dst: int) -> None:
    """Raise :class:`~pgjets.errors.InputShapeError` unless a sparse ``adj_t`` has shape
    ``(num_dst, num_src)`` (nothing to check for an ``edge_index``).  Metadata only."""
    size = sparse_size(edge_index)
    if size is not None and size != (num_src, num_dst):
        raise InputShapeError(f"adj_t has shape {tuple(edge_index.size())} but the graph has {num_dst} target "
                              f"and {num_src} source nodes: expected ({num_dst}, {num_src})")


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
    ``adj_t`` of shape ``(N_d, N_s)`` in place of ``edge_index``.  As in ``EdgeConv``, the
    values of a weighted ``adj_t`` are not used: each stored entry is one unweighted edge
    (:func:`as_edge_index`; a CSC or an uncoalesced COO ``adj_t``, which ``EdgeConv`` refuses, is
    read too, the COO one coalesced).

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
        check_sparse_size(edge_index, x_src.size(0), x_dst.size(0))
        edge_index = as_edge_index(edge_index)  # EdgeConv ignores edge weights: the values are dropped
        check_edge_index(edge_index, max(x_src.size(0), x_dst.size(0)))
        return self.propagate(edge_index, x=(x_src, x_dst), size=(x_src.size(0), x_dst.size(0)))

    def message(self, x_i: Tensor, x_j: Tensor) -> Tensor:  # type: ignore[override]
        return self.nn(torch.cat([x_i, x_j - x_i], dim=-1))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(nn={self.nn}, aggr={self.aggr})"


__all__ = ["EdgeConvLayer", "check_edge_index", "check_node_pair", "check_sparse_size", "as_edge_index",
           "as_weighted_edge_index", "sparse_size", "split_pair"]
