from __future__ import annotations

import copy

import pytest
import torch
from torch_geometric.data import Batch

from pgjets.models import MODELS, build_model, representation_of

CLOUD_MODELS = sorted(n for n, (_, rep, _) in MODELS.items() if rep != "image")

F = 7


def permuted(batch, seed=0):
    g = torch.Generator().manual_seed(seed)
    perm = torch.cat([
        batch.ptr[i] + torch.randperm(int(batch.ptr[i + 1] - batch.ptr[i]), generator=g)
        for i in range(batch.num_graphs)
    ])
    out = batch.clone()
    for key in ("x", "pos", "pt", "p4"):
        out[key] = batch[key][perm]
    return out


SMALL = {
    "particlenet": dict(blocks=((4, (16, 16)), (4, (32, 32))), fc=((32, 0.1),)),
    "part": dict(embed_dims=(32, 32), pair_embed_dims=(16,), heads=4, num_layers=2, num_cls_layers=1),
}


@pytest.mark.parametrize("name", CLOUD_MODELS)
def test_every_model_is_permutation_invariant(name, batch_of):
    torch.manual_seed(0)
    model = build_model(name, F, 2, **SMALL.get(name, {})).eval()
    rep, k = representation_of(name)
    b = batch_of([9, 3, 14, 6])
    if k is not None:
        from pgjets.ops import knn_graph

        b.edge_index = knn_graph(b.pos, k, b.batch)
    out = model(b)
    assert out.shape == (4, 2) and torch.isfinite(out).all()
    pb = permuted(b)
    if k is not None:
        pb.edge_index = knn_graph(pb.pos, k, pb.batch)
    with torch.no_grad():
        diff = (model(pb) - out).abs().max().item()
    assert diff < 1e-5, diff


@pytest.mark.parametrize("name", CLOUD_MODELS)
def test_every_model_backpropagates(name, batch_of):
    torch.manual_seed(0)
    model = build_model(name, F, 3, **SMALL.get(name, {}))
    b = batch_of([8, 5, 11])
    rep, k = representation_of(name)
    if k is not None:
        from pgjets.ops import knn_graph

        b.edge_index = knn_graph(b.pos, k, b.batch)
    loss = torch.nn.functional.cross_entropy(model(b), torch.tensor([0, 1, 2]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_efn_is_irc_safe_and_pfn_is_not(batch_of):
    torch.manual_seed(0)
    b = batch_of([6, 9])
    efn = build_model("efn", F, 2).eval()
    pfn = build_model("pfn", F, 2).eval()
    # collinear split of the first particle of each jet into 0.4 / 0.6
    data = []
    for d in b.to_data_list():
        split = d.clone()
        for key in ("x", "pos"):
            split[key] = torch.cat([d[key][:1], d[key]])
        split.pt = torch.cat([0.4 * d.pt[:1], torch.cat([0.6 * d.pt[:1], d.pt[1:]])])
        split.p4 = torch.cat([0.4 * d.p4[:1], torch.cat([0.6 * d.p4[:1], d.p4[1:]])])
        data.append(split)
    sb = Batch.from_data_list(data)
    with torch.no_grad():
        assert (efn(sb) - efn(b)).abs().max() < 1e-5
        assert (pfn(sb) - pfn(b)).abs().max() > 1e-4


def test_efn_pools_an_empty_or_zero_pt_jet_to_zero_on_both_paths():
    from pgjets.models import EnergyFlowNetwork

    torch.manual_seed(0)
    efn = EnergyFlowNetwork(2, phi=(8, 8), f=(8,)).eval()
    pos, pt = torch.randn(3, 4, 2), torch.rand(3, 4) + 0.5
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False  # an empty jet
    pt[2] = 0.0  # a jet of zero total pT
    with torch.no_grad():
        out = efn.forward_padded(pos, pt, mask)
        zero = efn.f(torch.zeros(1, 8))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1:], zero.expand(2, -1))
    raw = EnergyFlowNetwork(2, phi=(8, 8), f=(8,), normalize=False).eval()  # weights as given
    raw.load_state_dict(efn.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(raw.forward_padded(pos, 2 * pt, mask)[0],
                                   efn.f(2 * (efn.phi(pos[0]) * pt[0, :, None]).sum(0)))


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", 3)
    with pytest.raises(ValueError, match="unknown model"):
        representation_of("resnet")


@pytest.mark.parametrize("pair_embed_dims", [(16,), (16, 8, 12)])
def test_part_eval_pair_bias_fast_path_equals_reference(pair_embed_dims, batch_of):
    from pgjets.models import ParticleTransformer

    torch.manual_seed(0)
    b = batch_of([5, 1, 9, 3])
    model = ParticleTransformer(b.x.size(1), 2, embed_dims=(16,), pair_embed_dims=pair_embed_dims, heads=4,
                                num_layers=1, num_cls_layers=1)
    model.train()
    for _ in range(3):  # non-trivial running statistics in every batch norm
        model(b)
    model.eval()
    assert model._folded_pair_embed() is not None
    with torch.no_grad():
        fast = model.pair_bias(b.p4, b.batch)
        ref = model.pair_bias_reference(b.p4, b.batch)
    assert fast.shape == ref.shape == (4, 4, 9, 9)
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-4)
    assert bool((fast[1, :, 1:, :] == 0).all())  # padding rows of the one-particle jet
    # training mode: same output, gradients and running statistics as the reference
    model.train()
    ref_model = copy.deepcopy(model)
    fast = model.pair_bias(b.p4, b.batch)
    ref = ref_model.pair_bias_reference(b.p4, b.batch)
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-4)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(2))
    (fast * g).sum().backward()
    (ref * g).sum().backward()
    for (name, p), (_, q) in zip(model.pair_embed.named_parameters(), ref_model.pair_embed.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-3, msg=name)
    for (name, u), (_, v) in zip(model.pair_embed.named_buffers(), ref_model.pair_embed.named_buffers()):
        torch.testing.assert_close(u, v, atol=1e-5, rtol=1e-4, msg=name)


