r"""Writers of the public jet layouts, so that pgjets jets can be shared with other frameworks.

Each writer produces a file the matching reader of :mod:`pgjets.data.readers`
reads back (and that the tools of the field read):

- :func:`write_top_landscape`: the top-tagging landscape pandas HDF5 (key
  ``"table"``, columns ``E_i, PX_i, PY_i, PZ_i`` for :math:`i < 200`
  interleaved per particle, zero padded, particles in decreasing
  :math:`p_T`, then ``truthE, truthPX, truthPY, truthPZ, ttv,
  is_signal_new``), ``format="fixed"`` (the pandas default) or
  ``"table"`` (appendable, for files larger than memory);
- :func:`write_jetclass`: a JetClass-layout ROOT file (tree ``"tree"``,
  jagged ``part_px, part_py, part_pz, part_energy, part_charge`` and the five
  PID flags, one-hot ``label_*``);
- :func:`write_quark_gluon`: the energy-flow quark/gluon ``.npz`` (``X``
  ``(N, M, 4)`` = :math:`(p_T, y, \phi, \mathrm{pdgid})`, ``y``);
- :func:`write_jetnet`: a JetNet HDF5 file (``particle_features`` ``(N, M, 4)``
  = :math:`(\eta^\mathrm{rel}, \phi^\mathrm{rel}, p_T^\mathrm{rel}, \mathrm{mask})`,
  ``jet_features`` ``(N, 4)`` = :math:`(p_T, \eta, m, N)`), one jet type per file;
- awkward parquet: :func:`~pgjets.data.readers.write_parquet_jets`;
- :func:`write_nanoaod`: whole events as a CMS NanoAOD-layout ROOT file (tree
  ``"Events"``, a counter ``nC`` and jagged ``C_pt, C_eta, ...`` per
  collection ``C``, flat event branches such as ``MET_pt``), read back by
  :func:`~pgjets.data.event_dataset.read_nanoaod_events`.

Every file is written to a temporary name first and moved into place
(:mod:`pgjets._atomic`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .._atomic import atomic_output
from .._checks import check_positive_int, require
from ..errors import DataFileError
from .table import TRACK_IP_COLUMNS, JetTable, pt_eta_phi

PathLike = Union[str, os.PathLike]


def _padded(table: JetTable, n_part: int, columns: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``(J, n_part)`` zero-padded blocks of per-constituent ``columns``, particles by decreasing pT."""
    j = len(table)
    jet = table.jet_index
    pt = np.hypot(table.px, table.py)
    order = np.lexsort((-pt, jet))  # by jet, then decreasing pT
    local = np.arange(order.size) - np.repeat(table.offsets[:-1], table.n_constituents)
    keep = local < n_part
    rows, cols = jet[keep], local[keep]
    out = []
    for arr in columns:
        block = np.zeros((j, n_part), dtype=np.float32)
        block[rows, cols] = np.asarray(arr)[order][keep]
        out.append(block)
    return out


def _check_labels_fit(table: JetTable, names: Sequence[str], what: str) -> None:
    if len(table) and (table.label.min() < 0 or table.label.max() >= len(names)):
        raise DataFileError(f"{what} holds labels 0..{len(names) - 1} ({', '.join(names)}); "
                            f"the jets carry labels {int(table.label.min())}..{int(table.label.max())}")


