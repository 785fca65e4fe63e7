r"""Whole collision events from Pythia 8 + FastJet, in a NanoAOD-like layout.

Events are pp collisions at :math:`\sqrt{s} = 14` TeV (the setup of
:mod:`pgjets.data.generate`, which also provides the seeding, the Pythia
set-up and the manifest).  From the final-state particles of every event:

- **leptons** (``Muon``, ``Electron``): final :math:`\mu^\pm`, :math:`e^\pm` with
  :math:`p_T > 10` GeV, :math:`|\eta| < 2.5` and the relative isolation

  .. math::
      I_{rel} = \frac{1}{p_T^\ell} \sum_{j \ne \ell,\ \Delta R(j, \ell) < 0.3}
      p_T^j < 0.15

  (sum over the other visible final-state particles);
- **photons** (``Photon``): final photons with the same cuts;
- **jets** (``Jet``): anti-:math:`k_T`, :math:`R = 0.4`, of the visible
  final-state particles except the isolated leptons and photons,
  :math:`p_T > 25` GeV, :math:`|\eta| < 4.7`; ``hadronFlavour`` is 5 if a
  b hadron (:math:`p_T > 5` GeV) lies within :math:`\Delta R < 0.4` of the
  jet axis, else 4 for a c hadron, else 0 (generator truth); ``btag``
  emulates a b tagger from it: 1 with probability 0.70 (b), 0.10 (c) or
  0.01 (light), drawn from the event seed;
- **MET**: the transverse momentum of the invisible final-state particles
  (neutrinos), :math:`\vec p_T^{\,miss} = \sum_{\text{invisible}} \vec p_T`.

An event is kept if it holds at least one isolated lepton with
:math:`p_T > 25` GeV (a single-lepton trigger).  Objects are sorted by
decreasing :math:`p_T`.

Processes (:data:`EVENT_PROCESSES`, labels in the order given):

- ``"ttbar"``: :math:`t\bar t` (``Top:gg2ttbar``, ``Top:qqbar2ttbar``) with
  :math:`W \to q\bar q'`, :math:`e\nu` or :math:`\mu\nu`; after the lepton
  requirement mostly semileptonic (:math:`\ell\nu b\, q\bar q' \bar b`).
- ``"wjets"``: :math:`W` + jet (``WeakBosonAndParton:qqbar2Wg``,
  ``qg2Wq``) with :math:`W \to e\nu, \mu\nu` and a hard recoil,
  :math:`\hat p_T > 100` GeV: the W + jets tail that looks most like
  :math:`t\bar t` (with :math:`\hat p_T > 20` GeV the two separate almost
  perfectly by the number of jets alone).
- ``"zjets"``: :math:`Z/\gamma^*` + jet (``WeakBosonAndParton:qqbar2gmZg``,
  ``qg2gmZq``, pure :math:`Z`, :math:`\hat p_T > 20` GeV) with
  :math:`Z \to ee, \mu\mu`.

A physicist separates ``ttbar`` from ``wjets`` by the number of jets, b
jets and the scalar sum :math:`H_T` of jet :math:`p_T`.

**File layout** (awkward parquet, one file per chunk, NanoAOD field names,
GeV and radians): per event ``Jet_pt, Jet_eta, Jet_phi, Jet_mass,
Jet_hadronFlavour, Jet_btag, Jet_nConstituents``; ``Muon_*`` and ``Electron_*`` with
``pt, eta, phi, mass, charge, pfRelIso03_all``; ``Photon_pt, Photon_eta,
Photon_phi, Photon_mass, Photon_pfRelIso03_all``; ``MET_pt, MET_phi``;
``nJet, nMuon, nElectron, nPhoton``; ``label`` (int) and ``event`` (index
within the chunk).  :func:`read_events` reads a file or a folder back.

Speed: about 95 selected events/s for ``ttbar`` and for ``wjets`` on one
core of a busy shared 2-core machine (``fast=True``, MPI off); Pythia itself
makes 250 (ttbar) to 1700 (W + jet) events/s, the rest is the object
reconstruction in Python.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .._atomic import atomic_output
from .._checks import check_positive_int, require
from ..errors import DataFileError, DataFileNotFoundError
from .generate import _Event, _delta_r, _fastjet, _prepare_folder, _pythia, derive_seed
from .jet_io import MANIFEST_FORMAT, MANIFEST_NAME, dataset_files, read_manifest, write_manifest
from .table import pt_eta_phi

#: Processes :func:`generate_events` knows, in a fixed order (used to derive seeds).
EVENT_PROCESSES = ("ttbar", "wjets", "zjets")
#: ``kind`` of the manifest of an event folder.
EVENTS_KIND = "events"

_SETTINGS: dict[str, list[str]] = {
    "ttbar": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", "24:onIfAny = 1 2 3 4 5 11 13"],
    "wjets": ["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", "24:onMode = off",
              "24:onIfAny = 11 13"],
    "zjets": ["WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on", "WeakZ0:gmZmode = 2",
              "23:onMode = off", "23:onIfAny = 11 13"],
}
_PTHAT = {"ttbar": 0.0, "wjets": 100.0, "zjets": 20.0}
_LEPTON_PT, _TRIGGER_PT, _ETA_MAX, _ISO_DR, _ISO_MAX = 10.0, 25.0, 2.5, 0.3, 0.15
_JET_R, _JET_PT, _JET_ETA = 0.4, 25.0, 4.7
_HADRON_PT = 5.0
_BATCH_EVENTS = 64
_MAX_TRIES = 200
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "Jet": ("pt", "eta", "phi", "mass", "hadronFlavour", "btag", "nConstituents"),
    "Muon": ("pt", "eta", "phi", "mass", "charge", "pfRelIso03_all"),
    "Electron": ("pt", "eta", "phi", "mass", "charge", "pfRelIso03_all"),
    "Photon": ("pt", "eta", "phi", "mass", "pfRelIso03_all"),
}
_INT_FIELDS = {"hadronFlavour", "btag", "nConstituents", "charge"}
#: Emulated b-tag efficiency per hadron flavour (0 = light, 4 = c, 5 = b).
BTAG_EFFICIENCY = {0: 0.01, 4: 0.10, 5: 0.70}


def _check_process(process: str) -> str:
    if process not in EVENT_PROCESSES:
        raise ValueError(f"unknown event process {process!r}; choose from {list(EVENT_PROCESSES)}")
    return process


def _heavy_flavour(ids: np.ndarray) -> np.ndarray:
    """5 for b hadrons, 4 for c hadrons, 0 otherwise (from the PDG id digits)."""
    a = np.abs(ids)
    hadron = a > 100
    q2, q3 = (a // 100) % 10, (a // 1000) % 10
    out = np.zeros(a.shape, dtype=np.int64)
    out[hadron & ((q2 == 4) | (q3 == 4))] = 4
    out[hadron & ((q2 == 5) | (q3 == 5))] = 5
    return out


class _Objects:
    """Per-event object lists collected chunk by chunk."""

    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {f"{c}_{f}": [] for c, fs in COLLECTIONS.items() for f in fs}
        self.counts: dict[str, list[int]] = {c: [] for c in COLLECTIONS}
        self.met: list[tuple[float, float]] = []

    def add(self, coll: str, **values: np.ndarray) -> None:
        order = np.argsort(-values["pt"], kind="stable")
        for f in COLLECTIONS[coll]:
            self.cols[f"{coll}_{f}"].append(np.asarray(values[f])[order])
        self.counts[coll].append(int(order.size))

    def __len__(self) -> int:
        return len(self.met)

    def to_array(self, label: int) -> Any:
        ak = require("awkward", "physics", "event files")
        out: dict[str, Any] = {}
        for coll, fields in COLLECTIONS.items():
            counts = np.asarray(self.counts[coll], dtype=np.int64)
            for f in fields:
                parts = self.cols[f"{coll}_{f}"]
                dtype = np.int32 if f in _INT_FIELDS else np.float32
                flat = np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
                out[f"{coll}_{f}"] = ak.unflatten(flat, counts)
            out[f"n{coll}"] = counts.astype(np.int32)
        met = np.asarray(self.met, dtype=np.float32).reshape(-1, 2)
        out["MET_pt"], out["MET_phi"] = np.ascontiguousarray(met[:, 0]), np.ascontiguousarray(met[:, 1])
        out["label"] = np.full(len(self), int(label), dtype=np.int64)
        out["event"] = np.arange(len(self), dtype=np.int64)
        return ak.zip(out, depth_limit=1)


def _isolation(ev: _Event, cand: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Relative isolation :math:`I_{rel}` of the candidates ``cand`` (indices into ``ev``)."""
    if cand.size == 0:
        return np.zeros(0)
    dr = _delta_r(ev.eta[cand][:, None], ev.phi[cand][:, None], ev.eta[visible][None], ev.phi[visible][None])
    near = (dr < _ISO_DR) & (visible[None] != cand[:, None])
    return (near * ev.pt[visible][None]).sum(1) / ev.pt[cand]


