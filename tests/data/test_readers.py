from __future__ import annotations

import json

import awkward as ak
import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import uproot

from pgjets.data import (
    write_jets, detect_format, open_jets, read_jet_images, read_jetclass, read_parquet_jets,
    read_top_landscape, write_parquet_jets, JetTable,
)
from pgjets.data.jet_io import write_manifest
from pgjets.data.readers import JETCLASS_LABELS, _row_groups, count_rows, read_rows
from pgjets.errors import DataFileError, DataFileNotFoundError, EmptyGraphError


def random_table(n_jets=6, seed=0, pid=True, min_n=1, max_n=7):
    rng = np.random.default_rng(seed)
    counts = rng.integers(min_n, max_n + 1, n_jets)
    P = int(counts.sum())
    pt = rng.uniform(1, 50, P)
    eta, phi = rng.normal(0, 0.3, P), rng.normal(0.5, 0.3, P)
    off = np.r_[0, np.cumsum(counts)]
    return JetTable(
        px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta) + 0.1,
        offsets=off, label=rng.integers(0, 2, n_jets),
        pdgid=rng.choice([211, -211, 22, 130, 11], P) if pid else None,
        charge=None, label_names=["qcd", "top"],
    )


# ------------------------------------------------------------- landscape
def write_landscape(path, table, n_part=5, ttv=True):
    n = len(table)
    data = {}
    for c, arr in (("E", table.E), ("PX", table.px), ("PY", table.py), ("PZ", table.pz)):
        pad = np.zeros((n, n_part), np.float32)
        for j in range(n):
            a, b = table.offsets[j], table.offsets[j + 1]
            pad[j, : b - a] = arr[a:b]
        for i in range(n_part):
            data[f"{c}_{i}"] = pad[:, i]
    data["is_signal_new"] = table.label
    if ttv:
        data["ttv"] = np.zeros(n, dtype=np.int64)
    pd.DataFrame(data).to_hdf(path, key="table", format="table")


def test_landscape_round_trip_and_ranges(tmp_path):
    t = random_table(8, pid=False, max_n=5)
    path = tmp_path / "top.h5"
    write_landscape(path, t)
    got = read_top_landscape(path)
    np.testing.assert_array_equal(got.offsets, t.offsets)
    np.testing.assert_allclose(got.px, t.px, rtol=1e-6)
    np.testing.assert_allclose(got.E, t.E, rtol=1e-6)
    np.testing.assert_array_equal(got.label, t.label)
    assert got.label_names == ["qcd", "top"] and "ttv" in got.extra
    part = read_top_landscape(path, start=2, stop=5)
    ref = t.slice(2, 5)
    np.testing.assert_array_equal(part.offsets, ref.offsets)
    np.testing.assert_allclose(part.pz, ref.pz, rtol=1e-6)
    assert detect_format(path) == "landscape" and count_rows(path) == 8
    assert len(open_jets(path, start=1, stop=3)) == 2


def test_landscape_missing_columns_and_empty_jets(tmp_path):
    t = random_table(3, pid=False, max_n=4)
    path = tmp_path / "bad.h5"
    df = pd.DataFrame({f"E_{i}": np.ones(3, np.float32) for i in range(2)})
    df.to_hdf(path, key="table", format="table")
    with pytest.raises(DataFileError, match="PX_0"):
        read_top_landscape(path)
    # a jet with all-zero padding
    path2 = tmp_path / "empty.h5"
    write_landscape(path2, JetTable.concat([t, JetTable(px=[], py=[], pz=[], E=[], offsets=[0, 0], label=[0])]),
                    n_part=4)
    with pytest.raises(EmptyGraphError, match="drop_empty"):
        read_top_landscape(path2)
    kept = read_top_landscape(path2, drop_empty=True)
    assert len(kept) == 3
    np.testing.assert_allclose(kept.E, t.E, rtol=1e-6)


# -------------------------------------------------------------- JetClass
def write_jetclass(path, table, labels=JETCLASS_LABELS, ttree=False, drop=(), edit=None):
    """A JetClass-layout file: an RNTuple (uproot's ``f[name] = dict``) or, with ``ttree``, a TTree as
    the published files are (``mktree`` + ``extend``, one counter branch per jagged branch)."""
    counts = table.n_constituents
    jag = lambda a: ak.unflatten(np.asarray(a, dtype=np.float32), counts)  # noqa: E731
    pid = np.abs(table.pdgid)
    charge = np.where(np.isin(pid, (211,)), np.sign(table.pdgid), 0)
    charge = np.where(pid == 11, -np.sign(table.pdgid), charge)
    branches = {
        "part_px": jag(table.px), "part_py": jag(table.py), "part_pz": jag(table.pz),
        "part_energy": jag(table.E), "part_charge": jag(charge),
        "part_isChargedHadron": jag(pid == 211), "part_isNeutralHadron": jag(pid == 130),
        "part_isPhoton": jag(pid == 22), "part_isElectron": jag(pid == 11), "part_isMuon": jag(pid == 13),
    }
    for i, name in enumerate(labels):
        branches[f"label_{name}"] = (table.label == i)
    branches = {k: v for k, v in branches.items() if k not in drop}
    if edit is not None:
        edit(branches)
    with uproot.recreate(path) as f:
        if not ttree:
            f["tree"] = branches
            return
        f.mktree("tree", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()})
        f["tree"].extend(branches)


