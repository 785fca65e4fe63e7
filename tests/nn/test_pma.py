from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import ClassAttentionPool, PMAPool

SIZES = (3, 6, 1, 4)


def setup(c=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(SIZES)])
    return torch.randn(batch.numel(), c, generator=g), batch


def pools():
    torch.manual_seed(0)
    return [PMAPool(16, heads=4, num_seeds=2).eval(), ClassAttentionPool(16, heads=4, num_blocks=2).eval()]


@pytest.mark.parametrize("i", [0, 1])
def test_permutation_invariant_and_no_leak(i):
    pool = pools()[i]
    x, batch = setup()
    out = pool(x, batch)
    assert out.shape == (4, 32 if i == 0 else 16)
    starts = torch.tensor([0, 3, 9, 10])
    perm = torch.cat([s + torch.randperm(n) for s, n in zip(starts.tolist(), SIZES)])
    assert (pool(x[perm], batch) - out).abs().max() < 1e-5
    for g, (s, n) in enumerate(zip(starts.tolist(), SIZES)):
        alone = pool(x[s:s + n])
        assert (alone[0] - out[g]).abs().max() < 1e-5
    torch.testing.assert_close(pool(x, ptr=torch.tensor([0, 3, 9, 10, 14])), out)
    torch.testing.assert_close(pool(x, index=batch, dim_size=4), out)
    # an extra empty graph does not change the others
    assert (pool(x, batch, dim_size=5)[:4] - out).abs().max() < 1e-6
    # the output depends on the nodes
    assert (pool(x + torch.randn_like(x), batch) - out).abs().max() > 1e-4


def test_pma_reference_and_layout():
    torch.manual_seed(1)
    pool = PMAPool(8, heads=2, num_seeds=3).eval()
    x = torch.randn(5, 8)
    a = pool.attn
    q = a.lin_q(pool.seeds).view(3, 2, 4).transpose(0, 1)
    k = a.lin_k(x).view(5, 2, 4).transpose(0, 1)
    v = a.lin_v(x).view(5, 2, 4).transpose(0, 1)
    att = torch.softmax(q @ k.transpose(1, 2) / 2.0, -1) @ v  # (2, 3, 4)
    h = pool.norm1(pool.seeds + a.lin_out(att.transpose(0, 1).reshape(3, 8)))
    ref = pool.norm2(h + pool.ff(h))
    torch.testing.assert_close(pool(x), ref.reshape(1, 24), atol=1e-5, rtol=1e-5)
    pool.flatten = False
    assert pool(x, torch.zeros(5, dtype=torch.long)).shape == (1, 3, 8)


def test_gradients_reach_parameters():
    pool = pools()[1]
    x, batch = setup()
    pool(x, batch).sum().backward()
    assert pool.cls.grad is not None and pool.cls.grad.abs().sum() > 0


def test_bad_input(debug):
    pma, cap = pools()
    x, batch = setup()
    with pytest.raises(ValueError, match="divisible"):
        PMAPool(10, heads=4)
    with pytest.raises(ValueError):
        PMAPool(16, heads=4, num_seeds=0)
    for pool in (pma, cap):
        with pytest.raises(InputShapeError, match="channels"):
            pool(torch.randn(4, 8))
        with pytest.raises(InputShapeError):
            pool(x, batch[:-1])
        with pytest.raises(InputShapeError):
            pool(x, batch, dim_size=2)
        bad = x.clone()
        bad[1, 1] = float("nan")
        with pytest.raises(NonFiniteError):
            pool(bad, batch)


def test_forward_padded_equals_forward_with_an_empty_graph():
    from pgjets.nn import ClassAttentionPool

    torch.manual_seed(0)
    x = torch.randn(3, 4, 8)
    mask = torch.tensor([[True, True, True, False], [False] * 4, [True] * 4])
    batch = torch.tensor([0, 0, 0, 2, 2, 2, 2])
    pma = PMAPool(8, heads=2, num_seeds=2).eval()
    cap = ClassAttentionPool(8, heads=2, num_blocks=2).eval()
    with torch.no_grad():
        torch.testing.assert_close(pma.forward_padded(x, mask), pma(x[mask], batch, dim_size=3),
                                   atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(cap.forward_padded(x, mask), cap(x[mask], batch, dim_size=3),
                                   atol=1e-5, rtol=1e-4)


def test_part_style_class_attention_raw_query_and_normformer():
    from pgjets.nn.transformer import HeadScaleNorm

    torch.manual_seed(2)
    cap = ClassAttentionPool(8, heads=2, num_blocks=2, query_norm=False, normformer=True)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in cap.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    cap.eval()
    blk = cap.blocks[0]
    assert isinstance(blk["norm_q"], torch.nn.Identity) and isinstance(blk["attn_out"], HeadScaleNorm)
    x = torch.randn(5, 8)
    # one block written out: the raw token queries LN_kv([x, c]); NormFormer output and feed-forward
    c = cap.cls
    src = blk["norm_kv"](torch.cat([x, c], 0))
    a = blk["attn"]
    q = a.lin_q(c).view(1, 2, 4).transpose(0, 1)
    k = a.lin_k(src).view(6, 2, 4).transpose(0, 1)
    v = a.lin_v(src).view(6, 2, 4).transpose(0, 1)
    att = a.lin_out((torch.softmax(q @ k.transpose(1, 2) / 2.0, -1) @ v).transpose(0, 1).reshape(1, 8))
    c = c + blk["attn_out"](att)
    ff = blk["ff"]
    c = blk["resid_scale"].weight * c + ff[4](ff[3](torch.nn.functional.gelu(ff[0](blk["norm_ff"](c)))))
    cap.blocks = cap.blocks[:1]
    with torch.no_grad():
        torch.testing.assert_close(cap(x), c, atol=1e-5, rtol=1e-5)
        xs = torch.randn(3, 4, 8)
        mask = torch.tensor([[True, True, True, False], [False] * 4, [True] * 4])
        batch = torch.tensor([0, 0, 0, 2, 2, 2, 2])
        torch.testing.assert_close(cap.forward_padded(xs, mask), cap(xs[mask], batch, dim_size=3),
                                   atol=1e-5, rtol=1e-4)
