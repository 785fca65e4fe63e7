from __future__ import annotations

import pytest
import torch
from torch_geometric.loader import DataLoader

from pgjets.data.molecule_dataset import MoleculeDataset, random_split_indices


@pytest.mark.parametrize("name,n", [("freesolv", 642), ("esol", 1282)])
def test_counts_and_targets(name, n):
    ds = MoleculeDataset(name)
    assert len(ds) == n and not ds.skipped
    d = ds[0]
    assert d.y.shape == (1,) and d.x.size(1) == ds.num_features
    assert d.edge_index.size(1) % 2 == 0
    assert torch.isfinite(ds.targets).all()
    b = next(iter(DataLoader(ds, batch_size=32)))
    assert b.y.shape == (32,)


def test_split_and_errors():
    ds = MoleculeDataset("freesolv", limit=50)
    tr, va, te = ds.split(seed=1)
    assert len(tr) + len(va) + len(te) == 50
    assert set(torch.cat([tr, va, te]).tolist()) == set(range(50))
    assert torch.equal(ds.split(seed=1)[0], tr)
    with pytest.raises(ValueError, match="unknown"):
        MoleculeDataset("qm9")
    with pytest.raises(ValueError, match="frac"):
        random_split_indices(10, (0.5, 0.5, 0.5))
