from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import skhep_testdata
import torch
import uproot
from torch_geometric.data import Batch

from pgjets.errors import EmptyGraphError, InputDtypeError, InputShapeError, NonFiniteError
from pgjets.graphs import (
    EventToGraph, batch_to_hetero, event_to_graph, events_to_batch, events_to_hetero, hetero_to_batch,
)

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
    empty = ak.Array([{"Jet": []}, {"Jet": []}])
    with pytest.raises(EmptyGraphError, match="all 2 events are empty"):
        events_to_batch(empty, collections=("Jet",), drop_empty=True)
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
    with pytest.raises(InputShapeError, match="pt and phi"):
        events_to_batch(no_py, collections=("Jet",))
    nan = ak.Array([{"Jet": [{"px": float("nan"), "py": 1.0}]}])
    with pytest.raises(NonFiniteError, match=r"field 'px' of collection 'Jet' holds 1 NaN"):
        events_to_batch(nan, collections=("Jet",))
    # a NaN eta is named and counted once (it would also spread into E: 2 values in the features)
    nan_eta = ak.Array([{"Muon": [{"pt": 20.0, "eta": float("nan"), "phi": 0.1}]}])
    with pytest.raises(NonFiniteError, match=r"field 'eta' of collection 'Muon' holds 1 NaN and 0 infinite"):
        events_to_batch(nan_eta, collections=("Muon",))
    text = ak.Array([{"Muon": [{"pt": 20.0, "eta": 0.0, "phi": 0.1, "charge": "+"}]}])
    with pytest.raises(InputDtypeError, match=r"field 'charge' of collection 'Muon' is not numeric"):
        events_to_batch(text, collections=("Muon",))
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


def _assert_same_batch(a, b, keys=("x", "pos", "pt", "node_type", "edge_index", "batch", "ptr")):
    for key in keys:
        assert a[key].shape == b[key].shape, key
        assert torch.allclose(a[key].double(), b[key].double(), rtol=1e-5, atol=1e-5), key


def test_nanoaod_flat_fields_need_no_conversion(hzz):
    a, events = hzz
    ref = events_to_batch(events)
    flat = events_to_batch(a)  # uproot's record array: Muon_Px, Muon_Charge, MET_px, ...
    _assert_same_batch(flat, ref)
    as_dict = {f: a[f] for f in a.fields}  # separate jagged arrays per field
    _assert_same_batch(events_to_batch(as_dict), ref)
    with pytest.raises(InputShapeError, match="Tau"):
        events_to_batch(a, collections=("Tau",))
    bad = {"Jet_pt": ak.Array([[1.0, 2.0]]), "Jet_phi": ak.Array([[0.0]])}
    with pytest.raises(InputShapeError, match="differ in length"):
        events_to_batch(bad, collections=("Jet",))
    # fields the builders do not read may have any shape (only the kinematic ones are flattened)
    other = {"Jet_pt": ak.Array([[1.0, 2.0]]), "Jet_phi": ak.Array([[0.0, 1.0]]),
             "Jet_constituents": ak.Array([[[1, 2], [3]]]), "Jet_extra": ak.Array([[1, 2, 3]])}
    assert events_to_batch(other, collections=("Jet",)).num_nodes == 2
    with pytest.raises(InputShapeError, match="pt and phi"):
        events_to_batch({"Jet_area": ak.Array([[0.5]])}, collections=("Jet",))


def _collider(a, prefix):
    px, py, pz, e = (a[f"{prefix}_{c}"] for c in ("Px", "Py", "Pz", "E"))
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / pt)
    mass = np.sqrt(np.maximum(e ** 2 - px ** 2 - py ** 2 - pz ** 2, 0))
    return {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "mass": mass}