def generate_events(
    process: str,
    n_events: int,
    seed: int = 0,
    fast: bool = True,
    label: int = 0,
    progress: Optional[Callable[[int], Any]] = None,
    pthat_min: Optional[float] = None,
) -> Any:
    r"""Generate ``n_events`` selected events of one ``process`` with Pythia 8 + FastJet.

    See the module docstring for the objects, cuts, processes and file layout.
    The Pythia seed is ``derive_seed(seed, process, processes=EVENT_PROCESSES)``.
    Measured on one core of a busy shared machine (``fast=True``, MPI off):
    about 95 selected ``ttbar`` and 95 ``wjets`` events/s.

    .. math::
        \vec p_T^{\,miss} = \sum_{i\ \text{invisible}} \vec p_{T,i}

    Args:
        process: One of :data:`EVENT_PROCESSES`.
        n_events: Number of selected events.
        seed: Seed.
        fast: Switch off multiparton interactions (``PartonLevel:MPI = off``).
        label: Class label stored for every event.
        progress: Called with the number of newly selected events.
        pthat_min: ``PhaseSpace:pTHatMin`` in GeV (default 0 for ``ttbar``,
            100 for ``wjets``, 20 for ``zjets``).

    Returns:
        ``awkward.Array`` of ``n_events`` records in the NanoAOD-like layout.

    Shapes:
        - **output:** :math:`(n_\text{events},)` records
    """
    _check_process(process)
    n_events = check_positive_int(n_events, "n_events")
    ak = require("awkward", "physics", "generating events")
    fastjet = _fastjet()
    pthat = _PTHAT[process] if pthat_min is None else float(pthat_min)
    pythia_seed = derive_seed(seed, process, processes=EVENT_PROCESSES)
    rng = np.random.default_rng(pythia_seed)
    pythia = _pythia(process, pythia_seed, fast, pthat,
                     settings=_SETTINGS[process])
    pdata = pythia.particleData
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, _JET_R)
    vis_cache: dict[int, tuple[bool, int]] = {}
    objs = _Objects()
    tried = 0
    while len(objs) < n_events:
        if tried >= _MAX_TRIES * n_events + 1000:
            raise RuntimeError(f"only {len(objs)} of {n_events} {process} events selected after {tried} events")
        prt = pythia.nextBatch(_BATCH_EVENTS).prt
        tried += _BATCH_EVENTS
        flat, off = _Event.flatten(ak, prt)
        uniq, inv_idx = np.unique(flat["id"], return_inverse=True)
        for u in uniq.tolist():
            if u not in vis_cache:
                vis_cache[u] = (bool(pdata.isVisible(u)), int(round(pdata.charge(u))))
        flat_visible = np.array([vis_cache[u][0] for u in uniq.tolist()], dtype=bool)[inv_idx.reshape(-1)]
        flat["charge"] = np.array([vis_cache[u][1] for u in uniq.tolist()], dtype=np.int64)[inv_idx.reshape(-1)]
        per_event = []
        for e in range(off.size - 1):
            ev = _Event(flat, int(off[e]), int(off[e + 1]))
            ev.charge = flat["charge"][off[e]:off[e + 1]]
            final = ev.status > 0
            visible = flat_visible[off[e]:off[e + 1]] & final
            inv = final & ~visible
            aid = np.abs(ev.id)
            in_acc = final & (ev.pt > _LEPTON_PT) & (np.abs(ev.eta) < _ETA_MAX)
            vis_idx = np.nonzero(visible)[0]
            iso = {}
            for name, pid in (("Muon", 13), ("Electron", 11), ("Photon", 22)):
                cand = np.nonzero(in_acc & (aid == pid))[0]
                rel = _isolation(ev, cand, vis_idx)
                iso[name] = (cand[rel < _ISO_MAX], rel[rel < _ISO_MAX])
            lep_pt = np.concatenate([ev.pt[iso["Muon"][0]], ev.pt[iso["Electron"][0]]])
            if not (lep_pt > _TRIGGER_PT).any():
                per_event.append(None)
                continue
            used = np.zeros(ev.id.size, dtype=bool)
            for idx, _ in iso.values():
                used[idx] = True
            per_event.append((ev, iso, np.nonzero(visible & ~used)[0], inv))
        chosen = [p for p in per_event if p is not None][: n_events - len(objs)]
        if not chosen:
            continue
        inputs = ak.zip({c: ak.unflatten(np.concatenate([getattr(p[0], k)[p[2]] for p in chosen]),
                                         [p[2].size for p in chosen])
                         for c, k in (("px", "px"), ("py", "py"), ("pz", "pz"), ("E", "e"))},
                        with_name="Momentum4D")
        cs = fastjet.ClusterSequence(inputs, jet_def)
        jets = cs.inclusive_jets(min_pt=_JET_PT)
        n_const = ak.num(cs.constituent_index(min_pt=_JET_PT), axis=2)
        for j, (ev, iso, _, inv) in enumerate(chosen):
            jx, jy, jz, je = (ak.to_numpy(jets[j][c]).astype(np.float64) for c in ("px", "py", "pz", "E"))
            jpt, jeta, jphi = pt_eta_phi(jx, jy, jz)
            jmass = np.sqrt(np.maximum(je ** 2 - jx ** 2 - jy ** 2 - jz ** 2, 0.0))
            sel = np.abs(jeta) < _JET_ETA
            flav = _heavy_flavour(ev.id)
            hadrons = np.nonzero((flav > 0) & (ev.pt > _HADRON_PT))[0]
            jflav = np.zeros(jpt.size, dtype=np.int64)
            if hadrons.size and jpt.size:
                near = _delta_r(jeta[:, None], jphi[:, None], ev.eta[hadrons][None], ev.phi[hadrons][None]) < _JET_R
                jflav = np.where(near, flav[hadrons][None], 0).max(1)
            eff = np.where(jflav == 5, BTAG_EFFICIENCY[5], np.where(jflav == 4, BTAG_EFFICIENCY[4],
                                                                    BTAG_EFFICIENCY[0]))
            btag = (rng.random(jflav.size) < eff).astype(np.int64)
            objs.add("Jet", pt=jpt[sel], eta=jeta[sel], phi=jphi[sel], mass=jmass[sel],
                     hadronFlavour=jflav[sel], btag=btag[sel], nConstituents=ak.to_numpy(n_const[j])[sel])
            for name in ("Muon", "Electron", "Photon"):
                idx, rel = iso[name]
                values = {"pt": ev.pt[idx], "eta": ev.eta[idx], "phi": ev.phi[idx],
                          "mass": np.array([ev.mass(int(i)) for i in idx]).reshape(-1),
                          "pfRelIso03_all": rel}
                if name != "Photon":
                    values["charge"] = ev.charge[idx]
                objs.add(name, **values)
            mx, my = float(ev.px[inv].sum()), float(ev.py[inv].sum())
            objs.met.append((math.hypot(mx, my), math.atan2(my, mx)))
        if progress is not None:
            progress(len(chosen))
    return objs.to_array(label)


