from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from pgjets.data import FEATURE_NAMES, JetDataset, write_jets, write_parquet_jets, JetTable
from pgjets.data.jet_io import write_manifest
from pgjets.errors import DataFileError, DataFileNotFoundError, EmptyGraphError, UsageError


def random_table(n_jets=12, seed=0, min_n=3, max_n=9):
    rng = np.random.default_rng(seed)
    counts = rng.integers(min_n, max_n + 1, n_jets)
    P = int(counts.sum())
    pt = rng.uniform(1, 50, P)
    eta, phi = rng.normal(0, 0.3, P), rng.normal(-1.0, 0.3, P)
    return JetTable(
        px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
        offsets=np.r_[0, np.cumsum(counts)], label=rng.integers(0, 3, n_jets),
        pdgid=rng.choice([211, -211, 22, 130, 11, -13], P), label_names=["a", "b", "c"],
    )


@pytest.fixture()
def folder(tmp_path):
    """A generated-format folder: three chunk files and a manifest."""
    d = tmp_path / "gen"
    d.mkdir()
    tables = [random_table(n, seed=s) for n, s in ((10, 1), (7, 2), (12, 3))]
    names = []
    for i, t in enumerate(tables):
        write_jets(t, d / f"chunk{i}.h5")
        names.append(f"chunk{i}.h5")
    write_manifest(d, {"files": names, "label_names": ["a", "b", "c"]})
    return d, JetTable.concat(tables)


def same_graph(a, b, edges=True):
    assert torch.allclose(a.x, b.x) and torch.allclose(a.pos, b.pos)
    assert torch.allclose(a.pt, b.pt) and torch.equal(a.y, b.y)
    if edges:
        ea = set(map(tuple, a.edge_index.t().tolist()))
        eb = set(map(tuple, b.edge_index.t().tolist()))
        assert ea == eb


def test_generated_folder_items_and_metadata(folder):
    d, full = folder
    ds = JetDataset(d, representation="cloud", k=4, cache_chunks=2)
    assert len(ds) == 29 and ds.num_chunks == 3
    assert ds.num_classes == 3 and ds.label_names == ["a", "b", "c"]
    assert ds.num_features == len(FEATURE_NAMES["particlenet"])
    g = ds[12]  # second chunk, local jet 2
    n = int(full.n_constituents[12])
    assert g.x.shape == (n, ds.num_features) and g.pos.shape == (n, 2) and g.p4.shape == (n, 4)
    assert g.edge_index.shape[1] == n * min(4, n - 1) and int(g.y) == int(full.label[12])
    np.testing.assert_allclose(g.pt.numpy(), np.hypot(full.px, full.py)[full.offsets[12]:full.offsets[13]], rtol=1e-5)
    assert torch.equal(ds[-1].y, ds[28].y)
    with pytest.raises(IndexError):
        ds[29]


def test_streaming_keeps_a_bounded_number_of_chunks(folder):
    d, _ = folder
    ds = JetDataset(d, k=3, cache_chunks=1)
    for i in range(len(ds)):
        ds[i]
        assert len(ds.cached_chunks) <= 1
    assert ds.cached_chunks == [2]
    ds2 = JetDataset(d, k=3, cache_chunks=2)
    seen = []
    for batch in ds2.batches(4, shuffle=True, seed=1):
        seen.append(batch.y)
        assert len(ds2.cached_chunks) <= 2
    assert sum(t.numel() for t in seen) == 29


@pytest.mark.parametrize("rep,k", [("cloud", 5), ("cloud", None), ("set", None)])
def test_batches_match_items(folder, rep, k):
    d, _ = folder
    ds = JetDataset(d, representation=rep, k=k)
    batches = list(ds.batches(6))
    assert len(batches) == ds.num_batches(6) == 5  # 29 jets: batches span chunk ends
    items = [g for b in batches for g in b.to_data_list()]
    assert len(items) == len(ds)
    for i in (0, 5, 11, 17, 28):
        same_graph(items[i], ds[i], edges=k is not None or rep == "set")
    if rep == "set":
        n = ds[0].num_nodes
        assert ds[0].edge_index.shape[1] == n * (n - 1)
    if k is None and rep == "cloud":
        assert "edge_index" not in ds[0]


