r"""Labelled jets from Pythia 8 + FastJet, made like the public top-tagging sample.

Events are pp collisions at :math:`\sqrt{s} = 14` TeV.  The visible final-state
particles (Pythia ``isFinal() and isVisible()``: no neutrinos) are clustered
with anti-:math:`k_T`, :math:`R = 0.8`, and only the **leading** jet is kept, if

.. math::
    550 < p_T^{jet} < 650~\text{GeV}, \qquad |\eta^{jet}| < 2,
    \qquad n_{const} > 2,

and, for signal processes, if the truth object and its decay partons lie within
:math:`\Delta R = \sqrt{\Delta\eta^2 + \Delta\phi^2} < 0.8` of the jet axis.

Processes (``PROCESSES``):

- ``"top"``: hadronic :math:`t\bar t` (``Top:gg2ttbar``, ``Top:qqbar2ttbar``,
  :math:`W \to q\bar q'` only); a top, its :math:`b` and both :math:`W`
  quarks must be inside the jet.  ``pTHatMin = 500``.
- ``"w"``: :math:`W^+W^-` (``WeakDoubleBoson:ffbar2WW``, :math:`W\to q\bar q'`); a
  :math:`W` and both quarks inside.  ``pTHatMin = 500``.
- ``"z"``: :math:`ZZ` (``WeakDoubleBoson:ffbar2gmZgmZ`` with pure :math:`Z`,
  :math:`Z \to q\bar q`, :math:`q = d,u,s,c,b`); a :math:`Z` and both quarks inside.
  ``pTHatMin = 500``.
- ``"qcd"``: ``HardQCD:all``, no truth requirement.  ``pTHatMin = 450``.
- ``"quark"`` / ``"gluon"``: ``HardQCD:all``; the jet is matched to the nearest
  outgoing hard-process parton within :math:`\Delta R < 0.8` and kept only if
  that parton is a quark (:math:`|id| \le 5`) or a gluon respectively.
  ``pTHatMin = 450``.

``fast=True`` switches off multiparton interactions (``PartonLevel:MPI = off``).

Per constituent the table stores ``px, py, pz, E`` (GeV), ``pdgid``, ``charge``
and the generator-truth ``parent``: for top jets ``0`` = the :math:`b`, ``1`` =
the quark and ``2`` = the antiquark of the :math:`W` decay; for W/Z jets ``1``
and ``2`` = quark and antiquark; ``-1`` = none of them (and everywhere for
qcd/quark/gluon).  Ancestry follows the Pythia daughter links downwards from
the partons, which (as Pythia's ``isAncestor``) makes every parton of a string
an ancestor of all hadrons of that string; a constituent descending from
several of the partons is given the one nearest to it in :math:`\Delta R`.

Per jet ``extra`` holds ``truth_pt``, ``truth_eta``, ``truth_phi``,
``truth_mass`` and ``truth_pdgid`` of the matched truth object (top / W / Z, or
the nearest hard parton for qcd/quark/gluon; NaN/0 if none within
:math:`\Delta R < 0.8` for qcd).

Speed, measured on one core of a busy shared 2-core x86 machine (Pythia
8.317, FastJet 3.5, ``truth=True``; tracing ancestry costs about 3 %), so read
these as lower bounds:

=========  ================  =================
process    fast=True jets/s  fast=False jets/s
=========  ================  =================
top        ~38               ~12
qcd        ~50               ~22
w / z      ~22 / ~28         not measured
quark      ~15               not measured
gluon      ~15               not measured
=========  ================  =================

Start-up (Pythia initialisation) takes about 0.4 s per call.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .._checks import check_positive_int, require
from ..errors import DataFileError
from .jet_io import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    read_attrs,
    read_manifest,
    write_jets,
    write_manifest,
)
from .table import JetTable, offsets_from_counts, pt_eta_phi

#: Processes :func:`generate_jets` knows, in a fixed order (used to derive seeds).
PROCESSES = ("qcd", "top", "w", "z", "quark", "gluon")
#: Class order of a generated dataset, whatever the order of the ``--process`` flags: background
#: (``qcd``) is class 0; quark jets come after gluon jets (quark = 1, the energy-flow convention).
CLASS_ORDER = ("qcd", "gluon", "quark", "top", "w", "z")
#: Layouts ``pgjets generate --format`` writes.
OUTPUT_FORMATS = ("generated", "landscape", "parquet")

_DECAY_QUARKS = "1 2 3 4 5"
_SETTINGS: dict[str, list[str]] = {
    "top": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off", f"24:onIfAny = {_DECAY_QUARKS}"],
    "w": ["WeakDoubleBoson:ffbar2WW = on", "24:onMode = off", f"24:onIfAny = {_DECAY_QUARKS}"],
    "z": ["WeakDoubleBoson:ffbar2gmZgmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off",
          f"23:onIfAny = {_DECAY_QUARKS}"],
    "qcd": ["HardQCD:all = on"],
    "quark": ["HardQCD:all = on"],
    "gluon": ["HardQCD:all = on"],
}
_PTHAT = {"top": 500.0, "w": 500.0, "z": 500.0, "qcd": 450.0, "quark": 450.0, "gluon": 450.0}
_RESONANCE = {"top": 6, "w": 24, "z": 23}
_DR = 0.8
_BATCH_EVENTS = 32
_MAX_EVENTS_PER_JET = 500

ProgressFn = Callable[[int], Any]


def _check_process(process: str) -> str:
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}; choose from {list(PROCESSES)}")
    return process


def derive_seed(seed: int, process: str, chunk: int = 0, processes: Sequence[str] = PROCESSES) -> int:
    r"""Pythia seed in ``[1, 900000000]`` for ``(seed, process, chunk)``.

    Uses :class:`numpy.random.SeedSequence` on ``(seed, processes.index(process),
    chunk)``, so the same arguments give the same jets on any machine and
    with any number of workers.  ``processes`` is the list of known processes
    (default :data:`PROCESSES`; whole events use
    :data:`~pgjets.data.generate_events.EVENT_PROCESSES`).
    """
    if process not in processes:
        raise ValueError(f"unknown process {process!r}; choose from {list(processes)}")
    if int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    state = np.random.SeedSequence([int(seed), list(processes).index(process), int(chunk)]).generate_state(1)[0]
    return int(state) % 900_000_000 + 1


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = np.mod(np.asarray(phi1) - np.asarray(phi2) + np.pi, 2 * np.pi) - np.pi
    return np.hypot(np.asarray(eta1) - np.asarray(eta2), dphi)


class _Event:
    """Numpy views of one Pythia event record (a slice of a ``nextBatch`` batch)."""

    _FIELDS = ("id", "status", "m1", "d1", "d2", "px", "py", "pz", "e")

    def __init__(self, flat: dict[str, np.ndarray], a: int, b: int) -> None:
        for name in self._FIELDS:
            setattr(self, name, flat[name][a:b])
        self.pt, self.eta, self.phi = pt_eta_phi(self.px, self.py, self.pz)

    @staticmethod
    def flatten(ak, prt) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Flat numpy columns of a batch of events and the event offsets."""
        counts = ak.to_numpy(ak.num(prt.id))
        offsets = offsets_from_counts(counts)
        src = {"id": prt.id, "status": prt.status, "m1": prt.mother1, "d1": prt.daughter1,
               "d2": prt.daughter2, "px": prt.p.px, "py": prt.p.py, "pz": prt.p.pz, "e": prt.p.e}
        flat = {k: ak.to_numpy(ak.flatten(v)) for k, v in src.items()}
        flat["id"] = flat["id"].astype(np.int64)
        return flat, offsets

    def last_copy(self, i: int) -> int:
        """Follow single-daughter copies of the same particle down the record."""
        while self.d1[i] > 0 and (self.d2[i] == self.d1[i] or self.d2[i] == 0) and self.id[self.d1[i]] == self.id[i]:
            i = int(self.d1[i])
        return i

    def daughters(self, i: int) -> list[int]:
        d1, d2 = int(self.d1[i]), int(self.d2[i])
        if d1 <= 0:
            return []
        if d2 == 0 or d2 == d1:
            return [d1]
        if d2 > d1:
            return list(range(d1, d2 + 1))
        return [d1, d2]

    def mass(self, i: int) -> float:
        return float(math.sqrt(max(self.e[i] ** 2 - self.px[i] ** 2 - self.py[i] ** 2 - self.pz[i] ** 2, 0.0)))

    def descendants(self, sources: Sequence[int]) -> np.ndarray:
        """``(k, n)`` bool: particle descends from (or is) ``sources[k]``.

        One depth-first walk down the daughter links carries a bit mask of the
        sources reached so far; a particle is pushed again only when it gains bits.
        """
        n = self.id.size
        mask = [0] * n
        d1, d2 = self.d1.tolist(), self.d2.tolist()
        stack = []
        for k, s in enumerate(sources):
            mask[s] |= 1 << k
            stack.append(s)
        done_ranges: dict[tuple[int, int], int] = {}
        while stack:
            i = stack.pop()
            bits = mask[i]
            a, b = d1[i], d2[i]
            if a <= 0:
                continue
            if b > a:
                old = done_ranges.get((a, b), 0)
                if old | bits == old:
                    continue
                done_ranges[(a, b)] = old | bits
                kids = range(a, b + 1)
            elif b > 0 and b != a:
                kids = (a, b)
            else:
                kids = (a,)
            for j in kids:
                if mask[j] | bits != mask[j]:
                    mask[j] |= bits
                    stack.append(j)
        m = np.asarray(mask, dtype=np.int64)
        return np.stack([(m >> k) & 1 == 1 for k in range(len(sources))]) if sources else np.zeros((0, n), bool)

    def hard_partons(self) -> list[int]:
        """Outgoing partons of the 2 -> 2 hard process (first copies, status -23)."""
        return [i for i in range(min(self.id.size, 12)) if self.status[i] == -23 and self.m1[i] == 3]


