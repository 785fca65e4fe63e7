from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import global_mean_pool

from pgjets.errors import NonFiniteError
from pgjets.train.trainer import TrainConfig, Trainer


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 16))
        self.out = nn.Linear(16, 2)

    def forward(self, batch):
        return self.out(global_mean_pool(self.phi(batch.x), batch.batch))


def toy_graphs(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for i in range(n):
        y = i % 2
        m = int(torch.randint(3, 9, (1,), generator=g))
        x = torch.randn(m, 3, generator=g) + (0.8 if y else -0.8) * torch.tensor([1.0, 0.0, 0.0])
        graphs.append(Data(x=x, y=torch.tensor([y])))
    return graphs


def make(tmp_path=None, epochs=4, **kw):
    torch.manual_seed(123)
    cfg = TrainConfig(**{**dict(epochs=epochs, batch_size=16, lr=5e-3, progress=False, verbose=False, seed=7), **kw})
    return Trainer(TinyNet(), cfg, out_dir=tmp_path)


def test_learns_and_writes_checkpoints(tmp_path):
    tr = make(tmp_path, monitor="val_auc")
    hist = tr.fit(toy_graphs(), toy_graphs(64, seed=1))
    assert len(hist) == 4
    assert hist[-1]["val_auc"] > 0.9
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert (tmp_path / "checkpoints" / "last.pt").exists()
    assert (tmp_path / "checkpoints" / "best.pt").exists()
    assert json.loads((tmp_path / "history.json").read_text())[-1]["epoch"] == 4
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    train, val = toy_graphs(), toy_graphs(32, seed=1)
    ref = make(None)
    ref.fit(train, val)

    class Killed(RuntimeError):
        pass

    calls = {"n": 0}
    killed = make(tmp_path / "run")
    original = killed.loss_fn

    def dying_loss(out, batch):
        calls["n"] += 1
        if calls["n"] == 6 * 2 + 3:  # in the middle of epoch 3
            raise Killed("simulated kill")
        return original(out, batch)

    killed.loss_fn = dying_loss
    with pytest.raises(Killed):
        killed.fit(train, val)
    assert killed.epoch == 2

    resumed = make(tmp_path / "run")  # a fresh process would build a fresh trainer
    resumed.fit(train, val)
    assert resumed.epoch == 4
    for a, b in zip(ref.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in ref.history] == [h["train_loss"] for h in resumed.history]


def test_early_stopping_stops(tmp_path):
    tr = make(tmp_path, epochs=30, patience=1, monitor="val_loss", lr=0.0)
    # lr = 0: the model never improves after the first epoch
    tr.fit(toy_graphs(32), toy_graphs(16, seed=2))
    assert tr.stopped_early and tr.epoch == 2


def test_onecycle_and_callable_source():
    graphs = toy_graphs(32)
    from torch_geometric.loader import DataLoader

    tr = make(None, epochs=2, schedule="onecycle")
    tr.fit(graphs)
    assert tr.epoch == 2
    tr2 = make(None, epochs=1)
    tr2.fit(lambda epoch: DataLoader(graphs, batch_size=8))
    with pytest.raises(ValueError, match="known number"):
        make(None, epochs=1, schedule="onecycle").fit(lambda e: DataLoader(graphs, batch_size=8))


def test_regression_task():
    graphs = [Data(x=torch.randn(4, 3), y=torch.tensor([float(i % 3)])) for i in range(24)]

    class Reg(TinyNet):
        def forward(self, batch):
            return super().forward(batch)[:, :1]

    tr = Trainer(Reg(), TrainConfig(epochs=2, batch_size=8, task="regression", progress=False))
    tr.fit(graphs, graphs)
    assert "val_mae" in tr.history[-1]


def test_non_finite_loss_is_an_error():
    tr = make(None, epochs=1)
    tr.loss_fn = lambda out, b: out.sum() * float("nan")
    with pytest.raises(NonFiniteError, match="loss"):
        tr.fit(toy_graphs(16))


def test_bad_config():
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="task"):
        TrainConfig(task="ranking")