def test_shuffle_is_seeded_and_a_permutation(folder):
    d, full = folder
    ds = JetDataset(d, k=None)
    key = lambda b: [round(float(v), 4) for v in b.pt[b.ptr[:-1]]]  # noqa: E731 - first pt of each jet
    a = [x for b in ds.batches(5, shuffle=True, seed=3) for x in key(b)]
    b = [x for b in ds.batches(5, shuffle=True, seed=3) for x in key(b)]
    c = [x for b in ds.batches(5, shuffle=False) for x in key(b)]
    assert a == b and a != c and sorted(a) == sorted(c)
    dropped = list(ds.batches(5, drop_last=True))
    assert all(b.num_graphs == 5 for b in dropped) and len(dropped) == ds.num_batches(5, drop_last=True) == 5


def test_from_table_and_image_representation():
    t = random_table(9, seed=5)
    ds = JetDataset.from_table(t, representation="cloud", k=3)
    assert len(ds) == 9 and ds.num_classes == 3
    b = next(ds.batches(9))
    assert b.num_graphs == 9 and b.x.shape[0] == int(t.n_constituents.sum())
    img = JetDataset.from_table(t, representation="image", npix=10)
    g = img[4]
    assert g.x.shape[1] == 1 and g.pos.shape[1] == 2 and int(g.y) == int(t.label[4])
    assert torch.all(g.x > 0)  # drop_zeros
    assert abs(float(g.x.sum()) - 1.0) < 1e-4  # normalised image
    batch = next(img.batches(9))
    assert batch.num_graphs == 9 and torch.equal(batch.y, torch.from_numpy(t.label))
    same_graph_img = batch.get_example(4)
    assert torch.allclose(same_graph_img.x, g.x)


def test_public_formats(tmp_path):
    t = random_table(11, seed=7)
    pq = write_parquet_jets(t, tmp_path / "j.parquet", row_group_size=3)
    ds = JetDataset(pq, k=2, chunk_size=4, cache_chunks=1)
    assert len(ds) == 11 and ds.num_chunks == 3 and ds.label_names == ["a", "b", "c"]
    ref = JetDataset.from_table(t, k=2)
    for i in (0, 4, 10):
        same_graph(ds[i], ref[i])
    path = tmp_path / "img.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["images"] = rng.random((6, 2, 5, 5)).astype(np.float32)
        f["labels"] = np.array([0, 1, 0, 1, 1, 0])
    ids = JetDataset(path, representation="image", chunk_size=4)
    assert len(ids) == 6 and ids.num_features == 2 and ids.num_classes == 2
    assert ids[5].x.shape == (25, 2) and int(ids[5].y) == 0
    assert sum(b.num_graphs for b in ids.batches(3)) == 6
    with pytest.raises(UsageError, match="representation='image'"):
        JetDataset(path, representation="cloud")
    # through the CLI's opener: a one-line error naming the file and the models that read images
    from pgjets.data.inputs import open_dataset

    with pytest.raises(UsageError, match=r"img.h5 holds jet images, but model 'particlenet'.*\(gridcnn\)"):
        open_dataset([str(path)], "particlenet", "particlenet")
    assert len(open_dataset([str(path)], "gridcnn", "particlenet")) == 6


def test_errors(tmp_path, folder):
    with pytest.raises(DataFileNotFoundError):
        JetDataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="representation"):
        JetDataset(folder[0], representation="voxels")
    with pytest.raises(ValueError, match="feature_set"):
        JetDataset(folder[0], feature_set="everything")
    with pytest.raises(ValueError, match="k"):
        JetDataset(folder[0], k=0)
    with pytest.raises(ValueError, match="batch_size"):
        next(JetDataset(folder[0]).batches(0))
    empty = JetTable(px=[1.0], py=[0.0], pz=[0.0], E=[1.0], offsets=[0, 1, 1], label=[0, 1])
    with pytest.raises(EmptyGraphError):
        JetDataset.from_table(empty)
    nomani = tmp_path / "incomplete"
    nomani.mkdir()
    with pytest.raises(DataFileError, match="manifest"):
        JetDataset(nomani)


