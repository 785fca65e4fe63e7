from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from pgjets.data import DigitsGridDataset
from pgjets.data.digits import random_split_indices


@pytest.fixture(scope="module")
def ds():
    return DigitsGridDataset()


def test_counts_and_graph_contents(ds):
    from sklearn.datasets import load_digits

    raw = load_digits()
    assert len(ds) == 1797 and ds.num_classes == 10
    assert ds.images.shape == (1797, 1, 8, 8) and float(ds.images.max()) == 1.0
    for i in (0, 5, 1796):
        d = ds[i]
        assert d.num_nodes == 64 and d.edge_index.size(1) == 2 * (2 * 7 * 8 + 2 * 7 * 7)
        torch.testing.assert_close(d.x.view(8, 8), torch.tensor(raw.images[i] / 16.0, dtype=torch.float32))
        assert int(d.y) == int(raw.target[i])
        assert d.pos[9].tolist() == [1.0, 1.0]  # row-major pixel 9 = (1, 1)
        src, dst = d.edge_index
        torch.testing.assert_close(d.edge_attr, d.pos[src] - d.pos[dst])
        assert int((d.edge_attr.abs().max(dim=1).values == 1).sum()) == d.edge_index.size(1)
    assert sorted(torch.bincount(ds.labels).tolist())[0] >= 170  # ~180 per digit


def test_options_and_loader(ds):
    four = DigitsGridDataset(connectivity=4, normalize=False)
    assert four[0].edge_index.size(1) == 2 * (2 * 7 * 8)
    assert float(four.images.max()) == 16.0
    sparse = DigitsGridDataset(drop_zeros=True)
    for i in (0, 7):
        assert sparse[i].num_nodes == int((ds.images[i] > 0).sum())
        assert bool((sparse[i].x > 0).all())
    b = next(iter(DataLoader(ds, batch_size=10, shuffle=True)))
    assert b.num_graphs == 10 and b.x.shape == (640, 1) and b.y.shape == (10,)


def test_split(ds):
    tr, va, te = ds.split()
    assert (len(tr), len(va), len(te)) == (1438, 179, 180)
    assert sorted(torch.cat([tr, va, te]).tolist()) == list(range(1797))
    assert torch.equal(ds.split(seed=0)[1], va) and not torch.equal(ds.split(seed=1)[1], va)


@pytest.mark.parametrize("frac", [(0.5, 0.5), (0.6, 0.6, -0.2), (0.5, 0.2, 0.2), (np.nan, 0.5, 0.5)])
def test_bad_split_fractions(frac):
    with pytest.raises(ValueError, match="frac"):
        random_split_indices(10, frac)


def test_bad_inputs():
    with pytest.raises(ValueError, match="connectivity"):
        DigitsGridDataset(connectivity=6)
    with pytest.raises(ValueError, match="num_items"):
        random_split_indices(-1)
    assert [len(p) for p in random_split_indices(0)] == [0, 0, 0]
