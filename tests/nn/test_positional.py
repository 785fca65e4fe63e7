from __future__ import annotations

import math

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn import SinusoidalPositionalEncoding
from pgjets.nn.positional import local_positions, sinusoidal_encoding


def test_values_follow_the_formula():
    d = 6
    pe = SinusoidalPositionalEncoding(d)
    x = torch.zeros(5, d)
    out = pe(x)
    for p in range(5):
        for i in range(d // 2):
            w = p / 10000 ** (2 * i / d)
            assert abs(out[p, 2 * i].item() - math.sin(w)) < 1e-6
            assert abs(out[p, 2 * i + 1].item() - math.cos(w)) < 1e-6
    odd = sinusoidal_encoding(torch.tensor([3.0]), 5)
    assert odd.shape == (1, 5)
    assert abs(odd[0, 4].item() - math.sin(3 / 10000 ** (4 / 5))) < 1e-6
    assert abs(odd[0, 3].item() - math.cos(3 / 10000 ** (2 / 5))) < 1e-6


def test_positions_restart_per_graph_and_explicit_positions():
    torch.manual_seed(0)
    pe = SinusoidalPositionalEncoding(8)
    x = torch.randn(7, 8)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    out = pe(x, batch)
    torch.testing.assert_close(out - x, pe.pe[torch.tensor([0, 1, 2, 0, 1, 2, 3])])
    pos = torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0])
    torch.testing.assert_close(pe(x, position=pos), out, atol=1e-6, rtol=1e-6)
    frac = pe(x, position=torch.full((7,), 0.5))
    assert (frac - pe(x, position=torch.zeros(7))).abs().max() > 1e-3
    assert local_positions(torch.tensor([1, 0, 1, 0, 0])).tolist() == [0, 0, 1, 1, 2]


def test_breaks_permutation_invariance_on_purpose():
    torch.manual_seed(1)
    pe = SinusoidalPositionalEncoding(8)
    x = torch.randn(5, 8)
    perm = torch.tensor([4, 0, 1, 2, 3])
    assert (pe(x[perm]) - pe(x)[perm]).abs().max() > 1e-2


def test_bad_input(debug):
    pe = SinusoidalPositionalEncoding(8, max_len=4)
    with pytest.raises(InputShapeError, match="max_len"):
        pe(torch.zeros(5, 8))
    pe(torch.zeros(5, 8), torch.tensor([0, 0, 1, 1, 1]))  # graphs of <= 4 nodes are fine
    with pytest.raises(InputShapeError, match="channels"):
        pe(torch.zeros(3, 6))
    with pytest.raises(InputShapeError, match="batch"):
        pe(torch.zeros(3, 8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(InputShapeError, match="position"):
        pe(torch.zeros(3, 8), position=torch.zeros(4))
    with pytest.raises(NonFiniteError):
        pe(torch.zeros(3, 8), position=torch.tensor([0.0, float("nan"), 1.0]))
    with pytest.raises(NonFiniteError):
        pe(torch.full((3, 8), float("nan")))
    with pytest.raises(ValueError):
        SinusoidalPositionalEncoding(0)


def test_local_positions_count_within_each_graph_in_storage_order_without_host_reads():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        batch = torch.randint(0, 5, (int(torch.randint(1, 40, (1,), generator=g)),), generator=g)
        want = torch.empty_like(batch)
        for b in batch.unique().tolist():  # the k-th node of graph b in storage order gets k
            rows = (batch == b).nonzero().view(-1)
            want[rows] = torch.arange(rows.numel())
        assert torch.equal(local_positions(batch), want)
    pe = SinusoidalPositionalEncoding(8).to("meta")  # no value read back outside debug mode
    assert pe(torch.randn(6, 8, device="meta"), torch.tensor([1, 1, 0, 0, 0, 2], device="meta")).shape == (6, 8)
