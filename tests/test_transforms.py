from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets import symmetry
from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.ops import knn_graph
from pgjets.train import augment
from pgjets.transforms import (
    add_soft_particles, check_jet, jet_index, massless_p4, permutation_within_jets, permute_nodes, rotate,
    set_edges, set_pos, split_collinear, translate, wrap_phi,
)

D = torch.float64


def _jet(n: int, seed: int) -> Data:
    g = torch.Generator().manual_seed(seed)
    pos = 0.3 * torch.randn(n, 2, generator=g, dtype=D)
    pt = 1.0 + 20.0 * torch.rand(n, generator=g, dtype=D)
    x = torch.cat([pos, pt.log()[:, None], torch.randn(n, 1, generator=g, dtype=D)], 1)
    return Data(x=x, pos=pos, pt=pt, p4=massless_p4(pt, pos[:, 0], pos[:, 1]), y=torch.tensor([seed % 2]))


def _batch(sizes=(4, 1, 6)) -> Batch:
    return Batch.from_data_list([_jet(n, i) for i, n in enumerate(sizes)])


def _tiny() -> Data:
    """Two particles: (deta, dphi) = (1, 0) and (0, 0.5), pT = 10 and 20."""
    pos = torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=D)
    pt = torch.tensor([10.0, 20.0], dtype=D)
    x = torch.tensor([[1.0, 0.0, 7.0], [0.0, 0.5, 8.0]], dtype=D)
    return Data(x=x, pos=pos, pt=pt, p4=massless_p4(pt, pos[:, 0], pos[:, 1]))


# --------------------------------------------------------------------------- conventions
def test_wrap_phi_maps_to_minus_pi_pi_and_keeps_in_range_values_exactly():
    phi = torch.tensor([0.3, math.pi, -math.pi, 3.5, -4.0, 7.0, -0.0], dtype=D)
    out = wrap_phi(phi)
    expected = torch.tensor([0.3, math.pi, math.pi, 3.5 - 2 * math.pi, -4.0 + 2 * math.pi,
                             7.0 - 2 * math.pi, 0.0], dtype=D)
    torch.testing.assert_close(out, expected)
    assert torch.equal(out[:2], phi[:2])  # bit for bit
    r = wrap_phi(torch.linspace(-20, 20, 1001, dtype=D))
    assert bool((r > -math.pi).all() and (r <= math.pi).all())


def test_massless_p4_by_hand():
    p4 = massless_p4(torch.tensor([2.0], dtype=D), torch.tensor([0.0], dtype=D), torch.tensor([math.pi / 2], dtype=D))
    torch.testing.assert_close(p4, torch.tensor([[2.0, 0.0, 2.0, 0.0]], dtype=D))


# --------------------------------------------------------------------------- rotate / translate
def test_rotate_by_hand_with_x_columns_and_p4():
    d = _tiny()
    out = rotate(d, math.pi / 2, pos_columns=(0, 1))
    torch.testing.assert_close(out.pos, torch.tensor([[0.0, 1.0], [-0.5, 0.0]], dtype=D))
    torch.testing.assert_close(out.x[:, :2], out.pos)
    assert torch.equal(out.x[:, 2], d.x[:, 2]) and torch.equal(out.pt, d.pt)
    # p4 recomputed: particle 0 now sits at (eta, phi) = (0, 1)
    torch.testing.assert_close(out.p4[0], torch.tensor([10.0, 10 * math.cos(1.0), 10 * math.sin(1.0), 0.0], dtype=D))
    # the input is untouched
    torch.testing.assert_close(d.pos, torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=D))


def test_translate_by_hand_wraps_phi_per_jet():
    """The whole jet moves by one multiple of 2 pi (its mean dphi into (-pi, pi]): wrapping each
    particle alone put these two 5.78 rad apart instead of 0.5."""
    d = _tiny()
    out = translate(d, (0.2, 3.0), pos_columns=(0, 1))
    expected = torch.tensor([[1.2, 3.0 - 2 * math.pi], [0.2, 3.5 - 2 * math.pi]], dtype=D)
    torch.testing.assert_close(out.pos, expected)
    torch.testing.assert_close(out.x[:, :2], expected)
    assert abs(float(out.pos[:, 1].mean())) <= math.pi
    torch.testing.assert_close(torch.cdist(out.pos, out.pos), torch.cdist(d.pos, d.pos))


