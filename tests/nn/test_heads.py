from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError
from pgjets.nn.energy_flow_pool import EnergyFlowPool
from pgjets.nn.heads import EdgeHead, GraphHead, NodeHead, mlp


def test_mlp_and_node_head():
    m = mlp([3, 8, 2], dropout=0.1, norm="batch")
    assert m(torch.randn(5, 3)).shape == (5, 2)
    assert NodeHead(3, 4)(torch.randn(6, 3)).shape == (6, 4)
    with pytest.raises(ValueError, match="act"):
        mlp([2, 2], act="tanh")


def test_edge_head_symmetric_scores_do_not_depend_on_direction():
    torch.manual_seed(0)
    x = torch.randn(4, 3)
    ei = torch.tensor([[0, 1, 2], [1, 0, 3]])
    sym = EdgeHead(3, 1, symmetric=True)
    s = sym(x, ei)
    torch.testing.assert_close(s[0], s[1])
    asym = EdgeHead(3, 1)
    assert (asym(x, ei)[0] - asym(x, ei)[1]).abs().item() > 1e-6
    with_attr = EdgeHead(3, 2, edge_dim=2)
    assert with_attr(x, ei, torch.randn(3, 2)).shape == (3, 2)
    with pytest.raises(InputShapeError, match="edge_attr"):
        with_attr(x, ei)


@pytest.mark.parametrize("pool", ["mean", "sum", "max"])
def test_graph_head_pools(pool):
    x = torch.randn(7, 3)
    b = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    assert GraphHead(3, 2, pool)(x, b).shape == (3, 2)


def test_graph_head_passes_pt_to_energy_flow_pool():
    x, pt = torch.randn(5, 3), torch.rand(5) + 0.1
    b = torch.tensor([0, 0, 1, 1, 1])
    head = GraphHead(3, 2, EnergyFlowPool())
    assert head(x, b, pt=pt).shape == (2, 2)
    with pytest.raises(InputShapeError, match="pt"):
        head(x, b)
    with pytest.raises(ValueError, match="pool"):
        GraphHead(3, 2, "median")
