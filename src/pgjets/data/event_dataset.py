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

import copy
import os
import re
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._checks import check_positive_int, require
from ..errors import DataFileError, DataFileNotFoundError, EmptyGraphError
from ..ops.sizes import ptr_from_counts
from .digits import random_split_indices
from ..graphs.event import PT_NAMES, EventData
from .jet_dataset import JetDataset
from .readers import _row_groups, check_labels
from .root_layouts import (FLAT_LAYOUTS, HZZ_MARKERS, LAYOUT_COLLECTIONS, LAYOUT_NAMES, NOMINAL_SUFFIX,
                           collection_keys, detect_layout, dotted_collections, flat_name, leaf_name,
                           nominal_name, split_dotted, tree_name)
from .table import offsets_from_counts

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
    require("awkward", "physics", "event data")
    path = Path(path) if path is not None else hzz_path()
    with _open_root(path) as f:
        return _hzz_events(path, f, start, stop)


def _hzz_events(path: Path, f: Any, start: Optional[int], stop: Optional[int]) -> Any:
    """Events ``start:stop`` of the open HZZ-layout ROOT file ``f`` (see :func:`read_hzz_events`)."""
    ak = require("awkward", "physics", "event data")
    if TREE not in f:
        raise DataFileError(f"{path} has no tree {TREE!r} (it has {list(f.keys())})")
    tree = f[TREE]
    if not hasattr(tree, "arrays"):
        raise DataFileError(f"{path}: {TREE!r} is not a TTree")
    needed = [b for c in COLLECTIONS.values() for b in c.values()] + list(MET_BRANCHES.values())
    missing = sorted(set(needed) - set(tree.keys()))
    if missing:
        raise DataFileError(f"{path}: tree {TREE!r} lacks branches {missing}")
    try:  # no array cache: a file kept open between chunks would hold every chunk read
        arrays = tree.arrays(needed, entry_start=start, entry_stop=stop, array_cache=None)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot read tree {TREE!r}: {exc}") from exc
    fields = {name: ak.zip({k: arrays[b] for k, b in cols.items()}) for name, cols in COLLECTIONS.items()}
    fields["MET"] = ak.zip({k: arrays[b] for k, b in MET_BRANCHES.items()}, depth_limit=1)
    return ak.zip(fields, depth_limit=1)


#: Tree of a CMS NanoAOD file.
NANOAOD_TREE = "Events"


def _open_root(path: Path):
    uproot = require("uproot", "physics", "ROOT files")
    if not path.is_file():
        raise DataFileNotFoundError(f"event file {path} does not exist")
    try:
        return uproot.open(path)
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable ROOT file: {exc}") from exc


def root_event_layout(path: Union[str, Path], tree: Optional[str] = None) -> str:
    """The layout of an event ROOT file, from its trees (see :mod:`~pgjets.data.root_layouts`):
    ``"nanoaod"`` (a tree ``Events``, CMS NanoAOD, see :func:`read_nanoaod_events`), ``"hzz"`` (a tree
    ``events`` with the branches of the H->ZZ sample, see :func:`read_hzz_events`), ``"edm4hep"`` (a tree
    ``events`` of podio collections, FCC / key4hep), ``"delphes"`` (a tree ``Delphes``) or
    ``"physlite"`` (ATLAS xAOD, a tree ``CollectionTree``).  All but ``"hzz"`` are read branch by branch
    as NanoAOD-style fields ``C_<field>``.

    Args:
        path: The ROOT file (only its list of keys is read).
        tree: The tree (or RNTuple) of the events: read in NanoAOD naming (``C_pt``, ...; or members
            ``C.pt``) whenever the file has it (ATLAS Open Data ``mini``, an analysis ntuple's ``nominal``,
            CMS TreeMaker's ``PreSelection``, ...).  ``None``: the first of ``Events``, ``events``,
            ``Delphes``, ``CollectionTree``.

    Raises:
        DataFileNotFoundError / DataFileError: no such file, not ROOT, or not the tree.
    """
    path = Path(path)
    with _open_root(path) as f:
        return _root_layout(path, f, tree)


def _tree_word(tree: Any) -> str:
    """``"RNTuple"`` for an uproot RNTuple (what uproot 5.7 writes for ``f["Events"] = {...}``), else
    ``"tree"``: the word messages use for the object."""
    return "RNTuple" if "RNTuple" in type(tree).__module__ or "RNTuple" in type(tree).__name__ else "tree"


def _root_layout(path: Path, f: Any, tree: Optional[str] = None) -> str:
    """The layout of the open ROOT file ``f`` (see :func:`root_event_layout`)."""
    names = {k.split(";")[0] for k in f.keys()}
    if tree is not None and tree not in names:
        raise DataFileError(f"{path} has no tree {tree!r} (--tree); it has {sorted(names)}")
    hzz = False  # a tree events: the H->ZZ layout, or EDM4hep's
    if tree == TREE or (tree is None and TREE in names and NANOAOD_TREE not in names):
        t = f[TREE]
        hzz = hasattr(t, "keys") and any(m in t.keys(recursive=False) for m in HZZ_MARKERS)
    kind = detect_layout(names, tree, hzz)
    if kind is None:
        raise DataFileError(f"{path} has none of the event trees {TREE!r} (H->ZZ layout or EDM4hep), "
                            f"{NANOAOD_TREE!r} (NanoAOD), 'Delphes', 'CollectionTree' (ATLAS PHYSLITE); "
                            f"it has {sorted(names)} (for a tree of another name in NanoAOD naming, C_pt ...: "
                            "tree=NAME, on the command line --tree NAME)")
    return kind


def _lacking_momentum(coll: str, fields: set[str], sep: str = "_") -> Optional[str]:
    """``None`` when the object fields ``fields`` (lower case) of collection ``coll`` give a momentum
    (``pt`` and ``phi``, or ``px`` and ``py``, as :func:`~pgjets.graphs.event.events_to_batch` needs;
    ``et`` or ``met`` serve as ``pt``, see :data:`~pgjets.graphs.event.PT_NAMES`); else the missing names,
    the nearer pair first: ``"Muon_pt (or Muon_px and Muon_py)"``."""
    if ("phi" in fields and set(PT_NAMES) & fields) or {"px", "py"} <= fields:
        return None
    polar = [f for f in ("pt", "phi") if f not in fields]
    cartesian = [f for f in ("px", "py") if f not in fields]
    first, second = (cartesian, polar) if len(cartesian) < len(polar) else (polar, cartesian)
    return " (or ".join(" and ".join(coll + sep + f for f in names) for names in (first, second)) + ")"


def _separator(keys: Sequence[str], coll: str) -> str:
    """``"."`` when collection ``coll`` is stored as members ``C.<field>`` among ``keys``, else ``"_"``
    (for messages)."""
    return "." if any((s := split_dotted(k)) is not None and s[0] == coll for k in keys) else "_"


def _nanoaod_branches(keys: Sequence[str], collections: Sequence[str], extra_fields: Sequence[str] = (),
                      where: str = "the tree") -> dict[str, str]:
    """The branches :func:`read_nanoaod_events` reads of a tree with branches ``keys``, each with its
    collection: ``C_<field>`` (or a member ``C.<field>``, see :func:`~pgjets.data.root_layouts.collection_keys`)
    for every collection ``C`` and every object field the event graphs use (or ``extra_fields``).

    Raises:
        DataFileError: a collection has no such branch, or none that gives the momentum (``C_pt`` and
            ``C_phi``, or ``C_px`` and ``C_py``); the message starts with ``where``.
    """
    from ..graphs.event import OBJECT_FIELDS

    wanted = OBJECT_FIELDS | {x.lower() for x in extra_fields}
    names: dict[str, str] = {}
    for coll in collections:
        found = collection_keys(keys, coll, wanted)
        if not found:
            raise DataFileError(f"{where} has no branches {coll}_pt/eta/phi (or px/py) for collection {coll!r}")
        lacking = _lacking_momentum(coll, set(found), _separator(found.values(), coll))
        if lacking:
            raise DataFileError(f"{where}: collection {coll!r} lacks {lacking}; its branches are "
                                f"{sorted(found.values())}")
        names.update({k: coll for k in found.values()})
    return names


def read_nanoaod_events(
    path: Union[str, Path],
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    extra_fields: Sequence[str] = (),
    branches: Sequence[str] = (),
    start: Optional[int] = None,
    stop: Optional[int] = None,
    tree: Optional[str] = None,
) -> Any:
    r"""Read the objects of a CMS NanoAOD file as an ``awkward.Array`` of NanoAOD-style fields.

    Of every collection ``C`` only the branches the event graphs read are loaded:
    ``C_pt, C_eta, C_phi, C_mass, C_charge`` (and ``C_px`` ... where a file has
    Cartesian ones), plus ``C_<f>`` for each of ``extra_fields``; ``MET_pt`` and
    ``MET_phi`` give the one MET object per event.  ``Events`` may also be an
    RNTuple (what uproot 5.7 writes for ``f["Events"] = {...}``): its record
    fields ``C`` are read as records of the same sub-fields (``C.pt``, ...),
    which the event graphs take as well.  ``branches`` are read as
    they are (e.g. an integer label branch).  The counters ``nC`` are not needed:
    uproot builds the jagged arrays from them.  The result goes straight to
    :func:`~pgjets.graphs.event.events_to_batch` or :meth:`EventDataset.from_events`.

    .. math::
        \text{event}_b.\texttt{Muon\_pt}[i] = p_{T,i}\ \text{of muon } i \text{ of event } b

    Args:
        path: NanoAOD ROOT file.
        collections: Collections to read (each must have branches ``C_*``).
        extra_fields: Further object fields read for every collection that has them.
        branches: Further event-level branches (labels, weights).
        start: First event (default 0).
        stop: One past the last event (default: all).
        tree: Tree name; ``None``: that of the file's layout (:func:`root_event_layout`: ``Events``,
            ``Delphes``, ``events`` of EDM4hep, ``CollectionTree``).

    Raises:
        DataFileNotFoundError: ``path`` does not exist.
        DataFileError: not a ROOT file, no tree, a collection without branches or without
            the momentum (``C_pt`` and ``C_phi``, or ``C_px`` and ``C_py``), a missing entry of
            ``branches``, or unreadable baskets.
        MissingExtraError: awkward or uproot missing.

    Shapes:
        - **output:** ``awkward.Array`` of length ``stop - start`` with fields ``C_x`` (or records ``C``
          of an RNTuple)
    """
    start = _check_range(start, "start")
    stop = _check_range(stop, "stop")
    require("awkward", "physics", "event data")
    path = Path(path)
    with _open_root(path) as f:
        if tree is None:
            kind = _root_layout(path, f)
            if kind == "hzz":
                raise DataFileError(f"{path} is in the H->ZZ layout: read it with read_hzz_events")
            tree = tree_name(kind, None)
        return _nanoaod_events(path, f, collections, extra_fields, branches, start, stop, tree)


