r"""Permutation-equivariant Deep Sets layer (Zaheer et al. 2017).

.. math::
    \mathbf{x}_i' = \Lambda\, \mathbf{x}_i + \Gamma \bigoplus_{j \in G(i)} \mathbf{x}_j + \mathbf{b},
    \qquad \bigoplus \in \{\textstyle\sum, \operatorname{mean}, \max\},

where the context runs over every node of the graph :math:`G(i)` that holds
:math:`i` (found from ``batch``; no edges needed), or over the neighbours
:math:`\mathcal{N}(i)` when an ``edge_index`` is given.  Permuting the nodes of
a graph permutes the outputs in the same way.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from .._checks import check_input_dtype, batch_vector, debug_check_finite, is_debug, check_ndim, check_positive_int
from ..errors import InputShapeError

_AGGRS = ("mean", "sum", "max")


class DeepSetsLayer(MessagePassing):
    r"""Equivariant set layer :math:`\Lambda \mathbf{x}_i + \Gamma\,\mathrm{pool}(X) + \mathbf{b}`.

    Args:
        in_channels: Input feature size :math:`F`.
        out_channels: Output feature size :math:`F'`.
        aggr: Context pooling: ``"mean"``, ``"sum"`` or ``"max"``.
        bias: Whether to learn the bias :math:`\mathbf{b}`.

    Forward args:
        x: Node features ``(N, F)``.
        batch: Graph index per node ``(N,)``; ``None`` means one graph.
        edge_index: Optional ``(2, E)`` (``edge_index[0]`` sources): pool over
            the in-neighbours of each node instead of its whole graph
            (``batch`` is then ignored).  Nodes without neighbours get a zero
            context.

    Shapes:
        - **input:** ``x`` :math:`(N, F)`, ``batch`` :math:`(N,)`, ``edge_index`` :math:`(2, E)`
        - **output:** :math:`(N, F')`
    """

    def __init__(self, in_channels: int, out_channels: int, aggr: str = "mean", bias: bool = True) -> None:
        if aggr not in _AGGRS:
            raise ValueError(f"aggr must be one of {_AGGRS}, got {aggr!r}")
        super().__init__(aggr=aggr)
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.pool_reduce = aggr
        self.lam = nn.Linear(self.in_channels, self.out_channels, bias=bias)
        self.gamma = nn.Linear(self.in_channels, self.out_channels, bias=False)

    def reset_parameters(self) -> None:
        """Re-initialise :math:`\\Lambda`, :math:`\\Gamma` and the bias."""
        self.lam.reset_parameters()
        self.gamma.reset_parameters()

    def forward(self, x: Tensor, batch: Optional[Tensor] = None, edge_index: Optional[Tensor] = None,
                num_graphs: Optional[int] = None) -> Tensor:
        """Apply the layer; see the class docstring (``num_graphs``: the number of graphs,
        read from ``batch`` when not given, a host sync)."""
        check_ndim(x, 2, "x", "(num_nodes, features)")
        check_input_dtype(x, self, "x")
        if x.size(1) != self.in_channels:
            raise InputShapeError(f"x has {x.size(1)} features, the layer expects {self.in_channels}")
        debug_check_finite(x, "x")
        n = x.size(0)
        if edge_index is not None:
            check_ndim(edge_index, 2, "edge_index", "(2, num_edges)")
            if edge_index.size(0) != 2:
                raise InputShapeError(f"edge_index must have shape (2, num_edges), got {tuple(edge_index.shape)}")
            if is_debug() and edge_index.numel() and (int(edge_index.min()) < 0 or int(edge_index.max()) >= n):
                raise InputShapeError(f"edge_index refers to nodes outside 0..{n - 1}")
            ctx = self.propagate(edge_index, x=x, size=(n, n))
            return self.lam(x) + self.gamma(ctx)
        batch = batch_vector(batch, n, x.device)
        size = num_graphs if num_graphs is not None else (int(batch.max()) + 1 if n else 0)
        ctx = scatter(x, batch, 0, dim_size=size, reduce=self.pool_reduce)
        return self.lam(x) + self.gamma(ctx)[batch]

    def message(self, x_j: Tensor) -> Tensor:
        return x_j

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, aggr={self.pool_reduce!r})"


__all__ = ["DeepSetsLayer"]
