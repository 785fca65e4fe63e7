r"""Event ROOT files in the public layouts: which tree holds the events, and which branch is which
object field of which collection.

pgjets reads every layout as NanoAOD-style fields ``C_<field>`` (``Muon_pt``, ``Jet_eta``, ...),
whatever the file calls them:

============  ==================  ==========================================================
layout        tree                a branch of collection ``C`` (here ``Jet``)
============  ==================  ==========================================================
``nanoaod``   ``Events``          ``Jet_pt`` (CMS NanoAOD; any flat ntuple with ``--tree``)
``hzz``       ``events``          ``Jet_Px`` (scikit-hep-testdata's H -> ZZ sample)
``delphes``   ``Delphes``         ``Jet/Jet.PT`` (a split ``TClonesArray``; ``MissingET.MET``)
``edm4hep``   ``events``          ``Jet/Jet.momentum.x``, ``Jet.energy`` (podio, FCC / key4hep)
``physlite``  ``CollectionTree``  ``AnalysisJetsAuxDyn.pt`` (ATLAS xAOD, in MeV)
============  ==================  ==========================================================

Nested members are read as the object fields they stand for (:data:`NESTED_FIELDS`): EDM4hep's
``momentum.x`` as ``px``; a ``ROOT::Math::LorentzVector`` (CMS TreeMaker's ``Jets``) through its
``fCoordinates.fPt``, ...; a ``TLorentzVector`` through ``fP.fX``, ..., ``fE``.  An xAOD store
``<C>AuxDyn`` (or ``<C>Aux.``) is the collection ``C``; its energies and momenta are in MeV and are
read in GeV (:data:`XAOD_MEV_FIELDS`), as every other layout stores them.  Systematics ntuples
(ATLAS TopCPToolkit) keep their nominal values in ``C_<field>_NOSYS`` (:data:`NOMINAL_SUFFIX`),
read as ``C_<field>`` where the tree has no plain one.

Not read: collections that hold references to others instead of momenta (EDM4hep's
``Muon_objIdx``, Delphes's ``Jet.Constituents``), and xAOD element links.
"""

from __future__ import annotations

from typing import Optional, Sequence

#: The suffix of the nominal values in ntuples that also hold systematic variations (ATLAS
#: TopCPToolkit / CP algorithms: ``el_pt_NOSYS``, ``met_met_NOSYS``, next to unsuffixed ``el_eta``).
NOMINAL_SUFFIX = "_NOSYS"

#: Nested members (lower case) read as object fields: EDM4hep's ``momentum``, ROOT's
#: ``LorentzVector`` (``fCoordinates``, any of its coordinate systems) and ``TLorentzVector``.
NESTED_FIELDS: dict[str, str] = {
    "momentum.x": "px", "momentum.y": "py", "momentum.z": "pz",
    "fcoordinates.fpt": "pt", "fcoordinates.feta": "eta", "fcoordinates.fphi": "phi",
    "fcoordinates.fe": "e", "fcoordinates.fm": "mass", "fcoordinates.ft": "e",
    "fcoordinates.fx": "px", "fcoordinates.fy": "py", "fcoordinates.fz": "pz",
    "fp.fx": "px", "fp.fy": "py", "fp.fz": "pz", "fe": "e",
}

#: Suffixes of an ATLAS xAOD auxiliary store: ``AnalysisJetsAuxDyn.pt`` is the field ``pt`` of
#: ``AnalysisJets``.
XAOD_AUX_SUFFIXES: tuple[str, ...] = ("AuxDyn", "Aux")

#: Object fields (lower case) of an xAOD store that are in MeV, read in GeV (divided by 1000).
XAOD_MEV_FIELDS = frozenset({"pt", "e", "m", "mass", "px", "py", "pz", "et", "met"})