@pytest.mark.parametrize("ttree", [False, True], ids=["rntuple", "ttree"])
def test_jetclass_round_trip(tmp_path, ttree):
    t = random_table(7, seed=3)
    path = tmp_path / "jc.root"
    write_jetclass(path, t, ttree=ttree)
    assert type(uproot.open(path)["tree"]).__name__.startswith("Model_TTree" if ttree else "Model_ROOT")
    got = read_jetclass(path)
    np.testing.assert_array_equal(got.offsets, t.offsets)
    np.testing.assert_allclose(got.py, t.py, rtol=1e-6)
    np.testing.assert_array_equal(got.label, t.label)
    assert got.label_names == JETCLASS_LABELS
    # the PID flags and charge recover the signed PDG ids
    np.testing.assert_array_equal(got.pdgid, t.pdgid)
    part = read_jetclass(path, start=3, stop=6)
    np.testing.assert_array_equal(part.offsets, t.slice(3, 6).offsets)
    assert detect_format(path) == "jetclass" and count_rows(path) == 7


def test_jetclass_errors(tmp_path):
    t = random_table(3, seed=4)
    path = tmp_path / "nolabel.root"
    with uproot.recreate(path) as f:
        f["tree"] = {"part_px": ak.unflatten(t.px, t.n_constituents)}
    with pytest.raises(DataFileError, match="part_py"):
        read_jetclass(path)
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"this is not a root file" * 10)
    with pytest.raises(DataFileError):
        read_jetclass(garbage)
    good = tmp_path / "good.root"
    write_jetclass(good, random_table(50, seed=5))
    raw = good.read_bytes()
    trunc = tmp_path / "trunc.root"
    trunc.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError):
        read_jetclass(trunc)


# ------------------------------------------------------------- jet images
def test_jet_images(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "img.h5"
    with h5py.File(path, "w") as f:
        f["images"] = rng.random((5, 4, 4)).astype(np.float32)
        f["labels"] = np.eye(3)[[0, 2, 1, 1, 0]]
    img, lab = read_jet_images(path, start=1, stop=4)
    assert img.shape == (3, 1, 4, 4) and img.dtype == torch.float32
    assert lab.tolist() == [2, 1, 1]
    assert detect_format(path) == "images"
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["images"] = np.zeros((2, 4, 4))
    with pytest.raises(DataFileError, match="labels"):
        read_jet_images(bad)


# --------------------------------------------------------------- parquet
def test_parquet_round_trip(tmp_path):
    t = random_table(9, seed=6)
    t.extra["truth_pt"] = np.arange(9, dtype=np.float32)
    path = write_parquet_jets(t, tmp_path / "jets.parquet", row_group_size=4)
    got = read_parquet_jets(path)
    np.testing.assert_array_equal(got.offsets, t.offsets)
    np.testing.assert_allclose(got.E, t.E)
    np.testing.assert_array_equal(got.pdgid, t.pdgid)
    assert got.label_names == ["qcd", "top"]
    np.testing.assert_allclose(got.extra["truth_pt"], np.arange(9))
    part = read_parquet_jets(path, start=3, stop=7)  # spans two row groups
    ref = t.slice(3, 7)
    np.testing.assert_array_equal(part.offsets, ref.offsets)
    np.testing.assert_allclose(part.px, ref.px)
    np.testing.assert_array_equal(part.label, ref.label)
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(DataFileError, match="lacks the fields particles"):
        read_parquet_jets(path, field="particles")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 garbage")
    with pytest.raises(DataFileError):
        read_parquet_jets(tmp_path / "junk.parquet")


def test_parquet_jets_without_labels_are_read_unlabelled_only_when_asked(tmp_path):
    import pyarrow.parquet as pq

    from pgjets.data import JetDataset, parquet_has_labels
    from pgjets.data.readers import read_rows

    t = random_table(9, seed=7)
    path = write_parquet_jets(t, tmp_path / "jets.parquet", row_group_size=4)
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(path).drop(["label"]).replace_schema_metadata(None), bare)
    assert parquet_has_labels(path) and not parquet_has_labels(bare)
    with pytest.raises(DataFileError, match="lacks the fields label.*pgjets evaluate RUN --data"):
        read_parquet_jets(bare)
    got = read_parquet_jets(bare, start=2, stop=8, label_field=None)
    ref = t.slice(2, 8)
    np.testing.assert_array_equal(got.offsets, ref.offsets)
    np.testing.assert_allclose(got.px, ref.px)
    assert (got.label == -1).all() and got.label.shape == (6,) and got.label_names is None
    # a labelled file read unlabelled forgets its labels and class names alike
    unl = read_rows(path, None, None, "parquet", labelled=False)
    assert (unl.label == -1).all() and unl.label_names is None
    write_jets(t, tmp_path / "jets.h5")
    with pytest.raises(DataFileError, match="only parquet and PFNano jet files are read without labels"):
        read_rows(tmp_path / "jets.h5", labelled=False)
    ds = JetDataset(bare, k=3, labelled=False, chunk_size=4)
    assert len(ds) == 9 and ds.label_names is None and ds.num_classes == 0
    batch = next(ds.batches(9))
    assert batch.y.tolist() == [-1] * 9 and int(ds[5].y) == -1