def _truth_decay(ev: _Event, process: str) -> list[tuple[int, list[int]]]:
    """Candidates ``(resonance, [b?, q, qbar])`` of a top/W/Z event."""
    pid = _RESONANCE[process]
    out = []
    for i in range(min(ev.id.size, 12)):
        if abs(ev.id[i]) != pid or ev.status[i] != -22:
            continue
        last = ev.last_copy(i)
        kids = ev.daughters(last)
        if process == "top":
            b = [k for k in kids if abs(ev.id[k]) == 5]
            w = [k for k in kids if abs(ev.id[k]) == 24]
            if len(b) != 1 or len(w) != 1:
                continue
            qs = [k for k in ev.daughters(ev.last_copy(w[0])) if 1 <= abs(ev.id[k]) <= 5]
            partons = [b[0]]
        else:
            qs = [k for k in kids if 1 <= abs(ev.id[k]) <= 5]
            partons = []
        if len(qs) != 2:
            continue
        qs.sort(key=lambda k: -ev.id[k])  # quark (id > 0) first, then antiquark
        out.append((last, partons + qs))
    return out


def _pythia(process: str, seed: int, fast: bool, pthat_min: Optional[float],
            settings: Optional[Sequence[str]] = None):
    """An initialised Pythia for ``process`` (or for the given process ``settings``)."""
    pythia8 = require("pythia8mc", "physics", "generating jets with Pythia 8")
    pythia = pythia8.Pythia("", False)
    settings = [
        "Beams:eCM = 14000.",
        f"PhaseSpace:pTHatMin = {float(pthat_min if pthat_min is not None else _PTHAT[process])}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Random:setSeed = on",
        f"Random:seed = {int(seed)}",
        f"PartonLevel:MPI = {'off' if fast else 'on'}",
        *(_SETTINGS[process] if settings is None else settings),
    ]
    for line in settings:
        if not pythia.readString(line):
            raise RuntimeError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        raise RuntimeError(f"Pythia failed to initialise for process {process!r}")
    return pythia