def test_per_jet_parameters_equal_one_jet_at_a_time():
    b = _batch()
    angles = torch.tensor([0.3, 2.0, -1.0], dtype=D)
    shifts = torch.tensor([[0.1, 0.2], [-0.3, 3.0], [0.0, -0.5]], dtype=D)
    rb, tb = rotate(b, angles, (0, 1)), translate(b, shifts, (0, 1))
    for i, g in enumerate(b.to_data_list()):
        for whole, single in ((rb, rotate(g, angles[i], (0, 1))), (tb, translate(g, shifts[i], (0, 1)))):
            part = whole.to_data_list()[i]
            for key in ("pos", "x", "p4", "pt"):
                torch.testing.assert_close(part[key], single[key])
    # one value is used for every jet
    torch.testing.assert_close(rotate(b, 0.3).pos, rotate(b, torch.full((3,), 0.3, dtype=D)).pos)
    torch.testing.assert_close(translate(b, (0.1, 0.2)).pos, translate(b, shifts[:1].expand(3, 2)).pos)


def test_p4_follows_pos_consistently():
    b = _batch()
    b.jet_eta = torch.tensor([0.5, -1.0, 2.0], dtype=D)
    b.jet_phi = torch.tensor([0.0, 1.0, -2.0], dtype=D)
    out = translate(rotate(b, torch.tensor([0.4, 1.0, 2.5], dtype=D)), (0.3, 2.9))
    axis_eta, axis_phi = b.jet_eta[b.batch], b.jet_phi[b.batch]
    torch.testing.assert_close(out.p4, massless_p4(b.pt, axis_eta + out.pos[:, 0], axis_phi + out.pos[:, 1]))
    torch.testing.assert_close(out.p4[:, 1:3].norm(dim=1), b.pt)  # pT read back from p4
    # a full turn (or a zero shift) gives the consistent p4 back
    full = rotate(_batch(), 2 * math.pi)
    torch.testing.assert_close(full.p4, _batch().p4)
    torch.testing.assert_close(set_pos(b, b.pos).p4, massless_p4(b.pt, axis_eta + b.pos[:, 0], axis_phi + b.pos[:, 1]))
    dropped = translate(b, (0.1, 0.1), p4_mode="drop")
    assert "p4" not in dropped and "p4" in b
    no_pt = _tiny()
    del no_pt.pt
    with pytest.raises(InputShapeError, match="p4_mode='drop'"):
        rotate(no_pt, 0.1)
    assert "p4" not in rotate(no_pt, 0.1, p4_mode="drop")


# --------------------------------------------------------------------------- permutations
def test_permute_nodes_by_hand_relabels_sorts_and_carries_edge_attributes():
    b = Batch.from_data_list([_tiny(), _tiny()])
    b.edge_index = torch.tensor([[1, 0, 3, 2], [0, 1, 2, 3]])
    b.edge_attr = torch.tensor([[10.0], [1.0], [32.0], [23.0]])
    perm = torch.tensor([1, 0, 2, 3])  # swap the particles of jet 0
    out = permute_nodes(b, perm)
    assert torch.equal(out.pt, b.pt[perm]) and torch.equal(out.x, b.x[perm])
    # old edge 1 -> 0 becomes 0 -> 1 (targets sorted), attributes follow their edges
    assert torch.equal(out.edge_index, torch.tensor([[1, 0, 3, 2], [0, 1, 2, 3]]))
    assert torch.equal(out.edge_attr, torch.tensor([[1.0], [10.0], [32.0], [23.0]]))
    assert torch.equal(out.batch, b.batch) and len(out.to_data_list()) == 2


def test_permutation_within_jets_keeps_jets_in_place():
    batch = torch.tensor([0, 0, 0, 1, 1, 2])
    scores = torch.tensor([0.9, 0.1, 0.5, 0.2, 0.3, 0.0])
    assert torch.equal(permutation_within_jets(batch, scores), torch.tensor([1, 2, 0, 3, 4, 5]))