def test_collider_fields_and_vector_records(hzz):
    import vector

    a, events = hzz
    ref = events_to_batch(events, collections=("Jet", "Muon", "MET"))
    jet, mu = _collider(a, "Jet"), _collider(a, "Muon")
    met = {"pt": np.hypot(a.MET_px, a.MET_py), "phi": np.arctan2(a.MET_py, a.MET_px)}
    plain = ak.zip({"Jet": ak.zip(jet), "Muon": ak.zip({**mu, "charge": a.Muon_Charge}),
                    "MET": ak.zip(met)}, depth_limit=1)
    got = events_to_batch(plain, collections=("Jet", "Muon", "MET"))
    _assert_same_batch(got, ref)
    # NanoAOD names (Jet_pt, Jet_eta, Jet_phi, Jet_mass, MET_pt, MET_phi)
    nano = {**{f"Jet_{k}": v for k, v in jet.items()}, **{f"Muon_{k}": v for k, v in mu.items()},
            "Muon_charge": a.Muon_Charge, "MET_pt": met["pt"], "MET_phi": met["phi"]}
    _assert_same_batch(events_to_batch(nano, collections=("Jet", "Muon", "MET")), ref)
    # vector records: vector.zip stores rho/phi/eta/tau, read through vector's properties
    vec = ak.zip({"Jet": vector.zip(jet), "Muon": vector.zip({**mu, "charge": a.Muon_Charge}),
                  "MET": vector.zip(met)}, depth_limit=1)
    assert "rho" in ak.fields(vec["Jet"]) and "tau" in ak.fields(vec["Jet"])
    _assert_same_batch(events_to_batch(vec, collections=("Jet", "Muon", "MET")), ref)
    cart = ak.zip({"Jet": vector.zip({"px": a.Jet_Px, "py": a.Jet_Py, "pz": a.Jet_Pz, "E": a.Jet_E})},
                  depth_limit=1)
    _assert_same_batch(events_to_batch(cart, collections=("Jet",)),
                       events_to_batch(events, collections=("Jet",)), keys=("x", "pos", "pt"))
    # read back from parquet: the record name survives, vector's behaviour is attached again
    one = event_to_graph(vec[3], collections=("Jet", "Muon", "MET"))
    assert torch.allclose(one.x, ref.get_example(3).x, rtol=1e-5, atol=1e-5)


def test_parquet_vector_records(tmp_path, hzz):
    import vector

    a, _ = hzz
    vec = ak.zip({"Jet": vector.zip(_collider(a, "Jet"))}, depth_limit=1)
    ak.to_parquet(vec, tmp_path / "ev.parquet")
    back = ak.from_parquet(tmp_path / "ev.parquet")
    _assert_same_batch(events_to_batch(back, collections=("Jet",)), events_to_batch(vec, collections=("Jet",)))


def test_empty_collections_in_a_batch(hzz):
    a, events = hzz
    n_mu = a.NMuon.to_numpy()
    assert (n_mu == 0).any() and (n_mu > 0).any()
    b = events_to_batch(events, collections=("Muon",))
    assert b.num_graphs == 50 and torch.equal(b.ptr.diff(), torch.from_numpy(n_mu.astype(np.int64)))
    assert torch.equal(b.event_index, torch.arange(50))
    i = int(np.nonzero(n_mu == 0)[0][0])
    g = b.get_example(i)
    assert g.num_nodes == 0 and g.x.shape == (0, 6) and g.edge_index.shape == (2, 0)
    single = event_to_graph(events[i], collections=("Muon",))
    assert single.x.shape == (0, 6) and single.edge_index.shape == (2, 0)
    kept = events_to_batch(events, collections=("Muon",), drop_empty=True, connectivity="knn", k=2)
    assert kept.num_graphs == int((n_mu > 0).sum()) and len(events) - kept.num_graphs == int((n_mu == 0).sum())
    assert torch.equal(kept.event_index, torch.from_numpy(np.nonzero(n_mu > 0)[0]))
    assert torch.equal(kept.x, b.x)
    # a collection with no object in any event (type var * unknown)
    none = ak.Array([{"Jet": [], "MET": {"px": 1.0, "py": 0.0}}, {"Jet": [], "MET": {"px": 0.0, "py": 2.0}}])
    nb = events_to_batch(none, collections=("Jet", "MET"))
    assert nb.num_nodes == 2 and nb.node_type.tolist() == [1, 1]
    assert events_to_batch(none, collections=("Jet",)).num_nodes == 0


