"""Tests of pgjets.models.set_generator."""

from __future__ import annotations

import pytest
import torch

from pgjets.errors import InputShapeError, NonFiniteError
from pgjets.models import SlotSetGenerator, set_generation_loss, TruthSelector, repeat_sets
from pgjets.models.set_generator import rank_within_graph
from pgjets.nn import hungarian_loss


def _sets(seed: int = 0, n_truth=(5, 0, 8, 3), n_reco=(4, 2, 6, 3)) -> dict:
    g = torch.Generator().manual_seed(seed)
    nt, nr = torch.tensor(n_truth), torch.tensor(n_reco)
    tx = torch.randn(int(nt.sum()), 3, generator=g)
    rx = torch.randn(int(nr.sum()), 3, generator=g)
    return {
        "truth_x": tx, "truth_batch": torch.arange(len(nt)).repeat_interleave(nt),
        "reco_x": rx, "reco_batch": torch.arange(len(nr)).repeat_interleave(nr), "reco_counts": nr,
    }


def _model(**kw) -> SlotSetGenerator:
    torch.manual_seed(0)
    return SlotSetGenerator(channels=16, iters=2, hidden=32, **kw).eval()


def _gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes_uneven_counts() -> None:
    d = _sets()
    m = _model()
    pred, pb = m(d["truth_x"], d["truth_batch"], d["reco_counts"], generator=_gen())
    assert pred.shape == (15, 3)
    assert torch.equal(pb, d["reco_batch"])
    assert bool(torch.isfinite(pred).all())
    # zero slots for a jet, and a jet with more slots than truth particles
    pred2, pb2 = m(d["truth_x"], d["truth_batch"], torch.tensor([0, 1, 10, 0]), generator=_gen())
    assert pred2.shape == (11, 3) and pb2.tolist() == [1] + [2] * 10
    empty, eb = m(d["truth_x"], d["truth_batch"], torch.zeros(4, dtype=torch.long))
    assert empty.shape == (0, 3) and eb.numel() == 0
    m2 = SlotSetGenerator(in_channels=3, out_channels=5, channels=8)
    assert m2(d["truth_x"], d["truth_batch"], d["reco_counts"])[0].shape == (15, 5)


def test_seeded_generator_reproducible_and_noise_matters() -> None:
    d = _sets()
    m = _model()
    a = m(d["truth_x"], d["truth_batch"], d["reco_counts"], generator=_gen(1))[0]
    b = m(d["truth_x"], d["truth_batch"], d["reco_counts"], generator=_gen(1))[0]
    c = m(d["truth_x"], d["truth_batch"], d["reco_counts"], generator=_gen(2))[0]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("truth_init", [True, False])
def test_invariance_to_truth_node_order(truth_init: bool) -> None:
    d = _sets(seed=3)
    m = _model(truth_init=truth_init)
    batch = d["truth_batch"]
    perm = torch.randperm(batch.numel(), generator=_gen(4))
    perm = perm[torch.argsort(batch[perm], stable=True)]  # shuffle inside each jet, keep batch sorted
    assert not torch.equal(perm, torch.arange(perm.numel()))
    with torch.no_grad():
        p1, b1 = m(d["truth_x"], batch, d["reco_counts"], generator=_gen(5))
        p2, b2 = m(d["truth_x"][perm], batch[perm], d["reco_counts"], generator=_gen(5))
    assert torch.equal(b1, b2)
    assert float(hungarian_loss(p1, p2, b1, b2)) < 1e-10


def test_no_leakage_between_jets() -> None:
    d = _sets(seed=6)
    m = _model()
    x2 = d["truth_x"].clone()
    x2[d["truth_batch"] == 2] += 3.0  # change only jet 2
    with torch.no_grad():
        p1, pb = m(d["truth_x"], d["truth_batch"], d["reco_counts"], generator=_gen(7))
        p2, _ = m(x2, d["truth_batch"], d["reco_counts"], generator=_gen(7))
    other = pb != 2
    assert torch.allclose(p1[other], p2[other], atol=1e-6)
    assert not torch.allclose(p1[~other], p2[~other])
    # gradients: an output of jet 0 depends only on jet 0 truth
    x = d["truth_x"].clone().requires_grad_(True)
    p, pb = m(x, d["truth_batch"], d["reco_counts"], generator=_gen(7))
    p[pb == 0].sum().backward()
    assert bool((x.grad[d["truth_batch"] != 0] == 0).all())
    assert bool((x.grad[d["truth_batch"] == 0] != 0).any())


