"""The Lorentz-group part of :mod:`pgjets.symmetry`."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets.errors import InputShapeError
from pgjets.transforms import pos_from_p4
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
        out.append(Data(x=torch.randn(n, 3), pos=torch.zeros(n, 2, dtype=torch.float64), pt=p[:, :2].norm(dim=1),
                        p4=p4))
    b = Batch.from_data_list(out)
    b.pos, b.pt = pos_from_p4(b)  # the jet graph convention: pos about the summed four-momentum
    return b


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
    torch.testing.assert_close(moved.pos, b.pos)  # relative (deta, dphi) do not change
    torch.testing.assert_close(moved.pt, b.pt)
    assert torch.equal(moved.x, b.x)


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


def test_lorentz_checks_take_a_batch_of_four_momenta_only():
    from pgjets.models import LorentzNet

    b = jets()
    only = Batch.from_data_list([Data(p4=d.p4) for d in b.to_data_list()])  # LorentzNet's whole input
    torch.manual_seed(0)
    model = LorentzNet(2, hidden_channels=8, num_layers=2, beams=False).double().eval()
    assert lorentz_error(model, only, relative=True) < 1e-10
    beams = LorentzNet(2, hidden_channels=8, num_layers=2, beams=True).double().eval()
    assert azimuthal_rotation_error(beams, only, relative=True) < 1e-10
    assert lorentz_error(beams, only, relative=True) > 1e-6  # the beams fix the lab frame
    moved = lorentz_transform(only)
    assert "pos" not in moved and "pt" not in moved
    bad = only.clone()
    bad.pos = torch.zeros(bad.p4.size(0), 3, dtype=torch.float64)  # a pos, where given, is still checked
    with pytest.raises(InputShapeError, match="batch.pos"):
        lorentz_error(model, bad)


def test_pos_and_pt_follow_a_boost_and_features_let_x_follow_too():
    """A boost moves the particles relative to the jet axis: ``pos`` and ``pt`` are recomputed, and
    ``features=`` recomputes ``x``; the check can so fail for a model that reads them."""
    b = jets(seed=4)
    lam = random_lorentz(2, max_rapidity=1.5, seed=2)
    moved = lorentz_transform(b, lam)
    assert (moved.pos - b.pos).abs().max() > 1e-2 and (moved.pt - b.pt).abs().max() > 1e-2
    pos, pt = pos_from_p4(moved)
    torch.testing.assert_close(moved.pos, pos)
    torch.testing.assert_close(moved.pt, pt)

    def log_pt(batch):  # a model input computed from the kinematics
        return torch.log(batch.pt).unsqueeze(1).to(batch.x.dtype)

    def reads_x(batch):
        return torch.zeros(batch.num_graphs, 1, dtype=torch.float64).index_add_(0, batch.batch, batch.x[:, :1].double())

    b.x = log_pt(b)
    assert lorentz_error(reads_x, b) == 0.0  # x kept: the model cannot see the boost
    assert lorentz_error(reads_x, b, features=log_pt) > 1e-2

    def reads_pos(batch):
        return torch.zeros(batch.num_graphs, 1, dtype=torch.float64).index_add_(0, batch.batch, batch.pos[:, :1])

    assert lorentz_error(reads_pos, b) > 1e-3


def test_pos_from_p4_reproduces_the_builders_coordinates():
    from pgjets.data import JetTable
    from pgjets.data.jet_dataset import JetDataset

    g = torch.Generator().manual_seed(3)
    counts = torch.tensor([5, 7])
    pt = torch.rand(12, generator=g, dtype=torch.float64) * 50 + 1
    eta = torch.randn(12, generator=g, dtype=torch.float64) * 0.3 + 1.0
    phi = torch.randn(12, generator=g, dtype=torch.float64) * 0.3 + 3.1  # across +-pi
    table = JetTable(px=(pt * torch.cos(phi)).numpy(), py=(pt * torch.sin(phi)).numpy(),
                     pz=(pt * torch.sinh(eta)).numpy(), E=(pt * torch.cosh(eta)).numpy(),
                     offsets=torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]).numpy(),
                     label=[0, 1])
    batch = Batch.from_data_list([JetDataset.from_table(table, k=2)[i] for i in range(2)])
    pos, pt_ = pos_from_p4(batch)
    torch.testing.assert_close(pos, batch.pos, atol=1e-4, rtol=0)
    torch.testing.assert_close(pt_, batch.pt, atol=1e-3, rtol=1e-5)
