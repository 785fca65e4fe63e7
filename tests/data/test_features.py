from __future__ import annotations

import math

import numpy as np
import pytest

from pgjets.data import FEATURE_NAMES, constituent_features, JetTable, generate_jets
from pgjets.data.features import feature_names, wrap_phi


def massless(pt, eta, phi):
    return pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta), pt * math.cosh(eta)


def two_particle_jet(pdgid=None, charge=None):
    a = massless(300.0, 0.1, 3.1)
    b = massless(100.0, -0.1, -3.1)  # across the phi = pi boundary
    cols = np.array([a, b]).T
    return JetTable(px=cols[0], py=cols[1], pz=cols[2], E=cols[3], offsets=[0, 2], label=[1],
                    pdgid=pdgid, charge=charge)


def test_hand_computed_features():
    t = two_particle_jet(pdgid=np.array([211, 22]), charge=np.array([1.0, 0.0]))
    f = constituent_features(t)
    names = f["names"]
    assert names == FEATURE_NAMES["particlenet"]
    x = dict(zip(names, f["x"].T))
    jet = t.jet_kinematics()
    # the jet axis lies near phi = pi; both particles are close to it in phi
    assert abs(x["dphi"]).max() < 0.1
    np.testing.assert_allclose(x["dphi"][0] - x["dphi"][1], wrap_phi(np.array([3.1 + 3.1]))[0], atol=1e-5)
    np.testing.assert_allclose(x["log_pt"], np.log([300.0, 100.0]), rtol=1e-5)
    np.testing.assert_allclose(x["log_pt_rel"], np.log(np.array([300.0, 100.0]) / jet["pt"][0]), rtol=1e-4)
    np.testing.assert_allclose(x["delta_r"], np.hypot(x["deta"], x["dphi"]), rtol=1e-5)
    assert x["is_charged_hadron"].tolist() == [1, 0] and x["is_photon"].tolist() == [0, 1]
    assert x["charge"].tolist() == [1, 0]
    np.testing.assert_allclose(f["pt"], [300, 100], rtol=1e-5)
    assert f["p4"].shape == (2, 4) and f["pos"].shape == (2, 2)


def test_without_pid_and_zero_momenta_are_finite():
    t = JetTable(px=[0.0, 10.0], py=[0.0, 0.0], pz=[0.0, 1.0], E=[0.0, 10.1], offsets=[0, 2], label=[0])
    f = constituent_features(t)
    assert f["names"] == FEATURE_NAMES["kinematic"]
    assert np.isfinite(f["x"]).all()


def test_unknown_feature_set():
    with pytest.raises(ValueError, match="feature_set"):
        feature_names("everything")


