from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Batch

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import CloudKNNGraph, cloud_to_graph, clouds_to_batch


def flat(counts, f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = int(sum(counts))
    return torch.randn(p, f, generator=g), torch.randn(p, 2, generator=g), torch.rand(p, generator=g), torch.rand(p, 4, generator=g)


def test_cloud_to_graph_caps_k_and_excludes_self():
    x, pos, pt, p4 = flat([4])
    d = cloud_to_graph(x, pos, k=16, pt=pt, p4=p4, y=1)
    assert d.edge_index.size(1) == 4 * 3
    assert bool((d.edge_index[0] != d.edge_index[1]).all())
    assert d.y.tolist() == [1] and d.pt.shape == (4,)


@pytest.mark.parametrize("k", [None, 3])
def test_clouds_to_batch_equals_from_data_list(k):
    counts = [5, 1, 8, 3]
    x, pos, pt, p4 = flat(counts)
    y = torch.tensor([0, 1, 1, 0])
    b = clouds_to_batch(x, pos, counts, k=k, pt=pt, p4=p4, y=y)
    ptr = np.r_[0, np.cumsum(counts)]
    ref_list = []
    for i in range(4):
        sl = slice(ptr[i], ptr[i + 1])
        if k is None:
            from torch_geometric.data import Data

            d = Data(x=x[sl], pos=pos[sl], pt=pt[sl], p4=p4[sl], y=y[i : i + 1])
        else:
            d = cloud_to_graph(x[sl], pos[sl], k, pt=pt[sl], p4=p4[sl], y=y[i : i + 1])
        ref_list.append(d)
    ref = Batch.from_data_list(ref_list)
    assert b.num_graphs == 4
    for key in ("x", "pos", "pt", "p4", "y", "batch", "ptr") + (("edge_index",) if k else ()):
        assert torch.equal(b[key], ref[key]), key
    for i, d in enumerate(b.to_data_list()):
        for key in d.keys():
            assert torch.equal(d[key], ref_list[i][key]), (i, key)
    assert torch.equal(b[2].x, ref_list[2].x)


def test_knn_transform_on_batch():
    counts = [6, 7]
    x, pos, _, _ = flat(counts)
    b = clouds_to_batch(x, pos, counts)
    b = CloudKNNGraph(k=2)(b)
    assert b.edge_index.size(1) == 13 * 2
    assert bool((b.batch[b.edge_index[0]] == b.batch[b.edge_index[1]]).all())


def test_bad_input():
    x, pos, _, _ = flat([3, 2])
    with pytest.raises(EmptyGraphError, match="jet 1"):
        clouds_to_batch(x, pos, [5, 0])
    with pytest.raises(InputShapeError, match="sum"):
        clouds_to_batch(x, pos, [3, 3])
    with pytest.raises(InputShapeError, match="particles"):
        cloud_to_graph(x, pos[:2], 2)
    with pytest.raises(InputShapeError, match="2-D"):
        cloud_to_graph(x[:, 0], pos, 2)
    bad = pos.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(NonFiniteError):
        cloud_to_graph(x, bad, 2)
    with pytest.raises(EmptyGraphError):
        cloud_to_graph(torch.zeros(0, 3), torch.zeros(0, 2), 2)
    with pytest.raises(InputShapeError, match="labels"):
        clouds_to_batch(x, pos, [3, 2], y=[1])


def test_knn_transform_keeps_batch_slicing_and_alias():
    from pgjets.graphs import CloudToGraph

    counts = [4, 6, 2]
    x, pos, _, _ = flat(counts, seed=3)
    b = CloudToGraph(k=3)(clouds_to_batch(x, pos, counts))
    ptr = np.r_[0, np.cumsum(counts)]
    for i, d in enumerate(b.to_data_list()):
        ref = cloud_to_graph(x[ptr[i]:ptr[i + 1]], pos[ptr[i]:ptr[i + 1]], k=3)
        assert torch.equal(d.edge_index, ref.edge_index), i
    assert b.edge_index.size(1) == 4 * 3 + 6 * 3 + 2 * 1


def test_batch_from_flat_graph_attrs_and_label_dtypes():
    from pgjets.graphs import batch_from_flat

    b = batch_from_flat({"x": torch.arange(5.0).view(5, 1)}, torch.tensor([2, 3]),
                        graph_attrs={"g": torch.tensor([[1, 2], [3, 4]])})
    assert b.num_graphs == 2 and b[1].g.tolist() == [[3, 4]] and b[1].x.view(-1).tolist() == [2, 3, 4]
    with pytest.raises(InputShapeError, match="graphs"):
        batch_from_flat({"x": torch.zeros(2, 1)}, torch.tensor([2]), graph_attrs={"g": torch.zeros(3)})
    x, pos, _, _ = flat([3])
    assert cloud_to_graph(x, pos, 2, y=np.int32(1)).y.dtype == torch.long
    assert cloud_to_graph(x, pos, 2, y=0.5).y.dtype == torch.float32
    with pytest.raises(InputShapeError, match="pt"):
        cloud_to_graph(x, pos, 2, pt=torch.rand(4))
    with pytest.raises(InputShapeError, match="p4"):
        clouds_to_batch(x, pos, [3], p4=torch.rand(3, 3))
    with pytest.raises(ValueError, match="positive"):
        cloud_to_graph(x, pos, 0)


def test_batch_internals_match_from_data_list_numpy_input():
    counts = np.array([2, 5, 1])
    x, pos, pt, _ = flat(counts.tolist(), seed=4)
    y = np.array([1, 0, 1])
    b = clouds_to_batch(x.numpy().astype(np.float64), pos.numpy(), counts, k=2, pt=pt.numpy(), y=y)
    assert b.x.dtype == torch.float32 and b.y.dtype == torch.long
    ptr = np.r_[0, np.cumsum(counts)]
    ref = Batch.from_data_list([
        cloud_to_graph(x[ptr[i]:ptr[i + 1]], pos[ptr[i]:ptr[i + 1]], 2, pt=pt[ptr[i]:ptr[i + 1]], y=y[i])
        for i in range(3)
    ])
    assert b._num_graphs == ref._num_graphs == 3
    assert set(b._slice_dict) == set(ref._slice_dict) == {"x", "pos", "pt", "edge_index", "y"}
    for key in ref._slice_dict:
        assert torch.equal(b._slice_dict[key], ref._slice_dict[key]), key
        assert torch.equal(b._inc_dict[key], ref._inc_dict[key]), key
    sub = b.index_select([2, 0])
    assert len(sub) == 2 and torch.equal(sub[0].x, ref[2].x) and torch.equal(sub[1].edge_index, ref[0].edge_index)


def test_knn_transform_drops_stale_edge_attr_and_needs_pos():
    from torch_geometric.data import Data

    x, pos, _, _ = flat([5], seed=5)
    d = Data(x=x, pos=pos, edge_index=torch.zeros(2, 3, dtype=torch.long), edge_attr=torch.rand(3, 2))
    out = CloudKNNGraph(k=2)(d)
    assert "edge_attr" not in out and out.edge_index.size(1) == 10
    assert torch.equal(out.edge_index, cloud_to_graph(x, pos, 2).edge_index)
    with pytest.raises(InputShapeError, match="pos"):
        CloudKNNGraph(k=2)(Data(x=x))
    with pytest.raises(ValueError, match="positive"):
        CloudKNNGraph(k=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_matches_cpu():
    counts = [5, 1, 8, 3]
    x, pos, pt, p4 = flat(counts, seed=6)
    y = torch.tensor([0, 1, 1, 0])
    cpu = clouds_to_batch(x, pos, counts, k=3, pt=pt, p4=p4, y=y)
    gpu = clouds_to_batch(x.cuda(), pos.cuda(), torch.tensor(counts), k=3, pt=pt.cuda(), p4=p4.cuda(), y=y)
    for key in ("x", "pos", "pt", "p4", "y", "edge_index", "batch", "ptr"):
        assert gpu[key].device.type == "cuda", key
        assert torch.equal(gpu[key].cpu(), cpu[key]), key
    assert torch.equal(gpu[2].edge_index.cpu(), cpu[2].edge_index)
    out = CloudKNNGraph(k=2)(gpu)
    assert out.edge_index.device.type == "cuda" and out.to_data_list()[3].num_nodes == 3


@settings(max_examples=20, deadline=None)
@given(counts=st.lists(st.integers(1, 9), min_size=1, max_size=6), k=st.integers(1, 5),
       seed=st.integers(0, 1000))
def test_property_batch_equals_loop(counts, k, seed):
    x, pos, pt, _ = flat(counts, f=2, seed=seed)
    b = clouds_to_batch(x, pos, counts, k=k, pt=pt)
    ptr = np.r_[0, np.cumsum(counts)]
    for i, d in enumerate(b.to_data_list()):
        ref = cloud_to_graph(x[ptr[i]:ptr[i + 1]], pos[ptr[i]:ptr[i + 1]], k, pt=pt[ptr[i]:ptr[i + 1]])
        assert torch.equal(d.edge_index, ref.edge_index)
        assert d.edge_index.size(1) == counts[i] * min(k, counts[i] - 1)


def test_integer_and_float64_coordinates_are_cast_to_the_default_dtype():
    # dtype policy (CONTRIBUTING.md, "Input dtypes"): builders cast, layers never do
    g = torch.Generator().manual_seed(3)
    pos = torch.randint(-5, 5, (9, 2), generator=g)
    feats = torch.randint(0, 3, (9, 4), generator=g)
    data = cloud_to_graph(feats, pos, k=3, pt=torch.arange(1, 10), p4=torch.ones(9, 4, dtype=torch.float64))
    assert data.x.dtype == data.pos.dtype == data.pt.dtype == data.p4.dtype == torch.get_default_dtype()
    ref = cloud_to_graph(feats.float(), pos.float(), k=3)
    assert torch.equal(data.edge_index, ref.edge_index)
    batch = clouds_to_batch(feats.numpy(), pos.double(), [4, 5], k=2)
    assert batch.pos.dtype == torch.get_default_dtype()


def test_knngraph_is_pygs_transform_with_its_arguments():
    """pgjets.graphs.KNNGraph means what torch_geometric.transforms.KNNGraph means: k=6 by default, loop,
    force_undirected, flow, cosine; the same edges as PyG's, which are torch_cluster.knn_graph's (PyG 2.8
    itself needs pyg-lib for them)."""
    import warnings

    from torch_geometric.utils import coalesce

    from pgjets.graphs import KNNGraph

    counts = [7, 9]
    x, pos, _, _ = flat(counts, seed=5)
    batch = clouds_to_batch(x, pos, counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation any more
        default = KNNGraph()
    assert default.k == 6 and repr(default) == "KNNGraph(k=6)"
    assert default(batch.clone()).edge_index.size(1) == 6 * sum(counts)
    settings = [dict(), dict(k=3, loop=True), dict(k=4, force_undirected=True), dict(k=3, flow="target_to_source"),
                dict(k=5, cosine=True)]
    from torch_geometric.utils import to_undirected

    try:
        import torch_cluster
    except ImportError:
        torch_cluster = None
    for kw in settings:
        got = KNNGraph(**kw)(batch.clone()).edge_index
        if torch_cluster is not None and not kw.get("cosine"):  # what PyG's transform computes (torch-cluster
            # has no cosine kNN on the CPU; pgjets' cosine kNN is checked in tests/ops/test_knn.py)
            opts = {"k": 6, "loop": False, "flow": "source_to_target", "cosine": False, **kw}
            undirected = opts.pop("force_undirected", False)
            want = torch_cluster.knn_graph(batch.pos, batch=batch.batch, **opts)
            if undirected:
                want = to_undirected(want, num_nodes=batch.num_nodes)
            assert torch.equal(coalesce(got), coalesce(want)), kw
    undirected = KNNGraph(k=4, force_undirected=True)(batch.clone()).edge_index
    assert torch.equal(coalesce(undirected), coalesce(undirected.flip(0)))
    flipped = KNNGraph(k=3, flow="target_to_source")(batch.clone()).edge_index
    assert torch.equal(coalesce(flipped), coalesce(KNNGraph(k=3)(batch.clone()).edge_index.flip(0)))
    with pytest.raises(ValueError, match="flow"):
        KNNGraph(flow="both")


@pytest.mark.parametrize("make", ["CloudKNNGraph", "FullyConnected"])
def test_edge_transforms_leave_their_input_batch_unchanged(make):
    """PyG hands a transform ``copy.copy(batch)``, whose slice tables are the input's: rewriting them
    in place broke ``input.to_data_list()``."""
    import pgjets.graphs as G
    from torch_geometric.data import Batch, Data

    e = torch.tensor([[0, 1], [1, 0]])
    graphs = [Data(pos=torch.randn(5, 2), x=torch.randn(5, 3), edge_index=e, edge_attr=torch.ones(2, 1)),
              Data(pos=torch.randn(4, 2), x=torch.randn(4, 3), edge_index=e, edge_attr=torch.ones(2, 1))]
    b = Batch.from_data_list(graphs)
    slices = {k: v.clone() for k, v in b._slice_dict.items()}
    transform = G.CloudKNNGraph(k=3) if make == "CloudKNNGraph" else G.FullyConnected()
    out = transform(b)
    assert b._slice_dict.keys() == slices.keys()
    assert all(torch.equal(b._slice_dict[k], v) for k, v in slices.items())
    assert [g.edge_index.size(1) for g in b.to_data_list()] == [2, 2]
    assert "edge_attr" in b and "edge_attr" not in out
    assert [g.num_nodes for g in out.to_data_list()] == [5, 4]


def test_fractional_counts_and_hetero_data_are_refused():
    from torch_geometric.data import HeteroData

    with pytest.raises(InputShapeError, match="whole numbers"):
        clouds_to_batch(torch.randn(11, 3), torch.randn(11, 2), np.array([3.5, 1.5, 5, 2]))
    assert clouds_to_batch(torch.randn(11, 3), torch.randn(11, 2), np.array([3.0, 1, 5, 2])).num_graphs == 4
    h = HeteroData()
    h["a"].pos = torch.randn(4, 2)
    with pytest.raises(InputShapeError, match="HeteroData"):
        CloudKNNGraph(k=2)(h)