@pytest.mark.parametrize("connectivity", ["full", "knn"])
def test_hetero_round_trip(hzz, connectivity):
    from torch_geometric.data import Batch

    _, events = hzz
    b = events_to_batch(events, connectivity=connectivity, k=3)
    h = events_to_hetero(events, connectivity=connectivity, k=3)
    assert h.node_types == list(COLLS) and len(h.edge_types) == len(COLLS) ** 2
    assert sum(h[c].num_nodes for c in COLLS) == b.num_nodes
    assert sum(h[e].edge_index.size(1) for e in h.edge_types) == b.edge_index.size(1)
    assert h["MET"].x.shape == (50, 5) and torch.equal(h["MET"].batch, torch.arange(50))
    back = hetero_to_batch(h)
    if connectivity == "full":
        _assert_same_batch(back, b)
    else:  # same graph, edges possibly listed in another order
        _assert_same_batch(back, b, keys=("x", "pos", "pt", "node_type", "batch", "ptr"))
        key = lambda ei: sorted(map(tuple, ei.t().tolist()))  # noqa: E731
        assert key(back.edge_index) == key(b.edge_index)
    assert torch.equal(back.event_index, b.event_index)
    # it is a real HeteroDataBatch: examples equal per-event HeteroData, batching them gives it back
    singles = [batch_to_hetero(events_to_batch(events[i:i + 1], connectivity=connectivity, k=3), COLLS)
               .get_example(0) for i in range(8)]
    for i in (0, 5, 7):
        got = h.get_example(i)
        for store in COLLS:
            assert torch.equal(got[store].x, singles[i][store].x), (i, store)
        for et in h.edge_types:
            assert torch.equal(got[et].edge_index, singles[i][et].edge_index), (i, et)
    re = Batch.from_data_list(singles)
    h8 = events_to_hetero(events[:8], connectivity=connectivity, k=3)
    for store in COLLS:
        for key in ("x", "pos", "pt", "batch", "ptr"):
            assert torch.equal(re[store][key], h8[store][key]), (store, key)
    for et in h.edge_types:
        assert torch.equal(re[et].edge_index, h8[et].edge_index), et
    muons = h["Muon"]
    assert torch.equal(muons.x, b.x[b.node_type == 0, :5])


def test_extra_fields(hzz):
    a, events = hzz
    b = events_to_batch(a, collections=("Muon", "Jet", "MET"), extra_fields=("Iso", "btag"))
    assert b.x.shape[1] == 5 + 3 + 2
    mu, jet = b.node_type == 0, b.node_type == 1
    assert torch.allclose(b.x[mu, 8], torch.from_numpy(ak.to_numpy(ak.flatten(a.Muon_Iso))).float())
    assert torch.equal(b.x[mu, 9], torch.zeros(int(mu.sum())))  # muons have no btag: 0
    assert torch.allclose(b.x[jet, 9], torch.from_numpy(ak.to_numpy(ak.flatten(a.Jet_btag))).float())
    assert torch.equal(b.x[:, :8], events_to_batch(a, collections=("Muon", "Jet", "MET")).x)
    h = events_to_hetero(a, collections=("Muon", "Jet", "MET"), extra_fields=("Iso", "btag"))
    assert h["Jet"].x.shape[1] == 7
    _assert_same_batch(hetero_to_batch(h), b)
    one = event_to_graph(events[2], collections=("Jet",), extra_fields="nope")
    assert one.x.shape[1] == 5 + 1 + 1 and not one.x[:, -1].any()


def test_uproot_numpy_arrays_and_clear_errors(hzz):
    a, events = hzz
    tree = uproot.open(skhep_testdata.data_path("uproot-HZZ.root"))["events"]
    arrays = tree.arrays(["Muon_Px", "Muon_Py", "Muon_Pz", "Muon_E", "Muon_Charge", "MET_px", "MET_py"],
                         entry_stop=50, library="np")  # object arrays of per-event arrays
    assert arrays["Muon_Px"].dtype == object
    _assert_same_batch(events_to_batch(arrays, collections=("Muon", "MET")),
                       events_to_batch(events, collections=("Muon", "MET")))
    with pytest.raises(InputShapeError, match=r"differ in length.*50 events: \['Muon'\].*49 events: \['MET'\]"):
        events_to_batch({"Muon": events["Muon"], "MET": events["MET"][:49]}, collections=("Muon", "MET"))
    masked = ak.Array({"Jet_pt": [[50.0, None], [30.0]], "Jet_eta": [[0.0, 1.0], [1.0]],
                       "Jet_phi": [[0.0, 1.0], [1.0]]})
    with pytest.raises(NonFiniteError, match=r"'pt' of collection 'Jet' holds 1 missing \(None\)"):
        events_to_batch(masked, collections=("Jet",))
    with pytest.raises(InputShapeError, match="event_to_graph"):
        events_to_batch(events[0])


