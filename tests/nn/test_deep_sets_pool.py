from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import DeepSetsPool


def setup(sizes=(4, 6), f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
    return torch.randn(batch.numel(), f, generator=g), batch


@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
def test_values_and_invariance(aggr):
    torch.manual_seed(0)
    x, batch = setup()
    pool = DeepSetsPool(aggr)
    out = pool(x, batch)
    ref = {"sum": lambda t: t.sum(0), "mean": lambda t: t.mean(0), "max": lambda t: t.amax(0)}[aggr]
    torch.testing.assert_close(out, torch.stack([ref(x[:4]), ref(x[4:])]))
    perm = torch.cat([torch.randperm(4), 4 + torch.randperm(6)])
    assert (pool(x[perm], batch) - out).abs().max() < 1e-5
    torch.testing.assert_close(pool(x, index=batch, dim_size=2), out)
    torch.testing.assert_close(pool(x, ptr=torch.tensor([0, 4, 10])), out)
    torch.testing.assert_close(pool(x[:4]), out[:1])
    padded = pool(x, batch, dim_size=3)
    assert padded.shape == (3, 3) and bool((padded[2] == 0).all())


def test_bad_input(debug):
    x, batch = setup()
    with pytest.raises(ValueError, match="aggr"):
        DeepSetsPool("median")
    with pytest.raises(InputShapeError):
        DeepSetsPool()(x, batch[:-1])
    with pytest.raises(InputShapeError):
        DeepSetsPool()(x[0], batch)
    bad = x.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(NonFiniteError):
        DeepSetsPool()(bad, batch)


def test_deep_sets_pool_is_the_aggr_of_multi_head_layers():
    from torch_geometric.nn import GATConv
    from torch_geometric.nn.aggr import SumAggregation

    torch.manual_seed(0)
    x, ei = torch.randn(6, 4), torch.tensor([[0, 1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 0, 3]])
    ours = GATConv(4, 3, heads=2, aggr=DeepSetsPool("sum"))
    ref = GATConv(4, 3, heads=2, aggr=SumAggregation())
    ref.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x, ei), ref(x, ei))
    msgs, idx = torch.randn(5, 2, 3), torch.tensor([0, 0, 1, 2, 2])
    torch.testing.assert_close(DeepSetsPool("max")(msgs, idx, dim=0), SumAggregation().reduce(
        msgs, idx, dim=0, reduce="max"))