def _nanoaod_events(path: Path, f: Any, collections: Sequence[str], extra_fields: Sequence[str],
                    branches: Sequence[str], start: Optional[int], stop: Optional[int], tree: str) -> Any:
    """Events ``start:stop`` of tree ``tree`` of the open NanoAOD file ``f`` (see :func:`read_nanoaod_events`)."""
    if tree not in f:
        raise DataFileError(f"{path} has no tree {tree!r} (it has {list(f.keys())})")
    t = f[tree]
    if not hasattr(t, "arrays"):
        raise DataFileError(f"{path}: {tree!r} is neither a TTree nor an RNTuple")
    keys = list(t.keys())
    word = _tree_word(t)
    names = _nanoaod_branches(keys, collections, extra_fields, f"{path}: {word} {tree!r}")
    event_keys = _event_branch_keys(keys, branches)
    missing = [b for b in branches if b not in event_keys]
    if missing:
        raise DataFileError(f"{path}: {word} {tree!r} lacks the branches {missing}")
    read = list(names) + [k for k in dict.fromkeys(event_keys.values()) if k not in names]
    try:  # no array cache: a file kept open between chunks would hold every chunk read
        arrays = t.arrays(read, entry_start=start, entry_stop=stop, array_cache=None)
    except Exception as exc:
        raise DataFileError(f"{path}: cannot read {word} {tree!r}: {exc}") from exc
    renamed = {k: flat_name(k, c) for k, c in names.items()}
    renamed.update({k: (b, 1.0) for b, k in event_keys.items() if k not in names})
    if all(renamed.get(f, (f, 1.0)) == (f, 1.0) for f in arrays.fields):
        return arrays
    ak = require("awkward", "physics", "event data")  # Jet/Jet.PT read as Jet_PT, el_pt_NOSYS as el_pt
    out = {}
    for f in arrays.fields:
        name, scale = renamed.get(f, (f, 1.0))
        out[name] = arrays[f] * scale if scale != 1.0 else arrays[f]
    return ak.zip(out, depth_limit=1)


def _event_branch_keys(keys: Sequence[str], branches: Sequence[str]) -> dict[str, str]:
    """The key of each of ``branches`` (event-level: labels, weights, identifiers) among a tree's
    ``keys``: the branch itself, or a member of a split object by its own name (Delphes's
    ``Event.Weight`` is the key ``Event/Event.Weight``)."""
    present = set(keys)
    by_leaf: dict[str, str] = {}
    for k in keys:
        by_leaf.setdefault(leaf_name(k), k)
    return {b: b if b in present else by_leaf[b] for b in branches if b in present or b in by_leaf}


#: Layouts of the event files :class:`StreamedEventDataset` streams (see :func:`event_file_kind`).
EVENT_FILE_KINDS: tuple[str, ...] = ("parquet", "nanoaod", "hzz", "delphes", "edm4hep", "physlite")


def event_file_kind(path: Union[str, Path], tree: Optional[str] = None) -> str:
    """``"parquet"`` (awkward parquet, :func:`~pgjets.data.generate_events.write_events` or NanoAOD-style
    fields) or the layout of a ROOT event file (:func:`root_event_layout`: ``"nanoaod"``, ``"hzz"``,
    ``"delphes"``, ``"edm4hep"``, ``"physlite"``), from the file's content.

    Raises:
        DataFileNotFoundError: no such file.
        DataFileError: neither parquet nor a ROOT file with an event tree.
    """
    from .readers import _magic

    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"event file {path} does not exist")
    magic = _magic(path)
    if magic == "parquet":
        return "parquet"
    if magic == "root":
        return root_event_layout(path, tree)
    raise DataFileError(f"{path} is not an event file (parquet, or ROOT with a tree "
                        + (f"{tree!r})" if tree else "'Events', 'events', 'Delphes' or 'CollectionTree')"))


def _object_fields(kind: str, names: Sequence[str], pa_schema: Any = None,
                   collections: Sequence[str] = ()) -> dict[str, set[str]]:
    """The object fields (lower case) of every collection of an event file, from its branch or field names
    (``C_f`` split at the first ``_``; a requested collection of ``collections`` by its own prefix, so that
    ``jet_fwd`` has the fields of ``jet_fwd_pt``, ...)."""
    out: dict[str, set[str]] = {}
    if kind == "hzz":
        for c, cols in COLLECTIONS.items():
            out[c] = {k.lower() for k in cols}
        out["MET"] = {k.lower() for k in MET_BRANCHES}
        return out
    for n in map(nominal_name, names):  # el_pt_NOSYS is the field pt of el
        coll, sep, field = n.partition("_")
        if sep and coll and field and "." not in n and "/" not in n:
            out.setdefault(coll, set()).add(field.lower())
    for coll, fields in dotted_collections(names).items():  # Jet/Jet.PT, AnalysisJetsAuxDyn.pt, Muon.pt
        out.setdefault(coll, set()).update(fields)
    for c in collections:
        own = set(collection_keys(names, c, aliases=kind != "parquet"))
        if own and c not in out:
            out[c] = own
    if pa_schema is not None:  # collections stored as records (a list of structs, or one struct)
        for name, sub in _record_fields(pa_schema).items():
            out.setdefault(name, set()).update(f.lower() for f in sub)
    return out


def _collection_names(names: Sequence[str], fields: dict[str, set[str]]) -> list[str]:
    """The collections an event file offers, for messages: every prefix ``C`` of a momentum branch
    ``C_pt``/``C_px`` (``C.pt``; ``et``/``met`` of a MET), underscores in ``C`` included (``jet_fwd``),
    and the collections of ``fields`` that have a momentum; counters such as ``nJet`` are not
    collections."""
    momentum = (*PT_NAMES, "px")
    out = {n[: -len(m) - 1] for n in map(nominal_name, names) for m in momentum
           if n.lower().endswith("_" + m) and len(n) > len(m) + 1 and "." not in n and "/" not in n}
    out |= {c for c, f in fields.items() if f & set(momentum)}
    return sorted(out, key=str.lower)


def _record_fields(pa_schema: Any) -> dict[str, list[str]]:
    """The sub-field names of every field of a parquet (arrow) schema that holds records: a list of
    structs (a collection per event), or one struct (MET)."""
    import pyarrow as pa

    out: dict[str, list[str]] = {}
    for field in pa_schema:
        t = field.type
        while pa.types.is_list(t) or pa.types.is_large_list(t):
            t = t.value_type
        if pa.types.is_struct(t):
            out[field.name] = [t.field(i).name for i in range(t.num_fields)]
    return out


def index_event_file(path: Union[str, Path], collections: Sequence[str] = DEFAULT_COLLECTIONS,
                     extra_fields: Sequence[str] = (), tree: Optional[str] = None) -> tuple[str, int]:
    """The :func:`event_file_kind` and the number of events of an event file, after checking that it
    holds every collection and that each of ``extra_fields`` is a field of at least one of them.
    Reads the file's metadata and its list of branches or fields only (one open).  ``tree``: as for
    :func:`root_event_layout`.

    Raises:
        DataFileNotFoundError: no such file.
        DataArgumentError: a collection or an extra field is missing (the message names the file).
        DataFileError: the file is not a readable event file.
    """
    from ..errors import DataArgumentError
    from .readers import _magic

    path = Path(path)
    if not path.is_file():
        raise DataFileNotFoundError(f"event file {path} does not exist")
    magic = _magic(path)
    if magic not in ("parquet", "root"):
        event_file_kind(path, tree)  # raises: not an event file
    schema, word, links = None, "tree", []
    if magic == "parquet":
        kind = "parquet"
        pq = require("pyarrow.parquet", "physics", "parquet files")
        try:
            meta = pq.ParquetFile(path)
            schema = meta.schema_arrow
            n, names = int(meta.metadata.num_rows), list(schema.names)
        except Exception as exc:
            raise DataFileError(f"{path} is not a readable parquet event file: {exc}") from exc
    else:
        with _open_root(path) as f:
            kind = _root_layout(path, f, tree)
            t = f[tree_name(kind, tree)]
            if not hasattr(t, "num_entries"):
                raise DataFileError(f"{path}: {tree_name(kind, tree)!r} is neither a TTree nor an RNTuple")
            n, names, word = int(t.num_entries), list(t.keys()), _tree_word(t)
            links = _non_numeric_fields(t, names, collections, extra_fields) if kind != "hzz" else []
    fields = _object_fields(kind, names, schema, collections)
    records = set() if schema is None else set(_record_fields(schema))
    where = ("" if kind == "parquet" else " (the H->ZZ layout)" if kind == "hzz"
             else f" {word} {tree_name(kind, tree)!r}")
    for c in collections:
        if c not in fields:
            default = ""
            if tuple(collections) == DEFAULT_COLLECTIONS and kind in LAYOUT_COLLECTIONS:
                own = LAYOUT_COLLECTIONS[kind]
                default = (f" (the default collections; a {LAYOUT_NAMES[kind]} file names its own: collections="
                           f"{list(own)}, on the command line " + " ".join(f"--collection {c}" for c in own) + ")")
            elif tuple(collections) == DEFAULT_COLLECTIONS:
                default = (" (the default collections; choose others with collections=, on the command line "
                           "--collection NAME per collection)")
            found = _collection_names(names, fields)
            near = [f for f in found if f.lower() == c.lower()]
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise DataArgumentError(f"{path}{where} has no collection {c!r} (no branches "
                                    f"{c}_pt/eta/phi or {c}_px/py, nor members {c}.pt ...); it has "
                                    f"{', '.join(found) or 'none'}{hint}{default}")
        if c in records:  # a record field: vector records may name their momentum otherwise (rho, ...)
            lacking = None if fields[c] & {*PT_NAMES, "px"} else "the field pt (or px) of its records"
        else:
            lacking = _lacking_momentum(c, fields[c], _separator(names, c))
        if lacking:
            raise DataArgumentError(f"{path}{where}: collection {c!r} lacks {lacking}; its object fields are "
                                    f"{', '.join(sorted(fields[c]))}{_lacking_hint(fields[c])}")
    for x in extra_fields:
        if not any(x.lower() in fields.get(c, set()) for c in collections):
            raise DataArgumentError(f"{path}: no collection of {list(collections)} has the object field {x!r}")
    if links:
        raise DataArgumentError(f"{path}{where}: the object field {links[0][1]!r} of collection {links[0][0]!r} "
                                "is not numbers (a reference or link to other objects, which pgjets does not "
                                "follow); --object-field takes numeric fields")
    return kind, n


