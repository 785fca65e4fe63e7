r"""Collision events as graphs: the H -> ZZ sample of scikit-hep-testdata.

``uproot-HZZ.root`` (2421 simulated events, shipped inside
``scikit-hep-testdata``, no download) holds muons, electrons, jets, photons
and the missing transverse momentum of each event.  :func:`read_hzz_events`
zips the flat branches into one awkward record per collection and
:class:`EventDataset` turns every event into a graph of its objects with
:func:`~pgjets.graphs.event.events_to_batch` (one vectorised call).

Labels (real selections, computed with awkward over all events at once):

- ``"z_candidate"`` (default): the event holds an opposite-charge muon pair
  in the Z window,

  .. math::
      m_{\mu\mu}^2 = (E_1 + E_2)^2 - \lVert \vec p_1 + \vec p_2 \rVert^2,
      \qquad q_1 q_2 < 0, \qquad 60 < m_{\mu\mu} < 120\ \mathrm{GeV};

- ``"four_lepton"``: the event holds two disjoint same-flavour
  opposite-charge lepton pairs (the :math:`H \to ZZ^* \to 4\ell` topology),

  .. math::
      \min(n_{\mu^+}, n_{\mu^-}) + \min(n_{e^+}, n_{e^-}) \ge 2;

- a callable ``events -> (num_events,)`` array of non-negative integers.

A graph network must learn to pair the right objects (and, for the Z label,
compute their mass) to reproduce them.  Awkward, uproot and
scikit-hep-testdata are imported lazily (extra ``physics``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._checks import require
from ..errors import DataFileError, DataFileNotFoundError
from .digits import random_split_indices

#: Branches of each object collection, keyed by the record field they become.
COLLECTIONS: dict[str, dict[str, str]] = {
    "Muon": {"px": "Muon_Px", "py": "Muon_Py", "pz": "Muon_Pz", "E": "Muon_E", "charge": "Muon_Charge",
             "iso": "Muon_Iso"},
    "Electron": {"px": "Electron_Px", "py": "Electron_Py", "pz": "Electron_Pz", "E": "Electron_E",
                 "charge": "Electron_Charge", "iso": "Electron_Iso"},
    "Jet": {"px": "Jet_Px", "py": "Jet_Py", "pz": "Jet_Pz", "E": "Jet_E", "btag": "Jet_btag", "id": "Jet_ID"},
    "Photon": {"px": "Photon_Px", "py": "Photon_Py", "pz": "Photon_Pz", "E": "Photon_E", "iso": "Photon_Iso"},
}
#: Branches of the missing transverse momentum (one record per event).
MET_BRANCHES: dict[str, str] = {"px": "MET_px", "py": "MET_py"}
#: Default node collections, in node order.
DEFAULT_COLLECTIONS: tuple[str, ...] = ("Muon", "Electron", "Jet", "Photon", "MET")
#: Dimuon mass window (GeV) of the ``"z_candidate"`` label.
Z_WINDOW: tuple[float, float] = (60.0, 120.0)
#: Z boson mass (GeV) used to pick the best dimuon pair.
Z_MASS: float = 91.1876
#: Names of the built-in labels.
LABELS: tuple[str, ...] = ("z_candidate", "four_lepton")
TREE = "events"


def hzz_path() -> Path:
    """Path of ``uproot-HZZ.root`` inside scikit-hep-testdata (no download).

    Raises:
        MissingExtraError: scikit-hep-testdata is not installed.
    """
    skhep = require("skhep_testdata", "physics", "the H->ZZ event file")
    return Path(skhep.data_path("uproot-HZZ.root"))


def _check_range(value: Optional[int], name: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
    return int(value)


def read_hzz_events(
    path: Union[str, Path, None] = None,
    start: Optional[int] = None,
    stop: Optional[int] = None,
) -> Any:
    r"""Read the events of an HZZ-layout ROOT file as an ``awkward.Array``.

    Every event is a record ``{Muon, Electron, Jet, Photon, MET}``: the first
    four are variable-length lists of objects with fields
    ``px, py, pz, E`` (GeV) plus ``charge, iso`` (leptons), ``btag, id``
    (jets) or ``iso`` (photons); ``MET`` is a single record ``{px, py}``.
    Only the needed branches are read.

    .. math::
        \text{event}_b.\mathrm{Muon}[i].p_x = \texttt{Muon\_Px}[b][i]

    Args:
        path: ROOT file with a tree ``events`` in the HZZ layout (default: the
            ``uproot-HZZ.root`` shipped in scikit-hep-testdata).
        start: First event to read (default 0).
        stop: One past the last event to read (default: all).

    Raises:
        DataFileNotFoundError: ``path`` does not exist.
        DataFileError: not a ROOT file, no tree ``events``, or missing
            branches (all named in the message).
        ValueError: a negative or non-integer ``start`` / ``stop``.
        MissingExtraError: awkward, uproot or scikit-hep-testdata missing.

    Shapes:
        - **output:** ``awkward.Array`` of length ``stop - start``
          (2421 for the whole shipped file)
    """
    start = _check_range(start, "start")
    stop = _check_range(stop, "stop")
    ak = require("awkward", "physics", "event data")
    uproot = require("uproot", "physics", "ROOT files")
    path = Path(path) if path is not None else hzz_path()
    if not path.is_file():
        raise DataFileNotFoundError(f"event file {path} does not exist")
    try:
        f = uproot.open(path)
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable ROOT file: {exc}") from exc
    with f:
        if TREE not in f:
            raise DataFileError(f"{path} has no tree {TREE!r} (it has {list(f.keys())})")
        tree = f[TREE]
        if not hasattr(tree, "arrays"):
            raise DataFileError(f"{path}: {TREE!r} is not a TTree")
        needed = [b for c in COLLECTIONS.values() for b in c.values()] + list(MET_BRANCHES.values())
        missing = sorted(set(needed) - set(tree.keys()))
        if missing:
            raise DataFileError(f"{path}: tree {TREE!r} lacks branches {missing}")
        try:
            arrays = tree.arrays(needed, entry_start=start, entry_stop=stop)
        except Exception as exc:
            raise DataFileError(f"{path}: cannot read tree {TREE!r}: {exc}") from exc
    fields = {name: ak.zip({k: arrays[b] for k, b in cols.items()}) for name, cols in COLLECTIONS.items()}
    fields["MET"] = ak.zip({k: arrays[b] for k, b in MET_BRANCHES.items()}, depth_limit=1)
    return ak.zip(fields, depth_limit=1)


def dimuon_z_candidate(events: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Z-candidate label and best dimuon mass of every event (vectorised).

    Over all muon pairs :math:`(a, b)` of an event with :math:`q_a q_b < 0`:

    .. math::
        m_{ab} = \sqrt{\max\big((E_a + E_b)^2 - \lVert \vec p_a + \vec p_b
        \rVert^2,\ 0\big)}, \qquad
        \text{label} = [\exists\, ab : 60 < m_{ab} < 120]

    and the returned mass is the :math:`m_{ab}` closest to :math:`m_Z`
    (0 for events without an opposite-charge pair; never NaN).

    Args:
        events: ``awkward.Array`` of events with a ``Muon`` collection
            (``px, py, pz, E, charge``), e.g. from :func:`read_hzz_events`.

    Shapes:
        - **output:** ``label`` :math:`(B,)` int64 in {0, 1}, ``mass``
          :math:`(B,)` float32 (GeV)
    """
    ak = require("awkward", "physics", "event labels")
    pairs = ak.combinations(events["Muon"], 2, fields=["a", "b"])
    a, b = pairs["a"], pairs["b"]
    m2 = (a.E + b.E) ** 2 - (a.px + b.px) ** 2 - (a.py + b.py) ** 2 - (a.pz + b.pz) ** 2
    m = np.sqrt(np.maximum(m2, 0.0))
    m_os = m[a.charge * b.charge < 0]
    in_window = (m_os > Z_WINDOW[0]) & (m_os < Z_WINDOW[1])
    label = ak.to_numpy(ak.any(in_window, axis=1)).astype(np.int64)
    best = ak.argmin(abs(m_os - Z_MASS), axis=1, keepdims=True)
    mass = ak.to_numpy(ak.fill_none(ak.firsts(m_os[best]), 0.0)).astype(np.float32)
    return label, mass