# ---------------------------------------------------------------- event files
def write_events(events: Any, path: os.PathLike | str, attrs: Optional[dict[str, Any]] = None) -> Path:
    """Write events as awkward parquet atomically; ``attrs`` go to the file metadata."""
    ak = require("awkward", "physics", "event files")
    pq = require("pyarrow.parquet", "physics", "parquet files")
    path = Path(path)
    table = ak.to_arrow_table(events)
    meta = dict(table.schema.metadata or {})
    meta[b"pgjets"] = json.dumps(attrs or {}, sort_keys=True).encode()
    with atomic_output(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)
    return path


def read_event_attrs(path: os.PathLike | str) -> dict[str, Any]:
    """The ``attrs`` that :func:`write_events` stored in ``path``.

    Raises:
        DataFileError: not a readable parquet file.
    """
    pq = require("pyarrow.parquet", "physics", "parquet files")
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta.get(b"pgjets", b"{}"))
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable parquet event file: {exc}") from exc


def event_files(path: os.PathLike | str) -> list[Path]:
    """The parquet files of an event folder (manifest order) or the file ``path`` itself.

    Raises:
        DataFileNotFoundError: ``path`` does not exist.
        DataFileError: a folder without manifest or without parquet files.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileNotFoundError(f"event data {path} does not exist")
    if path.is_file():
        return [path]
    if (path / MANIFEST_NAME).exists():
        return dataset_files(path)
    files = sorted(path.glob("*.parquet"))
    if not files:
        raise DataFileError(f"{path} holds no {MANIFEST_NAME} and no .parquet event files")
    return files


def folder_event_files(folder: Path, tree: Optional[str] = None) -> list[Path]:
    """The event files of a folder without manifest: its parquet files (``.parquet``, ``.pq``), else
    its ROOT files (``.root``), suffixes in any case (``TTBAR.ROOT``); else the files without those
    suffixes that hold events by their content (``_is_event_file``: grid outputs named ``nano_1``),
    sorted.  Hidden files (``.DS_Store``) are skipped."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return ([p for p in files if p.suffix.lower() in (".parquet", ".pq")]
            or [p for p in files if p.suffix.lower() == ".root"]
            or [p for p in files if _is_event_file(p, tree)])


