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