def _fastjet():
    fastjet = require("fastjet", "physics", "clustering jets with FastJet")
    try:  # silence the one-time banner
        fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)
    except Exception:  # pragma: no cover - older bindings
        pass
    return fastjet


def generate_jets(
    process: str,
    n_jets: int,
    seed: int = 0,
    fast: bool = False,
    pt_range: tuple[float, float] = (550.0, 650.0),
    eta_max: float = 2.0,
    pthat_min: Optional[float] = None,
    progress: Optional[ProgressFn] = None,
    truth: bool = True,
    label: int = 0,
) -> JetTable:
    r"""Generate ``n_jets`` leading jets of one ``process`` with Pythia 8 + FastJet.

    See the module docstring for the physics (processes, cuts, truth matching,
    ``parent`` codes) and the measured speed.

    Args:
        process (str): One of ``"top"``, ``"qcd"``, ``"w"``, ``"z"``, ``"quark"``, ``"gluon"``.
        n_jets (int): Number of accepted jets to return.
        seed (int): Seed; Pythia gets ``derive_seed(seed, process)``.
        fast (bool): Switch off multiparton interactions (about twice as fast).
        pt_range (tuple): Accepted leading-jet :math:`p_T` window in GeV.
        eta_max (float): Largest accepted :math:`|\eta|` of the jet.
        pthat_min (float, optional): ``PhaseSpace:pTHatMin`` (default 500 for
            top/w/z, 450 for qcd/quark/gluon).
        progress (callable, optional): Called with the number of newly accepted jets.
        truth (bool): Trace the constituents' ``parent`` partons (top/w/z).
        label (int): Class label stored for every jet.

    Returns:
        JetTable: ``n_jets`` jets with ``pdgid``, ``charge``, ``parent`` and the
        ``truth_*`` extras.

    Shapes:
        - **output**: ``J = n_jets`` jets, ``P`` constituents in total.
    """
    _check_process(process)
    n_jets = check_positive_int(n_jets, "n_jets")
    lo, hi = (float(v) for v in pt_range)
    if not 0 <= lo < hi:
        raise ValueError(f"pt_range must be (low, high) with 0 <= low < high, got {pt_range}")
    if not 0 < float(eta_max) < math.inf:
        raise ValueError(f"eta_max must be a finite number > 0, got {eta_max!r}")
    ak = require("awkward", "physics", "generating jets")
    fastjet = _fastjet()
    pythia = _pythia(process, derive_seed(seed, process), fast, pthat_min)
    pdata = pythia.particleData
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, _DR)
    vis_cache: dict[int, bool] = {}
    chg_cache: dict[int, int] = {}

    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("px", "py", "pz", "E", "pdgid", "charge", "parent")}
    counts: list[int] = []
    extra: dict[str, list[float]] = {k: [] for k in ("truth_pt", "truth_eta", "truth_phi", "truth_mass", "truth_pdgid")}
    n_events = 0
    max_events = _MAX_EVENTS_PER_JET * n_jets + 1000

    while len(counts) < n_jets:
        if n_events >= max_events:
            raise RuntimeError(
                f"only {len(counts)} of {n_jets} {process} jets accepted after {n_events} events; "
                "check pt_range, eta_max and pthat_min"
            )
        batch = pythia.nextBatch(_BATCH_EVENTS)
        n_events += _BATCH_EVENTS
        prt = batch.prt
        flat, ev_off = _Event.flatten(ak, prt)
        uniq, inv = np.unique(flat["id"], return_inverse=True)
        for u in uniq.tolist():
            if u not in vis_cache:
                vis_cache[u] = bool(pdata.isVisible(u))
                chg_cache[u] = int(round(pdata.charge(u)))
        vis = np.array([vis_cache[u] for u in uniq.tolist()], dtype=bool)[inv.reshape(-1)]
        keep = vis & (flat["status"] > 0)
        n_ev = ev_off.size - 1
        n_keep = np.bincount(np.repeat(np.arange(n_ev), np.diff(ev_off))[keep], minlength=n_ev)
        local_all = (np.arange(keep.size) - np.repeat(ev_off[:-1], np.diff(ev_off)))[keep]
        keep_off = offsets_from_counts(n_keep)
        vecs = ak.zip({c: ak.unflatten(flat[k][keep], n_keep) for c, k in
                       (("px", "px"), ("py", "py"), ("pz", "pz"), ("E", "e"))}, with_name="Momentum4D")
        cs = fastjet.ClusterSequence(vecs, jet_def)
        jets = cs.inclusive_jets(min_pt=lo)
        members = cs.constituent_index(min_pt=lo)
        n_jet_ev = ak.to_numpy(ak.num(jets))
        jet_off = offsets_from_counts(n_jet_ev)
        jx, jy, jz = (ak.to_numpy(ak.flatten(getattr(jets, c))) for c in ("px", "py", "pz"))
        m_count = ak.to_numpy(ak.flatten(ak.num(members, axis=2)))
        m_flat = ak.to_numpy(ak.flatten(members, axis=None)).astype(np.int64)
        m_off = offsets_from_counts(m_count)
        jpt_all, jeta_all, jphi_all = pt_eta_phi(jx, jy, jz)
        for e in range(n_jet_ev.size):
            if len(counts) >= n_jets:
                break
            if n_jet_ev[e] == 0:
                continue
            j0 = int(jet_off[e])
            lead = j0 + int(np.argmax(jpt_all[j0 : jet_off[e + 1]]))
            pt, eta, phi = float(jpt_all[lead]), float(jeta_all[lead]), float(jphi_all[lead])
            if not (lo < pt < hi and abs(eta) < eta_max):
                continue
            local = m_flat[m_off[lead] : m_off[lead + 1]]
            if local.size <= 2:
                continue
            orig = local_all[keep_off[e] : keep_off[e + 1]][local]
            ev = _Event(flat, int(ev_off[e]), int(ev_off[e + 1]))
            parent = np.full(orig.size, -1, dtype=np.int8)
            if process in _RESONANCE:
                match = None
                for res, partons in _truth_decay(ev, process):
                    objs = [res, *partons]
                    if np.all(_delta_r(ev.eta[objs], ev.phi[objs], eta, phi) < _DR):
                        match = (res, partons)
                        break
                if match is None:
                    continue
                res, partons = match
                if truth:
                    codes = [0, 1, 2] if process == "top" else [1, 2]
                    desc = ev.descendants(partons)[:, orig]  # (k, n_const)
                    dr = _delta_r(ev.eta[partons][:, None], ev.phi[partons][:, None], ev.eta[orig], ev.phi[orig])
                    dr = np.where(desc, dr, np.inf)
                    best = np.argmin(dr, axis=0)
                    has = desc.any(axis=0)
                    parent[has] = np.asarray(codes, dtype=np.int8)[best[has]]
                tidx = res
            else:
                hard = ev.hard_partons()
                tidx = None
                if hard:
                    dr = _delta_r(ev.eta[hard], ev.phi[hard], eta, phi)
                    if dr.min() < _DR:
                        tidx = hard[int(np.argmin(dr))]
                if process in ("quark", "gluon"):
                    if tidx is None:
                        continue
                    is_gluon = ev.id[tidx] == 21
                    is_quark = 1 <= abs(ev.id[tidx]) <= 5
                    if (process == "gluon" and not is_gluon) or (process == "quark" and not is_quark):
                        continue
            ids = ev.id[orig]
            cols["px"].append(ev.px[orig])
            cols["py"].append(ev.py[orig])
            cols["pz"].append(ev.pz[orig])
            cols["E"].append(ev.e[orig])
            cols["pdgid"].append(ids.astype(np.int32))
            cols["charge"].append(np.array([chg_cache[int(i)] for i in ids], dtype=np.int8))
            cols["parent"].append(parent)
            counts.append(orig.size)
            if tidx is None:
                for k in ("truth_pt", "truth_eta", "truth_phi", "truth_mass"):
                    extra[k].append(np.nan)
                extra["truth_pdgid"].append(0)
            else:
                extra["truth_pt"].append(float(ev.pt[tidx]))
                extra["truth_eta"].append(float(ev.eta[tidx]))
                extra["truth_phi"].append(float(ev.phi[tidx]))
                extra["truth_mass"].append(ev.mass(tidx))
                extra["truth_pdgid"].append(int(ev.id[tidx]))
            if progress is not None:
                progress(1)

    offsets = offsets_from_counts(counts)
    data = {k: np.concatenate(v) for k, v in cols.items()}
    ex = {k: np.asarray(v, dtype=np.float32) for k, v in extra.items() if k != "truth_pdgid"}
    ex["truth_pdgid"] = np.asarray(extra["truth_pdgid"], dtype=np.int32)
    return JetTable(offsets=offsets, label=np.full(len(counts), int(label), dtype=np.int64), extra=ex,
                    label_names=None, **data)


