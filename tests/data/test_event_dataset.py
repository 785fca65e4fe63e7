from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from pgjets.data import EventDataset, read_hzz_events
from pgjets.data.event_dataset import dimuon_z_candidate, four_lepton_candidate
from pgjets.errors import DataFileError, DataFileNotFoundError


@pytest.fixture(scope="module")
def ds():
    return EventDataset()


@pytest.fixture(scope="module")
def first50():
    return read_hzz_events(stop=50)


def _brute_force(ev):
    """Plain-Python Z label, best mass and SFOS pair count of one event."""
    mu = ev["Muon"]
    found, best = False, 0.0
    for a in range(len(mu)):
        for b in range(a + 1, len(mu)):
            if mu[a].charge * mu[b].charge >= 0:
                continue
            e = mu[a].E + mu[b].E
            p = [mu[a][c] + mu[b][c] for c in ("px", "py", "pz")]
            m = math.sqrt(max(e * e - sum(v * v for v in p), 0.0))
            found |= 60 < m < 120
            if best == 0.0 or abs(m - 91.1876) < abs(best - 91.1876):
                best = m
    sfos = 0
    for coll in ("Muon", "Electron"):
        q = [o.charge for o in ev[coll]]
        sfos += min(sum(c > 0 for c in q), sum(c < 0 for c in q))
    return int(found), best, int(sfos >= 2)


def test_reader_layout(first50):
    assert len(read_hzz_events()) == 2421
    assert len(first50) == 50 and len(read_hzz_events(start=10, stop=15)) == 5
    assert set(first50.fields) == {"Muon", "Electron", "Jet", "Photon", "MET"}
    assert set(first50["Muon"].fields) == {"px", "py", "pz", "E", "charge", "iso"}
    assert set(first50["Jet"].fields) >= {"px", "py", "pz", "E", "btag", "id"}
    assert first50["MET"].ndim == 1 and set(first50["MET"].fields) == {"px", "py"}


def test_counts_nodes_and_features(ds, first50):
    assert len(ds) == 2421 and ds.num_classes == 2
    for i in range(20):
        ev = first50[i]
        n = sum(len(ev[c]) for c in ("Muon", "Electron", "Jet", "Photon")) + 1
        d = ds[i]
        assert d.num_nodes == n and d.edge_index.size(1) == n * (n - 1)
        # node 0 is the first muon if there is one; the last node is MET
        if len(ev["Muon"]):
            m = ev["Muon"][0]
            assert float(d.pt[0]) == pytest.approx(math.hypot(m.px, m.py), rel=1e-5)
            assert float(d.x[0, 4]) == m.charge and int(d.node_type[0]) == 0
        assert float(d.pt[-1]) == pytest.approx(math.hypot(ev["MET"].px, ev["MET"].py), rel=1e-5)
        assert int(d.node_type[-1]) == 4


def test_labels_match_a_plain_loop(ds, first50):
    four = four_lepton_candidate(first50)
    for i in range(50):
        z, mass, fl = _brute_force(first50[i])
        assert int(ds[i].y) == z, i
        assert float(ds[i].dimuon_mass) == pytest.approx(mass, rel=1e-4, abs=1e-3), i
        assert int(four[i]) == fl, i
    y = ds.labels.float()
    assert 0.2 < float(y.mean()) < 0.8  # a real, non-trivial task
    assert torch.isfinite(ds.dimuon_mass).all()
    assert bool((ds.dimuon_mass[ds.labels == 1] > 60).all())


def test_loader_and_other_labels(ds):
    batch = next(iter(DataLoader(ds, batch_size=16, shuffle=True)))
    assert batch.num_graphs == 16 and batch.y.shape == (16,) and batch.dimuon_mass.shape == (16,)
    four = EventDataset(label="four_lepton", connectivity="knn", k=3)
    assert torch.equal(four.labels, torch.from_numpy(four_lepton_candidate(four.events)))
    assert 0 < int(four.labels.sum()) < len(four)
    assert four[0].edge_index.size(1) <= 3 * four[0].num_nodes
    njet = EventDataset(label=lambda ev: np.asarray([min(len(j), 2) for j in ev["Jet"]]),
                        collections=("Muon", "MET"))
    assert njet.num_classes == 3 and njet[0].x.size(1) == 5 + 2
    tr, va, te = ds.split(seed=3)
    assert sorted(torch.cat([tr, va, te]).tolist()) == list(range(2421))


