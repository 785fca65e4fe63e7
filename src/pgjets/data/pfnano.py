r"""Jets of CMS PFNano files: each jet's particle-flow candidates, labelled by its flavour.

PFNano (NanoAOD with particle-flow candidates) stores the candidates of an event once, in the
collection ``PFCands`` (``PFCands_pt``, ``_eta``, ``_phi``, ``_mass``, ``_charge``, ``_pdgId``,
``_d0``, ``_d0Err``, ``_dz``, ``_dzErr``), and the constituents of jets as index pairs: the entries of
``JetPFCands`` (AK4 jets ``Jet``) or ``FatJetPFCands`` (AK8 jets ``FatJet``) each join a jet
(``_jetIdx``) and a candidate (``_pFCandsIdx``) of the same event.  A row of pgjets is a jet, in the
order of the events and of the jets in each event; the constituents keep the order of their index
pairs.  Candidate four-momenta are built from :math:`(p_T, \eta, \phi, m)`,

.. math::
    (E, p_x, p_y, p_z) = \big(\sqrt{p_T^2\cosh^2\eta + m^2},\; p_T\cos\phi,\; p_T\sin\phi,\;
    p_T\sinh\eta\big),

as stored (no PUPPI weight applied).  The track impact parameters are read in mm, the unit of
Delphes and so of JetClass, for which the ``particlenet`` feature set's preprocessing was made
(PFNano stores cm); PFNano's value -1 of candidates without track details (neutral ones, and
charged ones whose track was not stored) becomes 0 in all four columns, as JetClass stores them for
neutral particles.  HF candidates (``pdgId`` 1 and 2) get no particle-ID flag, as in CMS's own
ParticleNet inputs.  The label is the jet's hadron flavour (``Jet_hadronFlavour``,
the ghost-associated B or C hadron of simulation): 0 ``light`` (udsg), 4 ``c``, 5 ``b``
(:data:`PFNANO_LABELS`): the classes of AK4 flavour tagging.  Collision data has no flavour and is
refused.  With the track impact parameters the ``particlenet`` feature set gets the paper's inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .._checks import require
from ..errors import DataFileError
from .readers import (PathLike, _existing, _finish, _finite, _range, _table, event_counts, event_span,
                      flavour_classes)
from .table import TRACK_IP_COLUMNS, offsets_from_counts

#: The classes of PFNano jets, by hadron flavour 0, 4, 5.
PFNANO_LABELS: list[str] = ["light", "c", "b"]
_FLAVOUR_CLASS = {0: 0, 4: 1, 5: 2}
#: The jet collections whose constituents PFNano stores (``<C>PFCands_jetIdx``).
PFNANO_JETS: tuple[str, ...] = ("Jet", "FatJet")
_CANDIDATE_IP = ("PFCands_d0", "PFCands_d0Err", "PFCands_dz", "PFCands_dzErr")  # as TRACK_IP_COLUMNS


def is_pfnano(keys) -> bool:
    """Whether the branches ``keys`` of a tree ``Events`` are PFNano's (jet constituents as index pairs)."""
    return any(f"{j}PFCands_pFCandsIdx" in keys for j in PFNANO_JETS) and "PFCands_pt" in keys


def _events_tree(path: Path, jets: str):
    uproot = require("uproot", "physics", "reading PFNano ROOT files")
    if jets not in PFNANO_JETS:
        raise ValueError(f"jets must be one of {PFNANO_JETS}, got {jets!r}")
    try:
        f = uproot.open(path)
        t = f["Events"]
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable PFNano ROOT file (a tree 'Events'): {exc}") from exc
    keys = set(t.keys())
    need = [f"n{jets}", f"{jets}PFCands_jetIdx", f"{jets}PFCands_pFCandsIdx", "PFCands_pt", "PFCands_eta",
            "PFCands_phi", "PFCands_mass"]
    missing = [b for b in need if b not in keys]
    if missing:
        raise DataFileError(f"{path}: tree 'Events' lacks the PFNano branches {missing} (the constituents of "
                            f"{jets} jets)")
    return t, keys