def _lacking_hint(fields: set[str]) -> str:
    """What a collection without a momentum holds instead, where pgjets knows: references into another
    collection (FCC's ``Muon_objIdx``), or the terms of an xAOD MET container."""
    if "objidx" in fields:
        return ("; its objIdx are references into another collection (FCC: ReconstructedParticles), which "
                "pgjets does not follow: use that collection")
    if {"mpx", "mpy"} <= fields:
        return "; an xAOD MET container holds several terms per event, which pgjets does not read"
    return ""


def _non_numeric_fields(t: Any, names: Sequence[str], collections: Sequence[str],
                        extra_fields: Sequence[str]) -> list[tuple[str, str]]:
    """``(collection, field)`` of every ``extra_fields`` branch of a ROOT tree ``t`` that does not hold
    numbers (an xAOD element link, a Delphes ``TRefArray``); RNTuple fields are not checked."""
    uproot = require("uproot", "physics", "ROOT files")
    out = []
    for c in collections:
        for x in extra_fields:
            for key in collection_keys(names, c, {x.lower()}).values():
                try:
                    interp = t[key].interpretation
                except Exception:  # an RNTuple field, or a branch uproot cannot interpret (reported when read)
                    continue
                if not isinstance(getattr(interp, "content", interp), uproot.interpretation.numerical.AsDtype):
                    out.append((c, x))
    return out


def event_file_has_labels(path: Union[str, Path], label: str = "label", tree: Optional[str] = None) -> bool:
    """Whether the event file ``path`` has the label field ``label`` (a NanoAOD file has none: one
    process per file, or collision data); ``tree`` as for :func:`root_event_layout`.

    Raises:
        DataFileError: not an event file.
    """
    from .readers import _magic

    path = Path(path)
    if not path.is_file() or _magic(path) != "root":
        event_file_kind(path, tree)  # raises unless a parquet file: no such file, not an event file
        pq = require("pyarrow.parquet", "physics", "parquet files")
        try:
            return label in pq.ParquetFile(path).schema_arrow.names
        except Exception as exc:
            raise DataFileError(f"{path} is not a readable parquet event file: {exc}") from exc
    with _open_root(path) as f:  # one open for the layout and the branches
        return label in f[tree_name(_root_layout(path, f, tree), tree)].keys()


def _root_label_column(path: Path, kind: str, label: str, tree: Optional[str] = None) -> np.ndarray:
    """The integer branch ``label`` of a ROOT event file (all events)."""
    with _open_root(path) as f:
        t = f[tree_name(kind, tree)]
        if label not in t.keys():
            raise DataFileError(
                f"{path} has no branch {label!r} with class labels (a {kind} file holds none unless one was "
                "added): give one class per file instead, {'CLASS': files} (on the command line "
                "--data CLASS=FILE, repeated per class)")
        try:
            return t[label].array(library="np")
        except Exception as exc:
            raise DataFileError(f"{path}: cannot read branch {label!r}: {exc}") from exc


def _event_inputs(path: Any, tree: Optional[str] = None
                  ) -> tuple[list[tuple[Path, Optional[int]]], Optional[list[str]]]:
    """``(file, class index or None)`` of every event file of ``path``, and the class names of a mapping.

    ``path`` is an event folder or file, a list of them, or a mapping of class name to one or a
    list of them (every event of a class's files gets that class); ``tree`` as for
    :func:`root_event_layout` (it also finds the ROOT files of a folder).
    """
    from collections.abc import Mapping

    from .generate_events import event_input_files
    from .sources import expand_spec

    def files_of(item: Any) -> list[Path]:
        items = [item] if isinstance(item, (str, Path)) else list(item)
        if not items:
            raise DataFileNotFoundError("no event data path given")
        return [f for it in items for p in expand_spec(it, "event data") for f in event_input_files(p, tree)]

    if isinstance(path, Mapping):
        if not path:
            raise DataFileNotFoundError("no event data path given (an empty mapping of classes)")
        from ..errors import DataArgumentError

        files, owner = [], {}
        for c, (name, item) in enumerate(path.items()):
            for f in files_of(item):
                key = f.resolve()
                if key in owner and owner[key] == name:
                    continue  # the same file twice in one class (a glob and its path): once
                if key in owner:
                    raise DataArgumentError(f"{f} is given for two classes, {owner[key]!r} and {name!r}")
                owner[key] = name
                files.append((f, c))
        return files, [str(n) for n in path]
    return [(f, None) for f in dict.fromkeys(files_of(path))], None


def _describe_inputs(files: list[tuple[Path, Optional[int]]], class_names: Optional[list[str]]) -> str:
    """``'sig: 2 files, bkg: 1 file'`` (classes) or ``'3 files (a.root, ...)'``."""
    def n_files(k: int) -> str:
        return f"{k} file" + ("s" if k != 1 else "")

    if class_names:
        return ", ".join(f"{name}: {n_files(sum(c == i for _, c in files))}" for i, name in enumerate(class_names))
    return f"{n_files(len(files))} ({files[0][0].name}{', ...' if len(files) > 1 else ''})" if files else "no files"


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


