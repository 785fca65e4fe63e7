from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from pgjets.graphs.image import images_to_batch
from pgjets.nn.dynamic_edge_conv import DynamicEdgeConv
from pgjets.nn.gcn import GCNLayer
from pgjets.nn.graph_net import GraphNet
from pgjets.nn.grid_conv import GridConv
from pgjets.nn.grid_pool import GridPool
from pgjets.nn.heads import GraphHead, NodeHead


def test_routes_arguments_by_name_and_matches_manual_stack():
    torch.manual_seed(0)
    b = Batch.from_data_list([Data(x=torch.randn(5, 3), pos=torch.randn(5, 2), edge_index=torch.tensor([[0, 1], [1, 2]]))
                              for _ in range(2)])
    conv, lin, head = GCNLayer(3, 4), nn.Linear(4, 4), GraphHead(4, 2)
    net = GraphNet([conv, lin], head).eval()
    manual = head(lin(conv(b.x, b.edge_index)), b.batch)
    torch.testing.assert_close(net(b), manual)
    state = net.embed(b)
    assert state["x"].shape == (10, 4)


def test_pooling_layers_update_the_graph_state():
    b = images_to_batch(torch.rand(2, 1, 4, 4))
    net = GraphNet([GridConv(1, 3), GridPool(2)], NodeHead(3, 1))
    out = net(b)
    assert out.shape == (2 * 2 * 2, 1)  # two 2x2 coarse grids


def test_dynamic_layers_receive_pos_and_batch():
    b = Batch.from_data_list([Data(x=torch.randn(6, 3), pos=torch.randn(6, 2)) for _ in range(3)])
    net = GraphNet([DynamicEdgeConv(3, (8,), k=2)], GraphHead(8, 2))
    assert net(b).shape == (3, 2)
