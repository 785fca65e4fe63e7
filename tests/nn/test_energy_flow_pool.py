from __future__ import annotations

import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.nn import DeepSetsPool, EnergyFlowPool


def setup(sizes=(4, 6), f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
    n = batch.numel()
    return torch.randn(n, f, generator=g), torch.rand(n, generator=g) * 50 + 1, batch


def test_values():
    x, pt, batch = setup()
    out = EnergyFlowPool()(x, batch, pt=pt)
    assert out.shape == (2, 3)
    torch.testing.assert_close(out[1], (x[4:] * (pt[4:] / pt[4:].sum())[:, None]).sum(0))
    raw = EnergyFlowPool(normalize=False)(x, batch, pt=pt)
    torch.testing.assert_close(raw[0], (x[:4] * pt[:4, None]).sum(0))
    torch.testing.assert_close(EnergyFlowPool()(x, batch, pt=pt[:, None]), out)
    # scale invariance of the normalised pool
    torch.testing.assert_close(EnergyFlowPool()(x, batch, pt=3 * pt), out)


def test_irc_safety_and_deep_sets_is_not_safe():
    torch.manual_seed(1)
    x, pt, batch = setup()
    efp, dsp = EnergyFlowPool(), DeepSetsPool("sum")
    ref = efp(x, batch, pt=pt)
    # infrared: a zero-pt particle with arbitrary Phi joins graph 0
    xs = torch.cat([x[:4], torch.randn(1, 3) * 10, x[4:]])
    pts = torch.cat([pt[:4], torch.zeros(1), pt[4:]])
    bs = torch.cat([batch[:4], torch.zeros(1, dtype=torch.long), batch[4:]])
    assert (efp(xs, bs, pt=pts) - ref).abs().max() < 1e-6
    # collinear: particle 5 (graph 1) splits into two halves with the same Phi
    xc = torch.cat([x, x[5:6]])
    ptc = torch.cat([pt, pt[5:6] / 2])
    ptc[5] = pt[5] / 2
    bc = torch.cat([batch, batch[5:6]])
    assert (efp(xc, bc, pt=ptc) - ref).abs().max() < 1e-6
    assert (dsp(xc, bc) - dsp(x, batch)).abs().max() > 1e-3


def test_dim_size_and_permutation_invariance():
    x, pt, batch = setup()
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    out = EnergyFlowPool()(x, batch, pt=pt)
    assert (EnergyFlowPool()(x[perm], batch, pt=pt[perm]) - out).abs().max() < 1e-5
    raw = EnergyFlowPool(normalize=False)(x, batch, dim_size=3, pt=pt)
    assert raw.shape == (3, 3) and bool((raw[2] == 0).all())


def test_bad_input(debug):
    x, pt, batch = setup()
    pool = EnergyFlowPool()
    zero = pt.clone()
    zero[:4] = 0
    with pytest.raises(EmptyGraphError, match="graph 0"):
        pool(x, batch, pt=zero)
    with pytest.raises(EmptyGraphError):
        pool(x, batch, dim_size=3, pt=pt)  # graph 2 has no particles
    with pytest.raises(InputShapeError, match="entries"):
        pool(x, batch, pt=pt[:-1])
    with pytest.raises(InputShapeError, match="non-negative"):
        pool(x, batch, pt=-pt)
    with pytest.raises(InputShapeError, match="batch"):
        pool(x, batch[:-1], pt=pt)
    with pytest.raises(InputShapeError, match="dim_size"):
        pool(x, batch, dim_size=1, pt=pt)
    with pytest.raises(NonFiniteError):
        pool(x, batch, pt=pt * float("nan"))
    with pytest.raises(NonFiniteError):
        pool(x * float("inf"), batch, pt=pt)


def test_pyg_aggregation_signature_and_legacy_form():
    from torch_geometric.nn.aggr import Aggregation

    x, pt, batch = setup()
    pool = EnergyFlowPool()
    assert isinstance(pool, Aggregation)
    out = pool(x, batch, pt=pt)
    # PyG's Aggregation arguments: ptr instead of index, dim_size, dim=-2 / 0, and a default index
    torch.testing.assert_close(pool(x, ptr=torch.tensor([0, 4, 10]), pt=pt), out)
    torch.testing.assert_close(pool(x, index=batch, dim_size=2, dim=0, pt=pt), out)
    torch.testing.assert_close(pool(x[:4], pt=pt[:4]), out[:1])
    with pytest.raises(InputShapeError, match="needs the weights"):
        pool(x, batch)
    # the old form pool(x, pt, batch) still works for one release, with a DeprecationWarning
    with pytest.warns(DeprecationWarning, match="pt=pt"):
        legacy = pool(x, pt, batch, dim_size=2)
    torch.testing.assert_close(legacy, out)
