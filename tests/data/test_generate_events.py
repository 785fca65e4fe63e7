from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import torch

from pgjets.cli import main
from pgjets.data import (
    EventDataset, stream_event_batches, EVENT_PROCESSES, generate_event_dataset, generate_events, read_events,
    read_manifest,
)
from pgjets.data.generate_events import is_event_folder, read_event_attrs
from pgjets.errors import DataFileError, DataFileNotFoundError
from pgjets.graphs import events_to_batch


@pytest.fixture(scope="module")
def sample():
    return {p: generate_events(p, 12, seed=5, label=i) for i, p in enumerate(("ttbar", "wjets"))}


def test_layout_and_physics(sample):
    for label, (process, ev) in enumerate(sample.items()):
        assert len(ev) == 12 and ak.all(ev.label == label)
        for f in ("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_hadronFlavour", "Jet_btag", "Muon_pt", "Muon_charge",
                  "Muon_pfRelIso03_all", "Electron_eta", "Photon_pt", "MET_pt", "MET_phi", "nJet", "nMuon"):
            assert f in ev.fields, f
        assert ak.all(ak.num(ev.Jet_pt) == ev.nJet) and ak.all(ak.num(ev.Muon_pt) == ev.nMuon)
        assert ak.all(ev.Jet_pt > 25) and ak.all(abs(ev.Jet_eta) < 4.7)
        for lep in ("Muon", "Electron"):
            assert ak.all(ev[f"{lep}_pt"] > 10) and ak.all(abs(ev[f"{lep}_eta"]) < 2.5)
            assert ak.all(ev[f"{lep}_pfRelIso03_all"] < 0.15) and ak.all(abs(ev[f"{lep}_charge"]) == 1)
        # the single-lepton trigger, objects sorted by pt
        lead = np.maximum(ak.to_numpy(ak.fill_none(ak.max(ev.Muon_pt, axis=1), 0)),
                          ak.to_numpy(ak.fill_none(ak.max(ev.Electron_pt, axis=1), 0)))
        assert (lead > 25).all()
        assert ak.all(ev.Jet_pt[:, :-1] >= ev.Jet_pt[:, 1:]) if ak.max(ev.nJet) > 1 else True
        assert np.isfinite(ak.to_numpy(ev.MET_pt)).all() and (ak.to_numpy(ev.MET_pt) >= 0).all()
    # ttbar has more jets and b jets than W+jets
    tt, wj = sample["ttbar"], sample["wjets"]
    assert ak.mean(tt.nJet) > ak.mean(wj.nJet) + 1
    assert ak.sum(tt.Jet_hadronFlavour == 5) > ak.sum(wj.Jet_hadronFlavour == 5)
    assert ak.sum(tt.Jet_btag) > ak.sum(wj.Jet_btag) and ak.all(tt.Jet_btag[tt.Jet_hadronFlavour == 0] <= 1)


def test_same_seed_same_events(sample):
    again = generate_events("wjets", 12, seed=5, label=1)
    assert ak.to_list(again) == ak.to_list(sample["wjets"])
    other = generate_events("wjets", 12, seed=6, label=1)
    assert ak.to_list(other.MET_pt) != ak.to_list(sample["wjets"].MET_pt)
    z = generate_events("zjets", 4, seed=1)
    n_lep = ak.to_numpy(z.nMuon + z.nElectron)
    assert len(z) == 4 and (n_lep >= 1).all() and ak.all(abs(z.Muon_charge) == 1)
    with pytest.raises(ValueError, match="unknown event process"):
        generate_events("higgs", 3)
    assert EVENT_PROCESSES[:2] == ("ttbar", "wjets")


def test_generated_events_become_graphs(sample):
    ev = sample["ttbar"]
    b = events_to_batch(ev)  # NanoAOD-style fields, straight from the file layout
    n = ev.nMuon + ev.nElectron + ev.nJet + ev.nPhoton + 1
    assert torch.equal(b.ptr.diff(), torch.from_numpy(ak.to_numpy(n).astype(np.int64)))
    assert torch.allclose(b.x[b.node_type == 2, 0], torch.from_numpy(ak.to_numpy(ak.flatten(ev.Jet_pt))))


