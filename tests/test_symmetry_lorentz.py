"""The Lorentz-group part of :mod:`pgjets.symmetry`."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets.errors import InputShapeError
from pgjets.symmetry import (
    azimuthal_rotation_error, azimuthal_rotation_matrix, lorentz_error, lorentz_transform, random_lorentz,
)

G = torch.diag(torch.tensor([1.0, -1.0, -1.0, -1.0], dtype=torch.float64))


def jets(sizes=(4, 6), seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        p = torch.randn(n, 3, generator=g, dtype=torch.float64) * 20
        p4 = torch.cat([p.norm(dim=1, keepdim=True) * 1.01, p], 1)
        out.append(Data(x=torch.randn(n, 3), pos=torch.randn(n, 2), pt=p[:, :2].norm(dim=1), p4=p4))
    return Batch.from_data_list(out)


def test_random_lorentz_is_proper_orthochronous_with_bounded_rapidity():
    lam = random_lorentz(50, max_rapidity=2.0, seed=3)
    assert lam.shape == (50, 4, 4) and lam.dtype == torch.float64
    torch.testing.assert_close(lam.transpose(1, 2) @ G @ lam, G.expand(50, 4, 4), atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(lam), torch.ones(50, dtype=torch.float64))
    gamma = lam[:, 0, 0]
    assert (gamma >= 1).all() and (gamma <= math.cosh(2.0) + 1e-12).all()
    assert gamma.max() > 1.5  # real boosts, not only rotations
    torch.testing.assert_close(random_lorentz(5, seed=1), random_lorentz(5, seed=1))
    torch.testing.assert_close(random_lorentz(3, max_rapidity=0.0)[:, 0, 0], torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="max_rapidity"):
        random_lorentz(2, max_rapidity=-1)


def test_azimuthal_rotation_shifts_phi_and_keeps_the_rest():
    b = jets()
    moved = lorentz_transform(b, azimuthal_rotation_matrix(0.4))
    phi0 = torch.atan2(b.p4[:, 2], b.p4[:, 1])
    phi1 = torch.atan2(moved.p4[:, 2], moved.p4[:, 1])
    torch.testing.assert_close(torch.remainder(phi1 - phi0, 2 * math.pi), torch.full_like(phi0, 0.4))
    torch.testing.assert_close(moved.p4[:, [0, 3]], b.p4[:, [0, 3]])
    assert torch.equal(moved.pos, b.pos) and torch.equal(moved.x, b.x)


def test_transform_per_jet_and_input_untouched():
    b = jets()
    before = b.p4.clone()
    lam = random_lorentz(2, seed=5)
    moved = lorentz_transform(b, lam)
    assert torch.equal(b.p4, before)
    torch.testing.assert_close(moved.p4[:4], before[:4] @ lam[0].t())
    torch.testing.assert_close(moved.p4[4:], before[4:] @ lam[1].t())
    mass0 = (before @ G * before).sum(1)
    torch.testing.assert_close((moved.p4 @ G * moved.p4).sum(1), mass0, atol=1e-9, rtol=1e-9)
    with pytest.raises(InputShapeError, match="matrices"):
        lorentz_transform(b, torch.eye(4).expand(3, 4, 4))
    del b.p4
    with pytest.raises(InputShapeError, match="p4"):
        lorentz_error(lambda batch: batch.x.sum(), b)


def test_errors_of_invariant_and_non_invariant_functions():
    b = jets()

    def mass(batch):  # invariant mass of every jet: Lorentz invariant
        from torch_geometric.utils import scatter

        p = scatter(batch.p4, batch.batch, 0, reduce="sum")
        return (p @ G * p).sum(1)

    def energy(batch):  # jet energy: invariant under rotations about z only
        from torch_geometric.utils import scatter

        return scatter(batch.p4[:, 0], batch.batch, 0, reduce="sum")

    assert lorentz_error(mass, b, relative=True) < 1e-12
    assert azimuthal_rotation_error(energy, b, relative=True) < 1e-12
    assert lorentz_error(energy, b, relative=True) > 1e-2
    assert lorentz_error(energy, b) > lorentz_error(energy, b, relative=True)
