from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import TransformerBlock


def setup(sizes=(3, 5), c=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
    same = batch[:, None] == batch[None, :]
    dst, src = same.nonzero().t()
    return torch.randn(batch.numel(), c, generator=g), batch, torch.stack([src, dst])


def test_block_structure_matches_definition():
    torch.manual_seed(0)
    x, batch, ei = setup()
    blk = TransformerBlock(16, heads=4).eval()
    assert blk.ff[0].out_features == 64
    assert TransformerBlock(16, heads=4, ff_channels=20).ff[0].out_features == 20
    h = x + blk.attn(blk.norm1(x), ei)
    ref = h + blk.ff[3](torch.nn.functional.gelu(blk.ff[0](blk.norm2(h))))
    torch.testing.assert_close(blk(x, ei), ref, atol=1e-6, rtol=1e-5)


def test_sparse_equals_dense_and_equivariance():
    torch.manual_seed(1)
    x, batch, ei = setup((4, 2, 6))
    blk = TransformerBlock(16, heads=4).eval()
    out = blk(x, ei)
    assert out.shape == x.shape
    torch.testing.assert_close(blk(x, batch=batch, dense=True), out, atol=1e-5, rtol=1e-5)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(2), 6 + torch.randperm(6)])
    assert (blk(x[perm], batch=batch, dense=True) - out[perm]).abs().max() < 1e-5


def test_pairwise_bias_passes_through():
    torch.manual_seed(2)
    x, batch, ei = setup()
    blk = TransformerBlock(16, heads=4, edge_dim=3).eval()
    ea = torch.randn(ei.size(1), 3)
    out = blk(x, ei, edge_attr=ea)
    assert (blk(x, ei, edge_attr=2 * ea) - out).abs().max() > 1e-4
    torch.testing.assert_close(blk(x, ei, edge_attr=ea, batch=batch, dense=True), out, atol=1e-5, rtol=1e-5)
    plain = TransformerBlock(16, heads=4).eval()
    bias = torch.randn(ei.size(1), 4)
    assert (plain(x, ei, attn_bias=bias) - plain(x, ei)).abs().max() > 1e-4


def test_bad_input(debug):
    x, batch, ei = setup()
    with pytest.raises(ValueError, match="divisible"):
        TransformerBlock(15, heads=4)
    blk = TransformerBlock(16, heads=4)
    with pytest.raises(InputShapeError):
        blk(torch.randn(8, 8), ei)
    bad = x.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(NonFiniteError):
        blk(bad, ei)
