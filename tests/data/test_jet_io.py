"""Tests of pgjets.data.jet_io (HDF5 jet files and dataset manifests)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from pgjets.data import count_jets, dataset_files, read_jets, read_manifest, write_jets, JetTable
from pgjets.data.jet_io import FILE_FORMAT, read_attrs, write_manifest
from pgjets.errors import DataFileError, DataFileNotFoundError


def _table(n_jets: int = 6, seed: int = 0) -> JetTable:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 9, size=n_jets)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    p = int(offsets[-1])
    px, py, pz = rng.normal(size=(3, p)) * 50
    E = np.sqrt(px**2 + py**2 + pz**2) + 1.0
    return JetTable(
        px=px, py=py, pz=pz, E=E, offsets=offsets,
        label=rng.integers(0, 2, size=n_jets),
        pdgid=rng.choice([211, -211, 22, 2112], size=p),
        charge=rng.integers(-1, 2, size=p),
        parent=rng.integers(-1, 3, size=p),
        extra={"truth_pt": rng.uniform(500, 700, size=n_jets).astype(np.float32)},
        label_names=["qcd", "top"],
    )


def _assert_equal(a: JetTable, b: JetTable) -> None:
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.label, b.label)
    for name in ("px", "py", "pz", "E", "pdgid", "charge", "parent"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert set(a.extra) == set(b.extra)
    for k in a.extra:
        np.testing.assert_array_equal(a.extra[k], b.extra[k])
    assert a.label_names == b.label_names


def test_round_trip(tmp_path):
    t = _table()
    path = write_jets(t, tmp_path / "a.h5", attrs={"process": "top", "n": 3, "cfg": {"x": 1}})
    back = read_jets(path)
    _assert_equal(t, back)
    assert count_jets(path) == len(t)
    attrs = read_attrs(path)
    assert attrs["format"] == FILE_FORMAT and attrs["complete"] is True
    assert attrs["process"] == "top" and attrs["n"] == 3 and json.loads(attrs["cfg"]) == {"x": 1}
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


def test_round_trip_without_optional_columns(tmp_path):
    t = _table()
    t = JetTable(px=t.px, py=t.py, pz=t.pz, E=t.E, offsets=t.offsets, label=t.label)
    back = read_jets(write_jets(t, tmp_path / "b.h5"))
    assert back.pdgid is None and back.parent is None and back.label_names is None
    np.testing.assert_array_equal(back.E, t.E)


@pytest.mark.parametrize("start,stop", [(0, 3), (2, 5), (4, None), (None, 1), (-2, None), (3, 3), (5, 2)])
def test_read_slice_matches_table_slice(tmp_path, start, stop):
    t = _table(7, seed=1)
    path = write_jets(t, tmp_path / "s.h5")
    a, b, _ = slice(start, stop).indices(len(t))
    _assert_equal(t.slice(a, max(a, b)), read_jets(path, start, stop))


def test_empty_table_round_trip(tmp_path):
    t = _table(3).slice(0, 0)
    back = read_jets(write_jets(t, tmp_path / "e.h5"))
    assert len(back) == 0 and back.num_constituents_total == 0


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="does not exist"):
        read_jets(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError):
        count_jets(tmp_path / "nope.h5")
    with pytest.raises(DataFileNotFoundError):
        write_jets(_table(), tmp_path / "missing_dir" / "a.h5")
    with pytest.raises(DataFileNotFoundError):
        read_manifest(tmp_path / "nodir")


def test_not_hdf5_and_truncated(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not an HDF5 file at all")
    with pytest.raises(DataFileError, match="not a readable HDF5"):
        read_jets(bad)
    good = write_jets(_table(40), tmp_path / "good.h5")
    data = good.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError):
        read_jets(cut)


def test_unfinished_file_is_refused(tmp_path):
    path = write_jets(_table(), tmp_path / "a.h5")
    with h5py.File(path, "a") as f:
        del f.attrs["complete"]
    with pytest.raises(DataFileError, match="incomplete"):
        read_jets(path)
    with h5py.File(path, "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(DataFileError, match="incomplete"):
        count_jets(path)


def test_wrong_format_and_missing_columns(tmp_path):
    path = write_jets(_table(), tmp_path / "a.h5")
    with h5py.File(path, "a") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(DataFileError, match="format"):
        read_jets(path)

    path = write_jets(_table(), tmp_path / "b.h5")
    with h5py.File(path, "a") as f:
        del f["constituents/pz"]
    with pytest.raises(DataFileError, match="constituents/pz"):
        read_jets(path)

    path = write_jets(_table(), tmp_path / "c.h5")
    with h5py.File(path, "a") as f:
        del f["jets"]
    with pytest.raises(DataFileError, match="jets/"):
        read_jets(path)

    path = write_jets(_table(), tmp_path / "d.h5")
    with h5py.File(path, "a") as f:
        del f["constituents/E"]
        f["constituents/E"] = np.ones(3, dtype=np.float32)
    with pytest.raises(DataFileError, match="constituents/E has shape"):
        read_jets(path)

    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DataFileError, match="not a pgjets jet file"):
        read_jets(plain)


def test_reserved_extra_name(tmp_path):
    t = _table()
    t.extra["label"] = np.zeros(len(t))
    with pytest.raises(DataFileError, match="reserved"):
        write_jets(t, tmp_path / "a.h5")
    assert not list(tmp_path.iterdir())


def test_write_replaces_atomically(tmp_path):
    path = write_jets(_table(4, seed=0), tmp_path / "a.h5")
    write_jets(_table(5, seed=1), path)
    assert count_jets(path) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]


def test_manifest_and_dataset_files(tmp_path):
    with pytest.raises(DataFileError, match="incomplete"):
        read_manifest(tmp_path)
    with pytest.raises(DataFileError, match="incomplete"):
        dataset_files(tmp_path)
    write_jets(_table(), tmp_path / "a.h5")
    write_manifest(tmp_path, {"files": [{"name": "a.h5", "n_jets": 6}], "label_names": ["qcd", "top"]})
    assert dataset_files(tmp_path) == [tmp_path / "a.h5"]
    assert read_manifest(tmp_path)["label_names"] == ["qcd", "top"]
    write_manifest(tmp_path, {"files": [{"name": "a.h5"}, {"name": "gone.h5"}]})
    with pytest.raises(DataFileNotFoundError, match="gone.h5"):
        dataset_files(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DataFileError, match="JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other", "files": []}))
    with pytest.raises(DataFileError, match="format"):
        read_manifest(tmp_path)