def write_top_landscape(table: JetTable, path: PathLike, format: str = "fixed", n_part: int = 200,
                        append: bool = False, ttv: int = 0) -> Path:
    r"""Write ``table`` in the top-tagging landscape layout.

    Jets with more than ``n_part`` constituents keep the ``n_part`` of
    highest :math:`p_T`. ``truthE``/``truthPX``/... are zero (pgjets jets
    carry the truth object as ``truth_pt, truth_eta, truth_phi, truth_mass``
    when generated; they are converted when present). The label must be 0
    (QCD) or 1 (top), as ``is_signal_new``.

    Args:
        table (JetTable): The jets.
        path (str or os.PathLike): Output ``.h5``.
        format (str): ``"fixed"`` (pandas default, as the published files)
            or ``"table"``.
        n_part (int): Particle slots per jet (200 in the published files).
        append (bool): Append to an existing ``format="table"`` file (not atomic).
        ttv (int): Value of the ``ttv`` column (0 train, 1 test, 2 validation).

    Returns:
        Path: ``path``.
    """
    pd = require("pandas", "physics", "writing top-tagging landscape files")
    require("tables", "physics", "writing top-tagging landscape files")
    if format not in ("fixed", "table"):
        raise ValueError(f"format must be 'fixed' or 'table', got {format!r}")
    if append and format != "table":
        raise ValueError("append=True needs format='table' (pandas cannot append to fixed frames)")
    n_part = check_positive_int(n_part, "n_part")
    _check_labels_fit(table, ["qcd", "top"], "the landscape layout")
    path = Path(path)
    blocks = _padded(table, n_part, (table.E, table.px, table.py, table.pz))
    cols: dict[str, np.ndarray] = {}
    for i in range(n_part):
        for name, block in zip(("E", "PX", "PY", "PZ"), blocks):
            cols[f"{name}_{i}"] = block[:, i]
    truth = np.zeros((len(table), 4), dtype=np.float32)
    if all(k in table.extra for k in ("truth_pt", "truth_eta", "truth_phi", "truth_mass")):
        pt, eta, phi, m = (np.nan_to_num(np.asarray(table.extra[k], dtype=np.float64))
                           for k in ("truth_pt", "truth_eta", "truth_phi", "truth_mass"))
        pz = pt * np.sinh(eta)
        truth[:] = np.stack([np.sqrt(pt**2 + pz**2 + m**2), pt * np.cos(phi), pt * np.sin(phi), pz], 1)
    for c, name in enumerate(("truthE", "truthPX", "truthPY", "truthPZ")):
        cols[name] = truth[:, c]
    cols["ttv"] = np.full(len(table), int(ttv), dtype=np.int8)
    cols["is_signal_new"] = table.label.astype(np.int8)
    df = pd.DataFrame(cols)
    if append:
        df.to_hdf(path, key="table", format="table", append=True, complevel=1)
        return path
    with atomic_output(path) as tmp:
        kw = {"complevel": 1} if format == "table" else {}
        df.to_hdf(tmp, key="table", format=format, mode="w", **kw)
    return path


def write_jetclass(table: JetTable, path: PathLike, label_names: Optional[Sequence[str]] = None) -> Path:
    """Write ``table`` as a JetClass-layout ROOT file (read back by :func:`~pgjets.data.readers.read_jetclass`).

    The PID flags follow ``|pdgid|`` (:data:`~pgjets.data.features.CHARGED_HADRONS`,
    :data:`~pgjets.data.features.NEUTRAL_HADRONS`, 22, 11, 13); the charge is
    ``table.charge`` or, without it, derived from the PDG id. A table without
    PDG ids gets no flags and no charge; its track impact parameters, when it
    has them, go to ``part_d0val, part_d0err, part_dzval, part_dzerr``.

    Args:
        table (JetTable): The jets.
        path (str or os.PathLike): Output ``.root``.
        label_names (sequence of str, optional): Names of the ``label_*``
            branches, in label order (default ``table.label_names``).
    """
    ak = require("awkward", "physics", "writing JetClass files")
    uproot = require("uproot", "physics", "writing JetClass files")
    from .features import CHARGED_HADRONS, NEUTRAL_HADRONS

    names = list(label_names or table.label_names or [])
    if not names:
        raise ValueError("write_jetclass needs label names (label_names= or table.label_names)")
    _check_labels_fit(table, names, f"the label branches {names}")
    counts = table.n_constituents

    def jag(a, dtype=np.float32):
        return ak.unflatten(np.asarray(a, dtype=dtype), counts)

    branches = {"part_px": jag(table.px), "part_py": jag(table.py), "part_pz": jag(table.pz),
                "part_energy": jag(table.E)}
    if table.pdgid is not None:
        pid = np.abs(np.asarray(table.pdgid))
        sign = np.sign(np.asarray(table.pdgid))
        if table.charge is not None:
            charge = np.asarray(table.charge, dtype=np.float32)
        else:
            charge = np.where(np.isin(pid, CHARGED_HADRONS), sign, 0)
            charge = np.where(np.isin(pid, (11, 13)), -sign, charge)
        branches["part_charge"] = jag(charge)
        for flag, ids in (("part_isChargedHadron", CHARGED_HADRONS), ("part_isNeutralHadron", NEUTRAL_HADRONS),
                          ("part_isPhoton", (22,)), ("part_isElectron", (11,)), ("part_isMuon", (13,))):
            branches[flag] = jag(np.isin(pid, ids))
    if table.has_track_ip:
        for column in TRACK_IP_COLUMNS:
            branches[f"part_{column}"] = jag(getattr(table, column))
    for i, name in enumerate(names):
        branches[f"label_{name}"] = (table.label == i)
    path = Path(path)
    with atomic_output(path) as tmp:
        with uproot.recreate(tmp) as f:
            f["tree"] = branches
    return path


