from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import DeepSetsLayer


def setup(sizes=(4, 6), f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
    return torch.randn(batch.numel(), f, generator=g), batch


@pytest.mark.parametrize("aggr", ["mean", "sum", "max"])
def test_formula_and_equivariance(aggr):
    torch.manual_seed(0)
    x, batch = setup()
    layer = DeepSetsLayer(3, 5, aggr=aggr)
    out = layer(x, batch)
    assert out.shape == (10, 5)
    pool = {"mean": lambda t: t.mean(0), "sum": lambda t: t.sum(0), "max": lambda t: t.amax(0)}[aggr]
    for sl in (slice(0, 4), slice(4, 10)):
        ref = layer.lam(x[sl]) + layer.gamma(pool(x[sl]))
        torch.testing.assert_close(out[sl], ref, atol=1e-6, rtol=1e-5)
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    assert (layer(x[perm], batch) - out[perm]).abs().max() < 1e-5


def test_graphs_are_independent_and_default_batch():
    torch.manual_seed(1)
    x, batch = setup()
    layer = DeepSetsLayer(3, 2)
    out = layer(x, batch)
    x2 = x.clone()
    x2[5:] += 1.0
    torch.testing.assert_close(layer(x2, batch)[:4], out[:4])
    torch.testing.assert_close(layer(x[:4]), out[:4])


def test_edge_index_pools_over_neighbours():
    torch.manual_seed(2)
    x = torch.randn(4, 3)
    ei = torch.tensor([[1, 2, 0, 3], [0, 0, 1, 1]])  # node 0 <- {1, 2}, node 1 <- {0, 3}
    layer = DeepSetsLayer(3, 2, aggr="sum")
    out = layer(x, edge_index=ei)
    torch.testing.assert_close(out[0], layer.lam(x[0]) + layer.gamma(x[1] + x[2]))
    torch.testing.assert_close(out[1], layer.lam(x[1]) + layer.gamma(x[0] + x[3]))
    torch.testing.assert_close(out[2], layer.lam(x[2]))  # no neighbours -> zero context


def test_bad_input(debug):
    x, batch = setup()
    layer = DeepSetsLayer(3, 5)
    with pytest.raises(ValueError, match="aggr"):
        DeepSetsLayer(3, 5, aggr="min")
    with pytest.raises(InputShapeError, match="features"):
        layer(torch.randn(4, 2))
    with pytest.raises(InputShapeError):
        layer(x[0])
    with pytest.raises(InputShapeError, match="batch"):
        layer(x, batch[:-1])
    with pytest.raises(InputShapeError, match="edge_index"):
        layer(x, edge_index=torch.tensor([[0, 10], [1, 2]]))
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        layer(bad, batch)
