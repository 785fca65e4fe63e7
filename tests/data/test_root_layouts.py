"""The public ROOT layouts of event files (pgjets.data.root_layouts), on real files written by others:
Delphes, EDM4hep (FCC-ee, ILD), ATLAS PHYSLITE, CMS TreeMaker and NanoAOD (tests/external_samples.py).
Every value is compared with the file's own branches, read here with uproot."""

from __future__ import annotations

import shutil

import awkward as ak
import numpy as np
import pytest
import uproot

from pgjets.cli import main
from pgjets.data import StreamedEventDataset, read_nanoaod_events
from pgjets.data.event_dataset import index_event_file, root_event_layout
from pgjets.data.root_layouts import (collection_keys, detect_layout, flat_name, nominal_name, split_dotted,
                                      tree_name)
from pgjets.errors import DataArgumentError, DataFileError
from pgjets.graphs import events_to_batch


def _flat(tree, key):
    return ak.to_numpy(ak.flatten(tree[key].array())).astype(np.float64)


# ---- naming, without files ----

def test_member_branches_are_split_into_collection_and_field():
    assert split_dotted("Jet/Jet.PT") == ("Jet", "PT", False)
    assert split_dotted("Jet/Jet.momentum.x") == ("Jet", "px", False)
    assert split_dotted("Jets/Jets.fCoordinates.fE") == ("Jets", "e", False)
    assert split_dotted("AnalysisJetsAuxDyn.pt") == ("AnalysisJets", "pt", True)
    assert split_dotted("Muon.pt") == ("Muon", "pt", False)  # an RNTuple's record sub-field
    assert split_dotted("Jet/Jet.covMatrix.values[10]") is None  # nested, not an object field
    assert split_dotted("Jet_pt") is None and split_dotted("Jet.") is None
    assert nominal_name("el_pt_NOSYS") == "el_pt"


def test_collection_keys_prefer_flat_branches_and_find_members():
    keys = ["Jet_pt", "Jet_PT_NOSYS", "Jet/Jet.PT", "Jet/Jet.Eta", "Jet_size", "JetAK8_pt", "Jet/Jet.fBits"]
    assert collection_keys(keys, "Jet", {"pt", "eta", "phi"}) == {"pt": "Jet_pt", "eta": "Jet/Jet.Eta"}
    assert collection_keys(keys, "JetAK8") == {"pt": "JetAK8_pt"}
    assert flat_name("Jet/Jet.Eta", "Jet") == ("Jet_Eta", 1.0)
    assert flat_name("AnalysisJetsAuxDyn.m", "AnalysisJets") == ("AnalysisJets_m", 1e-3)  # MeV -> GeV
    assert flat_name("AnalysisJetsAuxDyn.eta", "AnalysisJets") == ("AnalysisJets_eta", 1.0)
    assert flat_name("el_pt_NOSYS", "el") == ("el_pt", 1.0)


def test_layouts_come_from_the_trees():
    assert detect_layout({"Events", "Runs"}, None, False) == "nanoaod"
    assert detect_layout({"events"}, None, True) == "hzz"
    assert detect_layout({"events", "podio_metadata"}, None, False) == "edm4hep"
    assert detect_layout({"Delphes", "ProcessID0"}, None, False) == "delphes"
    assert detect_layout({"CollectionTree", "MetaData"}, None, False) == "physlite"
    assert detect_layout({"PreSelection"}, "PreSelection", False) == "nanoaod"
    assert detect_layout({"tag"}, None, False) is None
    assert tree_name("delphes", None) == "Delphes" and tree_name("nanoaod", "mini") == "mini"


# ---- real files ----

@pytest.mark.parametrize("name, tree, layout", [
    ("delphes.root", None, "delphes"),
    ("p8_ee_WW_ecm240_edm4hep.root", None, "edm4hep"),
    ("edm4hep_ILD_mumuH_v01-00_podio_v01-07_10ev.root", None, "edm4hep"),
    ("PHYSLITE_example.root", None, "physlite"),
    ("nano_dy.root", None, "nanoaod"),
    ("treemaker.root", "PreSelection", "nanoaod"),
])
def test_the_layout_of_real_files(external_sample, name, tree, layout):
    assert root_event_layout(external_sample(name), tree) == layout