def test_exact_values_of_a_symmetric_jet():
    # two equal massless particles at eta = +-0.2, phi = 0: jet axis at eta 0, phi 0
    cols = np.array([massless(50.0, 0.2, 0.0), massless(50.0, -0.2, 0.0)]).T
    t = JetTable(px=cols[0], py=cols[1], pz=cols[2], E=cols[3], offsets=[0, 2], label=[0])
    f = constituent_features(t, "kinematic")
    x = dict(zip(f["names"], f["x"].T))
    np.testing.assert_allclose(x["deta"], [0.2, -0.2], atol=1e-6)
    np.testing.assert_allclose(x["dphi"], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(x["log_pt_rel"], np.log([0.5, 0.5]), atol=1e-6)
    np.testing.assert_allclose(x["log_e_rel"], np.log([0.5, 0.5]), atol=1e-6)
    np.testing.assert_allclose(x["log_e"], np.log(50.0 * np.cosh(0.2)), rtol=1e-6)
    np.testing.assert_allclose(x["delta_r"], [0.2, 0.2], atol=1e-6)
    np.testing.assert_allclose(f["p4"][:, 0], cols[3], rtol=1e-6)
    np.testing.assert_allclose(f["pos"], np.stack([x["deta"], x["dphi"]], 1))


def test_pid_one_hots_and_charge_from_pdgid():
    pdg = np.array([-211, 2112, 22, 11, -13, 321])
    n = pdg.size
    t = JetTable(px=np.linspace(1, 6, n), py=np.ones(n), pz=np.zeros(n), E=np.linspace(2, 7, n),
                 offsets=[0, 3, n], label=[0, 1], pdgid=pdg)
    f = constituent_features(t)
    x = dict(zip(f["names"], f["x"].T))
    assert x["charge"].tolist() == [-1, 0, 0, -1, 1, 1]
    assert x["is_charged_hadron"].tolist() == [1, 0, 0, 0, 0, 1]
    assert x["is_neutral_hadron"].tolist() == [0, 1, 0, 0, 0, 0]
    assert x["is_photon"].tolist() == [0, 0, 1, 0, 0, 0]
    assert x["is_electron"].tolist() == [0, 0, 0, 1, 0, 0]
    assert x["is_muon"].tolist() == [0, 0, 0, 0, 1, 0]
    # each particle has exactly one type
    onehot = f["x"][:, -5:]
    np.testing.assert_array_equal(onehot.sum(1), np.ones(n))
    assert f["x"].dtype == np.float32
    assert constituent_features(t, "kinematic")["x"].shape == (n, 7)
    assert constituent_features(t, "angular")["names"] == ["deta", "dphi"]


def test_wrap_phi_range():
    v = wrap_phi(np.array([np.pi, -np.pi, 3 * np.pi, 0.5, -7.0]))
    assert (v > -np.pi).all() and (v <= np.pi + 1e-12).all()
    np.testing.assert_allclose(v[:3], np.pi)
    np.testing.assert_allclose(np.cos(v), np.cos([np.pi, -np.pi, 3 * np.pi, 0.5, -7.0]), atol=1e-12)


# ---------------------------------------------------------------- the fast path vs its reference
from dataclasses import replace  # noqa: E402

from pgjets.data import features as features_module  # noqa: E402
from oracles import constituent_features_reference  # noqa: E402
from pgjets.data.features import PID  # noqa: E402

#: float32 computation vs the float64 reference rounded to float32: a few float32 ulps.
TOL = dict(rtol=1e-6, atol=1e-6)


def assert_matches_reference(table, feature_set="particlenet"):
    fast = constituent_features(table, feature_set)
    ref = constituent_features_reference(table, feature_set)
    assert fast["names"] == ref["names"]
    for key in ("x", "pos", "pt", "p4"):
        assert fast[key].dtype == np.float32 and fast[key].shape == ref[key].shape, key
    np.testing.assert_array_equal(fast["p4"], ref["p4"])
    np.testing.assert_allclose(fast["pt"], ref["pt"], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(fast["pos"], fast["x"][:, :2])
    assert np.isfinite(fast["x"]).all()
    for j, name in enumerate(ref["names"]):
        got, want = fast["x"][:, j].astype(np.float64), ref["x"][:, j].astype(np.float64)
        if name == "dphi":  # equal as angles: +pi and -pi are the same direction
            np.testing.assert_allclose(wrap_phi(got - want), 0.0, atol=TOL["atol"], err_msg=name)
            assert (got > -np.pi - 1e-6).all() and (got <= np.pi + 1e-6).all()
        elif name in PID:
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, **TOL, err_msg=name)
    return fast, ref


@pytest.fixture(scope="module")
def top_jets():
    return generate_jets("top", 50, seed=1, fast=True)


@pytest.mark.parametrize("feature_set", ["particlenet", "kinematic", "angular", "particlenet_etasign",
                                         "angular_etasign"])
def test_fast_path_equals_reference_on_generated_jets(top_jets, feature_set):
    assert top_jets.pdgid is not None and top_jets.charge is not None
    fast, _ = assert_matches_reference(top_jets, feature_set)
    assert fast["x"].shape == (top_jets.num_constituents_total, len(FEATURE_NAMES[feature_set]))
    # charge derived from the PDG ids, and no PID at all
    assert_matches_reference(replace(top_jets, charge=None), feature_set)
    no_pid = replace(top_jets, pdgid=None, charge=None)
    assert constituent_features(no_pid, feature_set)["names"] == feature_names(feature_set, has_pid=False)
    assert_matches_reference(no_pid, feature_set)


def test_fast_path_blocks_of_whole_jets(top_jets, monkeypatch):
    # blocks far smaller than the jets: every jet crosses a block target, many are a block alone
    full = constituent_features(top_jets)
    for block in (1, 40, 64, 1000):
        monkeypatch.setattr(features_module, "_BLOCK", block)
        again, _ = assert_matches_reference(top_jets)
        # equal up to the last bit of a float32 (torch's vectorised and scalar tails round apart)
        np.testing.assert_allclose(again["x"], full["x"], rtol=0, atol=2.5e-7)


def _table(particles, offsets, pdgid=None):
    cols = np.array([massless(*p) for p in particles]).T
    return JetTable(px=cols[0], py=cols[1], pz=cols[2], E=cols[3], offsets=offsets,
                    label=np.zeros(len(offsets) - 1, dtype=np.int64), pdgid=pdgid)


def test_fast_path_one_particle_jets():
    phis = [0.0, 1.0, np.pi, -np.pi, np.pi - 1e-6, -np.pi + 1e-6, -2.5]
    t = _table([(10.0 + i, 0.3 * i - 1.0, phi) for i, phi in enumerate(phis)], np.arange(len(phis) + 1))
    fast, _ = assert_matches_reference(t)
    x = dict(zip(fast["names"], fast["x"].T))
    # the jet axis is the particle: no offset, and it carries all of the jet's pT and E
    for name in ("deta", "dphi", "delta_r", "log_pt_rel", "log_e_rel"):
        np.testing.assert_allclose(x[name], 0.0, atol=1e-6, err_msg=name)


def test_fast_path_phi_wrap_around():
    # jets straddling phi = +-pi, one with its axis exactly at pi, and one particle opposite its axis
    t = _table(
        [(300.0, 0.1, 3.1), (100.0, -0.1, -3.1), (50.0, 0.0, np.pi - 0.01),
         (80.0, 0.5, np.pi), (80.0, 0.4, -np.pi),
         (60.0, 1.0, -np.pi + 0.2), (40.0, 1.2, np.pi - 0.3), (5.0, 0.9, 2.0),
         (100.0, 0.0, 0.0), (1.0, 0.0, np.pi)],
        [0, 3, 5, 8, 10],
    )
    fast, ref = assert_matches_reference(t)
    dphi = fast["x"][:, 1]
    assert np.abs(dphi[:8]).max() < 1.2  # every particle of the first three jets is near its axis
    np.testing.assert_allclose(dphi[0] - dphi[1], wrap_phi(np.array([6.2]))[0], atol=1e-5)
    # opposite the axis: +pi, never -pi
    np.testing.assert_allclose(dphi[9], np.pi, atol=1e-6)
    assert dphi[9] > 0


def test_fast_path_zero_momenta_and_signed_zeros():
    # pT = 0 constituents (the angle of (px, py) is that of atan2 with signed zeros), E = 0,
    # a jet of only zero momenta, an empty jet, a tiny pT with a large pz
    px = np.array([10.0, 0.0, -0.0, -0.0, 0.0, 0.0, 1e-30, 3.0], dtype=np.float32)
    py = np.array([1.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0, -4.0], dtype=np.float32)
    pz = np.array([2.0, 5.0, -5.0, 0.0, 0.0, 0.0, 1e6, 0.0], dtype=np.float32)
    E = np.array([11.0, 5.0, 5.0, 0.0, 0.0, 0.0, 1e6, 5.0], dtype=np.float32)
    t = JetTable(px=px, py=py, pz=pz, E=E, offsets=[0, 4, 4, 6, 8], label=[0, 1, 0, 1],
                 pdgid=np.array([211, 22, -11, 13, 130, 0, 1000010020, -2212]))
    for feature_set in ("particlenet", "kinematic", "angular", "kinematic_etasign"):
        assert_matches_reference(t, feature_set)
    empty = JetTable(px=[], py=[], pz=[], E=[], offsets=[0], label=[])
    fast, _ = assert_matches_reference(empty)
    assert fast["x"].shape == (0, 7)


def test_fast_path_pid_columns():
    ids = [211, 321, 2212, 3222, 3112, 3312, 3334, 130, 2112, 310, 3122, 3322, 111, 22, 11, 13,
           0, 1, 15, 3335, 4000, 1000010020, np.iinfo(np.int64).min]
    pdg = np.array(ids + [-i for i in ids[:-1]], dtype=np.int64)
    n = pdg.size
    t = JetTable(px=np.linspace(1, 9, n), py=np.ones(n), pz=np.zeros(n), E=np.linspace(2, 10, n),
                 offsets=[0, 7, n], label=[0, 1], pdgid=pdg)
    fast, _ = assert_matches_reference(t)
    assert fast["x"][:, 7:].any()
    # explicit charges are copied as they are
    charge = np.linspace(-1, 1, n)
    fast, _ = assert_matches_reference(replace(t, charge=charge))
    np.testing.assert_array_equal(fast["x"][:, 7], charge.astype(np.float32))


def test_fast_path_strided_columns(top_jets):
    # columns that are strided or reversed views of other arrays (a table built without copies)
    cols = np.stack([top_jets.px, top_jets.py, top_jets.pz, top_jets.E], axis=1)[::-1]
    t = JetTable(px=cols[:, 0], py=cols[:, 1], pz=cols[:, 2], E=cols[:, 3],
                 offsets=top_jets.offsets[-1] - top_jets.offsets[::-1], label=top_jets.label[::-1])
    assert t.px.strides[0] < 0
    assert_matches_reference(t)


# ---------------------------------------------------------------- sign(eta_J): the z-reflection


def _jets_both_hemispheres(seed=0):
    """Six jets, three at eta_J > 0 and three at eta_J < 0, with PID and track impact parameters."""
    rng = np.random.default_rng(seed)
    counts = np.array([5, 1, 9, 4, 7, 3])
    centres = np.repeat([1.3, 0.2, 2.1, -0.4, -1.7, -2.5], counts)
    P = int(counts.sum())
    pt, eta, phi = rng.uniform(1, 80, P), centres + rng.normal(0, 0.3, P), rng.uniform(-np.pi, np.pi, P)
    m = rng.uniform(0, 0.5, P)
    pz = pt * np.sinh(eta)
    ip = {name: rng.normal(0, 2, P) for name in ("d0val", "dzval")}
    ip.update(d0err=rng.uniform(0, 2, P), dzerr=rng.uniform(0, 2, P))
    return JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pz, E=np.sqrt(pt ** 2 + pz ** 2 + m ** 2),
                    offsets=np.r_[0, np.cumsum(counts)], label=np.arange(6) % 2,
                    pdgid=rng.choice([211, -211, 22, 130, 11, -13], P), **ip)


