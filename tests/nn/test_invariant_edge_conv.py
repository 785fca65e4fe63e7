from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.utils import to_dense_batch

from pgjets.errors import InputShapeError
from pgjets.nn import InvariantEdgeConv
from pgjets.nn.invariant_edge_conv import invariant_edge_features


def points(counts=(9, 4, 12), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    n = sum(counts)
    pos = torch.randn(n, 2, generator=g, dtype=dtype) * 0.3
    pt = torch.rand(n, generator=g, dtype=dtype) * 40 + 0.5
    batch = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    return pos, pt, batch


def block(knn_on="pos", f=3, seed=0):
    torch.manual_seed(seed)
    conv = InvariantEdgeConv(f, (8, 6), k=3, knn_on=knn_on).double()
    pos, pt, batch = points(seed=seed + 5)
    conv.train()
    conv(torch.randn(pos.size(0), f, dtype=torch.float64), pos, pt, batch)
    return conv.eval()


def test_edge_features_values():
    e = invariant_edge_features(torch.tensor([[0.0, 0.0]]), torch.tensor([[0.3, 0.4]]),
                                torch.tensor([10.0]), torch.tensor([30.0]))
    expected = torch.tensor([[0.5, math.log(0.5), math.log(3.0), 0.25, math.log(5.0)]])
    torch.testing.assert_close(e, expected)


@pytest.mark.parametrize("knn_on", ["pos", "features"])
def test_rotation_translation_and_permutation_invariance(knn_on):
    conv = block(knn_on)
    pos, pt, batch = points(seed=1)
    h = torch.randn(pos.size(0), 3, dtype=torch.float64)  # invariant node inputs: they stay fixed
    c, s = math.cos(0.9), math.sin(0.9)
    rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    with torch.no_grad():
        ref = conv(h, pos, pt, batch)
        moved = conv(h, pos @ rot.t() + torch.tensor([0.4, -1.1], dtype=torch.float64), pt, batch)
        perm = torch.cat([torch.randperm(9), 9 + torch.randperm(4), 13 + torch.randperm(12)])
        permuted = conv(h[perm], pos[perm], pt[perm], batch)
    assert (moved - ref).abs().max() < 1e-10
    assert (permuted - ref[perm]).abs().max() < 1e-10


def test_padded_path_equals_graph_path():
    for knn_on in ("pos", "features"):
        conv = block(knn_on)
        pos, pt, batch = points(counts=(9, 2, 1, 6), seed=2)
        h = torch.randn(pos.size(0), 3, dtype=torch.float64)
        with torch.no_grad():
            ref = conv(h, pos, pt, batch)
            hd, mask = to_dense_batch(h, batch, max_num_nodes=12)
            pd, _ = to_dense_batch(pos, batch, max_num_nodes=12)
            ptd, _ = to_dense_batch(pt, batch, max_num_nodes=12)
            out = conv.forward_padded(hd, pd, ptd, mask)
        torch.testing.assert_close(out[mask], ref)


def test_isolated_node_and_bad_input():
    conv = InvariantEdgeConv(2, (4,), k=2)
    conv.train()
    out = conv(torch.randn(1, 2), torch.zeros(1, 2), torch.ones(1))  # one particle: shortcut only
    assert out.shape == (1, 4) and torch.isfinite(out).all()
    with pytest.raises(InputShapeError, match="pos"):
        conv(torch.randn(3, 2), torch.zeros(3, 3), torch.ones(3))
    with pytest.raises(InputShapeError, match="pt"):
        conv(torch.randn(3, 2), torch.zeros(3, 2), torch.ones(3, 1))
    with pytest.raises(ValueError, match="knn_on"):
        InvariantEdgeConv(2, (4,), knn_on="eta")
    assert "knn_on='pos'" in repr(conv)