def test_lecture_notes_layout():
    """The NanoAOD skim of the seeds' lecture notes: lower-case collections of ``Momentum4D``
    records with extra fields (float32, int32 charge), a ``Momentum2D`` MET record per event,
    a ``Vector3D`` PV and scalar fields; vector's behaviour not registered."""
    rng = np.random.default_rng(0)
    n = 40
    counts = {"muon": rng.integers(0, 4, n), "electron": rng.integers(0, 3, n)}
    counts["muon"][:3] = 0  # the first events have no muon

    def objects(c):
        m = int(c.sum())
        rec = {"pt": rng.exponential(30, m).astype(np.float32), "eta": rng.normal(0, 1.5, m).astype(np.float32),
               "phi": rng.uniform(-3, 3, m).astype(np.float32), "mass": np.full(m, 0.105, np.float32),
               "charge": rng.choice([-1, 1], m).astype(np.int32),
               "pfRelIso03_all": rng.uniform(0, 1, m).astype(np.float32)}
        return ak.unflatten(ak.zip(rec, with_name="Momentum4D"), c)

    zeros = np.zeros(n, np.float32)
    events = ak.zip({"run": np.ones(n, np.int32), "event": np.arange(n, dtype=np.uint64),
                     "PV": ak.zip({"x": zeros, "y": zeros, "z": zeros}, with_name="Vector3D"),
                     "electron": objects(counts["electron"]), "muon": objects(counts["muon"]),
                     "MET": ak.zip({"pt": rng.exponential(20, n).astype(np.float32),
                                    "phi": rng.uniform(-3, 3, n).astype(np.float32)}, with_name="Momentum2D")},
                    depth_limit=1)
    colls = ("muon", "electron", "MET")
    b = events_to_batch(events, collections=colls, extra_fields=("pfRelIso03_all",))
    assert b.num_graphs == n and b.x.shape == (int(counts["muon"].sum() + counts["electron"].sum()) + n, 9)
    mu = ak.flatten(events.muon)
    sel = b.node_type == 0
    np.testing.assert_allclose(b.x[sel, 0].numpy(), ak.to_numpy(mu.pt), rtol=1e-6)
    np.testing.assert_allclose(b.x[sel, 4].numpy(), ak.to_numpy(mu.charge))
    np.testing.assert_allclose(b.x[sel, 8].numpy(), ak.to_numpy(mu.pfRelIso03_all), rtol=1e-6)
    p = ak.to_numpy(mu.pt).astype(np.float64) * np.cosh(ak.to_numpy(mu.eta).astype(np.float64))
    np.testing.assert_allclose(b.x[sel, 3].numpy(), np.sqrt(p ** 2 + 0.105 ** 2), rtol=1e-5)
    met = b.node_type == 2
    assert int(met.sum()) == n and torch.all(b.x[met, 1] == 0)  # a 2-D vector: eta 0, E = pt
    torch.testing.assert_close(b.x[met, 3], b.x[met, 0])
    # only the muons: the events without any are zero-node graphs
    muons = events_to_batch(events, collections=("muon",))
    assert muons.ptr.diff()[:3].tolist() == [0, 0, 0]
    back = hetero_to_batch(events_to_hetero(events, collections=colls))
    _assert_same_batch(back, events_to_batch(events, collections=colls))


def test_generic_vector_records_of_every_dimension():
    """Vector2D/3D/4D (x, y, z, t) have no .pt or .E: read through rho and t."""
    import vector

    behavior = vector.backends.awkward.behavior
    x, y, z, t = 3.0, 4.0, 12.0, 14.0
    for dims, fields in ((2, {"x": [[x]], "y": [[y]]}), (3, {"x": [[x]], "y": [[y]], "z": [[z]]}),
                         (4, {"x": [[x]], "y": [[y]], "z": [[z]], "t": [[t]]})):
        arr = ak.zip(fields, with_name=f"Vector{dims}D", behavior=behavior)
        b = events_to_batch(ak.zip({"Jet": arr}, depth_limit=1), ("Jet",))
        eta = 0.0 if dims == 2 else float(np.arcsinh(z / 5.0))
        energy = {2: 5.0, 3: 13.0, 4: t}[dims]
        assert b.x[0, :4].tolist() == pytest.approx([5.0, eta, float(np.arctan2(y, x)), energy], rel=1e-6)


