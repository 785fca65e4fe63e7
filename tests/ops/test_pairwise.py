from __future__ import annotations

import math

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.ops import dense_pairwise_features, pairwise_features


def massless(pt, y, phi):
    return torch.tensor([pt * math.cosh(y), pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(y)])


def test_known_pair():
    a, b = massless(100.0, 0.1, 0.2), massless(50.0, -0.2, 0.6)
    f = pairwise_features(torch.stack([a, b]).double(), torch.tensor([[1], [0]]))[0]
    delta = math.hypot(0.3, 0.4)
    assert f[0].item() == pytest.approx(math.log(delta), rel=1e-6)
    assert f[1].item() == pytest.approx(math.log(50.0 * delta), rel=1e-6)
    assert f[2].item() == pytest.approx(math.log(50.0 / 150.0), rel=1e-6)
    # massless: m^2 = 2 pt_a pt_b (cosh dy - cos dphi)
    m2 = 2 * 100 * 50 * (math.cosh(0.3) - math.cos(0.4))
    assert f[3].item() == pytest.approx(math.log(m2), rel=1e-6)


def test_dense_matches_sparse_and_masks_padding():
    torch.manual_seed(0)
    pt = torch.rand(5) * 50 + 1
    y, phi = torch.randn(5) * 0.3, torch.randn(5) * 0.3
    p4 = torch.stack([pt * y.cosh(), pt * phi.cos(), pt * phi.sin(), pt * y.sinh()], -1)
    dense = torch.zeros(1, 6, 4)
    dense[0, :5] = p4
    mask = torch.tensor([[True] * 5 + [False]])
    d = dense_pairwise_features(dense, mask)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    sparse = pairwise_features(p4, torch.stack([j.flatten(), i.flatten()]))
    torch.testing.assert_close(d[0, :5, :5].reshape(-1, 4), sparse)
    assert torch.all(d[0, 5] == 0) and torch.all(d[0, :, 5] == 0)
    assert torch.isfinite(d).all()


def test_symmetric_in_the_pair():
    torch.manual_seed(1)
    p4 = torch.rand(4, 4) + torch.tensor([3.0, 0, 0, 0])
    d = dense_pairwise_features(p4[None])[0]
    torch.testing.assert_close(d, d.transpose(0, 1))


def test_bad_input(debug):
    with pytest.raises(InputShapeError):
        pairwise_features(torch.zeros(3, 3), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(NonFiniteError):
        pairwise_features(torch.full((2, 4), float("nan")), torch.zeros(2, 1, dtype=torch.long))


@pytest.mark.parametrize("scale", [1e-6, 1e-9, 1e-12])
def test_delta_r_of_an_ultra_soft_collinear_copy_is_zero(scale):
    """An absolute 1e-8 floor under E +- pz gave a 1e-10 copy of a particle rapidity 0 (ln Delta = +0.15)."""
    a = massless(100.0, 1.161, 0.4).double()
    f = pairwise_features(torch.stack([a, a * scale]), torch.tensor([[1], [0]]))[0]
    assert f[0].item() == pytest.approx(math.log(1e-8), abs=1e-6)  # Delta = 0 -> ln eps
    zero = pairwise_features(torch.stack([a, torch.zeros(4, dtype=torch.float64)]), torch.tensor([[1], [0]]))[0]
    assert torch.isfinite(zero).all()