def test_folder_resume_cli_and_dataset(tmp_path, capsys):
    out = tmp_path / "events"
    rc = main(["generate", "--events", "ttbar", "--events", "wjets", "--n-events", "10", "--chunk-size", "6",
               "--out", str(out), "--seed", "2", "--no-progress"])
    assert rc == 0 and "wrote 20 events" in capsys.readouterr().out
    m = read_manifest(out)
    assert m["kind"] == "events" and m["label_names"] == ["ttbar", "wjets"] and len(m["files"]) == 4
    assert is_event_folder(out) and not is_event_folder(tmp_path)
    assert is_event_folder(out / "ttbar_00000.parquet") and not is_event_folder(out / "manifest.json")
    ak.to_parquet(ak.Array([{"px": [1.0], "py": [2.0]}]), tmp_path / "jets.parquet")  # not events
    assert not is_event_folder(tmp_path / "jets.parquet")
    attrs = read_event_attrs(out / "wjets_00001.parquet")
    assert attrs["n_events"] == 4 and attrs["label"] == 1
    # resume: delete the manifest and one chunk; the other chunks are kept as they are
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    (out / "manifest.json").unlink()
    (out / "ttbar_00000.parquet").unlink()
    generate_event_dataset(["ttbar", "wjets"], 10, out, seed=2, chunk_size=6, progress=False)
    for name, t in stamps.items():
        if name != "ttbar_00000.parquet":
            assert (out / name).stat().st_mtime_ns == t, name
    events = read_events(out)
    assert len(events) == 20 and ak.to_list(events.label) == [0] * 10 + [1] * 10
    again = tmp_path / "again"
    generate_event_dataset(["ttbar", "wjets"], 10, again, seed=2, chunk_size=6, progress=False)
    assert ak.to_list(read_events(again)) == ak.to_list(events)
    with pytest.raises(DataFileError, match="other settings"):
        generate_event_dataset(["ttbar", "wjets"], 11, out, seed=2, chunk_size=6, progress=False)
    ds = EventDataset(out, drop_empty=True)
    assert len(ds) == 20 and ds.label_names == ["ttbar", "wjets"] and ds.num_dropped == 0
    assert ds.labels.tolist() == [0] * 10 + [1] * 10 and ds[3].y.tolist() == [0]
    assert ds.num_features == 5 + 5
    one = EventDataset(out / "wjets_00001.parquet")
    assert len(one) == 4 and one.label_names == ["ttbar", "wjets"] and one.labels.tolist() == [1] * 4
    # streaming, one file at a time: the same graphs as the in-memory dataset
    streamed = list(stream_event_batches(out, 4, extra_fields=("btag",)))
    full = EventDataset(out, extra_fields=("btag",))
    assert sum(b.num_graphs for b in streamed) == 20 and max(b.num_graphs for b in streamed) == 4
    assert torch.equal(torch.cat([b.event_index for b in streamed]), torch.arange(20))
    assert torch.equal(torch.cat([b.x for b in streamed]), full.batch.x)
    assert torch.equal(torch.cat([b.y for b in streamed]), full.labels)
    mixed = torch.cat([b.event_index for b in stream_event_batches(out, 4, shuffle=True, seed=3)])
    assert sorted(mixed.tolist()) == list(range(20)) and mixed.tolist() != list(range(20))
    from pgjets.models import EventDeepSets
    from pgjets.train import TrainConfig, Trainer

    trainer = Trainer(EventDeepSets(full.num_features, 2, hidden=8),
                      TrainConfig(epochs=1, batch_size=8, progress=False, verbose=False, seed=0))
    trainer.fit(lambda epoch: stream_event_batches(out, 8, extra_fields=("btag",), shuffle=True, seed=epoch))
    logits, y = trainer.predict(lambda epoch: stream_event_batches(out, 8, extra_fields=("btag",)))
    assert logits.shape == (20, 2) and torch.equal(y, full.labels)
    with pytest.raises(DataFileError, match="no event field"):
        next(stream_event_batches(out, 4, label="nope"))
    with pytest.raises(ValueError, match="H->ZZ"):
        EventDataset(out, label="z_candidate")
    with pytest.raises(DataFileNotFoundError):
        read_events(tmp_path / "missing")
    # argument errors exit with status 2
    assert main(["generate", "--events", "ttbar", "--out", str(tmp_path / "x")]) == 2
    assert main(["generate", "--out", str(tmp_path / "x")]) == 2


