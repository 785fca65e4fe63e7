r"""Collision events as graphs: the H -> ZZ sample of scikit-hep-testdata.

``uproot-HZZ.root`` (2421 simulated events, shipped inside
``scikit-hep-testdata``, no download) holds muons, electrons, jets, photons
and the missing transverse momentum of each event.  :func:`read_hzz_events`
zips the flat branches into one awkward record per collection and
:class:`EventDataset` turns every event into a graph of its objects with
:func:`~pgjets.graphs.event.events_to_batch` (one vectorised call).

Label (a real selection): does the event hold an opposite-charge muon pair
with invariant mass in the Z window,

.. math::
    m_{\mu\mu}^2 = (E_1 + E_2)^2 - \lVert \vec p_1 + \vec p_2 \rVert^2, \qquad
    60 < m_{\mu\mu} < 120\ \mathrm{GeV}?

A graph network must learn to pair the right objects and compute their mass
to reproduce it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .._checks import require
from ..errors import DataFileError, DataFileNotFoundError

COLLECTIONS: dict[str, dict[str, str]] = {
    "Muon": {"px": "Muon_Px", "py": "Muon_Py", "pz": "Muon_Pz", "E": "Muon_E", "charge": "Muon_Charge",
             "iso": "Muon_Iso"},
    "Electron": {"px": "Electron_Px", "py": "Electron_Py", "pz": "Electron_Pz", "E": "Electron_E",
                 "charge": "Electron_Charge", "iso": "Electron_Iso"},
    "Jet": {"px": "Jet_Px", "py": "Jet_Py", "pz": "Jet_Pz", "E": "Jet_E", "btag": "Jet_btag", "id": "Jet_ID"},
    "Photon": {"px": "Photon_Px", "py": "Photon_Py", "pz": "Photon_Pz", "E": "Photon_E", "iso": "Photon_Iso"},
}
MET_BRANCHES = {"px": "MET_px", "py": "MET_py"}
Z_WINDOW = (60.0, 120.0)


def hzz_path() -> Path:
    """Path of ``uproot-HZZ.root`` inside scikit-hep-testdata."""
    skhep = require("skhep_testdata", "physics", "the H->ZZ event file")
    return Path(skhep.data_path("uproot-HZZ.root"))


def read_hzz_events(path=None, start: Optional[int] = None, stop: Optional[int] = None):
    """Events as an awkward array of records ``{Muon, Electron, Jet, Photon, MET}``.

    Args:
        path: A ROOT file with tree ``events`` in the HZZ layout (default: the shipped one).
        start, stop: Event range.
    """
    ak = require("awkward", "physics", "event data")
    uproot = require("uproot", "physics", "ROOT files")
    path = Path(path) if path is not None else hzz_path()
    if not path.exists():
        raise DataFileNotFoundError(f"event file {path} does not exist")
    try:
        f = uproot.open(path)
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable ROOT file: {exc}") from exc
    if "events" not in f:
        raise DataFileError(f"{path} has no tree 'events' (it has {list(f.keys())})")
    tree = f["events"]
    needed = [b for c in COLLECTIONS.values() for b in c.values()] + list(MET_BRANCHES.values())
    missing = sorted(set(needed) - set(tree.keys()))
    if missing:
        raise DataFileError(f"{path}: tree 'events' lacks branches {missing}")
    arrays = tree.arrays(needed, entry_start=start, entry_stop=stop)
    fields = {name: ak.zip({k: arrays[b] for k, b in cols.items()}) for name, cols in COLLECTIONS.items()}
    fields["MET"] = ak.zip({k: arrays[b] for k, b in MET_BRANCHES.items()}, depth_limit=1)
    return ak.zip(fields, depth_limit=1)


def dimuon_z_candidate(events) -> tuple[np.ndarray, np.ndarray]:
    """``(label, mass)``: whether an opposite-charge muon pair lies in the Z window,
    and the mass of the pair closest to :math:`m_Z` (NaN-free: 0 without a pair)."""
    ak = require("awkward", "physics")
    mu = events["Muon"]
    pairs = ak.combinations(mu, 2, fields=["a", "b"])
    a, b = pairs["a"], pairs["b"]
    m2 = (a.E + b.E) ** 2 - (a.px + b.px) ** 2 - (a.py + b.py) ** 2 - (a.pz + b.pz) ** 2
    m = np.sqrt(np.maximum(m2, 0.0))
    os_pair = a.charge * b.charge < 0
    m_os = m[os_pair]
    in_window = (m_os > Z_WINDOW[0]) & (m_os < Z_WINDOW[1])
    label = ak.to_numpy(ak.any(in_window, axis=1)).astype(np.int64)
    best = ak.argmin(abs(m_os - 91.19), axis=1, keepdims=True)
    mass = ak.to_numpy(ak.fill_none(ak.firsts(m_os[best]), 0.0)).astype(np.float32)
    return label, mass


class EventDataset(Dataset):
    """H -> ZZ events as graphs with a Z-candidate label.

    Args:
        path: ROOT file (default: the one shipped in scikit-hep-testdata).
        collections: Collections that become nodes.
        connectivity: ``"full"`` or ``"knn"`` (in :math:`\\eta, \\phi`).
        k: Neighbours for ``"knn"``.
        label: ``"z_candidate"`` or a callable ``events -> (E,) int array``.
        transform: Applied to every ``Data`` returned by ``__getitem__``.

    Attributes:
        batch: All events as one PyG ``Batch`` (``y`` = label per event).
        dimuon_mass: Mass of the best opposite-charge muon pair (0 without one).
    """

    def __init__(self, path=None, collections: Sequence[str] = ("Muon", "Electron", "Jet", "Photon", "MET"),
                 connectivity: str = "full", k: int = 8, label: Any = "z_candidate",
                 transform: Optional[Callable] = None) -> None:
        from ..graphs.event import events_to_batch

        events = read_hzz_events(path)
        z_label, self.dimuon_mass = dimuon_z_candidate(events)
        if label == "z_candidate":
            y = z_label
        elif callable(label):
            y = np.asarray(label(events), dtype=np.int64)
        else:
            raise ValueError(f"label must be 'z_candidate' or a callable, got {label!r}")
        self.batch = events_to_batch(events, collections=collections, connectivity=connectivity, k=k)
        self.batch.y = torch.from_numpy(y)
        self.batch._slice_dict["y"] = torch.arange(len(y) + 1)
        self.batch._inc_dict["y"] = torch.zeros(len(y), dtype=torch.long)
        self.transform = transform
        self.num_features = int(self.batch.x.size(1))
        self.num_classes = 2

    def __len__(self) -> int:
        return int(self.batch.num_graphs)

    def __getitem__(self, idx: int):
        data = self.batch.get_example(int(idx))
        return self.transform(data) if self.transform else data


__all__ = ["read_hzz_events", "dimuon_z_candidate", "EventDataset", "hzz_path", "COLLECTIONS"]
