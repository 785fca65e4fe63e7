r"""NetworkX graphs to PyG ``Data``.

A checked conversion in the spirit of :func:`torch_geometric.utils.from_networkx`: nodes
are relabelled :math:`0 \dots N-1` in iteration order, an undirected graph
gives both directions of every edge,

.. math::
    \mathcal{E} = \{(u \to v), (v \to u) : \{u, v\} \in E(G)\},

and the requested attributes are stacked column-wise into ``x`` and
``edge_attr``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from .._checks import check_finite, check_nonempty
from ..errors import InputShapeError


def _column(items: Sequence[tuple[Any, dict]], key: str, what: str) -> np.ndarray:
    """Stack attribute ``key`` of every item into a ``(len(items), width)`` float array."""
    rows = []
    width = None
    for item, attrs in items:
        if key not in attrs:
            raise InputShapeError(f"{what} {item!r} has no attribute {key!r}")
        try:
            row = np.asarray(attrs[key], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise InputShapeError(
                f"{what} {item!r}: attribute {key!r} = {attrs[key]!r} is not a number or a "
                f"vector of numbers"
            ) from exc
        if width is None:
            width = row.size
        elif row.size != width:
            raise InputShapeError(
                f"{what} attribute {key!r} has {row.size} values at {item!r} but {width} at the "
                f"first {what}"
            )
        rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, 0))


def _features(items: Sequence[tuple[Any, dict]], keys: Sequence[str], what: str) -> Tensor:
    cols = [_column(items, key, what) for key in keys]
    x = torch.from_numpy(np.concatenate(cols, axis=1)).to(torch.get_default_dtype())
    check_finite(x, f"{what} attributes")
    return x


def networkx_to_graph(
    g: Any,
    node_attrs: Optional[Sequence[str]] = None,
    edge_attrs: Optional[Sequence[str]] = None,
) -> Data:
    r"""A NetworkX graph to ``Data``.

    .. math::
        \mathbf{x}_v = \big[\,g.\text{nodes}[v][a]\,\big]_{a \in
        \text{node\_attrs}}, \qquad
        \mathbf{e}_{uv} = \big[\,g.\text{edges}[u, v][a]\,\big]_{a \in
        \text{edge\_attrs}}

    Nodes are numbered in ``g.nodes`` order.  An undirected graph gives both
    directions of each edge, in the order of ``g.to_directed().edges`` (the
    order :func:`torch_geometric.utils.from_networkx` uses).  Without
    ``node_attrs`` and ``edge_attrs`` the conversion is
    :func:`torch_geometric.utils.from_networkx` (every attribute kept under
    its own name); with either, only the requested attributes are stacked
    (numbers or fixed-length vectors, cast to float) and the others are
    ignored.

    Args:
        g: ``networkx.Graph``, ``DiGraph`` (or a multigraph).
        node_attrs: Node attribute names stacked column-wise into ``x``.
        edge_attrs: Edge attribute names stacked column-wise into
            ``edge_attr``.

    Raises:
        EmptyGraphError: ``g`` has no nodes.
        InputShapeError: ``g`` is not a NetworkX graph; a node/edge lacks a
            requested attribute, holds a non-numeric one or vectors of
            different lengths; ``edge_attrs`` on a graph without edges.
        NonFiniteError: ``x`` or ``edge_attr`` holds NaN or inf.

    Shapes:
        - **output:** ``x`` :math:`(N, F)`, ``edge_index`` :math:`(2, E)`
          (:math:`E = 2|E(G)|` when undirected), ``edge_attr`` :math:`(E, F_e)`
          with :math:`F` (:math:`F_e`) the summed widths of the attributes
    """
    import networkx as nx

    if not isinstance(g, nx.Graph):
        raise InputShapeError(f"g must be a networkx graph, got {type(g).__name__}")
    check_nonempty(g.number_of_nodes(), "networkx graph")
    node_attrs = [node_attrs] if isinstance(node_attrs, str) else node_attrs
    edge_attrs = [edge_attrs] if isinstance(edge_attrs, str) else edge_attrs
    if edge_attrs and g.number_of_edges() == 0:
        raise InputShapeError(f"edge_attrs {list(edge_attrs)} requested but the graph has no edges")
    if not node_attrs and not edge_attrs:
        from torch_geometric.utils import from_networkx

        data = from_networkx(g)
        data.num_nodes = g.number_of_nodes()
        return data

    index = {node: i for i, node in enumerate(g.nodes)}
    directed = g if g.is_directed() else g.to_directed()
    edges = [(e[0], e[1], e[-1]) for e in directed.edges(data=True)]
    edge_index = torch.tensor(
        [[index[u] for u, _, _ in edges], [index[v] for _, v, _ in edges]], dtype=torch.long
    ).view(2, -1)
    data = Data(edge_index=edge_index, num_nodes=g.number_of_nodes())
    if node_attrs:
        data.x = _features(list(g.nodes(data=True)), node_attrs, "node")
    if edge_attrs:
        data.edge_attr = _features([((u, v), d) for u, v, d in edges], edge_attrs, "edge")
    return data


class FromNetworkx(BaseTransform):
    r"""Transform a NetworkX graph into ``Data`` (see :func:`networkx_to_graph`).

    .. math::
        \mathcal{E} = \{(u \to v) : (u, v) \in E(G)\} \text{ (directed } G\text{)}, \qquad
        \mathcal{E} = \{(u \to v), (v \to u) : \{u, v\} \in E(G)\} \text{ (undirected } G\text{)}

    Args:
        node_attrs: Node attributes stacked into ``x``.
        edge_attrs: Edge attributes stacked into ``edge_attr``.

    Shapes:
        - **output:** ``Data`` as returned by :func:`networkx_to_graph`
    """

    def __init__(self, node_attrs: Optional[Sequence[str]] = None,
                 edge_attrs: Optional[Sequence[str]] = None) -> None:
        self.node_attrs = node_attrs
        self.edge_attrs = edge_attrs

    def forward(self, data: Any) -> Data:
        return networkx_to_graph(data, self.node_attrs, self.edge_attrs)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(node_attrs={self.node_attrs}, edge_attrs={self.edge_attrs})"


__all__ = ["networkx_to_graph", "FromNetworkx"]