def event_input_files(path: os.PathLike | str, tree: Optional[str] = None) -> list[Path]:
    """The files :class:`~pgjets.data.event_dataset.StreamedEventDataset` reads of ``path``: those of
    :func:`event_files`, or the event files of a folder without manifest and parquet files (ROOT files,
    or files without suffix that hold events; ``tree`` as for
    :func:`~pgjets.data.event_dataset.root_event_layout`).

    Raises:
        DataFileNotFoundError / DataFileError: see :func:`event_files`.
    """
    path = Path(path)
    if path.is_dir() and not (path / MANIFEST_NAME).exists():
        files = folder_event_files(path, tree)
        if files:
            return files
    return event_files(path)


def _is_event_file(path: Path, tree: Optional[str] = None) -> bool:
    """Whether the file ``path`` holds events, from its content (its first bytes), whatever its name:
    a ROOT file with a tree (or RNTuple) ``Events`` (NanoAOD) or ``events`` (the H->ZZ layout), or
    ``tree`` when given, or a parquet file of events (see :func:`parquet_layout`)."""
    from .readers import _magic

    try:
        magic = _magic(path)
    except (DataFileError, OSError):
        return False
    if magic == "root":
        from .event_dataset import root_event_layout

        try:
            root_event_layout(path, tree)
        except (DataFileError, ImportError):
            return False
        return True
    return magic == "parquet" and parquet_file_layout(path) == "events"


