from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import EdgeConvBlock
from pgjets.ops import knn_graph, torch_cluster_available

BACKENDS = ["torch"] + (["torch_cluster"] if torch_cluster_available() else [])


def jets(sizes, f=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    return torch.randn(batch.numel(), f, generator=g), torch.randn(batch.numel(), 2, generator=g), batch


@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_paths_equal_reference(backend):
    torch.manual_seed(0)
    x, pos, batch = jets([20, 30, 17])
    conv = EdgeConvBlock(5, (16, 16, 8), k=4).eval()
    ei = knn_graph(pos, 4, batch, backend=backend)
    fast = conv.propagate_edges(x, ei, fast=True)
    ref = conv.propagate_edges(x, ei, fast=False)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    # Straightforward concatenated-edge-feature formula for the first layer
    xi, xj = x[ei[1]], x[ei[0]]
    w = torch.cat([conv.lin_center.weight, conv.lin_diff.weight], 1)
    torch.testing.assert_close(conv.edge_mlp_first(x, ei), torch.cat([xi, xj - xi], 1) @ w.t(), atol=1e-5, rtol=1e-5)


def test_small_graphs_use_scatter_path_and_match():
    torch.manual_seed(1)
    x, pos, batch = jets([2, 3, 30])
    conv = EdgeConvBlock(5, (8,), k=8).eval()
    out = conv(x, pos, batch)
    ref = conv.propagate_edges(x, knn_graph(pos, 8, batch), fast=False)
    torch.testing.assert_close(out, ref)
    assert out.shape == (35, 8) and (out >= 0).all()


def test_permutation_equivariance():
    torch.manual_seed(2)
    x, pos, batch = jets([12, 9])
    conv = EdgeConvBlock(5, (16, 16), k=3).eval()
    perm = torch.cat([torch.randperm(12), 12 + torch.randperm(9)])
    out = conv(x, pos, batch)
    out_p = conv(x[perm], pos[perm], batch)
    torch.testing.assert_close(out_p, out[perm], atol=1e-5, rtol=1e-5)


def test_graph_built_in_feature_space_without_pos():
    torch.manual_seed(3)
    x, _, batch = jets([10, 10])
    conv = EdgeConvBlock(5, (8,), k=3).eval()
    ref = conv.propagate_edges(x, knn_graph(x, 3, batch), fast=False)
    torch.testing.assert_close(conv(x, batch=batch), ref)


def test_trains_and_gradients_flow():
    x, pos, batch = jets([10, 12])
    conv = EdgeConvBlock(5, (8, 8), k=4)
    conv(x, pos, batch).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in conv.parameters())


def test_bad_input(debug):
    conv = EdgeConvBlock(5, (8,), k=3)
    with pytest.raises(InputShapeError, match="2-D"):
        conv(torch.randn(5))
    with pytest.raises(InputShapeError, match="features"):
        conv(torch.randn(4, 3))
    bad = torch.randn(4, 5)
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        conv(bad)
    with pytest.raises(ValueError, match="aggr"):
        EdgeConvBlock(5, aggr="sum")