def _gather_graphs(full: Any, pos: Tensor, graph_keys: Sequence[str] = ()
                   ) -> tuple[dict[str, Tensor], Tensor, Tensor, dict[str, Tensor]]:
    """Node attributes, node counts, edges (renumbered from 0) and graph attributes of the
    graphs at positions ``pos`` of the event ``Batch`` ``full``, by tensor indexing."""

    def ranges(ptr: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        counts = ptr[pos + 1] - ptr[pos]
        first = ptr_from_counts(counts)[:-1]
        owner = torch.repeat_interleave(torch.arange(pos.numel()), counts)
        return ptr[pos][owner] + torch.arange(int(counts.sum())) - first[owner], counts, owner

    nodes, counts, _ = ranges(full.ptr)
    edges, _, edge_owner = ranges(full._slice_dict["edge_index"])
    new_ptr = ptr_from_counts(counts)[:-1]
    edge_index = full.edge_index[:, edges] - (full.ptr[pos] - new_ptr)[edge_owner]
    node_attrs = {key: full[key][nodes] for key in ("x", "pos", "pt", "node_type")}
    return node_attrs, counts, edge_index, {key: full[key][pos] for key in graph_keys}


class EventDataset(Dataset):
    r"""Collision events as graphs of their reconstructed objects.

    Every event becomes the graph of :func:`~pgjets.graphs.event.events_to_batch`
    (nodes = objects of ``collections``, features
    :math:`[p_T, \eta, \phi, E, q, \mathrm{onehot}(\text{collection})]`,
    ``pos`` = :math:`(\eta, \phi)`, ``pt``, ``node_type``), all built in one
    vectorised call and held as one ``Batch``; items are sliced from it.
    Every item carries ``y`` (the event label) and ``event_index`` (its
    index in :attr:`events`).

    The events come from

    - the H :math:`\to` ZZ ROOT file (``path=None`` or a ROOT file in
      its layout, see :func:`read_hzz_events`): items also carry
      ``dimuon_mass``; default label ``"z_candidate"``;
    - a CMS NanoAOD ROOT file (a tree ``Events``, see
      :func:`read_nanoaod_events`): only the branches of ``collections`` are
      read; it has no labels, so ``label`` (an integer branch or a callable)
      must be given;
    - generated events (a folder of ``pgjets generate --events``, or
      parquet event files, see
      :func:`~pgjets.data.generate_events.read_events`): default label the
      stored ``label`` field, class names from the manifest;
    - any awkward events (NanoAOD-style fields, records, vector records):
      :meth:`from_events`.

    Events without objects in ``collections`` are graphs with zero nodes
    (models give them their output for an empty set, see
    :mod:`pgjets.models.event_models`) unless ``drop_empty=True``, which
    leaves them out and counts them in :attr:`num_dropped`.  :meth:`subset`
    makes a view (train/val/test splits) and :meth:`batches` gathers whole
    batches vectorised from the prebuilt graphs (the Trainer's fast path).

    .. math::
        y_b = \big[\exists\ \mu^+\mu^- : 60 < m_{\mu\mu} < 120\ \mathrm{GeV}\big]
        \quad (\texttt{label="z\_candidate"})

    Args:
        path: ROOT file (H->ZZ or NanoAOD layout, told apart by the tree
            name), event folder or parquet file (default: the H->ZZ file
            shipped in scikit-hep-testdata).  A file is read by its content
            (its first bytes), whatever its name.
        collections: Collections that become nodes, in node order.
        connectivity: ``"full"`` (complete graph per event) or ``"knn"``
            (in :math:`(\eta, \phi)`).
        k: Neighbours for ``"knn"``.
        label: ``"z_candidate"``, ``"four_lepton"`` (H->ZZ layout, see the
            module doc), the name of an integer event field (e.g.
            ``"label"``), or a callable ``events -> (num_events,)``
            non-negative integers; default ``"z_candidate"`` for the H->ZZ
            layout and ``"label"`` for generated events (none for NanoAOD).
        transform: Applied to every ``Data`` returned by ``__getitem__``.
        drop_empty: Leave out events without objects in ``collections``.
        extra_fields: Further object fields appended to the node features
            (e.g. ``("hadronFlavour",)`` of generated jets; see
            :func:`~pgjets.graphs.event.events_to_batch`).
        tree: The tree of a ROOT file of another name, read in NanoAOD naming (see
            :class:`StreamedEventDataset`); ``None``: ``Events`` or ``events``.
        weight, weight_norm: Event weights, as for :class:`StreamedEventDataset` (the sums of
            ``"class"`` run over all events, also those ``drop_empty`` leaves out); items then carry
            ``weight`` :math:`(1,)`.

    Attributes:
        events: The awkward events (all of them, also the dropped ones).
        batch: The kept events as one PyG ``Batch``.
        labels: :math:`(B,)` long labels of the kept events.
        num_dropped: Number of events left out by ``drop_empty``.
        label_names: Class names (generated events) or ``None``.

    Raises:
        DataFileNotFoundError / DataFileError: see :func:`read_hzz_events`,
            :func:`read_nanoaod_events` and
            :func:`~pgjets.data.generate_events.read_events`; a file neither
            parquet nor ROOT with a tree ``events`` or ``Events`` (or ``tree``).
        ValueError: unknown ``label``, or a callable label of the wrong
            length / with negative or non-integer values.

    Shapes:
        - **item:** ``x`` :math:`(N, 5 + C + X)`, ``pos`` :math:`(N, 2)`,
          ``pt`` :math:`(N,)`, ``node_type`` :math:`(N,)`, ``edge_index``
          :math:`(2, E)`, ``y`` :math:`(1,)`, ``event_index`` :math:`(1,)`
          (and ``dimuon_mass`` :math:`(1,)` for the H->ZZ file); :math:`N \ge 0`
    """

    def __init__(
        self,
        path: Union[str, Path, None] = None,
        collections: Sequence[str] = DEFAULT_COLLECTIONS,
        connectivity: str = "full",
        k: int = 8,
        label: Union[str, Callable[[Any], Any], None] = None,
        transform: Optional[Callable] = None,
        drop_empty: bool = False,
        extra_fields: Sequence[str] = (),
        tree: Optional[str] = None,
        weight: Union[str, Sequence[str], None] = None,
        weight_norm: str = "class",
    ) -> None:
        extra: dict[str, np.ndarray] = {}
        label_names = None
        fields = weight_fields(weight) or ()
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"EventDataset reads one event file or folder, got a {type(path).__name__}; for "
                            "several files, or a mapping of class names to files, use StreamedEventDataset")
        # the reader from the file's content (whatever its name: TTBAR.ROOT, no suffix), as StreamedEventDataset
        kind = event_file_kind(path, tree) if path is not None and Path(path).is_file() else None
        if kind in FLAT_LAYOUTS:
            if label is None:
                raise ValueError(f"{path} is a ROOT event file in NanoAOD naming, which holds no class labels: "
                                 "pass label= the name of an integer branch or a callable events -> (num_events,)")
            events = read_nanoaod_events(path, collections, extra_fields,
                                         branches=[*([label] if isinstance(label, str) else []),
                                                   *[f for f in weight_names(fields) if f != label]],
                                         tree=tree_name(kind, tree))
        elif path is not None and kind != "hzz" and Path(path).exists():  # parquet file or event folder
            from .generate_events import read_event_attrs, read_events
            from .jet_io import MANIFEST_NAME, read_manifest

            events = read_events(path)
            if Path(path).is_file():
                label_names = read_event_attrs(path).get("label_names")
            elif (Path(path) / MANIFEST_NAME).exists():
                label_names = read_manifest(path).get("label_names")
            label = "label" if label is None else label
        else:
            events = read_hzz_events(path)
            label = "z_candidate" if label is None else label
            z_label, mass = dimuon_z_candidate(events)
            extra["dimuon_mass"] = mass.astype(np.float32)
            if label == "z_candidate":
                label = lambda ev: z_label  # noqa: E731
                label.__name__ = "z_candidate"
            elif label == "four_lepton":
                label = lambda ev: four_lepton_candidate(ev)  # noqa: E731
                label.__name__ = "four_lepton"
        weights = None
        if fields:
            where = str(path if path is not None else hzz_path())
            if path is None or kind == "hzz":  # the H->ZZ layout: its events hold no scalar branches
                with _open_root(Path(where)) as f:
                    values = _scalar_fields(f, Path(where), weight_names(fields), TREE, with_names=True)
            else:
                values = _event_scalars(events, weight_names(fields))
            weights = weight_product(values, fields, len(events), where)
        self._build(events, label, collections, connectivity, k, transform, drop_empty, extra, extra_fields,
                    weights, weight_norm, label_names)
        self.label_names = label_names

    @classmethod
    def from_events(
        cls,
        events: Any,
        label: Union[str, Callable[[Any], Any], Sequence[int], np.ndarray],
        collections: Sequence[str] = DEFAULT_COLLECTIONS,
        connectivity: str = "full",
        k: int = 8,
        transform: Optional[Callable] = None,
        drop_empty: bool = False,
        extra_fields: Sequence[str] = (),
        weight: Union[str, Sequence[str], np.ndarray, None] = None,
        weight_norm: str = "class",
    ) -> "EventDataset":
        r"""A dataset of any awkward events (layouts of
        :func:`~pgjets.graphs.event.events_to_batch`: NanoAOD-style flat
        fields such as uproot's ``tree.arrays()``, records per collection,
        ``vector`` records).

        .. math::
            \mathcal{D} = \{(G_b, y_b)\}_{b=1}^{B}

        Args:
            events: ``awkward.Array`` of events (or a mapping of field arrays).
            label: Integer event field name, a callable ``events -> (B,)``,
                or the labels themselves (array of length ``B``).
            collections, connectivity, k, transform, drop_empty, extra_fields:
                As for the class.
            weight: Event weights: a scalar event field (or ``"F1*F2"``, their product), or the
                weights themselves (array of length ``B``); see the class for ``weight_norm``.

        Shapes:
            - **item:** as for the class
        """
        ak = require("awkward", "physics", "event data")
        from ..graphs.event import as_events

        events = as_events(ak, events)
        weights = None
        names_given = isinstance(weight, str) or (isinstance(weight, (list, tuple))
                                                  and all(isinstance(w, str) for w in weight))
        if weight is not None and not names_given:  # the weights themselves (an array, a list of numbers)
            try:
                values = ak.to_numpy(weight) if isinstance(weight, ak.Array) else np.asarray(weight)
            except Exception:  # a jagged awkward array
                values = np.full(len(events), None, dtype=object)
            weights = weight_product({"weight": values}, ("weight",), len(events), "the weights")
        elif weight is not None:
            fields = weight_fields(weight)
            weights = weight_product(_event_scalars(events, weight_names(fields)), fields, len(events), "the events")
        self = cls.__new__(cls)
        self._build(events, label, collections, connectivity, k, transform, drop_empty, {}, extra_fields,
                    weights, weight_norm)
        self.label_names = None
        return self

    def _build(self, events: Any, label: Any, collections: Sequence[str], connectivity: str, k: int,
               transform: Optional[Callable], drop_empty: bool, extra: dict[str, np.ndarray],
               extra_fields: Sequence[str] = (), weights: Optional[np.ndarray] = None,
               weight_norm: str = "class", label_names: Optional[Sequence[str]] = None) -> None:
        from ..graphs.event import events_to_batch

        if isinstance(label, str):
            if label in LABELS:
                raise ValueError(f"label {label!r} needs the H->ZZ file layout (Muon/Electron records)")
            if label not in (events.fields or []):
                raise ValueError(f"label must be one of {list(LABELS)}, an integer event field or a "
                                 f"callable, got {label!r} (event fields: {list(events.fields)[:12]}...)")
            field = label
            label = lambda ev: ev[field]  # noqa: E731
            label.__name__ = field
        y = self._custom_label(label, events)
        if weights is not None:  # scaled over all events (also those drop_empty leaves out)
            extra = {**extra, "weight": scale_weights(weights, y, weight_norm, label_names).astype(np.float32)}
        self.events = events
        self.collections = tuple(collections)
        self.label_name = getattr(label, "__name__", "custom") if callable(label) else "given"
        self.batch = events_to_batch(events, collections=collections, connectivity=connectivity, k=k,
                                     drop_empty=drop_empty, extra_fields=extra_fields)
        kept = self.batch.event_index.numpy()
        self.num_dropped = len(events) - kept.size
        self.labels = torch.from_numpy(np.ascontiguousarray(y[kept], dtype=np.int64))
        _set_graph_attr(self.batch, "y", self.labels)
        self._graph_attrs = ["y"]
        for name, values in extra.items():
            tensor = torch.from_numpy(np.ascontiguousarray(values[kept]))
            setattr(self, name, tensor)
            _set_graph_attr(self.batch, name, tensor)
            self._graph_attrs.append(name)
        self._builder = {"collections": tuple(collections), "connectivity": connectivity, "k": k,
                         "extra_fields": tuple(extra_fields)}
        self._positions: Optional[Tensor] = None  # a subset view: positions in self.batch
        self.transform = transform
        self.num_features = int(self.batch.x.size(1))
        self.num_classes = max(2, int(self.labels.max()) + 1) if self.labels.numel() else 2

    @staticmethod
    def _custom_label(label: Any, events: Any) -> np.ndarray:
        """The labels of ``events``: ``label`` is a callable of the events, or the labels themselves."""
        what = f"the label callable {getattr(label, '__name__', '')!r}" if callable(label) else "the labels"
        y = label(events) if callable(label) else label
        ak = require("awkward", "physics", "event data")
        if isinstance(y, ak.Array):
            y = ak.to_numpy(y)
        y = np.asarray(y)
        if y.shape != (len(events),):
            raise ValueError(f"{what} must have shape ({len(events)},), one per event, got {y.shape}")
        if y.dtype == bool:
            y = y.astype(np.int64)
        if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all() \
                or (y < 0).any() or (y != np.round(y)).any():
            raise ValueError(f"{what} must be non-negative integers")
        return y.astype(np.int64)

    def __len__(self) -> int:
        return int(self.batch.num_graphs if self._positions is None else self._positions.numel())

    def _position(self, i: int) -> int:
        return i if self._positions is None else int(self._positions[i])

    def __getitem__(self, idx: int) -> Any:
        n = len(self)
        i = int(idx)
        if not -n <= i < n:
            raise IndexError(f"event index {i} out of range for {n} events")
        data = EventData.from_dict(self.batch.get_example(self._position(i % n)).to_dict())  # event_index kept
        return self.transform(data) if self.transform else data

    def subset(self, index: Union[Tensor, Sequence[int], np.ndarray]) -> "EventDataset":
        r"""A view of the items at ``index`` (sharing the events and graphs).

        .. math::
            \mathcal{D}' = (\mathcal{D}_{i})_{i \in \text{index}}

        Shapes:
            - **input:** ``index`` :math:`(B',)` positions in this dataset
        """
        index = torch.as_tensor(np.asarray(index), dtype=torch.long).reshape(-1)
        n = len(self)
        if index.numel() and (int(index.min()) < -n or int(index.max()) >= n):
            raise IndexError(f"subset index out of range for {n} events")
        base = torch.arange(n) if self._positions is None else self._positions
        out = copy.copy(self)
        out._positions = base[index % max(n, 1)]
        out.labels = self.labels[index]
        return out

    def num_batches(self, batch_size: int, drop_last: bool = False) -> int:
        """Number of batches :meth:`batches` yields."""
        batch_size = check_positive_int(batch_size, "batch_size")
        return len(self) // batch_size if drop_last else -(-len(self) // batch_size)

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False) -> Iterator[Any]:
        r"""Yield ``Batch`` objects of the items, gathered vectorised.

        The graphs of a batch are gathered from the prebuilt :attr:`batch`
        with tensor indexing (no Python work per event); every batch equals
        ``Batch.from_data_list`` of the same items (``y``, ``event_index``
        and the other per-event attributes included).  With ``shuffle`` a
        ``torch.Generator`` seeded by ``seed`` permutes the items.  The
        Trainer uses this path.

        .. math::
            \text{batch } s = \{\mathcal{D}_{\pi(i)} : s\,b \le i < (s + 1)\,b\}

        Args:
            batch_size: Events per batch.
            shuffle: Permute the events.
            seed: Seed of the permutation.
            drop_last: Skip the incomplete last batch.
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        n = len(self)
        base = torch.arange(n) if self._positions is None else self._positions
        order = base[torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))] if shuffle else base
        for s in range(0, n, batch_size):
            pos = order[s: s + batch_size]
            if drop_last and pos.numel() < batch_size:
                break
            b = self._gather(pos)
            yield self.transform(b) if self.transform else b

    def _gather(self, pos: Tensor) -> Any:
        """The graphs at positions ``pos`` of :attr:`batch` as one ``Batch``."""
        from ..graphs.cloud import batch_from_flat

        nodes, counts, edge_index, graph_attrs = _gather_graphs(self.batch, pos, ("event_index", *self._graph_attrs))
        return batch_from_flat(nodes, counts, edge_index=edge_index, graph_attrs=graph_attrs)

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
        dropped = f", dropped={self.num_dropped}" if self.num_dropped else ""
        return (f"{self.__class__.__name__}({len(self)}, collections={list(self.collections)}, "
                f"label={self.label_name!r}{dropped})")


def stream_event_batches(
    path: Union[str, Path],
    batch_size: int,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    connectivity: str = "full",
    k: int = 8,
    label: str = "label",
    extra_fields: Sequence[str] = (),
    drop_empty: bool = False,
    shuffle: bool = False,
    seed: int = 0,
) -> Iterator[Any]:
    r"""Stream the events of an event folder as ``Batch`` objects, one file at a time.

    Unlike :class:`EventDataset` (all events in memory) only one parquet file
    is held at once: the files are read in manifest order (shuffled with a
    ``torch.Generator`` seeded by ``seed`` if ``shuffle``, as are the events
    inside each file), and every batch is one
    :func:`~pgjets.graphs.event.events_to_batch` call with ``y`` from the
    integer event field ``label``.  Batches never mix files; ``event_index``
    counts the events over all files in manifest order.  Pass
    ``lambda epoch: stream_event_batches(..., seed=epoch)`` to the Trainer
    for data larger than memory.

    .. math::
        \text{events} = \text{file}_1 \,\|\, \text{file}_2 \,\|\, \cdots

    Args:
        path: Event folder or parquet file (see
            :func:`~pgjets.data.generate_events.event_files`).
        batch_size: Events per batch (before ``drop_empty``).
        collections, connectivity, k, extra_fields, drop_empty: As for
            :func:`~pgjets.graphs.event.events_to_batch`.
        label: Integer event field of the labels.
        shuffle: Shuffle the files and the events inside each file.
        seed: Seed of the shuffling.

    Shapes:
        - **output:** batches as :func:`~pgjets.graphs.event.events_to_batch`,
          plus ``y`` :math:`(B,)`
    """
    from ..graphs.event import events_to_batch
    from .generate_events import event_files, read_events

    ak = require("awkward", "physics", "event data")
    pq = require("pyarrow.parquet", "physics", "parquet files")
    batch_size = check_positive_int(batch_size, "batch_size")
    files = event_files(path)
    starts = offsets_from_counts([pq.ParquetFile(f).metadata.num_rows for f in files])  # from the metadata
    gen = torch.Generator().manual_seed(int(seed))
    order = torch.randperm(len(files), generator=gen).tolist() if shuffle else range(len(files))
    for i in order:
        events = read_events(files[i])
        if label not in (events.fields or []):
            raise DataFileError(f"{files[i]} has no event field {label!r} for the labels")
        labels = check_labels(ak.to_numpy(events[label]), None, files[i], label)
        n = len(events)
        perm = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
        for s in range(0, n, batch_size):
            idx = perm[s: s + batch_size].numpy()
            part = events[idx]
            try:
                b = events_to_batch(part, collections, connectivity, k, drop_empty, extra_fields)
            except EmptyGraphError:
                continue  # drop_empty and no object in this batch
            kept = b.event_index.numpy()
            y = labels[idx][kept]
            _set_graph_attr(b, "y", torch.from_numpy(y))
            b.event_index = torch.from_numpy(idx[kept].astype(np.int64) + int(starts[i]))
            yield b


def _read_rows(pf: Any, a: int, b: int) -> Any:
    """Rows ``a:b`` of a ``pyarrow.parquet.ParquetFile``, reading only the row groups that hold them."""
    groups, offset = _row_groups(pf.metadata, a, b)
    return pf.read_row_groups(groups).slice(a - offset, b - a)


class _OpenFiles:
    """The event files a :class:`StreamedEventDataset` keeps open between chunks (an uproot file or a
    ``pyarrow.parquet.ParquetFile`` per path): at most ``size``, the least recently used closed first.

    Opening a ROOT file reads its tree's metadata again (most of a chunk's read time for files with
    many branches), so the chunks of a pass read their files through here.  The handles belong to one
    process: a pickled copy (DataLoader workers, DDP) starts empty, and so does a forked one on its
    first use (it never reads through the parent's descriptors).  One lock serialises the reads (the
    prefetch thread and the caller may share the dataset).
    """

    def __init__(self, size: int) -> None:
        import threading

        self.size = size
        self._open: dict[Path, Any] = {}  # insertion order = least recently used first
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._open) if self._pid == os.getpid() else 0

    def __getstate__(self) -> dict:
        return {"size": self.size}  # never the handles

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["size"])

    def read(self, path: Path, kind: str, read: Callable[[Any], Any]) -> Any:
        """``read(handle)`` with the open file ``path`` (opened now if it is not open)."""
        if self._pid != os.getpid():  # a forked copy: the parent's handles and lock are not ours
            self.__init__(self.size)
        with self._lock:
            handle = self._open.pop(path, None)
            if handle is None:
                handle = _open_event_file(path, kind)
                while len(self._open) >= self.size:
                    _close_event_file(self._open.pop(next(iter(self._open))))
            self._open[path] = handle  # the most recently used
            return read(handle)

    def close(self) -> None:
        """Close every open file (a later read opens its file again)."""
        if self._pid != os.getpid():
            self.__init__(self.size)
            return
        with self._lock:
            while self._open:
                _close_event_file(self._open.pop(next(iter(self._open))))


def _open_event_file(path: Path, kind: str) -> Any:
    if kind != "parquet":
        return _open_root(path)
    pq = require("pyarrow.parquet", "physics", "parquet files")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:
        raise DataFileError(f"{path} is not a readable parquet event file: {exc}") from exc


#: The scalar fields that identify an event, stored with its scores when the files have them: CMS
#: NanoAOD's ``run``, ``luminosityBlock``, ``event``; ATLAS ntuples' ``runNumber``, ``eventNumber``
#: and, for simulation, ``mcChannelNumber`` (the sample's DSID); Delphes's ``Event.Number``; EDM4hep's
#: ``EventHeader.runNumber`` and ``EventHeader.eventNumber``; PHYSLITE's ``EventInfoAuxDyn.runNumber``,
#: ``.eventNumber``, ``.mcChannelNumber``; CMS TreeMaker's ``RunNum``, ``LumiBlockNum``, ``EvtNum``.
EVENT_ID_FIELDS = ("run", "luminosityBlock", "event", "runNumber", "eventNumber", "mcChannelNumber",
                   "Event.Number", "EventHeader.runNumber", "EventHeader.eventNumber",
                   "EventInfoAuxDyn.runNumber", "EventInfoAuxDyn.eventNumber", "EventInfoAuxDyn.mcChannelNumber",
                   "RunNum", "LumiBlockNum", "EvtNum")


def _scalar_fields(handle: Any, path: Path, fields: Sequence[str], tree: str,
                   with_names: bool = False) -> dict[str, np.ndarray]:
    """The scalar fields ``fields`` that the open event file ``handle`` has (a
    ``pyarrow.parquet.ParquetFile``, or an uproot file with the tree ``tree``), whole.
    ``with_names``: also ``"__names__"``, the file's top-level field names (for messages), and the
    requested ROOT branches that are not one number per event (as read, for their own message)."""
    if not hasattr(handle, "keys"):  # parquet
        names = set(handle.schema_arrow.names)
        present = [f for f in fields if f in names]
        table = handle.read(columns=present) if present else None
        out = {f: table.column(f).to_numpy(zero_copy_only=False) for f in present}
    else:
        t = handle[tree]
        keys = [k.split(";")[0] for k in t.keys()]
        names = {leaf_name(k) for k in keys}
        found = _event_branch_keys(keys, fields)
        read = t.arrays(list(dict.fromkeys(found.values())), library="np") if found else {}
        arrays = {f: _one_per_event(np.asarray(read[k])) for f, k in found.items()}
        out = {f: a for f, a in arrays.items() if with_names or (a.ndim == 1 and a.dtype != object)}
    if with_names:
        out["__names__"] = np.asarray(sorted(names), dtype=object)
    return out


def _one_per_event(values: np.ndarray) -> np.ndarray:
    """A branch of one-entry lists (Delphes's ``Event.Weight``, EDM4hep's ``EventHeader.weight``: an
    object array of one value per event) as a flat array; anything else as it is."""
    if values.dtype != object or not all(getattr(v, "shape", None) == (1,) for v in values):
        return values
    return np.concatenate(list(values)) if len(values) else values


def _common_id_dtype(arrays: Sequence[np.ndarray]) -> np.dtype:
    """One dtype that holds the event identifiers of every file exactly: their own when they agree;
    for integers of other widths or signs ``int64`` (``uint64`` when a value exceeds it), never the
    float that NumPy's promotion of ``int64`` with ``uint64`` gives."""
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) == 1:
        return dtypes.pop()
    if all(d.kind in "iu" for d in dtypes):
        big = any(a.size and a.dtype.kind == "u" and int(a.max()) > np.iinfo(np.int64).max for a in arrays)
        negative = any(a.size and a.dtype.kind == "i" and int(a.min()) < 0 for a in arrays)
        if big and negative:
            raise DataFileError("event identifiers of the files do not fit one integer type (negative values "
                                "and values above 2**63)")
        return np.dtype(np.uint64 if big else np.int64)
    return np.result_type(*dtypes)


