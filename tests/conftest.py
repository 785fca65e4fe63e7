"""Jets and small models shared by the model, padded-path, compile and export tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch, Data

# tests/oracles.py (the reference implementations of the fast paths) as ``import oracles``
# (pytest imports test files with --import-mode=importlib, which adds no folder to sys.path).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

F = 7
#: Small but complete configurations (every code path of the published models).
SMALL = {
    "particlenet": dict(blocks=((4, (16, 16)), (5, (32, 32))), fc=((32, 0.1),)),
    "part": dict(embed_dims=(32, 32), pair_embed_dims=(16,), heads=4, num_layers=2, num_cls_layers=2),
}


def _jet(n, seed, label=0):
    g = torch.Generator().manual_seed(seed)
    pt = torch.rand(n, generator=g) * 50 + 1
    pos = torch.randn(n, 2, generator=g) * 0.2
    eta, phi = pos[:, 0], pos[:, 1]
    p4 = torch.stack([pt * eta.cosh(), pt * phi.cos(), pt * phi.sin(), pt * eta.sinh()], 1)
    x = torch.cat([pos, pt.log()[:, None], torch.randn(n, F - 3, generator=g)], 1)
    return Data(x=x, pos=pos, pt=pt, p4=p4, y=torch.tensor([label]))


def _batch_of(sizes, seed=0):
    return Batch.from_data_list([_jet(n, seed + i, i % 2) for i, n in enumerate(sizes)])


def _small_model(name, trained=False):
    """A small registry model in eval mode; ``trained`` gives it non-trivial batch-norm statistics."""
    from pgjets.models import build_model
    from pgjets.ops import knn_graph

    torch.manual_seed(0)
    model = build_model(name, F, 2, **SMALL.get(name, {}))
    if trained:
        model.train()
        b = _batch_of([20, 11, 16], seed=100)
        b.edge_index = knn_graph(b.pos, 5, b.batch)  # for the models on a prebuilt graph (gcn)
        with torch.no_grad():
            model(b)
    return model.eval()


@pytest.fixture()
def batch_of():
    """``batch_of(sizes, seed=0)``: a PyG batch of jets with these particle counts (F = 7 features)."""
    return _batch_of


@pytest.fixture()
def small_model():
    """``small_model(name, trained=False)``: a small registry model in eval mode."""
    return _small_model


def write_jet_folder(folder, n_jets=40, seed=0, nan=False):
    """A small dataset folder (one ``jets.h5`` + ``manifest.json``, labels qcd/top) as ``pgjets generate`` writes."""
    import numpy as np

    from pgjets.data import write_jets, JetTable
    from pgjets.data.jet_io import write_manifest

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    counts = rng.integers(3, 25, n_jets)
    P = int(counts.sum())
    pt = rng.uniform(1, 50, P)
    eta, phi = rng.normal(0, 0.3, P), rng.normal(0, 0.3, P)
    t = JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                 offsets=np.r_[0, np.cumsum(counts)], label=np.arange(n_jets) % 2,
                 pdgid=rng.choice([211, -211, 22, 130, 11], P), label_names=["qcd", "top"])
    write_jets(t, folder / "jets.h5")
    if nan:  # a damaged file: NaN written behind the back of JetTable's checks
        import h5py

        with h5py.File(folder / "jets.h5", "r+") as f:
            f["constituents/px"][P // 2] = np.nan
    write_manifest(folder, {"files": ["jets.h5"], "label_names": ["qcd", "top"]})
    return folder


@pytest.fixture()
def jet_folder(tmp_path):
    """A folder of 40 small synthetic jets (qcd/top) in the ``pgjets generate`` layout."""
    return write_jet_folder(tmp_path / "data")


@pytest.fixture()
def make_jet_folder():
    """``make_jet_folder(folder, n_jets=40, seed=0, nan=False)``: write a small dataset folder."""
    return write_jet_folder


@pytest.fixture()
def debug():
    """Per-layer value checks on (``pgjets.set_debug(True)``) for the test, off afterwards."""
    from pgjets import set_debug

    set_debug(True)
    yield
    set_debug(False)


# ----------------------------------------------------------------------------- JetCLR (models/ and train/)
def _clr_jet(n: int, label: int, g: torch.Generator) -> Data:
    # Class 1 jets are wider than class 0 jets: a simple, learnable difference.
    width = 0.4 if label else 0.1
    pos = width * torch.randn(n, 2, generator=g)
    pt = 1.0 + 100.0 * torch.rand(n, generator=g)
    return Data(x=torch.cat([pos, pt.log().unsqueeze(-1)], -1), pos=pos, pt=pt, y=torch.tensor([label]))


def _clr_batch(num_jets: int = 6, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    sizes = torch.randint(3, 12, (num_jets,), generator=g).tolist()
    return Batch.from_data_list([_clr_jet(n, i % 2, g) for i, n in enumerate(sizes)])


def _clr_encoder(**kw):
    from pgjets.models import JetCLREncoder

    torch.manual_seed(0)
    kw = {"channels": 16, "heads": 2, "num_layers": 2, "out_channels": 8, **kw}
    return JetCLREncoder(**kw)


@pytest.fixture()
def clr():
    """JetCLR test jets: ``clr.jet(n, label, g)``, ``clr.batch(num_jets=6, seed=0)`` (class 1 jets are
    wider) and ``clr.encoder(**kw)`` (a small seeded :class:`~pgjets.models.JetCLREncoder`); one
    intra-op thread while the test runs (the tensors are tiny, threads only add overhead)."""
    from types import SimpleNamespace

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield SimpleNamespace(jet=_clr_jet, batch=_clr_batch, encoder=_clr_encoder)
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def external_sample():
    """``external_sample(name)``: the path of a real event file of ``tests/external_samples.py`` (skipped
    where it was not fetched; a failure under ``PGJETS_REQUIRE_SAMPLES=1``, as ``make test`` runs)."""
    import os

    from external_samples import DIR, FILES

    def get(name: str) -> Path:
        assert name in FILES, name
        path = DIR / name
        if not path.is_file():
            message = f"{name} not fetched: run python tests/external_samples.py"
            if os.environ.get("PGJETS_REQUIRE_SAMPLES"):
                pytest.fail(message)
            pytest.skip(message)
        return path

    return get