# --------------------------------------------------------------------------- new particles
def test_split_collinear_by_hand():
    b = Batch.from_data_list([_tiny(), _tiny()])
    b.edge_index = knn_graph(b.pos, 1, b.batch)
    out = split_collinear(b, torch.tensor([1, 2]), torch.tensor([0.25, 0.5], dtype=D))
    # jet 0: mother 1 keeps 0.75 in place, daughter last; jet 1: mother 2 keeps 0.5
    torch.testing.assert_close(out.pt, torch.tensor([10.0, 15.0, 5.0, 5.0, 20.0, 5.0], dtype=D))
    assert torch.equal(out.batch, torch.tensor([0, 0, 0, 1, 1, 1]))
    assert torch.equal(out.pos[2], b.pos[1]) and torch.equal(out.x[5], b.x[2])
    torch.testing.assert_close(torch.zeros(2, 4, dtype=D).index_add(0, out.batch, out.p4),
                               torch.zeros(2, 4, dtype=D).index_add(0, b.batch, b.p4))
    assert "edge_index" not in out and "edge_index" in b
    parts = out.to_data_list()
    assert [p.num_nodes for p in parts] == [3, 3] and torch.equal(out.ptr, torch.tensor([0, 3, 6]))
    # a mask works like an index list, a single fraction for every split
    mask = torch.tensor([False, True, True, False])
    torch.testing.assert_close(split_collinear(b, mask, 0.25).pt[:3], out.pt[:3])
    # one jet (Data)
    single = split_collinear(_tiny(), torch.tensor([0]), 0.5)
    assert single.num_nodes == 3 and torch.equal(single.pt, torch.tensor([5.0, 20.0, 5.0], dtype=D))


def test_add_soft_particles_by_hand():
    b = Batch.from_data_list([_tiny(), _tiny()])
    soft = torch.tensor([[0.1, 0.2], [0.3, 4.0]], dtype=D)
    out = add_soft_particles(b, soft, torch.tensor([1, 1]), torch.tensor([3, 2]), pos_columns=(0, 1))
    assert torch.equal(out.batch, torch.tensor([0, 0, 1, 1, 1, 1]))
    new = torch.tensor([4, 5])
    assert bool((out.pt[new] == 0).all() and (out.p4[new] == 0).all())
    torch.testing.assert_close(out.pos[new], torch.tensor([[0.1, 0.2], [0.3, 4.0 - 2 * math.pi]], dtype=D))
    torch.testing.assert_close(out.x[new, :2], out.pos[new])
    assert torch.equal(out.x[new, 2], torch.tensor([8.0, 7.0], dtype=D))  # copied from the sources
    assert torch.equal(out.pt[:4], b.pt) and len(out.to_data_list()[1].pt) == 4
    default = add_soft_particles(_tiny(), soft[:1])
    assert default.num_nodes == 3 and torch.equal(default.x[2], _tiny().x[0])


def test_set_edges_groups_edges_by_jet_and_keeps_batch_valid():
    b = _batch()
    ei = knn_graph(b.pos, 2, b.batch).flip(1)  # reversed order: not grouped by jet
    attr = torch.arange(ei.size(1), dtype=D)[:, None]
    out = set_edges(b, ei, attr)
    assert bool((out.batch[out.edge_index[1]].diff() >= 0).all())
    parts = out.to_data_list()
    for p in parts:
        assert p.edge_index.numel() == 0 or int(p.edge_index.max()) < p.num_nodes
    assert sum(p.edge_index.size(1) for p in parts) == ei.size(1)
    # attributes stay with their edges
    key = {(int(s), int(t)): float(a) for (s, t), a in zip(ei.t(), attr[:, 0])}
    assert all(key[(int(s), int(t))] == float(a) for (s, t), a in zip(out.edge_index.t(), out.edge_attr[:, 0]))
    with pytest.raises(InputShapeError, match="same jet"):
        set_edges(b, torch.tensor([[0], [5]]))


