from __future__ import annotations

import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.nn.deep_sets import DeepSetsLayer
from pgjets.nn.deep_sets_pool import DeepSetsPool
from pgjets.nn.energy_flow_pool import EnergyFlowPool


def data(sizes=(4, 6), f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i) for i, s in enumerate(sizes)])
    return torch.randn(batch.numel(), f, generator=g), torch.rand(batch.numel(), generator=g) + 0.1, batch


@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
def test_deep_sets_pool_values_and_invariance(aggr):
    x, _, batch = data()
    out = DeepSetsPool(aggr)(x, batch, dim_size=2)
    ref = getattr(torch, {"sum": "sum", "mean": "mean", "max": "amax"}[aggr])
    torch.testing.assert_close(out[0], ref(x[:4], 0))
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    torch.testing.assert_close(DeepSetsPool(aggr)(x[perm], batch, dim_size=2), out)


def test_energy_flow_pool_is_irc_safe_and_sum_is_not():
    x, pt, batch = data()
    efp, sp = EnergyFlowPool(), DeepSetsPool("sum")
    ref = efp(x, pt, batch)
    torch.testing.assert_close(ref[0], (x[:4] * (pt[:4] / pt[:4].sum())[:, None]).sum(0))
    # soft emission: a zero-pt particle in graph 0
    xs = torch.cat([x[:4], torch.randn(1, 3), x[4:]])
    pts = torch.cat([pt[:4], torch.zeros(1), pt[4:]])
    bs = torch.cat([batch[:4], torch.zeros(1, dtype=torch.long), batch[4:]])
    assert (efp(xs, pts, bs) - ref).abs().max() < 1e-6
    # collinear split of particle 0 into fractions 0.3 / 0.7
    xc = torch.cat([x[:1], x])
    ptc = torch.cat([0.3 * pt[:1], torch.cat([0.7 * pt[:1], pt[1:]])])
    bc = torch.cat([batch[:1], batch])
    assert (efp(xc, ptc, bc) - ref).abs().max() < 1e-6
    assert (sp(xc, bc) - sp(x, batch)).abs().max() > 1e-2


def test_energy_flow_pool_errors():
    x, pt, batch = data()
    with pytest.raises(EmptyGraphError, match="zero total pt"):
        EnergyFlowPool()(x, torch.zeros_like(pt), batch)
    with pytest.raises(InputShapeError, match="entries"):
        EnergyFlowPool()(x, pt[:-1], batch)
    with pytest.raises(InputShapeError, match="non-negative"):
        EnergyFlowPool()(x, -pt, batch)
    with pytest.raises(NonFiniteError):
        EnergyFlowPool()(x, pt * float("nan"), batch)


def test_deep_sets_layer_equivariance_and_context():
    torch.manual_seed(0)
    x, _, batch = data()
    layer = DeepSetsLayer(3, 5)
    out = layer(x, batch)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    torch.testing.assert_close(layer(x[perm], batch), out[perm], atol=1e-6, rtol=1e-6)
    # context is per graph: changing graph 1 leaves graph 0 untouched
    x2 = x.clone()
    x2[5:] += 1
    torch.testing.assert_close(layer(x2, batch)[:4], out[:4])
    torch.testing.assert_close(out[0], layer.lam(x[0]) + layer.gamma(x[:4].mean(0)))
    with pytest.raises(InputShapeError):
        layer(torch.randn(3, 4))
