from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from pgjets.errors import EmptyGraphError, InputShapeError
from pgjets.graphs import images_to_batch
from pgjets.nn import (
    EdgeConvBlock, EnergyFlowPool, SAGEMeanConv, GraphNet, GridConv, GridPool, EdgeHead, GraphHead, NodeHead,
)


def test_routes_arguments_by_name_and_matches_manual_stack():
    torch.manual_seed(0)
    ei = torch.tensor([[0, 1], [1, 2]])
    b = Batch.from_data_list([Data(x=torch.randn(5, 3), pos=torch.randn(5, 2), edge_index=ei) for _ in range(2)])
    conv, lin, head = SAGEMeanConv(3, 4), nn.Linear(4, 4), GraphHead(4, 2)
    net = GraphNet([conv, lin], head).eval()
    manual = head(lin(conv(b.x, b.edge_index)), b.batch)
    torch.testing.assert_close(net(b), manual)
    assert net.embed(b).shape == (10, 4)
    assert net.encode(b)["num_graphs"] == 2


def test_pooling_layers_update_the_graph_state():
    b = images_to_batch(torch.rand(2, 1, 4, 4))
    net = GraphNet([GridConv(1, 3), GridPool(2)], NodeHead(3, 1))
    out = net(b)
    assert out.shape == (2 * 2 * 2, 1)  # two 2x2 coarse grids


def test_dynamic_layers_receive_pos_and_batch():
    b = Batch.from_data_list([Data(x=torch.randn(6, 3), pos=torch.randn(6, 2)) for _ in range(3)])
    net = GraphNet([EdgeConvBlock(3, (8,), k=2)], GraphHead(8, 2))
    assert net(b).shape == (3, 2)


def _two_graphs(seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    return Batch.from_data_list([
        Data(x=torch.randn(4, 3, generator=g), pos=torch.randn(4, 2, generator=g), pt=torch.rand(4, generator=g) + 1,
             edge_index=ei, edge_attr=torch.randn(4, 2, generator=g))
        for _ in range(2)])


def test_activation_and_plain_modules_and_head_routing():
    torch.manual_seed(0)
    b = _two_graphs()
    conv, lin = SAGEMeanConv(3, 4), nn.Linear(4, 4)
    net = GraphNet([conv, lin], nn.Linear(4, 1), activation=torch.tanh)
    manual = net.head(torch.tanh(lin(torch.tanh(conv(b.x, b.edge_index)))))
    torch.testing.assert_close(net(b), manual)
    # an EdgeHead gets edge_index and edge_attr
    edge_net = GraphNet([conv], EdgeHead(4, 3, edge_dim=2))
    assert edge_net(b).shape == (b.edge_index.size(1), 3)
    # a GraphHead with EnergyFlowPool gets pt
    efn = GraphNet([lin.__class__(3, 4)], GraphHead(4, 2, EnergyFlowPool()))
    assert efn(b).shape == (2, 2)


def test_aggregation_layers_get_index_and_dim_size():
    class Pool(nn.Module):
        def forward(self, x, index=None, dim_size=None):
            return torch.zeros(dim_size, x.size(1)).index_add_(0, index, x)

    b = _two_graphs()
    net = GraphNet([], Pool())
    torch.testing.assert_close(net(b), torch.stack([b.x[:4].sum(0), b.x[4:].sum(0)]))


def test_layers_returning_data_update_the_state_and_stale_pt_is_dropped():
    class KeepFirstHalf(nn.Module):
        def forward(self, x, batch):
            keep = torch.arange(0, x.size(0), 2)
            return Data(x=x[keep] * 2, batch=batch[keep])

    b = _two_graphs()
    net = GraphNet([KeepFirstHalf()], GraphHead(3, 2, "sum"))
    state = net.encode(b)
    torch.testing.assert_close(state["x"], b.x[::2] * 2)
    assert state["pt"] is None and state["edge_index"] is None
    with pytest.raises(InputShapeError, match="pt"):
        GraphNet([KeepFirstHalf()], GraphHead(3, 2, EnergyFlowPool()))(b)

    class NoBatch(nn.Module):
        def forward(self, x):
            return Data(x=x[:2])

    with pytest.raises(InputShapeError, match="batch"):
        GraphNet([NoBatch()], NodeHead(3, 1))(b)


def test_bad_layers_and_bad_data():
    b = _two_graphs()
    with pytest.raises(InputShapeError, match="edge_index"):
        GraphNet([SAGEMeanConv(3, 4)], NodeHead(4, 1))(Batch.from_data_list([Data(x=torch.randn(3, 3))]))

    class NeedsFoo(nn.Module):
        def forward(self, x, foo):
            return x

    with pytest.raises(ValueError, match="foo"):
        GraphNet([NeedsFoo()], NodeHead(3, 1))
    with pytest.raises(ValueError, match="nn.Module"):
        GraphNet([lambda x: x], NodeHead(3, 1))  # type: ignore[list-item]
    with pytest.raises(InputShapeError, match="x"):
        GraphNet([], NodeHead(3, 1))(Data(pos=torch.randn(3, 2)))
    with pytest.raises(EmptyGraphError):
        GraphNet([], NodeHead(3, 1))(Data(x=torch.zeros(0, 3)))

    class ReturnsString(nn.Module):
        def forward(self, x):
            return "oops"

    with pytest.raises(TypeError, match="str"):
        GraphNet([ReturnsString()], NodeHead(3, 1))(b)


def test_single_data_without_batch():
    torch.manual_seed(0)
    d = Data(x=torch.randn(5, 3), edge_index=torch.tensor([[0, 1], [1, 2]]))
    net = GraphNet([SAGEMeanConv(3, 4)], GraphHead(4, 2))
    assert net(d).shape == (1, 2)
    assert net.embed(d).shape == (5, 4)


def test_reset_parameters_resets_every_layer_and_the_head():
    torch.manual_seed(0)
    net = GraphNet([SAGEMeanConv(3, 4), nn.Sequential(nn.Linear(4, 4), nn.ReLU())], GraphHead(4, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.reset_parameters()
    weights = [k for k, p in net.named_parameters() if p.dim() > 1]
    assert len(weights) == 5  # two in the conv, the Linear inside Sequential, two in the head's MLP
    assert all(not torch.equal(net.state_dict()[k], before[k]) for k in weights)


def test_a_deep_sets_layer_gets_edge_index_when_the_graph_has_edges():
    """As the module docstring says: by-name routing hands DeepSetsLayer the kNN edges."""
    from pgjets.nn import DeepSetsLayer

    torch.manual_seed(0)
    layer = DeepSetsLayer(3, 4)
    ei = torch.tensor([[1, 0], [0, 2]])
    with_edges = Batch.from_data_list([Data(x=torch.randn(3, 3), edge_index=ei)])
    net = GraphNet([layer], NodeHead(4, 1))
    torch.testing.assert_close(net.embed(with_edges), layer(with_edges.x, with_edges.batch, edge_index=ei))
    without = Batch.from_data_list([Data(x=with_edges.x)])
    torch.testing.assert_close(net.embed(without), layer(with_edges.x, with_edges.batch))
    assert not torch.allclose(net.embed(with_edges), net.embed(without))
