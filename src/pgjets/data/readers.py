r"""Readers of the public jet data formats, each into a :class:`JetTable`.

Supported layouts (all readers take ``start``/``stop`` jet ranges so large
files are streamed, never loaded whole):

- **Top-tagging landscape** HDF5 (Kasieczka et al. 2019): a pandas
  ``HDFStore`` table under key ``"table"`` with columns ``E_i, PX_i, PY_i,
  PZ_i`` for :math:`i < 200` (zero padded, ``E_i == 0`` marks no particle) and
  the label ``is_signal_new``: :func:`read_top_landscape`.
- **JetClass** ROOT files (Qu et al. 2022): tree ``"tree"`` with jagged
  ``part_px, part_py, part_pz, part_energy`` (+ ``part_charge`` and the PID
  flags ``part_isChargedHadron, ...``) and one-hot ``label_*`` branches:
  :func:`read_jetclass`.
- **Jet images** HDF5: datasets ``images`` ``(N, H, W)`` / ``(N, C, H, W)``
  and ``labels`` ``(N,)`` or one-hot ``(N, K)``: :func:`read_jet_images`.
- **Awkward parquet**: a list-of-records field of constituents (``px, py,
  pz, E`` [+ ``pdgid, charge``]) and a ``label`` field:
  :func:`read_parquet_jets` / :func:`write_parquet_jets`.
- **pgjets generated folders** (``manifest.json`` + chunk files) and single
  chunk files: :mod:`pgjets.data.jet_io`.

:func:`open_jets` picks the reader from the path. A jet is kept when it has
at least one constituent; zero-particle jets raise
:class:`~pgjets.errors.EmptyGraphError` unless ``drop_empty=True`` (then they
are removed and the surviving jets keep their order).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from .._checks import require
from ..errors import DataFileError, DataFileNotFoundError
from .table import JetTable

PathLike = Union[str, os.PathLike]

#: Maximum number of particles of the top-tagging landscape files.
LANDSCAPE_PARTICLES = 200
#: Label names of the top-tagging landscape (``is_signal_new``).
LANDSCAPE_LABELS = ["qcd", "top"]
#: The ten JetClass classes, in the order of their ``label_*`` branches.
JETCLASS_LABELS = ["QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"]
_JETCLASS_P4 = ("part_px", "part_py", "part_pz", "part_energy")
#: JetClass PID flag branches and the representative ``|pdgid|`` each maps to.
JETCLASS_PID_FLAGS = {
    "part_isChargedHadron": 211,
    "part_isNeutralHadron": 130,
    "part_isPhoton": 22,
    "part_isElectron": 11,
    "part_isMuon": 13,
}


# ----------------------------------------------------------------- helpers
def _existing(path: PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(f"{what} {path} does not exist")
    return path


def _range(start: Optional[int], stop: Optional[int], n: int) -> tuple[int, int]:
    a, b, _ = slice(start, stop).indices(n)
    return a, max(a, b)


def _finish(table: JetTable, drop_empty: bool, path: Path) -> JetTable:
    """Drop or refuse jets without constituents."""
    if drop_empty:
        keep = np.nonzero(table.n_constituents > 0)[0]
        return table if keep.size == len(table) else table.take(keep)
    try:
        table.require_nonempty_jets()
    except Exception as exc:
        raise type(exc)(f"{path}: {exc} (pass drop_empty=True to skip such jets)") from exc
    return table


def _from_padded(E: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, label: np.ndarray,
                 extra: dict[str, np.ndarray], label_names: Optional[list[str]]) -> JetTable:
    """Zero-padded ``(J, M)`` arrays to a flat table (``E > 0`` marks particles), vectorised."""
    mask = E > 0
    counts = mask.sum(axis=1)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    # boolean indexing of a (J, M) array walks rows in order: particles stay grouped per jet
    return JetTable(px=px[mask], py=py[mask], pz=pz[mask], E=E[mask], offsets=offsets, label=label,
                    extra=extra, label_names=label_names)


# ------------------------------------------------------- top-tagging landscape
def read_top_landscape(
    path: PathLike,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    key: str = "table",
    drop_empty: bool = False,
) -> JetTable:
    r"""Read jets ``start:stop`` of a top-tagging landscape HDF5 file.

    The zero padding is removed vectorised: particle :math:`i` of jet
    :math:`j` exists iff :math:`E_{j,i} > 0`. The label is
    ``is_signal_new`` (0 = QCD, 1 = top); ``ttv`` (0/1/2 = train/test/val) and
    the truth columns ``truthE, truthPX, truthPY, truthPZ`` go to
    ``table.extra`` when present.

    Args:
        path (str or os.PathLike): The ``.h5`` file.
        start (int, optional): First jet row.
        stop (int, optional): One past the last jet row.
        key (str): HDFStore key (``"table"``).
        drop_empty (bool): Drop zero-particle jets instead of raising.

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Not a readable HDFStore table or missing columns.
        EmptyGraphError: A jet has no particles (and ``drop_empty`` is false).

    Shapes:
        - **output:** :class:`JetTable` with ``stop - start`` jets.
    """
    pd = require("pandas", "physics", "reading top-tagging landscape files")
    path = _existing(path, "top-tagging landscape file")
    try:
        df = pd.read_hdf(path, key=key, start=start, stop=stop)
    except KeyError as exc:
        raise DataFileError(f"{path} has no HDFStore key {key!r}: {exc}") from exc
    except Exception as exc:  # HDF5ExtError, OSError, TypeError, ValueError, ...
        raise DataFileError(f"{path} is not a readable pandas HDF5 table (corrupt or truncated?): {exc}") from exc
    cols = set(df.columns)
    n_part = 0
    while f"E_{n_part}" in cols:
        n_part += 1
    if n_part == 0:
        n_part = LANDSCAPE_PARTICLES
    wanted = [f"{c}_{i}" for c in ("E", "PX", "PY", "PZ") for i in range(n_part)] + ["is_signal_new"]
    missing = [c for c in wanted if c not in cols]
    if missing:
        shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
        raise DataFileError(f"{path} lacks the top-landscape columns: {shown}")
    block = {c: df[[f"{c}_{i}" for i in range(n_part)]].to_numpy(dtype=np.float32)
             for c in ("E", "PX", "PY", "PZ")}
    extra = {name: df[name].to_numpy() for name in ("ttv", "truthE", "truthPX", "truthPY", "truthPZ")
             if name in cols}
    table = _from_padded(block["E"], block["PX"], block["PY"], block["PZ"],
                         df["is_signal_new"].to_numpy().astype(np.int64), extra, list(LANDSCAPE_LABELS))
    return _finish(table, drop_empty, path)


def count_top_landscape(path: PathLike, key: str = "table") -> int:
    """Number of jets of a landscape file (reads the table metadata only)."""
    pd = require("pandas", "physics", "reading top-tagging landscape files")
    path = _existing(path, "top-tagging landscape file")
    try:
        with pd.HDFStore(path, mode="r") as store:
            storer = store.get_storer(key)
            if storer is None:
                raise DataFileError(f"{path} has no HDFStore key {key!r}")
            return int(storer.nrows)
    except DataFileError:
        raise
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable pandas HDF5 table: {exc}") from exc


# ---------------------------------------------------------------- JetClass
def _uproot_tree(path: Path, tree: str):
    uproot = require("uproot", "physics", "reading JetClass ROOT files")
    try:
        f = uproot.open(path)
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable ROOT file (corrupt or truncated?): {exc}") from exc
    try:
        t = f[tree]
    except Exception as exc:
        raise DataFileError(f"{path} has no readable tree {tree!r}: {exc}") from exc
    if not hasattr(t, "arrays"):
        raise DataFileError(f"{path}: {tree!r} is not a TTree")
    return t


def count_jetclass(path: PathLike, tree: str = "tree") -> int:
    """Number of jets (entries) of a JetClass ROOT file."""
    path = _existing(path, "JetClass file")
    t = _uproot_tree(path, tree)
    try:
        return int(t.num_entries)
    except Exception as exc:
        raise DataFileError(f"{path}: tree {tree!r} is unreadable: {exc}") from exc


def read_jetclass(
    path: PathLike,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    tree: str = "tree",
    label_names: Sequence[str] = JETCLASS_LABELS,
    drop_empty: bool = False,
) -> JetTable:
    r"""Read jets ``start:stop`` of a JetClass ROOT file.

    The jagged constituent branches are flattened with their counts (no loop
    per jet). The label is the index of the one-hot ``label_<name>`` branch
    that is set; the PID flags become a representative PDG id
    (:data:`JETCLASS_PID_FLAGS`, signed with the charge so that
    :func:`~pgjets.data.features.constituent_features` recovers it).

    .. math::
        y_j = \operatorname{arg\,max}_c \; \mathrm{label\_}c_j

    Args:
        path (str or os.PathLike): The ``.root`` file.
        start (int, optional): First entry.
        stop (int, optional): One past the last entry.
        tree (str): Tree name (``"tree"``).
        label_names (sequence of str): Classes whose ``label_*`` branches are
            read, in label order; branches absent from the file are skipped
            (at least one must be present).
        drop_empty (bool): Drop zero-particle jets instead of raising.

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Unreadable file, missing tree/branches or a jet with
            no (or several) labels set.
        EmptyGraphError: A jet has no particles (and ``drop_empty`` is false).
    """
    path = _existing(path, "JetClass file")
    ak = require("awkward", "physics", "reading JetClass ROOT files")
    t = _uproot_tree(path, tree)
    try:
        keys = set(t.keys())
        n_entries = int(t.num_entries)
    except Exception as exc:
        raise DataFileError(f"{path}: tree {tree!r} is unreadable (corrupt or truncated?): {exc}") from exc
    missing = [b for b in _JETCLASS_P4 if b not in keys]
    if missing:
        raise DataFileError(f"{path}: tree {tree!r} lacks the branches {', '.join(missing)}")
    labels = [n for n in label_names if f"label_{n}" in keys]
    if not labels:
        raise DataFileError(f"{path}: tree {tree!r} has none of the label branches "
                            f"{', '.join('label_' + n for n in label_names)}")
    optional = [b for b in ("part_charge", *JETCLASS_PID_FLAGS) if b in keys]
    names = list(_JETCLASS_P4) + optional + [f"label_{n}" for n in labels]
    a, b = _range(start, stop, n_entries)
    try:
        arrays = t.arrays(names, entry_start=a, entry_stop=b, library="ak")
    except Exception as exc:
        raise DataFileError(f"{path}: reading tree {tree!r} failed (corrupt or truncated?): {exc}") from exc
    counts = np.asarray(ak.num(arrays["part_px"], axis=1), dtype=np.int64)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    def flat(name: str, dtype) -> np.ndarray:
        return np.asarray(ak.flatten(arrays[name], axis=None), dtype=dtype)

    onehot = np.stack([np.asarray(arrays[f"label_{n}"]).astype(bool) for n in labels], axis=1)
    nset = onehot.sum(axis=1)
    if onehot.shape[0] and (nset != 1).any():
        j = int(np.nonzero(nset != 1)[0][0])
        raise DataFileError(f"{path}: entry {a + j} has {int(nset[j])} label_* branches set, expected 1")
    charge = flat("part_charge", np.float32) if "part_charge" in keys else None
    pdgid = None
    flags = [b for b in JETCLASS_PID_FLAGS if b in keys]
    if flags:
        pdgid = np.zeros(int(offsets[-1]), dtype=np.int32)
        for branch in flags:
            pdgid = np.where(flat(branch, np.float32) > 0.5, JETCLASS_PID_FLAGS[branch], pdgid)
        if charge is not None:
            sign = np.where(np.isin(pdgid, (11, 13)), -1, 1) * np.sign(charge).astype(np.int32)
            pdgid = np.where(sign != 0, pdgid * sign, pdgid).astype(np.int32)
    table = JetTable(
        px=flat("part_px", np.float32), py=flat("part_py", np.float32), pz=flat("part_pz", np.float32),
        E=flat("part_energy", np.float32), offsets=offsets, label=onehot.argmax(axis=1).astype(np.int64),
        pdgid=pdgid, charge=charge, label_names=list(labels),
    )
    return _finish(table, drop_empty, path)


# ---------------------------------------------------------------- jet images
def _h5(path: Path):
    h5py = require("h5py", "physics", "reading HDF5 files")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(f"{path} is not a readable HDF5 file (corrupt or truncated?): {exc}") from exc


def count_jet_images(path: PathLike) -> int:
    """Number of images of a jet-image HDF5 file."""
    path = _existing(path, "jet-image file")
    with _h5(path) as f:
        if "images" not in f:
            raise DataFileError(f"{path} has no dataset 'images'")
        return int(f["images"].shape[0])


def read_jet_images(
    path: PathLike,
    start: Optional[int] = None,
    stop: Optional[int] = None,
) -> tuple[Tensor, Tensor]:
    r"""Read images ``start:stop`` of a jet-image HDF5 file.

    Args:
        path (str or os.PathLike): File with datasets ``images`` and ``labels``.
        start (int, optional): First image.
        stop (int, optional): One past the last image.

    Returns:
        (Tensor, Tensor): float32 images ``(N, C, H, W)`` (a channel axis is
        added to ``(N, H, W)`` data) and long labels ``(N,)`` (one-hot labels
        are turned into indices with ``argmax``).

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Unreadable file, missing datasets, bad shapes or
            non-finite pixels.
    """
    path = _existing(path, "jet-image file")
    with _h5(path) as f:
        missing = [n for n in ("images", "labels") if n not in f]
        if missing:
            raise DataFileError(f"{path} lacks the datasets {', '.join(missing)}")
        img_ds, lab_ds = f["images"], f["labels"]
        if img_ds.ndim not in (3, 4):
            raise DataFileError(f"{path}: images must be (N, H, W) or (N, C, H, W), got {img_ds.shape}")
        if lab_ds.ndim not in (1, 2) or lab_ds.shape[0] != img_ds.shape[0]:
            raise DataFileError(f"{path}: labels {lab_ds.shape} do not match images {img_ds.shape}")
        a, b = _range(start, stop, img_ds.shape[0])
        try:
            images = np.asarray(img_ds[a:b], dtype=np.float32)
            labels = np.asarray(lab_ds[a:b])
        except OSError as exc:
            raise DataFileError(f"{path}: reading failed (corrupt or truncated?): {exc}") from exc
    if images.ndim == 3:
        images = images[:, None]
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if not np.isfinite(images).all():
        raise DataFileError(f"{path}: images hold NaN or infinite pixels")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


# ----------------------------------------------------------- awkward parquet
def count_parquet_jets(path: PathLike) -> int:
    """Number of jets (rows) of a parquet file (reads the footer only)."""
    pq = require("pyarrow.parquet", "physics", "reading parquet files")
    path = _existing(path, "parquet file")
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable parquet file (corrupt or truncated?): {exc}") from exc


def read_parquet_jets(
    path: PathLike,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    field: str = "constituents",
    label_field: str = "label",
    drop_empty: bool = False,
) -> JetTable:
    r"""Read jets ``start:stop`` of an awkward parquet file.

    Each row is a jet: ``row[field]`` is a list of records with ``px, py,
    pz, E`` (and optionally ``pdgid``, ``charge``), ``row[label_field]`` the
    integer label. Other scalar fields go to ``table.extra``.

    Args:
        path (str or os.PathLike): The ``.parquet`` file.
        start (int, optional): First jet.
        stop (int, optional): One past the last jet.
        field (str): Name of the constituent list field.
        label_field (str): Name of the label field.
        drop_empty (bool): Drop zero-particle jets instead of raising.

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Unreadable file or missing fields.
        EmptyGraphError: A jet has no particles (and ``drop_empty`` is false).
    """
    ak = require("awkward", "physics", "reading parquet jet files")
    pq = require("pyarrow.parquet", "physics", "reading parquet files")
    path = _existing(path, "parquet file")
    try:
        pf = pq.ParquetFile(path)
        n = int(pf.metadata.num_rows)
        raw = (pf.schema_arrow.metadata or {}).get(b"pgjets_label_names")
        a, b = _range(start, stop, n)
        # read only the row groups that overlap [a, b), then slice
        rg_rows = [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)]
        rg_start = np.concatenate([[0], np.cumsum(rg_rows)]).astype(np.int64)
        groups = [i for i in range(len(rg_rows)) if rg_start[i] < b and rg_start[i + 1] > a]
        if groups:
            arr = ak.from_parquet(path, row_groups=groups)
            base = int(rg_start[groups[0]])
            arr = arr[a - base : b - base]
        else:
            arr = ak.from_parquet(path)[0:0]
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable parquet file (corrupt or truncated?): {exc}") from exc
    fields = set(ak.fields(arr))
    missing = [f for f in (field, label_field) if f not in fields]
    if missing:
        raise DataFileError(f"{path} lacks the fields {', '.join(missing)} (has {sorted(fields)})")
    cons = arr[field]
    cfields = set(ak.fields(cons))
    missing = [c for c in ("px", "py", "pz", "E") if c not in cfields]
    if missing:
        raise DataFileError(f"{path}: {field!r} records lack {', '.join(missing)}")
    counts = np.asarray(ak.num(cons, axis=1), dtype=np.int64)
    offsets = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    def flat(name: str, dtype) -> np.ndarray:
        return np.asarray(ak.flatten(cons[name], axis=None), dtype=dtype)

    extra = {}
    for name in fields - {field, label_field}:
        col = arr[name]
        if col.ndim == 1:
            try:
                extra[name] = np.asarray(col)
            except Exception:
                pass
    names = json.loads(raw) if raw else None
    table = JetTable(
        px=flat("px", np.float32), py=flat("py", np.float32), pz=flat("pz", np.float32),
        E=flat("E", np.float32), offsets=offsets, label=np.asarray(arr[label_field], dtype=np.int64),
        pdgid=flat("pdgid", np.int32) if "pdgid" in cfields else None,
        charge=flat("charge", np.float32) if "charge" in cfields else None,
        extra=extra, label_names=list(names) if names else None,
    )
    return _finish(table, drop_empty, path)


def write_parquet_jets(table: JetTable, path: PathLike, field: str = "constituents",
                       label_field: str = "label", row_group_size: int = 10_000) -> Path:
    """Write ``table`` as awkward parquet (atomically: temporary name, then :func:`os.replace`).

    The layout is the one :func:`read_parquet_jets` reads; per-jet ``extra``
    arrays become scalar fields and ``label_names`` is kept in the schema
    metadata.

    Args:
        table (JetTable): The jets.
        path (str or os.PathLike): Output ``.parquet`` file.
        field (str): Name of the constituent list field.
        label_field (str): Name of the label field.
        row_group_size (int): Jets per parquet row group (the unit of partial reads).

    Returns:
        Path: ``path``.
    """
    ak = require("awkward", "physics", "writing parquet jet files")
    pq = require("pyarrow.parquet", "physics", "writing parquet files")
    path = Path(path)
    counts = table.n_constituents
    rec = {"px": table.px, "py": table.py, "pz": table.pz, "E": table.E}
    if table.pdgid is not None:
        rec["pdgid"] = np.asarray(table.pdgid, dtype=np.int32)
    if table.charge is not None:
        rec["charge"] = np.asarray(table.charge, dtype=np.float32)
    cons = ak.unflatten(ak.zip(rec), counts)
    columns = {field: cons, label_field: table.label}
    for name, arr in table.extra.items():
        if name not in columns:
            columns[name] = np.asarray(arr)
    arr = ak.zip(columns, depth_limit=1)
    atab = ak.to_arrow_table(arr)
    meta = dict(atab.schema.metadata or {})
    if table.label_names:
        meta[b"pgjets_label_names"] = json.dumps(list(table.label_names)).encode()
    atab = atab.replace_schema_metadata(meta)
    from .._atomic import atomic_output

    with atomic_output(path) as tmp:
        pq.write_table(atab, tmp, row_group_size=max(1, int(row_group_size)))
    return path


# ------------------------------------------------------------------ dispatch
FORMATS = ("generated", "jetfile", "landscape", "images", "jetclass", "parquet")


def detect_format(path: PathLike) -> str:
    """Name of the format of ``path`` (one of :data:`FORMATS`).

    A folder with ``manifest.json`` is ``"generated"``; ``.root`` is
    ``"jetclass"``; ``.parquet`` / ``.pq`` is ``"parquet"``; an HDF5 file is
    ``"jetfile"`` (a pgjets chunk), ``"landscape"`` (pandas key ``table``) or
    ``"images"`` (an ``images`` dataset) by its content.

    Raises:
        DataFileNotFoundError: No such path.
        DataFileError: The format cannot be recognised.
    """
    path = _existing(path, "jet data path")
    if path.is_dir():
        if (path / "manifest.json").exists():
            return "generated"
        raise DataFileError(f"{path} is a folder without manifest.json (incomplete generated dataset?)")
    suffix = path.suffix.lower()
    if suffix == ".root":
        return "jetclass"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".h5", ".hdf5", ".hdf"):
        with _h5(path) as f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode()
            if isinstance(fmt, str) and fmt.startswith("pgjets-jets"):
                return "jetfile"
            if "table" in f:
                return "landscape"
            if "images" in f:
                return "images"
            raise DataFileError(f"{path}: HDF5 file with neither a 'table' key nor an 'images' dataset "
                                f"(has {sorted(f.keys())})")
    raise DataFileError(f"{path}: cannot tell the jet file format from the suffix {suffix!r}")


def count_rows(path: PathLike, format: str = "auto") -> int:
    """Number of jets (or images) in ``path`` without reading the constituents."""
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "generated":
        from .jet_io import count_jets, dataset_files
        return int(sum(count_jets(f) for f in dataset_files(path)))
    if fmt == "jetfile":
        from .jet_io import count_jets
        return count_jets(path)
    counters = {"landscape": count_top_landscape, "jetclass": count_jetclass,
                "images": count_jet_images, "parquet": count_parquet_jets}
    if fmt not in counters:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    return counters[fmt](path)


def read_rows(path: PathLike, start: Optional[int] = None, stop: Optional[int] = None,
              format: str = "auto", drop_empty: bool = False):
    """Rows ``start:stop`` of a single file in any format.

    Returns a :class:`JetTable`, or ``(images, labels)`` for ``"images"``.
    """
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "jetfile":
        from .jet_io import read_jets
        return _finish(read_jets(path, start, stop), drop_empty, Path(path))
    if fmt == "images":
        return read_jet_images(path, start, stop)
    readers = {"landscape": read_top_landscape, "jetclass": read_jetclass, "parquet": read_parquet_jets}
    if fmt not in readers:
        raise ValueError(f"read_rows reads single files; format {fmt!r} is not one")
    return readers[fmt](path, start, stop, drop_empty=drop_empty)


def open_jets(path_or_dir: PathLike, format: str = "auto", start: Optional[int] = None,
              stop: Optional[int] = None, drop_empty: bool = False):
    """Read a jet source in any supported format (see :func:`detect_format`).

    A generated folder is read whole (all chunk files concatenated) unless
    ``start``/``stop`` are given; for streaming over large data use
    :class:`~pgjets.data.jet_dataset.JetDataset` instead.

    Args:
        path_or_dir (str or os.PathLike): File or generated folder.
        format (str): ``"auto"`` or one of :data:`FORMATS`.
        start (int, optional): First jet.
        stop (int, optional): One past the last jet.
        drop_empty (bool): Drop zero-particle jets instead of raising.

    Returns:
        JetTable, or ``(images, labels)`` tensors for a jet-image file.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    fmt = detect_format(path_or_dir) if format == "auto" else format
    if fmt != "generated":
        return read_rows(path_or_dir, start, stop, fmt, drop_empty)
    from .jet_io import count_jets, dataset_files, read_jets
    files = dataset_files(path_or_dir)
    counts = np.array([count_jets(f) for f in files], dtype=np.int64)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    a, b = _range(start, stop, int(bounds[-1]))
    parts = []
    for i, f in enumerate(files):
        lo, hi = max(a, int(bounds[i])), min(b, int(bounds[i + 1]))
        if hi > lo:
            parts.append(read_jets(f, lo - int(bounds[i]), hi - int(bounds[i])))
    if not parts:
        raise DataFileError(f"{path_or_dir}: no jets in rows {a}:{b}")
    return _finish(JetTable.concat(parts), drop_empty, Path(path_or_dir))


__all__ = [
    "read_top_landscape",
    "read_jetclass",
    "read_jet_images",
    "read_parquet_jets",
    "write_parquet_jets",
    "open_jets",
    "detect_format",
    "count_rows",
    "read_rows",
    "count_top_landscape",
    "count_jetclass",
    "count_jet_images",
    "count_parquet_jets",
    "FORMATS",
    "JETCLASS_LABELS",
    "JETCLASS_PID_FLAGS",
    "LANDSCAPE_LABELS",
]