# --------------------------------------------------------------- dispatch
def test_open_jets_dispatch_and_missing(tmp_path):
    with pytest.raises(DataFileNotFoundError):
        open_jets(tmp_path / "nope.h5")
    with pytest.raises(DataFileNotFoundError):
        read_top_landscape(tmp_path / "nope.h5")
    folder = tmp_path / "gen"
    folder.mkdir()
    a, b = random_table(4, seed=7), random_table(5, seed=8)
    write_jets(a, folder / "a.h5")
    write_jets(b, folder / "b.h5")
    write_manifest(folder, {"files": ["a.h5", "b.h5"], "label_names": ["qcd", "top"]})
    assert detect_format(folder) == "generated"
    got = open_jets(folder)
    assert len(got) == 9
    np.testing.assert_allclose(got.px, np.concatenate([a.px, b.px]))
    mid = open_jets(folder, start=3, stop=6)
    np.testing.assert_allclose(mid.E, JetTable.concat([a, b]).slice(3, 6).E)
    assert detect_format(folder / "a.h5") == "jetfile" and len(open_jets(folder / "a.h5")) == 4
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataFileError, match="first bytes"):
        open_jets(tmp_path / "x.txt")
    (tmp_path / "corrupt.h5").write_bytes(b"\x89HDF\r\n garbage")
    with pytest.raises(DataFileError):
        open_jets(tmp_path / "corrupt.h5")
    with pytest.raises(ValueError, match="format"):
        open_jets(folder, format="csv")
    assert json.loads((folder / "manifest.json").read_text())["files"] == ["a.h5", "b.h5"]


# ------------------------------------------- landscape: fixed == table, checks
@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_landscape_both_pandas_formats_count_stream_and_read_identically(tmp_path, fmt):
    from pgjets.data import write_top_landscape

    t = random_table(9, seed=11, pid=False, max_n=6)
    path = tmp_path / f"{fmt}.h5"
    write_top_landscape(t, path, format=fmt, n_part=8)
    assert detect_format(path) == "landscape" and count_rows(path) == 9
    whole = read_top_landscape(path)
    parts = JetTable.concat([read_top_landscape(path, a, min(a + 4, 9)) for a in range(0, 9, 4)])
    for got in (whole, parts):
        np.testing.assert_array_equal(got.n_constituents, t.n_constituents)
        np.testing.assert_array_equal(got.label, t.label)
        # the writer orders particles by decreasing pT: compare per-jet sums
        np.testing.assert_allclose(got.jet_p4(), t.jet_p4(), rtol=1e-5)


def test_landscape_refuses_nan_and_negative_energies_and_bad_labels(tmp_path):
    t = random_table(4, seed=2, pid=False, max_n=4)
    for value, what in ((np.nan, "E_1 of row 2"), (-3.0, "E_1 of row 2")):
        path = tmp_path / f"bad{value}.h5"
        write_landscape(path, t, n_part=4)
        df = pd.read_hdf(path, "table")
        df.loc[2, "E_1"] = value
        df.to_hdf(path, key="table", format="fixed", mode="w")
        with pytest.raises(DataFileError, match=what):
            read_top_landscape(path)
    path = tmp_path / "label2.h5"
    write_landscape(path, t, n_part=4)
    df = pd.read_hdf(path, "table")
    df["is_signal_new"] = [0, 1, 2, 0]
    df.to_hdf(path, key="table", mode="w")
    with pytest.raises(DataFileError, match=r"label2.h5: is_signal_new holds out-of-range .*row 2"):
        read_top_landscape(path)


