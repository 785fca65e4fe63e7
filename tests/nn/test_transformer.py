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


def _perturbed(module, seed=3):
    """Move every scale and norm off its initial value, so that each one acts."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return module


def test_normformer_block_matches_its_definition_on_both_paths():
    from pgjets.nn.transformer import ChannelScale, HeadScaleNorm

    torch.manual_seed(4)
    x, batch, ei = setup((4, 2, 6))
    blk = _perturbed(TransformerBlock(16, heads=4, normformer=True)).eval()
    assert isinstance(blk.attn_out, HeadScaleNorm) and isinstance(blk.resid_scale, ChannelScale)
    assert isinstance(blk.ff[3], torch.nn.LayerNorm) and blk.ff[3].normalized_shape == (64,)
    # 4 head scales + 2 * 16 (norm after attention) + 2 * 64 (norm after the activation) + 16 (residual scale)
    plain = TransformerBlock(16, heads=4)
    assert sum(p.numel() for p in blk.parameters()) - sum(p.numel() for p in plain.parameters()) == 180
    gamma = blk.attn_out.scale.repeat_interleave(4)  # head h owns channels 4h..4h+3
    h = x + blk.attn_out.norm(gamma * blk.attn(blk.norm1(x), ei))
    ff = blk.ff[4](blk.ff[3](torch.nn.functional.gelu(blk.ff[0](blk.norm2(h)))))
    ref = blk.resid_scale.weight * h + ff
    torch.testing.assert_close(blk(x, ei), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(blk(x, batch=batch, dense=True), ref, atol=1e-5, rtol=1e-5)
    from torch_geometric.utils import to_dense_batch

    dense, mask = to_dense_batch(x, batch)
    torch.testing.assert_close(blk.forward_padded(dense, mask)[mask], ref, atol=1e-5, rtol=1e-5)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(2), 6 + torch.randperm(6)])
    assert (blk(x[perm], batch=batch, dense=True) - ref[perm]).abs().max() < 1e-5
    blk.reset_parameters()
    assert torch.equal(blk.attn_out.scale, torch.ones(4)) and torch.equal(blk.resid_scale.weight, torch.ones(16))
    assert "normformer=True" in repr(blk)


def test_normformer_off_keeps_the_seeded_plain_block():
    torch.manual_seed(5)
    a = TransformerBlock(16, heads=4)
    torch.manual_seed(5)
    b = TransformerBlock(16, heads=4, normformer=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert isinstance(a.attn_out, torch.nn.Identity) and len(a.ff) == 4
