"""ParticleNet: the published network, checked against weaver-core's ParticleNet."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from pgjets.models import ParticleNet, particlenet_lite
from pgjets.models.padded import pad_batch


def test_published_sizes():
    # Qu & Gouskos 2020: 366k parameters (ParticleNet), 26k (Lite) for the 7 top-tagging inputs;
    # weaver-core's ParticleNet(use_fusion=False) has the same numbers
    assert sum(p.numel() for p in ParticleNet(7, 2).parameters()) == 366_160
    assert sum(p.numel() for p in particlenet_lite(7, 2).parameters()) == 26_416
    # weaver's default use_fusion=True: 571 728 and 47 152
    assert sum(p.numel() for p in ParticleNet(7, 2, fusion=True).parameters()) == 571_728
    lite = dict(blocks=((7, (32, 32, 32)), (7, (64, 64, 64))), fc=((128, 0.1),), fusion=True)
    assert sum(p.numel() for p in ParticleNet(7, 2, **lite).parameters()) == 47_152


def _copy_from_weaver(w, p) -> None:
    p.input_norm.load_state_dict(w.bn_fts.state_dict())
    for a, b in zip(w.edge_convs, p.convs):
        first = a.convs[0].weight[:, :, 0, 0]  # Conv2d on [x_i, x_j - x_i]
        half = first.size(1) // 2
        b.lin_center.weight.copy_(first[:, :half])
        b.lin_diff.weight.copy_(first[:, half:])
        for conv, lin in zip(a.convs[1:], b.lins):
            lin.weight.copy_(conv.weight[:, :, 0, 0])
        for bn_w, bn_p in zip(a.bns, b.norms):
            bn_p.load_state_dict(bn_w.state_dict())
        b.shortcut.weight.copy_(a.sc.weight[:, :, 0])
        b.shortcut_norm.load_state_dict(a.sc_bn.state_dict())
    ours = [m for m in p.classifier if isinstance(m, nn.Linear)]
    theirs = [m for m in w.fc.modules() if isinstance(m, nn.Linear)]
    assert len(ours) == len(theirs)
    for a, b in zip(theirs, ours):
        b.load_state_dict(a.state_dict())
    if p.fusion is not None:
        p.fusion[0].weight.copy_(w.fusion_block[0].weight[:, :, 0])
        p.fusion[1].load_state_dict(w.fusion_block[1].state_dict())


#: Jets of more particles than k (4 and 5), and jets of n <= k, where weaver's kNN takes padding slots.
LARGE, SMALL_JETS = [12, 20, 8, 30], [12, 1, 2, 4, 5, 6, 20, 3]


@pytest.mark.parametrize("fusion,sizes,pad", [(False, LARGE, False), (True, LARGE, False), (False, SMALL_JETS, True),
                                              (True, SMALL_JETS, True)])
def test_equals_weaver_with_its_weights(batch_of, fusion, sizes, pad):
    # pad_neighbours=True: a jet of n <= k particles averages over k neighbours, the n - 1 others
    # and k - n + 1 of features 0, as weaver's padded kNN (padded length >= k + 1, here 20)
    pytest.importorskip("weaver")
    logging.getLogger("weaver").setLevel(logging.ERROR)
    from weaver.nn.model.ParticleNet import ParticleNet as WeaverParticleNet

    blocks, fc = [(4, (16, 16)), (5, (32, 32))], [(32, 0.1)]
    b = batch_of(sizes)
    F = b.x.size(1)
    torch.manual_seed(0)
    w = WeaverParticleNet(F, 3, conv_params=blocks, fc_params=fc, use_fusion=fusion, trim=False)
    p = ParticleNet(F, 3, blocks=blocks, fc=fc, fusion=fusion, pad_neighbours=pad)
    assert sum(t.numel() for t in w.parameters()) == sum(t.numel() for t in p.parameters())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in w.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.copy_(0.3 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.weight.add_(0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.add_(0.2 * torch.randn(m.bias.shape, generator=g))
        _copy_from_weaver(w, p)
    w.eval()
    p.eval()
    x, pos, mask = pad_batch(b, p.padded_inputs)
    m = mask[:, None].float()
    with torch.no_grad():
        ours = p(b)
        theirs = w(pos.transpose(1, 2) * m, x.transpose(1, 2) * m, m)
        padded = p.forward_padded(x, pos, mask)
    assert theirs.abs().max() > 0.1
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(padded, ours, atol=1e-5, rtol=1e-4)
    # the same weights without pad_neighbours: the same logits for n > 5 (both k), others differ
    plain = ParticleNet(F, 3, blocks=blocks, fc=fc, fusion=fusion)
    plain.load_state_dict(p.state_dict())
    plain.eval()
    with torch.no_grad():
        other = plain(b)
    big = torch.tensor(sizes) > 5
    torch.testing.assert_close(other[big], ours[big], atol=1e-6, rtol=1e-5)
    if pad:
        assert ((other[~big] - theirs[~big]).abs().amax(1) > 3e-4).all()  # well above the tolerance


def test_particlenet_lite_passes_the_other_arguments_through():
    from pgjets.models import build_model, particlenet_lite
    from pgjets.models.particlenet import PARTICLENET_LITE_BLOCKS

    torch.manual_seed(0)
    padded = build_model("particlenet_lite", 7, 2, pad_neighbours=True)
    assert all(conv.pad_neighbours for conv in padded.convs)
    assert [conv.k for conv in padded.convs] == [k for k, _ in PARTICLENET_LITE_BLOCKS]
    assert not any(conv.pad_neighbours for conv in particlenet_lite(7).convs)


def test_a_training_batch_of_one_particle_gets_a_typed_error_and_eval_mode_scores_it():
    from pgjets.errors import GraphSizeError
    from pgjets.graphs import clouds_to_batch
    from pgjets.models import particlenet_lite

    torch.manual_seed(0)
    model = particlenet_lite(in_channels=4, num_classes=2)
    one = clouds_to_batch(torch.randn(1, 4), torch.randn(1, 2), torch.tensor([1]))
    with pytest.raises(GraphSizeError, match="single particle"):
        model.train()(one)
    assert model.eval()(one).shape == (1, 2)
    two = clouds_to_batch(torch.randn(2, 4), torch.randn(2, 2), torch.tensor([1, 1]))
    assert model.train()(two).shape == (2, 2)  # two one-particle jets train
