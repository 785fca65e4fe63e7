"""Jets of Delphes files with their particle-flow constituents (pgjets.data.delphes_jets), on a real
Delphes file written by others (tests/external_samples.py): every constituent is matched here again,
event by event, from the references and the objects' fUniqueID."""

from __future__ import annotations

import awkward as ak
import numpy as np
import uproot

from pgjets.cli import main
from pgjets.data.delphes_jets import DELPHES_JET_LABELS, count_delphes_jets, read_delphes_jets
from pgjets.data.readers import count_rows, detect_format


def _reference(path):
    """Per jet: its constituents' (pT, phi, PDG id, charge, D0) by a loop over events and references."""
    t = uproot.open(path)["Delphes"]
    colls = {"EFlowTrack": ("PT", None), "EFlowPhoton": ("ET", 22), "EFlowNeutralHadron": ("ET", 130)}
    names = ["Jet/Jet.Constituents", "Jet/Jet.Flavor"]
    for c, (pt, _) in colls.items():
        names += [f"{c}/{c}.fUniqueID", f"{c}/{c}.{pt}", f"{c}/{c}.Phi"]
    names += ["EFlowTrack/EFlowTrack.PID", "EFlowTrack/EFlowTrack.Charge", "EFlowTrack/EFlowTrack.D0"]
    jets = []
    for ev in t.arrays(names):
        objects = {}
        for c, (pt, pdg) in colls.items():
            for i, uid in enumerate(ev[f"{c}/{c}.fUniqueID"]):
                track = pdg is None
                objects[int(uid) & 0xFFFFFF] = (
                    float(ev[f"{c}/{c}.{pt}"][i]), float(ev[f"{c}/{c}.Phi"][i]),
                    int(ev["EFlowTrack/EFlowTrack.PID"][i]) if track else pdg,
                    float(ev["EFlowTrack/EFlowTrack.Charge"][i]) if track else 0.0,
                    float(ev["EFlowTrack/EFlowTrack.D0"][i]) if track else 0.0)
        for refs, flavour in zip(ev["Jet/Jet.Constituents"], ev["Jet/Jet.Flavor"]):
            cands = [objects[int(r)] for r in refs.refs]
            jets.append((np.array([c for c in cands if c[0] > 0]), int(flavour)))
    return jets


def test_delphes_jets_are_their_particle_flow_constituents(external_sample):
    path = external_sample("delphes.root")
    assert detect_format(path) == "delphes" and count_rows(path) == count_delphes_jets(path) == 106
    ref = _reference(path)
    table = read_delphes_jets(path)
    assert len(table) == len(ref) and table.label_names == DELPHES_JET_LABELS
    flavour_class = {1: 0, 2: 0, 3: 0, 4: 1, 5: 2, 21: 3, 0: 4}
    np.testing.assert_array_equal(table.label, [flavour_class[f] for _, f in ref])
    np.testing.assert_array_equal(table.n_constituents, [len(c) for c, _ in ref])
    cands = np.concatenate([c for c, _ in ref])
    np.testing.assert_allclose(np.hypot(table.px, table.py), cands[:, 0], rtol=1e-5)
    np.testing.assert_allclose(np.arctan2(table.py, table.px), cands[:, 1], atol=1e-5)
    np.testing.assert_array_equal(table.pdgid, cands[:, 2])
    np.testing.assert_array_equal(table.charge, cands[:, 3])
    np.testing.assert_allclose(table.d0val, cands[:, 4], rtol=1e-6)
    # the constituents sum to the jet that Delphes clustered from them
    t = uproot.open(path)["Delphes"]
    sx, sy = (np.add.reduceat(v.astype(np.float64), table.offsets[:-1]) for v in (table.px, table.py))
    np.testing.assert_allclose(np.hypot(sx, sy), ak.to_numpy(ak.flatten(t["Jet/Jet.PT"].array())), rtol=1e-5)


def test_delphes_jet_slices(external_sample):
    path = external_sample("delphes.root")
    full = read_delphes_jets(path)
    parts = [read_delphes_jets(path, a, a + 5) for a in range(0, len(full), 5)]  # cutting through events
    np.testing.assert_array_equal(np.concatenate([p.px for p in parts]), full.px)
    np.testing.assert_array_equal(np.concatenate([p.label for p in parts]), full.label)
    assert len(read_delphes_jets(path, 7, 7)) == 0 and len(read_delphes_jets(path, -2)) == 2


def test_a_delphes_file_is_jets_for_jet_models(external_sample, tmp_path):
    path = external_sample("delphes.root")
    run = tmp_path / "run"
    assert main(["train", "--model", "pfn", "--data", str(path), "--epochs", "1", "--batch-size", "16",
                 "--out", str(run)]) == 0
    z = np.load(run / "scores.npz", allow_pickle=True)
    assert z["probabilities"].shape[1] == len(DELPHES_JET_LABELS)
    assert main(["evaluate", str(run)]) == 0


def test_other_jet_collections_and_clear_refusals(external_sample, tmp_path, capsys):
    import shutil

    import pytest

    from pgjets.errors import DataFileError

    path = external_sample("delphes.root")
    t = uproot.open(path)["Delphes"]
    pf = read_delphes_jets(path, jets="ParticleFlowJet04")  # another particle-flow jet collection
    assert len(pf) == int(t["ParticleFlowJet04_size"].array(library="np").sum())
    with pytest.raises(DataFileError, match="no jet collection 'Jets' with Constituents; it has .*ParticleFlowJet04"):
        read_delphes_jets(path, jets="Jets")
    with pytest.raises(DataFileError, match="only particle-flow jets are read .*generator jets refer to Particle"):
        read_delphes_jets(path, jets="GenJet")
    # per-file classes are for events: jet files carry their labels (a clear refusal, not 'does not exist')
    shutil.copy(path, tmp_path / "b.root")
    assert main(["train", "--model", "pfn", "--data", f"a={path}", "--data", f"b={tmp_path / 'b.root'}",
                 "--out", str(tmp_path / "r")]) == 2
    assert "CLASS=PATH gives a class to event files" in capsys.readouterr().err