def test_labels_negative_fractional_or_out_of_range_are_refused_with_the_file(tmp_path):
    from pgjets.data.readers import check_labels

    assert check_labels(np.array([0.0, 1.0, 2.0]), 3, "f.h5").tolist() == [0, 1, 2]
    assert check_labels(np.array([True, False]), 2, "f.h5").tolist() == [1, 0]
    with pytest.raises(DataFileError, match="f.h5: label holds negative labels .*row 11"):
        check_labels(np.array([0, -1]), 2, "f.h5", first_row=10)
    with pytest.raises(DataFileError, match="non-integer"):
        check_labels(np.array([0.5, 1.0]), 2, "f.h5")
    with pytest.raises(DataFileError, match="non-integer"):
        check_labels(np.array([np.nan]), 2, "f.h5")
    with pytest.raises(DataFileError, match=r"out-of-range.*0\.\.1"):
        check_labels(np.array([0, 1, 2]), 2, "f.h5")
    t = random_table(5, seed=3)
    t.label = np.array([0, 1, 2, 1, 0])
    path = write_parquet_jets(t, tmp_path / "three.parquet")  # label_names has only two classes
    with pytest.raises(DataFileError, match="three.parquet: label holds out-of-range"):
        read_parquet_jets(path)


# ------------------------------------------------------------- quark/gluon
def test_quark_gluon_npz_round_trip_ranges_and_detection(tmp_path):
    from pgjets.data import read_quark_gluon
    from pgjets.data.readers import QUARK_GLUON_LABELS

    rng = np.random.default_rng(0)
    n, m = 7, 6
    X = np.zeros((n, m, 4))
    counts = rng.integers(1, m + 1, n)
    for j, c in enumerate(counts):
        X[j, :c, 0] = np.sort(rng.uniform(1, 100, c))[::-1]
        X[j, :c, 1] = rng.normal(0, 1, c)
        X[j, :c, 2] = rng.uniform(0, 2 * np.pi, c)
        X[j, :c, 3] = rng.choice([22, 211, -211, 321, 130, 11, -13], c)
    y = rng.integers(0, 2, n).astype(np.float64)
    for compressed in (False, True):
        path = tmp_path / f"qg{compressed}.npz"
        (np.savez_compressed if compressed else np.savez)(path, X=X, y=y)
        assert detect_format(path) == "quark_gluon" and count_rows(path) == n
        t = read_quark_gluon(path)
        assert t.label_names == QUARK_GLUON_LABELS and t.label.tolist() == y.astype(int).tolist()
        np.testing.assert_array_equal(t.n_constituents, counts)
        mask = X[..., 0] > 0
        np.testing.assert_allclose(np.hypot(t.px, t.py), X[..., 0][mask], rtol=1e-5)
        np.testing.assert_array_equal(t.pdgid, X[..., 3][mask].astype(int))
        # rapidity is recovered exactly from E, pz (massive particles included)
        rap = 0.5 * np.log((t.E.astype(float) + t.pz) / (t.E.astype(float) - t.pz))
        np.testing.assert_allclose(rap, X[..., 1][mask], atol=1e-4)
        part = read_quark_gluon(path, 2, 5)
        np.testing.assert_array_equal(part.n_constituents, counts[2:5])
        np.testing.assert_allclose(part.E, t.slice(2, 5).E)
    renamed = tmp_path / "qg_without_suffix.dat"
    renamed.write_bytes((tmp_path / "qgFalse.npz").read_bytes())
    assert detect_format(renamed) == "quark_gluon"  # content, not the name, decides
    np.savez(tmp_path / "badlabel.npz", X=X, y=np.r_[y[:-1], 0.5])
    with pytest.raises(DataFileError, match="badlabel.npz: y holds non-integer"):
        read_quark_gluon(tmp_path / "badlabel.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataFileError, match="X and y"):
        detect_format(tmp_path / "other.npz")


# ---------------------------------------------- found by reading files as users write them
def test_jetclass_without_charge_leaves_the_pid_out_and_nan_branches_are_named(tmp_path):
    """The PID flags give |PDG id| only: without part_charge no sign (no charge feature) is made up."""
    from pgjets.data.features import constituent_features

    t = random_table(6, seed=8)
    write_jetclass(tmp_path / "nocharge.root", t, ttree=True, drop=("part_charge",))
    with pytest.warns(UserWarning, match="no part_charge; the particle-ID features are left out"):
        got = read_jetclass(tmp_path / "nocharge.root")
    assert got.pdgid is None and got.charge is None
    assert "charge" not in constituent_features(got)["names"]

    def nan_charge(branches):
        flat = ak.to_numpy(ak.flatten(branches["part_charge"])).astype(np.float32)
        flat[t.offsets[4] + 1 if t.n_constituents[4] > 1 else t.offsets[4]] = np.nan
        branches["part_charge"] = ak.unflatten(flat, t.n_constituents)

    write_jetclass(tmp_path / "nan.root", t, ttree=True, edit=nan_charge)
    with pytest.raises(DataFileError, match=r"nan.root: branch part_charge holds 1 NaN .*entry 4"):
        read_jetclass(tmp_path / "nan.root")
    with pytest.raises(DataFileError, match=r"entry 4"):
        read_jetclass(tmp_path / "nan.root", start=2)  # rows of the file, not of the slice


def test_landscape_gap_in_the_columns_is_missing_not_a_shorter_jet(tmp_path):
    t = random_table(6, seed=2, min_n=4, max_n=7)
    path = tmp_path / "gap.h5"
    write_landscape(path, t, n_part=8)
    df = pd.read_hdf(path, "table").drop(columns=["E_2"])
    df.to_hdf(path, key="table", mode="w", format="fixed")
    with pytest.raises(DataFileError, match=r"gap.h5 lacks the top-landscape columns: E_2$"):
        read_top_landscape(path)


def test_empty_jets_and_bad_values_are_named_with_their_row_in_the_file(tmp_path):
    t = random_table(8, seed=1)
    path = tmp_path / "zero.h5"
    write_landscape(path, t, n_part=8)
    df = pd.read_hdf(path, "table")
    df.loc[6, [f"{c}_{i}" for c in ("E", "PX", "PY", "PZ") for i in range(8)]] = 0.0
    df.loc[3, "PY_0"] = np.nan
    df.to_hdf(path, key="table", mode="w", format="fixed")
    with pytest.raises(EmptyGraphError, match=r"jet 6 \(row in the file\).*drop_empty=True"):
        read_top_landscape(path, start=5)
    with pytest.raises(EmptyGraphError, match=r"jet 6 \(row in the file\)"):
        read_top_landscape(path, start=-3)
    with pytest.raises(DataFileError, match=r"PY_0 of row 3 is"):
        read_top_landscape(path, start=-6)
    df.loc[3, "PY_0"], df.loc[2, "ttv"] = 1.0, np.nan
    df.to_hdf(path, key="table", mode="w", format="fixed")
    with pytest.raises(DataFileError, match=r"ttv of row 2 is nan"):
        read_top_landscape(path)
    assert len(read_top_landscape(path, start=5, drop_empty=True)) == 2


def test_damaged_compressed_npz_is_a_data_file_error(tmp_path):
    from pgjets.data import read_quark_gluon

    rng = np.random.default_rng(3)
    X = np.zeros((40, 5, 4))
    X[:, :3, 0] = rng.uniform(1, 50, (40, 3))
    X[:, :3, 1:3] = rng.normal(0, 1, (40, 3, 2))
    X[:, :3, 3] = 211
    path = tmp_path / "qg.npz"
    np.savez_compressed(path, X=X, y=rng.integers(0, 2, 40).astype(float))
    raw = bytearray(path.read_bytes())
    mid = raw.find(b"X.npy") + 200  # inside the deflated X member; the zip directory stays intact
    raw[mid: mid + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match="qg.npz: .*damaged"):
        read_quark_gluon(path)


def test_image_labels_must_be_one_hot_and_channels_last_is_transposed(tmp_path):
    rng = np.random.default_rng(4)
    imgs = rng.random((4, 6, 6, 2)).astype(np.float32)  # (N, H, W, C), as Keras-era files
    path = tmp_path / "nhwc.h5"
    with h5py.File(path, "w") as f:
        f["images"] = imgs
        f["labels"] = np.eye(2)[[0, 1, 1, 0]]
    got, lab = read_jet_images(path)
    assert got.shape == (4, 2, 6, 6) and lab.tolist() == [0, 1, 1, 0]
    torch.testing.assert_close(got, torch.from_numpy(imgs).permute(0, 3, 1, 2))
    with h5py.File(path, "w") as f:
        f["images"] = imgs
        f["labels"] = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    with pytest.raises(DataFileError, match=r"labels has shape \(4, 2\) and row 1 \(\[0, 0\]\) is not one-hot"):
        read_jet_images(path)


def test_parquet_values_are_checked_with_file_and_row_and_one_hot_labels_read(tmp_path):
    t = random_table(5, seed=9)
    counts = t.n_constituents
    px = t.px.astype(np.float64).copy()
    px[t.offsets[3]] = np.nan

    def write(path, px, label):
        rec = ak.zip({k: ak.unflatten(v, counts) for k, v in
                      {"px": px, "py": t.py, "pz": t.pz, "E": t.E}.items()})
        ak.to_parquet(ak.zip({"constituents": rec, "label": label}, depth_limit=1), path)

    write(tmp_path / "nan.parquet", px, t.label)
    with pytest.raises(DataFileError, match=r"nan.parquet: constituents.px holds 1 NaN .*row 3"):
        read_parquet_jets(tmp_path / "nan.parquet")
    write(tmp_path / "onehot.parquet", t.px, np.eye(2)[t.label % 2])
    np.testing.assert_array_equal(read_parquet_jets(tmp_path / "onehot.parquet").label, t.label % 2)
    write(tmp_path / "twohot.parquet", t.px, np.ones((5, 2)))
    with pytest.raises(DataFileError, match="is not one-hot"):
        read_parquet_jets(tmp_path / "twohot.parquet")


def test_an_empty_file_as_val_or_evaluation_data_says_it_holds_no_jets(tmp_path):
    from pgjets.data.inputs import open_dataset

    path = tmp_path / "empty.h5"
    write_landscape(path, random_table(3, seed=0), n_part=8)
    df = pd.read_hdf(path, "table").iloc[:0]
    df.to_hdf(path, key="table", mode="w", format="fixed")
    with pytest.raises(DataFileError, match="empty.h5.*holds no jets"):
        open_dataset([str(path)], "particlenet", "particlenet")


@pytest.mark.parametrize("with_pid", [False, True], ids=["top", "quark_gluon"])
def test_particle_transformer_parquet_layout(tmp_path, with_pid):
    """The ParT authors' converted files: jagged part_* fields side by side, jet_* scalars, ``label``."""
    from pgjets.data import JetDataset

    t = random_table(6, seed=11)
    counts = t.n_constituents
    jag = lambda a: ak.unflatten(np.asarray(a, dtype=np.float32), counts)  # noqa: E731
    charge = np.where(np.abs(t.pdgid) == 211, np.sign(t.pdgid), 0) - np.where(t.pdgid == 11, 1, 0)
    v = {"label": t.label.astype(np.float64) if with_pid else t.label, "jet_pt": np.arange(6.0),
         "jet_nparticles": counts, "part_px": jag(t.px), "part_py": jag(t.py), "part_pz": jag(t.pz),
         "part_energy": jag(t.E), "part_deta": jag(np.zeros_like(t.px)), "part_dphi": jag(np.zeros_like(t.px))}
    if with_pid:
        v.update(part_pid=jag(t.pdgid), part_charge=jag(charge), part_isPhoton=jag(t.pdgid == 22))
    path = tmp_path / "train_file_0.parquet"
    ak.to_parquet(ak.Array(v), path, compression="LZ4", compression_level=4)
    assert detect_format(path) == "parquet"
    got = read_parquet_jets(path, start=1, stop=5)
    ref = t.slice(1, 5)
    np.testing.assert_array_equal(got.offsets, ref.offsets)
    np.testing.assert_allclose(got.E, ref.E, rtol=1e-6)
    np.testing.assert_array_equal(got.label, ref.label)
    np.testing.assert_allclose(got.extra["jet_pt"], np.arange(1.0, 5.0))
    if with_pid:
        np.testing.assert_array_equal(got.pdgid, ref.pdgid)
        np.testing.assert_array_equal(got.charge, charge[t.offsets[1]:t.offsets[5]])
    else:
        assert got.pdgid is None and got.charge is None
    assert len(JetDataset(path, k=2)) == 6
    v["part_py"] = ak.unflatten(np.zeros(int(counts.sum()) - 1, np.float32), np.r_[counts[:-1], counts[-1] - 1])
    ak.to_parquet(ak.Array(v), tmp_path / "bad.parquet")
    with pytest.raises(DataFileError, match="bad.parquet: the part_\\* fields do not align"):
        read_parquet_jets(tmp_path / "bad.parquet")


def _jetnet_file(path, n_part=30, mask=True, jets=None):
    """A file in JetNet's published layout, written with h5py alone (not pgjets' writer)."""
    import h5py

    parts = np.zeros((3, n_part, 4 if mask else 3), dtype=np.float32)
    # jet 0: two particles; jet 1: three; jet 2: one (rows after them are zero padding)
    rows = {0: [(0.1, -0.2, 0.6), (-0.05, 0.1, 0.3)],
            1: [(0.0, 0.0, 0.5), (0.2, 0.3, 0.25), (-0.3, -3.0, 0.1)],
            2: [(0.02, 0.01, 0.9)]}
    for j, ps in rows.items():
        for i, (deta, dphi, ptrel) in enumerate(ps):
            parts[j, i, :3] = (deta, dphi, ptrel)
            if mask:
                parts[j, i, 3] = 1
    if jets is None:
        jets = np.array([[600.0, 0.5, 80.0, 2], [550.0, -1.2, 170.0, 41], [610.0, 2.0, 5.0, 1]], dtype=np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("particle_features", data=parts)
        f.create_dataset("jet_features", data=jets)
    return path


def test_jetnet_reads_the_published_layout(tmp_path):
    from pgjets.data.readers import JETNET_LABELS, read_jetnet

    path = _jetnet_file(tmp_path / "t150.hdf5", n_part=150)
    assert detect_format(path) == "jetnet" and count_rows(path) == 3
    t = read_jetnet(path)
    assert t.label_names == JETNET_LABELS and t.label.tolist() == [2, 2, 2]  # t = JetNet's class 2
    assert t.n_constituents.tolist() == [2, 3, 1]
    pt = np.hypot(t.px, t.py)
    np.testing.assert_allclose(pt, [360, 180, 275, 137.5, 55, 549], rtol=1e-6)
    eta = np.arcsinh(t.pz / pt)
    np.testing.assert_allclose(eta, [0.6, 0.45, -1.2, -1.0, -1.5, 2.02], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.arctan2(t.py, t.px), [-0.2, 0.1, 0.0, 0.3, -3.0, 0.01], atol=1e-6)
    np.testing.assert_allclose(t.E, pt * np.cosh(eta), rtol=1e-6)  # massless
    assert t.extra["jet_pt"].tolist() == [600, 550, 610] and t.extra["num_particles"].tolist() == [2, 41, 1]
    # a range, the class from jet_type, and a file without the mask column (pT > 0 marks particles)
    assert read_jetnet(path, 1, 3).n_constituents.tolist() == [3, 1]
    other = _jetnet_file(tmp_path / "jets.h5", mask=False)
    assert read_jetnet(other, jet_type="g").n_constituents.tolist() == [2, 3, 1]
    assert read_rows(_jetnet_file(tmp_path / "z.hdf5")).label.tolist() == [4, 4, 4]
    # train/test copies keep their type in the name's first letter; an empty range is an empty table
    for name, label in (("t_train.hdf5", 2), ("w150-part2.hdf5", 3), ("q30.test.hdf5", 1)):
        assert read_rows(_jetnet_file(tmp_path / name)).label.tolist() == [label] * 3, name
    assert len(read_rows(path, 2, 2)) == 0


def test_jetnet_refuses_bad_files(tmp_path):
    from pgjets.data.readers import read_jetnet

    with pytest.raises(DataFileError, match="told by its name"):
        read_jetnet(_jetnet_file(tmp_path / "jets.h5"))
    with pytest.raises(DataFileError, match="t_train.hdf5"):
        read_jetnet(_jetnet_file(tmp_path / "top.hdf5"))  # "top" is no type: t, then a letter
    with pytest.raises(ValueError, match="jet_type"):
        read_jetnet(tmp_path / "jets.h5", jet_type="b")
    bad = np.array([[600.0, 0.5, 80.0, 2], [-550.0, -1.2, 170.0, 3], [610.0, 2.0, 5.0, 1]], dtype=np.float32)
    with pytest.raises(DataFileError, match="row 1 has a negative"):
        read_jetnet(_jetnet_file(tmp_path / "q.hdf5", jets=bad))
    bad[1, 0] = np.nan
    with pytest.raises(DataFileError, match="jet_features of row 1"):
        read_jetnet(_jetnet_file(tmp_path / "w.hdf5", jets=bad))
    import h5py

    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        f.create_dataset("particle_features", data=np.zeros((2, 30, 4), dtype=np.float32))
        f.create_dataset("jet_features", data=np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(DataFileError, match="expected particle_features"):
        read_jetnet(tmp_path / "g.hdf5")


@pytest.mark.parametrize("ttree", [False, True], ids=["rntuple", "ttree"])
def test_jetclass_track_impact_parameters_give_the_17_inputs(tmp_path, ttree):
    from pgjets.data import constituent_features

    t = random_table(5, seed=8)
    rng = np.random.default_rng(0)
    ip = {name: rng.normal(0, 2, t.px.size).astype(np.float32) for name in ("d0val", "dzval")}
    ip.update({name: rng.uniform(0, 3, t.px.size).astype(np.float32) for name in ("d0err", "dzerr")})

    def add(branches, names=("d0val", "d0err", "dzval", "dzerr")):
        for name in names:
            branches[f"part_{name}"] = ak.unflatten(ip[name], t.n_constituents)

    write_jetclass(tmp_path / "ip.root", t, ttree=ttree, edit=add)
    got = read_jetclass(tmp_path / "ip.root")
    assert got.has_track_ip
    np.testing.assert_array_equal(got.d0err, ip["d0err"])
    f = constituent_features(got)
    assert len(f["names"]) == 17 and f["names"][-4:] == ["d0", "d0_err", "dz", "dz_err"]
    np.testing.assert_allclose(f["x"][:, -4], np.tanh(ip["d0val"]), rtol=1e-6)
    np.testing.assert_allclose(f["x"][:, -3], np.clip(ip["d0err"], 0, 1))
    np.testing.assert_allclose(f["x"][:, -2], np.tanh(ip["dzval"]), rtol=1e-6)
    np.testing.assert_allclose(f["x"][:, -1], np.clip(ip["dzerr"], 0, 1))
    # jets and files keep them; a file with only some of the four has none
    from pgjets.data import read_jets

    back = read_jets(write_jets(got.take(np.array([3, 1])), tmp_path / "ip.h5"))
    np.testing.assert_array_equal(back.dzval, got.take(np.array([3, 1])).dzval)
    pq = read_parquet_jets(write_parquet_jets(got, tmp_path / "ip.parquet"))
    np.testing.assert_array_equal(pq.d0val, got.d0val)
    write_jetclass(tmp_path / "half.root", t, edit=lambda b: add(b, ("d0val", "d0err")))
    half = read_jetclass(tmp_path / "half.root")
    assert not half.has_track_ip and len(constituent_features(half)["names"]) == 13


class _Meta:
    """Row-group sizes as pyarrow's ``FileMetaData`` gives them."""

    def __init__(self, sizes):
        self.sizes = list(sizes)
        self.num_row_groups = len(self.sizes)

    def row_group(self, g):
        return type("RowGroup", (), {"num_rows": self.sizes[g]})()


@pytest.mark.parametrize("sizes, a, b, expected", [
    ([], 0, 0, ([], 0)),                    # no row group at all
    ([7], 0, 7, ([0], 0)),                  # a single group
    ([7], 2, 5, ([0], 0)),
    ([7], 3, 3, ([0], 0)),                  # an empty range inside a group: that group (sliced to nothing)
    ([7], 7, 7, ([], 0)),                   # an empty range at the end: none
    ([0, 0], 0, 0, ([], 0)),                # only empty groups
    ([5, 5, 5], 5, 10, ([1], 5)),           # exactly one group, from its first row
    ([5, 5, 5], 4, 11, ([0, 1, 2], 0)),     # across both edges
    ([5, 5, 5], 10, 15, ([2], 10)),
    ([5, 0, 5], 3, 8, ([0, 1, 2], 0)),      # an empty group inside the range
    ([5, 0, 5], 5, 8, ([2], 5)),            # ... or at its edge: not read
])
def test_row_groups_of_a_row_range(sizes, a, b, expected):
    assert _row_groups(_Meta(sizes), a, b) == expected


def test_row_groups_of_a_real_file_read_the_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"v": np.arange(23.0)})
    pq.write_table(table, tmp_path / "f.parquet", row_group_size=5)
    pf = pq.ParquetFile(tmp_path / "f.parquet")
    for a, b in [(0, 23), (3, 12), (5, 10), (22, 23), (7, 7)]:
        groups, first = _row_groups(pf.metadata, a, b)
        assert pf.read_row_groups(groups).slice(a - first, b - a).equals(table.slice(a, b - a)), (a, b)


def test_jetclass_files_with_other_label_branches_are_refused_up_front(tmp_path):
    # a file with a subset of the label_* branches numbers its classes otherwise: found when the dataset
    # is made (before a run's folder), not when the stream reaches the file
    from pgjets.data import JetDataset
    from pgjets.data.readers import jetclass_file_info

    write_jetclass(tmp_path / "a_full.root", random_table(6, seed=1), ttree=True)
    write_jetclass(tmp_path / "b_sub.root", random_table(6, seed=2), labels=["QCD", "Tbqq"], ttree=True)
    assert jetclass_file_info(tmp_path / "b_sub.root") == (6, ["QCD", "Tbqq"])
    with pytest.raises(DataFileError, match=r"b_sub.root has the classes \['QCD', 'Tbqq'\].*a_full.root has"):
        JetDataset([tmp_path / "a_full.root", tmp_path / "b_sub.root"], chunk_size=4)
    assert len(JetDataset([tmp_path / "a_full.root"], chunk_size=4)) == 6


def test_flavour_classes_map_codes_and_name_the_first_unknown():
    from pgjets.data.readers import flavour_classes

    delphes = {1: 0, 2: 0, 3: 0, 4: 1, 5: 2, 21: 3, 0: 4}
    np.testing.assert_array_equal(flavour_classes(np.array([21, 3, 0, 5, 1]), delphes, "f.root", 0), [3, 0, 4, 2, 0])
    for bad, row in ((30, 11), (-1, 11), (6, 11)):  # above, below and between the codes
        with pytest.raises(DataFileError, match=rf"f.root: jet {row} has flavour {bad}; expected 0, 1, 2, 3, 4, 5 or 21"):
            flavour_classes(np.array([1, bad]), delphes, "f.root", 10)