def test_dimuon_mass_of_a_hand_made_event():
    import awkward as ak
    mu = [{"px": 45.0, "py": 0.0, "pz": 0.0, "E": 45.0, "charge": 1},
          {"px": -45.0, "py": 0.0, "pz": 0.0, "E": 45.0, "charge": -1}]
    events = ak.Array([{"Muon": mu}, {"Muon": mu[:1]}, {"Muon": [mu[0], mu[0]]}])
    label, mass = dimuon_z_candidate(events)
    assert label.tolist() == [1, 0, 0]
    np.testing.assert_allclose(mass, [90.0, 0.0, 0.0], rtol=1e-6)


def test_bad_files_and_labels(tmp_path):
    with pytest.raises(DataFileNotFoundError):
        read_hzz_events(tmp_path / "missing.root")
    with pytest.raises(DataFileNotFoundError):
        EventDataset(tmp_path / "missing.root")
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not a root file")
    with pytest.raises(DataFileError):
        read_hzz_events(bad)
    import uproot

    with uproot.recreate(tmp_path / "other.root") as f:
        f["events"] = {"NMuon": np.zeros(3, dtype=np.int32)}
        f["tree2"] = {"a": np.zeros(3)}
    with pytest.raises(DataFileError, match="Muon_Px"):
        read_hzz_events(tmp_path / "other.root")
    with uproot.recreate(tmp_path / "notree.root") as f:
        f["tree2"] = {"a": np.zeros(3)}
    with pytest.raises(DataFileError, match="no tree 'events'"):
        read_hzz_events(tmp_path / "notree.root")
    with pytest.raises(ValueError, match="start"):
        read_hzz_events(start=-1)
    with pytest.raises(ValueError, match="label"):
        EventDataset(label="higgs")
    with pytest.raises(ValueError, match="shape"):
        EventDataset(label=lambda ev: np.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        EventDataset(label=lambda ev: -np.ones(len(ev)))


def test_seeds_deepsets_on_muons_runs_on_the_whole_file():
    """Lecture 003's exercise: Deep Sets over the muons of every H->ZZ event, straight from uproot."""
    import uproot

    from pgjets.data.event_dataset import hzz_path
    from pgjets.graphs import events_to_batch
    from pgjets.models import EventDeepSets
    from pgjets.train import TrainConfig, Trainer

    with uproot.open(hzz_path()) as f:
        arrays = f["events"].arrays()  # flat branches Muon_Px, Muon_Py, ..., no conversion by hand
    batch = events_to_batch(arrays, collections=("Muon",))
    empty = batch.ptr.diff() == 0
    assert batch.num_graphs == 2421 and int(empty.sum()) == 59
    torch.manual_seed(0)
    model = EventDeepSets(batch.num_features, 2).eval()
    with torch.no_grad():
        out = model(batch)
        zero = model.head(torch.zeros(1, model.head[0].in_features))
    assert out.shape == (2421, 2) and torch.isfinite(out).all()
    torch.testing.assert_close(out[empty], zero.expand(59, -1))

    ds = EventDataset(collections=("Muon",), label="four_lepton")
    assert len(ds) == 2421 and ds.num_dropped == 0 and ds[int(empty.nonzero()[0])].num_nodes == 0
    kept = EventDataset(collections=("Muon",), drop_empty=True)
    assert len(kept) == 2362 and kept.num_dropped == 59 and "dropped=59" in repr(kept)
    all_z = EventDataset(collections=("Muon",))
    assert torch.equal(kept.labels, all_z.labels[~empty])
    assert torch.equal(kept.dimuon_mass, all_z.dimuon_mass[~empty])
    electrons = EventDataset(collections=("Electron",), drop_empty=True)
    assert electrons.num_dropped == 2303
    trainer = Trainer(EventDeepSets(ds.num_features, 2, hidden=16),
                      TrainConfig(epochs=1, batch_size=256, progress=False, verbose=False, seed=0))
    trainer.fit(ds)
    logits, y = trainer.predict(ds)
    assert logits.shape == (2421, 2) and torch.isfinite(logits).all()


def test_from_events_with_any_layout():
    import awkward as ak

    events = ak.Array([{"Jet_pt": [50.0, 30.0], "Jet_eta": [0.1, -1.0], "Jet_phi": [0.0, 2.0], "MET_pt": 10.0,
                        "MET_phi": 1.0, "cls": 1},
                       {"Jet_pt": [], "Jet_eta": [], "Jet_phi": [], "MET_pt": 5.0, "MET_phi": -1.0, "cls": 0}])
    ds = EventDataset.from_events(events, label="cls", collections=("Jet", "MET"))
    assert len(ds) == 2 and ds.labels.tolist() == [1, 0] and ds[1].num_nodes == 1
    only_jets = EventDataset.from_events(events, label=[1, 0], collections=("Jet",), drop_empty=True)
    assert len(only_jets) == 1 and only_jets.num_dropped == 1 and only_jets[0].event_index.tolist() == [0]
    with pytest.raises(ValueError, match="label"):
        EventDataset.from_events(events, label="nope", collections=("Jet",))
    assert only_jets.label_name == "given" and ds.label_name == "cls"
    with pytest.raises(ValueError, match=r"^the labels must have shape \(2,\), one per event"):
        EventDataset.from_events(events, label=[1, 0, 1], collections=("Jet",))
    with pytest.raises(ValueError, match=r"^the labels must be non-negative integers"):
        EventDataset.from_events(events, label=[1, -1], collections=("Jet",))


@pytest.mark.parametrize("connectivity", ["full", "knn"])
def test_subset_and_vectorised_batches(connectivity):
    from torch_geometric.data import Batch

    ds = EventDataset(collections=("Muon", "MET"), connectivity=connectivity, k=2, drop_empty=True)
    sub = ds.subset(torch.tensor([5, 0, 17, 3, 9]))
    assert len(sub) == 5 and sub.labels.tolist() == ds.labels[[5, 0, 17, 3, 9]].tolist()
    assert torch.equal(sub[2].x, ds[17].x) and torch.equal(sub[-1].x, ds[9].x)
    assert sub.num_batches(2) == 3 and sub.num_batches(2, drop_last=True) == 2
    got = list(sub.batches(2))
    ref = Batch.from_data_list([sub[i] for i in range(5)])
    cat = Batch.from_data_list([b.get_example(i) for b in got for i in range(b.num_graphs)])
    for key in ("x", "pos", "node_type", "edge_index", "y", "dimuon_mass", "ptr"):
        assert torch.equal(cat[key], ref[key]), key
    # event_index: each event's position, not shifted by PyG's collation (EventData items)
    assert torch.equal(ref.event_index, torch.tensor([5, 0, 17, 3, 9]))
    assert torch.equal(torch.cat([b.event_index for b in got]), ref.event_index)
    shuffled = list(sub.batches(2, shuffle=True, seed=1))
    again = list(sub.batches(2, shuffle=True, seed=1))
    order = torch.cat([b.event_index for b in shuffled])
    assert torch.equal(order, torch.cat([b.event_index for b in again]))
    assert sorted(order.tolist()) == sorted(sub.batch.event_index[sub._positions].tolist())
    nested = sub.subset([4, 0])
    assert torch.equal(nested[0].x, ds[9].x) and torch.equal(nested[1].x, ds[5].x)
    with pytest.raises(IndexError):
        sub.subset([5])
    # empty events (no muon) inside a batch
    muons = EventDataset(collections=("Muon",))
    empty = (muons.batch.ptr.diff() == 0).nonzero().view(-1)[:2].tolist()
    pick = muons.subset([empty[0], 1, empty[1], 2])
    (b,) = list(pick.batches(4))
    ref = Batch.from_data_list([pick[i] for i in range(4)])
    assert b.ptr.diff()[0] == 0 and b.ptr.diff()[2] == 0
    for key in ("x", "edge_index", "y", "ptr", "batch"):
        assert torch.equal(b[key], ref[key]), key


def _write_nanoaod(path, n=7, seed=0):
    """A NanoAOD-layout TTree ``Events`` (counters ``nMuon``, ``nJet`` and ``Muon_*``, ``Jet_*`` branches,
    scalar ``MET_*``, trigger bits), written as CMS files are: one counter per collection."""
    import awkward as ak
    import uproot

    rng = np.random.default_rng(seed)
    n_mu, n_jet = rng.integers(0, 3, n), rng.integers(0, 4, n)

    def jag(counts, values):
        return ak.unflatten(values.astype(np.float32), counts)

    muon = ak.zip({"pt": jag(n_mu, rng.uniform(5, 80, n_mu.sum())), "eta": jag(n_mu, rng.uniform(-2.4, 2.4, n_mu.sum())),
                   "phi": jag(n_mu, rng.uniform(-3, 3, n_mu.sum())), "mass": jag(n_mu, np.full(n_mu.sum(), 0.10566)),
                   "charge": ak.unflatten(rng.choice([-1, 1], n_mu.sum()).astype(np.int32), n_mu),
                   "tightId": ak.unflatten(rng.random(n_mu.sum()) > 0.5, n_mu)})
    jet = ak.zip({"pt": jag(n_jet, rng.uniform(20, 200, n_jet.sum())), "eta": jag(n_jet, rng.uniform(-4, 4, n_jet.sum())),
                  "phi": jag(n_jet, rng.uniform(-3, 3, n_jet.sum())), "mass": jag(n_jet, rng.uniform(1, 20, n_jet.sum())),
                  "btagDeepFlavB": jag(n_jet, rng.random(n_jet.sum()))})
    branches = {"Muon": muon, "Jet": jet, "MET_pt": rng.uniform(0, 90, n).astype(np.float32),
                "MET_phi": rng.uniform(-3, 3, n).astype(np.float32), "HLT_IsoMu24": rng.random(n) > 0.5,
                "label": (n_mu >= 2).astype(np.int32)}
    with uproot.recreate(path) as f:
        f.mktree("Events", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()},
                 field_name=lambda outer, inner: f"{outer}_{inner}", counter_name=lambda c: f"n{c}")
        f["Events"].extend(branches)
        f["Runs"] = {"run": np.ones(1, np.uint32)}
    flat = {f"{c}_{field}": branches[c][field] for c in ("Muon", "Jet") for field in ak.fields(branches[c])}
    return ak.Array({**flat, "MET_pt": branches["MET_pt"], "MET_phi": branches["MET_phi"], "label": branches["label"]})


