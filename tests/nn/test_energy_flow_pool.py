from __future__ import annotations

import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.nn.deep_sets_pool import DeepSetsPool
from pgjets.nn.energy_flow_pool import EnergyFlowPool


def setup(sizes=(4, 6), f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
    n = batch.numel()
    return torch.randn(n, f, generator=g), torch.rand(n, generator=g) * 50 + 1, batch


def test_values():
    x, pt, batch = setup()
    out = EnergyFlowPool()(x, pt, batch)
    assert out.shape == (2, 3)
    torch.testing.assert_close(out[1], (x[4:] * (pt[4:] / pt[4:].sum())[:, None]).sum(0))
    raw = EnergyFlowPool(normalize=False)(x, pt, batch)
    torch.testing.assert_close(raw[0], (x[:4] * pt[:4, None]).sum(0))
    torch.testing.assert_close(EnergyFlowPool()(x, pt[:, None], batch), out)
    # scale invariance of the normalised pool
    torch.testing.assert_close(EnergyFlowPool()(x, 3 * pt, batch), out)


def test_irc_safety_and_deep_sets_is_not_safe():
    torch.manual_seed(1)
    x, pt, batch = setup()
    efp, dsp = EnergyFlowPool(), DeepSetsPool("sum")
    ref = efp(x, pt, batch)
    # infrared: a zero-pt particle with arbitrary Phi joins graph 0
    xs = torch.cat([x[:4], torch.randn(1, 3) * 10, x[4:]])
    pts = torch.cat([pt[:4], torch.zeros(1), pt[4:]])
    bs = torch.cat([batch[:4], torch.zeros(1, dtype=torch.long), batch[4:]])
    assert (efp(xs, pts, bs) - ref).abs().max() < 1e-6
    # collinear: particle 5 (graph 1) splits into two halves with the same Phi
    xc = torch.cat([x, x[5:6]])
    ptc = torch.cat([pt, pt[5:6] / 2])
    ptc[5] = pt[5] / 2
    bc = torch.cat([batch, batch[5:6]])
    assert (efp(xc, ptc, bc) - ref).abs().max() < 1e-6
    assert (dsp(xc, bc) - dsp(x, batch)).abs().max() > 1e-3


def test_dim_size_and_permutation_invariance():
    x, pt, batch = setup()
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    out = EnergyFlowPool()(x, pt, batch)
    assert (EnergyFlowPool()(x[perm], pt[perm], batch) - out).abs().max() < 1e-5
    raw = EnergyFlowPool(normalize=False)(x, pt, batch, dim_size=3)
    assert raw.shape == (3, 3) and bool((raw[2] == 0).all())


def test_bad_input(debug):
    x, pt, batch = setup()
    pool = EnergyFlowPool()
    zero = pt.clone()
    zero[:4] = 0
    with pytest.raises(EmptyGraphError, match="graph 0"):
        pool(x, zero, batch)
    with pytest.raises(EmptyGraphError):
        pool(x, pt, batch, dim_size=3)  # graph 2 has no particles
    with pytest.raises(InputShapeError, match="entries"):
        pool(x, pt[:-1], batch)
    with pytest.raises(InputShapeError, match="non-negative"):
        pool(x, -pt, batch)
    with pytest.raises(InputShapeError, match="batch"):
        pool(x, pt, batch[:-1])
    with pytest.raises(InputShapeError, match="dim_size"):
        pool(x, pt, batch, dim_size=1)
    with pytest.raises(NonFiniteError):
        pool(x, pt * float("nan"), batch)
    with pytest.raises(NonFiniteError):
        pool(x * float("inf"), pt, batch)
