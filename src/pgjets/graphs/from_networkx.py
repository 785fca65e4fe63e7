r"""NetworkX graphs to PyG ``Data``.

A thin, checked wrapper of :func:`torch_geometric.utils.from_networkx`: nodes
are relabelled :math:`0 \dots N-1` in iteration order, an undirected graph
gives both directions of every edge,

.. math::
    \mathcal{E} = \{(u \to v), (v \to u) : \{u, v\} \in E(G)\},

and the requested attributes are stacked column-wise into ``x`` and
``edge_attr``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from .._checks import check_finite, check_nonempty
from ..errors import InputShapeError


def _check_attrs(items: Any, attrs: Sequence[str], what: str) -> None:
    for key in attrs:
        for item, data in items:
            if key not in data:
                raise InputShapeError(f"{what} {item!r} has no attribute {key!r}")


def networkx_to_graph(
    g: Any,
    node_attrs: Optional[Sequence[str]] = None,
    edge_attrs: Optional[Sequence[str]] = None,
) -> Data:
    r"""A NetworkX graph to ``Data``.

    .. math::
        \mathbf{x}_v = \big[\,g.\text{nodes}[v][a]\,\big]_{a \in
        \text{node\_attrs}}

    Args:
        g: ``networkx.Graph`` or ``DiGraph``.
        node_attrs: Node attribute names stacked into ``x`` (numbers or
            equal-length vectors; cast to float); ``None`` keeps every attribute under its own
            name.
        edge_attrs: Edge attribute names stacked into ``edge_attr``.

    Raises:
        EmptyGraphError: ``g`` has no nodes.
        InputShapeError: ``g`` is not a NetworkX graph, or a node/edge lacks a
            requested attribute.
        NonFiniteError: ``x`` or ``edge_attr`` holds NaN or inf.

    Shapes:
        - **output:** ``x`` :math:`(N, |\text{node\_attrs}|)`, ``edge_index``
          :math:`(2, E)` (:math:`E = 2|E(G)|` when undirected),
          ``edge_attr`` :math:`(E, |\text{edge\_attrs}|)`
    """
    import networkx as nx
    if not isinstance(g, nx.Graph):
        raise InputShapeError(f"g must be a networkx graph, got {type(g).__name__}")
    check_nonempty(g.number_of_nodes(), "networkx graph")
    node_attrs = [node_attrs] if isinstance(node_attrs, str) else node_attrs
    edge_attrs = [edge_attrs] if isinstance(edge_attrs, str) else edge_attrs
    if node_attrs:
        _check_attrs(g.nodes(data=True), node_attrs, "node")
    if edge_attrs:
        if g.number_of_edges() == 0:
            raise InputShapeError(f"edge_attrs {list(edge_attrs)} requested but the graph has no edges")
        _check_attrs(((e[:2], e[-1]) for e in g.edges(data=True)), edge_attrs, "edge")
    from torch_geometric.utils import from_networkx

    try:
        data = from_networkx(g, group_node_attrs=list(node_attrs) if node_attrs else None,
                             group_edge_attrs=list(edge_attrs) if edge_attrs else None)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise InputShapeError(f"cannot convert the networkx graph: {exc}") from exc
    if node_attrs:
        data.x = data.x.view(data.num_nodes, -1).to(torch.get_default_dtype())
        check_finite(data.x, "node attributes")
    if edge_attrs:
        data.edge_attr = data.edge_attr.view(data.edge_index.size(1), -1).to(torch.get_default_dtype())
        check_finite(data.edge_attr, "edge attributes")
    data.num_nodes = g.number_of_nodes()
    return data


class FromNetworkx(BaseTransform):
    r"""Transform a NetworkX graph into ``Data`` (see :func:`networkx_to_graph`).

    .. math::
        \mathcal{E} = \{(u \to v) : (u, v) \in E(G)\}

    Args:
        node_attrs: Node attributes stacked into ``x``.
        edge_attrs: Edge attributes stacked into ``edge_attr``.
    """

    def __init__(self, node_attrs: Optional[Sequence[str]] = None,
                 edge_attrs: Optional[Sequence[str]] = None) -> None:
        self.node_attrs = node_attrs
        self.edge_attrs = edge_attrs

    def forward(self, data: Any) -> Data:
        return networkx_to_graph(data, self.node_attrs, self.edge_attrs)


__all__ = ["networkx_to_graph", "FromNetworkx"]
