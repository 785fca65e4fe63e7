from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pgjets.data.jet_image import jet_image
from pgjets.data.table import JetTable
from pgjets.errors import EmptyGraphError


def jets_from(pt, eta, phi, counts):
    pt, eta, phi = map(np.asarray, (pt, eta, phi))
    off = np.r_[0, np.cumsum(counts)]
    return JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                    offsets=off, label=np.zeros(len(counts)))


def test_pt_is_conserved_and_normalised():
    rng = np.random.default_rng(0)
    n = 40
    t = jets_from(rng.uniform(1, 50, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), [n])
    raw = jet_image(t, npix=20, normalize=False, centre=False, rotate=False, flip=False)
    assert raw.shape == (1, 1, 20, 20)
    # all particles lie well inside R = 0.8 (up to the small shift of the jet axis)
    np.testing.assert_allclose(raw.sum().item(), np.hypot(t.px, t.py).sum(), rtol=1e-4)
    assert jet_image(t).sum().item() == pytest.approx(1.0, abs=1e-5)


def test_rotation_about_the_jet_axis_gives_the_same_image():
    rng = np.random.default_rng(1)
    n = 30
    pt = rng.uniform(5, 60, n)
    deta, dphi = rng.normal(0, 0.25, n) * np.array([1.0]), rng.normal(0, 0.08, n)
    base = jets_from(pt, deta, dphi, [n])
    a = 0.9
    rot = jets_from(pt, math.cos(a) * deta - math.sin(a) * dphi, math.sin(a) * deta + math.cos(a) * dphi, [n])
    ia, ib = jet_image(base, npix=20), jet_image(rot, npix=20)
    # pixelisation moves a few particles by one pixel: compare coarse moments
    coords = torch.arange(20.0)
    for img_a, img_b in [(ia[0, 0], ib[0, 0])]:
        for w in (coords[:, None].expand(20, 20), coords[None, :].expand(20, 20)):
            assert (img_a * w).sum().item() == pytest.approx((img_b * w).sum().item(), abs=0.3)
        assert torch.abs(img_a - img_b).sum().item() < 0.5


def test_principal_axis_is_vertical():
    # particles along the phi direction only: after rotation they lie in one column
    t = jets_from([10, 10, 10, 10], [0, 0, 0, 0], [-0.3, -0.1, 0.1, 0.3], [4])
    img = jet_image(t, npix=16, normalize=False)[0, 0]
    cols = torch.nonzero(img.sum(0)).flatten()
    rows = torch.nonzero(img.sum(1)).flatten()
    assert cols.numel() == 1 and rows.numel() >= 3


def test_empty_jet_is_an_error():
    t = JetTable(px=[1.0], py=[0.0], pz=[0.0], E=[1.0], offsets=[0, 1, 1], label=[0, 0])
    with pytest.raises(EmptyGraphError):
        jet_image(t)