def parquet_file_layout(path: os.PathLike | str) -> str:
    """:func:`parquet_layout` of the parquet file ``path`` (its footer only); ``"unknown"`` when its
    schema cannot be read."""
    pq = require("pyarrow.parquet", "physics", "parquet files")
    try:
        schema = pq.read_schema(path)
    except Exception:
        return "unknown"
    return parquet_layout(schema)


#: Collections whose flat fields (``Muon_*``, also per event: ``MET_pt``) mark an event parquet file.
_NANO_COLLECTIONS = frozenset({"Muon", "Electron", "Jet", "Photon", "MET", "Tau", "FatJet"})


def parquet_layout(schema: Any) -> str:
    """``"events"``, ``"jets"`` or ``"unknown"``: what a parquet file with the arrow schema ``schema``
    holds, from its structure.

    - ``"jets"``: a pgjets jet file (a list of constituent records ``constituents``, or the
      ``pgjets_label_names`` metadata of :func:`~pgjets.data.readers.write_parquet_jets`) or the
      Particle Transformer layout (jagged ``part_px, part_py, part_pz, part_energy``);
    - ``"events"``: a file of :func:`write_events` (its ``label_names`` metadata), or per-event
      collections: a jagged field ``C_pt`` or ``C_px`` (any collection name ``C``: ``GenPart_pt``), a
      field of records with a sub-field ``pt`` or ``px`` (``ak.to_parquet`` of events with a record
      field ``Muon``), or flat fields of a CMS collection (``Muon_*``, ``MET_pt``).
    """
    import pyarrow as pa

    from .event_dataset import _record_fields
    from .readers import PART_PARQUET_FIELDS

    meta = schema.metadata or {}
    if b"pgjets" in meta:
        try:
            if "label_names" in json.loads(meta[b"pgjets"]):
                return "events"
        except ValueError:
            pass
    names = list(schema.names)
    if ("constituents" in names or b"pgjets_label_names" in meta
            or all(f"part_{c}" in names for c in PART_PARQUET_FIELDS)):
        return "jets"
    for field in schema:
        coll, sep, sub = field.name.partition("_")
        jagged = pa.types.is_list(field.type) or pa.types.is_large_list(field.type)
        if jagged and sep and coll != "part" and sub.lower() in ("pt", "px"):
            return "events"
    if any({f.lower() for f in sub} & {"pt", "px"} for sub in _record_fields(schema).values()):
        return "events"
    if any(name.split("_", 1)[0] in _NANO_COLLECTIONS and "_" in name for name in names):
        return "events"
    return "unknown"


