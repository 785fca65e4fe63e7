r"""Readers of the public jet data formats, each into a :class:`JetTable`.

Supported layouts (all readers take ``start``/``stop`` jet ranges so large
files are streamed, never loaded whole):

- **Top-tagging landscape** HDF5 (Kasieczka et al. 2019): a pandas
  ``HDFStore`` frame under key ``"table"``, written with ``format="fixed"``
  (the pandas default, as the published files) or ``format="table"``, with columns ``E_i, PX_i, PY_i,
  PZ_i`` for :math:`i < 200` (zero padded, ``E_i == 0`` marks no particle) and
  the label ``is_signal_new``: :func:`read_top_landscape`.
- **JetClass** ROOT files (Qu et al. 2022): tree ``"tree"`` with jagged
  ``part_px, part_py, part_pz, part_energy`` (+ ``part_charge``, the PID
  flags ``part_isChargedHadron, ...`` and the track impact parameters
  ``part_d0val, part_d0err, part_dzval, part_dzerr``) and one-hot ``label_*`` branches:
  :func:`read_jetclass`.
- **Quark/gluon** ``.npz`` of the energy-flow papers (Komiske et al. 2019):
  ``X`` ``(N, M, 4)`` = :math:`(p_T, y, \phi, \mathrm{pdgid})` zero padded
  and ``y`` (1 = quark, 0 = gluon): :func:`read_quark_gluon`.
- **JetNet** HDF5 (Kansal et al. 2021): one file per jet type, named
  ``g, q, t, w, z`` (``g150`` ... for the 150-particle version), with
  ``particle_features`` ``(N, M, 4)`` = :math:`(\eta^\mathrm{rel},
  \phi^\mathrm{rel}, p_T^\mathrm{rel}, \mathrm{mask})` and ``jet_features``
  ``(N, 4)`` = :math:`(p_T, \eta, m, N_\mathrm{particles})`: :func:`read_jetnet`.
- **Jet images** HDF5: datasets ``images`` ``(N, H, W)`` / ``(N, C, H, W)``
  and ``labels`` ``(N,)`` or one-hot ``(N, K)``: :func:`read_jet_images`.
- **Awkward parquet**: a list-of-records field of constituents (``px, py,
  pz, E`` [+ ``pdgid, charge``, ``d0val, d0err, dzval, dzerr``]) and a ``label`` field:
  :func:`read_parquet_jets` / :func:`write_parquet_jets`.
- **pgjets generated folders** (``manifest.json`` + chunk files) and single
  chunk files: :mod:`pgjets.data.jet_io`.

:func:`detect_format` tells the format from the file content (magic bytes,
HDF5 layout, archive members), :func:`open_jets` picks the reader. Labels are
checked at the boundary: negative, fractional or out-of-range labels raise
:class:`~pgjets.errors.DataFileError` naming the file, never truncated. A jet is kept when it has
at least one constituent; zero-particle jets raise
:class:`~pgjets.errors.EmptyGraphError` unless ``drop_empty=True`` (then they
are removed and the surviving jets keep their order).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from .._checks import require
from ..errors import DataFileError, DataFileNotFoundError, EmptyGraphError, InputShapeError, NonFiniteError
from .table import TRACK_IP_COLUMNS, JetTable, offsets_from_counts

PathLike = Union[str, os.PathLike]

#: Maximum number of particles of the top-tagging landscape files.
LANDSCAPE_PARTICLES = 200
#: Label names of the top-tagging landscape (``is_signal_new``).
LANDSCAPE_LABELS = ["qcd", "top"]
#: Label names of the quark/gluon sample (``y``: 1 = quark, 0 = gluon, the energy-flow convention).
QUARK_GLUON_LABELS = ["gluon", "quark"]
#: The JetNet jet types, in the order of JetNet's class index (``jetnet.datasets.JetNet.jet_types``).
JETNET_LABELS = ["g", "q", "t", "w", "z"]
_JETNET_NAME = re.compile(r"^([gqtwz])(?:150|30)?(?:[_\-.].*)?$")
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


def _row_groups(metadata: Any, a: int, b: int) -> tuple[list[int], int]:
    """The row groups of a parquet file (its ``pyarrow`` ``FileMetaData``) that hold rows ``a:b``, in
    order, and the file row of the first of them (0 for none): rows ``a:b`` are rows
    ``a - first:b - first`` of those groups read together.  An empty group counts only inside the range."""
    starts = offsets_from_counts([metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])
    groups = [g for g in range(metadata.num_row_groups) if starts[g] < b and starts[g + 1] > a]
    return groups, int(starts[groups[0]]) if groups else 0


def _range(start: Optional[int], stop: Optional[int], n: int) -> tuple[int, int]:
    a, b, _ = slice(start, stop).indices(n)
    return a, max(a, b)


def event_span(cum: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """The events ``e0:e1`` that hold rows ``a:b`` of a file whose events hold ``cum[e+1] - cum[e]`` rows
    each (``cum``: the offsets, ``len(events) + 1``): the fewest, events without rows at either end left
    out; ``(0, 0)`` for no rows."""
    if b <= a:
        return 0, 0
    return int(np.searchsorted(cum, a, side="right") - 1), int(np.searchsorted(cum, b, side="left"))


def event_counts(tree: Any, path: Path, branch: str) -> np.ndarray:
    """The integer branch ``branch`` of an uproot tree (one count per event: ``nJet``, ``Jet_size``)."""
    try:
        return np.asarray(tree[branch].array(library="np"), dtype=np.int64)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot read {branch}: {exc}") from exc


def flavour_classes(flavour: np.ndarray, classes: dict[int, int], path: PathLike, first_row: int,
                    what: str = "flavour") -> np.ndarray:
    """The class of every jet from its flavour code (``classes``: code -> class), or a
    :class:`DataFileError` naming the file, the first jet with a code outside ``classes`` (its row
    ``first_row + j``) and ``what`` the code is."""
    codes = np.array(sorted(classes), dtype=np.int64)
    at = np.minimum(np.searchsorted(codes, flavour), len(codes) - 1)
    unknown = codes[at] != flavour
    if unknown.any():
        j = int(np.nonzero(unknown)[0][0])
        listed = ", ".join(map(str, codes[:-1].tolist())) + f" or {int(codes[-1])}"
        raise DataFileError(f"{path}: jet {first_row + j} has {what} {int(flavour[j])}; expected {listed}")
    return np.array([classes[c] for c in codes.tolist()], dtype=np.int64)[at]


def check_labels(raw: np.ndarray, num_classes: Optional[int], path: PathLike, column: str = "label",
                 first_row: int = 0) -> np.ndarray:
    """Integer class labels ``0..num_classes-1`` from a label column, or a :class:`DataFileError`.

    Booleans and integer-valued floats are accepted; NaN, fractional, negative
    and (when ``num_classes`` is known) too large labels are refused with the
    file, the column and the first offending row.  One-hot rows ``(J, K)``
    (exactly one 1 per row, the rest 0) give the index of the 1; any other
    2-D column is refused.

    Args:
        raw (np.ndarray): The label column, shape ``(J,)`` (or ``(J, K)`` one-hot).
        num_classes (int, optional): Number of classes the source declares.
        path (str or os.PathLike): File named in the error.
        column (str): Column named in the error.
        first_row (int): Row number of ``raw[0]`` in the file.
    """
    arr = np.asarray(raw)
    if arr.ndim == 2 and arr.shape[1] > 1:  # one-hot rows (K columns): the class is the set column
        onehot = arr.astype(np.float64) if arr.dtype.kind in "biuf" else None
        ok = onehot is not None and np.isin(onehot, (0.0, 1.0)).all(axis=1) & (onehot.sum(axis=1) == 1)
        if onehot is None or not ok.all():
            r = 0 if onehot is None else int(np.nonzero(~ok)[0][0])
            raise DataFileError(f"{path}: {column} has shape {arr.shape} and row {first_row + r} "
                                f"({arr[r].tolist()}) is not one-hot; give one integer label per jet or "
                                "one-hot rows with exactly one 1")
        if num_classes is not None and arr.shape[1] > num_classes:
            raise DataFileError(f"{path}: {column} has {arr.shape[1]} one-hot columns for {num_classes} classes")
        return onehot.argmax(axis=1).astype(np.int64)
    if arr.ndim > 1 and arr.size != arr.shape[0]:
        raise DataFileError(f"{path}: {column} has shape {arr.shape}; expected one label per jet")
    arr = arr.reshape(-1)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iuf":
        raise DataFileError(f"{path}: {column} has dtype {arr.dtype}, expected integer class labels")

    allowed = f"0..{num_classes - 1}" if num_classes else "0..K-1"

    def fail(mask: np.ndarray, what: str) -> None:
        r = int(np.nonzero(mask)[0][0])
        raise DataFileError(f"{path}: {column} holds {what} labels (first at row {first_row + r}: "
                            f"{arr[r].item()!r}); labels must be integers {allowed}")

    if arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            fail(bad, "non-integer")
    if arr.size and (arr < 0).any():
        fail(arr < 0, "negative")
    if num_classes is not None and arr.size and (arr >= num_classes).any():
        fail(arr >= num_classes, f"out-of-range (>= {num_classes} classes)")
    return arr.astype(np.int64)


def _finish(table: JetTable, drop_empty: bool, path: Path, first_row: int = 0) -> JetTable:
    """Drop or refuse jets without constituents (``first_row``: the file row of the table's jet 0)."""
    if drop_empty:
        keep = np.nonzero(table.n_constituents > 0)[0]
        return table if keep.size == len(table) else table.take(keep)
    empty = np.nonzero(table.n_constituents == 0)[0]
    if empty.size:
        raise EmptyGraphError(
            f"{path}: jet {first_row + int(empty[0])} (row in the file) has zero constituents"
            f"{f', and {empty.size - 1} more jets of the rows read' if empty.size > 1 else ''}; the "
            "readers skip such jets with drop_empty=True, a training run needs them removed from the file")
    return table


def _finite(values: np.ndarray, offsets: np.ndarray, what: str, unit: str, first_row: int) -> np.ndarray:
    """``values`` (flat constituents of the jets ``offsets``) if finite, else a :class:`DataFileError`
    naming ``what`` and the first bad jet as ``unit`` ("entry", "row") ``first_row + j`` of the file."""
    bad = ~np.isfinite(values)
    if bad.any():
        j = int(np.searchsorted(offsets, np.nonzero(bad)[0][0], side="right") - 1)
        raise DataFileError(f"{what} holds {int(bad.sum())} NaN or infinite values "
                            f"(first in {unit} {first_row + j})")
    return values


def _table(path: Path, **columns) -> JetTable:
    """A :class:`JetTable` of a file's columns; its checks' errors name the file."""
    try:
        return JetTable(**columns)
    except (NonFiniteError, InputShapeError) as exc:
        raise type(exc)(f"{path}: {exc}") from exc


def _from_padded(E: np.ndarray, px: np.ndarray, py: np.ndarray, pz: np.ndarray, label: np.ndarray,
                 extra: dict[str, np.ndarray], label_names: Optional[list[str]]) -> JetTable:
    """Zero-padded ``(J, M)`` arrays to a flat table (``E > 0`` marks particles), vectorised."""
    mask = E > 0
    counts = mask.sum(axis=1)
    offsets = offsets_from_counts(counts)
    # boolean indexing of a (J, M) array walks rows in order: particles stay grouped per jet
    return JetTable(px=px[mask], py=py[mask], pz=pz[mask], E=E[mask], offsets=offsets, label=label,
                    extra=extra, label_names=label_names)  # finite: checked by the callers


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
    # the particle slots are 0..largest index of any E/PX/PY/PZ column: a gap is a missing column
    # (counting the unbroken run E_0, E_1, ... would cut every jet at the gap without a word)
    indices = [int(c.split("_", 1)[1]) for c in map(str, cols)
               if c.split("_", 1)[0] in ("E", "PX", "PY", "PZ") and c.split("_", 1)[-1].isdigit()]
    n_part = max(indices) + 1 if indices else LANDSCAPE_PARTICLES
    wanted = [f"{c}_{i}" for c in ("E", "PX", "PY", "PZ") for i in range(n_part)] + ["is_signal_new"]
    missing = [c for c in wanted if c not in cols]
    if missing:
        shown = ", ".join(missing[:8]) + (f" (+{len(missing) - 8} more)" if len(missing) > 8 else "")
        raise DataFileError(f"{path} lacks the top-landscape columns: {shown}")
    block = {c: df[[f"{c}_{i}" for i in range(n_part)]].to_numpy(dtype=np.float32)
             for c in ("E", "PX", "PY", "PZ")}
    first = 0 if start is None else int(start)
    if first < 0:  # pandas counts a negative start from the end: name file rows in the errors
        first = _range(start, None, count_top_landscape(path, key))[0]
    for c, arr in block.items():
        bad = ~np.isfinite(arr) | ((arr < 0) if c == "E" else False)
        if bad.any():
            r, i = (int(v[0]) for v in np.nonzero(bad))
            raise DataFileError(f"{path}: {c}_{i} of row {first + r} is {arr[r, i]!r}; the landscape columns "
                                f"must be finite{' and E >= 0' if c == 'E' else ''} (zero marks padding)")
    extra = {name: df[name].to_numpy() for name in ("ttv", "truthE", "truthPX", "truthPY", "truthPZ")
             if name in cols}
    for name, values in extra.items():
        bad = ~np.isfinite(values.astype(np.float64))
        if bad.any():
            r = int(np.nonzero(bad)[0][0])
            raise DataFileError(f"{path}: {name} of row {first + r} is {values[r].item()!r}; the truth "
                                "columns must be finite")
    label = check_labels(df["is_signal_new"].to_numpy(), len(LANDSCAPE_LABELS), path, "is_signal_new", first)
    table = _from_padded(block["E"], block["PX"], block["PY"], block["PZ"], label, extra,
                         list(LANDSCAPE_LABELS))
    return _finish(table, drop_empty, path, first)


def count_top_landscape(path: PathLike, key: str = "table") -> int:
    """Number of jets of a landscape file, ``format="fixed"`` or ``"table"`` (reads the metadata only)."""
    pd = require("pandas", "physics", "reading top-tagging landscape files")
    path = _existing(path, "top-tagging landscape file")
    try:
        with pd.HDFStore(path, mode="r") as store:
            storer = store.get_storer(key)
            if storer is None:
                raise DataFileError(f"{path} has no HDFStore key {key!r}")
            if storer.is_table:
                return int(storer.nrows)
            shape = storer.shape  # fixed frames: [rows, columns]
            if not shape:
                raise DataFileError(f"{path}: HDFStore key {key!r} is not a data frame")
            return int(shape[0])
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


def jetclass_file_info(path: PathLike, tree: str = "tree",
                       label_names: Sequence[str] = JETCLASS_LABELS) -> tuple[int, list[str]]:
    """The number of jets of a JetClass ROOT file and its classes as :func:`read_jetclass` names them
    (those of ``label_names`` whose ``label_*`` branch the tree has), from one open of its metadata."""
    path = _existing(path, "JetClass file")
    t = _uproot_tree(path, tree)
    try:
        keys, n = set(t.keys()), int(t.num_entries)
    except Exception as exc:
        raise DataFileError(f"{path}: tree {tree!r} is unreadable: {exc}") from exc
    return n, [name for name in label_names if f"label_{name}" in keys]


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
    :func:`~pgjets.data.features.constituent_features` recovers it), and the
    track impact parameters ``part_d0val, part_d0err, part_dzval, part_dzerr``
    (when the file has all four) the table's ``d0val, ...`` columns: with them
    the ``particlenet`` feature set gives the paper's 17 inputs.

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
    track_ip = [f"part_{c}" for c in TRACK_IP_COLUMNS]
    if not set(track_ip) <= keys:
        track_ip = []  # all four or none
    optional = [b for b in ("part_charge", *JETCLASS_PID_FLAGS, *track_ip) if b in keys]
    names = list(_JETCLASS_P4) + optional + [f"label_{n}" for n in labels]
    a, b = _range(start, stop, n_entries)
    try:
        arrays = t.arrays(names, entry_start=a, entry_stop=b, library="ak")
    except Exception as exc:
        raise DataFileError(f"{path}: reading tree {tree!r} failed (corrupt or truncated?): {exc}") from exc
    counts = np.asarray(ak.num(arrays["part_px"], axis=1), dtype=np.int64)
    offsets = offsets_from_counts(counts)

    def flat(name: str, dtype) -> np.ndarray:
        values = np.asarray(ak.flatten(arrays[name], axis=None), dtype=np.float64)
        if values.size != offsets[-1]:
            raise DataFileError(f"{path}: branch {name} has {values.size} values in entries {a}:{b}, but "
                                f"part_px has {int(offsets[-1])} (the part_* branches must align)")
        return _finite(values, offsets, f"{path}: branch {name}", "entry", a).astype(dtype)

    onehot = np.stack([np.asarray(arrays[f"label_{n}"]).astype(bool) for n in labels], axis=1)
    nset = onehot.sum(axis=1)
    if onehot.shape[0] and (nset != 1).any():
        j = int(np.nonzero(nset != 1)[0][0])
        raise DataFileError(f"{path}: entry {a + j} has {int(nset[j])} label_* branches set, expected 1")
    charge = flat("part_charge", np.float32) if "part_charge" in keys else None
    pdgid = None
    flags = [b for b in JETCLASS_PID_FLAGS if b in keys]
    if flags and charge is None:
        # the flags give |PDG id| only; its sign (and so the charge feature) would be made up
        warnings.warn(f"{path}: tree {tree!r} has particle-ID flags but no part_charge; the particle-ID "
                      "features are left out (without the charge the PDG id's sign is unknown)", stacklevel=2)
        flags = []
    if flags:
        pdgid = np.zeros(int(offsets[-1]), dtype=np.int32)
        for branch in flags:
            pdgid = np.where(flat(branch, np.float32) > 0.5, JETCLASS_PID_FLAGS[branch], pdgid)
        if charge is not None:
            sign = np.where(np.isin(pdgid, (11, 13)), -1, 1) * np.sign(charge).astype(np.int32)
            pdgid = np.where(sign != 0, pdgid * sign, pdgid).astype(np.int32)
    table = _table(
        path, px=flat("part_px", np.float32), py=flat("part_py", np.float32), pz=flat("part_pz", np.float32),
        E=flat("part_energy", np.float32), offsets=offsets, label=onehot.argmax(axis=1).astype(np.int64),
        pdgid=pdgid, charge=charge, label_names=list(labels),
        **{c: flat(b, np.float32) for c, b in zip(TRACK_IP_COLUMNS, track_ip)},
    )
    return _finish(table, drop_empty, path, a)