def pfnano_file_info(path: PathLike, jets: str = "Jet") -> tuple[int, bool]:
    """The number of jets (rows) of a PFNano file, and whether it stores the candidates' track impact
    parameters (``PFCands_d0``, ``_d0Err``, ``_dz``, ``_dzErr``, four more input columns), from one open."""
    path = _existing(path, "PFNano file")
    t, keys = _events_tree(path, jets)
    return int(event_counts(t, path, f"n{jets}").sum()), set(_CANDIDATE_IP) <= keys


def _keys(path: Path) -> set[str]:
    uproot = require("uproot", "physics", "reading PFNano ROOT files")
    try:
        with uproot.open(path) as f:
            return set(f["Events"].keys())
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable PFNano ROOT file (a tree 'Events'): {exc}") from exc


def count_pfnano(path: PathLike, jets: str = "Jet") -> int:
    """Number of jets (rows) of a PFNano file: the sum of ``n<jets>`` over its events."""
    return pfnano_file_info(path, jets)[0]


def pfnano_has_labels(path: PathLike, jets: str = "Jet") -> bool:
    """Whether the jets of a PFNano file have a flavour (``<jets>_hadronFlavour``: simulation; collision
    data has none)."""
    return f"{jets}_hadronFlavour" in _keys(_existing(path, "PFNano file"))


