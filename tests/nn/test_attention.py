from __future__ import annotations

import math

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn.attention import MultiHeadAttention, local_positions


def full_edges(batch, self_loops=True):
    same = batch[:, None] == batch[None, :]
    if not self_loops:
        same.fill_diagonal_(False)
    tgt, src = same.nonzero().t()
    return torch.stack([src, tgt])


def setup(sizes=(5, 3, 7), c=16, seed=0):
    torch.manual_seed(seed)
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    return torch.randn(batch.numel(), c), batch


def dense_bias_from_edges(bias, ei, batch, heads):
    from torch_geometric.utils import to_dense_batch

    _, mask = to_dense_batch(torch.zeros(batch.numel(), 1), batch)
    B, N = mask.shape
    loc = local_positions(batch)
    out = torch.zeros(B, heads, N, N)
    out[batch[ei[1]], :, loc[ei[1]], loc[ei[0]]] = bias
    return out


def test_single_head_matches_explicit_softmax():
    x, batch = setup((4,), c=4)
    att = MultiHeadAttention(4, heads=1, bias=False).eval()
    out = att(x, full_edges(batch))
    q, k, v = att.q(x), att.k(x), att.v(x)
    ref = att.out(torch.softmax(q @ k.t() / 2.0, -1) @ v)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("with_bias", [False, True])
def test_dense_path_equals_sparse_path(with_bias):
    x, batch = setup()
    att = MultiHeadAttention(16, heads=4).eval()
    ei = full_edges(batch)
    bias = torch.randn(ei.size(1), 4) if with_bias else None
    sparse = att(x, ei, attn_bias=bias)
    dense = att(x, batch=batch, dense=True,
                dense_bias=dense_bias_from_edges(bias, ei, batch, 4) if with_bias else None)
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)


def test_pair_bias_changes_output_and_edge_attr_bias():
    x, batch = setup()
    ei = full_edges(batch)
    att = MultiHeadAttention(16, heads=4, edge_dim=3).eval()
    ea = torch.randn(ei.size(1), 3)
    a = att(x, ei, edge_attr=ea)
    b = att(x, ei, edge_attr=torch.zeros_like(ea))
    assert (a - b).abs().max() > 1e-3
    with pytest.raises(ValueError, match="edge_attr"):
        att(x, ei)


def test_permutation_equivariance():
    x, batch = setup()
    att = MultiHeadAttention(16, heads=4).eval()
    perm = torch.cat([torch.randperm(5), 5 + torch.randperm(3), 8 + torch.randperm(7)])
    out = att(x, full_edges(batch), )
    out_p = att(x[perm], full_edges(batch))
    torch.testing.assert_close(out_p, out[perm], atol=1e-5, rtol=1e-5)


def test_causal_mask_sparse_and_dense_match_explicit():
    x, batch = setup((6,), c=8)
    att = MultiHeadAttention(8, heads=1, bias=False).eval()
    ei = full_edges(batch)
    sparse = att(x, ei, causal=True, batch=batch)
    dense = att(x, batch=batch, dense=True, causal=True)
    q, k, v = att.q(x), att.k(x), att.v(x)
    s = q @ k.t() / math.sqrt(8)
    s = s.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    ref = att.out(torch.softmax(s, -1) @ v)
    torch.testing.assert_close(sparse, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dense, ref, atol=1e-5, rtol=1e-5)


def test_edge_mask_equals_removing_edges():
    x, batch = setup()
    att = MultiHeadAttention(16, heads=2).eval()
    ei = full_edges(batch)
    mask = torch.rand(ei.size(1)) > 0.3
    mask[ei[0] == ei[1]] = True
    torch.testing.assert_close(att(x, ei, edge_mask=mask), att(x, ei[:, mask]))


def test_cross_attention_shapes_and_weights():
    torch.manual_seed(0)
    src, dst = torch.randn(7, 8), torch.randn(2, 8)
    ei = torch.stack([torch.arange(7), torch.tensor([0, 0, 0, 1, 1, 1, 1])])
    att = MultiHeadAttention(8, heads=2)
    out, alpha = att((src, dst), ei, return_attention=True)
    assert out.shape == (2, 8) and alpha.shape == (7, 2)
    torch.testing.assert_close(alpha[:3].sum(0), torch.ones(2))
    torch.testing.assert_close(alpha[3:].sum(0), torch.ones(2))


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, heads=3)
    att = MultiHeadAttention(8, heads=2)
    x, batch = setup((3,), c=8)
    with pytest.raises(InputShapeError, match="channels"):
        att(torch.randn(3, 5), full_edges(batch))
    with pytest.raises(NonFiniteError):
        att(torch.full((3, 8), float("nan")), full_edges(batch))
    with pytest.raises(InputShapeError, match="attn_bias"):
        att(x, full_edges(batch), attn_bias=torch.zeros(2, 2))