@pytest.mark.parametrize("kind", ["hungarian", "mmd"])
def test_loss_finite_with_finite_gradients(kind: str) -> None:
    d = _sets()
    m = SlotSetGenerator(channels=16, iters=2, hidden=32).train()
    loss = set_generation_loss(m, d, kind=kind, generator=_gen())
    assert loss.dim() == 0 and bool(torch.isfinite(loss)) and float(loss.detach()) > 0
    loss.backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert len(grads) > 5
    assert all(bool(torch.isfinite(g).all()) for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_rank_within_graph() -> None:
    batch = torch.tensor([0, 0, 0, 1, 1])
    key = torch.tensor([1.0, 3.0, 2.0, 0.0, 5.0])
    assert rank_within_graph(batch, key, 2).tolist() == [2, 0, 1, 1, 0]


def test_bad_input() -> None:
    d = _sets()
    m = _model()
    tx, tb, c = d["truth_x"], d["truth_batch"], d["reco_counts"]
    with pytest.raises(InputShapeError):
        m(tx[:, :2], tb, c)
    with pytest.raises(InputShapeError):
        m(tx[0], tb, c)
    with pytest.raises(InputShapeError):
        m(tx, tb[:-1], c)
    with pytest.raises(InputShapeError):
        m(tx, tb.flip(0), c)
    with pytest.raises(InputShapeError):
        m(tx, tb, c[:2])  # truth refers to jets without a count
    with pytest.raises(ValueError):
        m(tx, tb, torch.tensor([1, -1, 0, 0]))
    with pytest.raises(InputShapeError):
        m(tx, tb, c.float())
    bad = tx.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        m(bad, tb, c)
    with pytest.raises(ValueError):
        set_generation_loss(m, d, kind="chamfer")
    with pytest.raises(KeyError):
        set_generation_loss(m, {"truth_x": tx})
    with pytest.raises(ValueError):
        SlotSetGenerator(in_channels=3, out_channels=2, residual=True)
    with pytest.raises(ValueError):
        SlotSetGenerator(channels=0)


@pytest.mark.slow
def test_learns_detector_response_on_generated_top_jets() -> None:
    from pgjets.data import generate_jets, truth_and_reco_sets

    table = generate_jets("top", 40, seed=11, fast=True)
    d = truth_and_reco_sets(table, seed=0)
    torch.manual_seed(0)
    # no residual shortcut: the network itself must learn to map truth to reco particles
    m = SlotSetGenerator(channels=32, iters=2, hidden=64, residual=False)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)

    def evaluate() -> float:
        m.eval()
        with torch.no_grad():
            v = float(set_generation_loss(m, d, generator=_gen(0)))
        m.train()
        return v

    initial = evaluate()
    for step in range(50):
        loss = set_generation_loss(m, d, generator=_gen(100 + step))
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = evaluate()
    assert final < 0.5 * initial, (initial, final)


# ------------------------------------------------------------------ replicas and the truth selector


def test_repeat_sets_layout():
    x = torch.arange(5.0).view(5, 1)
    xr, s, g = repeat_sets(x, torch.tensor([0, 0, 1, 2, 2]), 3, 2)
    assert s.tolist() == [0, 0, 1, 1, 2, 3, 4, 4, 5, 5]
    assert xr.view(-1).tolist() == [0, 1, 0, 1, 2, 2, 3, 4, 3, 4]
    assert g.tolist() == [0, 0, 1, 1, 2, 2]


def test_replica_losses_train_the_generator():
    torch.manual_seed(0)
    d = _sets()
    counts = d["reco_counts"]
    # reference replicas: 3 noisy copies of the reco sets
    xr, rs, rg = repeat_sets(d["reco_x"], d["reco_batch"], counts.numel(), 3)
    d = dict(d, replica_x=xr + 0.01 * torch.randn(xr.shape, generator=_gen(3)), replica_set=rs, replica_group=rg)
    model = _model()
    for kind, kw in (("set_mmd", {"bandwidths": (0.1, 1.0)}), ("proxy", {}), ("set_mmd", {"kernel": "energy"})):
        loss = set_generation_loss(model, d, kind=kind, generator=_gen(), **kw)
        assert loss.dim() == 0 and torch.isfinite(loss)
        loss.backward()
        assert model.decoder[-1].weight.grad is not None
        model.zero_grad()
    loss2 = set_generation_loss(model, d, kind="set_mmd", generator=_gen(), replicas=2)
    assert torch.isfinite(loss2)
    with pytest.raises(KeyError):
        set_generation_loss(model, {k: v for k, v in d.items() if k != "replica_x"}, kind="proxy")


def test_truth_selector_learns_efficiency_and_samples_counts():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 3, generator=g)
    found = torch.rand(2000, generator=g) < torch.sigmoid(2 * x[:, 0])
    sel = TruthSelector(3, hidden=8)
    opt = torch.optim.Adam(sel.parameters(), lr=0.03)
    for _ in range(80):
        opt.zero_grad()
        loss = sel.loss(x, found)
        loss.backward()
        opt.step()
    p = torch.sigmoid(sel(x)).detach()
    assert float((p - torch.sigmoid(2 * x[:, 0])).abs().mean()) < 0.05
    batch = torch.arange(20).repeat_interleave(100)
    keep = sel.sample(x, batch, 20, generator=torch.Generator().manual_seed(1))
    assert abs(float(keep.float().mean()) - float(found.float().mean())) < 0.04
    counts = torch.randint(0, 100, (20,), generator=g)
    keep_k = sel.sample(x, batch, 20, counts=counts, generator=torch.Generator().manual_seed(2))
    assert torch.equal(torch.bincount(batch[keep_k], minlength=20), counts)
    same = sel.sample(x, batch, 20, counts=counts, generator=torch.Generator().manual_seed(2))
    assert torch.equal(same, keep_k)
