"""The jets of a generated folder as one table, and the seeded train/val/test split of a run.

Used by :func:`pgjets.run.train_run` (``RUN/split.npz``), the benchmarks and
the examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataFileError
from .digits import random_split_indices
from .jet_io import dataset_files, read_jets
from .table import JetTable


def load_table(path: Path, max_jets: Optional[int] = None):
    """All jets of a generated folder as one :class:`~pgjets.data.table.JetTable`."""
    files = dataset_files(path)
    if not files:
        raise DataFileError(f"{path} holds no jet files")
    table = JetTable.concat([read_jets(f) for f in files])
    if max_jets is not None and len(table) > max_jets:
        rng = np.random.default_rng(0)
        table = table.take(np.sort(rng.choice(len(table), max_jets, replace=False)))
    return table


def split_indices(n: int, fractions, seed: int) -> dict[str, np.ndarray]:
    """Seeded random train/val/test split of ``n`` items, keyed ``train``/``val``/``test`` (``RUN/split.npz``).

    The split of :func:`~pgjets.data.digits.random_split_indices` (same permutation, same cuts),
    as sorted NumPy index arrays.
    """
    parts = random_split_indices(n, fractions, seed)
    return {name: part.numpy() for name, part in zip(("train", "val", "test"), parts)}


__all__ = ["load_table", "split_indices"]