#: The scalings of event weights (:class:`StreamedEventDataset` ``weight_norm``).
WEIGHT_NORMS = ("class", "total", "none")


def weight_product(values: dict[str, Any], fields: Sequence[str], n: int, where: str) -> np.ndarray:
    """The event weights of ``n`` events: the product of the columns ``fields`` of ``values``
    (:func:`weight_fields`; over those marked ``/``), in float64, checked: present, one number per
    event, finite (a division by zero is not).

    Raises:
        DataFileError: a missing field (similar names of ``values["__names__"]`` suggested), a
            field that is not one number per event, a weight that is not finite (its entry named).
    """
    import difflib

    expr = weight_expression(fields)
    for f in weight_names(fields):
        if f not in values:
            names = [str(n) for n in values.get("__names__", [])]
            words = ("weight", "scalefactor", "sf_", "xsec", "sumw", "lumi", "kfac", "filteff")
            like = list(dict.fromkeys(difflib.get_close_matches(f, names, 3)
                                      + [n for n in names if any(w in n.lower() for w in words)]))
            hint = f"; it has {like[:8]}" if like else ""
            raise DataFileError(f"{where} has no per-event field {f!r} for the event weights {expr!r} "
                                f"(one number per event, in every file){hint}")
    w = np.ones(int(n), dtype=np.float64)
    for factor in fields:
        f = factor.lstrip("/")
        column = np.asarray(values[f])
        if column.dtype.kind not in "biuf":
            raise DataFileError(f"{where}: {f} is not one number per event (it holds {column.dtype} values, "
                                "e.g. a list per event); event weights are one number per event")
        if column.shape != w.shape:
            raise DataFileError(f"{where}: {f} holds {column.size} values for {w.size} events; event weights "
                                "are one number per event")
        with np.errstate(divide="ignore", invalid="ignore"):
            w = w / column.astype(np.float64) if factor.startswith("/") else w * column.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise DataFileError(f"{where}: the event weight {expr} is {w[bad[0]]} at entry {int(bad[0])} "
                            f"({bad.size} events not finite)")
    return w


