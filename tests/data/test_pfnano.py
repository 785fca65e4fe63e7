"""Jets of CMS PFNano files (pgjets.data.pfnano): a real file written by others (tests/external_samples.py)
and small hand-made ones for the refusals."""

from __future__ import annotations

import shutil

import awkward as ak
import numpy as np
import pytest
import uproot

from pgjets.cli import main
from pgjets.data.pfnano import PFNANO_LABELS, count_pfnano, read_pfnano
from pgjets.data.readers import count_rows, detect_format, read_rows
from pgjets.errors import DataFileError


def _reference(path, jets="Jet"):
    """Per jet (event-major): its constituents' (pt, eta, phi, mass, pdgId) and its class, by a loop."""
    t = uproot.open(path)["Events"]
    a = t.arrays([f"{jets}_hadronFlavour", f"{jets}PFCands_jetIdx", f"{jets}PFCands_pFCandsIdx", "PFCands_pt",
                  "PFCands_eta", "PFCands_phi", "PFCands_mass", "PFCands_pdgId", "PFCands_d0",
                  "PFCands_d0Err", "PFCands_dz", "PFCands_dzErr"])
    out = []
    for ev in a:
        for j, flav in enumerate(ev[f"{jets}_hadronFlavour"]):
            idx = np.asarray(ev[f"{jets}PFCands_pFCandsIdx"])[np.asarray(ev[f"{jets}PFCands_jetIdx"]) == j]
            cands = np.stack([np.asarray(ev[f"PFCands_{c}"])[idx] for c in ("pt", "eta", "phi", "mass", "pdgId")], 1)
            ip = np.stack([np.asarray(ev[f"PFCands_{c}"])[idx] for c in ("d0", "d0Err", "dz", "dzErr")], 1)
            out.append((cands, {0: 0, 4: 1, 5: 2}[int(flav)], ip))
    return out


