r"""Molecules (SMILES or RDKit ``Mol``) to graphs.

Atoms are nodes and every bond gives the two directed edges
:math:`u \to v` and :math:`v \to u`.  Node features, in this order:

.. math::
    \mathbf{x}_a = \big[\,\mathrm{onehot}(\text{element}) \,\|\,
    \deg(a) \,\|\, q_a \,\|\, [a \text{ aromatic}] \,\|\, n_H(a) \,\|\,
    \mathrm{onehot}(\text{hybridisation})\,\big]

with the elements of :data:`ELEMENTS` (14 slots, the last one ``'other'``),
degree (RDKit's ``GetDegree``: bonds to the atoms that are nodes, so heavy atoms only unless the
hydrogens are explicit; PyG's ``from_smiles`` uses ``GetTotalDegree``, hydrogens included), formal
charge, aromatic flag, total number of hydrogens (0 on an atom whose hydrogens are nodes of their
own, after ``Chem.AddHs``) and the
hybridisations of :data:`HYBRIDISATIONS` (6 slots, the last one ``'other'``):
:data:`NUM_ATOM_FEATURES` = 24 floats.  Stereochemistry is not encoded: the two enantiomers of a
chiral molecule (``C[C@H](N)C(=O)O``, ``C[C@@H](N)C(=O)O``) and cis/trans isomers give the same
graph.  Edge features:

.. math::
    \mathbf{e}_{uv} = \big[\,\mathrm{onehot}(\text{single, double, triple,
    aromatic}) \,\|\, [\text{conjugated}] \,\|\, [\text{in ring}]\,\big]

(:data:`NUM_BOND_FEATURES` = 6 floats).  RDKit is imported lazily (extra
``chem``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch_geometric.data import Data
from torch_geometric.data.data import BaseData
from torch_geometric.transforms import BaseTransform

from .._checks import check_nonempty, require
from ..errors import InputShapeError
from .cloud import _labels

#: Element slots of the atom one-hot; anything else goes to ``'other'``.
ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se", "other")
#: Hybridisation slots (RDKit names); anything else goes to ``'other'``.
HYBRIDISATIONS: tuple[str, ...] = ("SP", "SP2", "SP3", "SP3D", "SP3D2", "other")
#: Bond-type slots of the edge one-hot.
BOND_TYPES: tuple[str, ...] = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
NUM_ATOM_FEATURES = len(ELEMENTS) + 4 + len(HYBRIDISATIONS)
NUM_BOND_FEATURES = len(BOND_TYPES) + 2


class InvalidSmilesError(InputShapeError):
    """A SMILES string that RDKit cannot parse (a ``ValueError`` too)."""


def _slot(value: str, table: tuple[str, ...]) -> int:
    return table.index(value) if value in table else len(table) - 1


def _atom_features(atom: Any) -> list[float]:
    feats = [0.0] * NUM_ATOM_FEATURES
    feats[_slot(atom.GetSymbol(), ELEMENTS)] = 1.0
    base = len(ELEMENTS)
    feats[base] = float(atom.GetDegree())
    feats[base + 1] = float(atom.GetFormalCharge())
    feats[base + 2] = float(atom.GetIsAromatic())
    feats[base + 3] = float(atom.GetTotalNumHs())
    feats[base + 4 + _slot(str(atom.GetHybridization()), HYBRIDISATIONS)] = 1.0
    return feats


def _bond_features(bond: Any) -> list[float]:
    feats = [0.0] * NUM_BOND_FEATURES
    kind = str(bond.GetBondType())
    if kind in BOND_TYPES:  # dative/other bonds leave the one-hot empty
        feats[BOND_TYPES.index(kind)] = 1.0
    feats[len(BOND_TYPES)] = float(bond.GetIsConjugated())
    feats[len(BOND_TYPES) + 1] = float(bond.IsInRing())
    return feats


def _to_mol(smiles_or_mol: Any) -> tuple[Any, str]:
    chem = require("rdkit.Chem", "chem", "molecule graphs")
    rdlogger = require("rdkit.RDLogger", "chem", "molecule graphs")  # the error says it: no log lines
    if isinstance(smiles_or_mol, str):
        if not smiles_or_mol.strip():
            raise InvalidSmilesError("SMILES string is empty")
        rdlogger.DisableLog("rdApp.*")
        try:
            mol = chem.MolFromSmiles(smiles_or_mol)
        finally:
            rdlogger.EnableLog("rdApp.*")
        if mol is None:
            raise InvalidSmilesError(f"RDKit cannot parse or sanitise the SMILES string {smiles_or_mol!r} "
                                     "(a syntax error, or valences RDKit refuses)")
        return mol, smiles_or_mol
    if isinstance(smiles_or_mol, chem.Mol):
        if any(atom.HasQuery() for atom in smiles_or_mol.GetAtoms()):
            raise InvalidSmilesError(
                "the RDKit Mol is a query molecule (Chem.MolFromSmarts): its atoms are patterns without "
                "hydrogen counts, hybridisation or aromaticity, and sanitising does not give them; "
                "build the molecule from SMILES (Chem.MolFromSmiles)")
        mol = chem.Mol(smiles_or_mol)  # a copy: the caller's Mol is not changed
        rdlogger.DisableLog("rdApp.*")
        try:  # an unsanitised Mol (MolFromSmiles(sanitize=False)) has no valences or H counts yet
            chem.SanitizeMol(mol)
        except Exception as exc:  # rdkit's MolSanitizeException, AtomValenceException, ...
            raise InvalidSmilesError(f"the RDKit Mol cannot be sanitised (Chem.SanitizeMol): {exc}") from exc
        finally:
            rdlogger.EnableLog("rdApp.*")
        return mol, chem.MolToSmiles(mol)
    raise InputShapeError(
        f"molecule must be a SMILES string or an rdkit Mol, got {type(smiles_or_mol).__name__}"
    )


def molecule_to_graph(smiles_or_mol: Any, y: Any = None) -> Data:
    r"""A molecule to a graph of atoms and (bidirectional) bonds.

    .. math::
        \mathcal{E} = \{(u \to v), (v \to u) : \{u, v\} \text{ a bond}\}

    Hydrogens are implicit (counted in :math:`n_H`).  RDKit's SMILES parser
    already folds explicit ``[H]`` atoms into their neighbours (``"[H]OC"`` has
    2 nodes); only hydrogens it keeps (isotopes such as ``[2H]``, ``[H][H]``)
    are nodes.  For all-atom graphs pass ``Chem.AddHs(Chem.MolFromSmiles(s))``:
    the hydrogens of a ``Mol`` are kept.  A ``Mol`` is sanitised (on a copy)
    first.

    Args:
        smiles_or_mol: SMILES string or ``rdkit.Chem.Mol``.
        y: Optional target (stored as a 1-D tensor).

    Returns:
        ``Data`` with ``x``, ``edge_index``, ``edge_attr`` and ``smiles``
        (the input string, or the canonical SMILES of a ``Mol``).

    Raises:
        InvalidSmilesError: unparsable or empty SMILES, or a ``Mol`` RDKit cannot
            sanitise (an ``InputShapeError`` and ``ValueError``).
        NonFiniteError: a NaN or infinite ``y``.
        EmptyGraphError: a molecule with no atoms.
        MissingExtraError: RDKit is not installed.

    Shapes:
        - **output:** ``x`` :math:`(N, 24)`, ``edge_index`` :math:`(2, 2B)`,
          ``edge_attr`` :math:`(2B, 6)` for :math:`N` atoms and :math:`B` bonds
    """
    mol, smiles = _to_mol(smiles_or_mol)
    check_nonempty(mol.GetNumAtoms(), f"molecule {smiles!r}")
    x = torch.tensor([_atom_features(a) for a in mol.GetAtoms()], dtype=torch.get_default_dtype())
    src, dst, attrs = [], [], []
    for bond in mol.GetBonds():
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = _bond_features(bond)
        src += [u, v]
        dst += [v, u]
        attrs += [f, f]
    edge_index = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    edge_attr = torch.tensor(attrs, dtype=torch.get_default_dtype()).view(-1, NUM_BOND_FEATURES)
    data = Data(x=x, edge_index=edge_index, edge_attr=edge_attr, smiles=smiles)
    if y is not None:
        data.y = _labels(y)
    return data


class MoleculeToGraph(BaseTransform):
    r"""Transform a SMILES string or RDKit ``Mol`` into a graph
    (see :func:`molecule_to_graph`).

    A ``Data`` holding ``data.smiles`` (or ``data.mol``) is accepted too; its
    other attributes (e.g. the target ``y``) are copied to the output graph.

    Shapes:
        - **output:** ``x`` :math:`(N, 24)`, ``edge_index`` :math:`(2, 2B)`,
          ``edge_attr`` :math:`(2B, 6)`

    .. math::
        \mathcal{E} = \{(u \to v), (v \to u) : \{u, v\} \text{ a bond}\}
    """

    def forward(self, data: Any) -> Data:
        if not isinstance(data, BaseData):
            return molecule_to_graph(data)
        key = "mol" if "mol" in data else "smiles"
        if key not in data:
            raise InputShapeError("MoleculeToGraph needs a SMILES/Mol or a Data with data.smiles")
        out = molecule_to_graph(data[key])
        for name, value in data.items():
            if name != "mol" and name not in out:
                out[name] = value
        return out


__all__ = [
    "ELEMENTS", "HYBRIDISATIONS", "BOND_TYPES", "NUM_ATOM_FEATURES", "NUM_BOND_FEATURES",
    "InvalidSmilesError", "molecule_to_graph", "MoleculeToGraph",
]
