from __future__ import annotations

import numpy as np
import pytest

from pgjets.data import (
    detect_format, read_jetclass, read_quark_gluon, read_top_landscape, JetTable, write_jetclass,
    write_quark_gluon, write_top_landscape,
)
from pgjets.errors import DataFileError


def table(n=6, seed=0, names=("qcd", "top")):
    rng = np.random.default_rng(seed)
    counts = rng.integers(2, 9, n)
    P = int(counts.sum())
    pt = rng.uniform(1, 50, P)
    eta, phi = rng.normal(0, 0.3, P), rng.normal(0.5, 0.3, P)
    return JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta) + 0.2,
                    offsets=np.r_[0, np.cumsum(counts)], label=rng.integers(0, len(names), n),
                    pdgid=rng.choice([211, -211, 22, 130, 11, -13, 321], P), label_names=list(names))


def test_landscape_writer_pads_orders_by_pt_and_truncates(tmp_path):
    t = table(5)
    path = write_top_landscape(t, tmp_path / "l.h5", n_part=4)
    got = read_top_landscape(path)
    np.testing.assert_array_equal(got.n_constituents, np.minimum(t.n_constituents, 4))
    pt = np.hypot(got.px, got.py)
    for j in range(len(got)):
        seg = pt[got.offsets[j]:got.offsets[j + 1]]
        assert (np.diff(seg) <= 0).all()  # decreasing pT
        ref = np.sort(np.hypot(t.px, t.py)[t.offsets[j]:t.offsets[j + 1]])[::-1][:4]
        np.testing.assert_allclose(seg, ref, rtol=1e-5)
    path2 = write_top_landscape(t.slice(0, 2), tmp_path / "a.h5", format="table", n_part=4)
    write_top_landscape(t.slice(2, 5), path2, format="table", n_part=4, append=True)
    np.testing.assert_allclose(read_top_landscape(path2).E, got.E)
    with pytest.raises(ValueError, match="append"):
        write_top_landscape(t, tmp_path / "x.h5", append=True)
    with pytest.raises(DataFileError, match="labels"):
        write_top_landscape(table(4, names=("a", "b", "c"), seed=3), tmp_path / "y.h5")


def test_jetclass_and_quark_gluon_writers_round_trip(tmp_path):
    t = table(7, seed=1, names=("QCD", "Hbb", "Tbqq"))
    got = read_jetclass(write_jetclass(t, tmp_path / "j.root"), label_names=("QCD", "Hbb", "Tbqq"))
    assert detect_format(tmp_path / "j.root") == "jetclass"
    np.testing.assert_array_equal(got.label, t.label)
    # the flags know particle types, not species: a K+ comes back as the representative pi+
    np.testing.assert_array_equal(got.pdgid, np.where(np.abs(t.pdgid) == 321, 211 * np.sign(t.pdgid), t.pdgid))
    np.testing.assert_allclose(got.E, t.E, rtol=1e-6)
    qg = table(6, seed=2, names=("gluon", "quark"))
    back = read_quark_gluon(write_quark_gluon(qg, tmp_path / "q.npz"))
    np.testing.assert_array_equal(back.label, qg.label)
    np.testing.assert_allclose(back.jet_p4()[:, 1:3], qg.jet_p4()[:, 1:3], rtol=1e-4)  # px, py exact
    np.testing.assert_array_equal(np.sort(back.pdgid), np.sort(qg.pdgid))


