from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from pgjets.data.event_dataset import EventDataset, dimuon_z_candidate, read_hzz_events
from pgjets.errors import DataFileError, DataFileNotFoundError


@pytest.fixture(scope="module")
def ds():
    return EventDataset()


def test_counts_and_nodes(ds):
    ev = read_hzz_events(stop=20)
    assert len(ds) == 2421
    for i in range(20):
        n = sum(len(ev[i][c]) for c in ("Muon", "Electron", "Jet", "Photon")) + 1
        assert ds[i].num_nodes == n
        assert ds[i].edge_index.size(1) == n * (n - 1)


def test_labels_match_a_plain_loop(ds):
    ev = read_hzz_events(stop=50)
    for i in range(50):
        mu = ev[i]["Muon"]
        found = False
        for a in range(len(mu)):
            for b in range(a + 1, len(mu)):
                if mu[a].charge * mu[b].charge >= 0:
                    continue
                E = mu[a].E + mu[b].E
                p = [mu[a][c] + mu[b][c] for c in ("px", "py", "pz")]
                m = math.sqrt(max(E * E - sum(v * v for v in p), 0.0))
                found |= 60 < m < 120
        assert int(ds[i].y) == int(found), i
    assert 0.2 < float(ds.batch.y.float().mean()) < 0.8


def test_loader_and_dimuon_mass(ds):
    batch = next(iter(DataLoader(ds, batch_size=16)))
    assert batch.num_graphs == 16 and batch.y.shape == (16,)
    label, mass = dimuon_z_candidate(read_hzz_events(stop=100))
    assert np.all(mass[label == 1] > 60) and np.isfinite(mass).all()


def test_bad_files(tmp_path):
    with pytest.raises(DataFileNotFoundError):
        read_hzz_events(tmp_path / "missing.root")
    bad = tmp_path / "bad.root"
    bad.write_bytes(b"not a root file")
    with pytest.raises(DataFileError):
        read_hzz_events(bad)
    import uproot

    with uproot.recreate(tmp_path / "other.root") as f:
        f["events"] = {"NMuon": np.zeros(3, dtype=np.int32)}
    with pytest.raises(DataFileError, match="lacks branches"):
        read_hzz_events(tmp_path / "other.root")
    with pytest.raises(ValueError, match="label"):
        EventDataset(label="higgs")
