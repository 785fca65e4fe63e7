from __future__ import annotations

import pytest
import torch

from pgjets.nn.pma import ClassAttentionPool, PMAPool


@pytest.mark.parametrize("pool_cls", [lambda: PMAPool(16, heads=4, num_seeds=2), lambda: ClassAttentionPool(16, 4, 2)])
def test_invariant_and_no_padding_leak(pool_cls):
    torch.manual_seed(0)
    pool = pool_cls().eval()
    sizes = [5, 1, 9]
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    x = torch.randn(batch.numel(), 16)
    out = pool(x, batch)
    perm = torch.cat([torch.randperm(5), torch.tensor([5]), 6 + torch.randperm(9)])
    torch.testing.assert_close(pool(x[perm], batch), out, atol=1e-5, rtol=1e-5)
    alone = pool(x[6:], None)
    torch.testing.assert_close(alone[0], out[2], atol=1e-5, rtol=1e-5)


def test_shapes():
    x = torch.randn(10, 8)
    b = torch.tensor([0] * 4 + [1] * 6)
    assert PMAPool(8, 2, num_seeds=3)(x, b).shape == (2, 24)
    assert ClassAttentionPool(8, 2)(x, b).shape == (2, 8)