@pytest.mark.parametrize("jets", ["Jet", "FatJet"])
def test_pfnano_jets_are_their_candidates(external_sample, jets):
    path = external_sample("pfnano.root")
    ref = _reference(path, jets)
    table = read_pfnano(path, jets=jets, drop_empty=jets == "FatJet")
    ref = [r for r in ref if len(r[0])] if jets == "FatJet" else ref
    assert len(table) == len(ref) and table.label_names == PFNANO_LABELS
    np.testing.assert_array_equal(table.label, [r[1] for r in ref])
    np.testing.assert_array_equal(table.n_constituents, [len(r[0]) for r in ref])
    cands = np.concatenate([r[0] for r in ref])
    pt, eta, phi, m = cands[:, 0], cands[:, 1], cands[:, 2], cands[:, 3]
    np.testing.assert_allclose(np.hypot(table.px, table.py), pt, rtol=1e-5)
    np.testing.assert_allclose(table.px, pt * np.cos(phi), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(table.pz, pt * np.sinh(eta), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(table.E, np.sqrt((pt * np.cosh(eta)) ** 2 + m ** 2), rtol=1e-5)
    np.testing.assert_array_equal(table.pdgid, cands[:, 4])
    # the track impact parameters of the particlenet feature set: in mm (PFNano: cm), 0 without a track
    ip = np.concatenate([r[2] for r in ref])
    no_track = (ip[:, 1] <= 0) | (ip[:, 3] <= 0)
    assert no_track.any() and (~no_track).any()
    for c, column in enumerate((table.d0val, table.d0err, table.dzval, table.dzerr)):
        np.testing.assert_allclose(column, np.where(no_track, 0.0, 10 * ip[:, c]), rtol=1e-6)


def test_pfnano_format_rows_and_slices(external_sample):
    path = external_sample("pfnano.root")
    assert detect_format(path) == "pfnano"
    n = int(uproot.open(path)["Events"]["nJet"].array(library="np").sum())
    assert count_rows(path) == count_pfnano(path) == n == 64
    full = read_rows(path)
    parts = [read_pfnano(path, a, a + 7) for a in range(0, n, 7)]  # chunks that cut through events
    np.testing.assert_array_equal(np.concatenate([p.px for p in parts]), full.px)
    np.testing.assert_array_equal(np.concatenate([p.label for p in parts]), full.label)
    assert len(read_pfnano(path, 10, 10)) == 0 and len(read_pfnano(path, -3)) == 3


def _write_pfnano(path, flavour=(0, 5), jet_idx=(0, 0, 1), cand_idx=(0, 1, 2)):
    branches = {
        "Jet_pt": ak.Array([[50.0] * len(flavour)]), "Jet_hadronFlavour": ak.Array([list(flavour)]),
        "JetPFCands_jetIdx": ak.Array([list(jet_idx)]), "JetPFCands_pFCandsIdx": ak.Array([list(cand_idx)]),
        **{f"PFCands_{c}": ak.Array([[1.0, 2.0, 3.0]]) for c in ("pt", "eta", "phi", "mass")},
    }
    if flavour is None:
        del branches["Jet_hadronFlavour"]
    _write_tree(path, {"Jet": ak.zip({k[4:]: v for k, v in branches.items() if k.startswith("Jet_")}),
                       "JetPFCands": ak.zip({k[11:]: v for k, v in branches.items() if k.startswith("JetPFCands_")}),
                       "PFCands": ak.zip({k[8:]: v for k, v in branches.items() if k.startswith("PFCands_")})})
    return path


def _write_tree(path, collections):
    """A TTree ``Events`` in NanoAOD naming (counters nC, branches C_f), as CMS writes it."""
    with uproot.recreate(path) as f:
        f.mktree("Events", {name: arr.type for name, arr in collections.items()})
        f["Events"].extend(collections)


def test_pfnano_refusals(tmp_path):
    good = read_pfnano(_write_pfnano(tmp_path / "ok.root"))
    np.testing.assert_array_equal(good.label, [0, 2])
    np.testing.assert_array_equal(good.n_constituents, [2, 1])
    with pytest.raises(DataFileError, match="hadron flavour 3; expected 0, 4 or 5"):
        read_pfnano(_write_pfnano(tmp_path / "f.root", flavour=(0, 3)))
    with pytest.raises(DataFileError, match="joins jet 0 of 2 and candidate 7 of 3"):
        read_pfnano(_write_pfnano(tmp_path / "i.root", cand_idx=(7, 1, 2)))
    with pytest.raises(ValueError, match="jets must be one of"):
        read_pfnano(tmp_path / "ok.root", jets="AK15")


def test_collision_data_has_no_flavour(tmp_path):
    path = tmp_path / "data.root"
    _write_tree(path, {"Jet": ak.zip({"pt": ak.Array([[50.0]])}),
                       "JetPFCands": ak.zip({"jetIdx": ak.Array([[0]]), "pFCandsIdx": ak.Array([[0]])}),
                       "PFCands": ak.zip({c: ak.Array([[1.0]]) for c in ("pt", "eta", "phi", "mass")})})
    with pytest.raises(DataFileError, match="no Jet_hadronFlavour.*collision data"):
        read_pfnano(path)


def test_a_pfnano_file_is_jets_for_jet_models_and_events_for_event_models(external_sample, tmp_path):
    path = external_sample("pfnano.root")
    jets = ["train", "--model", "pfn", "--data", str(path), "--epochs", "1", "--batch-size", "16",
            "--out", str(tmp_path / "jets")]
    assert main(jets) == 0
    z = np.load(tmp_path / "jets" / "scores.npz", allow_pickle=True)
    assert z["probabilities"].shape[1] == 3 and set(z["y"].tolist()) <= {0, 1}  # light and c jets in the file
    assert main(["evaluate", str(tmp_path / "jets")]) == 0
    other = tmp_path / "other.root"
    shutil.copy(path, other)
    events = ["train", "--model", "event_deepsets", "--data", f"a={path}", "--data", f"b={other}",
              "--collection", "Jet", "--collection", "Muon", "--epochs", "1", "--out", str(tmp_path / "events")]
    assert main(events) == 0


def test_pfnano_files_with_and_without_impact_parameters_are_refused_up_front(tmp_path):
    from pgjets.data import JetDataset

    with_ip = _write_pfnano(tmp_path / "a.root")
    # a file with the four impact-parameter branches
    branches = {c: ak.Array([[0.01, -1.0, 0.02]]) for c in ("d0", "d0Err", "dz", "dzErr")}
    _write_tree(tmp_path / "b.root", {
        "Jet": ak.zip({"pt": ak.Array([[50.0, 40.0]]), "hadronFlavour": ak.Array([[0, 5]])}),
        "JetPFCands": ak.zip({"jetIdx": ak.Array([[0, 0, 1]]), "pFCandsIdx": ak.Array([[0, 1, 2]])}),
        "PFCands": ak.zip({**{c: ak.Array([[1.0, 2.0, 3.0]]) for c in ("pt", "eta", "phi", "mass")}, **branches})})
    np.testing.assert_allclose(read_pfnano(tmp_path / "b.root").d0val, [0.1, 0.0, 0.2], rtol=1e-6)
    with pytest.raises(DataFileError, match="b.root stores the candidates' track impact parameters.*a.root does not"):
        JetDataset([with_ip, tmp_path / "b.root"])


def _as_collision_data(src, path):
    """The PFNano file ``src`` without the jet flavour (as collision data is), in NanoAOD naming."""
    t = uproot.open(src)["Events"]
    cand = ("pt", "eta", "phi", "mass", "charge", "pdgId", "d0", "d0Err", "dz", "dzErr")
    a = t.arrays(["Jet_pt", "JetPFCands_jetIdx", "JetPFCands_pFCandsIdx", *[f"PFCands_{c}" for c in cand]])
    _write_tree(path, {"Jet": ak.zip({"pt": a.Jet_pt}),
                       "JetPFCands": ak.zip({"jetIdx": a.JetPFCands_jetIdx, "pFCandsIdx": a.JetPFCands_pFCandsIdx}),
                       "PFCands": ak.zip({c: a[f"PFCands_{c}"] for c in cand})})
    return path


def test_collision_data_is_scored_unlabelled(external_sample, tmp_path, capsys):
    mc = external_sample("pfnano.root")
    data = _as_collision_data(mc, tmp_path / "Run2018D.root")
    unl = read_pfnano(data, labelled=False)
    ref = read_pfnano(mc)
    assert (unl.label == -1).all() and unl.label_names is None
    np.testing.assert_array_equal(unl.px, ref.px)  # the same jets, without their flavour
    run = tmp_path / "run"
    assert main(["train", "--model", "pfn", "--data", str(mc), "--epochs", "1", "--batch-size", "16",
                 "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    z = np.load(run / "eval" / "Run2018D" / "scores.npz", allow_pickle=True)
    assert (z["y"] == -1).all() and len(z["y"]) == len(ref)
    assert main(["train", "--model", "pfn", "--data", str(data), "--out", str(tmp_path / "r2")]) != 0  # no classes
