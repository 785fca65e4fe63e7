r"""Collision events to heterogeneous-object graphs.

Every reconstructed object of an event (muons, electrons, jets, photons, the
missing transverse momentum, ...) becomes a node.  From its four-momentum
:math:`(p_x, p_y, p_z, E)`

.. math::
    p_T = \sqrt{p_x^2 + p_y^2}, \qquad
    \eta = \operatorname{arsinh}(p_z / p_T), \qquad
    \phi = \operatorname{atan2}(p_y, p_x)

and the node features are

.. math::
    \mathbf{x}_a = \big[\, p_T,\ \eta,\ \phi,\ E,\ q,\
    \mathrm{onehot}(\text{collection})\,\big].

Objects without ``pz`` (e.g. MET) get :math:`p_z = 0`; objects without ``E``
get the massless :math:`E = |\mathbf{p}|` (:math:`= p_T` for MET); objects
without ``charge`` get :math:`q = 0`; an object with :math:`p_T = 0` gets
:math:`\eta = 0`.  Field names are matched case-insensitively (``Px`` and
``px`` both work).  Edges are either the complete graph of the event (no self
loops) or the kNN graph in :math:`(\eta, \phi)` (plain Euclidean, no
:math:`\phi` wrapping).  Awkward is imported lazily (extra ``physics``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import BaseTransform

from .._checks import check_finite, check_positive_int, require
from ..errors import EmptyGraphError, InputShapeError
from ..nn.knn import knn_graph
from .cloud import batch_from_flat
from .set import fully_connected_edge_index

DEFAULT_COLLECTIONS: tuple[str, ...] = ("Muon", "Electron", "Jet", "Photon", "MET")
_CONNECTIVITY = ("full", "knn")


def _find(fields: Sequence[str], key: str) -> str | None:
    for f in fields:
        if f.lower() == key.lower():
            return f
    return None


def _kinematics(cols: dict[str, np.ndarray], n: int, name: str) -> dict[str, np.ndarray]:
    """Per-object ``pt, eta, phi, E, charge`` (float64) from the raw fields."""
    zero = np.zeros(n)
    px, py = cols["px"], cols["py"]
    pz = cols.get("pz", zero)
    pt = np.hypot(px, py)
    energy = cols.get("e")
    if energy is None:
        energy = np.sqrt(px * px + py * py + pz * pz)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), 0.0)
    phi = np.arctan2(py, px)
    return {"pt": pt, "eta": eta, "phi": phi, "e": energy, "charge": cols.get("charge", zero)}


def _raw_fields(ak: Any, flat: Any, fields: Sequence[str], name: str) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for key in ("px", "py", "pz", "e", "charge"):
        f = _find(fields, key)
        if f is None:
            if key in ("px", "py"):
                raise InputShapeError(
                    f"collection {name!r} needs fields px and py, it has {list(fields)}")
            continue
        values = flat[f]
        if isinstance(values, ak.Array):
            values = ak.to_numpy(ak.fill_none(values, np.nan))
        cols[key] = np.asarray(values, dtype=np.float64).reshape(-1)
    return cols


def _check_args(collections: Sequence[str], connectivity: str, k: int) -> tuple[tuple[str, ...], int]:
    if isinstance(collections, str):
        collections = (collections,)
    collections = tuple(collections)
    if not collections:
        raise ValueError("collections must name at least one collection")
    if connectivity not in _CONNECTIVITY:
        raise ValueError(f"connectivity must be 'full' or 'knn', got {connectivity!r}")
    return collections, check_positive_int(k, "k")


def _get(container: Any, name: str) -> Any:
    fields = list(getattr(container, "fields", None) or [])
    if name not in fields:
        raise InputShapeError(f"event has no collection {name!r}; its fields are {fields}")
    return container[name]


def _node_features(kin: dict[str, np.ndarray], coll: np.ndarray, num_types: int) -> dict[str, Tensor]:
    dtype = torch.get_default_dtype()
    cont = np.stack([kin["pt"], kin["eta"], kin["phi"], kin["e"], kin["charge"]], 1)
    onehot = np.zeros((coll.size, num_types))
    onehot[np.arange(coll.size), coll] = 1.0
    x = torch.from_numpy(np.concatenate([cont, onehot], 1)).to(dtype)
    check_finite(x, "event object features")
    return {
        "x": x,
        "pos": torch.from_numpy(np.stack([kin["eta"], kin["phi"]], 1)).to(dtype),
        "pt": torch.from_numpy(kin["pt"]).to(dtype),
        "node_type": torch.from_numpy(coll.astype(np.int64)),
    }


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def event_to_graph(
    event: Any,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    connectivity: str = "full",
    k: int = 8,
) -> Data:
    r"""One collision event to a graph of its reconstructed objects.

    .. math::
        \mathcal{E}_\text{full} = \{(j \to i) : j \ne i\}, \qquad
        \mathcal{E}_\text{knn} = \{(j \to i) : j \in
        \operatorname{kNN}_k(i) \text{ in } (\eta, \phi)\}

    Args:
        event: An ``awkward.Record`` whose field per collection is a list of
            objects or a single object (records with ``px, py`` and optional
            ``pz, E, charge``).
        collections: Collections to use, in node order; the index in this
            tuple is ``node_type`` and the one-hot slot.
        connectivity: ``"full"`` or ``"knn"``.
        k: Neighbours for ``"knn"`` (capped by the number of objects minus one).

    Raises:
        EmptyGraphError: the event has no object in ``collections``.
        InputShapeError: a collection is missing or lacks ``px``/``py``.
        NonFiniteError: a NaN or infinite kinematic value.

    Shapes:
        - **output:** ``x`` :math:`(N, 5 + C)`, ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)`, ``node_type`` :math:`(N,)`, ``edge_index``
          :math:`(2, E)` for :math:`N` objects and :math:`C` collections
    """
    ak = require("awkward", "physics", "event graphs")
    collections, k = _check_args(collections, connectivity, k)
    parts, types = [], []
    for ci, name in enumerate(collections):
        col = _get(event, name)
        if isinstance(col, ak.Record):
            n = 1
        elif isinstance(col, ak.Array) and col.ndim == 1 and ak.fields(col):
            n = len(col)
        else:
            raise InputShapeError(
                f"collection {name!r} must be a record or a list of records, got {type(col).__name__}")
        cols = _raw_fields(ak, col, ak.fields(col), name)
        parts.append(_kinematics(cols, n, name))
        types.append(np.full(n, ci, dtype=np.int64))
    coll = np.concatenate(types)
    if coll.size == 0:
        raise EmptyGraphError(f"event has no objects in collections {list(collections)}")
    nodes = _node_features(_concat(parts), coll, len(collections))
    if connectivity == "full":
        edge_index = fully_connected_edge_index(torch.tensor([coll.size]))
    else:
        edge_index = knn_graph(nodes["pos"], k)
    return Data(edge_index=edge_index, **nodes)


def events_to_batch(
    events: Any,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    connectivity: str = "full",
    k: int = 8,
) -> Batch:
    r"""Many events (an ``awkward.Array``) to one ``Batch``, vectorised.

    Same graphs as ``Batch.from_data_list([event_to_graph(e) for e in
    events])``, built with awkward/numpy operations over whole collections
    (the only Python loop is over ``collections``) and one edge-building call.

    .. math::
        \text{nodes of event } b = \text{objects of collection } 0,\ 1,
        \dots \text{ in order}

    Args:
        events: ``awkward.Array`` of event records (see
            :func:`event_to_graph`).
        collections: Collections to use, in node order.
        connectivity: ``"full"`` or ``"knn"``.
        k: Neighbours for ``"knn"``.

    Raises:
        EmptyGraphError: no events, or an event without objects.

    Shapes:
        - **output:** ``Batch`` with ``x`` :math:`(N, 5 + C)`, ``pos``
          :math:`(N, 2)`, ``pt`` :math:`(N,)`, ``node_type`` :math:`(N,)`,
          ``batch`` :math:`(N,)`, ``ptr`` :math:`(B+1,)`
    """
    ak = require("awkward", "physics", "event graphs")
    collections, k = _check_args(collections, connectivity, k)
    if not isinstance(events, ak.Array) or events.ndim != 1:
        raise InputShapeError("events must be a 1-D awkward Array of event records")
    num_events = len(events)
    if num_events == 0:
        raise EmptyGraphError("no events given")
    parts, types, owners = [], [], []
    total = np.zeros(num_events, dtype=np.int64)
    for ci, name in enumerate(collections):
        col = _get(events, name)
        if not ak.fields(col):
            raise InputShapeError(f"collection {name!r} must hold records with px, py, ...")
        if col.ndim == 1:  # one object per event
            counts = np.ones(num_events, dtype=np.int64)
            flat = col
        elif col.ndim == 2:
            counts = ak.to_numpy(ak.fill_none(ak.num(col, axis=1), 0)).astype(np.int64)
            flat = ak.flatten(col, axis=1)
        else:
            raise InputShapeError(f"collection {name!r} has nested lists (ndim={col.ndim})")
        n = int(counts.sum())
        cols = _raw_fields(ak, flat, ak.fields(flat), name)
        parts.append(_kinematics(cols, n, name))
        types.append(np.full(n, ci, dtype=np.int64))
        owners.append(np.repeat(np.arange(num_events), counts))
        total += counts
    if (total == 0).any():
        raise EmptyGraphError(f"event {int(np.nonzero(total == 0)[0][0])} has no objects "
                              f"in collections {list(collections)}")
    order = np.argsort(np.concatenate(owners), kind="stable")
    kin = {key: value[order] for key, value in _concat(parts).items()}
    nodes = _node_features(kin, np.concatenate(types)[order], len(collections))
    counts_t = torch.from_numpy(total)
    if connectivity == "full":
        edge_index = fully_connected_edge_index(counts_t)
    else:
        batch_vec = torch.repeat_interleave(torch.arange(num_events), counts_t)
        edge_index = knn_graph(nodes["pos"], k, batch_vec)
    return batch_from_flat(nodes, counts_t, edge_index=edge_index)


class EventToGraph(BaseTransform):
    r"""Transform one event (an ``awkward.Record``) into a graph of its objects
    (see :func:`event_to_graph`).

    .. math::
        \mathbf{x}_a = \big[\, p_T,\ \eta,\ \phi,\ E,\ q,\
        \mathrm{onehot}(\text{collection})\,\big]

    Args:
        collections: Collections to use, in node order.
        connectivity: ``"full"`` or ``"knn"``.
        k: Neighbours for ``"knn"``.

    Shapes:
        - **output:** ``x`` :math:`(N, 5 + C)`, ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)`, ``node_type`` :math:`(N,)`, ``edge_index`` :math:`(2, E)`
    """

    def __init__(
        self,
        collections: Sequence[str] = DEFAULT_COLLECTIONS,
        connectivity: str = "full",
        k: int = 8,
    ) -> None:
        self.collections, self.k = _check_args(collections, connectivity, k)
        self.connectivity = connectivity

    def forward(self, data: Any) -> Data:
        return event_to_graph(data, self.collections, self.connectivity, self.k)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(collections={list(self.collections)}, "
                f"connectivity={self.connectivity!r}, k={self.k})")


__all__ = ["DEFAULT_COLLECTIONS", "event_to_graph", "events_to_batch", "EventToGraph"]
