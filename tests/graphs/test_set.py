from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from pgjets.errors import EmptyGraphError, InputShapeError, NonFiniteError
from pgjets.graphs import FullyConnected, fully_connected_edge_index, set_to_graph


def edge_set(ei):
    return {(int(a), int(b)) for a, b in ei.T}


def test_set_to_graph_complete_without_self_loops():
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    d = set_to_graph(x, pt=torch.rand(5), y=2)
    assert d.edge_index.shape == (2, 20)
    assert edge_set(d.edge_index) == {(j, i) for i in range(5) for j in range(5) if i != j}
    assert d.y.tolist() == [2] and d.y.dtype == torch.long and d.pt.shape == (5,)
    d2 = set_to_graph(x, self_loops=True)
    assert d2.edge_index.size(1) == 25
    assert set_to_graph(x[:1]).edge_index.shape == (2, 0)


def test_fully_connected_on_batch_matches_per_graph():
    g = torch.Generator().manual_seed(1)
    sizes = [3, 1, 4, 2]
    data_list = [Data(x=torch.randn(n, 2, generator=g)) for n in sizes]
    b = FullyConnected()(Batch.from_data_list(data_list))
    ref = Batch.from_data_list([set_to_graph(d.x) for d in data_list])
    assert torch.equal(b.edge_index, ref.edge_index)
    assert bool((b.batch[b.edge_index[0]] == b.batch[b.edge_index[1]]).all())
    assert b.edge_index.size(1) == sum(n * (n - 1) for n in sizes)
    for d, r in zip(b.to_data_list(), ref.to_data_list()):
        assert torch.equal(d.edge_index, r.edge_index)


def test_fully_connected_helper_and_transform_on_data():
    ei = fully_connected_edge_index(torch.tensor([2, 0, 2]), self_loops=True)
    assert edge_set(ei) == {(0, 0), (1, 0), (0, 1), (1, 1), (2, 2), (3, 2), (2, 3), (3, 3)}
    d = FullyConnected(self_loops=True)(Data(x=torch.rand(3, 1)))
    assert d.edge_index.size(1) == 9


def test_bad_input():
    with pytest.raises(InputShapeError, match="2-D"):
        set_to_graph(torch.rand(4))
    with pytest.raises(EmptyGraphError):
        set_to_graph(torch.rand(0, 3))
    with pytest.raises(NonFiniteError):
        set_to_graph(torch.tensor([[1.0], [float("inf")]]))
    with pytest.raises(InputShapeError, match="pt"):
        set_to_graph(torch.rand(3, 2), pt=torch.rand(4))
    with pytest.raises(EmptyGraphError):
        FullyConnected()(Data(x=torch.rand(0, 2)))


def test_fully_connected_replaces_old_edges_and_attrs():
    g = torch.Generator().manual_seed(2)
    data_list = [Data(x=torch.randn(n, 2, generator=g), edge_index=torch.zeros(2, 1, dtype=torch.long),
                      edge_attr=torch.rand(1, 3, generator=g)) for n in (2, 3)]
    b = FullyConnected()(Batch.from_data_list(data_list))
    assert "edge_attr" not in b and "edge_attr" not in b._slice_dict
    assert b.edge_index.size(1) == 2 + 6
    assert b[1].edge_index.size(1) == 6 and "edge_attr" not in b[1]
    assert edge_set(b[0].edge_index) == {(0, 1), (1, 0)}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fully_connected():
    data_list = [Data(x=torch.rand(n, 2)) for n in (3, 1, 2)]
    b = FullyConnected()(Batch.from_data_list(data_list).to("cuda"))
    assert b.edge_index.device.type == "cuda" and b.edge_index.size(1) == 6 + 0 + 2
    d = FullyConnected()(Data(x=torch.rand(4, 2, device="cuda")))
    assert d.edge_index.device.type == "cuda" and d.edge_index.size(1) == 12
    s = set_to_graph(torch.rand(3, 2, device="cuda"))
    assert s.edge_index.device.type == "cuda"


def test_fully_connected_edge_index_rejects_negative_counts():
    assert fully_connected_edge_index(torch.tensor([2, 0, 1])).tolist() == [[1, 0], [0, 1]]
    with pytest.raises(InputShapeError, match="graph 1 has -1"):
        fully_connected_edge_index(torch.tensor([2, -1, 3]))
    with pytest.raises(InputShapeError, match="whole numbers"):
        fully_connected_edge_index(torch.tensor([2.5]))


def test_complete_graph_edges_with_given_sizes_match_and_read_nothing():
    from pgjets.graphs.set import complete_graph_edges

    g = torch.Generator().manual_seed(3)
    for _ in range(50):
        counts = torch.randint(0, 6, (int(torch.randint(0, 6, (1,), generator=g)),), generator=g)
        for loops in (False, True):
            n = int(counts.sum())
            e = int((counts * counts).sum()) if loops else int((counts * (counts - 1)).sum())
            assert torch.equal(complete_graph_edges(counts, n, e, loops), fully_connected_edge_index(counts, loops))
    # the sizes given, no value is read back: it runs on the meta device, which has none
    out = complete_graph_edges(torch.tensor([3, 1, 4]).to("meta"), 8, 18)
    assert out.shape == (2, 18) and out.device.type == "meta"


def test_hetero_data_is_refused_with_a_typed_error():
    from torch_geometric.data import HeteroData

    h = HeteroData()
    h["a"].x, h["b"].x = torch.randn(3, 2), torch.randn(2, 2)
    with pytest.raises(InputShapeError, match="HeteroData"):
        FullyConnected()(h)