def _batch(path, layout, collections, tree=None):
    events = read_nanoaod_events(path, collections, tree=tree_name(layout, tree))
    return events_to_batch(events, collections)


def test_delphes_objects_and_missing_et(external_sample):
    path = external_sample("delphes.root")
    t = uproot.open(path)["Delphes"]
    b = _batch(path, "delphes", ["Jet", "MissingET"])
    jet, met = b.node_type == 0, b.node_type == 1
    np.testing.assert_allclose(b.x[jet, 0].double().numpy(), _flat(t, "Jet/Jet.PT"), rtol=1e-6)
    np.testing.assert_allclose(b.x[jet, 1].double().numpy(), _flat(t, "Jet/Jet.Eta"), rtol=1e-6)
    np.testing.assert_allclose(b.x[jet, 4].double().numpy(), _flat(t, "Jet/Jet.Charge"))
    pt, eta, m = (_flat(t, f"Jet/Jet.{f}") for f in ("PT", "Eta", "Mass"))
    np.testing.assert_allclose(b.x[jet, 3].double().numpy(), np.sqrt((pt * np.cosh(eta)) ** 2 + m ** 2), rtol=1e-5)
    # one MET per event, transverse: eta 0 (Delphes stores the eta of the visible sum), E = MET
    assert int(met.sum()) == t.num_entries
    np.testing.assert_allclose(b.x[met, 0].double().numpy(), _flat(t, "MissingET/MissingET.MET"), rtol=1e-6)
    assert np.abs(_flat(t, "MissingET/MissingET.Eta")).max() > 1  # the stored eta is not 0 ...
    assert b.x[met, 1].abs().max() == 0 and torch_close(b.x[met, 3], b.x[met, 0])  # ... but is ignored


def torch_close(a, b):
    return bool(np.allclose(a.double().numpy(), b.double().numpy()))


@pytest.mark.parametrize("name, coll", [("p8_ee_WW_ecm240_edm4hep.root", "Jet"),
                                        ("edm4hep_ILD_mumuH_v01-00_podio_v01-07_10ev.root", "PandoraPFOs")])
def test_edm4hep_momenta(external_sample, name, coll):
    path = external_sample(name)
    t = uproot.open(path)["events"]
    b = _batch(path, "edm4hep", [coll])
    px, py, pz = (_flat(t, f"{coll}/{coll}.momentum.{c}") for c in "xyz")
    pt = np.hypot(px, py)
    assert b.num_nodes == px.size > 0
    np.testing.assert_allclose(b.x[:, 0].double().numpy(), pt, rtol=1e-5)
    np.testing.assert_allclose(b.x[:, 2].double().numpy(), np.arctan2(py, px), atol=1e-5)
    keep = pt > 1e-3
    np.testing.assert_allclose(b.x[keep, 1].double().numpy(), np.arcsinh(pz[keep] / pt[keep]), atol=1e-4)
    np.testing.assert_allclose(b.x[:, 3].double().numpy(), _flat(t, f"{coll}/{coll}.energy"), rtol=1e-5)
    np.testing.assert_allclose(b.x[:, 4].double().numpy(), _flat(t, f"{coll}/{coll}.charge"))
    counts = ak.to_numpy(ak.num(t[f"{coll}/{coll}.energy"].array()))
    np.testing.assert_array_equal(np.bincount(b.batch.numpy(), minlength=t.num_entries), counts)


def test_physlite_is_read_in_gev(external_sample):
    path = external_sample("PHYSLITE_example.root")
    t = uproot.open(path)["CollectionTree"]
    b = _batch(path, "physlite", ["AnalysisJets", "AnalysisMuons"])
    jet = b.node_type == 0
    pt_mev, eta, m_mev = (_flat(t, f"AnalysisJetsAuxDyn.{f}") for f in ("pt", "eta", "m"))
    np.testing.assert_allclose(b.x[jet, 0].double().numpy(), pt_mev / 1000, rtol=1e-6)
    np.testing.assert_allclose(b.x[jet, 1].double().numpy(), eta, rtol=1e-6)
    np.testing.assert_allclose(b.x[jet, 3].double().numpy(),
                               np.sqrt((pt_mev * np.cosh(eta)) ** 2 + m_mev ** 2) / 1000, rtol=1e-5)
    assert 5 < float(np.median(b.x[jet, 0].numpy())) < 500  # jets of tens of GeV, not of MeV
    np.testing.assert_allclose(b.x[~jet, 0].double().numpy(), _flat(t, "AnalysisMuonsAuxDyn.pt") / 1000, rtol=1e-6)


