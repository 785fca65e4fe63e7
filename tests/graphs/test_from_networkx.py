from __future__ import annotations

import networkx as nx
import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import FromNetworkx, networkx_to_graph


def path_with_attrs(n=4):
    g = nx.path_graph(n)
    for v in g:
        g.nodes[v]["f"] = [float(v), 1.0]
        g.nodes[v]["w"] = 2 * v
    for u, v in g.edges:
        g.edges[u, v]["d"] = float(u + v)
    return g


def test_attributes_stacked():
    d = networkx_to_graph(path_with_attrs(), node_attrs=["f", "w"], edge_attrs=["d"])
    assert d.x.shape == (4, 3) and d.x.dtype == torch.float32
    assert d.x[3].tolist() == [3.0, 1.0, 6.0]
    assert d.edge_index.shape == (2, 6)  # undirected: both directions
    src, dst = d.edge_index
    assert torch.equal(d.edge_attr[:, 0], (src + dst).float())


def test_no_attrs_directed_and_transform():
    g = nx.DiGraph([(0, 1), (1, 2)])
    d = networkx_to_graph(g)
    assert d.num_nodes == 3 and d.edge_index.tolist() == [[0, 1], [1, 2]]
    single = nx.Graph()
    single.add_node("a")
    assert networkx_to_graph(single).num_nodes == 1
    t = FromNetworkx(node_attrs="w")(path_with_attrs(3))
    assert t.x.view(-1).tolist() == [0.0, 2.0, 4.0]


def test_bad_input():
    with pytest.raises(EmptyGraphError):
        networkx_to_graph(nx.Graph())
    g = path_with_attrs()
    del g.nodes[2]["w"]
    with pytest.raises(InputShapeError, match="node 2 has no attribute 'w'"):
        networkx_to_graph(g, node_attrs=["w"])
    with pytest.raises(InputShapeError, match="no attribute 'zz'"):
        networkx_to_graph(path_with_attrs(), edge_attrs=["zz"])
    with pytest.raises(InputShapeError, match="no edges"):
        networkx_to_graph(nx.empty_graph(3), edge_attrs=["d"])
    with pytest.raises(InputShapeError, match="networkx graph"):
        networkx_to_graph([(0, 1)])
    g = path_with_attrs()
    g.nodes[1]["w"] = float("nan")
    with pytest.raises(NonFiniteError):
        networkx_to_graph(g, node_attrs=["w"])


def test_matches_pyg_from_networkx_on_karate_club():
    from torch_geometric.utils import from_networkx

    g = nx.karate_club_graph()
    for v in g:
        g.nodes[v]["w"] = [float(v), float(v % 3)]
    d = networkx_to_graph(g, node_attrs="w", edge_attrs="weight")
    ref = from_networkx(g, group_node_attrs=["w"], group_edge_attrs=["weight"])
    assert torch.equal(d.edge_index, ref.edge_index)
    assert torch.equal(d.x, ref.x.float()) and torch.equal(d.edge_attr, ref.edge_attr.float())
    assert d.edge_index.size(1) == 2 * g.number_of_edges()


def test_non_numeric_and_ragged_attributes():
    g = nx.path_graph(3)
    for v in g:
        g.nodes[v]["s"] = "abc"
        g.nodes[v]["f"] = [1.0] * (v + 1)
    with pytest.raises(InputShapeError, match="not a number"):
        networkx_to_graph(g, node_attrs=["s"])
    with pytest.raises(InputShapeError, match="2 values"):
        networkx_to_graph(g, node_attrs=["f"])


def test_transform_repr_names_its_attributes():
    from pgjets.graphs import FromNetworkx

    assert repr(FromNetworkx(node_attrs=["f"])) == "FromNetworkx(node_attrs=['f'], edge_attrs=None)"