def read_pfnano(path: PathLike, start: Optional[int] = None, stop: Optional[int] = None, jets: str = "Jet",
                drop_empty: bool = False, labelled: bool = True) -> "JetTable":  # noqa: F821 (pgjets.data.JetTable)
    """Read jets ``start:stop`` (rows counted over all events) of a CMS PFNano file.

    Only the events that hold those jets are read, and of them only the candidate and index branches.

    Args:
        path: The PFNano ROOT file.
        start: First jet.
        stop: One past the last jet.
        jets: ``"Jet"`` (AK4, ``JetPFCands``) or ``"FatJet"`` (AK8, ``FatJetPFCands``).
        drop_empty: Drop jets without a stored constituent instead of raising.
        labelled: ``False``: read the jets without their flavour (``label`` -1, no class names), as those
            of collision data, which has none.

    Returns:
        A :class:`~pgjets.data.JetTable` with ``label`` (hadron flavour: :data:`PFNANO_LABELS`), ``pdgid``,
        ``charge`` and, where the file has them, the track impact parameters ``d0val, d0err, dzval, dzerr``.

    Raises:
        DataFileNotFoundError: No such file.
        DataFileError: Not PFNano, no ``<jets>_hadronFlavour`` (collision data), a flavour other than
            0, 4, 5, an index out of its event's range, or non-finite values.
        EmptyGraphError: A jet has no constituents (and ``drop_empty`` is false).
    """
    path = _existing(path, "PFNano file")
    ak = require("awkward", "physics", "reading PFNano ROOT files")
    t, keys = _events_tree(path, jets)
    if labelled and f"{jets}_hadronFlavour" not in keys:
        raise DataFileError(f"{path}: no {jets}_hadronFlavour (the jet flavour of simulation; collision data "
                            "has none), so its jets have no label (pgjets evaluate scores them unlabelled)")
    per_event = event_counts(t, path, f"n{jets}")
    cum = offsets_from_counts(per_event)
    a, b = _range(start, stop, int(cum[-1]))
    e0, e1 = event_span(cum, a, b)
    ip = list(_CANDIDATE_IP) if set(_CANDIDATE_IP) <= keys else []
    optional = [c for c in ("PFCands_charge", "PFCands_pdgId") if c in keys]
    flavour_branch = [f"{jets}_hadronFlavour"] if labelled else []
    names = [*flavour_branch, f"{jets}PFCands_jetIdx", f"{jets}PFCands_pFCandsIdx", "PFCands_pt",
             "PFCands_eta", "PFCands_phi", "PFCands_mass", *optional, *ip]
    try:
        arr = t.arrays(names, entry_start=e0, entry_stop=e1, library="ak")
    except Exception as exc:
        raise DataFileError(f"{path}: reading events {e0}:{e1} failed (corrupt or truncated?): {exc}") from exc
    n_jet = per_event[e0:e1]
    n_cand = np.asarray(ak.num(arr["PFCands_pt"]), dtype=np.int64)
    n_pair = np.asarray(ak.num(arr[f"{jets}PFCands_jetIdx"]), dtype=np.int64)
    event = np.repeat(np.arange(e1 - e0), n_pair)
    jet_idx = np.asarray(ak.flatten(arr[f"{jets}PFCands_jetIdx"]), dtype=np.int64)
    cand_idx = np.asarray(ak.flatten(arr[f"{jets}PFCands_pFCandsIdx"]), dtype=np.int64)
    bad = (jet_idx < 0) | (jet_idx >= n_jet[event]) | (cand_idx < 0) | (cand_idx >= n_cand[event])
    if bad.any():
        i = int(np.nonzero(bad)[0][0])
        raise DataFileError(f"{path}: event {e0 + int(event[i])}: {jets}PFCands entry joins jet {int(jet_idx[i])} "
                            f"of {int(n_jet[event[i]])} and candidate {int(cand_idx[i])} of {int(n_cand[event[i]])}")
    jet = offsets_from_counts(n_jet)[:-1][event] + jet_idx  # a jet's position among the events read
    cand = offsets_from_counts(n_cand)[:-1][event] + cand_idx
    lo, hi = a - int(cum[e0]), b - int(cum[e0])  # the requested jets among those read
    keep = (jet >= lo) & (jet < hi)
    jet, cand = jet[keep], cand[keep]
    order = np.argsort(jet, kind="stable")  # grouped by jet, pairs in their stored order
    jet, cand = jet[order], cand[order]
    counts = np.bincount(jet - lo, minlength=hi - lo)
    offsets = offsets_from_counts(counts)

    def column(name: str) -> np.ndarray:
        values = np.asarray(ak.flatten(arr[name]), dtype=np.float64)[cand]
        return _finite(values, offsets, f"{path}: branch {name}", "jet", a)

    pt, eta, phi, mass = (column(f"PFCands_{c}") for c in ("pt", "eta", "phi", "mass"))
    if labelled:
        flavour = np.asarray(ak.flatten(arr[f"{jets}_hadronFlavour"]), dtype=np.int64)[lo:hi]
        label = flavour_classes(flavour, _FLAVOUR_CLASS, path, a, "hadron flavour")
    else:
        label = np.full(hi - lo, -1, dtype=np.int64)
    charge = column("PFCands_charge").astype(np.float32) if "PFCands_charge" in optional else None
    pdgid = column("PFCands_pdgId").astype(np.int32) if "PFCands_pdgId" in optional else None
    p4 = {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta),
          "E": np.sqrt((pt * np.cosh(eta)) ** 2 + mass ** 2)}
    table = _table(path, **{k: v.astype(np.float32) for k, v in p4.items()}, offsets=offsets, label=label,
                   pdgid=pdgid, charge=charge, label_names=list(PFNANO_LABELS) if labelled else None,
                   **_track_ip(dict(zip(TRACK_IP_COLUMNS, map(column, ip)))))
    return _finish(table, drop_empty, path, a)


#: Millimetres per unit of PFNano's impact parameters (cm).
_IP_TO_MM = 10.0


def _track_ip(ip: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The impact-parameter columns (``d0val, d0err, dzval, dzerr`` in cm, as read) in mm, with 0 for
    candidates without track details (PFNano writes -1 to all four: a negative error)."""
    if not ip:
        return {}
    no_track = (ip["d0err"] <= 0) | (ip["dzerr"] <= 0)
    return {c: np.where(no_track, 0.0, v * _IP_TO_MM).astype(np.float32) for c, v in ip.items()}


__all__ = ["PFNANO_LABELS", "PFNANO_JETS", "is_pfnano", "pfnano_has_labels", "pfnano_file_info", "count_pfnano", "read_pfnano"]
