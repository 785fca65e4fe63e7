from __future__ import annotations

import itertools

import pytest
import torch

from pgjets.errors import EmptyGraphError, GraphSizeError, InputShapeError, NonFiniteError
from pgjets.nn import hungarian_loss, mmd_loss, proxy_loss, set_distances, set_of_sets_mmd


def _brute_force(pred, target, p=2):
    best = None
    for perm in itertools.permutations(range(target.size(0))):
        diff = pred - target[list(perm)]
        c = (diff * diff).sum() if p == 2 else diff.abs().sum()
        best = c if best is None or c < best else best
    return best / pred.size(0)


def test_zero_for_permuted_target_and_assignment():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(9, 3, generator=g, dtype=torch.float64)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    # permute within each graph
    perm = torch.tensor([2, 0, 1, 4, 3, 8, 5, 7, 6])
    loss, assign = hungarian_loss(target[perm], target, batch, batch, return_assignment=True)
    assert float(loss) == 0.0
    assert torch.equal(perm[assign[0]], assign[1])


@pytest.mark.parametrize("cost,p", [("l2", 2), ("l1", 1)])
def test_matches_brute_force(cost, p):
    g = torch.Generator().manual_seed(1)
    sizes = [4, 5, 3]
    pred = torch.randn(sum(sizes), 2, generator=g, dtype=torch.float64)
    target = torch.randn(sum(sizes), 2, generator=g, dtype=torch.float64)
    batch = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    per_graph = hungarian_loss(pred, target, batch, batch, cost=cost, reduction="none")
    start = 0
    for gi, n in enumerate(sizes):
        bf = _brute_force(pred[start : start + n], target[start : start + n], p)
        assert abs(float(per_graph[gi]) - float(bf)) < 1e-10
        start += n
    total = hungarian_loss(pred, target, batch, batch, cost=cost)
    expected = sum(float(per_graph[i]) * sizes[i] for i in range(3)) / sum(sizes)
    assert abs(float(total) - expected) < 1e-10


def test_callable_cost_and_gradient():
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(5, 2, generator=g, requires_grad=True)
    target = torch.randn(5, 2, generator=g)

    def cheb(a, b):
        return (a.unsqueeze(2) - b.unsqueeze(1)).abs().amax(-1)

    loss = hungarian_loss(pred, target, cost=cheb)
    loss.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # l2 gradient through matched pairs: d/dpred = 2 (pred - matched target) / n
    pred2 = pred.detach().clone().requires_grad_(True)
    loss2, assign = hungarian_loss(pred2, target, return_assignment=True)
    loss2.backward()
    expected = torch.zeros_like(pred2)
    expected[assign[0]] = 2 * (pred2.detach()[assign[0]] - target[assign[1]]) / 5
    torch.testing.assert_close(pred2.grad, expected)


def test_unequal_sets():
    pred = torch.tensor([[0.0], [1.0], [5.0]])
    target = torch.tensor([[0.1], [1.0]])
    with pytest.raises(GraphSizeError):
        hungarian_loss(pred, target)
    loss, assign = hungarian_loss(pred, target, allow_unequal=True, unmatched_cost=2.0, return_assignment=True)
    assert assign.shape == (2, 2)
    assert abs(float(loss) - (0.01 + 0.0 + 2.0) / 3) < 1e-6


def test_bad_input():
    with pytest.raises(InputShapeError):
        hungarian_loss(torch.randn(3, 2), torch.randn(3, 3))
    with pytest.raises(InputShapeError):
        hungarian_loss(torch.randn(3), torch.randn(3))
    with pytest.raises(EmptyGraphError):
        hungarian_loss(torch.zeros(0, 2), torch.zeros(0, 2))
    with pytest.raises(NonFiniteError):
        hungarian_loss(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2))
    with pytest.raises(ValueError):
        hungarian_loss(torch.randn(3, 2), torch.randn(3, 2), cost="l3")
    with pytest.raises(InputShapeError):
        hungarian_loss(torch.randn(3, 2), torch.randn(3, 2), torch.tensor([1, 0, 0]), torch.tensor([0, 0, 1]))


def test_mmd_identical_zero_and_grows_with_shift():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200, 2, generator=g, dtype=torch.float64)
    y = torch.randn(200, 2, generator=g, dtype=torch.float64)
    assert abs(float(mmd_loss(x, x))) < 1e-12
    vals = [float(mmd_loss(x, y + s)) for s in (0.0, 0.5, 1.0, 2.0)]
    assert vals[0] < 0.02
    assert vals[0] < vals[1] < vals[2] < vals[3]
    for kernel in ("laplacian", "imq"):
        assert float(mmd_loss(x, y, kernel=kernel)) < float(mmd_loss(x, y + 1.0, kernel=kernel))
    # unbiased estimator: near zero (either sign) for equal distributions, positive for a shift
    assert abs(float(mmd_loss(x, y, unbiased=True))) < 0.01
    assert float(mmd_loss(x, y + 1.0, unbiased=True)) > 0.1


