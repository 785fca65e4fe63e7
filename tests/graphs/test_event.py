from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import skhep_testdata
import torch
import uproot
from torch_geometric.data import Batch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs.event import EventToGraph, event_to_graph, events_to_batch

COLLS = ("Muon", "Electron", "Jet", "Photon", "MET")


@pytest.fixture(scope="module")
def hzz():
    tree = uproot.open(skhep_testdata.data_path("uproot-HZZ.root"))["events"]
    a = tree.arrays(entry_stop=50)

    def objects(prefix, charge):
        fields = {"px": a[f"{prefix}_Px"], "py": a[f"{prefix}_Py"],
                  "pz": a[f"{prefix}_Pz"], "E": a[f"{prefix}_E"]}
        if charge:
            fields["charge"] = a[f"{prefix}_Charge"]
        return ak.zip(fields)

    events = ak.zip({
        "Muon": objects("Muon", True),
        "Electron": objects("Electron", True),
        "Jet": objects("Jet", False),
        "Photon": objects("Photon", False),
        "MET": ak.zip({"px": a.MET_px, "py": a.MET_py}),
    }, depth_limit=1)
    return a, events


@pytest.mark.parametrize("connectivity", ["full", "knn"])
def test_batch_agrees_with_single_events(hzz, connectivity):
    a, events = hzz
    b = events_to_batch(events, connectivity=connectivity, k=3)
    singles = [event_to_graph(events[i], connectivity=connectivity, k=3) for i in range(len(events))]
    ref = Batch.from_data_list(singles)
    assert b.num_graphs == 50
    for key in ("x", "pos", "pt", "node_type", "edge_index", "batch", "ptr"):
        assert torch.equal(b[key], ref[key]), key
    expected = (a.NMuon + a.NElectron + a.NJet + a.NPhoton + 1).to_numpy()
    assert torch.equal(b.ptr.diff(), torch.from_numpy(expected.astype(np.int64)))
    for i in (0, 17, 49):
        got = b[i]
        for key in singles[i].keys():
            assert torch.equal(got[key], singles[i][key]), (i, key)


def test_features_match_kinematics(hzz):
    a, events = hzz
    d = event_to_graph(events[0])
    n_mu = int(a.NMuon[0])
    assert d.x.shape == (d.num_nodes, 5 + len(COLLS))
    px, py, pz = (float(a[f"Muon_P{c}"][0][0]) for c in "xyz")
    pt = np.hypot(px, py)
    assert torch.allclose(d.x[0, :3], torch.tensor([pt, np.arcsinh(pz / pt), np.arctan2(py, px)],
                                                   dtype=torch.float32), rtol=1e-5)
    assert d.x[0, 3] == pytest.approx(float(a.Muon_E[0][0]), rel=1e-6)
    assert d.x[0, 4] == float(a.Muon_Charge[0][0])
    assert d.node_type[:n_mu].tolist() == [0] * n_mu and d.node_type[-1] == 4
    assert torch.equal(d.x[:, 5:].argmax(1), d.node_type)
    met = d.x[-1]
    assert met[1] == 0 and met[3] == pytest.approx(float(met[0])) and met[4] == 0  # E = pt, eta 0
    assert torch.equal(d.pos, d.x[:, 1:3]) and torch.equal(d.pt, d.x[:, 0])
    n = d.num_nodes
    assert d.edge_index.size(1) == n * (n - 1)
    knn = event_to_graph(events[0], connectivity="knn", k=100)  # k capped at n - 1
    assert knn.edge_index.size(1) == n * (n - 1)


def test_handmade_event_and_subset_of_collections():
    ev = ak.Array([{"Jet": [{"Px": 3.0, "Py": 4.0, "Pz": 0.0, "E": 6.0}], "MET": {"px": 0.0, "py": 2.0}}])
    d = event_to_graph(ev[0], collections=("Jet", "MET"))
    assert d.x[0, :5].tolist() == [5.0, 0.0, pytest.approx(np.arctan2(4, 3)), 6.0, 0.0]
    assert d.x[1, :5].tolist() == [2.0, 0.0, pytest.approx(np.pi / 2), 2.0, 0.0]
    assert d.x[:, 5:].tolist() == [[1, 0], [0, 1]]
    b = events_to_batch(ev, collections=("Jet", "MET"))
    assert torch.equal(b.x, d.x)


def test_bad_input(hzz):
    _, events = hzz
    empty = ak.Array([{"Jet": [{"px": 1.0, "py": 1.0}]}, {"Jet": []}])
    with pytest.raises(EmptyGraphError, match="event 1"):
        events_to_batch(empty, collections=("Jet",))
    with pytest.raises(EmptyGraphError):
        event_to_graph(empty[1], collections=("Jet",))
    with pytest.raises(EmptyGraphError, match="no events"):
        events_to_batch(events[:0])
    with pytest.raises(InputShapeError, match="Tau"):
        event_to_graph(events[0], collections=("Tau",))
    with pytest.raises(InputShapeError, match="Tau"):
        events_to_batch(events, collections=("Muon", "Tau"))
    with pytest.raises(ValueError, match="full"):
        event_to_graph(events[0], connectivity="radius")
    with pytest.raises(ValueError, match="positive"):
        events_to_batch(events, connectivity="knn", k=0)
    no_py = ak.Array([{"Jet": [{"px": 1.0}]}])
    with pytest.raises(InputShapeError, match="px and py"):
        events_to_batch(no_py, collections=("Jet",))
    nan = ak.Array([{"Jet": [{"px": float("nan"), "py": 1.0}]}])
    with pytest.raises(NonFiniteError):
        events_to_batch(nan, collections=("Jet",))
    with pytest.raises(InputShapeError, match="1-D awkward"):
        events_to_batch([{"Jet": []}], collections=("Jet",))


def test_transform_matches_function(hzz):
    _, events = hzz
    t = EventToGraph(collections=("Jet", "Muon", "MET"), connectivity="knn", k=2)
    d = t(events[3])
    ref = event_to_graph(events[3], ("Jet", "Muon", "MET"), "knn", 2)
    for key in ref.keys():
        assert torch.equal(d[key], ref[key]), key
    assert d.x.shape[1] == 5 + 3 and int(d.node_type.max()) == 2
    assert "knn" in repr(t)
    with pytest.raises(ValueError, match="full"):
        EventToGraph(connectivity="star")