def test_collider_phi_is_wrapped_and_negative_pt_refused():
    ev = ak.Array([{"Muon": [{"pt": 30.0, "eta": 0.1, "phi": 4.0}, {"pt": 20.0, "eta": 0.0, "phi": -np.pi}]}])
    b = events_to_batch(ev, ("Muon",))
    assert b.x[:, 2].tolist() == pytest.approx([4.0 - 2 * np.pi, np.pi])
    bad = ak.Array([{"Muon": [{"pt": -30.0, "eta": 1.0, "phi": 1.0}]}])
    with pytest.raises(InputShapeError, match="negative pt"):
        events_to_batch(bad, ("Muon",))


def test_vector_records_get_the_record_checks():
    import vector

    v = vector.zip({"pt": [[5.0, 3.0]], "phi": [[4.0, -3.5]], "eta": [[0.0, 1.0]], "mass": [[0.0, 0.0]]})
    b = events_to_batch(ak.Array({"Jet": v}), ("Jet",))
    assert b.x[:, 2].tolist() == pytest.approx([4.0 - 2 * np.pi, -3.5 + 2 * np.pi])
    neg = vector.zip({"pt": [[-5.0]], "phi": [[0.0]], "eta": [[0.0]], "mass": [[0.0]]})
    with pytest.raises(InputShapeError, match="negative pt"):
        events_to_batch(ak.Array({"Jet": neg}), ("Jet",))
    along_beam = vector.zip({"px": [[0.0]], "py": [[0.0]], "pz": [[1.0]], "E": [[1.0]]})  # pT = 0: eta = 0
    assert events_to_batch(ak.Array({"Jet": along_beam}), ("Jet",)).x[0, :4].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_event_knn_wraps_phi():
    from pgjets.graphs import event_knn_graph

    ev = ak.Array([{"Jet": [{"pt": 50.0, "eta": 0.0, "phi": 3.1}, {"pt": 40.0, "eta": 0.0, "phi": -3.1},
                            {"pt": 30.0, "eta": 0.0, "phi": 2.5}]}])
    ei = events_to_batch(ev, ("Jet",), connectivity="knn", k=1).edge_index
    assert ei.tolist() == [[1, 0, 0], [0, 1, 2]]  # jets 0 and 1 are 0.083 apart across the seam
    # against brute force on random events: the k nearest in wrapped Delta R, sorted by centre then distance
    g = torch.Generator().manual_seed(0)
    counts = [5, 1, 0, 9]
    batch = torch.repeat_interleave(torch.arange(4), torch.tensor(counts))
    pos = torch.stack([torch.randn(batch.numel(), generator=g),
                       (torch.rand(batch.numel(), generator=g) * 2 - 1) * np.pi], 1)
    ei = event_knn_graph(pos, 3, batch)
    expected = []
    start = 0
    for n in counts:
        for i in range(start, start + n):
            d = [(float((pos[i, 0] - pos[j, 0]) ** 2 + ((pos[i, 1] - pos[j, 1] + np.pi) % (2 * np.pi) - np.pi) ** 2), j)
                 for j in range(start, start + n) if j != i]
            expected += [(j, i) for _, j in sorted(d)[:3]]
        start += n
    assert list(map(tuple, ei.t().tolist())) == expected
    assert event_knn_graph(pos[:0], 3, batch[:0]).shape == (2, 0)


def test_hetero_batch_keeps_graph_level_attributes_when_split(hzz):
    _, events = hzz
    b = events_to_batch(events[:4])
    b.y = torch.tensor([0, 1, 1, 0])
    b._slice_dict["y"], b._inc_dict["y"] = torch.arange(5), torch.zeros(4, dtype=torch.long)
    h = batch_to_hetero(b, COLLS)
    assert h.get_example(2).y.tolist() == [1] and h.get_example(3).event_index.tolist() == [3]
    assert [int(d.y) for d in h.to_data_list()] == [0, 1, 1, 0]
    assert [int(d.y) for d in h.index_select([1, 2])] == [1, 1]


