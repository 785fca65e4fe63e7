r"""HDF5 storage of :class:`~pgjets.data.table.JetTable` chunks and datasets.

One file holds one table in two groups (``J`` jets, ``P`` constituents):

.. code-block:: text

    jets/label           (J,)  int64
    jets/n_constituents  (J,)  int64
    jets/<extra>         (J,)  per-jet extra arrays (e.g. truth_pt)
    constituents/px, py, pz, E       (P,) float32, GeV
    constituents/pdgid, charge, parent  (P,) int, optional
    attrs: format = "pgjets-jets-v1", label_names (JSON), complete = True

The jet offsets follow from the counts,
:math:`\mathrm{offsets}_{j} = \sum_{i<j} n_i`, so :func:`read_jets` can read
jets ``start:stop`` by slicing the constituent datasets to
:math:`[\mathrm{offsets}_{start}, \mathrm{offsets}_{stop})` without loading the
rest of the file.

Files are written to a temporary name and moved into place with
:func:`os.replace`; the ``complete`` attribute is set last, so a file that
lacks it was not finished and is refused.  A dataset folder (see
:func:`pgjets.data.generate.generate_dataset`) lists its files in
``manifest.json``, which is written last: a folder without it is incomplete.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .._atomic import atomic_output, atomic_write_bytes
from .._checks import require
from ..errors import DataFileError, DataFileNotFoundError, NonFiniteError
from .table import TRACK_IP_COLUMNS, JetTable, offsets_from_counts

#: Value of the ``format`` attribute of every jet file.
FILE_FORMAT = "pgjets-jets-v1"
#: Value of the ``format`` key of every ``manifest.json``.
MANIFEST_FORMAT = "pgjets-dataset-v1"
MANIFEST_NAME = "manifest.json"

_REQUIRED = ("px", "py", "pz", "E")
_OPTIONAL = ("pdgid", "charge", "parent", *TRACK_IP_COLUMNS)
_OPTIONAL_DTYPES = {"pdgid": np.int32, "charge": np.int8, "parent": np.int8,
                    **{name: np.float32 for name in TRACK_IP_COLUMNS}}
_RESERVED = ("label", "n_constituents")

PathLike = Union[str, os.PathLike]


def _h5py():
    return require("h5py", "physics", "reading and writing jet files")



def write_jets(table: JetTable, path: PathLike, attrs: Optional[dict[str, Any]] = None) -> Path:
    r"""Write ``table`` to the HDF5 file ``path`` atomically.

    The file is built in memory (the ``complete`` attribute set last), written
    to a hidden temporary file in the same folder and moved to ``path`` with
    :func:`os.replace`, so ``path`` is either absent, the old file or the
    finished new one; a full disk raises :class:`~pgjets.errors.DiskFullError`
    and leaves no temporary file.

    Args:
        table (JetTable): Jets to write.
        path (str or os.PathLike): Target file (``.h5``).
        attrs (dict, optional): Further file attributes (str, numbers, bools;
            anything else is stored as JSON text).

    Returns:
        Path: ``path``.

    Shapes:
        - **table**: ``J`` jets with ``P`` constituents in total.
    """
    h5py = _h5py()
    path = Path(path)
    if not path.parent.exists():
        raise DataFileNotFoundError(f"folder {path.parent} does not exist")
    for key in table.extra:
        if key in _RESERVED:
            raise DataFileError(f"extra column name {key!r} is reserved")
    # The file is built in memory and written in one go: a full disk then fails in a plain
    # Python write (DiskFullError, no temporary file left), never inside HDF5, whose state
    # after a failed write crashed the interpreter at exit (exit 139).
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["format"] = FILE_FORMAT
        f.attrs["complete"] = False
        f.attrs["label_names"] = json.dumps(list(table.label_names) if table.label_names else None)
        for key, value in (attrs or {}).items():
            if key in ("format", "complete", "label_names"):
                raise DataFileError(f"attribute name {key!r} is reserved")
            if not isinstance(value, (str, int, float, bool, np.integer, np.floating, np.bool_)):
                value = json.dumps(value)
            f.attrs[key] = value
        jets = f.create_group("jets")
        jets.create_dataset("label", data=table.label.astype(np.int64))
        jets.create_dataset("n_constituents", data=table.n_constituents.astype(np.int64))
        for key, value in table.extra.items():
            jets.create_dataset(key, data=np.asarray(value))
        cons = f.create_group("constituents")
        for name in _REQUIRED:
            cons.create_dataset(name, data=getattr(table, name).astype(np.float32))
        for name in _OPTIONAL:
            arr = getattr(table, name)
            if arr is not None:
                cons.create_dataset(name, data=np.asarray(arr).astype(_OPTIONAL_DTYPES[name]))
        f.flush()
        f.attrs["complete"] = True
    atomic_write_bytes(path, buf.getbuffer())
    return path


def _open(path: PathLike):
    """Open a jet file read-only and check its layout; return the h5py File."""
    h5py = _h5py()
    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(f"jet file {path} does not exist")
    if path.is_dir():
        raise DataFileError(f"{path} is a folder, not a jet file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(f"{path} is not a readable HDF5 file (corrupt or truncated?): {exc}") from exc
    try:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt is None:
            raise DataFileError(f"{path} has no 'format' attribute: not a pgjets jet file")
        if fmt != FILE_FORMAT:
            raise DataFileError(f"{path} has format {fmt!r}, expected {FILE_FORMAT!r}")
        if not bool(f.attrs.get("complete", False)):
            raise DataFileError(f"{path} is incomplete (no complete=True attribute): it was not finished writing")
        for group in ("jets", "constituents"):
            if group not in f:
                raise DataFileError(f"{path} has no '{group}/' group")
        for name in ("label", "n_constituents"):
            if name not in f["jets"]:
                raise DataFileError(f"{path} has no column jets/{name}")
        for name in _REQUIRED:
            if name not in f["constituents"]:
                raise DataFileError(f"{path} has no column constituents/{name}")
        n_jets = f["jets/label"].shape[0]
        for name, ds in f["jets"].items():
            if ds.shape[:1] != (n_jets,):
                raise DataFileError(f"{path}: jets/{name} has {ds.shape[0]} rows, expected {n_jets}")
        return f
    except BaseException:
        f.close()
        raise


def _counts(f, path: PathLike) -> np.ndarray:
    counts = np.asarray(f["jets/n_constituents"][...], dtype=np.int64)
    total = int(counts.sum())
    if counts.size and counts.min() < 0:
        raise DataFileError(f"{path}: jets/n_constituents holds negative counts")
    for name, ds in f["constituents"].items():
        if ds.shape != (total,):
            raise DataFileError(
                f"{path}: constituents/{name} has shape {ds.shape}, expected ({total},) from jets/n_constituents"
            )
    return counts


def count_jets(path: PathLike) -> int:
    """Number of jets in the jet file ``path`` (checks the file layout)."""
    with _open(path) as f:
        return int(f["jets/label"].shape[0])


def read_jets(path: PathLike, start: Optional[int] = None, stop: Optional[int] = None) -> JetTable:
    r"""Read jets ``start:stop`` of a jet file into a :class:`JetTable`.

    Only the constituents of the requested jets are read from disk
    (positions :math:`[\mathrm{offsets}_{start}, \mathrm{offsets}_{stop})`).

    Args:
        path (str or os.PathLike): File written by :func:`write_jets`.
        start (int, optional): First jet (default 0; negative counts from the end).
        stop (int, optional): One past the last jet (default: all).

    Returns:
        JetTable: with ``label_names`` from the file.

    Raises:
        DataFileNotFoundError: The file does not exist.
        DataFileError: Not HDF5, truncated, unfinished, wrong format or missing columns.
    """
    with _open(path) as f:
        counts = _counts(f, path)
        n = counts.size
        a, b, _ = slice(start, stop).indices(n)
        b = max(a, b)
        offsets = offsets_from_counts(counts)
        pa, pb = int(offsets[a]), int(offsets[b])
        cons = f["constituents"]
        cols = {name: cons[name][pa:pb] for name in _REQUIRED}
        for name in _OPTIONAL:
            cols[name] = cons[name][pa:pb] if name in cons else None
        extra = {
            key: ds[a:b] for key, ds in f["jets"].items() if key not in _RESERVED
        }
        raw = f.attrs.get("label_names", "null")
        try:
            names = json.loads(raw)
        except (TypeError, ValueError) as exc:
            raise DataFileError(f"{path}: attribute label_names is not valid JSON") from exc
        label = f["jets/label"][a:b]
    try:
        return JetTable(
            offsets=offsets[a : b + 1] - pa,
            label=label,
            extra=extra,
            label_names=list(names) if names else None,
            **cols,
        )
    except NonFiniteError as exc:  # name the file that holds the bad values
        raise NonFiniteError(f"{path}: {exc}") from exc


def read_attrs(path: PathLike) -> dict[str, Any]:
    """File attributes of a (complete, well-formed) jet file as a dict."""
    with _open(path) as f:
        out = {}
        for key, value in f.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        return out


def read_manifest(directory: PathLike) -> dict[str, Any]:
    """The ``manifest.json`` of a dataset folder.

    Raises:
        DataFileNotFoundError: The folder does not exist.
        DataFileError: No manifest (the dataset is incomplete), bad JSON or wrong format.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFileNotFoundError(f"dataset folder {directory} does not exist")
    path = directory / MANIFEST_NAME
    if not path.exists():
        raise DataFileError(
            f"{directory} has no {MANIFEST_NAME}: the dataset is incomplete "
            "(generation was interrupted or is still running; re-run it to resume)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataFileError(f"{path} has format {got!r}, expected {MANIFEST_FORMAT!r}")
    if not isinstance(manifest.get("files"), list):
        raise DataFileError(f"{path} has no 'files' list")
    return manifest


def write_manifest(directory: PathLike, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (temporary file, then :func:`os.replace`)."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    data = dict(manifest)
    data.setdefault("format", MANIFEST_FORMAT)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def dataset_files(directory: PathLike) -> list[Path]:
    """Jet files of a complete dataset folder, in manifest order.

    Raises:
        DataFileError: The folder has no manifest (incomplete dataset).
        DataFileNotFoundError: A listed file is missing.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    out = []
    for entry in manifest["files"]:
        name = entry["name"] if isinstance(entry, dict) else str(entry)
        path = directory / name
        if not path.exists():
            raise DataFileNotFoundError(f"{path} is listed in {MANIFEST_NAME} but does not exist")
        out.append(path)
    return out


__all__ = [
    "FILE_FORMAT",
    "MANIFEST_FORMAT",
    "write_jets",
    "read_jets",
    "read_attrs",
    "count_jets",
    "read_manifest",
    "write_manifest",
    "dataset_files",
]
