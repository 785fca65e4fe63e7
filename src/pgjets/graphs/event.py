r"""Collision events to graphs of their reconstructed objects.

Every reconstructed object of an event (muons, electrons, jets, photons, the
missing transverse momentum, ...) becomes a node.  The node features are

.. math::
    \mathbf{x}_a = \big[\, p_T,\ \eta,\ \phi,\ E,\ q,\
    \mathrm{onehot}(\text{collection})\,\big], \qquad
    p_T = \sqrt{p_x^2 + p_y^2},\ \eta = \operatorname{arsinh}(p_z / p_T),\
    \phi = \operatorname{atan2}(p_y, p_x),

followed by any ``extra_fields`` asked for (e.g. a b-tag or an isolation).

**Input layouts and fields** (momenta and energies in GeV): see
:func:`events_to_batch`.

**Edges** are either the complete graph of the event (no self loops) or the
kNN graph in :math:`(\eta, \phi)` with the azimuthal difference wrapped,
:math:`\Delta R^2_{ij} = \Delta\eta^2_{ij} + \big(\Delta\phi_{ij} \bmod_{(-\pi, \pi]}\big)^2`, so
objects on either side of :math:`\phi = \pm\pi` are neighbours (:func:`event_knn_graph`).

**Empty events.**  An event without objects in the chosen collections is a
graph with zero nodes and zero edges (``drop_empty=False``, the default) or
is left out (``drop_empty=True``); ``event_index`` of the returned batch
names the original event of every graph, so
``len(events) - batch.num_graphs`` events were dropped.  PyG pooling with
the number of graphs given (``global_add_pool(x, batch, size=B)``,
:class:`~pgjets.nn.DeepSetsPool` with ``dim_size=B``) gives zeros for such a
graph, so a model's output on an empty event is its head applied to a zero
embedding (see :mod:`pgjets.models.event_models`).

:func:`events_to_hetero` builds the same graphs as a PyG ``HeteroData``
batch with one node type per collection, for PyG's heterogeneous layers;
:func:`hetero_to_batch` turns it back into the homogeneous batch.
Awkward (and ``vector`` for vector records) are imported lazily (extra
``physics``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, HeteroData
from torch_geometric.transforms import BaseTransform

from .._checks import check_finite, check_positive_int, require
from ..errors import EmptyGraphError, InputDtypeError, InputShapeError, NonFiniteError
from ..ops.sizes import ptr_from_counts
from ..ops.angles import wrap_phi
from .cloud import batch_from_flat
from .set import fully_connected_edge_index

DEFAULT_COLLECTIONS: tuple[str, ...] = ("Muon", "Electron", "Jet", "Photon", "MET")
#: Kinematic node features (before the one-hot collection), in column order.
KINEMATIC_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "E", "charge")
#: Relation name of the heterogeneous edge types ``(src, "to", dst)``.
HETERO_RELATION = "to"
_CONNECTIVITY = ("full", "knn")
_VECTOR_PREFIXES = ("Momentum", "Vector")


def _find(fields: Sequence[str], *keys: str) -> str | None:
    lower = {f.lower(): f for f in reversed(list(fields))}
    for key in keys:
        if key.lower() in lower:
            return lower[key.lower()]
    return None


def _numpy(ak: Any, values: Any, what: str = "object field") -> np.ndarray:
    return _finite(_float_array(ak, values, what), what)


def _float_array(ak: Any, values: Any, what: str) -> np.ndarray:
    """Flat float64 values (a missing value is refused; finiteness is not checked)."""
    if isinstance(values, ak.Array):
        missing = int(ak.sum(ak.is_none(values, axis=-1)))
        if missing:
            raise NonFiniteError(f"{what} holds {missing} missing (None) values; fill or drop them "
                                 "first (ak.fill_none, ak.drop_none)")
        values = ak.to_numpy(ak.fill_none(values, np.nan))
    try:
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        dtype = getattr(values, "dtype", type(values).__name__)
        raise InputDtypeError(f"{what} is not numeric (dtype {dtype}: {exc})") from exc
    return arr


def _finite(arr: np.ndarray, what: str) -> np.ndarray:
    bad = ~np.isfinite(arr)
    if bad.any():  # named here, before the field is mixed into E or the feature matrix
        raise NonFiniteError(f"{what} holds {int(np.isnan(arr).sum())} NaN and "
                             f"{int(np.isinf(arr).sum())} infinite values")
    return arr


def _check_pt(pt: np.ndarray, name: str) -> None:
    if pt.size and (pt < 0).any():
        raise InputShapeError(f"collection {name!r} has a negative pt ({float(pt.min())}): pT is a magnitude; "
                              "give px and py for signed components")


def _vector_kinematics(ak: Any, flat: Any, record: str, name: str) -> dict[str, np.ndarray]:
    """``pt, eta, phi, e`` of ``vector`` records through vector's properties."""
    vector = require("vector", "physics", "vector records")
    if flat.behavior is None or record not in (flat.behavior or {}):
        flat = ak.Array(flat, behavior=vector.backends.awkward.behavior)
    what = f"vector record of collection {name!r}"
    pt = _numpy(ak, flat.rho, what)  # the generic names: Vector*D records have no .pt / .E (Momentum*D alias them)
    _check_pt(pt, name)
    out = {"pt": pt, "phi": wrap_phi(_numpy(ak, flat.phi, what))}
    dims = 4 if record.endswith("4D") else 3 if record.endswith("3D") else 2
    if dims >= 3:  # vector's eta of pT = 0 is infinite: 0 there, as for the other layouts
        with np.errstate(divide="ignore", invalid="ignore"):
            out["eta"] = _finite(np.where(pt > 0, _float_array(ak, flat.eta, what), 0.0), what)
    else:
        out["eta"] = np.zeros_like(pt)
    if dims == 4:
        out["e"] = _numpy(ak, flat.t, what)
    elif dims == 3:
        out["e"] = _numpy(ak, flat.mag, what)
    else:
        out["e"] = pt
    return out