# --------------------------------------------------------------------- datasets
def _chunk_name(process: str, chunk: int) -> str:
    return f"{process}_{chunk:05d}.h5"


def _chunk_attrs(process: str, chunk: int, n: int, seed: int, fast: bool, label: int,
                 label_names: list[str]) -> dict[str, Any]:
    return {"process": process, "chunk": chunk, "n_jets": n, "seed": seed, "chunk_seed": derive_seed(seed, process, chunk),
            "fast": bool(fast), "label": label, "label_names_json": ",".join(label_names)}


def _chunk_done(path: Path, attrs: dict[str, Any]) -> bool:
    """True when ``path`` is a complete chunk written with exactly ``attrs``."""
    if not path.exists():
        return False
    try:
        have = read_attrs(path)
    except DataFileError:
        return False
    return all(have.get(k) == v for k, v in attrs.items())


def _run_chunk(task: tuple) -> tuple[str, int]:
    out_dir, process, chunk, n, seed, fast, label, label_names = task
    path = Path(out_dir) / _chunk_name(process, chunk)
    attrs = _chunk_attrs(process, chunk, n, seed, fast, label, label_names)
    if not _chunk_done(path, attrs):
        table = _generate_chunk(process, n, seed, chunk, fast, label)
        table.label_names = list(label_names)
        write_jets(table, path, attrs=attrs)
    return path.name, n


