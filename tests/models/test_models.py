from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from pgjets.models.registry import MODELS, build_model, representation_of

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
        from pgjets.nn.knn import knn_graph

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
        from pgjets.nn.knn import knn_graph

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


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown model"):
        build_model("resnet", 3)
    with pytest.raises(ValueError, match="unknown model"):
        representation_of("resnet")
