from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

from pgjets.data import efp_basis, efp_padded, jet_efps, prime_multigraphs, JetTable
from pgjets.errors import InputShapeError


def test_graph_counts():
    primes = prime_multigraphs(5)
    assert collections.Counter(len(e) for _, e in primes) == {1: 1, 2: 2, 3: 5, 4: 12, 5: 33}
    basis = efp_basis(5)
    deg = [sum(len(primes[i][1]) for i in c) for c in basis]
    assert collections.Counter(deg) == {1: 1, 2: 3, 3: 8, 4: 23, 5: 66}  # OEIS A050535 without d = 0


def _brute(z, theta, n, edges):
    total = 0.0
    for idx in itertools.product(range(len(z)), repeat=n):
        term = np.prod([z[i] for i in idx])
        for a, b in edges:
            term *= theta[idx[a], idx[b]]
        total += term
    return total


def test_prime_efps_against_brute_force():
    rng = np.random.default_rng(0)
    z = rng.random(4)
    z /= z.sum()
    pos = rng.normal(size=(4, 2))
    theta = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    got = efp_padded(z[None], theta[None], 4, prime_only=True)[0]
    for k, (n, edges) in enumerate(prime_multigraphs(4)):
        assert got[k] == pytest.approx(_brute(z, theta, n, edges), rel=1e-10)
    # padding with zero-z particles changes nothing
    zp = np.concatenate([z, [0.0, 0.0]])
    tp = np.zeros((6, 6))
    tp[:4, :4] = theta
    tp[4:, :4] = tp[:4, 4:].T + 3.0
    tp[:4, 4:] = 3.0
    tp[4:, :4] = 3.0
    assert np.allclose(efp_padded(zp[None], tp[None], 4, prime_only=True)[0], got)


def _jet(pt, eta, phi):
    pt, eta, phi = (np.asarray(v, dtype=np.float64) for v in (pt, eta, phi))
    return pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)


def test_hand_computed_two_and_three_particle_jets():
    jets = [([30.0, 10.0], [0.0, 0.0], [0.0, 0.3]), ([1.0, 1.0, 2.0], [0.0, 0.4, 0.0], [0.0, 0.0, 0.3])]
    cols = [_jet(*j) for j in jets]
    off = np.array([0, 2, 5])
    t = JetTable(*(np.concatenate([c[i] for c in cols]) for i in range(4)), offsets=off, label=np.zeros(2, int))
    e = jet_efps(t, 5, prime_only=True)
    primes = prime_multigraphs(5)
    line = primes.index((2, ((0, 1),)))
    double = primes.index((2, ((0, 1), (0, 1))))
    path = primes.index((3, ((0, 1), (0, 2))))
    tri = primes.index((3, ((0, 1), (0, 2), (1, 2))))
    z1, z2, r = 0.75, 0.25, 0.3
    assert e[0, line] == pytest.approx(2 * z1 * z2 * r, rel=1e-5)
    assert e[0, double] == pytest.approx(2 * z1 * z2 * r**2, rel=1e-5)
    assert e[0, path] == pytest.approx(z1 * z2 * r**2 * (z1 + z2), rel=1e-5)
    assert e[0, tri] == pytest.approx(0.0, abs=1e-12)  # needs three distinct particles
    z = np.array([0.25, 0.25, 0.5])
    d12, d13, d23 = 0.4, 0.3, 0.5  # a 3-4-5 triangle
    assert e[1, tri] == pytest.approx(6 * z.prod() * d12 * d13 * d23, rel=1e-5)
    full = jet_efps(t, 5)
    basis = efp_basis(5)
    sq = basis.index((line, line))
    assert full[1, sq] == pytest.approx(e[1, line] ** 2, rel=1e-10)
    assert full.shape == (2, 101)


def test_bad_input():
    with pytest.raises(InputShapeError):
        efp_padded(np.zeros((2, 3)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError):
        prime_multigraphs(0)


def test_angles_are_rapidities_of_massive_constituents():
    """The EFP paper's hadronic measure (and energyflow on four-vectors): Delta R in (y, phi), not (eta, phi)."""
    pt, eta, phi, m = np.array([100.0, 2.0]), np.array([0.0, 0.3]), np.array([0.0, 0.2]), np.array([0.0, 0.938])
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    t = JetTable(px=px, py=py, pz=pz, E=e, offsets=np.array([0, 2]), label=np.zeros(1, int))
    y = 0.5 * np.log((e + pz) / (e - pz))
    z = pt / pt.sum()
    want_y = 2 * z[0] * z[1] * np.hypot(y[1] - y[0], 0.2)
    want_eta = 2 * z[0] * z[1] * np.hypot(0.3, 0.2)
    assert jet_efps(t, 1)[0, 0] == pytest.approx(want_y, rel=1e-6)  # JetTable holds float32
    assert jet_efps(t, 1, angles="pseudorapidity")[0, 0] == pytest.approx(want_eta, rel=1e-6)
    assert abs(want_y - want_eta) > 0.05 * want_eta  # the soft proton's y and eta differ by 6 %
    for bad in (dict(batch_size=0), dict(max_constituents=-1), dict(angles="eta"), dict(batch_size=True)):
        with pytest.raises(ValueError):
            jet_efps(t, 1, **bad)
