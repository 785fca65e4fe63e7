from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.nn.gcn import GCNLayer


def test_matches_formula_and_isolated_nodes():
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    ei = torch.tensor([[1, 2, 0], [0, 0, 1]])  # 1->0, 2->0, 0->1; node 3 isolated
    layer = GCNLayer(3, 5, act=None)
    out = layer(x, ei)
    W, B = layer.lin_neigh, layer.lin_self
    torch.testing.assert_close(out[0], W((x[1] + x[2]) / 2) + B(x[0]))
    torch.testing.assert_close(out[1], W(x[0]) + B(x[1]))
    torch.testing.assert_close(out[3], B(x[3]))


def test_equivariance():
    torch.manual_seed(1)
    x = torch.randn(6, 3)
    ei = torch.randint(0, 6, (2, 15))
    layer = GCNLayer(3, 4)
    perm = torch.randperm(6)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(6)
    torch.testing.assert_close(layer(x[perm], inv[ei]), layer(x, ei)[perm], atol=1e-6, rtol=1e-6)


def test_bad_input():
    layer = GCNLayer(3, 4)
    with pytest.raises(InputShapeError):
        layer(torch.randn(4, 2), torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(NonFiniteError):
        layer(torch.full((2, 3), float("nan")), torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="act"):
        GCNLayer(3, 4, act="tanh")
