from __future__ import annotations

import torch

from pgjets.nn.transformer import TransformerBlock


def test_block_dense_equals_sparse_and_is_equivariant():
    torch.manual_seed(0)
    batch = torch.tensor([0] * 4 + [1] * 6)
    same = batch[:, None] == batch[None, :]
    tgt, src = same.nonzero().t()
    ei = torch.stack([src, tgt])
    x = torch.randn(10, 16)
    blk = TransformerBlock(16, heads=4).eval()
    out = blk(x, ei)
    torch.testing.assert_close(out, blk(x, batch=batch, dense=True), atol=1e-5, rtol=1e-5)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    torch.testing.assert_close(blk(x[perm], ei), out[perm], atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert all(p.grad is not None for p in blk.parameters() if p.requires_grad)