def scale_weights(weights: np.ndarray, classes: np.ndarray, weight_norm: str = "class",
                  label_names: Optional[Sequence[str]] = None, what: str = "the event weights") -> np.ndarray:
    r"""Event weights scaled as ``weight_norm`` says (:data:`WEIGHT_NORMS`): ``"class"`` to a mean of 1
    within each class of ``classes`` (:math:`s_c = N_c / \sum_{i \in c} w_i`), ``"total"`` to a mean
    of 1 over all, ``"none"`` unchanged (a copy).

    Raises:
        DataFileError: a class (or, ``"total"``, all events) whose weights sum to zero or less.
        ValueError: an unknown ``weight_norm``.
    """
    if weight_norm not in WEIGHT_NORMS:
        raise ValueError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
    scaled = np.asarray(weights, dtype=np.float64).copy()
    if weight_norm == "none":
        return scaled
    groups = np.zeros(scaled.size, dtype=np.int64) if weight_norm == "total" else np.asarray(classes)
    for c in np.unique(groups).tolist():
        rows = groups == c
        total = float(scaled[rows].sum())
        if not total > 0.0:
            who = "all events" if weight_norm == "total" else \
                f"class {label_names[c] if label_names is not None and 0 <= c < len(label_names) else c}"
            raise DataFileError(f"{what} of {who} sum to {total:g} ({int(rows.sum())} events): a class needs a "
                                "positive sum of weights (its efficiencies are fractions of it)")
        scaled[rows] *= rows.sum() / total
    return scaled


def weight_fields(weight: Union[str, Sequence[str], None]) -> Optional[tuple[str, ...]]:
    """The factors of an event-weight setting, divisors marked by a leading ``/``: ``"genWeight"`` ->
    ``("genWeight",)``; ``"mcWeight*scaleFactor_PILEUP*XSection/SumWeights"`` -> ``("mcWeight",
    "scaleFactor_PILEUP", "XSection", "/SumWeights")`` (the weight is the product of the first three
    over the last); a sequence of names gives their product.  ``None`` stays ``None``.

    Raises:
        ValueError: an empty name, or an expression that starts with ``/``.
    """
    if weight is None:
        return None
    if isinstance(weight, str):
        parts = re.split(r"([*/])", weight)
        names = [parts[0].strip()] + [("/" if op == "/" else "") + name.strip()
                                      for op, name in zip(parts[1::2], parts[2::2])]
    else:
        names = [str(w).strip() for w in weight]
    if not names or not all(n.lstrip("/").strip() for n in names) or names[0].startswith("/"):
        raise ValueError(f"event weights: {weight!r} holds an empty field name (give FIELD, or a product and "
                         "quotient of fields, F1*F2/F3)")
    return tuple(names)


def weight_expression(fields: Sequence[str]) -> str:
    """The setting of the factors of :func:`weight_fields`: ``("a", "b", "/c")`` -> ``"a*b/c"``."""
    return "".join(f if f.startswith("/") or i == 0 else "*" + f for i, f in enumerate(fields))


def weight_names(fields: Sequence[str]) -> tuple[str, ...]:
    """The fields that :func:`weight_fields` factors read, once each: ``("a", "/b")`` -> ``("a", "b")``."""
    return tuple(dict.fromkeys(f.lstrip("/") for f in fields))


