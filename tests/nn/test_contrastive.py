from __future__ import annotations

import math

import pytest
import torch

from pgjets.errors import EmptyGraphError, GraphSizeError, InputShapeError, NonFiniteError
from pgjets.nn import NTXentLoss, nt_xent_loss


def _loop_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=-1, keepdim=True)
    n2 = z.size(0)
    n = n2 // 2
    total = 0.0
    for k in range(n2):
        pos = (k + n) % n2
        num = math.exp(float(z[k] @ z[pos]) / tau)
        den = sum(math.exp(float(z[k] @ z[l]) / tau) for l in range(n2) if l != k)
        total += -math.log(num / den)
    return total / n2


@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_matches_loop_implementation(tau):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    z2 = torch.randn(6, 5, generator=g, dtype=torch.float64)
    got = nt_xent_loss(z1, z2, temperature=tau)
    assert abs(float(got) - _loop_nt_xent(z1, z2, tau)) < 1e-9
    assert abs(float(NTXentLoss(tau)(z1, z2)) - float(got)) < 1e-12


def test_aligned_positives_beat_random():
    z = torch.eye(4, dtype=torch.float64)  # orthogonal negatives
    aligned = nt_xent_loss(z, 3.0 * z, temperature=0.1)
    g = torch.Generator().manual_seed(1)
    rand = nt_xent_loss(torch.randn(4, 4, generator=g), torch.randn(4, 4, generator=g), temperature=0.1)
    assert aligned < rand
    # closed form: -log(e^{10} / (e^{10} + 6 e^0))
    assert abs(float(aligned) - math.log1p(6 * math.exp(-10.0))) < 1e-10
    # symmetric in the two views and invariant to the norm of each vector
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    torch.testing.assert_close(nt_xent_loss(a, b), nt_xent_loss(b, a))
    torch.testing.assert_close(nt_xent_loss(a, b), nt_xent_loss(2 * a, 0.5 * b))


def test_gradients_finite_for_identical_and_zero_inputs():
    z = torch.randn(4, 3, requires_grad=True)
    nt_xent_loss(z, z).backward()
    assert torch.isfinite(z.grad).all()
    z0 = torch.zeros(4, 3, requires_grad=True)
    loss = nt_xent_loss(z0, z0)
    loss.backward()
    # All similarities are 0: uniform softmax over 2N-1 candidates.
    assert abs(loss.item() - math.log(7)) < 1e-6
    assert torch.isfinite(z0.grad).all()


def test_bad_input():
    z = torch.randn(4, 3)
    for t in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            nt_xent_loss(z, z, temperature=t)
        with pytest.raises(ValueError):
            NTXentLoss(temperature=t)
    with pytest.raises(InputShapeError):
        nt_xent_loss(z, torch.randn(5, 3))
    with pytest.raises(InputShapeError):
        nt_xent_loss(torch.randn(4), torch.randn(4))
    with pytest.raises(GraphSizeError):
        nt_xent_loss(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(EmptyGraphError):
        nt_xent_loss(torch.randn(0, 3), torch.randn(0, 3))
    with pytest.raises(NonFiniteError):
        nt_xent_loss(torch.full((2, 3), float("nan")), z[:2])