#: Collections read under another name where a ROOT file lacks them: CMS NanoAOD v15 renamed ``MET``
#: (the type-1 corrected PF MET) ``PFMET``.
COLLECTION_ALIASES: dict[str, tuple[str, ...]] = {"MET": ("PFMET",)}

#: The tree of the events of each ROOT layout.
LAYOUT_TREES: dict[str, str] = {"nanoaod": "Events", "hzz": "events", "delphes": "Delphes",
                                "edm4hep": "events", "physlite": "CollectionTree"}

#: The collections of muons, electrons, jets, photons and MET in the layouts that name them otherwise
#: than the default collections (``Muon``, ``Electron``, ``Jet``, ``Photon``, ``MET``); PHYSLITE's MET
#: (a list of terms) is not read.
LAYOUT_COLLECTIONS: dict[str, tuple[str, ...]] = {
    "delphes": ("Muon", "Electron", "Jet", "Photon", "MissingET"),
    "physlite": ("AnalysisMuons", "AnalysisElectrons", "AnalysisJets", "AnalysisPhotons"),
}

#: The names of the layouts in messages.
LAYOUT_NAMES: dict[str, str] = {"nanoaod": "NanoAOD", "hzz": "H->ZZ", "delphes": "Delphes",
                                "edm4hep": "EDM4hep", "physlite": "PHYSLITE"}

#: The ROOT layouts read branch by branch (all but ``hzz``, which has its own reader).
FLAT_LAYOUTS: tuple[str, ...] = ("nanoaod", "delphes", "edm4hep", "physlite")

#: Branches that mark the H -> ZZ layout in a tree ``events`` (EDM4hep names its tree so too).
HZZ_MARKERS: tuple[str, ...] = ("NMuon", "Muon_Px")


def nominal_name(name: str) -> str:
    """``name`` without :data:`NOMINAL_SUFFIX` (any case): ``el_pt_NOSYS`` -> ``el_pt``."""
    n = len(NOMINAL_SUFFIX)
    return name[:-n] if len(name) > n and name[-n:].upper() == NOMINAL_SUFFIX else name


def leaf_name(key: str) -> str:
    """A branch key without the path of its parent branches: uproot names the members of a split
    object ``Jet/Jet.PT``; the member is ``Jet.PT``."""
    return key.rsplit("/", 1)[-1]


def _store(coll: str) -> tuple[str, bool]:
    """``(collection, xAOD)``: an xAOD auxiliary store ``<C>AuxDyn`` is the collection ``C``."""
    for suffix in XAOD_AUX_SUFFIXES:
        if coll.endswith(suffix) and len(coll) > len(suffix):
            return coll[: -len(suffix)], True
    return coll, False


def split_dotted(key: str) -> Optional[tuple[str, str, bool]]:
    """``(collection, field, xAOD)`` of a member branch ``C.<field>`` (``Jet/Jet.PT``,
    ``AnalysisJetsAuxDyn.pt``, ``Jet/Jet.momentum.x`` -> ``px``; an RNTuple's sub-field ``Muon.pt``),
    or ``None`` (a branch of another form, or a nested member that is not an object field)."""
    name = nominal_name(leaf_name(key))
    coll, dot, rest = name.partition(".")
    if not dot or not coll or not rest:
        return None
    coll, xaod = _store(coll)
    nested = NESTED_FIELDS.get(rest.lower())
    if nested is not None:
        return coll, nested, xaod
    if "." in rest:
        return None
    return coll, rest, xaod


def collection_keys(keys: Sequence[str], coll: str, wanted: Optional[set[str] | frozenset[str]] = None,
                    aliases: bool = True) -> dict[str, str]:
    """The branches (or RNTuple fields) of collection ``coll`` among ``keys`` whose object field (lower
    case) is in ``wanted`` (``None``: any), keyed by that field: ``C_<field>`` (NanoAOD, any flat
    ntuple), or a member ``C.<field>`` in any layout of this module.  A branch ``C_<field>_NOSYS``
    serves as ``C_<field>`` where the tree has no ``C_<field>``; a flat branch wins over a member.
    ``aliases``: where ``keys`` hold no branch of ``coll``, those of its :data:`COLLECTION_ALIASES`."""
    found = _own_keys(keys, coll, wanted)
    for alias in COLLECTION_ALIASES.get(coll, ()) if aliases and not found else ():
        found = _own_keys(keys, alias, wanted)
        if found:
            break
    return found


