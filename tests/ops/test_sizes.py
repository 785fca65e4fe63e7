from __future__ import annotations

import pytest
import torch
import torch._dynamo
from torch_geometric.data import Batch, Data

from pgjets.errors import InputShapeError
from pgjets.graphs import clouds_to_batch
from pgjets.ops import host_node_counts, ptr_from_counts


def batch(sizes):
    return Batch.from_data_list([Data(x=torch.randn(n, 3)) for n in sizes])


def test_counts_from_the_slice_table_survive_a_device_move():
    b = batch([4, 0, 7, 2])
    assert host_node_counts(b).tolist() == [4, 0, 7, 2]
    moved = b.to("meta")  # a device with no values: the counts are not read from it
    counts = host_node_counts(moved, moved.batch)
    assert counts.device.type == "cpu" and counts.tolist() == [4, 0, 7, 2]


def test_pgjets_batches_carry_the_table():
    x = torch.randn(9, 3)
    b = clouds_to_batch(x, x[:, :2], torch.tensor([5, 4]), k=None)
    assert host_node_counts(b).tolist() == [5, 4]


def test_unknown_or_inconsistent_tables_give_none():
    assert host_node_counts(Data(x=torch.randn(3, 2))) is None  # a single graph: no table
    b = batch([3, 5])
    b.x = b.x[:7]  # nodes dropped after batching: the total no longer matches
    assert host_node_counts(b) is None
    b = batch([3, 5])
    b._num_graphs = 3
    assert host_node_counts(b) is None
    b = batch([3, 5])
    b._slice_dict["x"] = b._slice_dict["x"].to("meta")  # a table on a device would need a sync
    assert host_node_counts(b) is None
    b = batch([3, 5])
    b._slice_dict["x"] = torch.tensor([0, 6, 5, 8])  # decreasing offsets
    b._num_graphs = None
    assert host_node_counts(b) is None


def test_debug_mode_catches_a_stale_table_with_the_same_total(debug):
    b = batch([3, 5])
    b._slice_dict["x"] = torch.tensor([0, 4, 8])  # same total, other split
    with pytest.raises(InputShapeError, match="slice table"):
        host_node_counts(b, b.batch)
    assert host_node_counts(batch([3, 5]), batch([3, 5]).batch).tolist() == [3, 5]


def test_the_caller_s_graph_count_must_match():
    b = batch([3, 5])
    assert host_node_counts(b, num_graphs=2).tolist() == [3, 5]
    assert host_node_counts(b, num_graphs=3) is None


def test_declines_while_torch_compile_traces():
    b = batch([3, 5])

    @torch.compile(backend="eager", fullgraph=True)  # a read of the table would break the graph
    def f(x):
        return x + (0.0 if host_node_counts(b, b.batch) is None else 1.0)

    assert torch.equal(f(torch.zeros(2)), torch.zeros(2))
    assert host_node_counts(b) is not None  # eager again


def test_another_node_attribute_gives_the_counts():
    b = Batch.from_data_list([Data(p4=torch.randn(n, 4)) for n in (2, 6)])  # no x
    assert host_node_counts(b) is None
    assert host_node_counts(b, key="p4").tolist() == [2, 6]


def test_batch_from_slices_rebuilds_the_batch_vector_of_p4_only_graphs():
    import warnings

    from pgjets.ops import batch_from_slices

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyG cannot infer num_nodes from p4 alone
        b = Batch.from_data_list([Data(p4=torch.randn(n, 4)) for n in (3, 0, 2)])
    assert getattr(b, "batch", None) is None  # what PyG leaves
    graph, counts = batch_from_slices(b, "p4")
    assert graph.tolist() == [0, 0, 0, 2, 2] and counts.tolist() == [3, 0, 2]
    assert batch_from_slices(b, "p4", num_graphs=2) is None  # a table for other graphs: not used
    assert batch_from_slices(Data(p4=torch.randn(3, 4)), "p4") is None  # no table at all


@pytest.mark.parametrize("counts, expected", [
    ([], [0]),                    # no runs
    ([0, 0, 0], [0, 0, 0, 0]),    # only empty runs
    ([5], [0, 5]),                # a single run
    ([3, 0, 4, 1], [0, 3, 3, 7, 8]),
])
def test_ptr_from_counts(counts, expected):
    ptr = ptr_from_counts(torch.tensor(counts, dtype=torch.long))
    assert ptr.dtype == torch.long and ptr.tolist() == expected


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8, torch.bool, torch.long])
def test_ptr_from_counts_is_int64_for_every_integer_dtype(dtype):
    counts = torch.tensor([1, 0, 1, 1]).to(dtype)
    ptr = ptr_from_counts(counts)
    assert ptr.dtype == torch.long and ptr.tolist() == [0, 1, 1, 2, 3]
    assert ptr.dtype == torch.cat([counts.new_zeros(1), counts.cumsum(0)]).dtype  # the pattern it replaces


def test_ptr_from_counts_matches_the_cumsum_patterns_it_replaces():
    counts = torch.randint(0, 6, (50,), generator=torch.Generator().manual_seed(0))
    ptr = ptr_from_counts(counts)
    reference = torch.zeros(51, dtype=torch.long)
    torch.cumsum(counts, 0, out=reference[1:])
    assert torch.equal(ptr, reference)
    assert torch.equal(ptr[:-1], torch.cumsum(counts, 0) - counts)


def test_ptr_from_counts_reads_nothing_back_and_traces():
    counts = torch.tensor([2, 0, 3], device="meta")  # a device with no values: nothing can be read
    ptr = ptr_from_counts(counts)
    assert ptr.device.type == "meta" and ptr.shape == (4,) and ptr.dtype == torch.long
    torch._dynamo.reset()
    expl = torch._dynamo.explain(ptr_from_counts)(torch.tensor([2, 0, 3]))
    torch._dynamo.reset()
    assert expl.graph_break_count == 0 and expl.graph_count == 1