def write_quark_gluon(table: JetTable, path: PathLike, n_part: Optional[int] = None,
                      compressed: bool = False) -> Path:
    r"""Write ``table`` as an energy-flow quark/gluon ``.npz``.

    ``X[j, i] = (p_T, y, \phi, \mathrm{pdgid})`` with the rapidity
    :math:`y = \tfrac12 \log\frac{E + p_z}{E - p_z}`, particles by decreasing
    :math:`p_T`, zero padded to ``n_part`` (default: the largest jet); ``y``
    is the label (1 = quark, 0 = gluon, :data:`~pgjets.data.readers.QUARK_GLUON_LABELS`).
    A table without PDG ids writes 0 there.

    Args:
        table (JetTable): The jets.
        path (str or os.PathLike): Output ``.npz``.
        n_part (int, optional): Particle slots per jet.
        compressed (bool): ``np.savez_compressed`` (as the published files)
            instead of ``np.savez`` (faster to stream).
    """
    _check_labels_fit(table, ["gluon", "quark"], "the quark/gluon layout")
    n = int(table.n_constituents.max()) if len(table) else 1
    n_part = n if n_part is None else check_positive_int(n_part, "n_part")
    pt = np.hypot(table.px, table.py)
    E, pz = table.E.astype(np.float64), table.pz.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rap = 0.5 * np.log(np.maximum(E + pz, 1e-12) / np.maximum(E - pz, 1e-12))
    phi = np.arctan2(table.py, table.px)
    pid = np.zeros(pt.size) if table.pdgid is None else np.asarray(table.pdgid, dtype=np.float64)
    blocks = _padded(table, n_part, (pt, rap, phi, pid))
    X = np.stack(blocks, axis=-1).astype(np.float64)
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            (np.savez_compressed if compressed else np.savez)(fh, X=X, y=table.label.astype(np.float64))
    return path


def write_jetnet(table: JetTable, path: PathLike, n_part: int = 30) -> Path:
    r"""Write ``table`` as a JetNet HDF5 file (read back by :func:`~pgjets.data.readers.read_jetnet`).

    JetNet keeps one jet type per file, told by the file name: name the file
    after the type of its jets (``t.hdf5``, or ``t150.hdf5`` with
    ``n_part=150``); the labels are not stored.  Per jet :math:`J` (the sum of
    its constituents) and particle :math:`i`, the hardest ``n_part`` first,

    .. math::
        (\eta^\mathrm{rel}_i, \phi^\mathrm{rel}_i, p^\mathrm{rel}_{T,i}) =
        (\eta_i - \eta_J,\; \phi_i - \phi_J \ (\mathrm{wrapped}),\; p_{T,i} / p_{T,J}),

    a ``mask`` of 1, zero rows as padding, and ``jet_features``
    :math:`(p_{T,J}, \eta_J, m_J, N_J)` with :math:`N_J` the particles before
    the cut to ``n_part``.  The jet azimuth and the particle masses are not
    part of the layout (a reader puts the jets at :math:`\phi_J = 0` and the
    particles massless).

    Args:
        table (JetTable): The jets (of one type).
        path (str or os.PathLike): Output ``.hdf5``.
        n_part (int): Particle slots per jet (30 or 150 in the published files).

    Raises:
        DataFileError: A jet has no constituents or a zero :math:`p_T`.
    """
    from .features import wrap_phi

    h5py = require("h5py", "physics", "writing HDF5 files")
    n_part = check_positive_int(n_part, "n_part")
    kin = table.jet_kinematics()
    if len(table) and (table.n_constituents.min() == 0 or kin["pt"].min() <= 0):
        raise DataFileError("the JetNet layout stores particles relative to their jet: every jet needs "
                            "constituents and a positive pT")
    jet, jet_pt = table.jet_index, kin["pt"]
    pt, eta, phi = pt_eta_phi(table.px, table.py, table.pz)
    dphi = wrap_phi(phi - kin["phi"][jet])
    blocks = _padded(table, n_part, (eta - kin["eta"][jet], dphi, pt / jet_pt[jet], np.ones(pt.size)))
    parts = np.stack(blocks, axis=-1).astype(np.float32)
    jets = np.stack([jet_pt, kin["eta"], kin["mass"], table.n_constituents], axis=1).astype(np.float32)
    path = Path(path)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("particle_features", data=parts)
            f.create_dataset("jet_features", data=jets)
    return path


