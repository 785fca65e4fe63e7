from __future__ import annotations

import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.nn import EnergyFlowPool, EdgeHead, GraphHead, NodeHead, PMAPool, mlp


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


def test_mlp_options_and_bad_arguments():
    m = mlp([4, 6, 3], norm="layer", act="gelu", last_act=True)
    assert isinstance(m[-1], torch.nn.GELU) and any(isinstance(l, torch.nn.LayerNorm) for l in m)
    assert len(mlp([4, 3])) == 1
    with pytest.raises(ValueError, match="at least"):
        mlp([4])
    with pytest.raises(ValueError, match="norm"):
        mlp([4, 3], norm="group")
    with pytest.raises(ValueError, match="dropout"):
        mlp([4, 3], dropout=1.0)
    with pytest.raises(ValueError, match="positive"):
        mlp([4, 0, 3])


def test_node_head_is_equivariant_and_checks_input(debug):
    torch.manual_seed(0)
    head = NodeHead(3, 2, hidden=(8, 8))
    x = torch.randn(9, 3)
    perm = torch.randperm(9)
    torch.testing.assert_close(head(x[perm]), head(x)[perm])
    with pytest.raises(InputShapeError, match="features"):
        head(torch.randn(9, 4))
    with pytest.raises(InputShapeError, match="2-D"):
        head(torch.randn(9))
    with pytest.raises(NonFiniteError):
        head(torch.tensor([[0.0, float("nan"), 1.0]]))


def test_edge_head_is_equivariant_under_node_relabelling():
    torch.manual_seed(0)
    x, ea = torch.randn(6, 3), torch.randn(5, 2)
    ei = torch.tensor([[0, 1, 2, 4, 5], [1, 2, 3, 3, 0]])
    head = EdgeHead(3, 2, edge_dim=2)
    perm = torch.randperm(6)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(6)
    torch.testing.assert_close(head(x[perm], inv[ei], ea), head(x, ei, ea))
    # the symmetric head gives the same score to both directions, also with edge features
    sym = EdgeHead(3, 1, edge_dim=2, symmetric=True)
    torch.testing.assert_close(sym(x, ei, ea), sym(x, ei.flip(0), ea))


def test_edge_head_bad_input(debug):
    """Out-of-range nodes are a value check (a host sync): debug mode only; shapes always."""
    head = EdgeHead(3, 1, edge_dim=2)
    x = torch.randn(4, 3)
    with pytest.raises(InputShapeError, match="edge_index refers to node 4"):
        head(x, torch.tensor([[0], [4]]), torch.randn(1, 2))
    with pytest.raises(InputShapeError, match="edge_index"):
        head(x, torch.tensor([0, 1]), torch.randn(1, 2))
    with pytest.raises(InputShapeError, match="edge_attr"):
        head(x, torch.tensor([[0], [1]]), torch.randn(2, 2))
    with pytest.raises(ValueError, match="edge_dim"):
        EdgeHead(3, 1, edge_dim=-1)


def test_graph_head_pooling_values_and_invariance():
    torch.manual_seed(0)
    x = torch.randn(7, 3)
    b = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    for pool, ref in [("sum", torch.zeros(3, 3).index_add_(0, b, x)),
                      ("mean", torch.zeros(3, 3).index_add_(0, b, x) / torch.tensor([[3.0], [2.0], [2.0]]))]:
        head = GraphHead(3, 2, pool, hidden=())
        torch.testing.assert_close(head(x, b), head.net(ref))
    head = GraphHead(3, 2, "max")
    perm = torch.tensor([2, 0, 1, 4, 3, 6, 5])
    torch.testing.assert_close(head(x[perm], b), head(x, b))
    # a single graph when batch is None
    assert GraphHead(3, 2)(x).shape == (1, 2)
    # num_graphs keeps trailing empty graphs
    assert GraphHead(3, 2, "sum")(x, b, num_graphs=5).shape == (5, 2)


def test_graph_head_with_pma_pool_and_bad_input():
    from pgjets.nn import PMAPool

    torch.manual_seed(0)
    x = torch.randn(7, 8)
    b = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    head = GraphHead(16, 2, PMAPool(8, heads=2, num_seeds=2))
    assert head(x, b).shape == (3, 2)
    with pytest.raises(InputShapeError, match="in_channels"):
        GraphHead(8, 2, PMAPool(8, heads=2, num_seeds=2))(x, b)
    with pytest.raises(EmptyGraphError):
        GraphHead(3, 2)(torch.zeros(0, 3))
    with pytest.raises(InputShapeError, match="batch"):
        GraphHead(3, 2)(torch.randn(4, 3), torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="pool"):
        GraphHead(3, 2, pool=3)  # type: ignore[arg-type]


def test_edge_head_reads_no_value_back_to_the_host_outside_debug_mode(monkeypatch):
    """No ``int(edge_index.max())`` in forward: a host-device sync per call stalls GPUs."""
    head = EdgeHead(3, 2)
    x, ei = torch.randn(5, 3), torch.tensor([[0, 1, 4], [1, 2, 3]])
    calls = []
    real = torch.Tensor.__int__
    monkeypatch.setattr(torch.Tensor, "__int__", lambda t: calls.append(t) or real(t))
    monkeypatch.setattr(torch.Tensor, "item", lambda t: calls.append(t) or real(t))
    head(x, ei)
    assert calls == []


@pytest.mark.parametrize("make", [lambda: NodeHead(3, 2, hidden=(8,)), lambda: EdgeHead(3, 2, edge_dim=1),
                                  lambda: GraphHead(3, 2, hidden=(8,), pool=PMAPool(3, heads=1))])
def test_heads_reset_parameters_draws_every_weight_anew(make):
    torch.manual_seed(0)
    head = make()
    before = {k: v.clone() for k, v in head.state_dict().items()}
    torch.manual_seed(1)
    head.reset_parameters()
    changed = {k for k, v in head.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])}
    weights = {k for k, v in head.named_parameters() if v.dim() > 1}
    assert weights and weights <= changed
    torch.manual_seed(0)
    again = make()
    torch.manual_seed(1)
    again.reset_parameters()
    for k, v in again.state_dict().items():  # seeded: reproducible
        assert torch.equal(v, head.state_dict()[k]), k