def is_event_folder(path: os.PathLike | str, tree: Optional[str] = None) -> bool:
    """True when ``path`` holds events: a folder with a manifest of ``kind: "events"``, an
    event parquet file (or a folder of them) written by :func:`write_events` or with
    per-event collections (see :func:`parquet_layout`), or a ROOT event file (NanoAOD tree
    ``Events`` or the H->ZZ tree ``events``; or a folder of them).  A file is judged by its
    content, whatever its name.  ``tree``: a ROOT file holds events when it has that tree (see
    :func:`~pgjets.data.event_dataset.root_event_layout`)."""
    path = Path(path)
    if path.is_file():
        return _is_event_file(path, tree)
    if (path / MANIFEST_NAME).exists():
        try:
            return read_manifest(path).get("kind") == EVENTS_KIND
        except DataFileError:
            return False
    files = folder_event_files(path, tree) if path.is_dir() else []
    return bool(files) and _is_event_file(files[0], tree)


def read_events(path: os.PathLike | str) -> Any:
    r"""All events of an event file or folder as one ``awkward.Array``.

    .. math::
        \text{events} = \text{file}_1 \,\|\, \text{file}_2 \,\|\, \cdots

    Raises:
        DataFileNotFoundError / DataFileError: see :func:`event_files`, or an
            unreadable file.

    Shapes:
        - **output:** :math:`(B,)` event records
    """
    ak = require("awkward", "physics", "event files")
    parts = []
    for f in event_files(path):
        try:
            parts.append(ak.from_parquet(f))
        except Exception as exc:
            raise DataFileError(f"{f} is not a readable parquet event file: {exc}") from exc
    return parts[0] if len(parts) == 1 else ak.concatenate(parts)


# -------------------------------------------------------------- event folders
def _chunk_name(process: str, chunk: int) -> str:
    return f"{process}_{chunk:05d}.parquet"