def _event_scalars(events: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The top-level scalar fields ``fields`` of awkward ``events`` that they have, as NumPy arrays
    (with ``"__names__"``, all their fields, for messages)."""
    ak = require("awkward", "physics", "event data")
    have = list(events.fields or [])
    out: dict[str, Any] = {"__names__": np.asarray(have, dtype=object)}
    for f in fields:
        if f in have:
            try:
                out[f] = ak.to_numpy(events[f])
            except Exception:  # a jagged field or records: not one number per event
                out[f] = np.full(len(events), None, dtype=object)
    return out


def _close_event_file(handle: Any) -> None:
    try:
        handle.close()
    except Exception:  # a file that cannot be closed cleanly has been read already
        pass


class _EventChunk:
    """Rows ``a:b`` of one event file (a chunk of :class:`StreamedEventDataset`) with the graphs of
    all its events, built once when the chunk is read (batches gather them by tensor indexing)."""

    def __init__(self, graphs: Any, labels: np.ndarray, first: np.ndarray) -> None:
        self.graphs, self.labels, self.first = graphs, labels, first  # first: global event index

    def __len__(self) -> int:
        return len(self.labels)


class StreamedEventDataset(JetDataset):
    r"""The events of event files, streamed in chunks of ``chunk_size`` events.

    The streamed counterpart of :class:`EventDataset` (which holds all events
    and their graphs): only file lists and event counts (parquet metadata,
    ROOT tree entries) are read at construction, and :meth:`batches` reads chunks on demand with the
    machinery of :class:`~pgjets.data.jet_dataset.JetDataset` (seeded chunk
    permutation, a shuffle buffer of ``shuffle_chunks`` chunks mixed across
    files, prefetch of the next group, disjoint shares for ``world_size > 1``,
    :meth:`subset` of global event positions).  At most
    ``2 * shuffle_chunks + 1`` chunks are in memory, whatever the number of
    events.  The graphs of a chunk are built once, when it is read (one
    :func:`~pgjets.graphs.event.events_to_batch` call, in the prefetch thread),
    and batches gather them by tensor indexing (the same graphs as
    :class:`EventDataset`); ``event_index`` is the position of the event in
    the file list (manifest order).

    **Map-style access.**  ``ds[i]`` (and a ``torch_geometric.loader.DataLoader``
    over ``ds``) reads the chunk that holds event ``i`` through an LRU cache of
    ``cache_chunks`` chunks and builds that chunk's graphs: in order it costs
    one read per chunk, but in a random order over more chunks than the cache
    holds nearly every item reads and builds a whole chunk again (2 000
    generated events in 20 chunks of 100, batches of 64: a ``DataLoader`` in
    order took 1.9 times as long as a shuffled :meth:`batches` pass, a
    shuffled ``DataLoader`` 73 times).  Train with :meth:`batches` (the :class:`~pgjets.train.Trainer`
    does), or use :class:`EventDataset` for samples that fit in memory.

    **Files and labels.**  The events come from awkward parquet files (a
    ``pgjets generate --events`` folder, or NanoAOD-style fields), from CMS
    NanoAOD ROOT files (tree ``Events``; only the branches of ``collections``
    and ``extra_fields`` are read, chunk by chunk, with uproot) or from ROOT
    files in the H->ZZ layout (tree ``events``).  ``y`` is the integer event
    field (or branch) ``label``; real NanoAOD files have none, and are given as
    a mapping of class name to files instead, ``{"ttbar": "tt_*.root",
    "wjets": ["wj_1.root", "wj_2.root"]}``: every event of a class's files
    has that class (classes numbered in the mapping's order, which also names
    them, :attr:`label_names`).

    .. math::
        \text{memory} = O(\texttt{chunk\_size} \cdot \texttt{shuffle\_chunks})

    Args:
        path: An event folder or file (parquet or ROOT; a quoted glob), a list
            of them, or a mapping of class name to one or a list of them.
        collections, connectivity, k, extra_fields, drop_empty: As for
            :func:`~pgjets.graphs.event.events_to_batch`; with ``drop_empty``
            :attr:`num_dropped` counts the events dropped so far.  ``drop_empty``
            acts on :meth:`batches` only (the Trainer's path): ``len(ds)``
            counts every event, and ``ds[i]`` and a PyG ``DataLoader`` over
            ``ds`` still return the events without objects, as graphs of zero
            nodes (leave them out of the positions given to :meth:`subset`
            to skip them there).  A NanoAOD file must hold branches ``C_pt``
            and ``C_phi`` (or ``C_px`` and ``C_py``) for every collection.
        label: Integer event field of the labels (unused with a mapping); ``None``: unlabelled events
            (collision data, or simulation of unknown process), each with ``y = -1``, for scoring
            with a trained model (a classifier cannot train on them).
        chunk_size, shuffle_chunks, prefetch, cache_chunks, transform: As for
            :class:`~pgjets.data.jet_dataset.JetDataset`.
        open_files: Files kept open between chunks (the most recently read ones; a shuffled pass
            reads the chunks of all files in a random order, so with at least as many as there are
            files each file is opened once, not once per chunk).  The open files belong to this
            dataset and its :meth:`subset` splits in this process: a pickled copy and a forked worker
            open their own; :meth:`close` closes them.
        tree: The tree (or RNTuple) of ROOT event files, read in NanoAOD naming (branches ``C_pt``,
            ``C_eta``, ... of every collection ``C``): e.g. ``"mini"`` of ATLAS Open Data with
            ``collections=("lep", "jet")``.  ``None``: ``Events`` (NanoAOD) or ``events`` (the H->ZZ
            layout), whichever the file has.  With a name, every ROOT file must have that tree,
            and the ROOT files of a folder are found by it; parquet files are read as without it.
        weight: Monte Carlo event weights: a per-event scalar field (branch, parquet column), e.g.
            ``"genWeight"`` (NanoAOD) or ``"EventWeight"`` (the H->ZZ layout), or several
            multiplied, ``"mcWeight*scaleFactor_PILEUP"`` (or a sequence of names).  Every file
            must have them (read whole at construction, checked finite); batches then carry
            ``weight`` :math:`(B,)`, which the :class:`~pgjets.train.Trainer` uses in its loss and
            metrics.  Negative weights (NLO generators) are kept.  ``None``: unweighted.
        weight_norm: How the weights are scaled, :math:`w_i \to s_{c(i)} w_i`: ``"class"`` (default)
            to a mean of 1 within each class, :math:`s_c = N_c / \sum_{i \in c} w_i` (each class
            weighs as much as it has events, whatever its cross section; the shape of the weights
            within a class is kept), ``"total"`` to a mean of 1 over all events (the classes keep
            their relative weight), ``"none"`` as stored.  The sums run over all events of ``path``
            (before any split); a class whose weights sum to zero or less is refused.  Unlabelled
            events form one group.

    Shapes:
        - **output:** batches as :func:`~pgjets.graphs.event.events_to_batch`,
          plus ``y`` :math:`(B,)`, ``event_index`` :math:`(B,)` and (with ``weight``) ``weight``
          :math:`(B,)`
    """

    _item_class = EventData  # ds[i] keeps its event_index when PyG batches items

    def __init__(self, path: Any, collections: Sequence[str] = DEFAULT_COLLECTIONS,
                 connectivity: str = "full", k: int = 8, label: Optional[str] = "label",
                 extra_fields: Sequence[str] = (), drop_empty: bool = False, chunk_size: int = 1024,
                 shuffle_chunks: int = 8, prefetch: bool = True, cache_chunks: int = 2,
                 transform: Optional[Callable] = None, open_files: int = 8, tree: Optional[str] = None,
                 weight: Union[str, Sequence[str], None] = None, weight_norm: str = "class") -> None:
        from collections import OrderedDict

        from .generate_events import read_event_attrs
        from .jet_io import MANIFEST_NAME, read_manifest

        self.transform = transform
        self.cache_chunks = check_positive_int(cache_chunks, "cache_chunks")
        self.chunk_size = check_positive_int(chunk_size, "chunk_size")
        self.shuffle_chunks = check_positive_int(shuffle_chunks, "shuffle_chunks")
        self.prefetch = bool(prefetch)
        self._cache = OrderedDict()
        self._files = _OpenFiles(check_positive_int(open_files, "open_files"))
        self._memory = None
        self._select = None
        self.representation, self.k, self.sources = "events", k, []
        self.tree = None if tree is None else str(tree)
        files, class_names = _event_inputs(path, self.tree)
        self.root = Path(path) if isinstance(path, (str, os.PathLike)) else None  # one folder or file
        self._source = str(self.root) if self.root is not None else _describe_inputs(files, class_names)
        collections = (collections,) if isinstance(collections, str) else tuple(collections)
        extra_fields = (extra_fields,) if isinstance(extra_fields, str) else tuple(extra_fields)
        self.collections, self.label = collections, None if label is None else str(label)
        self._builder = {"collections": self.collections, "connectivity": connectivity, "k": int(k),
                         "extra_fields": extra_fields, "drop_empty": bool(drop_empty)}
        self.num_dropped = 0
        self._units, counts = [], []
        self._file_class: dict[Path, Optional[int]] = {f: cls for f, cls in files}
        self._file_kind: dict[Path, str] = {}
        self.files = [f for f, _ in files]  # every event file, in order (also those without events)
        self._file_events = np.zeros(len(files), dtype=np.int64)  # events per file
        for i, f in enumerate(self.files):
            kind, n = index_event_file(f, self.collections, extra_fields, self.tree)  # one open per file
            self._file_kind[f], self._file_events[i] = kind, n
            for a in range(0, n, self.chunk_size):
                self._units.append((f, kind, a, min(n, a + self.chunk_size)))
                counts.append(min(n, a + self.chunk_size) - a)
        self._starts = offsets_from_counts(counts)
        first = offsets_from_counts(self._file_events)  # the first event of every file
        self._file_starts = {f: int(first[i]) for i, f in enumerate(self.files)}
        names = class_names
        if names is None and self.root is not None and self._units and self._units[0][1] == "parquet":
            if self.root.is_file():
                names = read_event_attrs(self.root).get("label_names")
            elif (self.root / MANIFEST_NAME).exists():
                names = read_manifest(self.root).get("label_names")
        self._label_names = list(names) if names else None
        self._first_path = self._units[0][0] if self._units else None
        self._feature_names = []
        if self._label_names:
            self._num_classes = max(2, len(self._label_names))
        elif self.label is None:  # unlabelled: every event y = -1 (files of a mapping keep their class)
            self._num_classes = 2
        else:  # the label column only, file by file
            top = max([int(self._label_column(f).max(initial=0))
                       for f in dict.fromkeys(u[0] for u in self._units)] or [1])
            self._num_classes = max(2, top + 1)
        from ..graphs.event import KINEMATIC_FEATURES

        self._num_features = len(KINEMATIC_FEATURES) + len(self.collections) + len(tuple(extra_fields))
        self.weight = weight_fields(weight)
        if weight_norm not in WEIGHT_NORMS:
            raise ValueError(f"weight_norm must be one of {WEIGHT_NORMS}, got {weight_norm!r}")
        self.weight_norm = weight_norm
        self._raw_weights = self._scaled_weights = self._classes = None
        if self.weight is not None:
            self._read_weights()

    def _read_weights(self) -> None:
        """Read the weights of every file (the product of the fields of :attr:`weight`), check them and
        scale them (:attr:`weight_norm`)."""
        raw = [self._weight_column(f, i) for i, f in enumerate(self.files)]
        self._raw_weights = np.concatenate(raw) if raw else np.zeros(0)
        groups = self.event_classes()
        self._scaled_weights = scale_weights(self._raw_weights, groups, self.weight_norm, self._label_names,
                                             weight_expression(self.weight))

    def event_classes(self, index: Any = None) -> np.ndarray:
        """The class of the events at global positions ``index`` (default: this dataset's events,
        :meth:`event_positions`): their file's class (a mapping), their label field, or -1 (unlabelled);
        only the label columns are read, once.

        Raises:
            IndexError: a position outside ``0..len(self)-1``.
        """
        if getattr(self, "_classes", None) is None:
            parts = []
            for path, n in zip(self.files, self._file_events):
                cls = self._file_class.get(path)
                if cls is not None or self.label is None:
                    parts.append(np.full(int(n), -1 if cls is None else cls, dtype=np.int64))
                else:
                    parts.append(self._label_column(path))
            self._classes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return self._classes[self._positions(index)]

    def _weight_column(self, path: Path, i: int) -> np.ndarray:
        """The weights of every event of one file: the product of the fields of :attr:`weight`."""
        kind = self._file_kind[path]
        tree = tree_name(kind, self.tree)
        values = self._files.read(path, kind, lambda h: _scalar_fields(h, path, weight_names(self.weight), tree,
                                                                       with_names=True))
        return weight_product(values, self.weight, int(self._file_events[i]), str(path))

    def _positions(self, index: Any) -> np.ndarray:
        """``index`` as global event positions (``None``: :meth:`event_positions`), checked.

        Raises:
            IndexError: a position outside ``0..N-1`` (``N``: the events of all files).
        """
        if index is None:
            return self.event_positions()
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        n = int(self._file_events.sum())
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f"event positions must be in 0..{n - 1}")
        return index

    def event_positions(self) -> np.ndarray:
        """The global positions (``event_index``) of this dataset's events, in order: all of them, or a
        :meth:`subset`'s own."""
        parts = [(np.arange(b - a) if self._select is None else self._select[c].numpy()) + self._file_starts[path] + a
                 for c, (path, _, a, b) in enumerate(self._units)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def weights(self, index: Any = None, scaled: bool = True) -> Optional[np.ndarray]:
        """The event weights at global positions ``index`` (default: this dataset's events,
        :meth:`event_positions`), scaled as
        :attr:`weight_norm` says (``scaled=False``: the product of the fields as stored);
        ``None`` for a dataset without ``weight``.

        Raises:
            IndexError: a position outside ``0..len(self)-1``.
        """
        if self.weight is None:
            return None
        return (self._scaled_weights if scaled else self._raw_weights)[self._positions(index)]

    def _label_column(self, path: Path) -> np.ndarray:
        """The checked labels of one event file (only its label column is read)."""
        kind = self._file_kind[path]
        if kind != "parquet":
            return check_labels(_root_label_column(path, kind, self.label, self.tree), None, path, self.label)
        pq = require("pyarrow.parquet", "physics", "parquet files")
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except Exception as exc:
            raise DataFileError(f"{path} is not a readable parquet event file: {exc}") from exc
        if self.label not in names:
            raise DataFileError(f"{path} has no event field {self.label!r} for the labels "
                                f"(its event fields are {names})")
        column = pq.read_table(path, columns=[self.label]).column(0)
        if column.null_count:
            raise DataFileError(f"{path}: {self.label} holds {column.null_count} missing (null) labels")
        return check_labels(column.to_numpy(), None, path, self.label)

    def _read_events(self, path: Path, kind: str, a: int, b: int) -> tuple[Any, np.ndarray]:
        """Events ``a:b`` of one file and their labels (the file's class, or the label field)."""
        ak = require("awkward", "physics", "event data")
        cls = self._file_class.get(path)
        o = self._builder
        if kind in FLAT_LAYOUTS:
            branches = [self.label] if cls is None and self.label is not None else ()
            events = self._files.read(path, kind, lambda f: _nanoaod_events(
                path, f, o["collections"], o["extra_fields"], branches, a, b, tree_name(kind, self.tree)))
        elif kind == "hzz":  # no label branch: a class per file (checked at construction)
            events = self._files.read(path, kind, lambda f: _hzz_events(path, f, a, b))
        else:
            try:
                events = ak.from_arrow(self._files.read(path, kind, lambda pf: _read_rows(pf, a, b)))
            except DataFileError:
                raise
            except Exception as exc:
                raise DataFileError(f"{path} is not a readable parquet event file: {exc}") from exc
        if len(events) != b - a:
            raise DataFileError(f"{path} changed since it was indexed: events {a}:{b} hold {len(events)}")
        if cls is not None or self.label is None:
            return events, np.full(b - a, -1 if cls is None else cls, dtype=np.int64)
        if self.label not in (events.fields or []):
            raise DataFileError(f"{path} has no event field {self.label!r} for the labels")
        return events, check_labels(ak.to_numpy(events[self.label]), self._num_classes, path, self.label,
                                    first_row=a)

    @property
    def open_files(self) -> int:
        """The number of files kept open between chunks (see the class docs)."""
        return self._files.size

    def close(self) -> None:
        """Close the files kept open between chunks (a later read opens them again)."""
        self._files.close()

    def _load(self, i: int) -> _EventChunk:
        path, kind, a, b = self._units[i]
        events, labels = self._read_events(path, kind, a, b)
        rows = np.arange(b - a)
        if self._select is not None:
            rows = self._select[i].numpy()
            events, labels = events[rows], labels[rows]
        from ..errors import PgjetsError
        from ..graphs.event import events_to_batch

        o = self._builder
        graphs = None
        if len(events):  # every event of the chunk, empty ones included (drop_empty acts per batch)
            try:
                graphs = events_to_batch(events, o["collections"], o["connectivity"], o["k"], False,
                                         o["extra_fields"])
            except PgjetsError as exc:  # a NaN, a negative pT, ...: name the file and its events
                raise type(exc)(f"{path}, events {a}:{b}: {exc}") from exc
        return _EventChunk(graphs, labels, rows + self._file_starts[path] + a)

    def locate(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        """The file (position in :attr:`files`) and the entry in that file of events at global positions
        ``index`` (``event_index``).

        Raises:
            IndexError: a position outside ``0..len(self)-1``.
        """
        index = self._positions(index)
        starts = offsets_from_counts(self._file_events)
        file = np.searchsorted(starts, index, side="right") - 1  # empty files own no position
        return file, index - starts[file]

    def event_ids(self, index: Any, fields: Sequence[str] = EVENT_ID_FIELDS) -> dict[str, np.ndarray]:
        """The event identifiers (CMS: ``run``, ``luminosityBlock``, ``event``; ATLAS ntuples: ``runNumber``,
        ``eventNumber``) of the events at global
        positions ``index``, read from the scalar fields (branches) of their files, in their own dtype
        (files that store a field in other integer types give one that holds all values exactly).

        Only the fields that every file of these events has are returned (none for files without
        them, e.g. generated events); only those fields are read.

        Raises:
            IndexError: a position outside ``0..len(self)-1``.
        """
        file, entry = self.locate(index)
        per_file = {}  # file position -> the fields it has, whole
        for fi in np.unique(file).tolist():
            path = self.files[fi]
            kind = self._file_kind[path]
            per_file[fi] = self._files.read(path, kind, lambda h: _scalar_fields(h, path, fields,
                                                                             tree_name(kind, self.tree)))
        out = {}
        for f in fields:
            if not per_file or not all(f in values for values in per_file.values()):
                continue
            out[f] = np.empty(len(file), dtype=_common_id_dtype([values[f] for values in per_file.values()]))
            for fi, values in per_file.items():
                rows = file == fi
                out[f][rows] = values[f][entry[rows]]
        return out

    def file_class(self, i: int) -> Optional[int]:
        """The class of every event of file ``i`` (position in :attr:`files`) given as a mapping
        ``{class: files}``, else ``None`` (labels from the file's label field, or unlabelled)."""
        return self._file_class.get(self.files[i])

    def file_kind(self, i: int) -> str:
        """The layout of file ``i`` (position in :attr:`files`): one of :data:`EVENT_FILE_KINDS`."""
        return self._file_kind[self.files[i]]

    def file_positions(self, i: int) -> np.ndarray:
        """The global positions of the events of file ``i`` (position in :attr:`files`)."""
        start = int(self._file_starts[self.files[i]])
        return np.arange(start, start + int(self._file_events[i]))

    def class_counts(self) -> Optional[list[int]]:
        """Events per class when every file has one class (a mapping was given), else ``None``."""
        if not self._label_names or any(c is None for c in self._file_class.values()):
            return None
        counts = [0] * len(self._label_names)
        for f, n in zip(self.files, self._file_events):
            counts[self._file_class[f]] += int(n)
        return counts

    def _rows(self, c: int, a: int, b: int) -> Tensor:
        return torch.arange(a, b)  # a chunk holds only its selected events

    def _build_pieces(self, pieces: list[tuple[Any, Tensor]], allow_none: bool = False):
        from ..graphs.cloud import batch_from_flat

        parts = []
        for chunk, idx in pieces:
            if not idx.numel():
                continue
            nodes, counts, edges, _ = _gather_graphs(chunk.graphs, idx)
            parts.append((nodes, counts, edges, chunk.labels[idx.numpy()], chunk.first[idx.numpy()]))
        counts = torch.cat([p[1] for p in parts])
        y, first = np.concatenate([p[3] for p in parts]), np.concatenate([p[4] for p in parts])
        offsets = offsets_from_counts([int(p[1].sum()) for p in parts])
        edge_index = torch.cat([p[2] + int(off) for p, off in zip(parts, offsets)], 1)
        nodes = {key: torch.cat([p[0][key] for p in parts]) for key in parts[0][0]}
        keep = torch.arange(counts.numel())
        if self._builder["drop_empty"] and not bool((counts > 0).any()) and allow_none:
            self.num_dropped += len(y)  # a batch of empty events only: left out whole
            return None
        if self._builder["drop_empty"] and bool((counts > 0).any()):
            # leave out events without objects (under DDP a batch of only empty events is kept,
            # so that every rank trains the same number of batches)
            keep = (counts > 0).nonzero().view(-1)
            counts = counts[keep]  # the nodes and edges of the dropped events are none
        kept = keep.numpy()
        self.num_dropped += len(y) - kept.size  # 0 when the events were kept
        graph_attrs = {"event_index": torch.from_numpy(first[kept].astype(np.int64)), "y": torch.from_numpy(y[kept])}
        if self._scaled_weights is not None:
            graph_attrs["weight"] = torch.from_numpy(self._scaled_weights[first[kept]].astype(np.float32))
        return batch_from_flat(nodes, counts, edge_index=edge_index, graph_attrs=graph_attrs)

    def __repr__(self) -> str:
        weighted = "" if self.weight is None else f", weight={weight_expression(self.weight)!r}"
        return (f"StreamedEventDataset({len(self)} events, {self.num_chunks} chunks, "
                f"collections={list(self.collections)}{weighted}, from {self._source})")


__all__ = [
    "COLLECTIONS", "MET_BRANCHES", "DEFAULT_COLLECTIONS", "Z_WINDOW", "Z_MASS", "LABELS",
    "hzz_path", "read_hzz_events", "read_nanoaod_events", "root_event_layout", "NANOAOD_TREE",
    "EVENT_FILE_KINDS", "EVENT_ID_FIELDS", "event_file_kind", "index_event_file", "event_file_has_labels",
    "dimuon_z_candidate", "four_lepton_candidate", "EventDataset",
    "stream_event_batches", "StreamedEventDataset", "WEIGHT_NORMS", "weight_fields", "weight_expression",
    "weight_names", "weight_product",
    "scale_weights", "NOMINAL_SUFFIX", "nominal_name",
]