def _old_event_knn_graph(pos, k, batch, num_graphs=None):
    """event_knn_graph before the size classes: every event padded to the largest of the batch."""
    import math

    from torch_geometric.utils import to_dense_batch

    from pgjets.ops.sizes import ptr_from_counts

    if pos.size(0) == 0:
        return torch.empty(2, 0, dtype=torch.long, device=pos.device)
    dense, mask = to_dense_batch(pos, batch, batch_size=num_graphs)  # (B, M, 2)
    m = mask.size(1)
    deta = dense[:, :, None, 0] - dense[:, None, :, 0]
    dphi = dense[:, :, None, 1] - dense[:, None, :, 1]
    dphi = dphi - 2.0 * math.pi * torch.round(dphi / (2.0 * math.pi))
    dist = deta * deta + dphi * dphi  # (event, centre, neighbour)
    eye = torch.eye(m, dtype=torch.bool, device=pos.device)
    dist = dist.masked_fill(~mask[:, None, :] | eye, math.inf)
    kk = min(int(k), m - 1)
    if kk < 1:
        return torch.empty(2, 0, dtype=torch.long, device=pos.device)
    values, nbr = torch.sort(dist, dim=-1, stable=True)  # ties: the lower index first
    values, nbr = values[..., :kk], nbr[..., :kk]
    keep = torch.isfinite(values) & mask[:, :, None]
    start = ptr_from_counts(mask.sum(1))[:-1]
    centre = (start[:, None, None] + torch.arange(m, device=pos.device)[None, :, None]).expand_as(nbr)
    return torch.stack([(start[:, None, None] + nbr)[keep], centre[keep]])