def four_lepton_candidate(events: Any) -> np.ndarray:
    r"""Whether each event holds two disjoint same-flavour opposite-charge
    lepton pairs (the :math:`H \to ZZ^* \to 4\ell` topology; vectorised).

    .. math::
        \text{label} = \big[\min(n_{\mu^+}, n_{\mu^-})
        + \min(n_{e^+}, n_{e^-}) \ge 2\big]

    Args:
        events: ``awkward.Array`` with ``Muon`` and ``Electron`` collections
            carrying ``charge``.

    Shapes:
        - **output:** :math:`(B,)` int64 in {0, 1}
    """
    ak = require("awkward", "physics", "event labels")

    def pairs(coll: str) -> np.ndarray:
        q = events[coll].charge
        pos = ak.to_numpy(ak.sum(q > 0, axis=1))
        neg = ak.to_numpy(ak.sum(q < 0, axis=1))
        return np.minimum(pos, neg)

    return (pairs("Muon") + pairs("Electron") >= 2).astype(np.int64)


def _set_graph_attr(batch: Any, name: str, value: Tensor) -> None:
    """Attach a per-graph attribute to a ``Batch`` so ``get_example`` slices it."""
    batch[name] = value
    batch._slice_dict[name] = torch.arange(value.size(0) + 1)
    batch._inc_dict[name] = torch.zeros(value.size(0), dtype=torch.long)


