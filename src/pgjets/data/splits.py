"""The jets of a generated folder as one table, and the seeded train/val/test split of a run.

Used by :func:`pgjets.run.train_run` (``RUN/split.npz``), the benchmarks and
the examples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataFileError
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
    """Seeded random train/val/test split of ``n`` items."""
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"split must be three fractions summing to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(round(f[0] * n)), int(round((f[0] + f[1]) * n))
    return {"train": np.sort(perm[:a]), "val": np.sort(perm[a:b]), "test": np.sort(perm[b:])}


__all__ = ["load_table", "split_indices"]