def test_event_files_are_told_from_jet_files_by_content(tmp_path, jet_folder):
    """What the CLI takes for events is what StreamedEventDataset reads, whatever the file's name:
    parquet with per-event collections (records, or jagged ``C_pt`` of any name), ROOT with a tree
    ``Events``; jet files (pgjets parquet, the ParT layout, HDF5, JetClass ROOT) never."""
    import shutil

    import pyarrow.parquet as pq
    import uproot

    from pgjets.data import StreamedEventDataset
    from pgjets.data.generate_events import parquet_layout

    rng = np.random.default_rng(0)
    counts = rng.integers(0, 3, 6)
    n = int(counts.sum())
    muon = ak.unflatten(ak.zip({"pt": rng.uniform(5, 50, n), "eta": rng.normal(0, 1, n),
                                "phi": rng.uniform(-3, 3, n)}), counts)
    label = np.arange(6) % 2
    files = {"nested.parquet": lambda p: ak.to_parquet(ak.zip({"Muon": muon, "label": label}, depth_limit=1), p),
             "genpart.parquet": lambda p: ak.to_parquet(ak.zip({"GenPart_pt": muon.pt, "GenPart_phi": muon.phi,
                                                               "label": label}, depth_limit=1), p)}
    for name, write in files.items():
        write(tmp_path / name)
    with uproot.recreate(tmp_path / "TTBAR.ROOT") as f:
        f.mktree("Events", {"Muon": muon.type}, field_name=lambda outer, inner: f"{outer}_{inner}",
                 counter_name=lambda c: f"n{c}")
        f["Events"].extend({"Muon": muon})
    shutil.copy(tmp_path / "nested.parquet", tmp_path / "nested")
    shutil.copy(tmp_path / "TTBAR.ROOT", tmp_path / "ttbar")
    for name, coll in [("nested.parquet", "Muon"), ("nested", "Muon"), ("genpart.parquet", "GenPart"),
                       ("TTBAR.ROOT", "Muon"), ("ttbar", "Muon")]:
        assert is_event_folder(tmp_path / name), name
        assert len(StreamedEventDataset({"a": tmp_path / name}, collections=(coll,))) == 6
    # jet files
    cons = ak.unflatten(ak.zip({"px": rng.normal(size=n), "py": rng.normal(size=n), "pz": rng.normal(size=n),
                                "E": rng.uniform(1, 2, n)}), counts)
    ak.to_parquet(ak.zip({"constituents": cons, "label": label}, depth_limit=1), tmp_path / "jets.parquet")
    ak.to_parquet(ak.zip({"part_px": cons.px, "part_py": cons.py, "part_pz": cons.pz, "part_energy": cons.E,
                          "jet_pt": rng.uniform(size=6), "label": label}, depth_limit=1), tmp_path / "part.parquet")
    with uproot.recreate(tmp_path / "jetclass.root") as f:
        f.mktree("tree", {"part_px": cons.px.type, "part_py": cons.py.type, "label_QCD": np.float32},
                 counter_name=lambda c: "part_n")
        f["tree"].extend({"part_px": cons.px, "part_py": cons.py, "label_QCD": np.ones(6, np.float32)})
    shutil.copy(tmp_path / "jets.parquet", tmp_path / "jets")
    h5 = next(p for p in jet_folder.iterdir() if p.name != "manifest.json")
    for path in [tmp_path / "jets.parquet", tmp_path / "jets", tmp_path / "part.parquet", tmp_path / "jetclass.root",
                 h5, jet_folder]:
        assert not is_event_folder(path), path
    layout = {name: parquet_layout(pq.read_schema(tmp_path / name))
              for name in ("nested.parquet", "genpart.parquet", "jets.parquet", "part.parquet")}
    assert layout == {"nested.parquet": "events", "genpart.parquet": "events", "jets.parquet": "jets",
                      "part.parquet": "jets"}
    ak.to_parquet(ak.Array({"a": [1.0, 2.0]}), tmp_path / "table.parquet")
    assert parquet_layout(pq.read_schema(tmp_path / "table.parquet")) == "unknown"
    # a folder of ROOT files with upper-case suffixes is a folder of events too
    folder = tmp_path / "upper"
    folder.mkdir()
    shutil.copy(tmp_path / "TTBAR.ROOT", folder / "A.ROOT")
    shutil.copy(tmp_path / "TTBAR.ROOT", folder / "b.root")
    from pgjets.data.generate_events import event_input_files

    assert event_input_files(folder) == [folder / "A.ROOT", folder / "b.root"] and is_event_folder(folder)
    assert len(StreamedEventDataset({"a": folder}, collections=("Muon",))) == 12