@pytest.mark.slow
def test_real_generated_dataset(tmp_path):
    from pgjets.data import generate_dataset

    out = generate_dataset(["qcd", "top"], 12, tmp_path / "gen", seed=3, fast=True, chunk_size=5, progress=False)
    ds = JetDataset(out, k=8, cache_chunks=2)
    assert len(ds) == 24 and ds.num_classes == 2 and ds.label_names == ["qcd", "top"]
    batches = list(ds.batches(4, shuffle=True, seed=0))
    assert sum(b.num_graphs for b in batches) == 24 and len(ds.cached_chunks) <= 2
    labels = torch.cat([b.y for b in batches])
    assert sorted(labels.tolist()) == [0] * 12 + [1] * 12
    for b in batches:
        assert torch.isfinite(b.x).all() and (b.pos.abs() < 4).all()


def test_all_zero_image_is_named_with_its_row_in_the_file(tmp_path):
    path = tmp_path / "img.h5"
    images = np.random.default_rng(1).random((7, 1, 4, 4)).astype(np.float32)
    images[5] = 0.0
    with h5py.File(path, "w") as f:
        f["images"] = images
        f["labels"] = np.zeros(7, dtype=np.int64)
    ds = JetDataset(path, representation="image", chunk_size=4)
    assert ds[4].x.shape[0] == 16
    with pytest.raises(EmptyGraphError, match=r"img\.h5: image 5 is all zero"):
        ds[5]
    with pytest.raises(EmptyGraphError, match="image 5"):
        list(ds.batches(3))


