from __future__ import annotations

import numpy as np
import pytest

from pgjets.data import jet_observables, nsubjettiness, JetTable
from pgjets.data.observables import tau_n


def _massless(pt, y, phi):
    pt, y, phi = (np.asarray(v, dtype=np.float64) for v in (pt, y, phi))
    return pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(y), pt * np.cosh(y)


def _table(jets):
    cols = [_massless(*j) for j in jets]
    off = np.concatenate([[0], np.cumsum([len(j[0]) for j in jets])])
    px, py, pz, e = (np.concatenate([c[i] for c in cols]) for i in range(4))
    return JetTable(px=px, py=py, pz=pz, E=e, offsets=off, label=np.zeros(len(jets), dtype=np.int64))


def test_two_particle_jet_by_hand():
    # two massless particles at the same rapidity, 0.2 apart in phi, pT 30 and 10
    t = _table([([30.0, 10.0], [0.0, 0.0], [0.0, 0.2])])
    tau = nsubjettiness(t, 3)
    # E-scheme axis of the pair: phi_J = atan2(10 sin 0.2, 30 + 10 cos 0.2), y_J = 0 (pz = 0)
    phi_j = np.arctan2(10 * np.sin(0.2), 30 + 10 * np.cos(0.2))
    expect = (30 * phi_j + 10 * (0.2 - phi_j)) / (40 * 0.8)
    assert tau[0, 0] == pytest.approx(expect, rel=1e-6)
    assert tau[0, 1] == pytest.approx(0.0, abs=1e-6) and tau[0, 2] == 0.0  # each particle its own axis / fewer particles than N
    obs = jet_observables(t)
    # invariant mass of two massless particles: m^2 = 2 pT1 pT2 (cosh dy - cos dphi)
    assert obs["mass"][0] == pytest.approx(np.sqrt(2 * 30 * 10 * (1 - np.cos(0.2))), rel=1e-5)
    assert obs["n_constituents"][0] == 2 and obs["tau21"][0] == pytest.approx(0.0, abs=1e-6)


def test_three_particle_two_prong_jet_by_hand():
    # a hard prong at (0, 0) and a pair at (0.5, 0) and (0.5, 0.02): kt merges the pair first
    pt, y, phi = [50.0, 20.0, 20.0], [0.0, 0.5, 0.5], [0.0, 0.0, 0.02]
    t = _table([(pt, y, phi)])
    tau = nsubjettiness(t, 3)
    px, py, pz, e = _massless(pt, y, phi)
    ax = (px[1:].sum(), py[1:].sum(), pz[1:].sum(), e[1:].sum())
    y2, phi2 = 0.5 * np.log((ax[3] + ax[2]) / (ax[3] - ax[2])), np.arctan2(ax[1], ax[0])
    d = [0.0, np.hypot(0.5 - y2, 0 - phi2), np.hypot(0.5 - y2, 0.02 - phi2)]
    assert tau[0, 1] == pytest.approx((20 * d[1] + 20 * d[2]) / (90 * 0.8), rel=1e-6)
    assert tau[0, 2] == pytest.approx(0.0, abs=1e-6)
    assert tau[0, 1] < 0.1 * tau[0, 0]  # clearly two-pronged
    assert tau_n(np.array(pt), np.array(y), np.array(phi), np.zeros((0, 2))) == 0.0


def test_bad_input():
    t = _table([([1.0], [0.0], [0.0])])
    with pytest.raises(ValueError):
        nsubjettiness(t, 0)
    with pytest.raises(TypeError):
        nsubjettiness("jets")


def test_rapidity_is_fastjets_and_tau_n_vanishes_for_n_particles():
    from pgjets.data.observables import MAX_RAPIDITY, rapidity

    fj = pytest.importorskip("fastjet")
    rng = np.random.default_rng(3)
    p = rng.normal(size=(50, 3)) * 20
    m = rng.uniform(0, 2, 50)
    e = np.sqrt((p**2).sum(1) + m**2)
    rows = [(*v, ei) for v, ei in zip(p, e)] + [(1.0, 2.0, 3.0, 3.7), (0.0, 0.0, 5.0, 5.0), (0.0, 0.0, -5.0, 5.0),
                                              (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 2.0, 3.0)]
    for px, py, pz, en in rows:  # E < |p| (rounding, or unphysical input) included
        assert rapidity(px, py, pz, en) == pytest.approx(fj.PseudoJet(px, py, pz, en).rap(), rel=1e-12, abs=1e-12)
    assert abs(rapidity(0.0, 0.0, 5.0, 5.0)) >= MAX_RAPIDITY
    # one constituent, E < |p| by rounding: its own axis, tau_1 = 0 (was ~400 with two formulas)
    t = JetTable(px=np.array([1.0]), py=np.array([2.0]), pz=np.array([3.0]), E=np.array([3.7]),
                 offsets=np.array([0, 1]), label=np.zeros(1, dtype=np.int64))
    assert nsubjettiness(t, 1)[0, 0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        nsubjettiness(t, True)


def test_wta_axes_lie_along_the_hardest_constituent():
    """WTA-pT kt axes (contrib's WTA_KT_Axes): tau_1 of two particles is the softer one's pT times its
    distance to the harder one; the E-scheme axis lies between them, which for beta = 1 gives more."""
    t = _table([([30.0, 10.0], [0.0, 0.0], [0.0, 0.2])])
    wta = nsubjettiness(t, 2, axes="wta_kt")
    assert wta[0, 0] == pytest.approx(10 * 0.2 / (40 * 0.8), rel=1e-6) and wta[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert nsubjettiness(t, 1)[0, 0] > wta[0, 0]
    assert jet_observables(t, axes="wta_kt")["tau1"][0] == wta[0, 0]
    with pytest.raises(ValueError, match="axes must be 'kt' or 'wta_kt'"):
        nsubjettiness(t, 2, axes="onepass")


def test_wta_axes_keep_tau_n_decreasing_where_e_scheme_axes_do_not():
    """With E-scheme axes tau_2 can exceed tau_1 (the exclusive-kt axes are not minimal); with WTA axes
    it does not, on these 100 sprays of 3-29 particles (a few hard ones among soft ones)."""
    rng = np.random.default_rng(6)
    jets = []
    for _ in range(100):
        n = rng.integers(3, 30)
        jets.append((rng.exponential(5.0, n) * rng.choice([1, 10], n, p=[0.8, 0.2]), rng.normal(0, 0.4, n),
                     rng.normal(0, 0.4, n)))
    t = _table(jets)
    rising = lambda tau: int((np.diff(tau, axis=1) > 1e-9).any(1).sum())  # noqa: E731
    assert rising(nsubjettiness(t, 3)) >= 1 and rising(nsubjettiness(t, 3, axes="wta_kt")) == 0
