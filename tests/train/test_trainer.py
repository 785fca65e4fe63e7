from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.nn import global_mean_pool

from pgjets.errors import (
    CheckpointError, DiskFullError, GraphSizeError, NonFiniteError, SettingsMismatchError,
)
from pgjets.train import TrainConfig, Trainer, load_checkpoint_file
from pgjets.train.trainer import CHECKPOINT_MAGIC


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


@pytest.mark.parametrize("damage", ["truncate", "random", "flip", "plain_torch_save"])
def test_damaged_checkpoint_is_refused_with_its_path(tmp_path, damage):
    make(tmp_path, epochs=1).fit(toy_graphs(32))
    path = tmp_path / "checkpoints" / "last.pt"
    data = bytearray(path.read_bytes())
    assert data.startswith(CHECKPOINT_MAGIC)
    if damage == "truncate":
        path.write_bytes(bytes(data[: len(data) - 7]))
    elif damage == "random":
        path.write_bytes(torch.randint(0, 256, (len(data),), generator=torch.Generator().manual_seed(0))
                         .to(torch.uint8).numpy().tobytes())
    elif damage == "flip":
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
    else:  # an unchecked file where a checkpoint should be
        torch.save({"model": TinyNet().state_dict()}, path)
    with pytest.raises(CheckpointError, match=str(path)):
        make(tmp_path, epochs=2).fit(toy_graphs(32))
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint_file(path)


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    make(tmp_path, epochs=1).fit(toy_graphs(32))
    with pytest.raises(SettingsMismatchError, match="lr 0.005 -> 0.01"):
        make(tmp_path, epochs=1, lr=0.01).fit(toy_graphs(32))
    tr = Trainer(TinyNet(), TrainConfig(epochs=1, batch_size=16, lr=5e-3, progress=False, verbose=False, seed=7),
                 out_dir=tmp_path, settings={"data": "/other"})
    tr.load_checkpoint()  # the checkpoint records no run settings: the TrainConfig matches
    state = load_checkpoint_file(tmp_path / "checkpoints" / "last.pt")
    state["settings"] = {"data": "/mine"}
    with pytest.raises(SettingsMismatchError, match="data '/mine' -> '/other'"):
        tr.check_settings(state)
    # progress bars, printing and the device are not settings
    make(tmp_path, epochs=1, verbose=True, progress=True, device="cpu").fit(toy_graphs(32))


def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    import pgjets._atomic as atomic

    tr = make(tmp_path, epochs=2)
    tr.fit(toy_graphs(32))
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(DiskFullError, match=f"no space left on {tmp_path / 'checkpoints'}"):
        tr.save_checkpoint()
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    assert not list(tmp_path.rglob(".*tmp*"))


class GraphBatchNormNet(TinyNet):
    """BatchNorm over graph-level features: it cannot normalise a batch of one graph in training."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(16)

    def forward(self, batch):
        return self.out(self.norm(global_mean_pool(self.phi(batch.x), batch.batch)))


def test_batch_of_one_graph_is_skipped_for_batchnorm_and_a_clear_error_when_nothing_is_left():
    cfg = dict(epochs=1, batch_size=8, progress=False, verbose=False)
    tr = Trainer(GraphBatchNormNet(), TrainConfig(**cfg))
    seen = []
    real = tr.loss_fn
    tr.loss_fn = lambda out, b: seen.append(b.num_graphs) or real(out, b)
    tr.fit(toy_graphs(17))  # 8 + 8 + 1: the last batch of one jet is skipped
    assert sorted(seen) == [8, 8]
    tr = Trainer(TinyNet(), TrainConfig(**cfg))  # no BatchNorm: nothing is skipped
    seen.clear()
    real = tr.loss_fn
    tr.loss_fn = lambda out, b: seen.append(b.num_graphs) or real(out, b)
    tr.fit(toy_graphs(17))
    assert sorted(seen) == [1, 8, 8]
    with pytest.raises(GraphSizeError, match="single graph.*at least 2 training graphs"):
        Trainer(GraphBatchNormNet(), TrainConfig(**cfg)).fit(toy_graphs(1))
    # batch_size=1 is taken as asked: fine for BatchNorm over nodes, a clear error over graphs
    with pytest.raises(GraphSizeError, match="1 graph.*single value per channel"):
        Trainer(GraphBatchNormNet(), TrainConfig(**{**cfg, "batch_size": 1})).fit(toy_graphs(4))
    net = TinyNet()
    net.phi.insert(0, nn.BatchNorm1d(3))  # BatchNorm over the nodes of one jet works
    Trainer(net, TrainConfig(**{**cfg, "batch_size": 1})).fit(toy_graphs(4))


def test_batchnorm_on_one_value_per_channel_is_a_clear_error():
    class BatchSummaryNorm(TinyNet):  # normalises one batch-wide summary row: BatchNorm cannot
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.BatchNorm1d(16)

        def forward(self, batch):
            h = global_mean_pool(self.phi(batch.x), batch.batch)
            return self.out(h + self.norm(h.mean(0, keepdim=True)))

    with pytest.raises(GraphSizeError, match="8 graph.*single value per channel at epoch 1"):
        Trainer(BatchSummaryNorm(), TrainConfig(epochs=1, batch_size=8, progress=False, verbose=False)).fit(
            toy_graphs(16))


def test_deterministic_algorithms_block_restores_the_setting():
    from pgjets.train import deterministic_algorithms

    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    with deterministic_algorithms():
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    assert (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) == before
    with deterministic_algorithms(False):
        assert torch.are_deterministic_algorithms_enabled() == before[0]


def test_gradients_of_gathers_are_bit_identical_on_several_threads():
    """The backward of ``x[index]`` (index_put_ with accumulation) adds in a thread-dependent order on
    CPU: ParticleNet's edge MLP gathers with index_select, and Trainer.fit trains in deterministic mode."""
    from pgjets.nn import EdgeConvBlock
    from pgjets.train import deterministic_algorithms

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        idx = torch.randint(0, 3000, (21000,), generator=g)
        src = torch.randn(21000, 64, generator=g)
        x = torch.randn(3000, 64, generator=g, requires_grad=True)

        def grad(fn):
            x.grad = None
            (fn() * src).sum().backward()
            return x.grad.clone()

        with deterministic_algorithms():
            first = grad(lambda: x[idx])
            assert all(torch.equal(first, grad(lambda: x[idx])) for _ in range(6))
        torch.manual_seed(0)
        block = EdgeConvBlock(64, (64, 64), k=8)
        edges = torch.stack([idx, torch.randint(0, 3000, (21000,), generator=g)])
        ref = grad(lambda: block.edge_mlp_first(x, edges)[:, :64])
        assert all(torch.equal(ref, grad(lambda: block.edge_mlp_first(x, edges)[:, :64])) for _ in range(6))
    finally:
        torch.set_num_threads(threads)


class TinyRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def forward(self, batch):
        return self.lin(global_mean_pool(batch.x, batch.batch)).view(-1)


def toy_regression(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randn(4, 3, generator=g)
        out.append(Data(x=x, y=torch.tensor([float(x.mean(0) @ torch.tensor([1.0, -2.0, 0.5]))])))
    return out


def test_error_monitors_are_minimised_and_best_follows_the_smallest(tmp_path):
    assert not TrainConfig(monitor="val_mae").maximise
    assert not TrainConfig(monitor="val_loss").maximise
    assert TrainConfig(monitor="val_auc").maximise
    assert TrainConfig(monitor="val_mae", monitor_mode="max").maximise
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=5, batch_size=8, lr=3e-2, task="regression", monitor="val_mae", schedule="none",
                      progress=False, verbose=False)
    tr = Trainer(TinyRegressor(), cfg, out_dir=tmp_path)
    hist = tr.fit(toy_regression(), toy_regression(32, seed=1))
    maes = [h["val_mae"] for h in hist]
    assert maes[-1] < maes[0]  # it learns; the best checkpoint is the epoch of the smallest MAE
    best = load_checkpoint_file(tmp_path / "checkpoints" / "best.pt")
    assert best["epoch"] == 1 + maes.index(min(maes)) != 1


def test_unknown_monitor_is_refused_before_training():
    from pgjets.errors import UsageError

    with pytest.raises(UsageError, match="val_acc"):
        make(None, monitor="val_acc")
    with pytest.raises(UsageError, match="val_mae"):
        make(None, monitor="val_auc", task="regression")
    with pytest.raises(ValueError, match="monitor_mode"):
        TrainConfig(monitor_mode="lowest")
    make(None, monitor="val_rej@0.3")  # accepted


def test_custom_loss_fn_is_the_validation_loss():
    class OneLogit(TinyNet):
        def __init__(self) -> None:
            super().__init__()
            self.out = nn.Linear(16, 1)

    def bce(out, batch):
        return nn.functional.binary_cross_entropy_with_logits(out.view(-1), batch.y.float())

    torch.manual_seed(0)
    tr = Trainer(OneLogit(), TrainConfig(epochs=1, batch_size=16, progress=False, verbose=False), loss_fn=bce)
    val = toy_graphs(40, seed=1)
    hist = tr.fit(toy_graphs(), val)
    out, y = tr.predict(val)
    want = float(nn.functional.binary_cross_entropy_with_logits(out.view(-1), y.float()))
    assert hist[0]["val_loss"] == pytest.approx(want, rel=1e-5)
    assert 0.0 <= hist[0]["val_auc"] <= 1.0


