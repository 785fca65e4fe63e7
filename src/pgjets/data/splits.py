"""The jets of a generated folder as one table (all, or the first of one process), and the
seeded train/val/test split of a run.

Used by :func:`pgjets.run.train_run` (``RUN/split.npz``), the benchmarks and
the examples.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from .._checks import check_positive_int
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


def load_process(path: Path, process: str, n_jets: Optional[int] = None) -> JetTable:
    """The first ``n_jets`` jets of one process of a generated folder (all of them with ``None``).

    Reads the process's chunk files (``<process>_<chunk>.h5``) in manifest order, only as far as
    needed; the labels are the ones stored in the files.

    Raises:
        DataFileError: The folder has no manifest, or no jet file of ``process``.
    """
    n_jets = None if n_jets is None else check_positive_int(n_jets, "n_jets")
    pattern = re.compile(rf"{re.escape(process)}_\d+\.h5")
    files = [f for f in dataset_files(path) if pattern.fullmatch(f.name)]
    if not files:
        raise DataFileError(f"{path} holds no jet files of process {process!r}")
    tables, got = [], 0
    for f in files:
        if n_jets is not None and got >= n_jets:
            break
        tables.append(read_jets(f, 0, None if n_jets is None else n_jets - got))
        got += len(tables[-1])
    return JetTable.concat(tables)


def split_indices(n: int, fractions, seed: int) -> dict[str, np.ndarray]:
    """Seeded random train/val/test split of ``n`` items, keyed ``train``/``val``/``test`` (``RUN/split.npz``).

    The split of :func:`~pgjets.data.digits.random_split_indices` (same permutation, same cuts),
    as sorted NumPy index arrays.
    """
    parts = random_split_indices(n, fractions, seed)
    return {name: part.numpy() for name, part in zip(("train", "val", "test"), parts)}


def split_positions(positions: np.ndarray, fractions, seed: int,
                    held_out: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The seeded split of ``positions`` (items of ``--data``) into the parts not ``held_out``.

    A part given as its own data (``--val``, ``--test``: named in ``held_out``) takes nothing of
    ``--data``: the fractions of the other parts are renormalised, and the result has only their
    keys.  With nothing held out this is :func:`split_indices` on ``positions``.
    """
    frac = dict(zip(("train", "val", "test"), (float(f) for f in fractions)))
    for name in held_out:
        frac[name] = 0.0
    total = sum(frac.values())
    parts = split_indices(len(positions), [frac[n] / total for n in ("train", "val", "test")], seed)
    return {n: np.asarray(positions)[idx] for n, idx in parts.items() if frac[n] > 0}


__all__ = ["load_table", "load_process", "split_indices", "split_positions"]
