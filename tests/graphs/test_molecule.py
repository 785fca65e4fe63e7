from __future__ import annotations

import pytest
import torch

from pgjets.errors import EmptyGraphError, InputShapeError
from pgjets.graphs import InvalidSmilesError, MoleculeToGraph, molecule_to_graph
from pgjets.graphs.molecule import ELEMENTS, HYBRIDISATIONS, NUM_ATOM_FEATURES, NUM_BOND_FEATURES

E = len(ELEMENTS)


def test_phenol_shapes_and_features():
    d = molecule_to_graph("c1ccccc1O", y=0.5)
    assert d.x.shape == (7, NUM_ATOM_FEATURES) == (7, 24)
    assert d.edge_index.shape == (2, 14) and d.edge_attr.shape == (14, NUM_BOND_FEATURES)
    assert d.smiles == "c1ccccc1O" and d.x.dtype == torch.float32
    assert torch.allclose(d.y, torch.tensor([0.5]))
    c0, o = d.x[0], d.x[6]
    assert c0[ELEMENTS.index("C")] == 1 and o[ELEMENTS.index("O")] == 1
    assert c0[:E].sum() == 1
    assert c0[E] == 2 and c0[E + 2] == 1 and c0[E + 3] == 1  # degree 2, aromatic, one H
    assert o[E] == 1 and o[E + 2] == 0 and o[E + 3] == 1  # OH
    assert c0[E + 4 + HYBRIDISATIONS.index("SP2")] == 1
    # ring bonds: aromatic + conjugated + in ring; the C-O bond: single, not in ring
    assert d.edge_attr[0].tolist() == [0, 0, 0, 1, 1, 1]
    co = (d.edge_index[1] == 6).nonzero()[0, 0]
    assert d.edge_attr[co, :4].tolist() == [1, 0, 0, 0] and d.edge_attr[co, 5] == 0
    # both directions, same attributes
    src, dst = d.edge_index
    pairs = {(int(a), int(b)) for a, b in zip(src, dst)}
    assert all((b, a) in pairs for a, b in pairs)
    assert torch.equal(d.edge_attr[0::2], d.edge_attr[1::2])


def test_bond_types_charge_and_other_element():
    assert molecule_to_graph("C=C").edge_attr[0, :4].tolist() == [0, 1, 0, 0]
    acn = molecule_to_graph("CC#N")
    assert acn.edge_attr[2, :4].tolist() == [0, 0, 1, 0]
    assert acn.x[2, E + 4 + HYBRIDISATIONS.index("SP")] == 1
    ion = molecule_to_graph("[Na+].[Cl-]")
    assert ion.edge_index.shape == (2, 0) and ion.edge_attr.shape == (0, 6)
    assert ion.x[0, ELEMENTS.index("other")] == 1 and ion.x[0, E + 1] == 1
    assert ion.x[1, ELEMENTS.index("Cl")] == 1 and ion.x[1, E + 1] == -1


def test_mol_input_and_transform():
    from rdkit import Chem

    d = molecule_to_graph(Chem.MolFromSmiles("OCC"))
    assert d.smiles == "CCO" and d.num_nodes == 3 and d.num_edges == 4
    t = MoleculeToGraph()("CCO")
    assert t.num_nodes == 3


def test_bad_input():
    with pytest.raises(InvalidSmilesError, match="cannot parse"):
        molecule_to_graph("C1CC(")
    with pytest.raises(ValueError):
        molecule_to_graph("not a molecule")
    with pytest.raises(InvalidSmilesError, match="empty"):
        molecule_to_graph("  ")
    with pytest.raises(InputShapeError, match="SMILES string or an rdkit Mol"):
        molecule_to_graph(42)
    from rdkit import Chem

    with pytest.raises(EmptyGraphError):
        molecule_to_graph(Chem.Mol())


def test_transform_on_data_keeps_target():
    from torch_geometric.data import Data

    d = MoleculeToGraph()(Data(smiles="CC(=O)O", y=torch.tensor([1.5])))
    assert d.num_nodes == 4 and d.smiles == "CC(=O)O" and d.y.tolist() == [1.5]
    assert d.edge_attr[:, 1].sum() == 2  # one C=O double bond, both directions
    with pytest.raises(InputShapeError, match="data.smiles"):
        MoleculeToGraph()(Data(x=torch.rand(2, 1)))


def test_nan_targets_and_unsanitised_mols_are_typed_errors():
    from rdkit import Chem

    from pgjets.errors import NonFiniteError
    from pgjets.graphs.molecule import InvalidSmilesError

    for y in (float("nan"), float("inf"), [1.0, float("nan")]):
        with pytest.raises(NonFiniteError, match="y holds"):
            molecule_to_graph("CCO", y=y)
    with pytest.raises(InvalidSmilesError, match="cannot be sanitised"):
        molecule_to_graph(Chem.MolFromSmiles("c1cccc1", sanitize=False))
    # a SMARTS query: sanitising gives it no H counts (CO came out as C with 0 H, sp2), so it is refused
    for smarts in ("c1ccccc1", "CO"):
        with pytest.raises(InvalidSmilesError, match="query molecule"):
            molecule_to_graph(Chem.MolFromSmarts(smarts))
    assert molecule_to_graph("[H]OC").num_nodes == 2  # RDKit's parser folds explicit [H] (documented)
    assert molecule_to_graph(Chem.AddHs(Chem.MolFromSmiles("CO"))).num_nodes == 6