@pytest.mark.parametrize("name", ["part", "set_transformer", "lorentznet"])
def test_models_train_without_reading_a_device_value(name, batch_of):
    """The CPU stand-in for ``torch.cuda.set_sync_debug_mode``: on the meta device tensors have
    no values, so any read back to the host (``.item()``, ``.tolist()``, ``int(t)``) raises.  The
    sizes (padded lengths, LorentzNet's edge count) come from the batch's slice table, which stays
    on the CPU."""
    torch.manual_seed(0)
    b = batch_of([9, 3, 14, 6])
    model = build_model(name, F, 2, **SMALL.get(name, {})).train()
    out = model.to("meta")(b.to("meta"))
    assert out.shape == (4, 2) and out.device.type == "meta"
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    # without the table the sizes are read from the device, once per forward
    del b._slice_dict
    with pytest.raises((NotImplementedError, RuntimeError), match="(?i)meta"):  # .tolist(), .item(), bincount
        model(b.to("meta"))


@pytest.mark.parametrize("name", ["part", "set_transformer", "lorentznet"])
def test_same_output_with_and_without_the_slice_table(name, batch_of):
    torch.manual_seed(0)
    model = build_model(name, F, 2, **SMALL.get(name, {})).eval()
    b = batch_of([9, 3, 14, 6])
    with torch.no_grad():
        with_table = model(b)
        del b._slice_dict
        without = model(b)
    torch.testing.assert_close(with_table, without, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", ["particlenet", "particlenet_lite", "part", "lorentznet", "particlenet_inv",
                                  "set_transformer", "pfn"])
def test_a_training_step_under_autocast(name, dtype, batch_of):
    """Mixed precision (the Trainer's default on CUDA; CPU autocast here): a training step runs
    and the kNN of the later ParticleNet blocks, which see 16-bit features, finds the same graph."""
    torch.manual_seed(0)
    model = build_model(name, F, 2, **SMALL.get(name, {})).train()
    b = batch_of([30, 12, 21, 40])
    with torch.autocast("cpu", dtype=dtype):
        loss = torch.nn.functional.cross_entropy(model(b), b.y)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters()
                                        if p.grad is not None)



@pytest.mark.parametrize("name", ["part_lite", "deepsets", "set_transformer", "gcn", "particlenet_inv_lite"])
def test_a_training_batch_of_one_particle_gets_the_typed_error_in_every_model_with_batch_norms(name):
    """Called directly (not through the Trainer), these models gave PyTorch's bare BatchNorm ValueError."""
    from torch_geometric.data import Data

    from pgjets.errors import GraphSizeError
    from pgjets.models import build_model

    one = Data(x=torch.randn(1, 7), pos=torch.randn(1, 2), pt=torch.ones(1), p4=torch.tensor([[2.0, 1.0, 1.0, 1.0]]),
               edge_index=torch.empty(2, 0, dtype=torch.long))
    model = build_model(name, 7)
    with pytest.raises(GraphSizeError, match="single particle"):
        model.train()(one)
    assert model.eval()(one).shape == (1, 2)
