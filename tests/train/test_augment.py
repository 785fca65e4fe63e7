from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import Compose

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.ops import knn_graph
from pgjets.train import (
    CollinearSplitting, RandomPermutation, RandomRotation, RandomTranslation, SoftSmearing, two_views,
)
from pgjets.train.augment import (
    collinear_splitting, random_permutation, random_rotation, random_translation, rotate_jets, soft_smearing,
    translate_jets,
)


def _jet(n: int, seed: int, with_p4: bool = True) -> Data:
    g = torch.Generator().manual_seed(seed)
    pos = 0.3 * torch.randn(n, 2, generator=g, dtype=torch.float64)
    pt = 0.2 + 20.0 * torch.rand(n, generator=g, dtype=torch.float64)
    x = torch.cat([pos, pt.log().unsqueeze(-1), torch.randn(n, 1, generator=g, dtype=torch.float64)], dim=1)
    d = Data(x=x, pos=pos, pt=pt, y=torch.tensor([seed % 2]))
    if with_p4:
        eta, phi = pos[:, 0], pos[:, 1]
        d.p4 = torch.stack([pt * torch.cosh(eta), pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)], -1)
    return d


def _batch(sizes=(4, 7, 1, 5)) -> Batch:
    return Batch.from_data_list([_jet(n, i) for i, n in enumerate(sizes)])


def _clone_tensors(d):
    return {k: v.clone() for k, v in d.items() if isinstance(v, torch.Tensor)}


def _assert_unchanged(d, saved):
    for k, v in saved.items():
        assert torch.equal(d[k], v), k


# --------------------------------------------------------------------------- rotation
def test_rotation_preserves_pt_radius_and_sum():
    b = _batch()
    saved = _clone_tensors(b)
    out = RandomRotation(seed=3)(b)
    _assert_unchanged(b, saved)
    assert torch.equal(out.pt, b.pt)
    torch.testing.assert_close(out.pos.norm(dim=-1), b.pos.norm(dim=-1))
    sums_in = torch.zeros(4, dtype=b.pt.dtype).index_add(0, b.batch, b.pt)
    sums_out = torch.zeros(4, dtype=b.pt.dtype).index_add(0, out.batch, out.pt)
    torch.testing.assert_close(sums_in, sums_out)
    assert not torch.allclose(out.pos, b.pos)


def test_rotation_one_angle_per_jet_and_batch_equals_per_graph():
    b = _batch()
    angle = torch.tensor([0.3, 1.0, 2.0, 4.0], dtype=torch.float64)
    out = rotate_jets(b, angle, pos_columns=(0, 1))
    for i, g in enumerate(b.to_data_list()):
        single = rotate_jets(g, angle[i], pos_columns=(0, 1))
        part = out.to_data_list()[i]
        for key in ("pos", "x", "p4", "pt"):
            torch.testing.assert_close(part[key], single[key])
    # The recovered angle of each constituent is the jet's angle.
    a0 = torch.atan2(b.pos[:, 1], b.pos[:, 0])
    a1 = torch.atan2(out.pos[:, 1], out.pos[:, 0])
    d = torch.remainder(a1 - a0 - angle[b.batch] + math.pi, 2 * math.pi) - math.pi
    assert d.abs().max() < 1e-9


def test_rotation_updates_x_columns_and_p4():
    b = _batch()
    out = random_rotation(b, seed=1, pos_columns=(0, 1))
    torch.testing.assert_close(out.x[:, :2], out.pos)
    torch.testing.assert_close(out.x[:, 2:], b.x[:, 2:])
    eta, phi = out.pos[:, 0], out.pos[:, 1]
    torch.testing.assert_close(out.p4[:, 1], out.pt * torch.cos(phi))
    torch.testing.assert_close(out.p4[:, 3], out.pt * torch.sinh(eta))
    # transverse momentum from p4 unchanged
    torch.testing.assert_close(out.p4[:, 1:3].norm(dim=-1), b.pt)
    dropped = random_rotation(b, seed=1, p4_mode="drop")
    assert "p4" not in dropped and "p4" in b