def test_a_jet_outside_its_image_is_named_with_its_row(tmp_path):
    """Two prongs at eta = +-1 about a centroid at 0: nothing inside R = 0.8, a blank image. The batch
    error names the jet's row in its file (it named the position in a shuffled batch)."""
    import warnings

    def table(jets, labels):
        cols, counts = [[], [], [], []], []
        for pt, eta, phi in jets:
            pt, eta, phi = (np.asarray(v, dtype=np.float64) for v in (pt, eta, phi))
            for c, v in zip(cols, (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta))):
                c.extend(v)
            counts.append(len(pt))
        return JetTable(*[np.array(c, np.float32) for c in cols], np.concatenate([[0], np.cumsum(counts)]),
                        np.array(labels))

    t = table([([10, 5], [0.1, 0.2], [0, 0.1]), ([3, 4], [0, 0.1], [0.1, 0]), ([10, 10], [-1.0, 1.0], [0, 0])],
              [0, 0, 1])
    path = write_parquet_jets(t, tmp_path / "wide.parquet")
    ds = JetDataset(path, representation="image", npix=20, R=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jet_image warns about the blank image itself
        assert ds[1].num_nodes == 2
        with pytest.raises(EmptyGraphError, match=r"wide\.parquet: jet 2 has no constituent inside its 20x20 "
                                                  r"image \(half-width R=0\.8"):
            list(ds.batches(3, shuffle=True, seed=1))


# ------------------------------------------------------ streaming many sources
def sorted_landscape(tmp_path, n=240, name="sorted.h5", fmt="fixed"):
    """A landscape file whose first half is QCD and second half top (label-sorted), jets told apart by pT."""
    from pgjets.data import write_top_landscape

    t = random_table(n, seed=21, min_n=2, max_n=5)
    t.label = (np.arange(n) >= n // 2).astype(np.int64)
    t.label_names, t.pdgid = ["qcd", "top"], None
    return write_top_landscape(t, tmp_path / name, format=fmt, n_part=5), t


def jet_keys(batch):
    """A per-jet key: the summed pT of its constituents (distinct for random jets)."""
    from torch_geometric.utils import scatter

    return [round(v, 3) for v in scatter(batch.pt.double(), batch.batch, reduce="sum").tolist()]


def test_an_epoch_over_a_label_sorted_file_gives_mixed_batches_and_every_jet_once(tmp_path):
    path, t = sorted_landscape(tmp_path)
    ds = JetDataset(path, k=None, chunk_size=10, shuffle_chunks=8)  # 24 chunks, 8 mixed at a time
    assert ds.num_chunks == 24 and ds.label_names == ["qcd", "top"]
    ref = JetDataset.from_table(t, k=None)
    expected = sorted(jet_keys(next(ref.batches(len(t)))))
    for epoch in range(3):
        batches = list(ds.batches(16, shuffle=True, seed=epoch))
        assert len(batches) == ds.num_batches(16) == 15
        assert sorted(k for b in batches for k in jet_keys(b)) == expected  # each jet exactly once
        fractions = [float(b.y.float().mean()) for b in batches]
        assert all(0.0 < f < 1.0 for f in fractions), fractions  # never a batch of one class
    unshuffled = [float(b.y.float().mean()) for b in ds.batches(16)]
    assert unshuffled[0] == 0.0 and unshuffled[-1] == 1.0  # file order: the sorting shows


def test_many_sources_one_dataset_and_disjoint_rank_shares(tmp_path):
    a, ta = sorted_landscape(tmp_path, 50, "a.h5", "fixed")
    b, tb = sorted_landscape(tmp_path, 37, "b.h5", "table")
    ds = JetDataset(str(tmp_path / "*.h5"), k=None, chunk_size=8)
    assert len(ds) == 87 and ds.format == "landscape" and len(ds.sources) == 2
    assert "2 landscape sources" in repr(ds)
    world, bs = 3, 5
    for epoch in range(2):
        shares = [[k for bt in ds.batches(bs, shuffle=True, seed=epoch, rank=r, world_size=world)
                   for k in jet_keys(bt)] for r in range(world)]
        steps = ds.num_batches(bs, world_size=world)
        assert steps == (87 // 3) // 5 == 5
        assert all(len(s) == steps * bs for s in shares)  # equal steps on every rank
        flat = [k for s in shares for k in s]
        assert len(set(flat)) == len(flat)  # no jet twice in an epoch across ranks
        assert 87 - len(flat) < world * bs + world  # less than one batch (+ W-1 jets) per rank left out
    first = [jet_keys(bt) for bt in ds.batches(bs, shuffle=True, seed=0, rank=0, world_size=world)]
    again = [jet_keys(bt) for bt in ds.batches(bs, shuffle=True, seed=1, rank=0, world_size=world)]
    assert first != again  # reshuffled per epoch
    mem = JetDataset.from_table(ta, k=None, chunk_size=10)
    s0 = {k for bt in mem.batches(4, shuffle=True, seed=0, rank=0, world_size=2) for k in jet_keys(bt)}
    s1 = {k for bt in mem.batches(4, shuffle=True, seed=0, rank=1, world_size=2) for k in jet_keys(bt)}
    assert not s0 & s1 and len(s0) == len(s1) == 24
    with pytest.raises(ValueError, match="rank"):
        next(ds.batches(4, rank=3, world_size=3))


def test_sources_that_disagree_are_refused_naming_both(tmp_path):
    from pgjets.data import write_jetclass

    land, _ = sorted_landscape(tmp_path, 12, "land.h5")
    t = random_table(12, seed=5)
    t.label = t.label % 2
    t.label_names = ["QCD", "Tbqq"]
    jc = write_jetclass(t, tmp_path / "jc.root")
    assert JetDataset([jc], k=None).feature_names == FEATURE_NAMES["particlenet"]
    # refused when opened (one jet of the other format is read), not when training reaches it
    with pytest.raises(DataFileError, match=r"land.h5 provides the input columns deta, .*delta_r but .*jc.root"):
        JetDataset([jc, land], k=None, chunk_size=6)
    with pytest.raises(DataFileError, match=r"land.h5 has the classes \['qcd', 'top'\] but .*jc.root"):
        JetDataset([jc, land], k=None, chunk_size=6, feature_set="kinematic")


def test_subset_streams_only_the_selected_jets(folder):
    d, full = folder
    ds = JetDataset(d, k=None, chunk_size=4)
    idx = np.array([27, 0, 5, 6, 13, 13, 20])
    sub = ds.subset(idx)
    assert len(sub) == 6 and len(ds) == 29
    want = sorted(set(idx.tolist()))
    for i, j in enumerate(want):
        same_graph(sub[i], ds[j], edges=False)
    got = torch.cat([b.y for b in sub.batches(4)])
    assert got.tolist() == full.label[want].tolist()
    shuffled = torch.cat([b.y for b in sub.batches(4, shuffle=True, seed=2)])
    assert sorted(shuffled.tolist()) == sorted(full.label[want].tolist())
    subsub = sub.subset([1, 5])  # positions within the subset
    same_graph(subsub[1], ds[27], edges=False)
    mem = JetDataset.from_table(full, k=None).subset(want)
    same_graph(mem[3], ds[want[3]], edges=False)
    with pytest.raises(IndexError):
        ds.subset([29])


def test_a_mix_of_formats_with_other_inputs_is_refused_when_opened(tmp_path, monkeypatch):
    """Top (no PID) next to quark/gluon (PID columns): refused at construction, not when training
    reaches the second file."""
    from pgjets.data import write_quark_gluon, write_top_landscape

    top_jets = random_table(6, seed=1)
    top_jets.label, top_jets.label_names = top_jets.label % 2, ["qcd", "top"]
    top = write_top_landscape(top_jets, tmp_path / "top.h5", n_part=10)
    qg = random_table(5, seed=2)
    qg.label, qg.label_names = qg.label % 2, ["gluon", "quark"]
    qg_path = write_quark_gluon(qg, tmp_path / "qg.npz")
    loaded = []
    monkeypatch.setattr(JetDataset, "_chunk", lambda self, i, _orig=JetDataset._chunk: (loaded.append(i), _orig(self, i))[1])
    with pytest.raises(DataFileError, match=r"qg.npz provides the input columns .*is_charged_hadron.* but .*top.h5"):
        JetDataset([str(top), str(qg_path)], k=2)
    assert loaded == [0]  # only the first chunk was loaded: the check read one jet of the npz
    top2 = write_top_landscape(top_jets, tmp_path / "top2.h5", n_part=10)
    assert len(JetDataset([str(top), str(top2)], k=2)) == 12  # one format: nothing extra is read


def test_rank_shares_of_one_class_per_file_data_mix_both_classes(tmp_path):
    """pgjets generate writes qcd_*.h5 and top_*.h5: every rank must see both classes in every epoch."""
    from pgjets.data import write_top_landscape

    for label, name in ((0, "qcd_00000.h5"), (1, "top_00000.h5")):
        t = random_table(40, seed=30 + label, min_n=2, max_n=5)
        t.label = np.full(40, label, dtype=np.int64)
        t.label_names, t.pdgid = ["qcd", "top"], None
        write_top_landscape(t, tmp_path / name, n_part=5)
    ds = JetDataset(str(tmp_path / "*.h5"), k=None)  # two chunks, one class each
    for epoch in range(3):
        for rank in range(2):
            labels = torch.cat([b.y for b in ds.batches(8, shuffle=True, seed=epoch, rank=rank, world_size=2)])
            assert labels.numel() == 40 and 0.2 < float(labels.float().mean()) < 0.8
    mem = JetDataset.from_table(JetTable.concat([
        random_table(30, seed=1), random_table(30, seed=2)]), k=None)  # in memory, rows sorted by source
    mem_labels = torch.cat([b.y for b in mem.batches(6, shuffle=True, seed=0, rank=0, world_size=2)])
    assert mem_labels.numel() == 30


def test_classes_present_reads_label_columns_and_stops_when_enough_are_seen(tmp_path, folder, monkeypatch):
    import pgjets.data.readers as readers

    d, table = folder
    ds = JetDataset(d, k=None)
    assert ds.classes_present() == sorted(set(table.label.tolist()))
    reads = []
    real = readers.read_rows
    monkeypatch.setattr(readers, "read_rows", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    fresh = JetDataset(d, k=None)
    fresh._cache.clear()
    reads.clear()
    assert len(fresh.classes_present(at_least=2)) >= 2 and len(reads) == 1  # the first chunk has them
    assert not fresh.cached_chunks  # no graph or feature built, nothing cached
    sub = fresh.subset(np.flatnonzero(table.label == 1))  # a split of one class
    assert sub.classes_present(at_least=2) == [1]
    mem = JetDataset.from_table(table, k=None).subset(np.flatnonzero(table.label == 2))
    assert mem.classes_present() == [2]
