from __future__ import annotations

import numpy as np
import pytest

from pgjets.data import load_table, split_indices
from pgjets.data.digits import random_split_indices
from pgjets.errors import DataFileError


@pytest.mark.parametrize("n", [0, 1, 7, 100, 1001])
@pytest.mark.parametrize("fractions", [(0.6, 0.2, 0.2), (0.8, 0.1, 0.1), (0.7, 0.3, 0.0)])
def test_split_is_a_seeded_partition_equal_to_the_random_split(n, fractions) -> None:
    split = split_indices(n, fractions, seed=3)
    assert list(split) == ["train", "val", "test"]
    joined = np.concatenate(list(split.values()))
    assert np.array_equal(np.sort(joined), np.arange(n))  # disjoint and covering
    assert all(np.array_equal(np.sort(v), v) and v.dtype == np.int64 for v in split.values())
    assert len(split["train"]) == round(fractions[0] * n)
    for part, ref in zip(split.values(), random_split_indices(n, fractions, 3)):
        assert np.array_equal(part, ref.numpy())
    again = split_indices(n, fractions, seed=3)
    assert all(np.array_equal(split[k], again[k]) for k in split)


def test_another_seed_gives_another_split() -> None:
    assert not np.array_equal(split_indices(100, (0.6, 0.2, 0.2), 0)["train"],
                              split_indices(100, (0.6, 0.2, 0.2), 1)["train"])


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.6, 0.6, -0.2), (0.5, 0.2, 0.2), (np.nan, 0.5, 0.5)])
def test_bad_fractions_raise(fractions) -> None:
    with pytest.raises(ValueError, match="fractions summing to 1"):
        split_indices(10, fractions, 0)


def test_load_table_reads_a_folder_and_subsamples(make_jet_folder, tmp_path) -> None:
    folder = make_jet_folder(tmp_path / "data", n_jets=40)
    assert len(load_table(folder)) == 40
    small = load_table(folder, max_jets=10)
    assert len(small) == 10
    assert np.array_equal(small.label, load_table(folder, max_jets=10).label)  # seeded


def test_load_table_of_a_folder_without_jets_is_a_data_error(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFileError, match="no manifest"):
        load_table(tmp_path / "empty")


def test_load_process_reads_the_first_jets_of_one_process_across_chunks(tmp_path) -> None:
    from pgjets.data import load_process, read_jets, write_jets
    from pgjets.data.jet_io import write_manifest

    folder = make_two_process_folder(tmp_path, write_jets, write_manifest)
    top = [read_jets(folder / f"top_{c:05d}.h5") for c in range(2)]
    got = load_process(folder, "top", 12)  # 8 from the first chunk, 4 from the second
    assert len(got) == 12 and (got.label == 1).all()
    assert np.array_equal(got.px, np.concatenate([top[0].px, top[1].take(np.arange(4)).px]))
    assert len(load_process(folder, "top")) == 16 and len(load_process(folder, "top", 100)) == 16
    assert len(load_process(folder, "qcd", 3)) == 3 and (load_process(folder, "qcd").label == 0).all()
    with pytest.raises(DataFileError, match="process 'w'"):
        load_process(folder, "w", 5)
    with pytest.raises(ValueError):
        load_process(folder, "top", 0)


def make_two_process_folder(tmp_path, write_jets, write_manifest):
    """qcd (one chunk of 8 jets) and top (two chunks of 8) in the ``pgjets generate`` layout."""
    from pgjets.data import JetTable

    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files = []
    for process, label, chunks in (("qcd", 0, 1), ("top", 1, 2)):
        for c in range(chunks):
            counts = rng.integers(2, 6, 8)
            P = int(counts.sum())
            pt = rng.uniform(1, 50, P)
            eta, phi = rng.normal(0, 0.3, P), rng.normal(0, 0.3, P)
            t = JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                         offsets=np.r_[0, np.cumsum(counts)], label=np.full(8, label), label_names=["qcd", "top"])
            name = f"{process}_{c:05d}.h5"
            write_jets(t, folder / name)
            files.append({"name": name, "process": process, "chunk": c, "n_jets": 8, "label": label})
    write_manifest(folder, {"files": files, "label_names": ["qcd", "top"]})
    return folder