def test_jetnet_writer_round_trip(tmp_path):
    from pgjets.data import read_jetnet, write_jetnet
    from pgjets.transforms import wrap_phi
    import torch

    t = table(5, seed=4, names=("g", "q", "t", "w", "z"))
    t = JetTable(px=t.px, py=t.py, pz=t.pz, E=np.hypot(np.hypot(t.px, t.py), t.pz), offsets=t.offsets,
                 label=np.full(5, 2), label_names=list(t.label_names))  # massless, as JetNet's particles
    path = write_jetnet(t, tmp_path / "t.hdf5", n_part=4)
    back = read_jetnet(path)
    assert back.label.tolist() == [2] * 5 and back.n_constituents.tolist() == np.minimum(t.n_constituents, 4).tolist()
    kin = t.jet_kinematics()
    np.testing.assert_allclose(back.extra["jet_pt"], kin["pt"], rtol=1e-5)
    assert back.extra["num_particles"].tolist() == t.n_constituents.tolist()
    hard = t.hardest(4)
    pt, back_pt = np.hypot(hard.px, hard.py), np.hypot(back.px, back.py)
    np.testing.assert_allclose(back_pt, pt, rtol=1e-5)  # hardest first, pT = pT_rel * pT_jet
    eta = np.arcsinh(hard.pz / pt) - kin["eta"][hard.jet_index]
    back_eta = np.arcsinh(back.pz / back_pt) - kin["eta"][back.jet_index]
    np.testing.assert_allclose(back_eta, eta, atol=1e-5)
    dphi = wrap_phi(torch.from_numpy(np.arctan2(hard.py, hard.px) - kin["phi"][hard.jet_index])).numpy()
    np.testing.assert_allclose(np.arctan2(back.py, back.px), dphi, atol=1e-5)  # jets read at phi = 0
    with pytest.raises(DataFileError, match="positive pT"):
        empty = JetTable(px=t.px[:0], py=t.py[:0], pz=t.pz[:0], E=t.E[:0], offsets=np.zeros(2, dtype=np.int64),
                         label=np.zeros(1, dtype=np.int64))
        write_jetnet(empty, tmp_path / "g.hdf5")


def test_jetclass_writer_keeps_the_track_impact_parameters(tmp_path):
    t = table(4, seed=6, names=("QCD", "Hbb"))
    rng = np.random.default_rng(1)
    ip = {c: rng.normal(size=t.px.size) for c in ("d0val", "d0err", "dzval", "dzerr")}
    t = JetTable(px=t.px, py=t.py, pz=t.pz, E=t.E, offsets=t.offsets, label=t.label, pdgid=t.pdgid,
                 label_names=t.label_names, **ip)
    got = read_jetclass(write_jetclass(t, tmp_path / "ip.root"), label_names=("QCD", "Hbb"))
    for c, values in ip.items():
        np.testing.assert_allclose(getattr(got, c), values, rtol=1e-6)


def _generated_events(tmp_path):
    from pgjets.data import generate_event_dataset, read_events

    return read_events(generate_event_dataset(["ttbar", "wjets"], 12, tmp_path / "ev", seed=5, chunk_size=12,
                                              progress=False))


def test_nanoaod_writer_writes_the_cms_layout_and_reads_back(tmp_path):
    import awkward as ak
    import uproot

    from pgjets.data import write_nanoaod
    from pgjets.data.event_dataset import read_nanoaod_events, root_event_layout

    events = _generated_events(tmp_path)
    path = write_nanoaod(events, tmp_path / "nano.root")
    assert root_event_layout(path) == "nanoaod"
    with uproot.open(path) as f:
        tree = f["Events"]
        keys = set(tree.keys())
        assert tree.num_entries == len(events)
        for coll in ("Jet", "Muon", "Electron", "Photon"):  # one counter per collection, as CMS writes them
            np.testing.assert_array_equal(tree[f"n{coll}"].array(library="np"), ak.to_numpy(ak.num(events[f"{coll}_pt"])))
            assert f"{coll}_pt" in keys and f"n{coll}_pt" not in keys
        assert "label" not in keys and {"MET_pt", "MET_phi", "event"} <= keys  # no class label in NanoAOD
    back = read_nanoaod_events(path, ("Jet", "Muon", "MET"), extra_fields=("btag",))
    for name in ("Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_btag", "Muon_charge", "MET_pt"):
        assert ak.to_list(back[name]) == ak.to_list(events[name]), name  # same values, same objects per event
    with uproot.open(write_nanoaod(events, tmp_path / "labelled.root", drop=())) as f:
        np.testing.assert_array_equal(f["Events"]["label"].array(library="np"), ak.to_numpy(events["label"]))


def test_nanoaod_writer_refuses_fields_it_cannot_place(tmp_path):
    import awkward as ak

    from pgjets.data import write_nanoaod

    counts = np.array([1, 2])
    ragged = ak.unflatten(np.arange(3, dtype=np.float32), counts)
    with pytest.raises(ValueError, match="no collection prefix"):
        write_nanoaod(ak.Array({"hits": ragged}), tmp_path / "a.root")
    other = ak.unflatten(np.arange(3, dtype=np.float32), np.array([2, 1]))
    with pytest.raises(ValueError, match="other numbers of objects"):
        write_nanoaod(ak.Array({"Jet_pt": ragged, "Jet_eta": other}), tmp_path / "b.root")
    assert not (tmp_path / "a.root").exists() and not (tmp_path / "b.root").exists()