def _mirror(t):
    """The jets reflected in z: eta -> -eta for every constituent (pz and dz change sign)."""
    return replace(t, pz=-t.pz, dzval=None if t.dzval is None else -t.dzval)


def test_eta_sign_makes_the_features_mirror_invariant():
    t = _jets_both_hemispheres()
    assert t.has_track_ip
    eta_j = t.jet_kinematics()["eta"]
    assert (eta_j > 0).sum() == 3 and (eta_j < 0).sum() == 3
    names = feature_names("particlenet", has_pid=True, has_track_ip=True)
    odd = [names.index("deta"), names.index("dz")]  # the columns that change sign under the reflection
    for fs, kw in (("particlenet_etasign", {}), ("particlenet", {"eta_sign": True})):
        f, g = constituent_features(t, fs, **kw), constituent_features(_mirror(t), fs, **kw)
        assert f["names"] == names
        for key in ("x", "pos", "pt", "p4"):  # bit for bit: the mirror image gives the same inputs
            np.testing.assert_array_equal(g[key], f[key], err_msg=key)
    # without the flip, deta (and pos, pz, dz) of every particle change sign, nothing else changes
    f, g = constituent_features(t), constituent_features(_mirror(t))
    np.testing.assert_array_equal(g["x"][:, odd], -f["x"][:, odd])
    even = [j for j in range(len(names)) if j not in odd]
    np.testing.assert_array_equal(g["x"][:, even], f["x"][:, even])
    np.testing.assert_array_equal(g["pos"] * [-1, 1], f["pos"])
    np.testing.assert_array_equal(g["p4"] * [1, 1, 1, -1], f["p4"])
    assert np.abs(f["x"][:, 0]).min() > 0  # a real sign change