def write_nanoaod(events, path: PathLike, drop: Sequence[str] = ("label",)) -> Path:
    r"""Write events with NanoAOD-style fields as a CMS NanoAOD-layout ROOT file.

    ``events`` holds flat fields ``C_f`` per collection ``C`` (as
    :func:`~pgjets.data.generate_events.read_events` returns a
    ``pgjets generate --events`` folder, or
    :func:`~pgjets.data.event_dataset.read_nanoaod_events` a NanoAOD file):
    the jagged ones become the branches ``C_f`` of collection ``C`` with one
    counter ``nC`` per collection, as CMS writes them; the per-event ones
    (``MET_pt``, ``MET_phi``, ``event``, ...) stay flat branches.  Counters in
    ``events`` (``nJet``) are written anew from the collections, and the fields
    of ``drop`` are left out: a real NanoAOD file holds no class label (give
    the class per file instead, see
    :class:`~pgjets.data.event_dataset.StreamedEventDataset`).

    .. math::
        \texttt{nC}[b] = |\texttt{C\_pt}[b]| \quad \text{for every collection } C

    Args:
        events (awkward.Array): Events with NanoAOD-style fields.
        path (str or os.PathLike): Output ``.root``.
        drop (sequence of str): Fields not written (default ``("label",)``; ``()`` keeps it as a branch).

    Raises:
        ValueError: a jagged field without a collection prefix (``C_f``), or two fields of one
            collection with other object counts.
    """
    ak = require("awkward", "physics", "writing NanoAOD files")
    uproot = require("uproot", "physics", "writing NanoAOD files")
    fields = [f for f in (events.fields or []) if f not in set(drop)]
    jagged = {f for f in fields if events[f].ndim > 1}
    collections: dict[str, dict[str, object]] = {}
    for f in sorted(jagged, key=fields.index):
        coll, sep, name = f.partition("_")
        if not sep or not name:
            raise ValueError(f"write_nanoaod: the jagged field {f!r} has no collection prefix (C_field)")
        collections.setdefault(coll, {})[name] = events[f]
    for coll, cols in collections.items():
        counts = {n: ak.to_numpy(ak.num(a)) for n, a in cols.items()}
        first = next(iter(counts))
        bad = [n for n in counts if not np.array_equal(counts[n], counts[first])]
        if bad:
            raise ValueError(f"write_nanoaod: {coll}_{bad[0]} and {coll}_{first} hold other numbers of objects")
    branches: dict[str, object] = {c: ak.zip(cols) for c, cols in collections.items()}
    counters = {f"n{c}" for c in collections}
    for f in fields:
        if f not in jagged and f not in counters:
            branches[f] = ak.to_numpy(events[f])
    path = Path(path)
    with atomic_output(path) as tmp:
        with uproot.recreate(tmp) as out:
            out.mktree("Events", {k: v.type if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()},
                       field_name=lambda outer, inner: f"{outer}_{inner}", counter_name=lambda c: f"n{c}")
            out["Events"].extend(branches)
    return path


__all__ = ["write_top_landscape", "write_jetclass", "write_quark_gluon", "write_jetnet", "write_nanoaod"]