class EventDataset(Dataset):
    r"""H -> ZZ events as graphs of their reconstructed objects.

    Every event becomes the graph of :func:`~pgjets.graphs.event.events_to_batch`
    (nodes = objects of ``collections``, features
    :math:`[p_T, \eta, \phi, E, q, \mathrm{onehot}(\text{collection})]`,
    ``pos`` = :math:`(\eta, \phi)`, ``pt``, ``node_type``), all built in one
    vectorised call and held as one ``Batch``; items are sliced from it.
    Each item also carries ``y`` (the event label) and ``dimuon_mass`` (the
    best opposite-charge dimuon mass, see :func:`dimuon_z_candidate`).

    .. math::
        y_b = \big[\exists\ \mu^+\mu^- : 60 < m_{\mu\mu} < 120\ \mathrm{GeV}\big]
        \quad (\texttt{label="z\_candidate"})

    Args:
        path: ROOT file (default: the one shipped in scikit-hep-testdata).
        collections: Collections that become nodes, in node order.
        connectivity: ``"full"`` (complete graph per event) or ``"knn"``
            (in :math:`(\eta, \phi)`).
        k: Neighbours for ``"knn"``.
        label: ``"z_candidate"``, ``"four_lepton"`` (see the module doc) or
            a callable ``events -> (num_events,)`` non-negative integers.
        transform: Applied to every ``Data`` returned by ``__getitem__``.

    Attributes:
        events: The awkward events.
        batch: All events as one PyG ``Batch``.
        labels: :math:`(B,)` long labels; ``dimuon_mass``: :math:`(B,)` float.

    Raises:
        DataFileNotFoundError / DataFileError: see :func:`read_hzz_events`.
        ValueError: unknown ``label`` name, or a callable label of the wrong
            length / with negative or non-integer values.

    Shapes:
        - **item:** ``x`` :math:`(N, 5 + C)`, ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)`, ``node_type`` :math:`(N,)`, ``edge_index``
          :math:`(2, E)`, ``y`` :math:`(1,)`, ``dimuon_mass`` :math:`(1,)`
    """

    def __init__(
        self,
        path: Union[str, Path, None] = None,
        collections: Sequence[str] = DEFAULT_COLLECTIONS,
        connectivity: str = "full",
        k: int = 8,
        label: Union[str, Callable[[Any], Any]] = "z_candidate",
        transform: Optional[Callable] = None,
    ) -> None:
        from ..graphs.event import events_to_batch

        if not callable(label) and label not in LABELS:
            raise ValueError(f"label must be one of {list(LABELS)} or a callable, got {label!r}")
        events = read_hzz_events(path)
        z_label, mass = dimuon_z_candidate(events)
        if label == "z_candidate":
            y = z_label
        elif label == "four_lepton":
            y = four_lepton_candidate(events)
        else:
            y = self._custom_label(label, events)
        self.events = events
        self.collections = tuple(collections)
        self.label_name = label if isinstance(label, str) else getattr(label, "__name__", "custom")
        self.labels = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
        self.dimuon_mass = torch.from_numpy(np.ascontiguousarray(mass, dtype=np.float32))
        self.batch = events_to_batch(events, collections=collections, connectivity=connectivity, k=k)
        _set_graph_attr(self.batch, "y", self.labels)
        _set_graph_attr(self.batch, "dimuon_mass", self.dimuon_mass)
        self.transform = transform
        self.num_features = int(self.batch.x.size(1))
        self.num_classes = max(2, int(self.labels.max()) + 1)

    @staticmethod
    def _custom_label(label: Callable[[Any], Any], events: Any) -> np.ndarray:
        y = np.asarray(label(events))
        if y.shape != (len(events),):
            raise ValueError(f"label callable must return shape ({len(events)},), got {y.shape}")
        if y.dtype == bool:
            y = y.astype(np.int64)
        if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all() \
                or (y < 0).any() or (y != np.round(y)).any():
            raise ValueError("label callable must return non-negative integers")
        return y.astype(np.int64)

    def __len__(self) -> int:
        return int(self.batch.num_graphs)

    def __getitem__(self, idx: int) -> Any:
        n = len(self)
        i = int(idx)
        if not -n <= i < n:
            raise IndexError(f"event index {i} out of range for {n} events")
        data = self.batch.get_example(i % n)
        return self.transform(data) if self.transform else data

    def split(
        self, frac: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""Seeded random train/val/test indices (see
        :func:`~pgjets.data.digits.random_split_indices`).

        Shapes:
            - **output:** three ``long`` index tensors covering :math:`[0, B)`
        """
        return random_split_indices(len(self), frac, seed)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({len(self)}, collections={list(self.collections)}, "
                f"label={self.label_name!r})")


__all__ = [
    "COLLECTIONS", "MET_BRANCHES", "DEFAULT_COLLECTIONS", "Z_WINDOW", "Z_MASS", "LABELS",
    "hzz_path", "read_hzz_events", "dimuon_z_candidate", "four_lepton_candidate", "EventDataset",
]
