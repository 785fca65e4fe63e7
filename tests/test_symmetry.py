from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from pgjets.graphs.image import images_to_batch
from pgjets.nn.attention import MultiHeadAttention  # noqa: F401  (layers under test below)
from pgjets.nn.deep_sets import DeepSetsLayer
from pgjets.nn.deep_sets_pool import DeepSetsPool
from pgjets.nn.dynamic_edge_conv import DynamicEdgeConv
from pgjets.nn.edge_conv import EdgeConvLayer
from pgjets.nn.energy_flow_pool import EnergyFlowPool
from pgjets.nn.gcn import GCNLayer
from pgjets.nn.graph_net import GraphNet
from pgjets.nn.grid_conv import GridConv
from pgjets.nn.grid_pool import GridPool
from pgjets.nn.heads import EdgeHead, GraphHead, NodeHead
from pgjets.nn.knn import knn_graph
from pgjets.nn.pma import PMAPool
from pgjets.nn.transformer import TransformerBlock
from pgjets.symmetry import (
    add_soft_particles,
    check_all,
    collinear_split_error,
    permutation_error,
    permute_nodes,
    rotation_error,
    soft_emission_error,
    split_collinear,
    translation_error,
)


def jets(sizes=(7, 4, 11), seed=0, k=None):
    g = torch.Generator().manual_seed(seed)
    data = []
    for i, n in enumerate(sizes):
        pos = torch.randn(n, 2, generator=g) * 0.3
        pt = torch.rand(n, generator=g) * 40 + 1
        x = torch.cat([pos, torch.randn(n, 2, generator=g)], 1)
        d = Data(x=x, pos=pos, pt=pt, p4=torch.rand(n, 4, generator=g), y=torch.tensor([i % 2]))
        if k:
            d.edge_index = knn_graph(pos, k)
        data.append(d)
    return Batch.from_data_list(data)


class SumX(nn.Module):
    """Invariant to permutations only: sums raw features (which hold pos)."""

    def forward(self, b):
        return torch.zeros(b.num_graphs, 4).index_add_(0, b.batch, b.x)


class EFN(nn.Module):
    """pT-weighted sum of an angular per-particle network: IRC safe."""

    def __init__(self, weighted=True):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 8))
        self.pool = EnergyFlowPool() if weighted else DeepSetsPool("sum")
        self.weighted = weighted

    def forward(self, b):
        h = self.phi(b.pos)
        if self.weighted:
            return self.pool(h, b.pt, b.batch, dim_size=b.num_graphs)
        return self.pool(h, b.batch, dim_size=b.num_graphs)


class RadialEFN(EFN):
    """Depends on |pos| only: also rotation invariant."""

    def forward(self, b):
        r = b.pos.norm(dim=1, keepdim=True)
        h = self.phi(torch.cat([r, r * r], 1))
        return self.pool(h, b.pt, b.batch, dim_size=b.num_graphs)


def test_transforms_keep_batch_structure():
    b = jets()
    s = add_soft_particles(b, n_soft=2)
    assert s.num_graphs == 3 and s.num_nodes == b.num_nodes + 6
    assert torch.equal(torch.bincount(s.batch), torch.bincount(b.batch) + 2)
    assert float(s.pt.sum()) == pytest.approx(float(b.pt.sum()), rel=1e-6)
    c = split_collinear(b, 0.3)
    assert c.num_nodes == b.num_nodes + 3
    torch.testing.assert_close(torch.zeros(3).index_add_(0, c.batch, c.pt), torch.zeros(3).index_add_(0, b.batch, b.pt))
    assert torch.equal(c.y, b.y) and len(c.to_data_list()) == 3
    p, perm = permute_nodes(b, return_perm=True)
    assert torch.equal(p.batch, b.batch) and torch.equal(p.pt, b.pt[perm])


def test_permutation_check_passes_and_fails():
    b = jets()
    assert permutation_error(SumX(), b) < 1e-5

    class FirstNode(nn.Module):
        def forward(self, b):
            return b.x[b.ptr[:-1]]

    assert permutation_error(FirstNode(), b) > 1e-2