def _generate_chunk(process: str, n: int, seed: int, chunk: int, fast: bool, label: int,
                    progress: Optional[ProgressFn] = None) -> JetTable:
    # generate_jets derives the Pythia seed from (seed, process, chunk=0); pass the
    # chunk's own derived seed as the base so every chunk differs.
    return generate_jets(process, n, seed=derive_seed(seed, process, chunk), fast=fast, label=label,
                         progress=progress)


def _prepare_folder(out: Path, settings: dict[str, Any]) -> bool:
    """Create ``out``; True if it already holds a complete dataset made with ``settings``.

    Raises :class:`DataFileError` for a manifest of other settings and removes
    the temporary files an interrupted run left behind.
    """
    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST_NAME).exists():
        old = read_manifest(out)
        if all(old.get(k) == v for k, v in settings.items()):
            return True
        raise DataFileError(f"{out} already holds a dataset made with other settings ({MANIFEST_NAME}); "
                            "choose another folder or delete it")
    for stale in out.glob(".*.tmp-*"):  # leftovers of an interrupted run
        stale.unlink()
    return False


def generate_dataset(
    processes: Sequence[str],
    n_jets: int,
    out_dir: os.PathLike | str,
    seed: int = 0,
    fast: bool = False,
    workers: int = 1,
    chunk_size: int = 1000,
    progress: bool = True,
) -> Path:
    r"""Generate ``n_jets`` jets per process into a dataset folder.

    Labels follow :data:`CLASS_ORDER` (``qcd`` = 0, never the order in which
    ``processes`` are given) and are stored as ``label_names``.  Each process is cut into chunks of ``chunk_size`` jets;
    chunk :math:`c` of process :math:`p` is generated with Pythia seed
    ``derive_seed(derive_seed(seed, p, c), p)``, so the same arguments give the
    same jets with any number of ``workers`` (changing ``chunk_size`` changes
    the jets).  Every chunk goes to ``<process>_<chunk>.h5`` through
    :func:`~pgjets.data.jet_io.write_jets` (temporary file, then
    :func:`os.replace`), and ``manifest.json`` is written last: a folder
    without it is incomplete.  Re-running with the same arguments resumes:
    chunk files that are complete and carry the same settings are kept, and
    leftover temporary files are removed.  With ``workers > 1`` chunks run in
    a process pool and the progress bar advances per finished chunk.

    Args:
        processes (list of str): Processes (see :data:`PROCESSES`), no repeats.
        n_jets (int): Jets per process.
        out_dir (path): Output folder (created).
        seed (int): Base seed.
        fast (bool): ``PartonLevel:MPI = off``.
        workers (int): Worker processes.
        chunk_size (int): Jets per file.
        progress (bool): Show a tqdm progress bar over jets.

    Returns:
        Path: ``out_dir``.

    Raises:
        DataFileError: ``out_dir`` already holds a manifest of other settings.
    """
    processes = [_check_process(p) for p in processes]
    if not processes:
        raise ValueError("give at least one process")
    if len(set(processes)) != len(processes):
        raise ValueError(f"processes must not repeat, got {processes}")
    processes = sorted(processes, key=CLASS_ORDER.index)
    n_jets = check_positive_int(n_jets, "n_jets")
    workers = check_positive_int(workers, "workers")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    derive_seed(seed, processes[0])  # validates seed
    out = Path(out_dir)
    settings = {"processes": list(processes), "n_jets_per_process": n_jets, "seed": int(seed),
                "fast": bool(fast), "chunk_size": chunk_size}
    if _prepare_folder(out, settings):
        return out

    tasks = []
    for label, process in enumerate(processes):
        for chunk in range(math.ceil(n_jets / chunk_size)):
            n = min(chunk_size, n_jets - chunk * chunk_size)
            tasks.append((str(out), process, chunk, n, int(seed), bool(fast), label, list(processes)))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_jets * len(processes), unit="jet", desc="generating", disable=None)
    done: dict[str, int] = {}
    t0 = time.time()
    try:
        if workers == 1:
            for task in tasks:
                out_dir_, process, chunk, n, seed_, fast_, label, names = task
                path = out / _chunk_name(process, chunk)
                attrs = _chunk_attrs(process, chunk, n, seed_, fast_, label, names)
                if not _chunk_done(path, attrs):
                    table = _generate_chunk(process, n, seed_, chunk, fast_, label,
                                            progress=bar.update if bar is not None else None)
                    table.label_names = list(names)
                    write_jets(table, path, attrs=attrs)
                elif bar is not None:
                    bar.update(n)
                done[path.name] = n
        else:
            import multiprocessing as mp

            method = "fork" if "fork" in mp.get_all_start_methods() else None
            with mp.get_context(method).Pool(min(workers, len(tasks))) as pool:
                for name, n in pool.imap_unordered(_run_chunk, tasks):
                    done[name] = n
                    if bar is not None:
                        bar.update(n)
    finally:
        if bar is not None:
            bar.close()

    files = []
    for task in tasks:
        _, process, chunk, n, _, _, label, _ = task
        name = _chunk_name(process, chunk)
        files.append({"name": name, "process": process, "chunk": chunk, "n_jets": done[name], "label": label,
                      "chunk_seed": derive_seed(seed, process, chunk)})
    pythia8 = require("pythia8mc", "physics")
    fastjet = require("fastjet", "physics")
    manifest = {
        "format": MANIFEST_FORMAT,
        **settings,
        "label_names": list(processes),
        "files": files,
        "n_jets_total": sum(f["n_jets"] for f in files),
        "cuts": {"pt_range": [550.0, 650.0], "eta_max": 2.0, "jet": "anti-kt R=0.8, leading jet, > 2 constituents",
                 "sqrt_s": 14000.0},
        "generator": {"pythia8mc": getattr(pythia8, "__version__", "8.317"),
                      "fastjet": getattr(fastjet, "__version__", "unknown")},
        "seconds": round(time.time() - t0, 1),
    }
    write_manifest(out, manifest)
    return out


def export_dataset(folder: os.PathLike | str, out: os.PathLike | str, format: str) -> Path:
    """Write the jets of a generated folder in a public layout (``"landscape"`` or ``"parquet"``).

    Returns:
        Path: ``out``.
    """
    from .jet_io import dataset_files, read_jets
    from .readers import write_parquet_jets
    from .writers import write_top_landscape

    table = JetTable.concat([read_jets(f) for f in dataset_files(folder)])
    if format == "landscape":
        return write_top_landscape(table, out)
    if format == "parquet":
        return write_parquet_jets(table, out)
    raise ValueError(f"format must be 'landscape' or 'parquet', got {format!r}")


__all__ = [
    "PROCESSES",
    "derive_seed",
    "generate_jets",
    "generate_dataset",
    "export_dataset",
    "CLASS_ORDER",
]
