r"""Jets of Delphes ROOT files: each jet's particle-flow constituents, labelled by its flavour.

Delphes stores a jet's constituents as references (``Jet.Constituents``, a ``TRefArray``) to the
objects of the particle-flow collections ``EFlowTrack``, ``EFlowPhoton`` and ``EFlowNeutralHadron``
of the same event: a reference is the object number, the low 24 bits of the object's ``fUniqueID``.
A row of pgjets is a jet (``Jet``, or another particle-flow jet collection of the file such as
``ParticleFlowJet04``, chosen with ``jets=`` in Python; the command line reads ``Jet``), in the order
of the events and of the jets in each event; its constituents keep the order of its references,
without the tracks of zero transverse momentum (Delphes keeps some at :math:`p_T = 0`,
:math:`\eta = 999.9`; their logarithmic features would be infinite).  The constituents' sum then
still gives the jet's :math:`p_T`, :math:`\eta`, :math:`\phi`, but its mass can fall short of
``Jet.Mass`` by those tracks' rest energy (one jet of the test file: 4.37 against 5.45 GeV).  Tracks give
:math:`(p_T, \eta, \phi, m)`, their ``PID`` (signed PDG id), ``Charge`` and the impact parameters
``D0``, ``DZ``, ``ErrorD0``, ``ErrorDZ`` (mm, as in JetClass, which was made with Delphes); photons
and neutral hadrons give :math:`(E_T, \eta, \phi, E)`, PDG id 22 and 130, no charge and impact
parameters 0.  The label is the jet's flavour (``Jet.Flavor``, from Delphes's parton matching):
1-3 ``light``, 4 ``c``, 5 ``b``, 21 ``g`` and 0 ``none`` (no parton matched: pileup or fake jets),
:data:`DELPHES_JET_LABELS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .._checks import require
from ..errors import DataFileError
from .readers import (PathLike, _existing, _finish, _finite, _range, _table, event_counts, event_span,
                      flavour_classes)
from .table import TRACK_IP_COLUMNS, offsets_from_counts

#: The classes of Delphes jets, by ``|Flavor|``: 1-3, 4, 5, 21 and 0.
DELPHES_JET_LABELS: list[str] = ["light", "c", "b", "g", "none"]
_FLAVOUR_CLASS = {1: 0, 2: 0, 3: 0, 4: 1, 5: 2, 21: 3, 0: 4}
#: The particle-flow collections of the constituents, with the PDG id of the neutral ones.
CONSTITUENT_COLLECTIONS: dict[str, Optional[int]] = {"EFlowTrack": None, "EFlowPhoton": 22,
                                                     "EFlowNeutralHadron": 130}
_OBJECT_NUMBER = 0xFFFFFF  # the bits of fUniqueID that a TRef stores
_TRACK_IP = ("D0", "ErrorD0", "DZ", "ErrorDZ")  # as TRACK_IP_COLUMNS


def is_delphes_jets(names: set[str]) -> bool:
    """Whether a ROOT file with top-level objects ``names`` is Delphes output (a tree ``Delphes``)."""
    return "Delphes" in names


def _tree(path: Path, jets: str):
    uproot = require("uproot", "physics", "reading Delphes ROOT files")
    try:
        t = uproot.open(path)["Delphes"]
        keys = set(t.keys())
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable Delphes ROOT file (a tree 'Delphes'): {exc}") from exc
    if f"{jets}/{jets}.Constituents" not in keys:
        have = sorted(k.split("/")[0] for k in keys if k.endswith(".Constituents") and "/" in k)
        raise DataFileError(f"{path}: tree 'Delphes' has no jet collection {jets!r} with Constituents; it has "
                            f"{', '.join(have) or 'none'}")
    need = [f"{jets}_size", f"{jets}/{jets}.Flavor"] + [f"{c}/{c}.fUniqueID" for c in CONSTITUENT_COLLECTIONS]
    missing = [b for b in need if b not in keys]
    if missing:
        raise DataFileError(f"{path}: tree 'Delphes' lacks {missing} (the constituents of {jets} jets as "
                            "references to EFlowTrack, EFlowPhoton and EFlowNeutralHadron)")
    return t, keys


def count_delphes_jets(path: PathLike, jets: str = "Jet") -> int:
    """Number of jets (rows) of a Delphes file: the sum of ``<jets>_size`` over its events."""
    path = _existing(path, "Delphes file")
    t, _ = _tree(path, jets)
    return int(event_counts(t, path, f"{jets}_size").sum())


def read_delphes_jets(path: PathLike, start: Optional[int] = None, stop: Optional[int] = None,
                      jets: str = "Jet", drop_empty: bool = False) -> "JetTable":  # noqa: F821
    """Read jets ``start:stop`` (rows counted over all events) of a Delphes ROOT file with their
    particle-flow constituents.

    Args:
        path: The Delphes ROOT file.
        start: First jet.
        stop: One past the last jet.
        jets: The jet collection (``"Jet"``; any with ``Constituents`` and ``Flavor``).
        drop_empty: Drop jets without constituents instead of raising.

    Returns:
        A :class:`~pgjets.data.JetTable` with ``label`` (flavour: :data:`DELPHES_JET_LABELS`), ``pdgid``,
        ``charge`` and the track impact parameters ``d0val, d0err, dzval, dzerr`` (mm).

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Not Delphes output with the constituent collections, a constituent outside them,
            a flavour other than those of :data:`DELPHES_JET_LABELS`, or non-finite values.
        EmptyGraphError: A jet has no constituents (and ``drop_empty`` is false).
    """
    path = _existing(path, "Delphes file")
    ak = require("awkward", "physics", "reading Delphes ROOT files")
    t, keys = _tree(path, jets)
    per_event = event_counts(t, path, f"{jets}_size")
    cum = offsets_from_counts(per_event)
    a, b = _range(start, stop, int(cum[-1]))
    e0, e1 = event_span(cum, a, b)
    fields = {"EFlowTrack": ["fUniqueID", "PT", "P", "CtgTheta", "Eta", "Phi", "Mass", "PID", "Charge", *_TRACK_IP],
              "EFlowPhoton": ["fUniqueID", "ET", "Eta", "Phi", "E"],
              "EFlowNeutralHadron": ["fUniqueID", "ET", "Eta", "Phi", "E"]}
    names = [f"{jets}/{jets}.Constituents", f"{jets}/{jets}.Flavor"]
    names += [f"{c}/{c}.{f}" for c, fs in fields.items() for f in fs]
    lacking = [n for n in names if n not in keys]
    if lacking:
        raise DataFileError(f"{path}: tree 'Delphes' lacks {lacking}")
    try:
        arr = t.arrays(names, entry_start=e0, entry_stop=e1, library="ak")
    except Exception as exc:
        raise DataFileError(f"{path}: reading events {e0}:{e1} failed (corrupt or truncated?): {exc}") from exc
    n_events = e1 - e0
    lo, hi = a - int(cum[e0]), b - int(cum[e0])  # the requested jets among those read
    per_jet = ak.flatten(arr[f"{jets}/{jets}.Constituents"]["refs"], axis=1)[lo:hi]  # each requested jet's references
    jet_event = np.repeat(np.arange(n_events), per_event[e0:e1])[lo:hi]
    counts = np.asarray(ak.num(per_jet), dtype=np.int64)
    offsets = offsets_from_counts(counts)
    ref = np.asarray(ak.flatten(per_jet), dtype=np.int64)
    key = np.repeat(jet_event, counts) << 24 | ref  # (event, object number)

    columns = _constituent_columns(ak, arr, fields, n_events)
    order = np.argsort(columns["key"], kind="stable")
    where = np.searchsorted(columns["key"], key, sorter=order)
    found = where < len(order)
    found[found] = columns["key"][order[where[found]]] == key[found]
    if not found.all():
        i = int(np.nonzero(~found)[0][0])
        j = int(np.searchsorted(offsets, i, side="right") - 1)
        raise DataFileError(f"{path}: jet {a + j} of {jets!r} has constituents outside "
                            f"{list(CONSTITUENT_COLLECTIONS)} ({int((~found).sum())} references of the jets read): "
                            "only particle-flow jets are read (generator jets refer to Particle, calorimeter and "
                            "track jets to Tower or Track)")
    pick = order[where]
    kept = columns["pt"][pick] > 0  # Delphes keeps tracks of pT 0 (eta 999.9): no momentum, not a particle
    pick = pick[kept]
    counts = np.bincount(np.repeat(np.arange(len(counts)), counts)[kept], minlength=len(counts))
    offsets = offsets_from_counts(counts)
    col = {c: _finite(v[pick], offsets, f"{path}: constituent {c}", "jet", a) for c, v in columns.items()
           if c != "key"}
    pt, phi = col["pt"], col["phi"]
    p4 = {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": col["pz"], "E": col["e"]}
    flavour = np.abs(np.asarray(ak.flatten(arr[f"{jets}/{jets}.Flavor"]), dtype=np.int64))[lo:hi]
    label = flavour_classes(flavour, _FLAVOUR_CLASS, path, a, "flavour")
    table = _table(path, **{k: v.astype(np.float32) for k, v in p4.items()}, offsets=offsets, label=label,
                   pdgid=col["pdgid"].astype(np.int32), charge=col["charge"].astype(np.float32),
                   label_names=list(DELPHES_JET_LABELS),
                   **{c: col[c].astype(np.float32) for c in TRACK_IP_COLUMNS})
    return _finish(table, drop_empty, path, a)


def _constituent_columns(ak, arr, fields: dict[str, Sequence[str]], n_events: int) -> dict[str, np.ndarray]:
    """The particle-flow objects of the events read, of all three collections, as flat columns with
    their ``key`` (event << 24 | object number)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("key", "pt", "pz", "phi", "e", "pdgid", "charge",
                                                           *TRACK_IP_COLUMNS)}

    def flat(c: str, f: str) -> np.ndarray:
        return np.asarray(ak.flatten(arr[f"{c}/{c}.{f}"]), dtype=np.float64)

    for c, neutral_pdg in CONSTITUENT_COLLECTIONS.items():
        uid = arr[f"{c}/{c}.fUniqueID"]
        event = np.repeat(np.arange(n_events), np.asarray(ak.num(uid), dtype=np.int64))
        parts["key"].append(event << 24 | (np.asarray(ak.flatten(uid), dtype=np.int64) & _OBJECT_NUMBER))
        parts["phi"].append(flat(c, "Phi"))
        if neutral_pdg is None:  # tracks: pz = pT cot(theta) and E from |p|, finite also where eta is not
            pt, mass = flat(c, "PT"), flat(c, "Mass")
            parts["pt"].append(pt)
            parts["pz"].append(np.where(pt > 0, pt * flat(c, "CtgTheta"), 0.0))
            parts["e"].append(np.sqrt(flat(c, "P") ** 2 + mass ** 2))
            parts["pdgid"].append(flat(c, "PID"))
            parts["charge"].append(flat(c, "Charge"))
            for column, f in zip(TRACK_IP_COLUMNS, _TRACK_IP):
                parts[column].append(flat(c, f))
        else:  # towers: massless, E_T = E / cosh(eta)
            et, eta = flat(c, "ET"), flat(c, "Eta")
            parts["pt"].append(et)
            parts["pz"].append(np.where(et > 0, et * np.sinh(np.clip(eta, -20, 20)), 0.0))
            parts["e"].append(flat(c, "E"))
            n = parts["pt"][-1].size
            parts["pdgid"].append(np.full(n, float(neutral_pdg)))
            for column in ("charge", *TRACK_IP_COLUMNS):
                parts[column].append(np.zeros(n))
    return {k: np.concatenate(v) for k, v in parts.items()}


__all__ = ["DELPHES_JET_LABELS", "CONSTITUENT_COLLECTIONS", "is_delphes_jets", "count_delphes_jets",
           "read_delphes_jets"]