# --------------------------------------------------------------------------- bad input
def test_bad_input_raises_typed_errors():
    b = _batch()
    with pytest.raises(InputShapeError, match="angle"):
        rotate(b, torch.zeros(2))
    with pytest.raises(InputShapeError, match="shift"):
        translate(b, torch.zeros(3))
    with pytest.raises(NonFiniteError):
        rotate(b, float("nan"))
    with pytest.raises(ValueError, match="once"):
        split_collinear(b, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="fraction"):
        split_collinear(b, torch.tensor([1]), 1.5)
    with pytest.raises(InputShapeError, match="mask"):
        split_collinear(b, torch.tensor([True, False]))
    with pytest.raises(InputShapeError, match="source"):
        add_soft_particles(b, torch.zeros(1, 2), torch.tensor([2]), torch.tensor([0]))
    with pytest.raises(InputShapeError, match="pt"):
        split_collinear(Data(pos=torch.zeros(2, 2)), torch.tensor([0]))
    with pytest.raises(EmptyGraphError):
        check_jet(Data(pos=torch.zeros(0, 2)))
    with pytest.raises(InputShapeError, match="pos_columns"):
        rotate(b, 0.1, pos_columns=(0, 9))
    with pytest.raises(ValueError, match="p4_mode"):
        rotate(b, 0.1, p4_mode="keep")
    empty = Batch.from_data_list([_jet(2, 0), Data(x=torch.zeros(0, 4, dtype=D), pos=torch.zeros(0, 2, dtype=D),
                                                    pt=torch.zeros(0, dtype=D), p4=torch.zeros(0, 4, dtype=D),
                                                    y=torch.tensor([0]))])
    with pytest.raises(EmptyGraphError):
        add_soft_particles(empty, torch.zeros(1, 2), torch.tensor([1]))
    assert jet_index(empty)[1] == 2


# --------------------------------------------------------------------------- one operation, two users
def test_symmetry_checks_and_augmentations_apply_the_same_operation():
    b = _batch()
    sym = symmetry.rotate(b, 0.7)
    aug = augment.rotate_jets(b, torch.full((3,), 0.7, dtype=D), pos_columns=(0, 1))
    for key in ("pos", "x", "p4", "pt"):
        torch.testing.assert_close(sym[key], aug[key])
    sym = symmetry.translate(b, (0.3, 3.0))
    aug = augment.translate_jets(b, torch.tensor([[0.3, 3.0]] * 3, dtype=D), pos_columns=(0, 1))
    for key in ("pos", "x", "p4"):
        torch.testing.assert_close(sym[key], aug[key])
    jet_mean = torch.zeros(3, dtype=D).index_add_(0, sym.batch, sym.pos[:, 1]) / torch.bincount(sym.batch)
    assert bool((jet_mean.abs() <= math.pi).all())  # both wrap phi per jet
    # the random augmentation is the deterministic transform with drawn angles
    g = torch.Generator().manual_seed(5)
    angles = 2 * math.pi * torch.rand(3, generator=g, dtype=D)
    torch.testing.assert_close(augment.random_rotation(b, seed=5).pos, rotate(b, angles).pos)
    # permutations: same perm, same result
    p_sym, perm = symmetry.permute_nodes(b, seed=3, return_perm=True)
    p_core = permute_nodes(b, perm)
    for key in ("pos", "x", "pt", "p4"):
        assert torch.equal(p_sym[key], p_core[key])
    # collinear splitting: symmetry's one split per jet is transforms.split_collinear
    s_sym = symmetry.split_collinear(b, fraction=0.25, seed=2)
    mothers = torch.tensor([int(((b.pos[b.batch == j] - s_sym.pos[int(s_sym.ptr[j + 1]) - 1]).abs().sum(1) == 0)
                                 .nonzero()[0]) + int(b.ptr[j]) for j in range(3)])
    s_core = split_collinear(b, mothers, 0.25)
    for key in ("pos", "x", "pt", "p4"):
        torch.testing.assert_close(s_sym[key], s_core[key])
    # augmentation splits: pT fractions add up per mother, daughters after the jet's particles
    s_aug = augment.collinear_splitting(b, max_splits=1, p=1.0, seed=0)
    assert torch.equal(torch.bincount(s_aug.batch), torch.bincount(b.batch) + 1)
    torch.testing.assert_close(torch.zeros(3, dtype=D).index_add(0, s_aug.batch, s_aug.pt),
                               torch.zeros(3, dtype=D).index_add(0, b.batch, b.pt))