def _uneven_events(seed, dtype=torch.float32):
    """Events of 0 to 300 objects; half of them on a coarse grid (equal distances), phi at +-pi."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.tensor([0, 1, 2, 3, 0, 5, 1, 300, 2, 4, 9, 17, 33, 64, 65, 0, 2, 130, 1, 7, 8, 16])
    counts = counts[torch.randperm(counts.numel(), generator=g)]
    n = int(counts.sum())
    eta = torch.randn(n, generator=g, dtype=torch.float64)
    phi = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * np.pi
    grid = torch.rand(n, generator=g) < 0.5
    eta = torch.where(grid, torch.round(eta * 2) / 2, eta)
    phi = torch.where(grid, torch.round(phi * 2) / 2, phi)
    seam = torch.rand(n, generator=g) < 0.2  # on either side of the seam, and exactly at +-pi
    side = torch.randint(0, 4, (n,), generator=g)
    at_seam = torch.tensor([np.pi, -np.pi, np.pi - 1e-3, -np.pi + 1e-3], dtype=torch.float64)[side]
    phi = torch.where(seam, at_seam, phi)
    batch = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    return torch.stack([eta, phi], 1).to(dtype), batch, counts.numel()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("block", [None, 64, 5000])  # default, one event per block, a few events per block
def test_event_knn_equals_padded_reference(monkeypatch, dtype, block):
    from pgjets.graphs import event, event_knn_graph

    if block is not None:
        monkeypatch.setattr(event, "_KNN_BLOCK", block)
    for seed in range(3):
        pos, batch, b = _uneven_events(seed, dtype)
        for k in (1, 2, 3, 8, 40, 299, 1000):
            got, ref = event_knn_graph(pos, k, batch, b), _old_event_knn_graph(pos, k, batch, b)
            assert got.dtype == ref.dtype and torch.equal(got, ref), (seed, k)
        # trailing events without objects (num_graphs above batch.max() + 1)
        assert torch.equal(event_knn_graph(pos, 4, batch, b + 3), _old_event_knn_graph(pos, 4, batch, b + 3))


def test_event_knn_ties_and_small_events():
    from pgjets.graphs import event_knn_graph

    # all objects of an event at one point: every distance ties, the lower index first
    pos = torch.zeros(12, 2)
    pos[6:, 1] = torch.tensor([np.pi, -np.pi, np.pi, -np.pi, np.pi, -np.pi])  # the same point across the seam
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor([6, 0, 6]))
    for k in (1, 3, 5, 9):
        ei = event_knn_graph(pos, k, batch, 3)
        assert torch.equal(ei, _old_event_knn_graph(pos, k, batch, 3))
        kk = min(k, 5)
        assert ei.size(1) == 12 * kk
        assert ei[:, :kk].tolist() == [[1, 2, 3, 4, 5][:kk], [0] * kk]
    # events of 0, 1 and 2 objects only
    batch = torch.tensor([1, 2, 2, 4])
    pos = torch.tensor([[0.0, 0.0], [0.0, 3.0], [1.0, -3.0], [5.0, 5.0]])
    assert event_knn_graph(pos, 3, batch, 6).tolist() == [[2, 1], [1, 2]]
    assert event_knn_graph(pos[:1], 3, batch[:1], 2).shape == (2, 0)  # one object: no edge
    assert event_knn_graph(pos[:0], 3, batch[:0], 0).shape == (2, 0)
    assert event_knn_graph(pos, 0, batch, 6).shape == (2, 0)  # k = 0: no edge, as before


def test_event_knn_nonfinite_positions_as_before():
    from pgjets.graphs import event_knn_graph

    pos, batch, b = _uneven_events(5)
    pos[3, 0], pos[40, 1], pos[41, 0] = float("nan"), float("inf"), 3e38  # 3e38**2 overflows: no edge
    for k in (1, 8, 400):
        assert torch.equal(event_knn_graph(pos, k, batch, b), _old_event_knn_graph(pos, k, batch, b))


def test_event_knn_blocks_are_bounded_by_size_class(monkeypatch):
    from pgjets.graphs import event

    blocks = []
    block_fn = event._knn_block

    def record(pos, start, count, m, k, *rest):
        blocks.append((count.tolist(), m))
        return block_fn(pos, start, count, m, k, *rest)

    monkeypatch.setattr(event, "_knn_block", record)
    monkeypatch.setattr(event, "_KNN_BLOCK", 2000)
    # the outside user's case, scaled down: many small events and one large one
    counts = torch.tensor([5] * 200 + [100] + [0, 1] * 10 + [3, 40, 33])
    batch = torch.repeat_interleave(torch.arange(counts.numel()), counts)
    pos = torch.rand(int(counts.sum()), 2, generator=torch.Generator().manual_seed(0))
    ei = event.event_knn_graph(pos, 8, batch, counts.numel())
    assert torch.equal(ei, _old_event_knn_graph(pos, 8, batch, counts.numel()))
    padded = 0
    for sizes, m in blocks:
        assert min(sizes) >= 2 and m == max(sizes) and m < 2 * min(sizes)  # one size class, no empty event
        assert len(sizes) * m * m <= max(2000, m * m)  # the memory bound of a block
        padded += len(sizes) * m * m
    assert sorted(s for sizes, _ in blocks for s in sizes) == sorted(c for c in counts.tolist() if c >= 2)
    assert padded <= 4 * int((counts ** 2).sum())  # vs B * max(n)^2 = 233 * 100^2 padded to the largest
    assert max(len(sizes) * m * m for sizes, m in blocks) == 100 * 100  # the large event alone


def test_a_met_collection_is_transverse_whatever_its_stored_eta():
    # Delphes's MissingET.Eta is the eta of the visible sum: it must not give the MET node an eta or
    # an energy pT cosh(eta); a collection whose pT is 'pt' keeps its eta
    events = {"MissingET_MET": np.array([30.0, 50.0]), "MissingET_Eta": np.array([-3.0, 2.0]),
              "MissingET_Phi": np.array([0.5, -1.0]),
              "Jet_PT": ak.Array([[40.0], [20.0]]), "Jet_Eta": ak.Array([[1.5], [-0.5]]),
              "Jet_Phi": ak.Array([[0.1], [0.2]])}
    b = events_to_batch(events, ["MissingET", "Jet"])
    met, jet = b.node_type == 0, b.node_type == 1
    assert torch.equal(b.x[met, 1], torch.zeros(2)) and torch.equal(b.x[met, 3], b.x[met, 0])
    torch.testing.assert_close(b.x[jet, 1], torch.tensor([1.5, -0.5]))
    torch.testing.assert_close(b.x[jet, 3], torch.tensor([40 * np.cosh(1.5), 20 * np.cosh(0.5)]).float())


def test_cartesian_objects_take_their_energy_from_a_stored_mass():
    # EDM4hep's MCParticle stores momentum and mass, no energy: a Higgs at rest has E = m, not |p| = 0
    events = {"P_px": ak.Array([[0.0, 3.0]]), "P_py": ak.Array([[0.0, 4.0]]), "P_pz": ak.Array([[0.0, 0.0]]),
              "P_mass": ak.Array([[125.0, 0.0]])}
    b = events_to_batch(events, ["P"])
    torch.testing.assert_close(b.x[:, 3], torch.tensor([125.0, 5.0]))
    events["P_energy"] = ak.Array([[126.0, 6.0]])  # a stored energy wins
    torch.testing.assert_close(events_to_batch(events, ["P"]).x[:, 3], torch.tensor([126.0, 6.0]))
