"""Tests of the parametric detector model in pgjets.data.smearing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pgjets.data import truth_and_reco_sets, JetTable
from pgjets.data.smearing import SET_FEATURES, relative_pt_resolution, tracking_efficiency
from pgjets.errors import InputShapeError


def _table(n_jets: int = 30, per_jet: int = 40, seed: int = 0, pt_lo: float = 0.2, pt_hi: float = 50.0) -> JetTable:
    rng = np.random.default_rng(seed)
    p = n_jets * per_jet
    pt = np.exp(rng.uniform(np.log(pt_lo), np.log(pt_hi), p))
    eta = rng.normal(0.0, 0.3, p)
    phi = rng.normal(0.0, 0.3, p)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    E = np.sqrt(px**2 + py**2 + pz**2 + 0.14**2)
    charge = rng.choice([-1, 0, 1], size=p)
    return JetTable(px=px, py=py, pz=pz, E=E, offsets=np.arange(n_jets + 1) * per_jet,
                    label=np.zeros(n_jets), charge=charge)


def test_shapes_counts_and_charged_selection() -> None:
    tab = _table()
    d = truth_and_reco_sets(tab, seed=1)
    assert d["names"] == SET_FEATURES
    n_charged = int((tab.charge != 0).sum())
    assert d["truth_x"].shape == (n_charged, 3)
    assert d["truth_counts"].sum() == n_charged and d["truth_counts"].shape == (30,)
    assert d["reco_x"].shape == (int(d["reco_counts"].sum()), 3)
    assert bool((d["reco_counts"] <= d["truth_counts"]).all())
    assert bool((d["reco_counts"] < d["truth_counts"]).any())  # some tracks are lost
    assert torch.equal(torch.bincount(d["reco_batch"], minlength=30), d["reco_counts"])
    assert torch.equal(d["truth_batch"][d["reco_index"]], d["reco_batch"])
    assert bool(torch.isfinite(d["reco_x"]).all())
    all_sets = truth_and_reco_sets(tab, seed=1, charged_only=False)
    assert all_sets["truth_x"].shape[0] == len(tab.px)


def test_seeded_reproducibility() -> None:
    tab = _table()
    a, b, c = (truth_and_reco_sets(tab, seed=s) for s in (3, 3, 4))
    assert torch.equal(a["reco_x"], b["reco_x"]) and torch.equal(a["reco_index"], b["reco_index"])
    assert not torch.equal(a["reco_index"], c["reco_index"]) or not torch.equal(a["reco_x"], c["reco_x"])


def test_efficiency_turn_on_statistics() -> None:
    tab = _table(n_jets=100, per_jet=60, seed=2)
    d = truth_and_reco_sets(tab, seed=5, efficiency=(0.5, 0.9, 1.0))
    pt = d["truth_pt"].numpy()
    found = np.zeros(pt.size, dtype=bool)
    found[d["reco_index"].numpy()] = True
    hi = pt > 1.0
    assert abs(found[hi].mean() - 0.9) < 0.02
    low = pt < 0.4  # eff between 0.58 and 0.66
    eff_low = tracking_efficiency(pt[low]).mean()
    assert abs(found[low].mean() - eff_low) < 0.05
    assert found[low].mean() < found[hi].mean() - 0.15


def test_smearing_widths() -> None:
    tab = _table(n_jets=100, per_jet=60, seed=3, pt_lo=20.0, pt_hi=20.5)
    res, ang = (0.02, 1e-3), 0.004
    d = truth_and_reco_sets(tab, seed=7, efficiency=1.0, resolution=res, angular=ang)
    assert torch.equal(d["reco_counts"], d["truth_counts"])  # efficiency 1: nothing lost
    t_pt = d["truth_pt"].double().numpy()
    r_pt = d["reco_pt"].double().numpy()
    rel = (r_pt - t_pt) / t_pt
    expected = relative_pt_resolution(t_pt, res)  # ~ 0.0283
    assert abs(rel.std() / expected.mean() - 1.0) < 0.05
    assert abs(rel.mean()) < 3 * expected.mean() / np.sqrt(rel.size)
    dang = (d["reco_x"][:, 1:] - d["truth_x"][:, 1:]).double().numpy()
    assert np.allclose(dang.std(axis=0), ang, rtol=0.06)
    # relative width grows with pT as a (+) b pT
    assert relative_pt_resolution(np.array([100.0]), res)[0] == pytest.approx(np.hypot(0.02, 0.1))


def test_no_smearing_limit_is_identity() -> None:
    tab = _table()
    d = truth_and_reco_sets(tab, seed=0, efficiency=1.0, resolution=(0.0, 0.0), angular=0.0)
    assert torch.allclose(d["reco_x"], d["truth_x"], atol=1e-5)


def test_bad_input() -> None:
    tab = _table()
    with pytest.raises(ValueError):
        truth_and_reco_sets(tab, efficiency=1.5)
    with pytest.raises(ValueError):
        truth_and_reco_sets(tab, resolution=(-0.1, 0.0))
    with pytest.raises(ValueError):
        truth_and_reco_sets(tab, angular=float("nan"))
    with pytest.raises(ValueError):
        truth_and_reco_sets(tab, efficiency=(0.5, 0.9, 0.0))
    no_charge = JetTable(px=tab.px, py=tab.py, pz=tab.pz, E=tab.E, offsets=tab.offsets, label=tab.label)
    with pytest.raises(InputShapeError):
        truth_and_reco_sets(no_charge)
    with pytest.raises(TypeError):
        truth_and_reco_sets({"px": tab.px})  # type: ignore[arg-type]


def test_replicas_resmear_the_found_tracks():
    import numpy as np

    from pgjets.data import truth_and_reco_sets as tr

    table = _table(n_jets=6, per_jet=20)
    base = tr(table, seed=3)
    rep = tr(table, seed=3, replicas=4)
    for k in ("truth_x", "reco_x", "reco_index"):
        assert torch.equal(base[k], rep[k])  # replicas do not change the other outputs
    n_jets = len(table)
    assert rep["replica_group"].tolist() == np.repeat(np.arange(n_jets), 4).tolist()
    assert torch.equal(rep["replica_counts"].view(n_jets, 4), base["reco_counts"].unsqueeze(1).expand(-1, 4))
    assert bool((rep["replica_set"][1:] >= rep["replica_set"][:-1]).all())
    # each replica is a re-smearing of the same found tracks: same truth rows, different values
    for s in range(4 * n_jets):
        sel = rep["replica_set"] == s
        assert torch.equal(rep["replica_index"][sel], base["reco_index"][base["reco_batch"] == s // 4])
    rel = rep["replica_pt"] / base["truth_pt"][rep["replica_index"]] - 1
    assert 0.003 < float(rel.std()) < 0.05 and abs(float(rel.mean())) < 0.01
    assert not torch.equal(rep["replica_x"][rep["replica_set"] % 4 == 0][:5],
                           rep["replica_x"][rep["replica_set"] % 4 == 1][:5])
    assert torch.equal(tr(table, seed=3, replicas=4)["replica_x"], rep["replica_x"])
    with pytest.raises(ValueError):
        tr(table, replicas=-1)