def test_nanoaod_root_file(tmp_path):
    from pgjets.data.event_dataset import hzz_path, read_nanoaod_events, root_event_layout

    path = tmp_path / "nano.root"
    memory = _write_nanoaod(path)
    assert root_event_layout(path) == "nanoaod" and root_event_layout(hzz_path()) == "hzz"
    events = read_nanoaod_events(path, ("Muon", "Jet", "MET"), branches=["label"])
    assert "HLT_IsoMu24" not in events.fields and "Muon_tightId" not in events.fields  # only what is used
    assert "Jet_btagDeepFlavB" in read_nanoaod_events(path, ("Jet",), extra_fields=("btagDeepFlavB",)).fields
    ds = EventDataset(path, collections=("Muon", "Jet", "MET"), label="label")
    ref = EventDataset.from_events(memory, label="label", collections=("Muon", "Jet", "MET"))
    assert len(ds) == 7 and torch.equal(ds.labels, ref.labels)
    torch.testing.assert_close(ds.batch.x, ref.batch.x)
    assert torch.equal(ds.batch.edge_index, ref.batch.edge_index)
    with pytest.raises(ValueError, match="in NanoAOD naming, which holds no class labels"):
        EventDataset(path, collections=("Muon",))
    with pytest.raises(DataFileError, match="no branches Photon_pt"):
        read_nanoaod_events(path, ("Muon", "Photon"))
    with pytest.raises(DataFileError, match=r"lacks the branches \['target'\]"):
        EventDataset(path, collections=("Muon",), label="target")
    import uproot

    with uproot.recreate(tmp_path / "other.root") as f:
        f["tree"] = {"a": np.zeros(3)}
    with pytest.raises(DataFileError, match="none of the event trees 'events'.*'Events'.*'Delphes'"):
        EventDataset(tmp_path / "other.root")


