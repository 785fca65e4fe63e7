from __future__ import annotations

import awkward as ak
import pytest
import torch
from torch_geometric.data import Batch

from pgjets.graphs import event_to_graph, events_to_batch, events_to_hetero
from pgjets.models import (
    BipartiteAdapter, EventHeteroGNN, EVENT_MODELS, MODELS, build_model, representation_of,
)
from pgjets.models.event_models import ObjectFeatures
from pgjets.nn import EdgeConvLayer

COLLS = ("Muon", "Jet", "MET")


def _events():
    mu = [{"pt": 40.0, "eta": 0.5, "phi": 1.0, "mass": 0.1, "charge": -1},
          {"pt": 25.0, "eta": -1.2, "phi": -2.0, "mass": 0.1, "charge": 1}]
    jet = [{"pt": 80.0, "eta": 0.1, "phi": 2.5, "mass": 9.0}, {"pt": 30.0, "eta": 2.1, "phi": 0.3, "mass": 5.0},
           {"pt": 27.0, "eta": -0.4, "phi": -1.1, "mass": 4.0}]
    return ak.Array([
        {"Muon": mu, "Jet": jet, "MET": [{"pt": 20.0, "phi": 0.2}]},
        {"Muon": [], "Jet": [], "MET": []},  # an event with no objects at all
        {"Muon": mu[:1], "Jet": [], "MET": []},  # a single object
        {"Muon": [], "Jet": jet[1:], "MET": [{"pt": 55.0, "phi": -3.0}]},
        {"Muon": [], "Jet": [], "MET": []},
    ])


@pytest.fixture(scope="module")
def batch():
    return events_to_batch(_events(), collections=COLLS)


def test_registry_names():
    assert sorted(EVENT_MODELS) == ["event_deepsets", "event_gnn", "event_transformer"]
    assert not set(EVENT_MODELS) & set(MODELS)
    assert all(representation_of(n) == ("event", None) for n in EVENT_MODELS)
    with pytest.raises(ValueError, match="event_gnn"):
        build_model("nope", 8)


@pytest.mark.parametrize("name", sorted(EVENT_MODELS))
def test_empty_events_and_no_mixing(name, batch):
    torch.manual_seed(0)
    model = build_model(name, batch.num_features, 3).eval()
    with torch.no_grad():
        out = model(batch)
        assert out.shape == (5, 3) and torch.isfinite(out).all()
        # an empty event: zero embedding, so the head of zeros
        zero = model.head(torch.zeros(1, model.head[0].in_features))
        torch.testing.assert_close(out[1], zero[0])
        torch.testing.assert_close(out[4], zero[0])
        # every event alone gives the same output as inside the batch
        for i in range(5):
            alone = Batch.from_data_list([batch.get_example(i)])
            torch.testing.assert_close(model(alone)[0], out[i], atol=1e-5, rtol=1e-4)
        # a batch of empty events only
        empty = events_to_batch(_events()[[1, 4]], collections=COLLS)
        assert empty.num_nodes == 0
        torch.testing.assert_close(model(empty), zero.expand(2, -1))


@pytest.mark.parametrize("name", sorted(EVENT_MODELS))
def test_permutation_invariant_and_trainable(name, batch):
    torch.manual_seed(1)
    model = build_model(name, batch.num_features, 2)
    ev = _events()[0]
    d = event_to_graph(ev, collections=COLLS)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    p = d.clone()
    for key in ("x", "pos", "pt", "node_type"):
        p[key] = d[key][perm]
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(perm.numel())
    p.edge_index = inv[d.edge_index]
    model.eval()
    with torch.no_grad():
        a, b = model(Batch.from_data_list([d])), model(Batch.from_data_list([p]))
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(batch), torch.tensor([0, 1, 0, 1, 1]))
    loss.backward()
    assert all(q.grad is not None and torch.isfinite(q.grad).all() for q in model.parameters())


def test_object_features():
    f = ObjectFeatures(6)
    x = torch.tensor([[10.0, 0.5, 0.0, 20.0, -1.0, 1.0]])
    out = f(x)
    assert out.shape == (1, 7)
    torch.testing.assert_close(out, torch.tensor([[torch.log1p(torch.tensor(10.0)), 0.5, 0.0, 1.0,
                                                   torch.log1p(torch.tensor(20.0)), -1.0, 1.0]]))
    with pytest.raises(ValueError, match="5 columns"):
        ObjectFeatures(3)


def test_bipartite_adapter_is_exact():
    torch.manual_seed(0)
    conv = EdgeConvLayer(in_channels=4, out_channels=6)
    xs, xd = torch.randn(3, 4), torch.randn(2, 4)
    ei = torch.tensor([[0, 2, 1], [0, 0, 1]])
    out = BipartiteAdapter(conv)((xs, xd), ei)
    x = torch.cat([xs, xd])
    ref = conv(x, torch.stack([ei[0], ei[1] + 3]))[3:]
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(BipartiteAdapter(conv)(x, ei), conv(x, ei))


def test_hetero_gnn_on_events(batch):
    torch.manual_seed(0)
    h = events_to_hetero(_events(), collections=COLLS)
    model = EventHeteroGNN(h.metadata(), hidden=16)
    out = model(h)
    assert out.shape == (5, 2) and torch.isfinite(out).all()
    out.sum().backward()
    model.eval()
    with torch.no_grad():
        full = model(h)
        for i in (0, 2, 3):
            one = events_to_hetero(_events()[i:i + 1], collections=COLLS)
            torch.testing.assert_close(model(one)[0], full[i], atol=1e-5, rtol=1e-4)
        zero = model.head(torch.zeros(1, model.head[0].in_features))[0]
        torch.testing.assert_close(full[1], zero)


@pytest.mark.parametrize("name", ["event_deepsets", "event_transformer", "event_gnn"])
def test_event_models_refuse_wrong_widths_and_dtypes_with_typed_errors(name, batch):
    from pgjets.errors import InputDtypeError, InputShapeError

    b = batch
    model = build_model(name, b.x.size(1), 2)
    wide = b.clone()
    wide.x = b.x.double()
    with pytest.raises(InputDtypeError, match="float64"):
        model(wide)
    narrow = b.clone()
    narrow.x = b.x[:, :-1]
    with pytest.raises(InputShapeError, match="features per object"):
        model(narrow)
    ints = b.clone()
    ints.x = b.x.long()
    with pytest.raises(InputDtypeError):
        model(ints)