def test_reshape_path_requires_sorted_targets():
    torch.manual_seed(4)
    x, pos, batch = jets([10, 10])
    conv = EdgeConvBlock(5, (8,), k=3).eval()
    ei = knn_graph(pos, 3, batch)
    shuffled = ei[:, torch.randperm(ei.size(1))]
    assert conv._uniform_k(ei[1], 20) and not conv._uniform_k(shuffled[1], 20)
    torch.testing.assert_close(conv.propagate_edges(x, shuffled), conv.propagate_edges(x, ei, fast=False),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("aggr", ["mean", "max"])
def test_matches_explicit_formula(aggr):
    torch.manual_seed(5)
    x, pos, batch = jets([6, 7])
    conv = EdgeConvBlock(5, (4, 3), k=2, aggr=aggr).eval()
    ei = knn_graph(pos, 2, batch)
    out = conv(x, pos, batch)
    for i in (0, 9):
        nbrs = ei[0][ei[1] == i]
        e = torch.cat([x[i].expand(len(nbrs), 5), x[nbrs] - x[i]], 1)
        h = torch.relu(conv.norms[0](e @ torch.cat([conv.lin_center.weight, conv.lin_diff.weight], 1).t()))
        h = torch.relu(conv.norms[1](conv.lins[0](h)))
        agg = h.mean(0) if aggr == "mean" else h.max(0).values
        ref = torch.relu(agg + conv.shortcut_norm(conv.shortcut(x[i:i + 1]))[0])
        torch.testing.assert_close(out[i], ref, atol=1e-5, rtol=1e-5)


def test_tiny_graphs_pos_checks_and_empty(debug):
    conv = EdgeConvBlock(5, (4,), k=16)
    x, pos, batch = jets([1, 2, 5])
    out = conv(x, pos, batch)  # training mode, fewer than k+1 nodes everywhere
    assert out.shape == (8, 4) and torch.isfinite(out).all()
    with pytest.raises(InputShapeError, match="rows"):
        conv(x, pos[:3], batch)
    bad = pos.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(NonFiniteError):
        conv(x, bad, batch)
    assert conv(torch.zeros(0, 5)).shape == (0, 4)
    with pytest.raises(ValueError, match="channels"):
        EdgeConvBlock(5, (4, 0))


@pytest.mark.parametrize("aggr,cosine,pad", [("max", False, False), ("mean", True, False), ("mean", False, True),
                                            ("max", False, True)])
def test_forward_padded_equals_forward(aggr, cosine, pad):
    from torch_geometric.utils import to_dense_batch

    torch.manual_seed(0)
    conv = EdgeConvBlock(5, channels=(8, 6), k=3, aggr=aggr, cosine=cosine, pad_neighbours=pad)
    conv.train()
    counts = torch.tensor([6, 2, 1, 9])
    batch = torch.repeat_interleave(torch.arange(4), counts)
    x = torch.randn(int(counts.sum()), 5)
    conv(x, batch=batch)  # non-trivial batch-norm statistics
    conv.eval()
    xd, mask = to_dense_batch(x, batch)
    with torch.no_grad():
        ref = conv(x, batch=batch)  # kNN in feature space
        out = conv.forward_padded(xd, mask)
    assert out.shape == (4, 9, 6)
    torch.testing.assert_close(out[mask], ref, atol=1e-5, rtol=1e-4)


def test_deprecated_alias_warns_and_works():
    from pgjets.nn import DynamicEdgeConv

    x, pos, batch = jets([6, 5])
    with pytest.warns(DeprecationWarning, match="EdgeConvBlock"):
        old = DynamicEdgeConv(5, (8,), k=3).eval()
    new = EdgeConvBlock(5, (8,), k=3).eval()
    new.load_state_dict(old.state_dict())  # same parameters: old checkpoints load
    assert isinstance(old, EdgeConvBlock)
    torch.testing.assert_close(old(x, pos, batch), new(x, pos, batch))
    with pytest.warns(DeprecationWarning), pytest.raises(TypeError, match="torch_geometric.nn.DynamicEdgeConv"):
        DynamicEdgeConv(torch.nn.Linear(10, 4), k=4)  # PyG's signature: a clear pointer, not int(Module)


def test_a_batch_vector_of_the_wrong_length_is_a_typed_error():
    from pgjets.errors import InputShapeError

    x, pos, batch = jets([6, 5])
    with pytest.raises(InputShapeError, match="batch"):
        EdgeConvBlock(5, (8,), k=3)(x, pos, batch[:-1])


@pytest.mark.parametrize("aggr", ["mean", "max"])
def test_pad_neighbours_counts_missing_neighbours_as_zero_features(aggr):
    # weaver's padded kNN: a node with d < k neighbours also takes k - d padding slots of features 0
    torch.manual_seed(7)
    k = 4
    x, pos, batch = jets([1, 2, 4, 5, 9])
    conv = EdgeConvBlock(5, (6, 3), k=k, aggr=aggr, pad_neighbours=True)
    conv(x, pos, batch)  # training mode runs: non-trivial batch-norm statistics
    conv.eval()
    plain = EdgeConvBlock(5, (6, 3), k=k, aggr=aggr)
    plain.load_state_dict(conv.state_dict())
    plain.eval()
    ei = knn_graph(pos, k, batch)
    with torch.no_grad():
        out, without = conv(x, pos, batch), plain(x, pos, batch)
        torch.testing.assert_close(conv.propagate_edges(x, ei, fast=False), out, atol=1e-6, rtol=1e-5)
        w = torch.cat([conv.lin_center.weight, conv.lin_diff.weight], 1)

        def messages(xi, xj):
            h = torch.relu(conv.norms[0](torch.cat([xi, xj - xi], 1) @ w.t()))
            return torch.relu(conv.norms[1](conv.lins[0](h)))

        sc = conv.shortcut_norm(conv.shortcut(x))
        for i in range(x.size(0)):
            nbrs = ei[0][ei[1] == i]
            xj = torch.cat([x[nbrs], torch.zeros(k - len(nbrs), 5)])  # the missing ones: features 0
            h = messages(x[i].expand(k, 5), xj)
            agg = h.mean(0) if aggr == "mean" else h.max(0).values
            torch.testing.assert_close(out[i], torch.relu(agg + sc[i]), atol=1e-6, rtol=1e-5)
    # jets of more than k particles (the last two): the same as without padding
    big = batch >= 3
    torch.testing.assert_close(out[big], without[big], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(out[~big], without[~big], atol=1e-3)
    # a batch where every node has k neighbours: bit for bit the same (the reshape path, no padding)
    x2, pos2, batch2 = jets([6, 9], seed=3)
    with torch.no_grad():
        assert torch.equal(conv(x2, pos2, batch2), plain(x2, pos2, batch2))
    assert "pad_neighbours=True" in repr(conv) and "pad_neighbours" not in repr(plain)


def test_pad_neighbours_trains():
    torch.manual_seed(8)
    x, pos, batch = jets([1, 3, 7])
    conv = EdgeConvBlock(5, (6, 3), k=4, pad_neighbours=True)
    x.requires_grad_(True)
    out = conv(x, pos, batch)
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    # a lone particle has no edges, but its padding messages reach the edge MLP's first map
    conv.eval()
    conv.zero_grad()
    conv(torch.randn(5, 5), torch.randn(5, 2), torch.arange(5)).sum().backward()
    assert conv.lin_diff.weight.grad.abs().sum() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in conv.parameters())