def test_eta_sign_reflects_the_jets_at_negative_eta_only():
    t = _jets_both_hemispheres()
    plain, signed = constituent_features(t), constituent_features(t, "particlenet_etasign")
    eta_j = t.jet_kinematics()["eta"]
    s = np.where(eta_j < 0, -1.0, 1.0)[t.jet_index].astype(np.float32)
    names = plain["names"]
    for j, name in enumerate(names):
        want = plain["x"][:, j] * (s if name in ("deta", "dz") else 1)
        np.testing.assert_array_equal(signed["x"][:, j], want, err_msg=name)
    np.testing.assert_array_equal(signed["pos"], plain["pos"] * np.stack([s, np.ones_like(s)], 1))
    np.testing.assert_array_equal(signed["p4"], plain["p4"] * np.stack([np.ones_like(s)] * 3 + [s], 1))
    # the signed deta is the reflected jet's own (eta_i - eta_J): pos and p4 stay one jet
    np.testing.assert_array_equal(signed["x"], constituent_features(_mirror_negative(t))["x"])


def _mirror_negative(t):
    """Only the jets with eta_J < 0 reflected (what the published conversions' sign does)."""
    s = np.where(t.jet_kinematics()["eta"] < 0, -1.0, 1.0)[t.jet_index]
    return replace(t, pz=t.pz * s, dzval=t.dzval * s)


