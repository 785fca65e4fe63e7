from __future__ import annotations

import pytest
import torch

from pgjets.nn import EdgeConvLayer


@pytest.mark.parametrize("aggr", ["max", "mean"])
def test_message_and_aggregation(aggr):
    torch.manual_seed(0)
    x = torch.randn(3, 2)
    ei = torch.tensor([[1, 2], [0, 0]])
    layer = EdgeConvLayer(in_channels=2, out_channels=4, aggr=aggr)
    out = layer(x, ei)
    msgs = layer.nn(torch.stack([torch.cat([x[0], x[j] - x[0]]) for j in (1, 2)]))
    ref = msgs.max(0).values if aggr == "max" else msgs.mean(0)
    torch.testing.assert_close(out[0], ref)


def test_translation_of_neighbour_offsets_and_equivariance():
    torch.manual_seed(1)
    x = torch.randn(5, 2)
    ei = torch.randint(0, 5, (2, 12))
    layer = EdgeConvLayer(in_channels=2, out_channels=3)
    perm = torch.randperm(5)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(5)
    torch.testing.assert_close(layer(x[perm], inv[ei]), layer(x, ei)[perm], atol=1e-6, rtol=1e-6)


def test_needs_sizes_without_nn():
    with pytest.raises(ValueError, match="in_channels"):
        EdgeConvLayer()
    with pytest.raises(ValueError, match="aggr"):
        EdgeConvLayer(in_channels=2, out_channels=2, aggr="sum")


def test_custom_nn_equivariance_within_graphs_and_checks(debug):
    from pgjets.errors import InputShapeError, NonFiniteError

    torch.manual_seed(2)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh())
    layer = EdgeConvLayer(mlp, aggr="mean")
    x = torch.randn(8, 3)
    ei = torch.tensor([[1, 2, 3, 0, 5, 6, 7, 4], [0, 0, 1, 2, 4, 4, 5, 6]])  # graphs {0..3}, {4..7}
    perm = torch.tensor([3, 1, 0, 2, 5, 7, 4, 6])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(8)
    out = layer(x, ei)
    assert out.shape == (8, 5)
    assert (layer(x[perm], inv[ei]) - out[perm]).abs().max() < 1e-5
    # node 3 has no incoming edge -> zero vector
    assert out[3].abs().sum() == 0
    with pytest.raises(InputShapeError, match="2-D"):
        layer(torch.randn(3), ei)
    with pytest.raises(InputShapeError, match="node"):
        layer(torch.randn(4, 3), ei)
    with pytest.raises(NonFiniteError):
        layer(torch.full((8, 3), float("nan")), ei)
    with pytest.raises(InputShapeError, match="features"):
        EdgeConvLayer(in_channels=2, out_channels=2)(torch.randn(8, 3), ei)
    with pytest.raises(TypeError):
        EdgeConvLayer(nn="mlp")
    empty = EdgeConvLayer(in_channels=3, out_channels=2)(torch.zeros(0, 3), torch.zeros(2, 0, dtype=torch.long))
    assert empty.shape == (0, 2)


def test_takes_pyg_edgeconv_arguments_positionally_and_any_callable():
    """``EdgeConvLayer(nn, "mean")`` as ``EdgeConv(nn, "mean")``; a plain function works as in PyG."""
    from torch_geometric.nn import EdgeConv

    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
    x = torch.randn(6, 2)
    ei = torch.tensor([[0, 1, 2, 3, 4, 5, 1], [1, 0, 3, 2, 5, 4, 2]])
    ours, theirs = EdgeConvLayer(mlp, "mean"), EdgeConv(mlp, "mean")
    torch.testing.assert_close(ours(x, ei), theirs(x, ei))
    fn = lambda h: h[:, :2] * 2.0  # noqa: E731
    torch.testing.assert_close(EdgeConvLayer(fn)(x, ei), EdgeConv(fn)(x, ei))
    EdgeConvLayer(fn).reset_parameters()


def test_bipartite_pairs_and_reset_of_a_single_module_as_pyg_edgeconv():
    from torch_geometric.nn import EdgeConv

    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 3)
    ours, ref = EdgeConvLayer(lin, "mean"), EdgeConv(lin, aggr="mean")
    x_src, x_dst = torch.randn(5, 4), torch.randn(3, 4)
    ei = torch.tensor([[0, 1, 4, 2, 3], [0, 0, 1, 2, 2]])
    torch.testing.assert_close(ours((x_src, x_dst), ei), ref((x_src, x_dst), ei))
    before = lin.weight.clone()
    ours.reset_parameters()
    assert not torch.equal(lin.weight, before)  # the Linear itself is reset, as PyG's reset(nn)


@pytest.mark.parametrize("aggr", ["max", "mean"])
@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
def test_weighted_sparse_adj_t_is_read_unweighted_as_pyg_edgeconv(aggr, layout):
    """PyG's EdgeConv does not use the values of a weighted adj_t (its message takes no weight): nor do we."""
    from torch_geometric.nn import EdgeConv

    from pgjets.errors import InputShapeError

    torch.manual_seed(1)
    lin = torch.nn.Linear(8, 3)
    ours, ref = EdgeConvLayer(lin, aggr), EdgeConv(lin, aggr=aggr)
    x_src, x_dst = torch.randn(5, 4), torch.randn(3, 4)
    ei = torch.tensor([[0, 1, 4, 2, 3], [0, 0, 1, 2, 2]])
    coo = torch.sparse_coo_tensor(ei.flip(0), torch.tensor([2.0, 0.5, -3.0, 0.0, 1.7]), (3, 5)).coalesce()
    adj_t = {"coo": coo, "csr": coo.to_sparse_csr(), "csc": coo.to_sparse_csc()}[layout]
    if layout != "csc":  # EdgeConv refuses CSC ("invalid layout"), EdgeConvLayer reads it as well
        torch.testing.assert_close(ours((x_src, x_dst), adj_t), ref((x_src, x_dst), adj_t))
    torch.testing.assert_close(ours((x_src, x_dst), adj_t), ours((x_src, x_dst), ei))
    with pytest.raises(InputShapeError, match="adj_t has shape"):
        ours((x_src, torch.randn(4, 4)), adj_t)