def test_translation_and_rotation_checks_can_fail_and_pass():
    b = jets()
    assert translation_error(SumX(), b) > 1e-2
    assert rotation_error(SumX(), b) > 1e-2

    class DistancesOnly(nn.Module):
        def forward(self, b):
            d = (b.pos[:, None] - b.pos[None]).norm(dim=-1)
            same = b.batch[:, None] == b.batch[None]
            return torch.zeros(b.num_graphs).index_add_(0, b.batch, (d * same).sum(1))[:, None]

    assert translation_error(DistancesOnly(), b) < 1e-4
    assert rotation_error(DistancesOnly(), b) < 1e-4
    assert rotation_error(RadialEFN(), b) < 1e-5


def test_irc_checks():
    torch.manual_seed(0)
    b = jets()
    efn, sum_pool = EFN(True), EFN(False)
    assert soft_emission_error(efn, b) < 1e-5
    assert collinear_split_error(efn, b) < 1e-5
    assert collinear_split_error(sum_pool, b) > 1e-3
    assert soft_emission_error(sum_pool, b) > 1e-3
    res = check_all(efn, b)
    assert res["permutation"] < 1e-5 and res["soft"] < 1e-5 and res["collinear"] < 1e-5
    assert res["translation"] > 1e-3


def test_node_and_edge_heads_are_equivariant():
    torch.manual_seed(1)
    b = jets(k=3)
    node_model = GraphNet([GCNLayer(4, 8)], NodeHead(8, 3))
    assert permutation_error(node_model, b, node_level=True) < 1e-5

    class EdgeScores(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = GraphNet([GCNLayer(4, 8)], EdgeHead(8, 1, symmetric=True))

        def forward(self, b):
            # per-node sum of incident edge scores: equivariant iff edge scores are
            s = self.net(b).squeeze(-1)
            return torch.zeros(b.num_nodes).index_add_(0, b.edge_index[1], s)

    assert permutation_error(EdgeScores(), b, node_level=True) < 1e-5


def full_edges(b):
    same = b.batch[:, None] == b.batch[None, :]
    tgt, src = same.nonzero().t()
    return torch.stack([src, tgt])


STACKS = {
    "gcn": lambda: [GCNLayer(4, 16), GCNLayer(16, 16)],
    "edgeconv": lambda: [EdgeConvLayer(in_channels=4, out_channels=16)],
    "dynamic_edgeconv": lambda: [DynamicEdgeConv(4, (16, 16), k=3)],
    "deepsets": lambda: [DeepSetsLayer(4, 16), DeepSetsLayer(16, 16)],
    "transformer": lambda: [nn.Linear(4, 16), TransformerBlock(16, heads=4)],
}
HEADS = {
    "mean": lambda: GraphHead(16, 2, "mean"),
    "pma": lambda: GraphHead(32, 2, PMAPool(16, heads=4, num_seeds=2)),
}


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("stack", sorted(STACKS))
def test_every_graph_level_layer_stack_is_permutation_invariant(stack, head):
    torch.manual_seed(0)
    b = jets(k=3)
    if stack == "transformer":
        b.edge_index = full_edges(b)
    model = GraphNet(STACKS[stack](), HEADS[head]())
    if stack == "transformer":
        # permute_nodes relabels the fully connected graph consistently
        pass
    err = permutation_error(model, b)
    assert err < 1e-5, err


def test_grid_stack_is_permutation_invariant():
    torch.manual_seed(0)
    b = images_to_batch(torch.rand(3, 1, 6, 6))
    b.pt = b.x[:, 0]
    model = GraphNet([GridConv(1, 8), GridPool(2), GridConv(8, 8)], GraphHead(8, 2, "mean"),
                     activation=torch.relu)
    assert permutation_error(model, b) < 1e-5


def test_energy_flow_graph_net_is_irc_safe_and_sum_is_not():
    torch.manual_seed(0)
    b = jets()
    b.x = b.pos.clone()  # angular-only per-particle input
    phi = lambda: [nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16)]  # noqa: E731
    efn = GraphNet(phi(), GraphHead(16, 2, EnergyFlowPool()))
    pfn = GraphNet(phi(), GraphHead(16, 2, "sum"))
    assert soft_emission_error(efn, b) < 1e-5 and collinear_split_error(efn, b) < 1e-5
    assert collinear_split_error(pfn, b) > 1e-4
