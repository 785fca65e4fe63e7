from __future__ import annotations

import math

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import MultiHeadAttention
from pgjets.nn.attention import dense_attention_mask


def batch_of(sizes):
    return torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])


def full_edges(batch, loops=True):
    """Fully connected edges within each graph (source j -> target i)."""
    same = batch[:, None] == batch[None, :]
    if not loops:
        same &= ~torch.eye(batch.numel(), dtype=torch.bool)
    dst, src = same.nonzero().t()
    return torch.stack([src, dst])


def setup(sizes=(3, 5), c=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = batch_of(sizes)
    return torch.randn(batch.numel(), c, generator=g), batch


def reference(m, x_src, x_dst, edge_index, bias=None):
    """Explicit loop over targets and heads."""
    H, D = m.heads, m.head_dim
    q = m.lin_q(x_dst).view(-1, H, D)
    k = m.lin_k(x_src).view(-1, H, D)
    v = m.lin_v(x_src).view(-1, H, D)
    out = torch.zeros(x_dst.size(0), H, D)
    for i in range(x_dst.size(0)):
        sel = (edge_index[1] == i).nonzero().view(-1)
        if sel.numel() == 0:
            continue
        j = edge_index[0, sel]
        for h in range(H):
            s = (k[j, h] @ q[i, h]) / math.sqrt(D)
            if bias is not None:
                s = s + bias[sel, h]
            w = torch.exp(s - s.max())
            w = w / w.sum()
            out[i, h] = (w[:, None] * v[j, h]).sum(0)
    return m.lin_out(out.view(x_dst.size(0), -1))


@pytest.mark.parametrize("heads", [1, 4])
def test_matches_hand_written_reference(heads):
    torch.manual_seed(1)
    x, batch = setup()
    ei = full_edges(batch, loops=False)
    m = MultiHeadAttention(16, heads=heads).eval()
    bias = torch.randn(ei.size(1), heads)
    torch.testing.assert_close(m(x, ei), reference(m, x, x, ei), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m(x, ei, attn_bias=bias), reference(m, x, x, ei, bias), atol=1e-5, rtol=1e-5)


def test_single_head_explicit_softmax():
    torch.manual_seed(2)
    x = torch.randn(4, 8)
    ei = full_edges(torch.zeros(4, dtype=torch.long))
    m = MultiHeadAttention(8, heads=1).eval()
    q, k, v = m.lin_q(x), m.lin_k(x), m.lin_v(x)
    att = torch.softmax(q @ k.t() / math.sqrt(8), dim=-1)
    torch.testing.assert_close(m(x, ei), m.lin_out(att @ v), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("with_bias", [False, True])
def test_dense_equals_sparse_on_fully_connected_graph(with_bias):
    torch.manual_seed(3)
    x, batch = setup((3, 6, 1, 4))
    ei = full_edges(batch)
    m = MultiHeadAttention(16, heads=4).eval()
    if not with_bias:
        sparse = m(x, ei)
        torch.testing.assert_close(m(x, batch=batch, dense=True), sparse, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(m(x, ei, batch=batch, dense=True), sparse, atol=1e-5, rtol=1e-5)
        return
    bias = torch.randn(ei.size(1), 4)
    sparse = m(x, ei, attn_bias=bias)
    torch.testing.assert_close(m(x, ei, attn_bias=bias, batch=batch, dense=True), sparse, atol=1e-5, rtol=1e-5)
    # the same bias as a dense (B, H, N, N) tensor
    pos = torch.cat([torch.arange(s) for s in (3, 6, 1, 4)])
    dense_bias = torch.zeros(4, 4, 6, 6)
    dense_bias[batch[ei[1]], :, pos[ei[1]], pos[ei[0]]] = bias
    torch.testing.assert_close(m(x, batch=batch, dense=True, dense_bias=dense_bias), sparse, atol=1e-5, rtol=1e-5)


def test_dense_needs_self_loops_to_match():
    torch.manual_seed(4)
    x, batch = setup()
    m = MultiHeadAttention(16, heads=4).eval()
    no_loops = m(x, full_edges(batch, loops=False))
    assert (m(x, batch=batch, dense=True) - no_loops).abs().max() > 1e-3
    # with edge_index the dense path follows the edges, loops or not
    torch.testing.assert_close(m(x, full_edges(batch, loops=False), batch=batch, dense=True), no_loops,
                               atol=1e-5, rtol=1e-5)


def test_dense_with_edge_features_and_isolated_node():
    torch.manual_seed(5)
    x, batch = setup((4, 3))
    ei = full_edges(batch, loops=False)
    ei = ei[:, ei[1] != 2]  # node 2 has no incoming edge
    ea = torch.randn(ei.size(1), 3)
    m = MultiHeadAttention(16, heads=2, edge_dim=3).eval()
    xs = x.clone().requires_grad_(True)
    sparse = m(xs, ei, edge_attr=ea)
    dense = m(xs, ei, edge_attr=ea, batch=batch, dense=True)
    torch.testing.assert_close(dense, sparse, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sparse[2], m.lin_out.bias)  # empty sum -> output bias
    dense.sum().backward()
    assert torch.isfinite(xs.grad).all()


def test_permutation_equivariance():
    torch.manual_seed(6)
    x, batch = setup((4, 5))
    ei = full_edges(batch, loops=False)
    ea = torch.randn(ei.size(1), 2)
    m = MultiHeadAttention(16, heads=4, edge_dim=2).eval()
    out = m(x, ei, edge_attr=ea)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(5)])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    out_p = m(x[perm], inv[ei], edge_attr=ea)
    assert (out_p - out[perm]).abs().max() < 1e-5
    m2 = MultiHeadAttention(16, heads=4).eval()
    out_d = m2(x[perm], batch=batch, dense=True)
    assert (out_d - m2(x, batch=batch, dense=True)[perm]).abs().max() < 1e-5


def test_cross_attention_shapes_and_reference(debug):
    torch.manual_seed(7)
    x_src, x_dst = torch.randn(5, 8), torch.randn(3, 12)
    ei = torch.tensor([[0, 1, 2, 3, 4, 4, 0], [0, 0, 1, 1, 1, 2, 2]])
    m = MultiHeadAttention((8, 12), heads=3, out_channels=4).eval()
    out, alpha = m((x_src, x_dst), ei, return_attention=True)
    assert out.shape == (3, 4) and alpha.shape == (7, 3)
    torch.testing.assert_close(out, reference(m, x_src, x_dst, ei), atol=1e-5, rtol=1e-5)
    sums = torch.zeros(3, 3).index_add_(0, ei[1], alpha)
    torch.testing.assert_close(sums, torch.ones(3, 3))
    with pytest.raises(InputShapeError, match="source nodes"):
        m((x_src, x_dst), torch.tensor([[5], [0]]))
    with pytest.raises(ValueError, match="dense"):
        m((x_src, x_dst), ei, dense=True)


def test_causal_mask_against_explicit_computation():
    torch.manual_seed(8)
    sizes = (3, 4)
    x, batch = setup(sizes)
    ei = full_edges(batch)
    m = MultiHeadAttention(16, heads=2).eval()
    out = m(x, ei, causal=True, batch=batch)
    pos = torch.cat([torch.arange(s) for s in sizes])
    keep = pos[ei[0]] <= pos[ei[1]]
    torch.testing.assert_close(out, reference(m, x, x, ei[:, keep]), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m(x, ei, causal=True, ptr=torch.tensor([0, 3, 7])), out)
    torch.testing.assert_close(m(x, batch=batch, dense=True, causal=True), out, atol=1e-5, rtol=1e-5)
    # the first node of each graph only sees itself
    _, alpha = m(x, ei, causal=True, batch=batch, return_attention=True)
    assert bool((alpha[~keep] == 0).all())
    first = (ei[1] == 3) & keep
    torch.testing.assert_close(alpha[first], torch.ones(1, 2))
    with pytest.raises(ValueError, match="causal"):
        m((x, x), ei, causal=True, batch=batch)


def test_edge_mask_equals_removing_edges_and_bias_matters():
    torch.manual_seed(9)
    x, batch = setup()
    ei = full_edges(batch)
    m = MultiHeadAttention(16, heads=4, edge_dim=2).eval()
    ea = torch.randn(ei.size(1), 2)
    mask = torch.rand(ei.size(1)) > 0.3
    torch.testing.assert_close(m(x, ei, edge_attr=ea, edge_mask=mask), m(x, ei[:, mask], edge_attr=ea[mask]))
    base = m(x, ei, edge_attr=ea)
    assert (m(x, ei, edge_attr=ea * 3) - base).abs().max() > 1e-4
    assert (m(x, ei, edge_attr=ea, attn_bias=torch.randn(ei.size(1), 4)) - base).abs().max() > 1e-4


def test_bad_input(debug):
    x, batch = setup()
    ei = full_edges(batch)
    m = MultiHeadAttention(16, heads=4)
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(10, heads=4)
    with pytest.raises(ValueError):
        MultiHeadAttention(16, heads=0)
    with pytest.raises(InputShapeError, match="channels"):
        m(torch.randn(8, 12), ei)
    with pytest.raises(InputShapeError):
        m(x[0], ei)
    bad = x.clone()
    bad[2, 3] = float("nan")
    with pytest.raises(NonFiniteError):
        m(bad, ei)
    with pytest.raises(InputShapeError):
        m(x, ei.t())
    with pytest.raises(InputShapeError):
        m(x, ei.float())
    with pytest.raises(InputShapeError, match="target nodes"):
        m(x, torch.tensor([[0], [8]]))
    with pytest.raises(InputShapeError, match="attn_bias"):
        m(x, ei, attn_bias=torch.randn(ei.size(1), 3))
    with pytest.raises(NonFiniteError):
        m(x, ei, attn_bias=torch.full((ei.size(1), 4), float("nan")))
    with pytest.raises(InputShapeError, match="edge_mask"):
        m(x, ei, edge_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="edge_dim"):
        m(x, ei, edge_attr=torch.randn(ei.size(1), 2))
    with pytest.raises(ValueError, match="edge_attr"):
        MultiHeadAttention(16, 4, edge_dim=2)(x, ei)
    with pytest.raises(InputShapeError, match="edge_attr"):
        MultiHeadAttention(16, 4, edge_dim=2)(x, ei, edge_attr=torch.randn(ei.size(1), 3))
    with pytest.raises(ValueError, match="edge_index"):
        m(x)
    with pytest.raises(InputShapeError, match="dense_bias"):
        m(x, batch=batch, dense=True, dense_bias=torch.zeros(2, 4, 3, 3))
    with pytest.raises(InputShapeError, match="sorted"):
        m(x, batch=batch.flip(0), dense=True)
    with pytest.raises(ValueError, match="sparse"):
        m(x, batch=batch, dense=True, return_attention=True)


@pytest.mark.parametrize("with_bias", [False, True])
def test_shared_dense_mask_equals_per_layer_bias(with_bias):
    # the mask built once (dense_attention_mask) gives the same outputs and gradients as
    # dense_bias passed to each layer, including a graph without nodes in the middle
    torch.manual_seed(3)
    batch = torch.tensor([0, 0, 0, 2, 2, 3, 3, 3, 3, 3])
    x = torch.randn(10, 8, requires_grad=True)
    layers = [MultiHeadAttention(8, heads=2) for _ in range(2)]
    bias0 = torch.randn(4, 2, 5, 5) if with_bias else None

    def run(shared: bool):
        bias = None if bias0 is None else bias0.clone().requires_grad_(True)
        h = x
        mask = dense_attention_mask(batch, bias) if shared else None
        for m in layers:
            h = m(h, batch=batch, dense=True, dense_mask=mask) if shared else m(
                h, batch=batch, dense=True, dense_bias=bias)
        grads = torch.autograd.grad(h.square().sum(), [x] + ([bias] if bias is not None else []))
        return h, grads

    _assert_same_outputs_and_grads(run)
    mask = dense_attention_mask(batch, bias0)
    assert bool(torch.isinf(mask.mask[0, :, :, 3:]).all()) and bool(mask.empty[1])
    with pytest.raises(InputShapeError, match="dense_mask"):
        layers[0](x[:5], batch=batch[:5], dense=True, dense_mask=mask)
    with pytest.raises(ValueError, match="dense_mask"):
        layers[0](x, batch=batch, dense=True, dense_mask=mask, dense_bias=torch.zeros(4, 2, 5, 5))


def _assert_same_outputs_and_grads(run):
    """``run(variant)`` gives ``(output, grads)``: the variant (True) equals the reference (False)."""
    out_ref, g_ref = run(False)
    out, g = run(True)
    torch.testing.assert_close(out, out_ref, atol=1e-6, rtol=1e-6)
    assert len(g) == len(g_ref)
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("train", [False, True])
def test_chunked_dense_mask_equals_whole_mask(with_bias, train):
    # the mask split into groups of graphs (DenseMask.chunks): attention group by group gives
    # the same outputs and gradients as the whole mask, in training mode with the same dropout
    torch.manual_seed(4)
    batch = torch.tensor([0, 0, 0, 2, 2, 3, 3, 3, 3, 3, 4])
    x = torch.randn(11, 8, requires_grad=True)
    layers = [MultiHeadAttention(8, heads=2, dropout=0.3).train(train) for _ in range(2)]
    bias0 = torch.randn(5, 2, 5, 5) if with_bias else None
    sizes = [2, 2, 1]

    def run(chunked: bool):
        bias = None if bias0 is None else bias0.clone().requires_grad_(True)
        if chunked:
            mask = dense_attention_mask(batch, None if bias is None else bias.split(sizes), chunk_sizes=sizes,
                                        num_graphs=5, max_num_nodes=5)
            assert mask.chunks is not None and [c.size(0) for c in mask.chunks] == sizes
        else:
            mask = dense_attention_mask(batch, bias, num_graphs=5, max_num_nodes=5)
        torch.manual_seed(7)
        h = x
        for m in layers:
            h = m(h, batch=batch, dense=True, dense_mask=mask)
        grads = torch.autograd.grad(h.square().sum(), [x] + ([bias] if bias is not None else []))
        return h, grads

    _assert_same_outputs_and_grads(run)
    with pytest.raises(InputShapeError, match="chunk_sizes"):
        dense_attention_mask(batch, chunk_sizes=[2, 2], num_graphs=5, max_num_nodes=5)
    with pytest.raises(TypeError, match="chunk_sizes"):
        dense_attention_mask(batch, [torch.zeros(5, 2, 5, 5)])


def test_dense_attention_of_zero_nodes_is_an_empty_output():
    torch.manual_seed(0)
    att = MultiHeadAttention(8, heads=2)
    x = torch.zeros(0, 8, requires_grad=True)
    for kw in ({}, {"batch": torch.zeros(0, dtype=torch.long)}):
        out = att(x, None, dense=True, **kw)
        assert out.shape == (0, 8)
        out.sum().backward()  # defined gradient too