def test_p4_uses_jet_axis():
    d = _jet(5, 0)
    d.jet_eta = torch.tensor([1.2])
    d.jet_phi = torch.tensor([-0.5])
    out = rotate_jets(d, torch.tensor(0.0, dtype=torch.float64))
    eta = 1.2 + out.pos[:, 0]
    torch.testing.assert_close(out.p4[:, 0], out.pt * torch.cosh(eta))
    torch.testing.assert_close(out.p4[:, 2], out.pt * torch.sin(-0.5 + out.pos[:, 1]))
    # Batch: one axis per jet
    jets = [_jet(3, i) for i in range(3)]
    for i, j in enumerate(jets):
        j.jet_eta = torch.tensor([0.5 * i], dtype=torch.float64)
    b = Batch.from_data_list(jets)
    out = translate_jets(b, torch.zeros(3, 2, dtype=torch.float64))
    eta = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)[b.batch] + b.pos[:, 0]
    torch.testing.assert_close(out.p4[:, 3], b.pt * torch.sinh(eta))
    with pytest.raises(InputShapeError):
        d.jet_eta = torch.tensor([1.0, 2.0])
        rotate_jets(d, torch.tensor(0.0))


def test_seeding_reproducible_and_different_seeds_differ():
    b = _batch()
    for cls in (RandomRotation, RandomTranslation, SoftSmearing, CollinearSplitting, RandomPermutation):
        o1, o2, o3 = cls(seed=5)(b), cls(seed=5)(b), cls(seed=6)(b)
        assert torch.equal(o1.pos, o2.pos) and torch.equal(o1.pt, o2.pt), cls.__name__
        assert not (o1.pos.shape == o3.pos.shape and torch.equal(o1.pos, o3.pos) and torch.equal(o1.pt, o3.pt))
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(random_translation(b, generator=g1).pos, random_translation(b, generator=g2).pos)
    with pytest.raises(ValueError):
        random_rotation(b, generator=torch.Generator(), seed=1)


# --------------------------------------------------------------------------- translation
def test_translation_moves_every_constituent_of_a_jet_by_same_vector():
    b = _batch()
    out = random_translation(b, scale=0.5, seed=2, pos_columns=(0, 1))
    delta = out.pos - b.pos
    delta[:, 1] = torch.remainder(delta[:, 1] + math.pi, 2 * math.pi) - math.pi
    for gi in range(4):
        dg = delta[b.batch == gi]
        assert (dg - dg[0]).abs().max() < 1e-9
    per_graph = torch.stack([delta[b.batch == gi][0] for gi in range(4)])
    assert torch.unique(per_graph[:, 0]).numel() == 4  # independent per jet
    torch.testing.assert_close(out.x[:, :2], out.pos)
    assert out.pos[:, 1].abs().max() <= math.pi


def test_translation_exact_and_uniform_bounds():
    d = _jet(6, 1)
    out = translate_jets(d, torch.tensor([0.1, -0.2], dtype=torch.float64))
    torch.testing.assert_close(out.pos, d.pos + torch.tensor([0.1, -0.2], dtype=torch.float64))
    b = Batch.from_data_list([_jet(3, i) for i in range(50)])
    u = random_translation(b, scale=0.05, distribution="uniform", seed=0)
    assert (u.pos - b.pos).abs().max() <= 0.05 + 1e-12
    with pytest.raises(ValueError):
        RandomTranslation(scale=-1.0)
    with pytest.raises(ValueError):
        random_translation(d, distribution="cauchy")
    with pytest.raises(InputShapeError):
        translate_jets(b, torch.zeros(3, 2))


def test_translation_relative_to_jet_extent():
    # Jet 0 spans [-0.1, 0.3] in eta and [0.2, 0.5] in phi: its extent, axis included, is (0.4, 0.5).
    # Jet 1 is a single particle at the axis: extent 0, so it never moves.
    pos = torch.tensor([[-0.1, 0.2], [0.3, 0.5], [0.0, 0.0]], dtype=torch.float64)
    b = Batch.from_data_list([Data(pos=pos[:2]), Data(pos=pos[2:])])
    n = 400
    shifts = []
    for seed in range(n):
        out = random_translation(b, scale=1.0, distribution="uniform", seed=seed, relative=True)
        d = out.pos - b.pos
        assert torch.equal(d[2], torch.zeros(2, dtype=torch.float64))
        torch.testing.assert_close(d[0], d[1])
        shifts.append(d[0])
    shifts = torch.stack(shifts)
    assert (shifts[:, 0].abs() <= 0.4 + 1e-12).all() and (shifts[:, 1].abs() <= 0.5 + 1e-12).all()
    assert shifts[:, 0].abs().max() > 0.35 and shifts[:, 1].abs().max() > 0.45  # fills the range
    # The same draws as the absolute shift, times the extent.
    absolute = random_translation(b, scale=1.0, distribution="uniform", seed=7)
    relative = RandomTranslation(1.0, "uniform", relative=True, seed=7)(b)
    torch.testing.assert_close((relative.pos - b.pos)[0], (absolute.pos - b.pos)[0] * torch.tensor([0.4, 0.5],
                               dtype=torch.float64))


