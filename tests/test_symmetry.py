from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import images_to_batch
from pgjets.nn import (
    DeepSetsLayer, DeepSetsPool, EdgeConvBlock, EdgeConvLayer, EnergyFlowPool, SAGEMeanConv, GraphNet,
    GridConv, GridPool, EdgeHead, GraphHead, NodeHead, PMAPool, TransformerBlock,
)
from pgjets.ops import knn_graph
from pgjets.symmetry import (
    add_soft_particles, check_all, collinear_split_error, permutation_error, permute_nodes, rotate,
    rotation_error, soft_emission_error, split_collinear, translate, translation_error,
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
            return self.pool(h, b.batch, dim_size=b.num_graphs, pt=b.pt)
        return self.pool(h, b.batch, dim_size=b.num_graphs)


class RadialEFN(EFN):
    """Depends on |pos| only: also rotation invariant."""

    def forward(self, b):
        r = b.pos.norm(dim=1, keepdim=True)
        h = self.phi(torch.cat([r, r * r], 1))
        return self.pool(h, b.batch, dim_size=b.num_graphs, pt=b.pt)


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
    node_model = GraphNet([SAGEMeanConv(4, 8)], NodeHead(8, 3))
    assert permutation_error(node_model, b, node_level=True) < 1e-5

    class EdgeScores(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = GraphNet([SAGEMeanConv(4, 8)], EdgeHead(8, 1, symmetric=True))

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
    "gcn": lambda: [SAGEMeanConv(4, 16), SAGEMeanConv(16, 16)],
    "edgeconv": lambda: [EdgeConvLayer(in_channels=4, out_channels=16)],
    "dynamic_edgeconv": lambda: [EdgeConvBlock(4, (16, 16), k=3)],
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
    # permute_nodes relabels kNN / fully connected graphs consistently
    err = permutation_error(model, b)
    assert err < 1e-5, err


GRID_HEADS = {
    "mean": lambda: GraphHead(8, 2, "mean"),
    "pma": lambda: GraphHead(8, 2, PMAPool(8, heads=2, num_seeds=1)),
}


@pytest.mark.parametrize("head", sorted(GRID_HEADS))
def test_grid_stack_is_permutation_invariant(head):
    torch.manual_seed(0)
    b = images_to_batch(torch.rand(3, 1, 6, 6))
    b.pt = b.x[:, 0]
    model = GraphNet([GridConv(1, 8), GridPool(2), GridConv(8, 8)], GRID_HEADS[head](), activation=torch.relu)
    # the check itself must see a change: the raw pixel sum is permutation invariant,
    # but the first pixel of every image is not
    assert permutation_error(lambda g: g.x[g.ptr[:-1]], b) > 1e-3
    assert permutation_error(model, b) < 1e-5


def test_energy_flow_graph_net_is_irc_safe_and_sum_is_not():
    torch.manual_seed(0)
    b = jets()
    b.x = b.pos.clone()  # angular-only per-particle input
    phi = lambda: [nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16)]  # noqa: E731
    efn = GraphNet(phi(), GraphHead(16, 2, EnergyFlowPool()))
    pfn = GraphNet(phi(), GraphHead(16, 2, "sum"))
    assert soft_emission_error(efn, b) < 1e-5 and collinear_split_error(efn, b) < 1e-5
    assert collinear_split_error(pfn, b) > 1e-4 and soft_emission_error(pfn, b) > 1e-4


# ------------------------------------------------------------------ extra coverage
def test_transforms_do_not_touch_the_input_and_move_x_with_pos():
    b = jets(k=3)
    before = {k: b[k].clone() for k in ("x", "pos", "pt", "p4", "edge_index")}
    t = translate(b, (0.1, 0.2))
    r = rotate(b, 0.5)
    add_soft_particles(b)
    split_collinear(b)
    permute_nodes(b)
    for k, v in before.items():
        assert torch.equal(b[k], v), k
    torch.testing.assert_close(t.x[:, :2], t.pos)
    torch.testing.assert_close(r.x[:, :2], r.pos)
    torch.testing.assert_close(r.x[:, 2:], b.x[:, 2:])
    torch.testing.assert_close(r.pos.norm(dim=1), b.pos.norm(dim=1))
    assert torch.equal(t.edge_index, b.edge_index)
    # without pos_columns x is left alone
    assert torch.equal(translate(b, pos_columns=()).x, b.x)


def test_random_translation_per_jet():
    b = jets()
    t = translate(b, shift=None, seed=3)
    d = t.pos - b.pos
    assert not torch.allclose(d[0], d[-1])  # first and last jet moved differently
    torch.testing.assert_close(d[: 7], d[:1].expand(7, 2))
    assert translation_error(SumX(), b, shift=None) > 1e-2


def test_soft_particles_and_splits_conserve_momentum_and_sit_inside_the_jet():
    b = jets(sizes=(5, 3))
    s = add_soft_particles(b, n_soft=3, seed=1)
    new = torch.cat([torch.arange(5, 8), torch.arange(11, 14)])
    assert torch.all(s.pt[new] == 0) and torch.all(s.p4[new] == 0)
    for j, idx in enumerate([new[:3], new[3:]]):
        pos_j = b.pos[b.batch == j]
        assert torch.all(s.pos[idx] >= pos_j.min(0).values) and torch.all(s.pos[idx] <= pos_j.max(0).values)
        torch.testing.assert_close(s.x[idx, :2], s.pos[idx])
    c = split_collinear(b, fraction=0.25, seed=2)
    torch.testing.assert_close(torch.zeros(2, 4).index_add_(0, c.batch, c.p4),
                               torch.zeros(2, 4).index_add_(0, b.batch, b.p4))
    daughters = torch.tensor([5, 9])
    mothers = [int(((c.pos[: daughters[0]] - c.pos[5]).abs().sum(1) == 0).nonzero()[0]),
               6 + int(((c.pos[6:9] - c.pos[9]).abs().sum(1) == 0).nonzero()[0])]
    torch.testing.assert_close(c.pt[daughters] / c.pt[mothers], torch.full((2,), 1 / 3))
    assert torch.equal(c.x[daughters], c.x[mothers])


def test_edges_are_rebuilt_for_new_particles():
    b = jets(k=3)
    s = add_soft_particles(b)
    assert s.edge_index.size(1) == 3 * s.num_nodes
    assert torch.equal(s.batch[s.edge_index[0]], s.batch[s.edge_index[1]])
    c = split_collinear(b, k=2)
    assert c.edge_index.size(1) == 2 * c.num_nodes
    calls = []

    def builder(batch):
        calls.append(batch.num_nodes)
        return knn_graph(batch.pos, 1, batch.batch)

    add_soft_particles(b, rebuild_edges=builder)
    assert calls == [b.num_nodes + 3]
    # no edges in, no edges out
    assert getattr(add_soft_particles(jets()), "edge_index", None) is None


def test_permutation_carries_edge_attributes():
    b = jets(k=3)
    b.edge_attr = (b.pos[b.edge_index[1]] - b.pos[b.edge_index[0]]).norm(dim=1, keepdim=True)
    p = permute_nodes(b, seed=4)
    torch.testing.assert_close(p.edge_attr, (p.pos[p.edge_index[1]] - p.pos[p.edge_index[0]]).norm(dim=1, keepdim=True))
    edge_model = GraphNet([SAGEMeanConv(4, 8)], EdgeHead(8, 1, edge_dim=1))

    class EdgeSum(nn.Module):
        def forward(self, b):
            return torch.zeros(b.num_nodes).index_add_(0, b.edge_index[1], edge_model(b).squeeze(-1))

    torch.manual_seed(0)
    assert permutation_error(EdgeSum(), b, node_level=True) < 1e-5


def test_features_callable_recomputes_x():
    b = jets()
    b.x = torch.cat([b.pos, torch.log(b.pt)[:, None]], 1)
    feats = lambda g: torch.cat([g.pos, torch.log(g.pt)[:, None]], 1)  # noqa: E731

    class SumXT(nn.Module):
        def forward(self, g):
            return torch.zeros(g.num_graphs, 3).index_add_(0, g.batch, g.x)

    c = split_collinear(b, features=feats)
    torch.testing.assert_close(c.x, feats(c))
    # log pT is not collinear safe once recomputed
    assert collinear_split_error(SumXT(), b, features=feats) > 1e-2
    assert permutation_error(SumXT(), b, features=feats) < 1e-5


def test_model_modes_are_restored_and_dropout_is_off():
    torch.manual_seed(0)
    b = jets()
    model = GraphNet([nn.Linear(4, 16), nn.Dropout(0.5)], GraphHead(16, 2, "mean", dropout=0.5))
    model.train()
    model.layers[0].eval()
    assert permutation_error(model, b) < 1e-5  # dropout would break it in train mode
    assert model.training and model.layers[1].training and not model.layers[0].training
    model.eval()
    translation_error(model, b)
    assert not model.training


def test_bad_input_raises_typed_errors():
    b = jets()
    with pytest.raises(InputShapeError, match="Batch"):
        permutation_error(SumX(), b.to_data_list()[0])
    no_pos = jets()
    del no_pos.pos
    with pytest.raises(InputShapeError, match="pos"):
        translation_error(SumX(), no_pos)
    no_pt = jets()
    del no_pt.pt
    with pytest.raises(InputShapeError, match="pt"):
        soft_emission_error(SumX(), no_pt)
    nan = jets()
    nan.pos[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        rotation_error(SumX(), nan)
    with pytest.raises(ValueError, match="fraction"):
        split_collinear(b, fraction=1.0)
    with pytest.raises(InputShapeError, match="shift"):
        translate(b, shift=(1.0, 2.0, 3.0))
    with pytest.raises(InputShapeError, match="pos_columns"):
        rotate(b, pos_columns=(3, 4))
    with pytest.raises(ValueError, match="n_soft"):
        add_soft_particles(b, n_soft=0)
    empty_jet = Batch.from_data_list([Data(x=torch.zeros(0, 4), pos=torch.zeros(0, 2), pt=torch.zeros(0)),
                                      b.to_data_list()[0]])
    with pytest.raises(EmptyGraphError):
        split_collinear(empty_jet)
    with pytest.raises(InputShapeError, match="node_level"):
        permutation_error(SumX(), b, node_level=True)

    class PerNode(nn.Module):
        def forward(self, g):
            return g.x

    with pytest.raises(InputShapeError, match="graph-level"):
        soft_emission_error(PerNode(), b)


def test_collinear_check_catches_a_leading_particle_observable():
    """max pT is collinear unsafe; splitting a random (mostly soft) particle seldom shows it."""
    from torch_geometric.utils import scatter

    b = jets()

    def leading_pt(batch):
        return scatter(batch.pt, batch.batch, 0, dim_size=batch.num_graphs, reduce="max")[:, None]

    assert collinear_split_error(leading_pt, b) > 1.0  # the hardest particle of every jet is split
    c = split_collinear(b, 0.3)
    first = torch.argmax(b.pt[b.batch == 0])
    assert torch.isclose(c.pt[first], 0.7 * b.pt[first])
    with pytest.raises(ValueError, match="which"):
        split_collinear(b, which="softest")
    assert collinear_split_error(EFN(True), b, which="random") < 1e-5


def test_integer_pos_and_x_columns_that_do_not_hold_pos_are_refused():
    from pgjets.errors import InputDtypeError, InputShapeError

    b = jets()
    ints = b.clone()
    ints.pos = (10 * b.pos).long()
    with pytest.raises(InputDtypeError, match="floating"):
        translation_error(EFN(True), ints)
    other = b.clone()
    other.x = torch.cat([other.pt[:, None], other.x[:, 1:]], 1)  # column 0 is pT, not delta eta
    with pytest.raises(InputShapeError, match="does not hold pos"):
        rotation_error(EFN(True), other)
    def pt_sum(batch):
        return torch.zeros(batch.num_graphs, 1).index_add_(0, batch.batch, batch.pt[:, None])

    assert rotation_error(pt_sum, other, pos_columns=()) < 1e-5  # no position columns in x: fine


def test_soft_emission_check_catches_a_model_that_counts_particles_with_pt():
    """Exactly soft particles (pT = 0) look like padding to a model that masks or counts pT > 0: the
    default check uses pT = 1e-7 of the jet's, which such a model sees, and an IR-safe sum does not."""
    from torch_geometric.utils import scatter

    from pgjets.symmetry import SOFT_PT_FRACTION

    from pgjets.transforms import massless_p4

    b = jets(sizes=(5, 3))
    b.p4 = massless_p4(b.pt, 0.5 + b.pos[:, 0], 1.0 + b.pos[:, 1])  # jets along (eta, phi) = (0.5, 1.0)

    def multiplicity(batch):  # not infrared safe
        return scatter((batch.pt > 0).to(batch.pt.dtype), batch.batch, 0, reduce="sum").unsqueeze(1)

    def pt_weighted(batch):  # infrared safe: sum_i z_i f(pos_i)
        z = batch.pt / scatter(batch.pt, batch.batch, 0, reduce="sum")[batch.batch]
        return scatter(z.unsqueeze(1) * torch.cos(batch.pos), batch.batch, 0, reduce="sum")

    assert soft_emission_error(multiplicity, b, pt_fraction=0.0) == 0.0  # blind with pT = 0
    assert soft_emission_error(multiplicity, b) == 1.0
    assert soft_emission_error(pt_weighted, b) < 1e-6
    s = add_soft_particles(b, n_soft=2, seed=1, pt_fraction=SOFT_PT_FRACTION)
    new = torch.tensor([5, 6, 10, 11])
    jet_pt = torch.stack([b.pt[:5].sum(), b.pt[5:].sum()])
    torch.testing.assert_close(s.pt[new], SOFT_PT_FRACTION * jet_pt.repeat_interleave(2))
    p = s.p4[new]  # massless, along the jet axis + pos
    torch.testing.assert_close(torch.hypot(p[:, 1], p[:, 2]), s.pt[new])
    torch.testing.assert_close(torch.asinh(p[:, 3] / torch.hypot(p[:, 1], p[:, 2])) - 0.5, s.pos[new, 0])
    torch.testing.assert_close(torch.atan2(p[:, 2], p[:, 1]) - 1.0, s.pos[new, 1])
    with pytest.raises(ValueError, match="pt_fraction"):
        add_soft_particles(b, pt_fraction=1.5)


def test_new_particles_update_a_stored_node_count():
    """Graphs that store num_nodes (p4-only graphs do): a split or a soft emission in a batch used to keep
    the old count, and a following permutation failed on the size mismatch."""
    data = []
    for n in (4, 6):
        d = Data(pos=torch.randn(n, 2) * 0.3, pt=torch.rand(n) + 1, p4=torch.rand(n, 4), num_nodes=n)
        data.append(d)
    b = Batch.from_data_list(data)
    for moved in (split_collinear(b), add_soft_particles(b, n_soft=2)):
        assert moved.num_nodes == moved.pos.size(0) == moved.batch.numel()
        assert permute_nodes(moved).num_nodes == moved.num_nodes
