from __future__ import annotations

import numpy as np
import pytest
import torch

from pgjets.data import StreamedEventDataset, generate_event_dataset, read_events


@pytest.fixture(scope="module")
def events_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("events")
    return generate_event_dataset(["ttbar", "wjets"], 40, out, seed=3, chunk_size=40, progress=False)


def _indices(ds, **kw):
    return torch.cat([b.event_index for b in ds.batches(7, **kw)]).tolist()


def test_every_event_once_per_epoch_and_labels_match(events_dir):
    ds = StreamedEventDataset(events_dir, chunk_size=9, shuffle_chunks=2)
    events = read_events(events_dir)
    assert len(ds) == len(events) == 80
    idx = _indices(ds, shuffle=True, seed=1)
    assert sorted(idx) == list(range(80))
    assert _indices(ds) == list(range(80))  # unshuffled: folder order
    y = torch.cat([b.y for b in ds.batches(16)])
    assert y.tolist() == [int(v) for v in events["label"]]
    assert ds.num_classes == 2 and next(iter(ds.batches(4))).x.size(1) == ds.num_features


def test_seeded_order_and_mixing(events_dir):
    ds = StreamedEventDataset(events_dir, chunk_size=9, shuffle_chunks=2)
    a, b, c = _indices(ds, shuffle=True, seed=5), _indices(ds, shuffle=True, seed=5), _indices(ds, shuffle=True, seed=6)
    assert a == b and a != c and a != list(range(80))


def test_subset_and_rank_shares_are_disjoint(events_dir):
    ds = StreamedEventDataset(events_dir, chunk_size=9, shuffle_chunks=2)
    sub = ds.subset([3, 50, 10, 79])
    assert sorted(_indices(sub, shuffle=True, seed=0)) == [3, 10, 50, 79]
    shares = [set(_indices(ds, shuffle=True, seed=2, rank=r, world_size=2)) for r in range(2)]
    assert not shares[0] & shares[1] and len(shares[0]) == len(shares[1]) == 35  # 5 full batches of 7


def test_drop_empty_counts(events_dir):
    ds = StreamedEventDataset(events_dir, collections=("Muon",), drop_empty=True, chunk_size=20)
    kept = sum(b.num_graphs for b in ds.batches(10))
    assert kept + ds.num_dropped == 80 and ds.num_dropped > 0