def _records(memory, collection):
    """The flat fields ``C_f`` of ``memory`` zipped into one record field per event (RNTuple, nested parquet)."""
    import awkward as ak

    prefix = collection + "_"
    return ak.zip({f[len(prefix):]: memory[f] for f in memory.fields if f.startswith(prefix)})


def test_root_files_are_read_by_content_whatever_their_name(tmp_path):
    """An upper-case ``.ROOT`` suffix or none: the reader comes from the file's first bytes (as for
    StreamedEventDataset), not from its name."""
    import shutil

    from pgjets.data.event_dataset import hzz_path

    path = tmp_path / "nano.root"
    _write_nanoaod(path)
    ref = EventDataset(path, collections=("Muon", "Jet", "MET"), label="label")
    for name in ("TTBAR.ROOT", "ttbar"):
        other = shutil.copy(path, tmp_path / name)
        ds = EventDataset(other, collections=("Muon", "Jet", "MET"), label="label")
        assert torch.equal(ds.labels, ref.labels) and torch.equal(ds.batch.x, ref.batch.x)
    hzz = shutil.copy(hzz_path(), tmp_path / "HZZ")  # the H->ZZ layout without suffix
    assert len(EventDataset(hzz)) == 2421
    (tmp_path / "notes").write_text("not an event file")
    with pytest.raises(DataFileError, match="notes is not an event file"):
        EventDataset(tmp_path / "notes")


