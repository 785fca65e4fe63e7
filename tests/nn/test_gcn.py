from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import SAGEMeanConv


def _pyg_twin(conv: SAGEMeanConv):
    """PyG's ``SAGEConv(aggr="mean")`` with the weights of ``conv`` (``lin_l`` = W plus the bias, ``lin_r`` = B)."""
    from torch_geometric.nn import SAGEConv

    ref = SAGEConv(conv.in_channels, conv.out_channels, aggr="mean")
    with torch.no_grad():
        ref.lin_l.weight.copy_(conv.lin_neigh.weight)
        ref.lin_l.bias.copy_(conv.lin_self.bias)
        ref.lin_r.weight.copy_(conv.lin_self.weight)
    return ref


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
    torch.manual_seed(3)
    x = torch.randn(6, 4)
    ei = torch.tensor([[1, 2, 0, 4, 5, 3], [0, 0, 1, 3, 3, 4]])  # node 2, 5 get no message
    for out_channels in (2, 7):  # both aggregation orders of SAGEMeanConv
        ours = SAGEMeanConv(4, out_channels, act=None)
        torch.testing.assert_close(ours(x, ei), _pyg_twin(ours)(x, ei))


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
    from torch_geometric.nn import HeteroConv
    from torch_geometric.utils import to_torch_coo_tensor

    torch.manual_seed(0)
    conv = SAGEMeanConv(4, 3, act=None)
    ref = _pyg_twin(conv)
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


def _weighted_adj_t(layout, num_dst=5, num_src=5):
    """A weighted ``adj_t[dst, src]``: weights 2, 0.5, -3, an explicit 0 and 1.7; rows 2 and 4 (targets
    without an incoming edge) empty."""
    index = torch.tensor([[0, 0, 1, 3, 3], [1, 2, 0, 4, 3]])
    adj_t = torch.sparse_coo_tensor(index, torch.tensor([2.0, 0.5, -3.0, 0.0, 1.7]), (num_dst, num_src)).coalesce()
    return {"coo": adj_t, "csr": adj_t.to_sparse_csr(), "csc": adj_t.to_sparse_csc()}[layout]


@pytest.mark.filterwarnings("ignore:Converting sparse tensor to CSR")  # PyG's spmm on COO / CSC
@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
@pytest.mark.parametrize("out_channels", [2, 7])  # both aggregation orders of SAGEMeanConv
def test_weighted_sparse_adj_t_equals_pyg_sageconv(layout, out_channels):
    """SAGEConv computes spmm(adj_t, x, reduce="mean"): the weighted sum over the stored entries of a row
    divided by their number (an explicit zero counts), zero for a row without entries."""
    torch.manual_seed(4)
    conv = SAGEMeanConv(4, out_channels, act=None)
    ref = _pyg_twin(conv)
    x = torch.randn(5, 4)
    adj_t = _weighted_adj_t(layout)
    torch.testing.assert_close(conv(x, adj_t), ref(x, adj_t))
    W, B = conv.lin_neigh, conv.lin_self
    out = conv(x, adj_t)
    torch.testing.assert_close(out[0], W((2.0 * x[1] + 0.5 * x[2]) / 2) + B(x[0]))
    torch.testing.assert_close(out[3], W((0.0 * x[4] + 1.7 * x[3]) / 2) + B(x[3]))
    torch.testing.assert_close(out[2], B(x[2]))  # no incoming edge: the self term only
    assert not torch.allclose(out, conv(x, _weighted_adj_t("coo").indices().flip(0)))  # weights used


@pytest.mark.filterwarnings("ignore:Converting sparse tensor to CSR")
@pytest.mark.parametrize("layout", ["coo", "csr"])
@pytest.mark.parametrize("out_channels", [2, 7])
def test_weighted_sparse_adj_t_bipartite_equals_pyg_sageconv(layout, out_channels):
    torch.manual_seed(5)
    conv = SAGEMeanConv(4, out_channels, act=None)
    ref = _pyg_twin(conv)
    x_src, x_dst = torch.randn(5, 4), torch.randn(4, 4)
    adj_t = _weighted_adj_t(layout, num_dst=4)  # (num_dst, num_src) = (4, 5)
    torch.testing.assert_close(conv((x_src, x_dst), adj_t), ref((x_src, x_dst), adj_t))
    out = conv((x_src, None), adj_t)  # the number of targets is read from adj_t, as PyG does
    assert out.shape == (4, out_channels)
    torch.testing.assert_close(out, ref((x_src, None), adj_t))
    with pytest.raises(InputShapeError, match="adj_t has shape"):
        conv((x_src, torch.randn(3, 4)), adj_t)


@pytest.mark.filterwarnings("ignore:Converting sparse tensor to CSR")
def test_weighted_adj_t_gradients_and_uncoalesced_coo_equal_pyg():
    torch.manual_seed(6)
    conv = SAGEMeanConv(4, 3, act=None)
    ref = _pyg_twin(conv)
    x = torch.randn(5, 4)
    grads = []
    for layer in (conv, ref):
        values = torch.tensor([2.0, 0.5, -3.0, 0.0, 1.7], requires_grad=True)
        adj_t = torch.sparse_coo_tensor(_weighted_adj_t("coo").indices(), values, (5, 5)).coalesce()
        layer(x, adj_t).square().sum().backward()
        grads.append(values.grad)
    torch.testing.assert_close(grads[0], grads[1])
    # Repeated entries of an uncoalesced COO tensor are one edge (summed weights), as in PyG's spmm.
    adj_t = torch.sparse_coo_tensor(torch.tensor([[0, 0, 0], [1, 1, 2]]), torch.tensor([2.0, 3.0, 1.0]), (5, 5))
    torch.testing.assert_close(conv(x, adj_t), ref(x, adj_t))
    assert not adj_t.is_coalesced()  # the input is left as it was (PyG's to_edge_index flags it)


def test_weighted_adj_t_of_another_float_dtype_keeps_the_layer_dtype():
    conv = SAGEMeanConv(4, 3).double()
    x = torch.randn(5, 4, dtype=torch.float64)
    out = conv(x, _weighted_adj_t("csr"))  # float32 weights
    assert out.dtype == torch.float64


def test_sparse_tensor_values_are_dropped_as_in_sageconv():
    torch_sparse = pytest.importorskip("torch_sparse")
    torch.manual_seed(7)
    conv = SAGEMeanConv(4, 3, act=None)
    x = torch.randn(5, 4)
    coo = _weighted_adj_t("coo")
    adj_t = torch_sparse.SparseTensor.from_torch_sparse_coo_tensor(coo)
    torch.testing.assert_close(conv(x, adj_t), _pyg_twin(conv)(x, adj_t))
    torch.testing.assert_close(conv(x, adj_t), conv(x, coo.indices().flip(0)))  # unweighted