def test_eta_sign_at_eta_j_zero_keeps_the_sign():
    # the published conversions: sign(eta_J) = 0 counts as +1, so deta is left as it is
    cols = np.array([massless(50.0, 0.2, 0.0), massless(50.0, -0.2, 0.0), massless(20.0, 0.5, 0.1),
                     massless(20.0, -0.5, 0.1)]).T
    t = JetTable(px=cols[0], py=cols[1], pz=cols[2], E=cols[3], offsets=[0, 2, 4], label=[0, 1])
    assert (t.jet_kinematics()["eta"] == 0).all()
    f = constituent_features(t, "kinematic_etasign")
    np.testing.assert_array_equal(f["x"], constituent_features(t, "kinematic")["x"])
    np.testing.assert_allclose(f["x"][:, 0], [0.2, -0.2, 0.5, -0.5], atol=1e-6)
    # so at eta_J = 0 a jet and its mirror image still differ by the sign of deta
    g = constituent_features(_mirror(t), "kinematic_etasign")
    np.testing.assert_array_equal(g["x"][:, 0], -f["x"][:, 0])
    # a jet without momentum has eta_J = 0 too: nothing is reflected
    z = JetTable(px=[0.0, 0.0], py=[0.0, 0.0], pz=[-3.0, 0.0], E=[3.0, 0.0], offsets=[0, 2], label=[0])
    np.testing.assert_array_equal(constituent_features(z, "angular_etasign")["x"],
                                  constituent_features(z, "angular")["x"])


def test_eta_sign_off_is_the_default_output():
    t = _jets_both_hemispheres()
    for fs in ("particlenet", "kinematic", "angular"):
        default = constituent_features(t, fs)
        off = constituent_features(t, fs, eta_sign=False)
        for key in ("x", "pos", "pt", "p4"):
            np.testing.assert_array_equal(off[key], default[key], err_msg=key)
        # the table's own pz and the unsigned deta = eta_i - eta_J
        np.testing.assert_array_equal(default["p4"][:, 3], t.pz.astype(np.float32))
        assert (default["x"][:, 0] < 0).any() and (default["x"][:, 0] > 0).any()
    eta = np.arcsinh(t.pz / np.hypot(t.px, t.py))
    np.testing.assert_allclose(constituent_features(t)["x"][:, 0], eta - t.jet_kinematics()["eta"][t.jet_index],
                               atol=1e-5)