def test_mmd_closed_form_and_batched_equals_per_graph():
    x = torch.tensor([[0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0]], dtype=torch.float64)
    # 1 + 1 - 2 exp(-1/2) for a single gaussian bandwidth 1
    expected = 2 - 2 * torch.exp(torch.tensor(-0.5, dtype=torch.float64))
    torch.testing.assert_close(mmd_loss(x, y, bandwidths=(1.0,)), expected)
    g = torch.Generator().manual_seed(4)
    xs = torch.randn(12, 3, generator=g, dtype=torch.float64)
    ys = torch.randn(10, 3, generator=g, dtype=torch.float64)
    xb = torch.tensor([0] * 5 + [1] * 7)
    yb = torch.tensor([0] * 6 + [1] * 4)
    for unbiased in (False, True):
        per = mmd_loss(xs, ys, x_batch=xb, y_batch=yb, unbiased=unbiased, reduction="none")
        for gi in range(2):
            single = mmd_loss(xs[xb == gi], ys[yb == gi], unbiased=unbiased)
            torch.testing.assert_close(per[gi], single)
        torch.testing.assert_close(mmd_loss(xs, ys, x_batch=xb, y_batch=yb, unbiased=unbiased), per.mean())
    xr = xs.clone().requires_grad_(True)
    mmd_loss(xr, ys).backward()
    assert torch.isfinite(xr.grad).all()


def test_mmd_bad_input():
    x = torch.randn(4, 2)
    with pytest.raises(ValueError):
        mmd_loss(x, x, kernel="rbf2")
    with pytest.raises(ValueError):
        mmd_loss(x, x, bandwidths=(0.0,))
    with pytest.raises(ValueError):
        mmd_loss(x, x, x_batch=torch.zeros(4, dtype=torch.long))
    with pytest.raises(InputShapeError):
        mmd_loss(x, torch.randn(4, 3))
    with pytest.raises(EmptyGraphError):
        mmd_loss(torch.zeros(0, 2), x)
    with pytest.raises(GraphSizeError):
        mmd_loss(x[:1], x, unbiased=True)


# ------------------------------------------------- replicas: set distances, set-of-sets MMD, L_proxy


def _bf_set_distance(a, b, u=1.0, normalize=True):
    """Brute force: best injection of the smaller set into the larger one."""
    if a.size(0) < b.size(0):
        a, b = b, a
    na, nb = a.size(0), b.size(0)
    if na == 0:
        return 0.0
    best = float("inf")
    for cols in itertools.permutations(range(na), nb):
        c = float(((a[list(cols)] - b) ** 2).sum()) if nb else 0.0
        best = min(best, c)
    d = best + u * (na - nb)
    return d / na if normalize else d


def _replicas(seed, sizes):
    """Sets with the given sizes (list of lists: group -> replica sizes)."""
    g = torch.Generator().manual_seed(seed)
    xs, set_idx, groups, sets = [], [], [], []
    s = 0
    for gi, reps in enumerate(sizes):
        for n in reps:
            x = torch.randn(n, 2, generator=g, dtype=torch.float64)
            xs.append(x)
            sets.append(x)
            set_idx.append(torch.full((n,), s, dtype=torch.long))
            groups.append(gi)
            s += 1
    return torch.cat(xs), torch.cat(set_idx), torch.tensor(groups), sets


def test_set_distances_brute_force_unequal_and_empty():
    a, a_set, _, a_sets = _replicas(0, [[3, 2, 0, 4]])
    b, b_set, _, b_sets = _replicas(1, [[3, 4, 0, 1]])
    pairs = torch.tensor([[0, 0, 1, 2, 2, 3, 3], [0, 1, 1, 2, 0, 1, 3]])
    d = set_distances(a, a_set, b, b_set, pairs, unmatched_cost=0.7)
    d_raw = set_distances(a, a_set, b, b_set, pairs, unmatched_cost=0.7, normalize=False)
    for p in range(pairs.size(1)):
        i, j = int(pairs[0, p]), int(pairs[1, p])
        assert float(d[p]) == pytest.approx(_bf_set_distance(a_sets[i], b_sets[j], 0.7), abs=1e-12)
        assert float(d_raw[p]) == pytest.approx(_bf_set_distance(a_sets[i], b_sets[j], 0.7, False), abs=1e-12)
    # permutation invariance and symmetry
    assert float(set_distances(a, a_set, a, a_set, torch.tensor([[0], [0]]))) == 0.0


def _bf_mmd(xs, ys, kern):
    def mean_k(u, v):
        return sum(kern(_bf_set_distance(p, q)) for p in u for q in v) / (len(u) * len(v))
    return mean_k(xs, xs) + mean_k(ys, ys) - 2 * mean_k(xs, ys)


