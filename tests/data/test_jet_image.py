from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pgjets.data import jet_image, JetTable
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


def test_arrays_input_extent_and_vectorised_over_jets():
    rng = np.random.default_rng(2)
    counts = np.array([5, 1, 7])
    P = counts.sum()
    pos = rng.uniform(-0.5, 0.5, (P, 2))
    pt = rng.uniform(1, 10, P)
    imgs = jet_image((pos, pt, counts), npix=8, extent=((-1, 1), (-1, 1)), centre=False, rotate=False,
                     flip=False, normalize=False)
    assert imgs.shape == (3, 1, 8, 8)
    off = np.r_[0, np.cumsum(counts)]
    np.testing.assert_allclose(imgs.sum(dim=(1, 2, 3)).numpy(), [pt[a:b].sum() for a, b in zip(off[:-1], off[1:])],
                               rtol=1e-5)
    # each jet alone gives the same image as inside the batch
    single = jet_image({"pos": pos[5:6], "pt": pt[5:6], "counts": [1]}, npix=8, extent=((-1, 1), (-1, 1)),
                       centre=False, rotate=False, flip=False, normalize=False)
    assert torch.equal(single[0], imgs[1])
    # a particle outside a narrow extent is dropped
    narrow = jet_image((np.array([[0.0, 0.0], [0.9, 0.0]]), np.array([2.0, 3.0]), [2]), npix=4, R=0.5,
                       centre=False, rotate=False, flip=False, normalize=False)
    assert narrow.sum().item() == pytest.approx(2.0)


def test_two_particle_jet_is_exactly_invariant():
    # two particles: after centring, rotation and flipping the image is the same for
    # any orientation and position of the pair
    ref = None
    for angle, shift in [(0.0, (0.0, 0.0)), (0.7, (0.1, -0.2)), (2.5, (-0.3, 0.05)), (-1.2, (0.2, 0.2))]:
        d = np.array([math.cos(angle), math.sin(angle)]) * 0.3
        pos = np.array([shift + d * 0.25, shift - d * 0.75])  # centroid at `shift` for pt 3:1
        img = jet_image((pos, np.array([30.0, 10.0]), [2]), npix=20)
        if ref is None:
            ref = img
            assert torch.count_nonzero(img) == 2
        assert torch.equal(img, ref)


def test_bad_inputs():
    with pytest.raises(ValueError, match="npix"):
        jet_image((np.zeros((1, 2)), np.ones(1), [1]), npix=0)
    with pytest.raises(ValueError, match="extent"):
        jet_image((np.zeros((1, 2)), np.ones(1), [1]), extent=((1, -1), (0, 1)))
    from pgjets.errors import InputShapeError, NonFiniteError
    with pytest.raises(InputShapeError):
        jet_image((np.zeros((3, 3)), np.ones(3), [3]))
    with pytest.raises(InputShapeError):
        jet_image((np.zeros((3, 2)), np.ones(3), [2]))
    with pytest.raises(NonFiniteError):
        jet_image((np.full((1, 2), np.nan), np.ones(1), [1]))
    with pytest.raises(EmptyGraphError):
        jet_image((np.zeros((1, 2)), np.ones(1), [1, 0]))


def test_negative_or_zero_total_pt_is_refused():
    from pgjets.errors import EmptyGraphError, InputShapeError

    pos = torch.tensor([[0.1, 0.2], [-0.1, 0.0], [0.05, -0.2], [0.0, 0.1]])
    counts = torch.tensor([2, 2])
    with pytest.raises(InputShapeError, match="pt holds negative values"):
        jet_image((pos, torch.tensor([1.0, -0.2, 1.0, 1.0]), counts))
    with pytest.raises(EmptyGraphError, match="jet 1 has zero total pT"):
        jet_image((pos, torch.tensor([1.0, 0.5, 0.0, 0.0]), counts))


def test_infinite_extents_are_refused_and_blank_images_warned():
    one = (np.zeros((1, 2)), np.ones(1), [1])
    for kwargs in ({"R": float("inf")}, {"extent": ((-1, float("inf")), (-1, 1))},
                   {"extent": ((float("nan"), 1), (-1, 1))}):
        with pytest.raises(ValueError, match="finite"):
            jet_image(one, **kwargs)
    two_prong = (np.array([[1.0, 0.0], [-1.0, 0.0], [0.1, 0.0], [-0.1, 0.0]]), np.ones(4), [2, 2])
    with pytest.warns(UserWarning, match="1 of 2 jets have no pT inside"):
        img = jet_image(two_prong, R=0.8, rotate=False)
    assert float(img[0].sum()) == 0.0 and float(img[1].sum()) == pytest.approx(1.0)
