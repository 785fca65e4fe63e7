from __future__ import annotations

import torch
from torch_geometric.loader import DataLoader

from pgjets.data.digits import DigitsGridDataset


def test_digits_as_grid_graphs():
    ds = DigitsGridDataset()
    assert len(ds) == 1797 and ds.num_classes == 10
    d = ds[5]
    assert d.num_nodes == 64 and d.edge_index.size(1) == 2 * (2 * 7 * 8 + 2 * 7 * 7)
    torch.testing.assert_close(d.x.view(8, 8), ds.images[5, 0])
    assert int(d.y) == int(ds.labels[5])
    b = next(iter(DataLoader(ds, batch_size=10)))
    assert b.num_graphs == 10
    sparse = DigitsGridDataset(drop_zeros=True)
    assert sparse[5].num_nodes == int((ds.images[5] > 0).sum())
    tr, va, te = ds.split()
    assert len(tr) + len(va) + len(te) == 1797