def _own_keys(keys: Sequence[str], coll: str, wanted: Optional[set[str] | frozenset[str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for nominal in (False, True):  # the plain branches first
        for k in keys:
            if "/" in k or "." in k:
                continue
            name = nominal_name(k) if nominal else k
            if nominal and name == k:
                continue
            head, field = name[:len(coll) + 1], name[len(coll) + 1:]
            if head == coll + "_" and field and (wanted is None or field.lower() in wanted):
                found.setdefault(field.lower(), k)
    for k in keys:
        split = split_dotted(k)
        if split is not None and split[0] == coll and (wanted is None or split[1].lower() in wanted):
            found.setdefault(split[1].lower(), k)
    return found


def flat_name(key: str, coll: str) -> tuple[str, float]:
    """``(NanoAOD-style name, scale)`` of a branch ``key`` of collection ``coll`` as
    :func:`collection_keys` found it: ``Jet/Jet.PT`` -> ``("Jet_PT", 1)``,
    ``AnalysisJetsAuxDyn.pt`` -> ``("AnalysisJets_pt", 0.001)`` (MeV to GeV), ``el_pt_NOSYS`` ->
    ``("el_pt", 1)``."""
    split = split_dotted(key)
    if split is None or split[0] != coll:
        name = nominal_name(key)
        for alias in COLLECTION_ALIASES.get(coll, ()):  # PFMET_pt read as MET_pt
            if name.startswith(alias + "_"):
                return coll + name[len(alias):], 1.0
        return name, 1.0
    field, xaod = split[1], split[2]
    return f"{coll}_{field}", (1e-3 if xaod and field.lower() in XAOD_MEV_FIELDS else 1.0)


def dotted_collections(keys: Sequence[str]) -> dict[str, set[str]]:
    """The object fields (lower case) of every collection whose branches are members ``C.<field>``."""
    out: dict[str, set[str]] = {}
    for k in keys:
        split = split_dotted(k)
        if split is not None:
            out.setdefault(split[0], set()).add(split[1].lower())
    return out


def detect_layout(names: set[str], tree: Optional[str], has_hzz_branches: bool) -> Optional[str]:
    """The layout (a key of :data:`LAYOUT_TREES`) of a ROOT file with top-level objects ``names``:
    ``tree`` given: ``hzz`` for the tree ``events`` in that layout, else the flat reading of
    ``nanoaod`` (or of the layout whose tree it is); otherwise from the trees, in the order
    ``Events``, ``events``, ``Delphes``, ``CollectionTree``; ``None`` when none is there.
    ``has_hzz_branches``: whether the tree ``events`` has the branches of :data:`HZZ_MARKERS`."""
    if tree is not None:
        if tree == "events":
            return "hzz" if has_hzz_branches else "edm4hep"
        return {"Delphes": "delphes", "CollectionTree": "physlite"}.get(tree, "nanoaod")
    if "Events" in names:
        return "nanoaod"
    if "events" in names:
        return "hzz" if has_hzz_branches else "edm4hep"
    if "Delphes" in names:
        return "delphes"
    if "CollectionTree" in names:
        return "physlite"
    return None


def tree_name(kind: str, tree: Optional[str]) -> str:
    """The tree of the events of a ROOT event file of layout ``kind`` read with the ``tree`` option
    (a parquet file's kind: ``tree``, or ``Events``, unused)."""
    if kind == "hzz" or tree is None:
        return LAYOUT_TREES.get(kind, LAYOUT_TREES["nanoaod"])
    return tree