def test_history_records_the_rate_each_epoch_trained_with():
    tr = make(None, epochs=3, lr=0.01, schedule="cosine")
    hist = tr.fit(toy_graphs(32), toy_graphs(16, seed=1))
    assert [h["lr"] for h in hist] == pytest.approx([0.01, 0.0075, 0.0025])


def test_ddp_shares_use_full_batches_refuse_empty_shares_and_other_world_sizes():
    """No process group needed: the sharding and the checks read world_size and rank only."""

    class BN(TinyNet):
        def __init__(self) -> None:
            super().__init__()
            self.phi = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU())

    tr = Trainer(BN(), TrainConfig(epochs=1, batch_size=8, progress=False, verbose=False), distributed=False)
    tr.world_size, tr.rank = 2, 1
    data = toy_graphs(57)  # 7 full batches and one of a single graph, which a BatchNorm rank would skip
    for rank in (0, 1):
        tr.rank = rank
        sizes = [b.num_graphs for b in tr._train_batches(data, 0)]
        assert sizes == [8, 8, 8]  # 7 full batches dealt out, 3 each: equal steps, no lone graph
    tr.config.batch_size = 64
    with pytest.raises(GraphSizeError, match="no full batch"):
        tr.fit(data)
    state = make(None).state_dict()
    tr2 = make(None)
    tr2.world_size = 2
    with pytest.raises(SettingsMismatchError, match="world_size"):
        tr2.check_settings(state)


def test_a_one_class_validation_set_names_the_problem():
    from pgjets.errors import InputShapeError

    graphs = toy_graphs(32)
    one_class = [g for g in graphs if int(g.y) == 1][:3]
    with pytest.raises(InputShapeError, match=r"validation data \(3 graphs\) hold only class \[1\]"):
        make(epochs=1).fit(graphs, one_class)


def test_resuming_under_another_cpu_thread_count_warns(tmp_path, monkeypatch):
    import warnings

    from pgjets.errors import PgjetsWarning

    real = Trainer.train_epoch

    def interrupted(folder):
        def stop_in_epoch_2(self, data):
            if self.epoch == 1:
                raise KeyboardInterrupt
            return real(self, data)

        monkeypatch.setattr(Trainer, "train_epoch", stop_in_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            make(folder, epochs=2).fit(toy_graphs(32))
        monkeypatch.setattr(Trainer, "train_epoch", real)

    threads = torch.get_num_threads()
    interrupted(tmp_path)
    assert load_checkpoint_file(tmp_path / "checkpoints" / "last.pt")["num_threads"] == threads
    other = 1 if threads > 1 else 2
    try:
        torch.set_num_threads(other)
        with pytest.warns(PgjetsWarning, match=f"written with {threads} CPU threads, this process has {other}"):
            make(tmp_path, epochs=2).fit(toy_graphs(32))
        with warnings.catch_warnings():  # finished: nothing goes on, nothing to warn about
            warnings.simplefilter("error", PgjetsWarning)
            make(tmp_path, epochs=2).fit(toy_graphs(32))
    finally:
        torch.set_num_threads(threads)
    interrupted(tmp_path / "b")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PgjetsWarning)
        make(tmp_path / "b", epochs=2).fit(toy_graphs(32))  # the same threads: silent


def test_history_json_is_strict_json(tmp_path):
    """``val_rej@0.3`` is infinite when no background passes: history.json held a bare Infinity,
    which strict parsers (jq, JavaScript) refuse."""
    tr = make(tmp_path, epochs=1)
    tr.fit(toy_graphs(32))
    tr.history[0]["val_rej@0.3"] = float("inf")
    tr.save_checkpoint()
    text = (tmp_path / "history.json").read_text()
    assert "Infinity" not in text
    record = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}"))[0]
    assert record["val_rej@0.3"] is None and record["epoch"] == 1


def test_validation_rejections_follow_the_signal_class(tmp_path):
    """``signal_class=0``: the validation rej@ are those of class 0 as the signal (they were always class 1's);
    a checkpoint written before the field existed resumes as signal_class 1, its default."""
    from pgjets.train import classification_report

    val = toy_graphs(64, seed=1)
    tr = make(tmp_path, epochs=1, signal_class=0)
    hist = tr.fit(toy_graphs(), val)
    out, y = tr.predict(val)
    want = classification_report(out, y.view(-1), signal=0)
    other = classification_report(out, y.view(-1), signal=1)
    assert hist[-1]["val_rej@0.3"] == pytest.approx(want["rej@0.3"])
    assert want["rej@0.3"] != other["rej@0.3"] or want["rej@0.5"] != other["rej@0.5"]  # the test can fail
    old = tmp_path / "old"
    make(old, epochs=1).fit(toy_graphs(), val)
    state = load_checkpoint_file(old / "checkpoints" / "last.pt")
    del state["config"]["signal_class"]  # as written before signal_class existed
    make(old, epochs=1).check_settings(state)  # no SettingsMismatchError: the default
    with pytest.raises(SettingsMismatchError, match="signal_class 1 -> 0"):
        make(old, epochs=1, signal_class=0).check_settings(state)