def test_chunk_rows_read_only_their_row_groups(tmp_path) -> None:
    """A chunk of a many-row-group file equals the same rows of the whole table, across group edges."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pgjets.data.event_dataset import _read_rows

    table = pa.table({"label": np.arange(23) % 2, "v": np.arange(23.0)})
    pq.write_table(table, tmp_path / "f.parquet", row_group_size=5)
    pf = pq.ParquetFile(tmp_path / "f.parquet")
    assert pf.metadata.num_row_groups == 5
    for a, b in [(0, 5), (3, 12), (5, 10), (20, 23), (0, 23), (9, 11)]:
        assert _read_rows(pf, a, b).equals(table.slice(a, b - a)), (a, b)


@pytest.mark.parametrize("kw", [{}, {"connectivity": "knn", "k": 2}, {"collections": ("Muon", "Jet"), "drop_empty": True}])
def test_streamed_graphs_equal_the_in_memory_ones(events_dir, kw):
    """Batches mixing several chunks (graphs built per chunk, gathered) hold the same graphs
    as :class:`EventDataset` (graphs built over the whole folder)."""
    from pgjets.data import EventDataset

    ref = EventDataset(events_dir, **kw)
    by_event = {int(e): i for i, e in enumerate(ref.batch.event_index)}
    ds = StreamedEventDataset(events_dir, chunk_size=9, shuffle_chunks=3, **kw)
    seen = 0
    for b in ds.subset(np.arange(0, 80, 2)).batches(7, shuffle=True, seed=4):
        assert b.edge_index.max() < b.num_nodes if b.num_edges else True
        for j in range(b.num_graphs):
            got, want = b.get_example(j), ref[by_event[int(b.event_index[j])]]
            for key in ("x", "pos", "pt", "node_type", "edge_index", "y"):
                assert torch.equal(got[key], want[key]), key
            seen += 1
    assert seen == sum(1 for e in range(0, 80, 2) if e in by_event) and seen > 0


@pytest.mark.parametrize("labels, message", [
    ([-1, 1, 0, 1], "negative labels"),
    ([0.5, 1.0, 0.0, 1.7], "non-integer labels"),
])
def test_bad_labels_are_refused_by_both_streaming_paths(tmp_path, labels, message):
    """As ``EventDataset`` does: no negative label reaches the loss, no fraction is cut to an integer."""
    import awkward as ak

    from pgjets.data import stream_event_batches
    from pgjets.errors import DataFileError

    muons = ak.Array([[{"pt": 20.0, "eta": 0.1, "phi": 0.2}]] * 4)
    path = tmp_path / "bad.parquet"
    ak.to_parquet(ak.zip({"Muon": muons, "label": np.array(labels)}, depth_limit=1), path)
    with pytest.raises(DataFileError, match=message):
        next(stream_event_batches(path, 2, collections=("Muon",)))
    with pytest.raises(DataFileError, match=message):
        StreamedEventDataset(path, collections=("Muon",))


def test_a_missing_label_field_is_named(tmp_path):
    import awkward as ak

    from pgjets.errors import DataFileError

    muons = ak.Array([[{"pt": 20.0, "eta": 0.1, "phi": 0.2}]] * 4)
    path = tmp_path / "no_target.parquet"
    ak.to_parquet(ak.zip({"Muon": muons, "label": np.array([0, 1, 0, 1])}, depth_limit=1), path)
    with pytest.raises(DataFileError, match=r"no event field 'target'.*\['Muon', 'label'\]"):
        StreamedEventDataset(path, collections=("Muon",), label="target")


def test_drop_empty_leaves_out_batches_of_empty_events_only(tmp_path):
    import awkward as ak

    counts = [0, 0, 0, 0, 1, 2, 0, 1, 0, 3]  # the first batch of 4 holds empty events only
    n = sum(counts)
    events = ak.zip({"Muon_pt": ak.unflatten(np.arange(1, n + 1, dtype=np.float32) * 10, counts),
                     "Muon_eta": ak.unflatten(np.zeros(n, np.float32), counts),
                     "Muon_phi": ak.unflatten(np.zeros(n, np.float32), counts),
                     "label": np.arange(10) % 2}, depth_limit=1)
    (tmp_path / "ev").mkdir()
    ak.to_parquet(events, tmp_path / "ev" / "ev.parquet")
    ds = StreamedEventDataset(tmp_path / "ev", collections=("Muon",), drop_empty=True, chunk_size=4, prefetch=False)
    batches = list(ds.batches(4))
    assert [b.event_index.tolist() for b in batches] == [[4, 5, 7], [9]]
    assert all(bool((b.ptr.diff() > 0).all()) for b in batches) and ds.num_dropped == 6


def _nanoaod_files(tmp_path, events, names=("ttbar", "wjets")):
    from pgjets.data import write_nanoaod

    return {name: write_nanoaod(events[events.label == i], tmp_path / f"{name}.root") for i, name in enumerate(names)}


def test_nanoaod_files_stream_with_one_class_per_file(events_dir, tmp_path):
    from pgjets.data import EventDataset

    events = read_events(events_dir)
    files = _nanoaod_files(tmp_path, events)
    ds = StreamedEventDataset({"wjets": files["wjets"], "ttbar": str(files["ttbar"])}, extra_fields=("btag",),
                              chunk_size=9, shuffle_chunks=2)
    assert ds.label_names == ["wjets", "ttbar"] and ds.num_classes == 2 and len(ds) == len(events)
    assert "wjets: 1 file, ttbar: 1 file" in repr(ds)
    # the same graphs as the events in memory, in file order (wjets first), with the class of each file
    order = np.r_[np.flatnonzero(ak_label(events) == 1), np.flatnonzero(ak_label(events) == 0)]
    ref = EventDataset.from_events(events[order], label=1 - ak_label(events)[order], extra_fields=("btag",))
    got = next(iter(ds.batches(len(ds))))
    assert torch.equal(got.y, ref.labels) and torch.equal(got.event_index, torch.arange(len(ds)))
    torch.testing.assert_close(got.x, ref.batch.x, rtol=0, atol=0)
    assert torch.equal(got.edge_index, ref.batch.edge_index)
    shuffled = torch.cat([b.y for b in ds.batches(7, shuffle=True, seed=1)])
    assert sorted(shuffled.tolist()) == sorted(ref.labels.tolist())


def ak_label(events):
    import awkward as ak

    return ak.to_numpy(events["label"])


def test_nanoaod_inputs_are_checked_when_the_dataset_is_built(events_dir, tmp_path):
    from pgjets.data import write_nanoaod
    from pgjets.data.event_dataset import hzz_path
    from pgjets.errors import DataArgumentError, DataFileError

    events = read_events(events_dir)
    files = _nanoaod_files(tmp_path, events)
    with pytest.raises(DataFileError, match="no branch 'label'.*--data CLASS=FILE"):
        StreamedEventDataset(files["ttbar"])  # a NanoAOD file holds no labels
    labelled = write_nanoaod(events, tmp_path / "labelled.root", drop=())  # one that does: used as is
    assert StreamedEventDataset(labelled).num_classes == 2
    with pytest.raises(DataArgumentError, match="tree 'Events' has no collection 'Tau' .*Tau_pt"):
        StreamedEventDataset({"a": files["ttbar"], "b": files["wjets"]}, collections=("Muon", "Tau"))
    with pytest.raises(DataArgumentError, match=r"no collection of \['Muon', 'Jet'\] has the object field 'btagg'"):
        StreamedEventDataset({"a": files["ttbar"]}, collections=("Muon", "Jet"), extra_fields=("btagg",))
    with pytest.raises(DataArgumentError, match="given for two classes, 'a' and 'b'"):
        StreamedEventDataset({"a": files["ttbar"], "b": [files["wjets"], files["ttbar"]]})
    twice = StreamedEventDataset({"a": [files["ttbar"], str(tmp_path / "tt*.root")], "b": files["wjets"]})
    assert len(twice) == len(events) and twice.class_counts() == [int((ak_label(events) == 0).sum()),
                                                                    int((ak_label(events) == 1).sum())]
    jets_only = StreamedEventDataset({"a": files["ttbar"]}, collections="Jet")  # one name, not its letters
    assert jets_only.collections == ("Jet",) and jets_only.class_counts() == [int((ak_label(events) == 0).sum())]
    with pytest.raises(DataFileError, match="no branch 'label'"):
        StreamedEventDataset(hzz_path())
    hzz = StreamedEventDataset({"hzz": hzz_path(), "tt": files["ttbar"]}, collections=("Muon", "Jet"))
    assert len(hzz) == 2421 + int((ak_label(events) == 0).sum())
    glob = StreamedEventDataset({"x": str(tmp_path / "*jets.root"), "y": files["ttbar"]})  # a quoted glob
    assert len(glob) == len(events) and glob.label_names == ["x", "y"]
    folder = tmp_path / "nano"
    folder.mkdir()
    write_nanoaod(events, folder / "part_0.root", drop=())
    write_nanoaod(events[:5], folder / "part_1.root", drop=())
    assert len(StreamedEventDataset(folder)) == len(events) + 5  # a folder of NanoAOD files


def test_locate_maps_event_positions_to_file_and_entry(events_dir, tmp_path):
    from pgjets.data import write_nanoaod

    events = read_events(events_dir)
    a = write_nanoaod(events[:7], tmp_path / "a.root", drop=())
    empty = write_nanoaod(events[:0], tmp_path / "b.root", drop=())
    c = write_nanoaod(events[7:12], tmp_path / "c.root", drop=())
    ds = StreamedEventDataset([a, empty, c], chunk_size=3)
    assert [f.name for f in ds.files] == ["a.root", "b.root", "c.root"] and len(ds) == 12
    file, entry = ds.locate([0, 6, 7, 11])
    assert file.tolist() == [0, 0, 2, 2] and entry.tolist() == [0, 6, 0, 4]  # the empty file owns none
    got = torch.cat([b.event_index for b in ds.batches(5)])
    assert got.tolist() == list(range(12))
    with pytest.raises(IndexError, match="0..11"):
        ds.locate([12])


@pytest.fixture
def count_opens(monkeypatch):
    """Every file ``uproot.open`` and ``pyarrow.parquet.ParquetFile`` opened, in order (``(path, handle)``)."""
    import pyarrow.parquet as pq
    import uproot

    opened = []
    real_open, real_parquet = uproot.open, pq.ParquetFile

    def root_open(path, *args, **kwargs):
        f = real_open(path, *args, **kwargs)
        opened.append((str(path), f))
        return f

    class CountedParquetFile(real_parquet):
        def __init__(self, path, *args, **kwargs):
            super().__init__(path, *args, **kwargs)
            opened.append((str(path), self))

    monkeypatch.setattr(uproot, "open", root_open)
    monkeypatch.setattr(pq, "ParquetFile", CountedParquetFile)
    return opened


def _pass(ds, **kw):
    batches = list(ds.batches(7, **kw))
    return torch.cat([b.event_index for b in batches]).tolist(), torch.cat([b.y for b in batches]).tolist()


def test_a_pass_opens_each_file_once_not_once_per_chunk(events_dir, tmp_path, count_opens):
    """Files stay open between chunks (at most ``open_files`` of them): the same events, labels and
    order as a dataset that reopens its file for every chunk, one open per file."""
    from pgjets.data.event_dataset import hzz_path

    files = _nanoaod_files(tmp_path, read_events(events_dir))
    inputs = [({"tt": files["ttbar"], "wj": files["wjets"]}, {}),  # NanoAOD, a class per file
              (events_dir, {}),  # parquet
              ({"hzz": hzz_path(), "tt": files["ttbar"]}, {"collections": ("Muon", "Jet"), "chunk_size": 500})]
    for path, kw in inputs:
        kw = {"chunk_size": 9, "shuffle_chunks": 2, **kw}
        one = StreamedEventDataset(path, open_files=1, **kw)  # reopens whenever the file changes
        ds = StreamedEventDataset(path, **kw)
        assert ds.open_files == 8 and one.open_files == 1 and ds.num_chunks > 2 * len(ds.files)
        count_opens.clear()
        first = _pass(ds, shuffle=True, seed=3)
        assert sorted(p for p, _ in count_opens) == sorted(str(f) for f in ds.files), path  # once per file
        count_opens.clear()
        unshuffled = _pass(ds)
        assert _pass(ds, shuffle=True, seed=3) == first and not count_opens  # still open: no more opens
        assert _pass(one, shuffle=True, seed=3) == first and _pass(one) == unshuffled and len(one._files) == 1
        assert len(count_opens) > len(ds.files)  # one open file only: reopened when the file changes
        evicted = [f for _, f in count_opens[:-1]]
        assert all(f.closed for f in evicted) and not count_opens[-1][1].closed
        ds.close()
        one.close()
        assert len(ds._files) == 0 and count_opens[-1][1].closed


def test_open_files_are_shared_by_subsets_not_by_copies(events_dir, tmp_path, count_opens, monkeypatch):
    import pickle

    import pgjets.data.event_dataset as event_dataset

    files = _nanoaod_files(tmp_path, read_events(events_dir))
    ds = StreamedEventDataset({"tt": files["ttbar"], "wj": files["wjets"]}, chunk_size=9, shuffle_chunks=2)
    want = _pass(ds, shuffle=True, seed=1)
    assert len(ds._files) == 2
    copy = pickle.loads(pickle.dumps(ds))  # as for DataLoader workers: the handles stay behind
    assert len(copy._files) == 0 and copy.open_files == ds.open_files
    count_opens.clear()
    assert _pass(copy, shuffle=True, seed=1) == want and len(count_opens) == 2 and len(ds._files) == 2
    # a subset (a split: train, validation, test) reads through the dataset's open files: no new opens
    sub = ds.subset(np.arange(0, 80, 3))
    assert sub._files is ds._files and len(sub._files) == 2
    count_opens.clear()
    got = _pass(sub, shuffle=True, seed=2)
    assert not count_opens and sorted(got[0]) == list(range(0, 80, 3))
    assert got == _pass(pickle.loads(pickle.dumps(sub)), shuffle=True, seed=2)  # a pickled subset: the same
    assert len(count_opens) == 2 and len(ds._files) == 2  # the pickled copy opened its own
    sub.close()  # closes the shared files: a later pass opens them again
    assert len(ds._files) == 0
    count_opens.clear()
    assert _pass(ds, shuffle=True, seed=1) == want and len(count_opens) == 2
    # a forked copy (another process id) opens its own files and leaves the parent's alone
    parent = list(ds._files._open.values())
    fresh = StreamedEventDataset({"tt": files["ttbar"], "wj": files["wjets"]})
    monkeypatch.setattr(event_dataset.os, "getpid", lambda: -1)
    count_opens.clear()
    assert _pass(ds) == _pass(fresh)
    assert len(count_opens) == 4 and not any(f.closed for f in parent) and len(ds._files) == 2


def test_a_bad_event_names_its_file_and_chunk_with_the_file_kept_open(tmp_path):
    import awkward as ak

    from pgjets.data import write_nanoaod
    from pgjets.errors import PgjetsError

    pt = np.arange(1, 21, dtype=np.float32) * 10
    pt[12] = np.nan
    counts = np.ones(20, dtype=np.int64)
    events = ak.zip({"Muon_pt": ak.unflatten(pt, counts), "Muon_eta": ak.unflatten(np.zeros(20, np.float32), counts),
                     "Muon_phi": ak.unflatten(np.zeros(20, np.float32), counts)}, depth_limit=1)
    path = write_nanoaod(events, tmp_path / "bad.root")
    ds = StreamedEventDataset({"a": path}, collections=("Muon",), chunk_size=5, prefetch=False)
    assert ds[3].pt.tolist() == [40.0] and len(ds._files) == 1  # the file is open now
    with pytest.raises(PgjetsError, match=r"bad\.root, events 10:15: .*NaN"):
        list(ds.batches(4))


def test_unlabelled_events_stream_with_y_minus_one(events_dir, tmp_path):
    from pgjets.data.event_dataset import event_file_has_labels
    from pgjets.errors import DataFileError

    events = read_events(events_dir)
    files = _nanoaod_files(tmp_path, events)
    assert not event_file_has_labels(files["ttbar"])  # NanoAOD: no label branch
    assert event_file_has_labels(next(events_dir.glob("*.parquet")))
    with pytest.raises(DataFileError, match="CLASS=FILE"):
        StreamedEventDataset([files["ttbar"], files["wjets"]])  # labels are needed unless label=None
    ds = StreamedEventDataset([files["ttbar"], files["wjets"]], label=None, chunk_size=9)
    assert len(ds) == len(events) and ds.label_names is None and ds.class_counts() is None
    ys = torch.cat([b.y for b in ds.batches(7, shuffle=True, seed=0)])
    assert ys.numel() == len(events) and (ys == -1).all()
    labelled = StreamedEventDataset({"ttbar": files["ttbar"], "wjets": files["wjets"]}, label=None)
    assert torch.cat([b.y for b in labelled.batches(50)]).min() == 0  # a mapping keeps its classes


def test_items_keep_their_event_index_when_pyg_batches_them(events_dir, tmp_path):
    """PyG shifts every attribute named *index* by the node count when it collates: event_index is not one."""
    from torch_geometric.data import Batch
    from torch_geometric.loader import DataLoader

    from pgjets.data import EventDataset

    events = read_events(events_dir)
    files = _nanoaod_files(tmp_path, events)
    ds = StreamedEventDataset({"ttbar": files["ttbar"], "wjets": files["wjets"]}, chunk_size=9)
    loader = next(iter(DataLoader(ds, batch_size=5)))
    ours = next(iter(ds.batches(5)))
    assert torch.equal(loader.event_index, torch.arange(5)) and torch.equal(ours.event_index, torch.arange(5))
    assert torch.equal(loader.x, ours.x) and torch.equal(loader.edge_index, ours.edge_index)
    memory = EventDataset.from_events(events[:6], label=ak_label(events)[:6])
    assert torch.equal(Batch.from_data_list([memory[i] for i in range(3)]).event_index, torch.arange(3))


def test_event_ids_come_from_the_files_that_have_them(events_dir, tmp_path):
    """run, luminosityBlock, event of scored events, from parquet fields and ROOT branches alike;
    generated events have only ``event``, and a field missing from one file is left out for all."""
    import awkward as ak

    from pgjets.data import write_nanoaod

    events = read_events(events_dir)
    n = len(events)
    ids = {"run": np.full(n, 7, np.uint32), "event": np.arange(n, dtype=np.uint64) + 2**40}
    with_ids = events
    for name, values in ids.items():
        with_ids = ak.with_field(with_ids, values, name)
    ak.to_parquet(with_ids[: n // 2], tmp_path / "a.parquet")
    write_nanoaod(with_ids[n // 2:], tmp_path / "b.root", drop=())
    ds = StreamedEventDataset([tmp_path / "a.parquet", tmp_path / "b.root"])
    index = np.array([0, 3, n // 2, n - 1])
    got = ds.event_ids(index)
    assert set(got) == {"run", "event"}  # no luminosityBlock in these files
    assert got["event"].dtype == np.uint64 and np.array_equal(got["event"], ids["event"][index])
    assert np.array_equal(got["run"], ids["run"][index])
    assert set(StreamedEventDataset(events_dir).event_ids(index)) == {"event"}  # generated: event only
    ak.to_parquet(ak.without_field(events, "event")[: n // 2], tmp_path / "c.parquet")  # one file without them:
    assert StreamedEventDataset([tmp_path / "c.parquet", tmp_path / "b.root"]).event_ids(index) == {}  # none


def test_file_accessors_tell_each_files_class_kind_and_positions(events_dir, tmp_path):
    events = read_events(events_dir)
    files = _nanoaod_files(tmp_path, events)
    ds = StreamedEventDataset({"wjets": files["wjets"], "ttbar": files["ttbar"]})
    n_w = int((ak_label(events) == 1).sum())
    assert [ds.file_class(i) for i in range(2)] == [0, 1] and [ds.file_kind(i) for i in range(2)] == ["nanoaod"] * 2
    assert ds.file_positions(0).tolist() == list(range(n_w))
    assert ds.file_positions(1).tolist() == list(range(n_w, len(ds)))
    generated = StreamedEventDataset(events_dir)
    assert generated.file_class(0) is None and generated.file_kind(0) == "parquet"