def test_treemaker_lorentz_vectors(external_sample):
    path = external_sample("treemaker.root")
    t = uproot.open(path)["PreSelection"]
    b = _batch(path, "nanoaod", ["Jets"], tree="PreSelection")
    for column, member in ((0, "fPt"), (1, "fEta"), (2, "fPhi"), (3, "fE")):
        np.testing.assert_allclose(b.x[:, column].double().numpy(), _flat(t, f"Jets/Jets.fCoordinates.{member}"),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(DataArgumentError, match="has no collection 'Jet'.*did you mean|has no collection 'Jet'"):
        index_event_file(path, ["Jet"], tree="PreSelection")


def test_nanoaod_v15(external_sample):
    path = external_sample("nano_tt_v15.root")
    t = uproot.open(path)["Events"]
    b = _batch(path, "nanoaod", ["Muon", "Jet"])
    np.testing.assert_allclose(b.x[b.node_type == 1, 0].double().numpy(), _flat(t, "Jet_pt"), rtol=1e-6)


def test_streamed_weights_and_event_ids_of_delphes_and_edm4hep(external_sample, tmp_path):
    for name, weight, ids in (("delphes.root", "Event.Weight", ["Event.Number"]),
                              ("p8_ee_WW_ecm240_edm4hep.root", "EventHeader.weight",
                               ["EventHeader.runNumber", "EventHeader.eventNumber"])):
        path = external_sample(name)
        other = tmp_path / f"other_{name}"
        shutil.copy(path, other)
        ds = StreamedEventDataset({"a": path, "b": other}, collections=["Jet"], weight=weight, weight_norm="none")
        t = uproot.open(path)[root_event_layout(path) == "delphes" and "Delphes" or "events"]
        n = t.num_entries
        assert ds.file_kind(0) == root_event_layout(path)
        stored = _flat(t, [k for k in t.keys() if k.endswith("/" + weight)][0])
        np.testing.assert_allclose(ds.weights()[:n], stored)  # one entry per event, read as one number
        got = ds.event_ids(np.arange(n))
        for f in ids:
            key = [k for k in t.keys() if k.endswith("/" + f)][0]
            np.testing.assert_array_equal(got[f], ak.to_numpy(ak.flatten(t[key].array())))


def test_a_missing_weight_member_is_named(external_sample, tmp_path):
    path = external_sample("delphes.root")
    shutil.copy(path, tmp_path / "b.root")
    with pytest.raises(DataFileError, match="no per-event field 'Event.Weigth'.*'Event.Weight'"):
        StreamedEventDataset({"a": path, "b": tmp_path / "b.root"}, collections=["Jet"], weight="Event.Weigth")


def test_train_and_evaluate_on_delphes_files(external_sample, tmp_path, capsys):
    path = external_sample("delphes.root")
    other = tmp_path / "bkg.root"
    shutil.copy(path, other)
    run = tmp_path / "run"
    argv = ["train", "--model", "event_deepsets", "--data", f"sig={path}", "--data", f"bkg={other}",
            "--collection", "Jet", "--collection", "Muon", "--collection", "MissingET", "--weight", "Event.Weight",
            "--epochs", "1", "--batch-size", "8", "--out", str(run)]
    assert main(argv) == 0
    z = np.load(run / "scores.npz", allow_pickle=True)
    t = uproot.open(path)["Delphes"]
    number = ak.to_numpy(ak.flatten(t["Event/Event.Number"].array()))
    mine = z["file_index"] == 0  # the test events of delphes.root
    assert mine.any()
    np.testing.assert_array_equal(z["Event.Number"][mine], number[z["entry"][mine]])
    np.testing.assert_allclose(z["weight"][mine], _flat(t, "Event/Event.Weight")[z["entry"][mine]])
    assert main(["evaluate", str(run)]) == 0
    capsys.readouterr()
    # a Delphes file has no collection MET (its MissingET): named with what it has, before any run folder
    assert main([*argv[:9], "--collection", "MET", "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert "has no collection 'MET'" in err and "MissingET" in err and not (tmp_path / "r2").exists()


def test_edm4hep_events_are_not_taken_for_the_hzz_layout(external_sample):
    path = external_sample("p8_ee_WW_ecm240_edm4hep.root")
    with pytest.raises(DataArgumentError, match=r"tree 'events' has no collection 'Muons'.*ReconstructedParticles"):
        index_event_file(path, ["Muons"])


def test_nanoaod_v15_pfmet_is_the_met_collection(external_sample):
    from pgjets.data.event_dataset import DEFAULT_COLLECTIONS

    path = external_sample("nano_tt_v15.root")  # NanoAOD v15 renamed MET to PFMET
    assert index_event_file(path, DEFAULT_COLLECTIONS)[0] == "nanoaod"
    t = uproot.open(path)["Events"]
    events = read_nanoaod_events(path, ["MET"])
    assert set(events.fields) == {"MET_pt", "MET_phi"}
    np.testing.assert_array_equal(ak.to_numpy(events.MET_pt), t["PFMET_pt"].array(library="np"))


def test_references_are_named_not_read(external_sample):
    with pytest.raises(DataArgumentError, match="lacks .*objidx.*references into another collection"):
        index_event_file(external_sample("p8_ee_WW_ecm240_edm4hep.root"), ["Muon"])
    with pytest.raises(DataArgumentError, match="'btaggingLink' of collection 'AnalysisJets' is not numbers"):
        index_event_file(external_sample("PHYSLITE_example.root"), ["AnalysisJets"], ["btaggingLink"])
    with pytest.raises(DataArgumentError, match="'Constituents' of collection 'Jet' is not numbers"):
        index_event_file(external_sample("delphes.root"), ["Jet"], ["Constituents"])
    assert index_event_file(external_sample("delphes.root"), ["Jet"], ["BTag"]) == ("delphes", 25)


def test_edm4hep_truth_particles_get_their_energy_from_the_mass(external_sample):
    path = external_sample("edm4hep_ILD_mumuH_v01-00_podio_v01-07_10ev.root")
    t = uproot.open(path)["events"]
    b = events_to_batch(read_nanoaod_events(path, ["MCParticles"]), ["MCParticles"])  # the layout's own tree
    p2 = sum(_flat(t, f"MCParticles/MCParticles.momentum.{c}") ** 2 for c in "xyz")
    np.testing.assert_allclose(b.x[:, 3].double().numpy(), np.sqrt(p2 + _flat(t, "MCParticles/MCParticles.mass") ** 2),
                               rtol=1e-5)


def test_physlite_event_ids(external_sample, tmp_path):
    path = external_sample("PHYSLITE_example.root")
    shutil.copy(path, tmp_path / "b.root")
    ds = StreamedEventDataset({"a": path, "b": tmp_path / "b.root"}, collections=["AnalysisJets"])
    got = ds.event_ids(np.arange(5))
    t = uproot.open(path)["CollectionTree"]
    np.testing.assert_array_equal(got["EventInfoAuxDyn.eventNumber"],
                                  t["EventInfoAuxDyn.eventNumber"].array(library="np")[:5])


def test_classes_from_different_layouts_are_warned_about(external_sample):
    from pgjets.errors import PgjetsWarning
    from pgjets.run_events import warn_class_layouts

    ds = StreamedEventDataset({"pp": external_sample("delphes.root"),
                               "ee": external_sample("p8_ee_WW_ecm240_edm4hep.root")}, collections=["Jet"])
    with pytest.warns(PgjetsWarning, match="different layouts.*pp: Delphes; ee: EDM4hep"):
        warn_class_layouts(ds)


def test_evaluating_files_of_another_layout_is_warned_about(external_sample, tmp_path, capsys):
    delphes, nano = external_sample("delphes.root"), external_sample("nano_dy.root")
    other = tmp_path / "other.root"
    shutil.copy(delphes, other)
    run = tmp_path / "run"
    assert main(["train", "--model", "event_deepsets", "--data", f"a={delphes}", "--data", f"b={other}",
                 "--collection", "Jet", "--collection", "Muon", "--epochs", "1", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", f"a={nano}"]) == 0
    assert "holds NanoAOD files, but the run trained on Delphes files" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--data", f"a={other}"]) == 0  # its own layout: no warning
    assert "another reconstruction" not in capsys.readouterr().err
