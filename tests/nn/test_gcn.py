from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import SAGEMeanConv


def test_matches_formula_and_isolated_nodes():
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    ei = torch.tensor([[1, 2, 0], [0, 0, 1]])  # 1->0, 2->0, 0->1; node 3 isolated
    layer = SAGEMeanConv(3, 5, act=None)
    out = layer(x, ei)
    W, B = layer.lin_neigh, layer.lin_self
    torch.testing.assert_close(out[0], W((x[1] + x[2]) / 2) + B(x[0]))
    torch.testing.assert_close(out[1], W(x[0]) + B(x[1]))
    torch.testing.assert_close(out[3], B(x[3]))


def test_equivariance():
    torch.manual_seed(1)
    x = torch.randn(6, 3)
    ei = torch.randint(0, 6, (2, 15))
    layer = SAGEMeanConv(3, 4)
    perm = torch.randperm(6)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(6)
    torch.testing.assert_close(layer(x[perm], inv[ei]), layer(x, ei)[perm], atol=1e-6, rtol=1e-6)


def test_bad_input(debug):
    layer = SAGEMeanConv(3, 4)
    with pytest.raises(InputShapeError):
        layer(torch.randn(4, 2), torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(NonFiniteError):
        layer(torch.full((2, 3), float("nan")), torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="act"):
        SAGEMeanConv(3, 4, act="tanh")


@pytest.mark.parametrize("out_channels", [2, 6])  # both projection orders (project-then-mean / mean-then-project)
def test_matches_dense_formula_on_batched_graphs(out_channels):
    torch.manual_seed(2)
    x = torch.randn(7, 4)
    ei = torch.tensor([[0, 1, 2, 4, 5, 6, 6], [1, 0, 0, 5, 4, 4, 5]])  # two graphs, node 3 isolated
    layer = SAGEMeanConv(4, out_channels)
    adj = torch.zeros(7, 7)
    adj[ei[1], ei[0]] = 1.0
    deg = adj.sum(1, keepdim=True).clamp_min(1)
    ref = torch.relu(layer.lin_neigh((adj / deg) @ x) + layer.lin_self(x))
    torch.testing.assert_close(layer(x, ei), ref, atol=1e-5, rtol=1e-5)
    # permute within each graph
    perm = torch.tensor([2, 0, 1, 3, 6, 4, 5])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(7)
    assert (layer(x[perm], inv[ei]) - layer(x, ei)[perm]).abs().max() < 1e-5


def test_edge_index_checks_and_empty_graph(debug):
    layer = SAGEMeanConv(3, 4)
    with pytest.raises(InputShapeError, match="node"):
        layer(torch.randn(2, 3), torch.tensor([[0], [2]]))
    with pytest.raises(InputShapeError, match="2, num_edges"):
        layer(torch.randn(2, 3), torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(InputShapeError, match="integer"):
        layer(torch.randn(2, 3), torch.zeros(2, 1))
    assert layer(torch.zeros(0, 3), torch.zeros(2, 0, dtype=torch.long)).shape == (0, 4)


def test_equals_pyg_sageconv_mean_without_activation():
    from torch_geometric.nn import SAGEConv

    torch.manual_seed(3)
    x = torch.randn(6, 4)
    ei = torch.tensor([[1, 2, 0, 4, 5, 3], [0, 0, 1, 3, 3, 4]])  # node 2, 5 get no message
    for out_channels in (2, 7):  # both aggregation orders of SAGEMeanConv
        ours = SAGEMeanConv(4, out_channels, act=None)
        pyg = SAGEConv(4, out_channels, aggr="mean")
        with torch.no_grad():
            pyg.lin_l.weight.copy_(ours.lin_neigh.weight)
            pyg.lin_l.bias.copy_(ours.lin_self.bias)
            pyg.lin_r.weight.copy_(ours.lin_self.weight)
        torch.testing.assert_close(ours(x, ei), pyg(x, ei))


def test_deprecated_alias_warns_and_works():
    from pgjets.nn import GCNLayer

    torch.manual_seed(0)
    x, ei = torch.randn(4, 3), torch.tensor([[1, 2, 0], [0, 0, 1]])
    with pytest.warns(DeprecationWarning, match="SAGEMeanConv"):
        old = GCNLayer(3, 4)
    new = SAGEMeanConv(3, 4)
    new.load_state_dict(old.state_dict())
    assert isinstance(old, SAGEMeanConv)
    torch.testing.assert_close(old(x, ei), new(x, ei))


def test_bipartite_pairs_sparse_adjacency_and_heteroconv_as_sageconv():
    from torch_geometric.nn import HeteroConv, SAGEConv
    from torch_geometric.utils import to_torch_coo_tensor

    torch.manual_seed(0)
    conv, ref = SAGEMeanConv(4, 3, act=None), SAGEConv(4, 3, aggr="mean")
    with torch.no_grad():
        ref.lin_l.weight.copy_(conv.lin_neigh.weight)
        ref.lin_l.bias.copy_(conv.lin_self.bias)
        ref.lin_r.weight.copy_(conv.lin_self.weight)
    x_src, x_dst = torch.randn(5, 4), torch.randn(3, 4)
    ei = torch.tensor([[0, 1, 4, 2, 3], [0, 0, 1, 2, 2]])
    torch.testing.assert_close(conv((x_src, x_dst), ei), ref((x_src, x_dst), ei))
    torch.testing.assert_close(conv((x_src, None), ei, size=(5, 3)), ref((x_src, None), ei, size=(5, 3)))
    x = torch.randn(5, 4)
    adj_t = to_torch_coo_tensor(ei.flip(0), size=(5, 5))  # adj_t[dst, src]
    torch.testing.assert_close(conv(x, adj_t), ref(x, ei))
    hetero = HeteroConv({("a", "to", "b"): SAGEMeanConv(4, 3)})
    out = hetero({"a": x_src, "b": x_dst}, {("a", "to", "b"): ei})
    assert out["b"].shape == (3, 3)
