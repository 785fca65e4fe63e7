from __future__ import annotations

import math

import numpy as np
import pytest

from pgjets.data.features import FEATURE_NAMES, constituent_features, feature_names, wrap_phi
from pgjets.data.table import JetTable


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
