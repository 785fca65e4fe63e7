from __future__ import annotations

import pytest
import torch

import pgjets.ops.knn as knn_module
from pgjets.errors import GraphSizeError, InputShapeError, MissingExtraError, NonFiniteError
from pgjets.ops import knn_graph, torch_cluster_available

BACKENDS = ["torch"] + (["torch_cluster"] if torch_cluster_available() else [])


def brute_force(x: torch.Tensor, k: int, batch: torch.Tensor, loop: bool, cosine: bool = False):
    """Reference: per node, sorted list of the k smallest distances to nodes of its graph."""
    if cosine:
        xn = x / x.norm(dim=-1, keepdim=True)
        d = 1 - xn @ xn.T
    else:
        d = torch.cdist(x.double(), x.double()) ** 2
    same = batch[:, None] == batch[None, :]
    d = d.masked_fill(~same, float("inf"))
    if not loop:
        d.fill_diagonal_(float("inf"))
    out = []
    for i in range(x.size(0)):
        row = d[i]
        kk = min(k, int(torch.isfinite(row).sum()))
        out.append(torch.sort(row)[0][:kk])
    return out


def make_batch(sizes, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    batch = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
    x = torch.randn(batch.numel(), dim, generator=g)
    return x, batch


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dim", [2, 8])
@pytest.mark.parametrize("loop", [False, True])
def test_matches_brute_force_on_uneven_batches(backend, dim, loop):
    sizes = [1, 5, 40, 3, 17, 0, 23]
    x, batch = make_batch(sizes, dim)
    k = 6
    ei = knn_graph(x, k, batch, loop=loop, backend=backend)
    ref = brute_force(x, k, batch, loop)
    src, dst = ei
    assert bool((batch[src] == batch[dst]).all())
    if not loop:
        assert bool((src != dst).all())
    dist = ((x[src].double() - x[dst].double()) ** 2).sum(-1)
    for i in range(x.size(0)):
        got = torch.sort(dist[dst == i])[0]
        assert got.numel() == ref[i].numel(), (i, got.numel(), ref[i].numel())
        torch.testing.assert_close(got, ref[i], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cosine_distance(backend):
    x, batch = make_batch([12, 9], 5, seed=3)
    ei = knn_graph(x, 4, batch, cosine=True, backend=backend)
    ref = brute_force(x, 4, batch, loop=False, cosine=True)
    xn = x / x.norm(dim=-1, keepdim=True)
    cos_d = 1 - (xn[ei[0]] * xn[ei[1]]).sum(-1)
    for i in range(x.size(0)):
        torch.testing.assert_close(torch.sort(cos_d[ei[1] == i])[0], ref[i], atol=1e-5, rtol=1e-5)


def test_chunking_gives_identical_result(monkeypatch):
    x, batch = make_batch([30, 50, 7], 3, seed=1)
    full = knn_graph(x, 5, batch, backend="torch")
    monkeypatch.setattr(knn_module, "MAX_BLOCK_ELEMENTS", 64)
    chunked = knn_graph(x, 5, batch, backend="torch")
    assert torch.equal(full, chunked)


def test_edges_sorted_by_centre_and_flow():
    x, batch = make_batch([10, 10], 2, seed=2)
    ei = knn_graph(x, 3, batch, backend="torch")
    assert bool((ei[1][1:] >= ei[1][:-1]).all())
    assert torch.equal(torch.bincount(ei[1]), torch.full((20,), 3))
    flipped = knn_graph(x, 3, batch, flow="target_to_source", backend="torch")
    assert torch.equal(flipped, ei.flip(0))


def test_graphs_smaller_than_k_and_empty_input():
    x, batch = make_batch([2, 4], 2)
    ei = knn_graph(x, 16, batch, backend="torch")
    deg = torch.bincount(ei[1], minlength=6)
    assert deg.tolist() == [1, 1, 3, 3, 3, 3]
    empty = knn_graph(torch.empty(0, 2), 4)
    assert empty.shape == (2, 0) and empty.dtype == torch.long


def test_no_batch_means_one_graph():
    x, _ = make_batch([9], 2)
    a = knn_graph(x, 4, backend="torch")
    b = knn_graph(x, 4, torch.zeros(9, dtype=torch.long), backend="torch")
    assert torch.equal(a, b)


def test_bad_input_raises_typed_errors():
    x, batch = make_batch([3, 4], 2)
    with pytest.raises(InputShapeError, match="2-D"):
        knn_graph(torch.randn(5, 2, 1), 2)
    with pytest.raises(ValueError, match="non-negative"):
        knn_graph(x, -1, batch)
    for backend in ("torch", "auto"):  # k = 0: no edges, as torch-cluster's knn_graph (PyG's)
        assert knn_graph(x, 0, batch, backend=backend).shape == (2, 0)
    with pytest.raises(InputShapeError, match="entries"):
        knn_graph(x, 2, batch[:-1])
    with pytest.raises(InputShapeError, match="sorted"):
        knn_graph(x, 2, batch.flip(0))
    bad = x.clone()
    bad[1, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        knn_graph(bad, 2, batch)
    with pytest.raises(GraphSizeError, match="graph 0 has 3"):
        knn_graph(x, 3, batch, strict=True)
    with pytest.raises(ValueError, match="flow"):
        knn_graph(x, 2, batch, flow="sideways")
    with pytest.raises(ValueError, match="backend"):
        knn_graph(x, 2, batch, backend="faiss")


def test_missing_torch_cluster_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(knn_module, "torch_cluster_available", lambda: False)
    x, batch = make_batch([3, 4], 2)
    with pytest.raises(MissingExtraError, match="torch-cluster"):
        knn_graph(x, 2, batch, backend="torch_cluster")
    # auto falls back to pure torch
    assert knn_graph(x, 2, batch, backend="auto").shape[1] == 14


@pytest.mark.parametrize("dim", [2, 16])
@pytest.mark.parametrize("loop", [False, True])
@pytest.mark.parametrize("cosine", [False, True])
def test_bucketed_fast_path_equals_padded_reference(dim, loop, cosine, monkeypatch):
    # uneven sizes (as jets are: 20-150 particles) so that several size buckets are used
    g = torch.Generator().manual_seed(5)
    sizes = torch.randint(0, 60, (37,), generator=g).tolist() + [1, 2, 150]
    x, batch = make_batch(sizes, dim, seed=4)
    counts = torch.bincount(batch, minlength=len(sizes))
    assert len(knn_module._size_buckets(sorted(sizes))) > 1
    for max_block in (knn_module.MAX_BLOCK_ELEMENTS, 500):  # with and without row chunking
        monkeypatch.setattr(knn_module, "MAX_BLOCK_ELEMENTS", max_block)
        src, dst = knn_module._knn_torch(x, 7, batch, counts, loop, cosine)
        ref_src, ref_dst = knn_module._knn_torch_padded(x, 7, batch, counts, loop, cosine)
        assert torch.equal(dst, ref_dst)
        if dim == 2 and not cosine:  # exact distances: identical order, ties aside (none here)
            assert torch.equal(src, ref_src)
        else:  # matmul rounding may swap near-ties inside a neighbour list: same sets
            n = x.size(0)
            a = torch.zeros(n, n, dtype=torch.bool)
            b = torch.zeros(n, n, dtype=torch.bool)
            a[dst, src] = True
            b[ref_dst, ref_src] = True
            assert torch.equal(a, b)


def neighbour_distances_match_float64(x: torch.Tensor, ei: torch.Tensor, k: int, batch: torch.Tensor) -> None:
    """Per node, the sorted float64 distances of the returned neighbours equal the brute force's."""
    xd = x.double()
    full = ((xd[:, None] - xd[None]) ** 2).sum(-1)  # direct differences: exact in float64
    full = full.masked_fill(batch[:, None] != batch[None], float("inf")).fill_diagonal_(float("inf"))
    ref = [row[torch.isfinite(row)].sort()[0][:k] for row in full]
    dist = ((xd[ei[0]] - xd[ei[1]]) ** 2).sum(-1)
    for i in range(x.size(0)):
        got = torch.sort(dist[ei[1] == i])[0]
        assert got.numel() == ref[i].numel()
        # same float32 inputs, distances in float64: equal up to float64 rounding (ties either way)
        torch.testing.assert_close(got, ref[i], rtol=1e-12, atol=0.0, msg=lambda m: f"node {i}: {m}")


SHIFTED = [(0.0, 1.0)] + [(s, r * s) for s in (1.0, 30.0, 1e4) for r in (1.0, 1e-2, 1e-4)] + [(1e4, 1.0)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dim", [2, 3, 5, 16, 64])
def test_exact_for_shifted_and_scaled_coordinates(backend, dim):
    # features far from zero (ReLU / BatchNorm outputs): |a|^2 + |b|^2 - 2ab cancels in float32
    g = torch.Generator().manual_seed(dim)
    sizes = [40, 7, 1, 25]
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    for shift, spread in SHIFTED:
        x = torch.rand(batch.numel(), dim, generator=g) * spread + shift
        ei = knn_graph(x, 4, batch, backend=backend)
        neighbour_distances_match_float64(x, ei, 4, batch)


@pytest.mark.parametrize("backend", BACKENDS)
def test_issue_example_and_clustered_points_are_exact(backend):
    torch.manual_seed(0)
    x = torch.rand(64, 16) * 0.1 + 30
    one = torch.zeros(64, dtype=torch.long)
    neighbour_distances_match_float64(x, knn_graph(x, 4, backend=backend), 4, one)
    # two tight clusters far apart in one graph: centring cannot remove the offset,
    # the error-bound check sends the nodes to the exact search
    x = torch.rand(60, 16) + torch.tensor([0.0, 1e4]).repeat(30).view(60, 1)
    neighbour_distances_match_float64(x, knn_graph(x, 4, backend=backend), 4, torch.zeros(60, dtype=torch.long))


def test_padded_knn_exact_for_shifted_features():
    from pgjets.nn.dynamic_edge_conv import padded_knn

    torch.manual_seed(1)
    x = torch.rand(2, 30, 16) * 0.1 + 30
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 20:] = False
    idx, valid = padded_knn(x, mask, 4)
    assert bool(valid[mask].all())
    flat = x[mask]
    batch = torch.tensor([0] * 30 + [1] * 20)
    ptr = torch.tensor([0, 30]).view(2, 1, 1).expand(2, 30, 4)
    src = (idx + ptr)[mask].reshape(-1)
    dst = torch.arange(50).repeat_interleave(4)
    neighbour_distances_match_float64(flat, torch.stack([src, dst]), 4, batch)


def test_negative_batch_ids_and_integer_coordinates():
    x, batch = make_batch([3, 4], 2)
    with pytest.raises(InputShapeError, match="negative graph ids"):
        knn_graph(x, 2, batch - 1)
    with pytest.raises(InputShapeError, match="integer graph ids"):
        knn_graph(x, 2, batch.float())
    pos = torch.tensor([[0, 0], [1, 0], [5, 5], [6, 5]])
    assert knn_graph(pos, 1, backend="torch").tolist() == [[1, 0, 3, 2], [0, 1, 2, 3]]


@pytest.mark.parametrize("dim", [2, 5])
def test_knn_graph_runs_eagerly_under_torch_compile(dim: int) -> None:
    """The search is not traced (torch.compiler.disable): same edges as eager, whatever the backend
    (torch-cluster's op, taken by auto in 2-D when installed, has no fake-tensor kernel), and
    batches of new sizes do not recompile it."""
    gen = torch.Generator().manual_seed(3)
    unchecked = knn_module.knn_graph_unchecked  # knn_graph's value checks are breaks of their own
    compiled = torch.compile(lambda x, b: unchecked(x, 4, b, False, "source_to_target", False, "auto", False),
                             backend="eager")
    for i, sizes in enumerate(([20, 20], [9, 31, 12], [7, 50, 5, 18], [33, 6])):
        x = torch.randn(sum(sizes), dim, generator=gen)
        batch = torch.arange(len(sizes)).repeat_interleave(torch.tensor(sizes))
        with torch._dynamo.config.patch(error_on_recompile=i >= 2):  # 0: static, 1: dynamic sizes
            got = compiled(x, batch)
        ref = knn_graph(x, 4, batch, backend="torch")
        assert torch.equal(torch.sort(got[0] * 1000 + got[1]).values, torch.sort(ref[0] * 1000 + ref[1]).values)


def test_bfloat16_is_searched_in_float32_by_torch_cluster(monkeypatch):
    """torch-cluster's CUDA kNN has no bfloat16 kernel: bf16 coordinates (autocast, bf16 models)
    are handed over as float32, which holds every bf16 value exactly."""
    import sys
    import types

    seen = []

    def fake_knn_graph(x, k, batch=None, loop=False, flow="source_to_target", num_workers=1):
        seen.append(x.dtype)
        if x.dtype == torch.bfloat16:
            raise RuntimeError('"knn" not implemented for \'BFloat16\'')  # what the CUDA kernel says
        return knn_graph(x, k, batch, loop=loop, backend="torch")

    monkeypatch.setitem(sys.modules, "torch_cluster", types.SimpleNamespace(knn_graph=fake_knn_graph))
    monkeypatch.setattr(knn_module, "torch_cluster_available", lambda: True)
    x, batch = make_batch([5, 7], 2)
    xb = x.bfloat16()
    got = knn_graph(xb, 3, batch, backend="torch_cluster")
    assert seen == [torch.float32]
    assert torch.equal(got, knn_graph(xb.float(), 3, batch, backend="torch"))
    assert knn_graph(xb, 3, batch, backend="auto").shape == got.shape  # auto picks torch-cluster in 2-D
    assert seen == [torch.float32, torch.float32]


@pytest.mark.skipif(not torch_cluster_available(), reason="needs torch-cluster")
def test_bfloat16_through_real_torch_cluster_matches_float32():
    x, batch = make_batch([9, 12, 6], 3)
    xb = x.bfloat16()
    assert torch.equal(knn_graph(xb, 4, batch, backend="torch_cluster"),
                       knn_graph(xb.float(), 4, batch, backend="torch_cluster"))


def test_layer_knn_graph_checks_values_without_a_sync_of_its_own(debug):
    from pgjets import set_debug
    from pgjets.ops.knn import layer_knn_graph

    x, batch = make_batch([6, 9], 4)
    assert torch.equal(layer_knn_graph(x, 3, batch), knn_graph(x, 3, batch, loop=False))
    bad = x.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(NonFiniteError):
        layer_knn_graph(bad, 3, batch)  # debug mode: the checked knn_graph
    set_debug(False)
    assert torch.equal(layer_knn_graph(x, 3, batch, cosine=True), knn_graph(x, 3, batch, loop=False, cosine=True))
    with pytest.raises(NonFiniteError):  # outside debug mode: in the read of the number of graphs
        layer_knn_graph(bad, 3, batch)
    layer_knn_graph(bad, 3, None)  # one graph, nothing read back: not checked outside debug mode


@pytest.mark.parametrize("dim", [2, 8])
def test_float16_coordinates_are_searched_without_overflow(dim):
    """float16 squared distances overflow from about 180: fp16 autocast features (hundreds) gave
    self loops and edges between graphs.  The search runs in float32, exact for every fp16 value."""
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(40, dim, generator=g) * 300).half()
    batch = torch.arange(4).repeat_interleave(10)
    for backend in ("torch", "auto"):
        got = knn_graph(x, 3, batch, backend=backend)
        ref = knn_graph(x.float(), 3, batch, backend="torch")
        assert not bool((got[0] == got[1]).any()) and bool((batch[got[0]] == batch[got[1]]).all())
        assert {tuple(e) for e in got.t().tolist()} == {tuple(e) for e in ref.t().tolist()}


def test_coordinates_whose_squared_distances_overflow_are_refused():
    x = torch.randn(7, 8) * 1e20  # finite, but (2e20)^2 * 8 > float32's largest value
    with pytest.raises(InputShapeError, match=r"squared distances overflow torch.float32"):
        knn_graph(x, 2, torch.tensor([0, 0, 0, 1, 1, 1, 1]))
    edges = knn_graph(x.double(), 2, torch.tensor([0, 0, 0, 1, 1, 1, 1]))  # float64 holds them
    assert edges.size(1) == 14 and not bool((edges[0] == edges[1]).any())
    with pytest.raises(NonFiniteError):
        knn_graph(torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), 1)


def test_takes_pyg_arguments_in_pyg_order():
    """pgjets' knn_graph is PyG's: the same parameters in the same order, then pgjets' own."""
    import inspect

    from torch_geometric.nn import knn_graph as pyg_knn_graph

    ours = list(inspect.signature(knn_graph).parameters.values())
    theirs = list(inspect.signature(pyg_knn_graph).parameters.values())
    assert [(p.name, p.default) for p in ours[:len(theirs)]] == [(p.name, p.default) for p in theirs]
    g = torch.Generator().manual_seed(1)
    x, batch = torch.randn(12, generator=g), torch.tensor([0] * 5 + [1] * 7)
    edges = knn_graph(x, 2, batch, False, "source_to_target", False, 2, 2)  # all eight positionally
    assert torch.equal(edges, knn_graph(x.view(-1, 1), 2, batch))  # 1-D x: one coordinate per node
    with pytest.raises(InputShapeError, match="batch_size=1"):
        knn_graph(x, 2, batch, batch_size=1)
    with pytest.raises(ValueError, match="num_workers"):
        knn_graph(x, 2, batch, num_workers=-1)
    assert torch.equal(knn_graph(x, 2, batch, num_workers=0), edges)  # 0 is valid, as in torch-cluster


def test_knn_under_autocast_equals_full_precision():
    torch.manual_seed(0)
    batch = torch.repeat_interleave(torch.arange(4), torch.tensor([25, 7, 40, 28]))
    x = torch.randn(100, 64) * 30
    ref = knn_graph(x, 8, batch, backend="torch")
    for dtype in (torch.float16, torch.bfloat16):
        with torch.autocast("cpu", dtype=dtype):
            assert torch.equal(knn_graph(x, 8, batch, backend="torch"), ref)


def test_layer_knn_checks_the_batch_and_points_in_the_read_it_needs_anyway():
    """layer_knn_graph (inside EdgeConvBlock and the ParticleNet models) reads the number of graphs back to
    the host; that same read refuses an unsorted or negative batch and NaN/inf points, which gave wrong
    but finite outputs (or a bare IndexError) before."""
    from pgjets.errors import NonFiniteError
    from pgjets.models import build_model
    from pgjets.ops.knn import layer_knn_graph
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(0)
    h = torch.randn(12, 8, generator=g)
    sorted_batch = torch.tensor([0] * 6 + [1] * 6)
    assert layer_knn_graph(h, 3, sorted_batch).shape == (2, 36)
    with pytest.raises(InputShapeError, match="unsorted"):
        layer_knn_graph(h, 3, sorted_batch.flip(0).roll(3))
    with pytest.raises(InputShapeError, match="negative"):
        layer_knn_graph(h, 3, sorted_batch - 1)
    bad = h.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        layer_knn_graph(bad, 3, sorted_batch)
    jets = [Data(x=torch.randn(n, 7, generator=g), pos=torch.randn(n, 2, generator=g), pt=torch.rand(n, generator=g),
                 p4=torch.rand(n, 4, generator=g) + 1) for n in (5, 7)]
    batch = Batch.from_data_list(jets)
    model = build_model("particlenet_lite", 7).eval()
    assert torch.isfinite(model(batch)).all()
    batch.pos[3, 1] = float("inf")
    with pytest.raises(NonFiniteError):
        model(batch)