def _run_chunk(task: tuple) -> tuple[str, int]:
    out_dir, process, chunk, n, seed, fast, label, names = task
    path = Path(out_dir) / _chunk_name(process, chunk)
    attrs = {"process": process, "chunk": chunk, "n_events": n, "seed": seed, "fast": bool(fast),
             "label": label, "label_names": list(names),
             "chunk_seed": derive_seed(seed, process, chunk, processes=EVENT_PROCESSES)}
    if path.exists():
        try:
            if read_event_attrs(path) == attrs:
                return path.name, n
        except DataFileError:
            pass
    events = generate_events(process, n, seed=attrs["chunk_seed"], fast=fast, label=label)
    write_events(events, path, attrs=attrs)
    return path.name, n


def generate_event_dataset(
    processes: Sequence[str],
    n_events: int,
    out_dir: os.PathLike | str,
    seed: int = 0,
    fast: bool = True,
    workers: int = 1,
    chunk_size: int = 1000,
    progress: bool = True,
) -> Path:
    r"""Generate ``n_events`` events per process into a folder of parquet chunks.

    Labels follow the order of ``processes``.  As for jets
    (:func:`~pgjets.data.generate.generate_dataset`): chunk :math:`c` of
    process :math:`p` uses the seed ``derive_seed(seed, p, c)`` (over
    :data:`EVENT_PROCESSES`), every chunk is written atomically and carries
    its settings in its metadata, ``manifest.json`` (``kind: "events"``) is
    written last, and re-running with the same arguments resumes (complete
    chunks with the same settings are kept).

    Args:
        processes: Processes of :data:`EVENT_PROCESSES`, no repeats.
        n_events: Events per process.
        out_dir: Output folder (created).
        seed: Base seed.
        fast: ``PartonLevel:MPI = off``.
        workers: Worker processes.
        chunk_size: Events per file.
        progress: Show a progress bar over chunks.

    Raises:
        DataFileError: ``out_dir`` already holds a manifest of other settings.
    """
    processes = [_check_process(p) for p in processes]
    if not processes or len(set(processes)) != len(processes):
        raise ValueError(f"give one or more distinct processes, got {processes}")
    n_events = check_positive_int(n_events, "n_events")
    workers = check_positive_int(workers, "workers")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    derive_seed(seed, processes[0], processes=EVENT_PROCESSES)  # validates seed
    out = Path(out_dir)
    settings = {"kind": EVENTS_KIND, "processes": list(processes), "n_events_per_process": n_events,
                "seed": int(seed), "fast": bool(fast), "chunk_size": chunk_size}
    if _prepare_folder(out, settings):
        return out
    tasks = [(str(out), p, c, min(chunk_size, n_events - c * chunk_size), int(seed), bool(fast), label,
              list(processes))
             for label, p in enumerate(processes) for c in range(math.ceil(n_events / chunk_size))]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), unit="chunk", desc="generating events", disable=None)
    t0 = time.time()
    try:
        if workers == 1:
            results = []
            for task in tasks:
                results.append(_run_chunk(task))
                if bar is not None:
                    bar.update(1)
        else:
            import multiprocessing as mp

            method = "fork" if "fork" in mp.get_all_start_methods() else None
            with mp.get_context(method).Pool(min(workers, len(tasks))) as pool:
                results = []
                for r in pool.imap(_run_chunk, tasks):
                    results.append(r)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    files = [{"name": name, "process": t[1], "chunk": t[2], "n_events": n, "label": t[6]}
             for (name, n), t in zip(results, tasks)]
    write_manifest(out, {
        "format": MANIFEST_FORMAT, **settings, "label_names": list(processes), "files": files,
        "n_events_total": sum(f["n_events"] for f in files),
        "objects": {"lepton": "pt > 10, |eta| < 2.5, relIso03 < 0.15", "photon": "as leptons",
                    "jet": "anti-kt R=0.4, pt > 25, |eta| < 4.7", "met": "invisible final-state particles",
                    "trigger": "one isolated lepton with pt > 25", "sqrt_s": 14000.0},
        "seconds": round(time.time() - t0, 1),
    })
    return out


__all__ = [
    "EVENT_PROCESSES", "EVENTS_KIND", "COLLECTIONS", "generate_events", "generate_event_dataset",
    "write_events", "read_events", "read_event_attrs", "event_files", "event_input_files", "is_event_folder",
    "parquet_layout", "parquet_file_layout",
]