def _collider_p4(pt: np.ndarray, rap: np.ndarray, phi: np.ndarray,
                 mass: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    r"""``px, py, pz, E`` of particles given as :math:`(p_T, y, \phi)` and a mass (``None``: massless,
    where the rapidity is the pseudorapidity): :math:`m_T = \sqrt{p_T^2 + m^2}`,
    :math:`(E, p_z) = m_T (\cosh y, \sinh y)`."""
    mt = pt if mass is None else np.sqrt(pt**2 + mass**2)
    return {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": mt * np.sinh(rap), "E": mt * np.cosh(rap)}


# ------------------------------------------------------------- quark/gluon npz
#: Masses (GeV) used to turn ``(pt, y, phi)`` into four-momenta, by ``|pdgid|`` (others: massless).
_PDG_MASS = {11: 0.000511, 13: 0.10566, 211: 0.13957, 321: 0.49368, 130: 0.49761, 310: 0.49761,
             2212: 0.93827, 2112: 0.93957}


def _npz_member(path: Path, name: str):
    """``(zipfile, info, shape, dtype, fortran, data_offset)`` of member ``name.npy`` of an npz archive."""
    import zipfile
    import zlib

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFileError(f"{path} is not a readable .npz archive (corrupt or truncated?): {exc}") from exc
    try:
        info = zf.getinfo(f"{name}.npy")
    except KeyError:
        zf.close()
        raise DataFileError(f"{path} has no array {name!r} (an energy-flow quark/gluon file holds X and y)") from None
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            header = fh.tell()
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        zf.close()
        raise DataFileError(f"{path}: the header of {name} is damaged (corrupt or truncated?): {exc}") from exc
    return zf, info, shape, dtype, fortran, header


def _npz_rows(path: Path, name: str, a: int, b: int) -> np.ndarray:
    """Rows ``a:b`` of ``name`` in an npz archive, reading (and inflating) only up to row ``b``."""
    import zipfile
    import zlib

    zf, info, shape, dtype, fortran, header = _npz_member(path, name)
    try:
        if fortran and len(shape) > 1:
            raise DataFileError(f"{path}: {name} is stored in Fortran order; re-save it with np.savez")
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        with zf.open(info) as fh:
            fh.seek(header + a * row)  # stored members seek directly, deflated ones inflate up to here
            buf = fh.read((b - a) * row)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:  # bad CRC, damaged deflate stream
        raise DataFileError(f"{path}: {name} is damaged (corrupt or truncated?): {exc}") from exc
    finally:
        zf.close()
    if len(buf) != (b - a) * row:
        raise DataFileError(f"{path}: {name} is truncated (rows {a}:{b} of {shape[0]} unreadable)")
    return np.frombuffer(buf, dtype=dtype).reshape((b - a, *shape[1:]))


def count_quark_gluon(path: PathLike) -> int:
    """Number of jets of an energy-flow quark/gluon ``.npz`` (reads the array headers only)."""
    path = _existing(path, "quark/gluon file")
    shapes = []
    for name in ("X", "y"):
        zf, _, shape, _, _, _ = _npz_member(path, name)
        zf.close()
        shapes.append(shape)
    (sx, sy) = shapes
    if len(sx) != 3 or sx[2] < 4 or len(sy) != 1 or sy[0] != sx[0]:
        raise DataFileError(f"{path}: expected X (N, M, 4) and y (N,), got X {sx} and y {sy}")
    return int(sx[0])


def read_quark_gluon(
    path: PathLike,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    drop_empty: bool = False,
) -> JetTable:
    r"""Read jets ``start:stop`` of an energy-flow quark/gluon ``.npz`` file.

    ``X[j, i] = (p_T, y, \phi, \mathrm{pdgid})`` (zero rows are padding,
    :math:`p_T > 0` marks a particle) and ``y[j]`` is 1 for a quark jet and 0
    for a gluon jet (:data:`QUARK_GLUON_LABELS`). The four-momentum of a
    particle of mass :math:`m` (from its PDG id; photons and unknown ids are
    massless) is

    .. math::
        m_T = \sqrt{p_T^2 + m^2}, \quad
        (E, p_x, p_y, p_z) = (m_T \cosh y,\; p_T \cos\phi,\; p_T \sin\phi,\; m_T \sinh y).

    Only the requested rows are decoded (a compressed archive is inflated up
    to row ``stop``).

    Args:
        path (str or os.PathLike): The ``.npz`` file.
        start (int, optional): First jet.
        stop (int, optional): One past the last jet.
        drop_empty (bool): Drop zero-particle jets instead of raising.

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Unreadable archive, wrong shapes, non-finite values,
            negative :math:`p_T` or labels other than 0/1.
        EmptyGraphError: A jet has no particles (and ``drop_empty`` is false).
    """
    n = count_quark_gluon(path)
    path = Path(path)
    a, b = _range(start, stop, n)
    X = _npz_rows(path, "X", a, b).astype(np.float64)
    y = _npz_rows(path, "y", a, b)
    label = check_labels(y, len(QUARK_GLUON_LABELS), path, "y", a)
    pt, rap, phi = X[..., 0], X[..., 1], X[..., 2]
    if not np.isfinite(X[..., :4]).all() or (pt < 0).any():
        r = int(np.nonzero((~np.isfinite(X[..., :4]).all(-1) | (pt < 0)).any(-1))[0][0])
        raise DataFileError(f"{path}: X of row {a + r} holds NaN, infinite or negative-pt particles")
    mask = pt > 0
    pid = np.abs(X[..., 3][mask]).astype(np.int64)
    mass = np.zeros(pid.shape, dtype=np.float64)
    for code, m in _PDG_MASS.items():
        mass[pid == code] = m
    counts = mask.sum(axis=1)
    offsets = offsets_from_counts(counts)
    pdgid = X[..., 3][mask].astype(np.int32)
    charge = np.zeros(pdgid.shape, dtype=np.float32)
    apid = np.abs(pdgid)
    pos = np.isin(apid, (211, 321, 2212))  # pi+ K+ p: charge = sign(pdgid); e-, mu-: -sign
    charge[pos] = np.sign(pdgid[pos])
    lep = np.isin(apid, (11, 13))
    charge[lep] = -np.sign(pdgid[lep])
    table = _table(path, **_collider_p4(pt[mask], rap[mask], phi[mask], mass), offsets=offsets, label=label,
                   pdgid=pdgid, charge=charge, label_names=list(QUARK_GLUON_LABELS))
    return _finish(table, drop_empty, path, a)


# -------------------------------------------------------------------- JetNet
def _jetnet_type(path: Path, jet_type: Optional[str]) -> int:
    """Class index of a JetNet file: ``jet_type`` if given, else the file's name (``t.hdf5``, ``t150.hdf5``,
    ``t_train.hdf5``, ``t150-2.hdf5``: the type, optionally 30 or 150, then nothing or ``_``, ``-``, ``.``
    and anything)."""
    if jet_type is None:
        match = _JETNET_NAME.match(path.stem)
        if match is None:
            raise DataFileError(f"{path}: a JetNet file holds one jet type, told by its name: "
                                f"{', '.join(JETNET_LABELS)}, optionally followed by 30 or 150, then nothing or "
                                "_, - or . and anything (t.hdf5, t150.hdf5, t_train.hdf5); rename the file (in "
                                "Python read_jetnet(..., jet_type=) also tells it)")
        jet_type = match.group(1)
    if jet_type not in JETNET_LABELS:
        raise ValueError(f"jet_type must be one of {JETNET_LABELS}, got {jet_type!r}")
    return JETNET_LABELS.index(jet_type)


def _jetnet_datasets(f, path: Path):
    missing = [n for n in ("particle_features", "jet_features") if n not in f]
    if missing:
        raise DataFileError(f"{path} lacks the JetNet datasets {', '.join(missing)}")
    parts, jets = f["particle_features"], f["jet_features"]
    if parts.ndim != 3 or parts.shape[2] < 3 or jets.ndim != 2 or jets.shape[1] < 3 \
            or jets.shape[0] != parts.shape[0]:
        raise DataFileError(f"{path}: expected particle_features (N, M, 3 or 4) and jet_features (N, >= 3), "
                            f"got {parts.shape} and {jets.shape}")
    return parts, jets


def count_jetnet(path: PathLike) -> int:
    """Number of jets of a JetNet HDF5 file (reads the metadata only)."""
    path = _existing(path, "JetNet file")
    with _h5(path) as f:
        return int(_jetnet_datasets(f, path)[0].shape[0])


def read_jetnet(
    path: PathLike,
    start: Optional[int] = None,
    stop: Optional[int] = None,
    jet_type: Optional[str] = None,
    drop_empty: bool = False,
) -> JetTable:
    r"""Read jets ``start:stop`` of a JetNet HDF5 file.

    JetNet stores each particle relative to its jet,
    :math:`\eta^\mathrm{rel}_i = \eta_i - \eta_J`,
    :math:`\phi^\mathrm{rel}_i = \phi_i - \phi_J` (wrapped) and
    :math:`p^\mathrm{rel}_{T,i} = p_{T,i} / p_{T,J}`, padded with zero rows
    (``mask`` = 0; a file without the mask column marks particles by
    :math:`p_T^\mathrm{rel} > 0`), and per jet :math:`(p_{T,J}, \eta_J, m_J,
    N)`.  The jet azimuth is not stored, so the jets are read at
    :math:`\phi_J = 0`; the particles, which JetNet treats as massless, become

    .. math::
        p_{T,i} = p^\mathrm{rel}_{T,i}\, p_{T,J}, \quad \eta_i = \eta^\mathrm{rel}_i + \eta_J, \quad
        (E, p_x, p_y, p_z)_i = p_{T,i}\,(\cosh\eta_i,\; \cos\phi^\mathrm{rel}_i,\;
        \sin\phi^\mathrm{rel}_i,\; \sinh\eta_i).

    The label is the jet type, from the file name (``t.hdf5``, ``t150.hdf5``, ``t_train.hdf5``,
    ``t150-part2.hdf5``: the type letter, optionally 30 or 150, then nothing or a ``_``, ``-`` or ``.``
    and anything) or ``jet_type``, as an index into :data:`JETNET_LABELS` (JetNet's own class
    index), so the files of several types form one dataset.  ``table.extra``
    holds the stored ``jet_pt``, ``jet_eta``, ``jet_mass`` (and
    ``num_particles``, the particles of the jet before the file kept the
    hardest :math:`M`).

    Args:
        path (str or os.PathLike): The ``.hdf5`` file.
        start (int, optional): First jet.
        stop (int, optional): One past the last jet.
        jet_type (str, optional): One of :data:`JETNET_LABELS`, for a file whose
            name does not tell it.
        drop_empty (bool): Drop zero-particle jets instead of raising.

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Unreadable file, missing datasets, wrong shapes, a name
            that tells no jet type, non-finite values or a negative :math:`p_T`.
        EmptyGraphError: A jet has no particles (and ``drop_empty`` is false).
    """
    path = _existing(path, "JetNet file")
    label = _jetnet_type(path, jet_type)
    with _h5(path) as f:
        parts_ds, jets_ds = _jetnet_datasets(f, path)
        a, b = _range(start, stop, parts_ds.shape[0])
        try:
            parts = np.asarray(parts_ds[a:b], dtype=np.float64)
            jets = np.asarray(jets_ds[a:b], dtype=np.float64)
        except OSError as exc:
            raise DataFileError(f"{path}: reading failed (corrupt or truncated?): {exc}") from exc
    for what, arr in (("particle_features", parts), ("jet_features", jets)):
        bad = ~np.isfinite(arr).reshape(len(arr), int(np.prod(arr.shape[1:]))).all(axis=1)
        if bad.any():
            raise DataFileError(f"{path}: {what} of row {a + int(np.nonzero(bad)[0][0])} holds NaN or "
                                "infinite values")
    jet_pt, jet_eta = jets[:, 0], jets[:, 1]
    mask = parts[..., 3] > 0.5 if parts.shape[2] > 3 else parts[..., 2] > 0
    bad = (jet_pt < 0) | ((parts[..., 2] < 0) & mask).any(axis=1)
    if bad.any():
        raise DataFileError(f"{path}: row {a + int(np.nonzero(bad)[0][0])} has a negative jet or particle pT")
    counts = mask.sum(axis=1)
    offsets = offsets_from_counts(counts)
    pt = (parts[..., 2] * jet_pt[:, None])[mask]
    eta = (parts[..., 0] + jet_eta[:, None])[mask]
    phi = parts[..., 1][mask]
    extra = {"jet_pt": jet_pt, "jet_eta": jet_eta, "jet_mass": jets[:, 2]}
    if jets.shape[1] > 3:
        extra["num_particles"] = jets[:, 3]
    table = _table(path, **_collider_p4(pt, eta, phi), offsets=offsets,
                   label=np.full(len(jets), label, dtype=np.int64), extra=extra, label_names=list(JETNET_LABELS))
    return _finish(table, drop_empty, path, a)


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
        added to ``(N, H, W)`` data; channels-last ``(N, H, W, C)`` data, as
        Keras-era files store them, are recognised by at most 4 channels
        against more than 4 rows, and transposed) and long labels ``(N,)``
        (one-hot rows give the index of their 1, see :func:`check_labels`).

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
    elif channels_last(images.shape):
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    labels = check_labels(labels, None, path, "labels", a)
    if not np.isfinite(images).all():
        raise DataFileError(f"{path}: images hold NaN or infinite pixels")
    return torch.from_numpy(images), torch.from_numpy(labels)


def channels_last(shape: Sequence[int]) -> bool:
    """Whether a 4-D image array ``shape`` is ``(N, H, W, C)``: at most 4 channels last, more than 4 rows."""
    return len(shape) == 4 and shape[3] <= 4 < shape[1]


# ----------------------------------------------------------- awkward parquet
#: Flat jagged fields of the Particle Transformer authors' parquet files (``part_<name>``) and the
#: constituent record fields they become.
PART_PARQUET_FIELDS = {"px": "px", "py": "py", "pz": "pz", "energy": "E"}
_PART_PARQUET_OPTIONAL = {"pid": "pdgid", "charge": "charge", **{c: c for c in TRACK_IP_COLUMNS}}


def _zip_part_fields(ak, arr, path: Path, field: str):
    """The ParT layout (``part_px, ..., part_energy`` [, ``part_pid``, ``part_charge``] side by side)
    as one list of constituent records ``field``; the other ``part_*`` fields are left out."""
    names = {**PART_PARQUET_FIELDS, **_PART_PARQUET_OPTIONAL}
    try:
        cons = ak.zip({new: arr[f"part_{old}"] for old, new in names.items() if f"part_{old}" in ak.fields(arr)})
    except ValueError as exc:
        raise DataFileError(f"{path}: the part_* fields do not align per jet: {exc}") from exc
    rest = {f: arr[f] for f in ak.fields(arr) if not f.startswith("part_")}
    out = ak.zip({**rest, field: cons}, depth_limit=1)
    return field, out, set(ak.fields(out))


def parquet_has_labels(path: PathLike, label_field: str = "label") -> bool:
    """Whether the parquet jet file ``path`` has the field ``label_field`` (reads the footer only)."""
    pq = require("pyarrow.parquet", "physics", "reading parquet files")
    path = _existing(path, "parquet file")
    try:
        return label_field in pq.ParquetFile(path).schema_arrow.names
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable parquet file (corrupt or truncated?): {exc}") from exc


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
    label_field: Optional[str] = "label",
    drop_empty: bool = False,
) -> JetTable:
    r"""Read jets ``start:stop`` of an awkward parquet file.

    Each row is a jet: ``row[field]`` is a list of records with ``px, py,
    pz, E`` (and optionally ``pdgid``, ``charge``), ``row[label_field]`` the
    integer label (or a one-hot row). Other scalar fields go to ``table.extra``.
    With ``label_field=None`` the jets are read unlabelled (jets of collision
    data, to be scored by a trained tagger): every label is ``-1`` and the
    table has no class names (:func:`parquet_has_labels` tells the files apart).

    The layout of the Particle Transformer authors' converted top-tagging and
    quark/gluon files is read too: jagged fields ``part_px, part_py, part_pz,
    part_energy`` side by side (and ``part_pid``, ``part_charge`` when present),
    scalar ``jet_*`` fields (to ``table.extra``) and ``label``.  Their
    ``part_deta``, ``part_dphi`` and PID flags are not read: the features are
    computed from the four-momenta and the PDG id as for every other format.

    Args:
        path (str or os.PathLike): The ``.parquet`` file.
        start (int, optional): First jet.
        stop (int, optional): One past the last jet.
        field (str): Name of the constituent list field.
        label_field (str, optional): Name of the label field; ``None``: unlabelled jets.
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
        groups, base = _row_groups(pf.metadata, a, b)
        if groups:
            arr = ak.from_parquet(path, row_groups=groups)
            arr = arr[a - base : b - base]
        else:
            arr = ak.from_parquet(path)[0:0]
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable parquet file (corrupt or truncated?): {exc}") from exc
    fields = set(ak.fields(arr))
    if field not in fields and all(f"part_{c}" in fields for c in PART_PARQUET_FIELDS):
        field, arr, fields = _zip_part_fields(ak, arr, path, field)
    missing = [f for f in (field, label_field) if f is not None and f not in fields]
    if missing:
        hint = ("; jets without labels are scored with pgjets evaluate RUN --data (training needs labels)"
                if missing == [label_field] else "")
        raise DataFileError(f"{path} lacks the fields {', '.join(missing)} (has {sorted(fields)}){hint}")
    cons = arr[field]
    cfields = set(ak.fields(cons))
    missing = [c for c in ("px", "py", "pz", "E") if c not in cfields]
    if missing:
        raise DataFileError(f"{path}: {field!r} records lack {', '.join(missing)}")
    counts = np.asarray(ak.num(cons, axis=1), dtype=np.int64)
    offsets = offsets_from_counts(counts)

    def flat(name: str, dtype) -> np.ndarray:
        missing = int(ak.sum(ak.is_none(cons[name], axis=-1)))
        if missing:
            raise DataFileError(f"{path}: {field}.{name} holds {missing} missing (null) values in rows {a}:{b}")
        values = np.asarray(ak.flatten(cons[name], axis=None), dtype=np.float64)
        return _finite(values, offsets, f"{path}: {field}.{name}", "row", a).astype(dtype)

    extra = {}
    for name in fields - {field, label_field}:
        col = arr[name]
        if col.ndim == 1:
            try:
                extra[name] = np.asarray(col)
            except Exception:
                pass
    names = json.loads(raw) if raw else None
    if label_field is None:  # unlabelled jets: y = -1, no class names
        label, names = np.full(len(counts), -1, dtype=np.int64), None
    else:
        try:
            raw_label = np.asarray(arr[label_field])
        except Exception as exc:
            raise DataFileError(f"{path}: field {label_field!r} is not one label per jet: {exc}") from exc
        label = check_labels(raw_label, len(names) if names else None, path, label_field, a)
    table = _table(
        path, px=flat("px", np.float32), py=flat("py", np.float32), pz=flat("pz", np.float32),
        E=flat("E", np.float32), offsets=offsets, label=label,
        pdgid=flat("pdgid", np.int32) if "pdgid" in cfields else None,
        charge=flat("charge", np.float32) if "charge" in cfields else None,
        extra=extra, label_names=list(names) if names else None,
        **({c: flat(c, np.float32) for c in TRACK_IP_COLUMNS} if set(TRACK_IP_COLUMNS) <= cfields else {}),
    )
    return _finish(table, drop_empty, path, a)


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
    if table.has_track_ip:
        rec.update({c: getattr(table, c) for c in TRACK_IP_COLUMNS})
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
FORMATS = ("generated", "jetfile", "landscape", "images", "jetclass", "parquet", "quark_gluon", "jetnet", "pfnano",
           "delphes")
#: File suffixes a folder of data files is searched for (the content still decides the format).
DATA_SUFFIXES = (".h5", ".hdf5", ".hdf", ".root", ".parquet", ".pq", ".npz")
_MAGIC = {b"\x89HDF\r\n\x1a\n": "hdf5", b"root": "root", b"PAR1": "parquet", b"PK\x03\x04": "zip"}


def _magic(path: Path) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise DataFileError(f"{path} cannot be read: {exc}") from exc
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def looks_like_data(path: PathLike) -> bool:
    """Whether the first bytes of the file ``path`` are those of a format pgjets reads (HDF5, ROOT, parquet, npz)."""
    return _magic(Path(path)) is not None


def detect_format(path: PathLike) -> str:
    """Name of the format of ``path`` (one of :data:`FORMATS`), from its content.

    A folder with ``manifest.json`` is ``"generated"``. A file is recognised
    by its first bytes and layout, whatever its name: ROOT (``"pfnano"``: CMS PFNano, a tree
    ``Events`` with ``JetPFCands``; ``"delphes"``: a tree ``Delphes``; else ``"jetclass"``),
    parquet (``"parquet"``), an npz archive with ``X`` and ``y``
    (``"quark_gluon"``) or HDF5, which is ``"jetfile"`` (a pgjets chunk),
    ``"landscape"`` (a pandas ``table`` key, fixed or table format),
    ``"jetnet"`` (``particle_features`` and ``jet_features`` datasets) or
    ``"images"`` (an ``images`` dataset).

    Raises:
        DataFileNotFoundError: No such path.
        DataFileError: The format cannot be recognised.
    """
    path = _existing(path, "jet data path")
    if path.is_dir():
        if (path / "manifest.json").exists():
            return "generated"
        raise DataFileError(f"{path} is a folder without manifest.json (incomplete generated dataset?)")
    kind = _magic(path)
    if kind == "root":
        return _root_jet_format(path)
    if kind == "parquet":
        return "parquet"
    if kind == "zip":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataFileError(f"{path} is not a readable .npz archive (corrupt or truncated?): {exc}") from exc
        if {"X.npy", "y.npy"} <= names:
            return "quark_gluon"
        raise DataFileError(f"{path}: npz archive without the arrays X and y of the quark/gluon sample "
                            f"(has {sorted(n[:-4] for n in names)})")
    if kind == "hdf5":
        with _h5(path) as f:
            fmt = f.attrs.get("format")
            if isinstance(fmt, bytes):
                fmt = fmt.decode()
            if isinstance(fmt, str) and fmt.startswith("pgjets-jets"):
                return "jetfile"
            if "table" in f:
                return "landscape"
            if "particle_features" in f and "jet_features" in f:
                return "jetnet"
            if "images" in f:
                return "images"
            raise DataFileError(f"{path}: HDF5 file with neither a 'table' key (top-tagging landscape), "
                                f"JetNet's particle_features/jet_features nor an 'images' dataset "
                                f"(has {sorted(f.keys())})")
    raise DataFileError(f"{path}: not a jet file pgjets reads (HDF5, ROOT, parquet or npz; "
                        f"the first bytes match none of them)")


#: Jet files that are event files too (an event model reads them as events, see
#: :func:`pgjets.run_events.is_event_data`).
EVENT_JET_FORMATS: tuple[str, ...] = ("pfnano", "delphes")


def _root_jet_format(path: Path) -> str:
    """``"pfnano"`` (CMS PFNano: a tree ``Events`` with jet constituents as index pairs,
    :mod:`pgjets.data.pfnano`), ``"delphes"`` (a tree ``Delphes``, :mod:`pgjets.data.delphes_jets`) or
    ``"jetclass"`` (any other ROOT file)."""
    from .delphes_jets import is_delphes_jets
    from .pfnano import is_pfnano

    uproot = require("uproot", "physics", "reading ROOT jet files")
    try:
        with uproot.open(path) as f:
            names = {k.split(";")[0] for k in f.keys()}
            if is_delphes_jets(names):
                return "delphes"
            if "Events" in names and is_pfnano(set(f["Events"].keys(recursive=False))):
                return "pfnano"
    except Exception:
        pass  # the JetClass reader names what is wrong with the file
    return "jetclass"


def count_rows(path: PathLike, format: str = "auto") -> int:
    """Number of jets (or images) in ``path`` without reading the constituents."""
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "generated":
        from .jet_io import count_jets, dataset_files
        return int(sum(count_jets(f) for f in dataset_files(path)))
    if fmt == "jetfile":
        from .jet_io import count_jets
        return count_jets(path)
    from .delphes_jets import count_delphes_jets
    from .pfnano import count_pfnano

    counters = {"landscape": count_top_landscape, "jetclass": count_jetclass,
                "images": count_jet_images, "parquet": count_parquet_jets, "quark_gluon": count_quark_gluon,
                "jetnet": count_jetnet, "pfnano": count_pfnano, "delphes": count_delphes_jets}
    if fmt not in counters:
        raise ValueError(f"format must be 'auto' or one of {FORMATS}, got {format!r}")
    return counters[fmt](path)


def read_rows(path: PathLike, start: Optional[int] = None, stop: Optional[int] = None,
              format: str = "auto", drop_empty: bool = False, labelled: bool = True):
    """Rows ``start:stop`` of a single file in any format.

    ``labelled=False`` reads parquet and PFNano jets unlabelled (labels ``-1``, see
    :func:`read_parquet_jets`, :func:`~pgjets.data.pfnano.read_pfnano`); the other formats always carry labels.

    Returns a :class:`JetTable`, or ``(images, labels)`` for ``"images"``.
    """
    fmt = detect_format(path) if format == "auto" else format
    if not labelled:
        if fmt == "pfnano":
            from .pfnano import read_pfnano
            return read_pfnano(path, start, stop, drop_empty=drop_empty, labelled=False)
        if fmt != "parquet":
            raise DataFileError(f"{path}: only parquet and PFNano jet files are read without labels (this is {fmt!r})")
        return read_parquet_jets(path, start, stop, label_field=None, drop_empty=drop_empty)
    if fmt == "jetfile":
        from .jet_io import read_jets
        table = read_jets(path, start, stop)
        first = int(start or 0)
        if first < 0:
            from .jet_io import count_jets
            first = _range(start, None, count_jets(path))[0]
        check_labels(table.label, len(table.label_names) if table.label_names else None, path,
                     "jets/label", first)
        return _finish(table, drop_empty, Path(path), first)
    if fmt == "images":
        return read_jet_images(path, start, stop)
    from .delphes_jets import read_delphes_jets
    from .pfnano import read_pfnano

    readers = {"landscape": read_top_landscape, "jetclass": read_jetclass, "parquet": read_parquet_jets,
               "quark_gluon": read_quark_gluon, "jetnet": read_jetnet, "pfnano": read_pfnano,
               "delphes": read_delphes_jets}
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
    bounds = offsets_from_counts(counts)
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
    "parquet_has_labels",
    "read_quark_gluon",
    "count_quark_gluon",
    "read_jetnet",
    "count_jetnet",
    "JETNET_LABELS",
    "check_labels",
    "write_parquet_jets",
    "open_jets",
    "detect_format",
    "looks_like_data",
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
    "QUARK_GLUON_LABELS",
    "DATA_SUFFIXES",
]