def test_an_rntuple_events_is_read_as_its_record_fields(tmp_path):
    """uproot 5.7 writes ``f["Events"] = {"Muon": records, ...}`` as an RNTuple: its sub-fields ``Muon.pt``, ...
    are read as the collection ``Muon``, giving the graphs of the same events in a NanoAOD TTree."""
    import uproot

    from pgjets.data import StreamedEventDataset
    from pgjets.data.event_dataset import index_event_file, read_nanoaod_events
    from pgjets.errors import DataArgumentError

    memory = _write_nanoaod(tmp_path / "tree.root")
    path = tmp_path / "rntuple.root"
    with uproot.recreate(path) as f:
        f["Events"] = {"Muon": _records(memory, "Muon"), "Jet": _records(memory, "Jet"),
                       "MET_pt": memory["MET_pt"], "MET_phi": memory["MET_phi"], "label": memory["label"]}
    with uproot.open(path) as f:
        if "RNTuple" not in f.classnames()["Events;1"]:
            pytest.skip("this uproot writes a TTree for f['Events'] = {...}")
    events = read_nanoaod_events(path, ("Muon", "MET"))
    assert set(events.fields) == {"Muon", "MET_pt", "MET_phi"}
    assert set(events["Muon"].fields) == {"pt", "eta", "phi", "mass", "charge"}  # only what the graphs read
    collections = ("Muon", "Jet", "MET")
    ref = EventDataset(tmp_path / "tree.root", collections=collections, label="label")
    ds = EventDataset(path, collections=collections, label="label")
    assert torch.equal(ds.labels, ref.labels)
    torch.testing.assert_close(ds.batch.x, ref.batch.x)
    streamed = StreamedEventDataset(path, collections=collections, chunk_size=3)
    batch = next(iter(streamed.batches(7)))
    torch.testing.assert_close(batch.x, ref.batch.x)
    assert torch.equal(batch.y, ref.labels)
    with pytest.raises(DataArgumentError, match="RNTuple 'Events' has no collection 'Tau'.*it has Jet, MET, Muon"):
        index_event_file(path, ("Muon", "Tau"))


def test_a_collection_without_its_momentum_is_named(tmp_path):
    """``Muon_pt`` dropped, the other ``Muon_*`` kept: the index and the reader name the missing branch
    (the reader's docstring promises a DataFileError, not a late InputShapeError)."""
    import awkward as ak
    import uproot

    from pgjets.data import StreamedEventDataset
    from pgjets.data.event_dataset import index_event_file, read_nanoaod_events
    from pgjets.errors import DataArgumentError

    memory = _write_nanoaod(tmp_path / "tree.root")
    muon = _records(memory, "Muon")
    path = tmp_path / "nopt.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"Muon": ak.zip({k: muon[k] for k in ("eta", "phi", "mass")}).type,
                            "MET_pt": np.float32, "MET_phi": np.float32},
                 field_name=lambda outer, inner: f"{outer}_{inner}", counter_name=lambda c: f"n{c}")
        f["Events"].extend({"Muon": ak.zip({k: muon[k] for k in ("eta", "phi", "mass")}),
                            "MET_pt": memory["MET_pt"], "MET_phi": memory["MET_phi"]})
    lacks = r"collection 'Muon' lacks Muon_pt \(or Muon_px and Muon_py\)"
    with pytest.raises(DataArgumentError, match=r"nopt.root tree 'Events': " + lacks + "; its object fields are eta"):
        index_event_file(path, ("Muon", "MET"))
    with pytest.raises(DataArgumentError, match=lacks):
        StreamedEventDataset({"a": path}, collections=("Muon", "MET"))
    with pytest.raises(DataFileError, match=r"nopt.root: tree 'Events': " + lacks):
        read_nanoaod_events(path, ("Muon", "MET"))
    assert len(read_nanoaod_events(path, ("MET",))) == 7  # the other collections are read
    nested = tmp_path / "nested.parquet"  # records without pt or px
    ak.to_parquet(ak.zip({"Muon": ak.zip({"eta": muon.eta}), "label": memory["label"]}, depth_limit=1), nested)
    with pytest.raises(DataArgumentError, match="collection 'Muon' lacks the field pt \\(or px\\) of its records"):
        index_event_file(nested, ("Muon",))