# --------------------------------------------------------------------------- smearing
def test_smearing_moves_soft_more_than_hard():
    n = 400
    pos = torch.zeros(n, 2, dtype=torch.float64)
    pt = torch.cat([torch.full((n // 2,), 0.5), torch.full((n // 2,), 50.0)]).double()
    d = Data(pos=pos, pt=pt)
    out = soft_smearing(d, lambda_soft=0.1, pt_min=0.1, seed=0)
    shift = (out.pos - d.pos).norm(dim=-1)
    soft, hard = shift[: n // 2], shift[n // 2 :]
    assert soft.mean() > 20 * hard.mean()
    # Widths are sigma = lambda / pt per coordinate: 0.2 and 0.002.
    assert 0.15 < (out.pos - d.pos)[: n // 2].std() < 0.25
    assert 0.0015 < (out.pos - d.pos)[n // 2 :].std() < 0.0025
    assert torch.equal(out.pt, d.pt)


def test_smearing_pt_floor_caps_width():
    d = Data(pos=torch.zeros(500, 2, dtype=torch.float64), pt=torch.full((500,), 1e-4, dtype=torch.float64))
    out = SoftSmearing(lambda_soft=0.1, pt_min=1.0, seed=0)(d)
    assert (out.pos - d.pos).std() < 0.13  # width 0.1, not 1000
    with pytest.raises(ValueError):
        SoftSmearing(pt_min=0.0)
    with pytest.raises(InputShapeError):
        soft_smearing(Data(pos=torch.zeros(3, 2)), seed=0)


# --------------------------------------------------------------------------- collinear splitting
def test_collinear_split_conserves_pt_and_positions():
    b = _batch((6, 9, 2, 12))
    saved = _clone_tensors(b)
    out = CollinearSplitting(max_splits=3, p=0.7, seed=4)(b)
    _assert_unchanged(b, saved)
    assert out.num_nodes > b.num_nodes
    sums_in = torch.zeros(4, dtype=b.pt.dtype).index_add(0, b.batch, b.pt)
    sums_out = torch.zeros(4, dtype=b.pt.dtype).index_add(0, out.batch, out.pt)
    torch.testing.assert_close(sums_in, sums_out)
    p4_in = torch.zeros(4, 4, dtype=b.pt.dtype).index_add(0, b.batch, b.p4)
    p4_out = torch.zeros(4, 4, dtype=b.pt.dtype).index_add(0, out.batch, out.p4)
    torch.testing.assert_close(p4_in, p4_out)
    parts_in, parts_out = b.to_data_list(), out.to_data_list()
    for gi, (gin, gout) in enumerate(zip(parts_in, parts_out)):
        extra = gout.num_nodes - gin.num_nodes
        assert 0 <= extra <= 3
        # No new positions: every output position is one of the jet's input positions.
        dist = torch.cdist(gout.pos, gin.pos).min(dim=1).values
        assert dist.max() == 0
        assert torch.all(gout.pt > 0)
        assert torch.equal(gout.y, gin.y)
    assert torch.equal(out.ptr, torch.cumsum(torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(out.batch)]), 0))
    assert bool((out.batch[1:] >= out.batch[:-1]).all())


def test_collinear_split_leaves_efn_unchanged_but_moves_pfn():
    from pgjets.models import EnergyFlowNetwork, ParticleFlowNetwork

    torch.manual_seed(0)
    b = _batch((6, 9, 2, 12))
    out = CollinearSplitting(max_splits=5, p=1.0, seed=3)(b)
    assert out.num_nodes > b.num_nodes
    efn = EnergyFlowNetwork(phi=(16, 16), f=(16,)).double().eval()
    pfn = ParticleFlowNetwork(b.x.size(1), phi=(16, 16), f=(16,)).double().eval()
    with torch.no_grad():
        torch.testing.assert_close(efn(out), efn(b), atol=1e-10, rtol=0)
        # A plain sum over particles counts the split particle twice: not collinear safe.
        assert (pfn(out) - pfn(b)).abs().max() > 1e-3


def test_collinear_split_all_and_none_and_edges_dropped():
    d = _jet(5, 3)
    d.edge_index = knn_graph(d.pos, 2)
    none = collinear_splitting(d, p=0.0, seed=0)
    assert none.num_nodes == 5 and torch.equal(none.pt, d.pt) and "edge_index" not in none
    assert "edge_index" in d
    allsplit = collinear_splitting(d, max_splits=10, p=1.0, seed=0)
    assert allsplit.num_nodes == 10
    # mothers keep their places, the daughters follow the jet's old particles (pgjets.transforms)
    pairs = allsplit.pt[:5] + allsplit.pt[5:]
    torch.testing.assert_close(pairs, d.pt)
    assert torch.equal(allsplit.x[:5], d.x)
    assert torch.equal(allsplit.x[5:], d.x)
    with pytest.raises(ValueError):
        CollinearSplitting(max_splits=0)
    with pytest.raises(ValueError):
        CollinearSplitting(p=1.5)


def test_collinear_fill_to():
    b = _batch((3, 7, 1, 12))  # fill to 8: splits min(n, 8 - n) = 3, 1, 1, 0
    out = collinear_splitting(b, max_splits=8, p=1.0, seed=0, fill_to=8)
    assert torch.bincount(out.batch).tolist() == [6, 8, 2, 12]
    sums_in = torch.zeros(4, dtype=b.pt.dtype).index_add(0, b.batch, b.pt)
    torch.testing.assert_close(torch.zeros(4, dtype=b.pt.dtype).index_add(0, out.batch, out.pt), sums_in)
    # Each constituent splits at most once: 7 -> 8 splits one of the seven, and the two halves add up to it.
    jet = out.to_data_list()[1]
    orig = b.to_data_list()[1]
    changed = (jet.pt[:7] != orig.pt).nonzero().view(-1)
    assert changed.numel() == 1
    torch.testing.assert_close(jet.pt[changed] + jet.pt[7:], orig.pt[changed])
    # Twice, as JetCLR does: the 3-particle jet reaches 6, then 8.
    t = CollinearSplitting(8, p=1.0, fill_to=8)
    twice = t.apply(t.apply(b, torch.Generator().manual_seed(0)), torch.Generator().manual_seed(1))
    assert torch.bincount(twice.batch).tolist() == [8, 8, 4, 12]
    # max_splits still caps: at most 2 per jet.
    capped = collinear_splitting(b, max_splits=2, p=1.0, seed=0, fill_to=8)
    assert torch.bincount(capped.batch).tolist() == [5, 8, 2, 12]
    with pytest.raises(ValueError):
        CollinearSplitting(fill_to=0)


# --------------------------------------------------------------------------- permutation
def test_permutation_keeps_multiset_per_graph_and_edges():
    b = _batch()
    b.edge_index = knn_graph(b.pos, 2, b.batch)
    out = RandomPermutation(seed=9)(b)
    assert torch.equal(out.batch, b.batch)
    assert not torch.equal(out.pos, b.pos)
    for gi in range(4):
        m_in, m_out = b.batch == gi, out.batch == gi
        s_in = torch.sort(b.pt[m_in]).values
        s_out = torch.sort(out.pt[m_out]).values
        assert torch.equal(s_in, s_out)
    # Edges connect the same pairs of constituents (compare by position).
    e_in = {tuple(b.pos[j].tolist() + b.pos[i].tolist()) for j, i in b.edge_index.t().tolist()}
    e_out = {tuple(out.pos[j].tolist() + out.pos[i].tolist()) for j, i in out.edge_index.t().tolist()}
    assert e_in == e_out
    single = random_permutation(_jet(8, 0), seed=0)
    assert torch.equal(torch.sort(single.pt).values, torch.sort(_jet(8, 0).pt).values)


# --------------------------------------------------------------------------- two views / compose / errors
def test_two_views_reproducible_and_different():
    b = _batch()
    augs = [RandomRotation(), SoftSmearing(), CollinearSplitting(p=0.3)]
    v1, v2 = two_views(b, augs, seed=11)
    w1, w2 = two_views(b, Compose(augs), seed=11)
    assert torch.equal(v1.pos, w1.pos) and torch.equal(v2.pos, w2.pos)
    assert v1.pos.shape != v2.pos.shape or not torch.equal(v1.pos, v2.pos)
    assert v1.num_graphs == v2.num_graphs == 4
    composed = Compose([RandomRotation(seed=0), RandomPermutation(seed=0)])(b)
    assert composed.num_nodes == b.num_nodes


def test_two_views_second_view_only():
    b = _batch()
    rot = RandomRotation()
    smear = SoftSmearing(lambda_soft=0.1, pt_min=0.1)
    v1, v2 = two_views(b, [], seed=3, second_view=[smear])
    assert v1 is b  # no augmentation of the first view
    assert not torch.equal(v2.pos, b.pos)
    # Rotations act on both views (radii kept), the splitting on the second only.
    w1, w2 = two_views(b, [rot], seed=3, second_view=[CollinearSplitting(4, p=1.0, fill_to=6)])
    assert w1.num_nodes == b.num_nodes and w2.num_nodes > b.num_nodes
    torch.testing.assert_close(w1.pos.norm(dim=-1), b.pos.norm(dim=-1))
    # Reproducible, and the first view draws the same rotation whatever the second view does.
    x1, _ = two_views(b, [rot], seed=3)
    assert torch.equal(x1.pos, w1.pos)


def test_bad_input_raises():
    with pytest.raises(InputShapeError):
        random_rotation(Data(pt=torch.ones(3)), seed=0)
    with pytest.raises(InputShapeError):
        random_rotation(Data(pos=torch.zeros(3, 3)), seed=0)
    with pytest.raises(EmptyGraphError):
        random_rotation(Data(pos=torch.zeros(0, 2)), seed=0)
    with pytest.raises(NonFiniteError):
        random_rotation(Data(pos=torch.tensor([[0.0, float("nan")]])), seed=0)
    with pytest.raises(InputShapeError):
        random_rotation(Data(pos=torch.zeros(3, 2), pt=torch.ones(4)), seed=0)
    with pytest.raises(InputShapeError):
        random_rotation(_jet(3, 0), seed=0, pos_columns=(0, 9))
    with pytest.raises(ValueError):
        RandomRotation(p4_mode="keep")
    with pytest.raises(TypeError):
        two_views(_jet(3, 0), [3], seed=0)


def test_p4_stays_in_the_detector_frame_without_jet_axis_attributes():
    """JetDataset batches carry lab-frame p4 and no jet_eta/jet_phi: the axis is read off p4 and pos."""
    jets = []
    for i, (eta_j, phi_j) in enumerate([(1.9, 3.0), (-0.6, -2.9), (0.0, 0.4)]):
        d = _jet(6, i)
        d.p4 = torch.stack([d.pt * torch.cosh(eta_j + d.pos[:, 0]), d.pt * torch.cos(phi_j + d.pos[:, 1]),
                            d.pt * torch.sin(phi_j + d.pos[:, 1]), d.pt * torch.sinh(eta_j + d.pos[:, 0])], -1)
        jets.append(d)
    b = Batch.from_data_list(jets)
    same = RandomTranslation(0.0, seed=0)(b)
    torch.testing.assert_close(same.p4, b.p4, rtol=1e-12, atol=1e-12)
    rot = RandomRotation(seed=0)(b)  # p4 follows the rotated pos about the same lab-frame axis
    eta = torch.tensor([1.9, -0.6, 0.0], dtype=torch.float64)[b.batch] + rot.pos[:, 0]
    phi = torch.tensor([3.0, -2.9, 0.4], dtype=torch.float64)[b.batch] + rot.pos[:, 1]
    torch.testing.assert_close(rot.p4[:, 3], b.pt * torch.sinh(eta))
    torch.testing.assert_close(rot.p4[:, 2], b.pt * torch.sin(phi))


def test_two_views_without_seed_uses_each_transforms_own_generator():
    b = _batch()
    v1, v2 = two_views(b, [RandomRotation(seed=0)])
    w1, w2 = two_views(b, [RandomRotation(seed=0)])
    assert torch.equal(v1.pos, w1.pos) and torch.equal(v2.pos, w2.pos)
    assert not torch.equal(v1.pos, v2.pos)  # the transform's generator advances between the views