def _kinematics(ak: Any, flat: Any, fields: Sequence[str], name: str,
                extra_fields: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Per-object ``pt, eta, phi, e, charge`` and ``extra_fields`` (float64) of a flat collection.

    ``flat`` is a 1-D record array (or a dict of flat field arrays); an extra
    field the collection lacks is 0.
    """
    if not fields:  # a collection without any object in any event
        return {key: np.zeros(0) for key in ("pt", "eta", "phi", "e", "charge", *_extra_keys(extra_fields))}
    record = ak.parameters(flat).get("__record__") if isinstance(flat, ak.Array) else None

    def col(*keys: str) -> np.ndarray | None:
        f = _find(fields, *keys)
        return None if f is None else _numpy(ak, flat[f], f"field {f!r} of collection {name!r}")

    charge = col("charge")
    if isinstance(record, str) and record.startswith(_VECTOR_PREFIXES):
        kin = _vector_kinematics(ak, flat, record, name)
    elif _find(fields, "px") is not None and _find(fields, "py") is not None:
        px, py = col("px"), col("py")
        pz = col("pz")
        pz = np.zeros_like(px) if pz is None else pz
        pt = np.hypot(px, py)
        energy = col("e", "energy")
        if energy is None:  # from the mass where one is stored (EDM4hep's MCParticle), else massless
            mass = col("mass", "m")
            energy = np.sqrt(px * px + py * py + pz * pz + (0.0 if mass is None else mass * mass))
        with np.errstate(divide="ignore", invalid="ignore"):
            eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), 0.0)
        kin = {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "e": energy}
    elif _find(fields, *PT_NAMES) is not None and _find(fields, "phi") is not None:
        pt, phi = col(*PT_NAMES), wrap_phi(col("phi"))  # into (-pi, pi], as atan2 of the Cartesian layouts
        _check_pt(pt, name)
        # a missing transverse momentum (met) is transverse: Delphes's MissingET.Eta, the eta of the
        # summed visible momenta, says nothing of the invisible particles' longitudinal momentum
        eta = None if _find(fields, *PT_NAMES).lower() == "met" else col("eta")
        eta = np.zeros_like(pt) if eta is None else eta
        energy = col("e", "energy")
        if energy is None:
            mass = col("mass", "m")
            p2 = (pt * np.cosh(eta)) ** 2
            energy = np.sqrt(p2 + (0.0 if mass is None else mass * mass))
        kin = {"pt": pt, "eta": np.where(pt > 0, eta, 0.0), "phi": phi, "e": energy}
    else:
        raise InputShapeError(
            f"collection {name!r} needs fields px and py (Cartesian) or pt and phi (collider; et or met serve as pt), "
            f"it has {list(fields)} of the fields read (see OBJECT_FIELDS)")
    kin["charge"] = np.zeros_like(kin["pt"]) if charge is None else charge
    for field, key in zip(extra_fields, _extra_keys(extra_fields)):
        values = col(field)
        kin[key] = np.zeros_like(kin["pt"]) if values is None else values
    return kin


def _extra_keys(extra_fields: Sequence[str]) -> list[str]:
    return [f"extra:{f}" for f in extra_fields]


def _check_args(collections: Sequence[str], connectivity: str, k: int) -> tuple[tuple[str, ...], int]:
    if isinstance(collections, str):
        collections = (collections,)
    collections = tuple(collections)
    if not collections:
        raise ValueError("collections must name at least one collection")
    if len(set(collections)) != len(collections):
        raise ValueError(f"collections must not repeat, got {list(collections)}")
    if connectivity not in _CONNECTIVITY:
        raise ValueError(f"connectivity must be 'full' or 'knn', got {connectivity!r}")
    return collections, check_positive_int(k, "k")


def _jagged(ak: Any, name: str, values: Any) -> Any:
    """An awkward array of a mapping value; NumPy object arrays of per-event arrays (uproot's
    ``library="np"``) become jagged arrays."""
    if not (isinstance(values, np.ndarray) and values.dtype == object):
        return values
    parts = [np.asarray(v) for v in values]
    if any(p.ndim != 1 for p in parts):
        raise InputShapeError(f"field {name!r}: a NumPy object array must hold one 1-D array per event")
    counts = np.array([p.size for p in parts], dtype=np.int64)
    content = np.concatenate(parts) if parts else np.zeros(0)
    return ak.unflatten(content, counts)


def as_events(ak: Any, events: Any) -> Any:
    """A 1-D awkward Array of event records from an Array or a mapping (a single Record is refused)."""
    if isinstance(events, Mapping):
        if not events:
            raise InputShapeError("events mapping is empty")
        events = {str(k): _jagged(ak, str(k), v) for k, v in events.items()}
        lengths = {k: len(v) for k, v in events.items() if hasattr(v, "__len__")}
        if len(set(lengths.values())) > 1:
            sizes: dict[int, list[str]] = {}
            for k, n in lengths.items():
                sizes.setdefault(n, []).append(k)
            shown = "; ".join(f"{n} events: {names[:4]}{' ...' if len(names) > 4 else ''}"
                              for n, names in sizes.items())
            raise InputShapeError(f"the arrays of the events mapping differ in length (number of "
                                  f"events): {shown}")
        try:
            events = ak.zip(events, depth_limit=1)
        except Exception as exc:
            raise InputShapeError(f"the arrays of the events mapping cannot be zipped per event: {exc}") from exc
    if isinstance(events, ak.Record):
        raise InputShapeError("events must be a 1-D awkward Array of event records, got one Record "
                              "(use event_to_graph for a single event, or events[i:i + 1])")
    if not isinstance(events, ak.Array) or events.ndim != 1 or not ak.fields(events):
        raise InputShapeError("events must be a 1-D awkward Array of event records "
                              "(or a mapping of field name to per-event arrays)")
    return events


#: Object fields the builders read (lower case), besides ``extra_fields``.
OBJECT_FIELDS = frozenset({"px", "py", "pz", "e", "energy", "pt", "et", "met", "eta", "phi", "mass", "m", "charge"})
#: Names of the transverse momentum, in the order they are looked for: ``et`` and ``met`` serve where a
#: collection has no ``pt`` (missing transverse energy: ATLAS ``met_et``, ``met_met``; Delphes ``MissingET.MET``).
PT_NAMES: tuple[str, ...] = ("pt", "et", "met")


def _collection(ak: Any, events: Any, name: str,
                extra_fields: Sequence[str] = ()) -> tuple[np.ndarray, Any, list[str]]:
    """``(counts, flat objects, field names)`` of one collection of all events.

    Of NanoAOD-style flat fields only those the builders read are flattened.
    """
    num_events = len(events)
    fields = list(ak.fields(events))
    if name in fields:
        col = events[name]
        if not ak.fields(col):
            if col.ndim == 2 and int(ak.sum(ak.num(col, axis=1))) == 0:  # no object in any event
                return np.zeros(num_events, dtype=np.int64), {}, []
            raise InputShapeError(f"collection {name!r} must hold records (px, py, ... or pt, phi, ...)")
        if col.ndim == 1:  # one object per event (MET)
            return np.ones(num_events, dtype=np.int64), col, list(ak.fields(col))
        if col.ndim == 2:
            counts = ak.to_numpy(ak.fill_none(ak.num(col, axis=1), 0)).astype(np.int64)
            return counts, ak.flatten(col, axis=1), list(ak.fields(col))
        raise InputShapeError(f"collection {name!r} has nested lists (ndim={col.ndim})")
    prefix = name + "_"  # NanoAOD; name + "." of flat ROOT branches such as Delphes-style Jet.PT
    flat_fields = [f for f in fields if f.startswith((prefix, name + ".")) and len(f) > len(prefix)]
    if not flat_fields:
        raise InputShapeError(f"events have no collection {name!r} (neither a field {name!r} nor "
                              f"fields {prefix}* or {name}.*); their fields are {fields}")
    counts = None
    flat: dict[str, Any] = {}
    wanted = OBJECT_FIELDS | {f.lower() for f in extra_fields}
    for f in flat_fields:
        if f[len(prefix):].lower() not in wanted:
            continue
        values = events[f]
        if ak.fields(values):
            continue  # a nested record, not an object field
        if values.ndim == 1:
            c, v = np.ones(num_events, dtype=np.int64), values
        elif values.ndim == 2:
            c = ak.to_numpy(ak.fill_none(ak.num(values, axis=1), 0)).astype(np.int64)
            v = ak.flatten(values, axis=1)
        else:
            continue
        if counts is None:
            counts = c
        elif not np.array_equal(counts, c):
            raise InputShapeError(f"fields {prefix}* of collection {name!r} differ in length per event "
                                  f"({f} vs {flat_fields[0]})")
        flat[f[len(prefix):]] = v
    if counts is None:
        raise InputShapeError(f"collection {name!r} needs fields px and py (Cartesian) or pt and phi "
                              f"(collider); its fields are {flat_fields}")
    return counts, flat, list(flat)


def _node_features(kin: dict[str, np.ndarray], coll: np.ndarray, num_types: int,
                   extra_fields: Sequence[str] = ()) -> dict[str, Tensor]:
    dtype = torch.get_default_dtype()
    cont = np.stack([kin["pt"], kin["eta"], kin["phi"], kin["e"], kin["charge"]], 1).reshape(-1, 5)
    onehot = np.zeros((coll.size, num_types))
    onehot[np.arange(coll.size), coll] = 1.0
    keys = _extra_keys(extra_fields)
    extra = np.stack([kin[key] for key in keys], 1) if keys else np.zeros((coll.size, 0))
    x = torch.from_numpy(np.concatenate([cont, onehot, extra], 1)).to(dtype)
    check_finite(x, "event object features")
    return {
        "x": x,
        "pos": torch.from_numpy(np.stack([kin["eta"], kin["phi"]], 1).reshape(-1, 2)).to(dtype),
        "pt": torch.from_numpy(kin["pt"]).to(dtype),
        "node_type": torch.from_numpy(coll.astype(np.int64)),
    }


def events_to_batch(
    events: Any,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    connectivity: str = "full",
    k: int = 8,
    drop_empty: bool = False,
    extra_fields: Sequence[str] = (),
) -> Batch:
    r"""Many events to one ``Batch`` of object graphs, vectorised.

    Same graphs as ``Batch.from_data_list([event_to_graph(e) for e in
    events])``, built with awkward/numpy operations over whole collections
    (the only Python loop is over ``collections``) and one edge-building call.

    **Input layouts.**  ``events`` is an ``awkward.Array`` of event records (or
    a mapping of field name to per-event array, zipped per event: awkward
    arrays, NumPy arrays, or the NumPy object arrays of per-event arrays that
    uproot's ``tree.arrays(library="np")`` returns).  A collection ``NAME``
    is either

    - a field ``NAME`` holding a list of object records per event (or a single
      record per event, e.g. MET), or
    - NanoAOD-style flat fields ``NAME_pt``, ``NAME_eta``, ... (one jagged array
      per object field, as ``uproot``'s ``tree.arrays()`` returns them; a
      non-jagged ``NAME_pt`` means one object per event).

    The object fields (case-insensitive, all momenta and energies in **GeV**,
    angles in radians) are either

    - Cartesian: ``px, py`` and optional ``pz`` (default 0), ``E`` or
      ``energy`` (default :math:`\sqrt{|\vec p|^2 + m^2}` from ``mass`` or
      ``m``, else the massless :math:`|\vec p|`), or
    - collider: ``pt, phi`` and optional ``eta`` (default 0, e.g. MET),
      ``mass`` or ``m`` (default 0), ``E`` or ``energy`` (default
      :math:`\sqrt{p_T^2\cosh^2\eta + m^2}`); ``et`` or ``met`` serve as
      ``pt``, and a collection whose transverse momentum is ``met`` (Delphes's
      ``MissingET.MET``) is transverse: its ``eta`` is ignored (0);

    plus an optional ``charge`` (default 0).  Records of the ``vector`` package
    (``Momentum2D/3D/4D``, ``Vector*D``; any of its coordinate systems, e.g. the
    ``rho, phi, eta, tau`` that ``vector.zip`` stores) are read through
    ``vector``'s own properties ``pt, phi, eta, E``.  An object with
    :math:`p_T = 0` gets :math:`\eta = 0`.

    .. math::
        \text{nodes of event } b = \text{objects of collection } 0,\ 1,
        \dots \text{ in order}, \qquad
        \mathcal{E}_\text{full} = \{(j \to i) : j \ne i\}

    Args:
        events: ``awkward.Array`` of event records (collections as record
            fields or NanoAOD-style ``NAME_field`` fields), or a mapping of
            field name to per-event arrays.
        collections: Collections to use, in node order; the index in this
            tuple is ``node_type`` and the one-hot slot.
        connectivity: ``"full"`` or ``"knn"`` (in :math:`(\eta, \phi)`).
        k: Neighbours for ``"knn"`` (capped by the number of objects minus one).
        drop_empty: Leave out events without objects in ``collections``
            (default: keep them as graphs with zero nodes).
        extra_fields: Further object fields appended to ``x`` (matched
            case-insensitively in every collection, 0 for a collection
            without it), e.g. ``("hadronFlavour", "pfRelIso03_all")``.

    Returns:
        ``Batch`` whose graph attribute ``event_index`` :math:`(B,)` holds the
        index in ``events`` of every graph.

    Raises:
        EmptyGraphError: no events (or, with ``drop_empty``, no event left).
        InputShapeError: a collection is missing or lacks momentum fields.
        NonFiniteError: a NaN, infinite or missing (``None``) kinematic value.

    Shapes:
        - **output:** ``x`` :math:`(N, 5 + C + X)` for :math:`X` extra
          fields, ``pos`` :math:`(N, 2)`, ``pt`` :math:`(N,)`,
          ``node_type`` :math:`(N,)`, ``batch`` :math:`(N,)`, ``ptr``
          :math:`(B+1,)`, ``event_index`` :math:`(B,)`
    """
    ak = require("awkward", "physics", "event graphs")
    collections, k = _check_args(collections, connectivity, k)
    extra_fields = (extra_fields,) if isinstance(extra_fields, str) else tuple(extra_fields)
    events = as_events(ak, events)
    num_events = len(events)
    if num_events == 0:
        raise EmptyGraphError("no events given")
    parts, types, owners = [], [], []
    total = np.zeros(num_events, dtype=np.int64)
    for ci, name in enumerate(collections):
        counts, flat, fields = _collection(ak, events, name, extra_fields)
        parts.append(_kinematics(ak, flat, fields, name, extra_fields))
        types.append(np.full(int(counts.sum()), ci, dtype=np.int64))
        owners.append(np.repeat(np.arange(num_events), counts))
        total += counts
    keep = np.arange(num_events)
    if drop_empty:
        keep = np.nonzero(total > 0)[0]
        if keep.size == 0:
            raise EmptyGraphError(f"all {num_events} events are empty in collections {list(collections)}")
        remap = np.full(num_events, -1, dtype=np.int64)
        remap[keep] = np.arange(keep.size)
        total = total[keep]
        owners = [remap[o] for o in owners]
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    kin = {key: np.concatenate([p[key] for p in parts])[order] for key in parts[0]}
    nodes = _node_features(kin, np.concatenate(types)[order], len(collections), extra_fields)
    counts_t = torch.from_numpy(total)
    if connectivity == "full":
        edge_index = fully_connected_edge_index(counts_t)
    else:
        batch_vec = torch.repeat_interleave(torch.arange(counts_t.numel()), counts_t)
        edge_index = event_knn_graph(nodes["pos"], k, batch_vec, counts_t.numel())
    return batch_from_flat(nodes, counts_t, edge_index=edge_index,
                           graph_attrs={"event_index": torch.from_numpy(keep.astype(np.int64))})


#: Most pairs of one padded distance block ``(events, M, M)`` of :func:`event_knn_graph`
#: (an event with more pairs is one block of its own).
_KNN_BLOCK = 1 << 20


def event_knn_graph(pos: Tensor, k: int, batch: Tensor, num_graphs: Optional[int] = None) -> Tensor:
    r"""kNN graph of the objects of each event in :math:`(\eta, \phi)`, :math:`\Delta\phi` wrapped.

    .. math::
        \mathcal{E} = \{(j \to i) : j \in \operatorname{kNN}_k(i)\}, \qquad
        d_{ij}^2 = (\eta_i - \eta_j)^2 + \big(\phi_i - \phi_j - 2\pi\,
        \mathrm{round}\big(\tfrac{\phi_i - \phi_j}{2\pi}\big)\big)^2

    The distances of all pairs of objects of an event are compared.  Events
    are grouped by size, :math:`2^{l-1} < n_b \le 2^l`, and each group is
    padded to its own largest event (never to the largest event of the
    batch), in blocks ``(events, M, M)`` of at most :math:`2^{20}` pairs
    (:math:`M^2` where one event is larger).  As :math:`M < 2 n_b` for every
    event of a block, time and memory grow with :math:`\sum_b n_b^2` (at most
    :math:`4 \sum_b n_b^2` padded pairs), whatever the size of the largest
    event; the :math:`k` nearest of each row come from ``torch.topk``, not a
    sort of the row.  Events of zero or one object have no edges and are
    skipped.

    The edges are sorted by centre and then by distance, ties broken by the
    lower index (as a stable sort of the row), like :func:`pgjets.nn.knn_graph`
    (``loop=False``, ``source_to_target``); :math:`k` is capped by the
    objects of the event minus one, and a pair whose distance is not finite
    (from a non-finite or huge position) is no edge.

    The number of objects of every event is read to the host once, to size
    the blocks (a device synchronisation, as are a flag of non-finite
    positions and, per block, a flag of ties and the boolean selection of the
    edges): fine for a graph builder, not meant for a model's forward pass.

    Args:
        pos: :math:`(\eta, \phi)` of every object, ``(N, 2)``.
        k: Neighbours per object.
        batch: Event of every object, sorted, ``(N,)``.
        num_graphs: Number of events (default: ``batch.max() + 1``).

    Shapes:
        - **input:** ``pos`` :math:`(N, 2)`, ``batch`` :math:`(N,)`
        - **output:** ``edge_index`` :math:`(2, E)`
    """
    device = pos.device
    if pos.size(0) == 0 or int(k) < 1:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    counts = torch.bincount(batch, minlength=num_graphs or 0).cpu()  # the one host read
    starts = ptr_from_counts(counts)[:-1]
    events = torch.nonzero(counts >= 2).view(-1)  # events of 0 or 1 object have no edges
    if events.numel() == 0:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    sizes = counts[events]
    finite = bool(torch.isfinite(pos).all())
    # size class l with 2^(l-1) < n <= 2^l: the binary exponent of n - 1 (exact for n < 2^53)
    level = torch.from_numpy(np.frexp((sizes - 1).numpy().astype(np.float64))[1])
    parts = []
    for lv in torch.unique(level).tolist():
        in_level = level == lv
        ev, n = events[in_level], sizes[in_level]
        m = int(n.max())
        per_block = max(1, _KNN_BLOCK // (m * m))
        for i in range(0, ev.numel(), per_block):
            chunk = n[i:i + per_block]
            parts.append(_knn_block(pos, starts[ev[i:i + per_block]].to(device), chunk.to(device),
                                    int(chunk.max()), int(k), finite))
    if len(parts) == 1:
        return torch.stack(parts[0][:2])
    src, dst, rank = (torch.cat(t) for t in zip(*parts))
    # each centre's edges come from one block, in order; place them by centre
    offset = ptr_from_counts(torch.bincount(dst, minlength=pos.size(0)))
    where = offset[dst] + rank
    out = torch.empty(2, src.numel(), dtype=torch.long, device=device)
    out[0, where], out[1, where] = src, dst
    return out


def _knn_block(pos: Tensor, start: Tensor, count: Tensor, m: int, k: int,
               finite: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """``(source, centre, rank)`` of the kNN edges of events of ``count`` objects from ``start``,
    padded to ``m`` objects: one ``(events, m, m)`` block of distances."""
    ar = torch.arange(m, device=pos.device)
    mask = ar[None, :] < count[:, None]  # (E, m)
    node = torch.where(mask, start[:, None] + ar, start[:, None])
    dense = pos[node]  # (E, m, 2)
    # in place, value for value the same operations as deta**2 + (dphi - 2 pi round(dphi / 2 pi))**2
    dist = dense[:, :, None, 0] - dense[:, None, :, 0]
    dphi = dense[:, :, None, 1] - dense[:, None, :, 1]
    turns = torch.div(dphi, 2.0 * math.pi).round_().mul_(2.0 * math.pi)
    dphi.sub_(turns)
    del turns
    dist.mul_(dist).add_(dphi.mul_(dphi))  # (event, centre, neighbour)
    del dphi
    pair = mask[:, None, :] & mask[:, :, None]
    pair.diagonal(dim1=1, dim2=2).fill_(False)  # no self loop
    dist.masked_fill_(~pair, math.inf)  # padding: no pair
    del pair
    if not finite:  # NaN (from an infinite or NaN position) is no edge, as inf
        dist.masked_fill_(torch.isnan(dist), math.inf)
    kk = min(k, m - 1)
    values, nbr = _smallest(dist, kk)
    del dist
    # finite values come first: the kept edges are a prefix of every centre's row
    flat = (torch.isfinite(values) & mask[:, :, None]).reshape(-1).nonzero().view(-1)
    row, rank = flat.div(kk, rounding_mode="floor"), flat.remainder(kk)
    centre = node.view(-1)[row]
    return centre - row.remainder(m) + nbr.reshape(-1)[flat], centre, rank  # source: event start + nbr


def _smallest(dist: Tensor, kk: int) -> tuple[Tensor, Tensor]:
    """The ``kk`` smallest values of every row of ``dist`` (no NaN) and their indices, ascending,
    ties by the lower index: the first ``kk`` of a stable sort, through ``torch.topk``.

    ``topk``'s values are the ``kk`` smallest whatever it does with ties; its indices are put in
    (value, index) order.  Where a row holds more values equal to its ``kk``-th smallest
    (finite) value than fit, ``topk`` may have kept a higher index of them: those rows are sorted.
    """
    values, nbr = torch.topk(dist, kk, dim=-1, largest=False, sorted=True)
    nbr, perm = torch.sort(nbr, dim=-1)
    values, perm = torch.sort(values.gather(-1, perm), dim=-1, stable=True)
    nbr = nbr.gather(-1, perm)
    last = values[..., -1:]
    tied = ((dist <= last).sum(-1) > kk) & torch.isfinite(last[..., 0])
    if bool(tied.any()):
        rows = tied.nonzero(as_tuple=True)
        v, i = torch.sort(dist[rows], dim=-1, stable=True)
        values[rows], nbr[rows] = v[..., :kk], i[..., :kk]
    return values, nbr


def _one_event(ak: Any, event: Any) -> Any:
    """A length-1 Array holding ``event`` (an ``awkward.Record``)."""
    if isinstance(event, ak.Record):
        layout = event.layout
        return ak.Array(layout.array[layout.at: layout.at + 1], behavior=event.behavior)
    if isinstance(event, Mapping):
        return ak.Array([dict(event)])
    raise InputShapeError(f"event must be an awkward Record, got {type(event).__name__}")


def event_to_graph(
    event: Any,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    connectivity: str = "full",
    k: int = 8,
    extra_fields: Sequence[str] = (),
) -> Data:
    r"""One collision event to a graph of its reconstructed objects.

    .. math::
        \mathcal{E}_\text{full} = \{(j \to i) : j \ne i\}, \qquad
        \mathcal{E}_\text{knn} = \{(j \to i) : j \in
        \operatorname{kNN}_k(i) \text{ in } (\eta, \phi)\}

    Args:
        event: An ``awkward.Record`` (one entry of the events of
            :func:`events_to_batch`; fields and units in the module docstring).
        collections: Collections to use, in node order; the index in this
            tuple is ``node_type`` and the one-hot slot.
        connectivity: ``"full"`` or ``"knn"``.
        k: Neighbours for ``"knn"`` (capped by the number of objects minus one).
        extra_fields: Further object fields (see :func:`events_to_batch`).

    Raises:
        InputShapeError: a collection is missing or lacks momentum fields.
        NonFiniteError: a NaN or infinite kinematic value.

    Shapes:
        - **output:** ``x`` :math:`(N, 5 + C)`, ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)`, ``node_type`` :math:`(N,)`, ``edge_index``
          :math:`(2, E)` for :math:`N \ge 0` objects and :math:`C` collections
    """
    ak = require("awkward", "physics", "event graphs")
    data = events_to_batch(_one_event(ak, event), collections, connectivity, k,
                           extra_fields=extra_fields).get_example(0)
    del data.event_index
    return data


# ------------------------------------------------------------------ HeteroData
def _edge_types(collections: Sequence[str]) -> list[tuple[str, str, str]]:
    return [(s, HETERO_RELATION, d) for s in collections for d in collections]


def batch_to_hetero(batch: Batch, collections: Sequence[str]) -> HeteroData:
    r"""Split a homogeneous event batch (:func:`events_to_batch`) by ``node_type``.

    Node type ``collections[t]`` gets the nodes with ``node_type == t`` in
    their event order (features without the one-hot columns); edge type ``(src, "to", dst)`` gets the edges from a
    ``src`` to a ``dst`` object (all :math:`C^2` pairs are present, possibly
    without edges, so the metadata is the same for every batch).

    .. math::
        \mathbf{x}^{(t)} = \big[\mathbf{x}_a[{:}5],\ \mathbf{x}_a[5 + C{:}]\big]_{a:\ \mathrm{type}(a) = t}

    Args:
        batch: Output of :func:`events_to_batch` (``x``, ``pos``, ``pt``,
            ``node_type``, ``edge_index``, ``batch``, ``ptr``).
        collections: The collections it was built with, in node order.

    Shapes:
        - **output:** per node type ``x`` :math:`(N_t, 5 + X)`, ``pos``
          :math:`(N_t, 2)`, ``pt`` :math:`(N_t,)`, ``batch`` :math:`(N_t,)`,
          ``ptr`` :math:`(B+1,)`; per edge type ``edge_index`` :math:`(2, E_{st})`
    """
    collections = tuple(collections)
    num_graphs = int(batch.num_graphs)
    node_type, graph = batch.node_type, batch.batch
    # position of every node inside its own type
    local = torch.empty_like(node_type)
    out = Batch(_base_cls=HeteroData)
    slices: dict[Any, dict[str, Tensor]] = {}
    incs: dict[Any, dict[str, Tensor]] = {}
    zeros = torch.zeros(num_graphs, dtype=torch.long)
    ptrs = {}
    for t, name in enumerate(collections):
        mask = node_type == t
        idx = mask.nonzero().view(-1)
        local[idx] = torch.arange(idx.numel())
        counts = torch.bincount(graph[idx], minlength=num_graphs)
        ptr = ptr_from_counts(counts)
        ptrs[name] = ptr
        store = out[name]
        store.x = torch.cat([batch.x[idx, :5], batch.x[idx, 5 + len(collections):]], 1)
        store.pos = batch.pos[idx]
        store.pt = batch.pt[idx]
        store.batch = graph[idx]
        store.ptr = ptr
        slices[name] = {"x": ptr, "pos": ptr, "pt": ptr}
        incs[name] = {"x": zeros, "pos": zeros, "pt": zeros}
    src, dst = batch.edge_index
    e_src_t, e_dst_t = node_type[src], node_type[dst]
    e_graph = graph[dst]
    for s, name_s in enumerate(collections):
        for d, name_d in enumerate(collections):
            sel = ((e_src_t == s) & (e_dst_t == d)).nonzero().view(-1)
            key = (name_s, HETERO_RELATION, name_d)
            out[key].edge_index = torch.stack([local[src[sel]], local[dst[sel]]]).view(2, -1)
            counts = torch.bincount(e_graph[sel], minlength=num_graphs)
            eptr = ptr_from_counts(counts)
            slices[key] = {"edge_index": eptr}
            incs[key] = {"edge_index": torch.stack([ptrs[name_s][:-1], ptrs[name_d][:-1]], 1).view(-1, 2, 1)}
    for key in ("event_index", "y"):
        if key in batch:  # graph-level: top-level slices, as PyG's collate of HeteroData keeps them
            out[key] = batch[key]
            slices[key] = torch.arange(num_graphs + 1)
            incs[key] = zeros
    out._slice_dict = slices
    out._inc_dict = incs
    out._num_graphs = num_graphs
    return out


def events_to_hetero(
    events: Any,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    connectivity: str = "full",
    k: int = 8,
    drop_empty: bool = False,
    extra_fields: Sequence[str] = (),
) -> HeteroData:
    r"""Many events to one PyG ``HeteroData`` batch, one node type per collection.

    The graphs of :func:`events_to_batch` (same arguments, same fields and
    units) split by collection (see :func:`batch_to_hetero`): node type
    ``"Muon"`` holds the muons of all events with features
    :math:`[p_T, \eta, \phi, E, q]`, edge type ``("Muon", "to", "Jet")``
    the edges from muons to jets of the same event.  It is a real
    ``HeteroDataBatch``: ``get_example(b)`` returns event ``b``, and
    :func:`hetero_to_batch` gives the homogeneous batch back.

    .. math::
        \mathcal{E}_{(s, d)} = \{(j \to i) \in \mathcal{E} : \mathrm{type}(j) = s,\
        \mathrm{type}(i) = d\}

    Args:
        events: Events as for :func:`events_to_batch`.
        collections: Collections (node types), in order.
        connectivity: ``"full"`` or ``"knn"``.
        k: Neighbours for ``"knn"``.
        drop_empty: Leave out events without objects.
        extra_fields: Further object fields (see :func:`events_to_batch`).

    Shapes:
        - **output:** per node type ``x`` :math:`(N_t, 5 + X)`, ``pos``
          :math:`(N_t, 2)`, ``pt``, ``batch`` :math:`(N_t,)`; per edge type
          ``edge_index`` :math:`(2, E_{st})`; ``event_index`` :math:`(B,)`
    """
    collections, k = _check_args(collections, connectivity, k)
    batch = events_to_batch(events, collections, connectivity, k, drop_empty, extra_fields)
    return batch_to_hetero(batch, collections)


def hetero_to_batch(hetero: HeteroData, collections: Sequence[str] | None = None) -> Batch:
    r"""The homogeneous event batch of a ``HeteroData`` from :func:`events_to_hetero`.

    Nodes are put back in event order (collections in ``collections`` order
    inside every event), the one-hot collection columns and ``node_type``
    are added again and the edges of all edge types are merged; the result
    equals :func:`events_to_batch` of the same events, nodes and features
    exactly, and with ``connectivity="knn"`` the same set of edges in
    another order (edge types one after the other).

    .. math::
        \mathbf{x}_a = \big[\mathbf{x}^{(t)}_a[{:}5],\ \mathrm{onehot}(t),\ \mathbf{x}^{(t)}_a[5{:}]\big]

    Args:
        hetero: Batch with per node type ``x``, ``pos``, ``pt``, ``batch``
            and edge types ``(src, "to", dst)``.
        collections: Node types in node order (default ``hetero.node_types``).

    Shapes:
        - **output:** as :func:`events_to_batch`
    """
    collections = tuple(hetero.node_types if collections is None else collections)
    missing = [c for c in collections if c not in hetero.node_types]
    if missing:
        raise InputShapeError(f"hetero has no node types {missing}; it has {hetero.node_types}")
    num_graphs = int(getattr(hetero, "num_graphs", 1))
    graph, ntype, local = [], [], []
    for t, name in enumerate(collections):
        n = hetero[name].num_nodes
        b = hetero[name].batch if "batch" in hetero[name] else torch.zeros(n, dtype=torch.long)
        graph.append(b)
        ntype.append(torch.full((n,), t, dtype=torch.long))
        local.append(torch.arange(n))
    graph_t, ntype_t = torch.cat(graph), torch.cat(ntype)
    # event-major, then type, then original order (a stable sort on graph * C + type)
    order = torch.sort(graph_t * len(collections) + ntype_t, stable=True).indices
    position = torch.empty_like(order)
    position[order] = torch.arange(order.numel())
    offsets = ptr_from_counts(torch.tensor([hetero[c].num_nodes for c in collections], dtype=torch.long))
    dtype = hetero[collections[0]].x.dtype
    x = torch.cat([hetero[c].x for c in collections])[order]
    onehot = torch.nn.functional.one_hot(ntype_t[order], len(collections)).to(dtype)
    nodes = {"x": torch.cat([x[:, :5], onehot, x[:, 5:]], 1),
             "pos": torch.cat([hetero[c].pos for c in collections])[order],
             "pt": torch.cat([hetero[c].pt for c in collections])[order],
             "node_type": ntype_t[order]}
    edges = []
    for (s, rel, d) in hetero.edge_types:
        if s not in collections or d not in collections:
            continue
        ei = hetero[(s, rel, d)].edge_index
        si, di = collections.index(s), collections.index(d)
        edges.append(torch.stack([position[ei[0] + offsets[si]], position[ei[1] + offsets[di]]]))
    edge_index = torch.cat(edges, 1) if edges else torch.zeros(2, 0, dtype=torch.long)
    g = graph_t[order]
    # the order of events_to_batch: by target (hence grouped by graph), then by source
    n_all = max(order.numel(), 1)
    edge_index = edge_index[:, torch.sort(edge_index[1] * n_all + edge_index[0], stable=True).indices]
    counts = torch.bincount(g, minlength=num_graphs)
    graph_attrs = {key: hetero[key] for key in ("event_index", "y") if key in hetero}
    return batch_from_flat(nodes, counts, edge_index=edge_index, graph_attrs=graph_attrs)


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


class EventData(Data):
    r"""The object graph of one event of a dataset: a ``Data`` whose ``event_index`` (the event's
    position in its dataset) stays as it is when graphs are batched.

    PyG's collation shifts every attribute whose name contains ``index`` by the number of nodes
    (:meth:`~torch_geometric.data.Data.__inc__`), which turned ``event_index`` ``[0, 1, 2]`` into
    ``[0, 10, 17]`` in ``Batch.from_data_list`` and ``torch_geometric.loader.DataLoader``.
    """

    def __inc__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key == "event_index":
            return 0
        return super().__inc__(key, value, *args, **kwargs)


__all__ = ["DEFAULT_COLLECTIONS", "KINEMATIC_FEATURES", "OBJECT_FIELDS", "HETERO_RELATION", "event_to_graph",
           "events_to_batch", "events_to_hetero", "batch_to_hetero", "hetero_to_batch", "EventToGraph",
           "event_knn_graph", "EventData"]
