"""ParT: the published network, checked against weaver-core's ParticleTransformer."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from pgjets.models import ParticleTransformer
from pgjets.models.padded import pad_batch

#: pgjets' pair features (ln Delta, ln kT, ln z, ln m^2) are weaver's (ln kT, ln z, ln Delta, ln m^2)[PERM].
PERM = [2, 0, 1, 3]


def test_published_size_equals_weavers():
    # 17 JetClass features, 10 classes: weaver-core 0.5.3 ParticleTransformer has 2 143 486 parameters
    assert sum(p.numel() for p in ParticleTransformer(17, 10).parameters()) == 2_143_486
    # without the NormFormer layers: 8 * 1 416 + 2 * (1 416 - 256) + 16 fewer
    assert sum(p.numel() for p in ParticleTransformer(17, 10, normformer=False).parameters()) == 2_129_822
    m = ParticleTransformer(17, 10)
    assert isinstance(m.pair_embed[-1], nn.BatchNorm1d)
    assert all(isinstance(b["norm_q"], nn.Identity) for b in m.cls.blocks)
    assert all(b["attn"].dropout == 0 for b in m.cls.blocks) and m.blocks[0].attn.dropout == 0.1


def _copy_attention(src, dst) -> None:
    q, k, v = src.in_proj.weight.chunk(3)
    bq, bk, bv = src.in_proj.bias.chunk(3)
    for lin, w, b in ((dst.lin_q, q, bq), (dst.lin_k, k, bk), (dst.lin_v, v, bv)):
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    dst.lin_out.load_state_dict(src.out_proj.state_dict())


def _copy_block(src, attn, attn_out, norm_kv, norm_ff, ff, resid) -> None:
    norm_kv.load_state_dict(src.pre_attn_norm.state_dict())
    _copy_attention(src.attn, attn)
    attn_out.scale.copy_(src.c_attn)
    attn_out.norm.load_state_dict(src.post_attn_norm.state_dict())
    norm_ff.load_state_dict(src.pre_fc_norm.state_dict())
    ff[0].load_state_dict(src.fc1.state_dict())
    ff[3].load_state_dict(src.post_fc_norm.state_dict())
    ff[4].load_state_dict(src.fc2.state_dict())
    resid.weight.copy_(src.w_resid)


def _copy_from_weaver(w, p) -> None:
    p.input_norm.load_state_dict(w.embed.input_bn.state_dict())
    for a, b in zip(w.embed.embed, p.embed):
        if any(True for _ in a.parameters()):
            b.load_state_dict(a.state_dict())
    we, pe = list(w.pair_embed.embed), list(p.pair_embed)
    assert [type(m).__name__ for m in we] == [type(m).__name__.replace("Linear", "Conv1d") for m in pe]
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(pe[0], name).copy_(getattr(we[0], name)[PERM])
    first = True
    for a, b in zip(we[1:], pe[1:]):
        if isinstance(a, nn.Conv1d):
            weight = a.weight[:, :, 0]
            b.weight.copy_(weight[:, PERM] if first else weight)
            b.bias.copy_(a.bias)
            first = False
        elif isinstance(a, nn.BatchNorm1d):
            b.load_state_dict(a.state_dict())
    for a, b in zip(w.blocks, p.blocks):
        _copy_block(a, b.attn, b.attn_out, b.norm1, b.norm2, b.ff, b.resid_scale)
    p.cls.cls.copy_(w.cls_token.view(1, -1))
    for a, b in zip(w.cls_blocks, p.cls.blocks):
        _copy_block(a, b["attn"], b["attn_out"], b["norm_kv"], b["norm_ff"], b["ff"], b["resid_scale"])
    p.norm.load_state_dict(w.norm.state_dict())
    p.head.load_state_dict(w.fc[0].state_dict())


def test_equals_weaver_with_its_weights(batch_of):
    pytest.importorskip("weaver")
    logging.getLogger("weaver").setLevel(logging.ERROR)
    from weaver.nn.model.ParticleTransformer import ParticleTransformer as WeaverParT

    torch.manual_seed(0)
    b = batch_of([40, 7, 23, 1])
    F = b.x.size(1)
    w = WeaverParT(F, 3, embed_dims=[32, 64, 32], pair_embed_dims=[16, 16], num_heads=4, num_layers=2,
                   num_cls_layers=2, fc_params=[], trim=False)
    p = ParticleTransformer(F, 3, embed_dims=(32, 64, 32), pair_embed_dims=(16, 16), heads=4, num_layers=2,
                            num_cls_layers=2)
    assert sum(t.numel() for t in w.parameters()) == sum(t.numel() for t in p.parameters())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in w.parameters():  # every scale, norm and bias away from its initial value
            t.add_(0.1 * torch.randn(t.shape, generator=g))
        for m in w.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
        _copy_from_weaver(w, p)
    w.eval()
    p.eval()
    x, p4, mask = pad_batch(b, p.padded_inputs)  # (B, N, F), (B, N, 4) as (E, px, py, pz), (B, N)
    E, px, py, pz = p4.unbind(-1)
    lorentz = torch.stack([px, py, pz, E], 1) * mask[:, None]
    with torch.no_grad():
        ours = p(b)
        theirs = w(x.transpose(1, 2) * mask[:, None], v=lorentz, mask=mask[:, None].float())
        padded = p.forward_padded(x, p4, mask)
    assert theirs.abs().max() > 0.5  # a real comparison, not of near-zero logits
    torch.testing.assert_close(ours, theirs, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(padded, ours, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("normformer", [True, False])
def test_grouped_cpu_attention_equals_whole_batch(normformer, batch_of):
    # chunk_bytes: the bias and the attention in groups of jets; same logits, gradients, running
    # statistics and dropout draws as the whole batch at once (training), same logits (eval)
    import copy

    torch.manual_seed(0)
    b = batch_of([9, 1, 14, 6, 0, 11, 3])
    whole = ParticleTransformer(b.x.size(1), 3, embed_dims=(16, 16), pair_embed_dims=(8, 8), heads=4,
                                num_layers=2, num_cls_layers=1, dropout=0.2, normformer=normformer)
    whole.chunk_bytes = None
    grouped = copy.deepcopy(whole)
    N = 14
    grouped.chunk_bytes = 2 * 4 * N * N * 4  # two jets per group: groups 2, 2, 2, 1
    assert grouped._chunk_sizes(7, N, b.x) == [2, 2, 2, 1] and whole._chunk_sizes(7, N, b.x) is None
    for _ in range(2):
        outs = []
        for model in (whole, grouped):
            model.train()
            torch.manual_seed(5)
            out = model(b)
            out.square().sum().backward()
            outs.append(out)
        torch.testing.assert_close(outs[1], outs[0], atol=1e-5, rtol=1e-5)
    for (name, p), (_, q) in zip(whole.named_parameters(), grouped.named_parameters()):
        torch.testing.assert_close(q.grad, p.grad, atol=1e-4, rtol=1e-4, msg=name)
    for (name, u), (_, v) in zip(whole.named_buffers(), grouped.named_buffers()):
        torch.testing.assert_close(v, u, atol=1e-6, rtol=1e-5, msg=name)
    whole.eval()
    grouped.eval()
    with torch.no_grad():
        torch.testing.assert_close(grouped(b), whole(b), atol=1e-6, rtol=1e-5)
