from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn.dynamic_edge_conv import DynamicEdgeConv
from pgjets.nn.knn import knn_graph, torch_cluster_available

BACKENDS = ["torch"] + (["torch_cluster"] if torch_cluster_available() else [])


def jets(sizes, f=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    return torch.randn(batch.numel(), f, generator=g), torch.randn(batch.numel(), 2, generator=g), batch


@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_paths_equal_reference(backend):
    torch.manual_seed(0)
    x, pos, batch = jets([20, 30, 17])
    conv = DynamicEdgeConv(5, (16, 16, 8), k=4).eval()
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
    conv = DynamicEdgeConv(5, (8,), k=8).eval()
    out = conv(x, pos, batch)
    ref = conv.propagate_edges(x, knn_graph(pos, 8, batch), fast=False)
    torch.testing.assert_close(out, ref)
    assert out.shape == (35, 8) and (out >= 0).all()


def test_permutation_equivariance():
    torch.manual_seed(2)
    x, pos, batch = jets([12, 9])
    conv = DynamicEdgeConv(5, (16, 16), k=3).eval()
    perm = torch.cat([torch.randperm(12), 12 + torch.randperm(9)])
    out = conv(x, pos, batch)
    out_p = conv(x[perm], pos[perm], batch)
    torch.testing.assert_close(out_p, out[perm], atol=1e-5, rtol=1e-5)


def test_graph_built_in_feature_space_without_pos():
    torch.manual_seed(3)
    x, _, batch = jets([10, 10])
    conv = DynamicEdgeConv(5, (8,), k=3).eval()
    ref = conv.propagate_edges(x, knn_graph(x, 3, batch), fast=False)
    torch.testing.assert_close(conv(x, batch=batch), ref)


def test_trains_and_gradients_flow():
    x, pos, batch = jets([10, 12])
    conv = DynamicEdgeConv(5, (8, 8), k=4)
    conv(x, pos, batch).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in conv.parameters())


def test_bad_input():
    conv = DynamicEdgeConv(5, (8,), k=3)
    with pytest.raises(InputShapeError, match="2-D"):
        conv(torch.randn(5))
    with pytest.raises(InputShapeError, match="features"):
        conv(torch.randn(4, 3))
    bad = torch.randn(4, 5)
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        conv(bad)
    with pytest.raises(ValueError, match="aggr"):
        DynamicEdgeConv(5, aggr="sum")