@pytest.mark.parametrize("kernel", ["gaussian", "energy", "imq"])
def test_set_of_sets_mmd_brute_force(kernel):
    import math

    bws = (0.3, 1.0)
    pred, ps, pg, psets = _replicas(2, [[2, 3, 3], [1, 2]])
    tgt, ts, tg, tsets = _replicas(3, [[3, 2], [2, 2, 1, 0]])

    def kern(d):
        if kernel == "energy":
            return -math.sqrt(max(d, 1e-12))
        if kernel == "imq":
            return sum(s * s / (s * s + d) for s in bws) / len(bws)
        return sum(math.exp(-d / (2 * s * s)) for s in bws) / len(bws)

    out = set_of_sets_mmd(pred, ps, pg, tgt, ts, tg, kernel=kernel, bandwidths=bws, reduction="none")
    for g in range(2):
        ys = [s for s, gg in zip(psets, pg.tolist()) if gg == g]
        xs = [s for s, gg in zip(tsets, tg.tolist()) if gg == g]
        assert float(out[g]) == pytest.approx(_bf_mmd(xs, ys, kern), abs=1e-9)
    assert float(set_of_sets_mmd(pred, ps, pg, tgt, ts, tg, kernel=kernel, bandwidths=bws)) == pytest.approx(
        float(out.mean()))


def test_set_of_sets_mmd_zero_for_same_replicas_and_gradient():
    x, xs, xg, _ = _replicas(4, [[3, 3, 2], [2, 4]])
    # the same sets, elements permuted within each set
    perm = torch.tensor([2, 0, 1, 4, 5, 3, 7, 6, 9, 8, 13, 10, 12, 11])
    assert torch.equal(xs[perm], xs)
    mmd = set_of_sets_mmd(x[perm], xs, xg, x, xs, xg, reduction="none")
    assert torch.allclose(mmd, torch.zeros(2, dtype=mmd.dtype), atol=1e-12)
    y = (x + 0.3).requires_grad_(True)
    loss = set_of_sets_mmd(y, xs, xg, x, xs, xg)
    assert float(loss.detach()) > 0
    loss.backward()
    assert y.grad is not None and float(y.grad.abs().sum()) > 0


def test_proxy_loss_brute_force():
    pred, ps, pg, psets = _replicas(5, [[2, 3], [3, 1, 2]])
    tgt, ts, tg, tsets = _replicas(6, [[3, 3, 2], [2]])
    lmin = proxy_loss(pred, ps, pg, tgt, ts, tg, reduction="none")
    lnear = proxy_loss(pred, ps, pg, tgt, ts, tg, mode="nearest", reduction="none")
    for g in range(2):
        ys = [s for s, gg in zip(psets, pg.tolist()) if gg == g]
        xs = [s for s, gg in zip(tsets, tg.tolist()) if gg == g]
        d = [[_bf_set_distance(x, y) for x in xs] for y in ys]
        assert float(lmin[g]) == pytest.approx(min(min(r) for r in d), abs=1e-12)
        assert float(lnear[g]) == pytest.approx(sum(min(r) for r in d) / len(ys), abs=1e-12)


def test_replica_losses_bad_input():
    x, xs, xg, _ = _replicas(7, [[2, 2], [2]])
    with pytest.raises(GraphSizeError):  # group 1 has no target set
        set_of_sets_mmd(x, xs, xg, x[:4], xs[:4], xg[:2])
    with pytest.raises(InputShapeError):
        set_of_sets_mmd(x, xs, xg[:2], x, xs, xg)
    with pytest.raises(ValueError):
        set_of_sets_mmd(x, xs, xg, x, xs, xg, kernel="cosine")
    with pytest.raises(ValueError):
        proxy_loss(x, xs, xg, x, xs, xg, mode="max")
    with pytest.raises(InputShapeError):
        set_distances(x, xs, x, xs, torch.tensor([[0], [5]]))


def test_hungarian_bfloat16_trailing_empty_graphs_and_argument_checks():
    torch.manual_seed(0)
    pred, target = torch.randn(5, 2), torch.randn(5, 2)
    batch = torch.tensor([0, 0, 1, 1, 1])
    ref = hungarian_loss(pred, target, batch, batch)
    bf = hungarian_loss(pred.bfloat16(), target.bfloat16(), batch, batch)  # numpy has no bfloat16
    assert bf.dtype == torch.bfloat16 and float(bf) == pytest.approx(float(ref), rel=2e-2)
    per = hungarian_loss(pred, target, batch, batch, reduction="none", num_graphs=4)
    assert per.shape == (4,) and per[2:].tolist() == [0.0, 0.0]
    torch.testing.assert_close(per[:2], hungarian_loss(pred, target, batch, batch, reduction="none"))
    with pytest.raises(InputShapeError, match="num_graphs"):
        hungarian_loss(pred, target, batch, batch, num_graphs=1)
    with pytest.raises(InputShapeError, match="integer graph indices"):
        hungarian_loss(pred, target, batch.float() * 0.7, batch)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="unmatched_cost"):
            hungarian_loss(pred, target, batch, batch, unmatched_cost=bad)
        with pytest.raises(ValueError, match="unmatched_cost"):
            set_distances(pred, batch, target, batch, torch.tensor([[0], [1]]), unmatched_cost=bad)