def test_split_collinear_keeps_each_fraction_with_its_particle():
    """An unsorted index with per-split fractions: the index was sorted, the fractions not."""
    from pgjets.transforms import split_collinear

    d = _tiny()
    out = split_collinear(d, torch.tensor([1, 0]), torch.tensor([0.9, 0.1], dtype=D))
    torch.testing.assert_close(out.pt, torch.tensor([9.0, 2.0, 1.0, 18.0], dtype=D))  # mothers, then daughters
    same = split_collinear(d, torch.tensor([0, 1]), torch.tensor([0.1, 0.9], dtype=D))
    torch.testing.assert_close(out.pt, same.pt)


def test_set_pos_wraps_per_jet_so_a_translated_jet_stays_whole():
    """translate across +-pi, then any set_pos step (smearing with zero width): the jet is not torn."""
    from pgjets.transforms import jet_axis, wrap_phi_per_jet

    b = _batch()
    moved = translate(b, torch.tensor([0.0, 3.0], dtype=D))
    again = set_pos(moved, moved.pos.clone())
    assert torch.equal(again.pos, moved.pos)
    for i in range(b.num_graphs):
        m = b.batch == i
        torch.testing.assert_close(torch.cdist(again.pos[m], again.pos[m]), torch.cdist(b.pos[m], b.pos[m]))
    phi = torch.tensor([3.3, 3.5, -0.2, 0.1], dtype=D)
    out = wrap_phi_per_jet(phi, torch.tensor([0, 0, 1, 1]), 2)
    torch.testing.assert_close(out, torch.tensor([3.3 - 2 * math.pi, 3.5 - 2 * math.pi, -0.2, 0.1], dtype=D))
    eta_j, phi_j = jet_axis(b)  # pos measured from axis 0: the axis read off p4 is 0
    torch.testing.assert_close(eta_j, torch.zeros(3, dtype=D), atol=1e-12, rtol=0)
    torch.testing.assert_close(phi_j, torch.zeros(3, dtype=D), atol=1e-12, rtol=0)


def test_recomputed_p4_keeps_each_constituents_mass():
    """Massive constituents (pions, kaons, protons): the identity moves keep p4, any move keeps every mass."""
    d = _jet(6, 3)
    m = torch.tensor([0.0, 0.1396, 0.4937, 0.9383, 0.1396, 0.0], dtype=D)
    d.p4 = torch.cat([torch.sqrt(d.p4[:, :1] ** 2 + m[:, None] ** 2), d.p4[:, 1:]], -1)
    for moved in (translate(d, torch.zeros(2, dtype=D)), rotate(d, 0.0)):
        torch.testing.assert_close(moved.p4, d.p4, rtol=1e-12, atol=1e-12)
    moved = rotate(translate(d, torch.tensor([0.7, -2.0], dtype=D)), 1.1)
    mass = moved.p4[:, 0] ** 2 - (moved.p4[:, 1:] ** 2).sum(-1)
    torch.testing.assert_close(mass, m**2, rtol=0, atol=1e-9)
    torch.testing.assert_close(torch.hypot(moved.p4[:, 1], moved.p4[:, 2]), d.pt)


def test_jet_level_tensors_of_a_one_particle_jet_stay_per_jet():
    one = Data(pos=torch.zeros(1, 2, dtype=D), pt=torch.ones(1, dtype=D), jet_pt=torch.ones(1, dtype=D),
               jet_p4=torch.ones(1, 4, dtype=D))
    split = split_collinear(one, torch.tensor([0]), 0.5)
    assert split.pt.shape == (2,) and split.jet_pt.shape == (1,) and split.jet_p4.shape == (1, 4)
    soft = add_soft_particles(one, torch.tensor([[0.1, 0.2]], dtype=D))
    assert soft.pt.tolist() == [1.0, 0.0] and soft.jet_pt.shape == (1,) and soft.jet_p4.shape == (1, 4)