def test_event_weights_weigh_the_loss_and_the_validation_metrics():
    """Graphs with ``weight`` (event weights): the default loss is mean(w * CE), the validation metrics are
    weighted; graphs of weight 0 teach nothing (flipped labels at weight 0 leave the tagger intact)."""
    from pgjets.train import classification_report, graph_weights
    from torch_geometric.data import Batch

    def weighted(graphs, w):
        return [Data(x=g.x, y=g.y, weight=torch.tensor([float(wi)])) for g, wi in zip(graphs, w)]

    train = toy_graphs()
    flipped = [Data(x=g.x, y=1 - g.y) for g in toy_graphs(96, seed=5)]  # wrong labels
    val = toy_graphs(64, seed=1)
    val_w = torch.rand(64, generator=torch.Generator().manual_seed(0)) * 2
    ignored = make(epochs=4).fit(weighted(train + flipped, [1.0] * 96 + [0.0] * 96), val)[-1]["val_auc"]
    poisoned = make(epochs=4).fit(weighted(train + flipped, [1.0] * 192), val)[-1]["val_auc"]
    assert ignored > 0.9 and poisoned < 0.75

    tr = make(epochs=1)
    batch = Batch.from_data_list(weighted(val, val_w))
    assert torch.equal(graph_weights(batch), val_w) and graph_weights(Batch.from_data_list(val)) is None
    out = tr.model(batch)
    want = (nn.functional.cross_entropy(out, batch.y, reduction="none") * val_w).mean()
    assert torch.allclose(tr.loss_fn(out, batch), want)
    assert torch.equal(tr.loss_fn(out, Batch.from_data_list(val)), nn.functional.cross_entropy(out, batch.y))
    metrics = tr.evaluate(weighted(val, val_w))
    logits, y = tr.predict(val)
    report = classification_report(logits, y.view(-1), sample_weight=val_w)
    assert metrics["val_auc"] == pytest.approx(report["auc"]) and metrics["val_rej@0.3"] == pytest.approx(report["rej@0.3"])
    assert metrics["val_auc"] != pytest.approx(tr.evaluate(val)["val_auc"])
    ce = nn.functional.cross_entropy(logits, y.view(-1), reduction="none")
    assert metrics["val_loss"] == pytest.approx(float((ce * val_w).mean()))


@pytest.mark.parametrize("kill_after", ["best.pt", "history.json", "last.pt"])
def test_a_kill_between_the_checkpoint_writes_resumes_to_the_same_best_checkpoint(tmp_path, monkeypatch, kill_after):
    """last.pt is written last: a kill after best.pt (or history.json) of the last, improving epoch resumes
    from the epoch before and rewrites them. With last.pt first, a kill right after it left best.pt at an
    older epoch, and the resumed run (complete) scored that (an outside reproducibility audit found it)."""
    import pgjets.train.trainer as trainer_module

    train, val = toy_graphs(), toy_graphs(32, seed=1)
    ref = make(tmp_path / "ref", monitor="val_loss")
    ref.fit(train, val)
    losses = [h["val_loss"] for h in ref.history]
    assert all(b < a for a, b in zip(losses, losses[1:]))  # every epoch improves: best.pt is written 4 times

    class Killed(BaseException):
        pass

    run = tmp_path / "run"
    writes = {"n": 0}
    saves = {"torch": trainer_module.atomic_torch_save, "text": trainer_module.atomic_write_text}

    def dying(kind):
        def write(a, b):  # atomic_torch_save(obj, path), atomic_write_text(path, text)
            saves[kind](a, b)
            if Path(b if kind == "torch" else a).name == kill_after:
                writes["n"] += 1
                if writes["n"] == 4:  # in the last epoch's save
                    raise Killed()
        return write

    monkeypatch.setattr(trainer_module, "atomic_torch_save", dying("torch"))
    monkeypatch.setattr(trainer_module, "atomic_write_text", dying("text"))
    with pytest.raises(Killed):
        make(run, monitor="val_loss").fit(train, val)
    monkeypatch.undo()
    make(run, monitor="val_loss").fit(train, val)
    for name in ("best.pt", "last.pt"):
        got = load_checkpoint_file(run / "checkpoints" / name)
        want = load_checkpoint_file(tmp_path / "ref" / "checkpoints" / name)
        assert got["epoch"] == want["epoch"], name
        for a, b in zip(got["model"].values(), want["model"].values()):
            assert torch.equal(a, b), name
    assert json.loads((run / "history.json").read_text()) == json.loads((tmp_path / "ref" / "history.json").read_text())
