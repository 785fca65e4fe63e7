"""DDP on CPU with gloo: 2 processes train like one process with the same global batch."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.nn import global_mean_pool

from pgjets.train import TrainConfig, Trainer


class Net(nn.Module):  # no dropout, no batch norm: per-rank statistics would differ by design
    def __init__(self) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 16))
        self.out = nn.Linear(16, 2)

    def forward(self, b):
        return self.out(global_mean_pool(self.phi(b.x), b.batch))


def graphs():
    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(64):
        x = torch.randn(5, 3, generator=g) + (0.7 if i % 2 else -0.7)
        out.append(Data(x=x, y=torch.tensor([i % 2])))
    return out


def config(batch_size):
    return TrainConfig(epochs=2, batch_size=batch_size, lr=1e-2, schedule="none", progress=False,
                       verbose=False, seed=3, grad_clip=1.0)


def _worker(rank: int, world: int, tmp: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        trainer = Trainer(Net(), config(8), out_dir=os.path.join(tmp, "run"))
        trainer.fit(graphs())
        torch.save({k: v.clone() for k, v in trainer.module.state_dict().items()}, os.path.join(tmp, f"rank{rank}.pt"))
        torch.save(trainer.history, os.path.join(tmp, f"hist{rank}.pt"))
        dist.barrier()  # no rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_match_single_process_with_the_same_global_batch(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k  # replicas stay identical
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()  # written by rank 0

    # single process: batch i = the union of the two ranks' i-th batches
    data = graphs()
    cfg = config(8)

    def paired(epoch):
        loader = DataLoader(data, batch_size=8, shuffle=True,
                            generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch))
        parts = list(loader)
        return [Batch.from_data_list(parts[i].to_data_list() + parts[i + 1].to_data_list())
                for i in range(0, len(parts) - 1, 2)]

    torch.manual_seed(0)
    single = Trainer(Net(), cfg)
    single.fit(paired)
    for k, v in single.module.state_dict().items():
        torch.testing.assert_close(v, w0[k], atol=1e-5, rtol=1e-4)
    h0 = torch.load(tmp_path / "hist0.pt")
    assert h0[-1]["train_loss"] == pytest.approx(single.history[-1]["train_loss"], rel=1e-4)


@pytest.mark.slow
def test_cli_ddp_under_torchrun(tmp_path):
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun")
    assert torchrun is not None, "torchrun comes with torch"
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "pgjets.cli", "train", "--ddp", "--model", "pfn", "--generate", "30", "--epochs", "1",
           "--batch-size", "8", "--workers", "1", "--no-progress", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "DDP: 2 processes" in res.stdout and "test: AUC" in res.stdout
    assert (run / "checkpoints" / "last.pt").exists() and (run / "metrics.json").exists()


@pytest.mark.slow
def test_cli_ddp_share_smaller_than_a_batch_is_refused_before_writing(jet_folder, tmp_path):
    """40 jets: 24 train, 12 per process, fewer than a batch of 16: refused with the share named and
    nothing written, so the corrected command (a smaller batch) runs in the same folder."""
    import subprocess
    import sys

    run = tmp_path / "run"

    def train(batch_size: int):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "pgjets.cli", "train", "--ddp", "--model", "deepsets", "--data", str(jet_folder), "--epochs",
               "1", "--batch-size", str(batch_size), "--device", "cpu", "--no-progress", "--out", str(run)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    res = train(16)
    assert res.returncode != 0
    want = "--batch-size 16: each of the 2 processes gets no full batch of 16 graphs per epoch (12 of the 24"
    assert want in res.stderr
    assert not (run / "config.yaml").exists() and not (run / "split.npz").exists()
    res = train(4)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]


_SLOW_GENERATION = """
import datetime, sys, time
import torch.distributed as dist
init = dist.init_process_group
def short(*a, **k):  # the default group gives up after 5 s (30 min by default)
    k.setdefault("timeout", datetime.timedelta(seconds=5))
    return init(*a, **k)
dist.init_process_group = short
import pgjets.data.generate as g
generate = g.generate_dataset
def slow(*a, **k):  # rank 0's generation outlasts that
    time.sleep(12)
    return generate(*a, **k)
g.generate_dataset = slow
from pgjets.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_cli_ddp_ranks_outwait_a_generation_longer_than_the_group_timeout(tmp_path):
    """The ranks that wait while rank 0 generates (--generate) wait in a group of their own, not in the
    default group whose timeout (30 min) a large generation would exceed (they died in the barrier)."""
    import subprocess
    import sys

    script = tmp_path / "slow_generation.py"
    script.write_text(_SLOW_GENERATION)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
           "train", "--ddp", "--model", "deepsets", "--generate", "30", "--epochs", "1", "--batch-size", "8",
           "--workers", "1", "--no-progress", "--out", str(tmp_path / "run")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "test: AUC" in res.stdout


@pytest.mark.slow
def test_cli_ddp_busy_run_folder_is_refused_by_every_rank_without_a_gloo_traceback(jet_folder, tmp_path):
    """Rank 0 takes the folder lock and tells the others: a busy --out gives every rank the same line
    (the other ranks died in gloo's "connection closed" traceback when rank 0 left)."""
    import subprocess
    import sys

    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pgjets._lock import folder_lock\n"
                               "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)",
                               str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "pgjets.cli", "train", "--ddp", "--model", "deepsets", "--data", str(jet_folder), "--epochs",
               "1", "--batch-size", "4", "--device", "cpu", "--no-progress", "--out", str(run)]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    finally:
        holder.kill()
        holder.wait()
    assert res.returncode != 0
    assert res.stderr.count("another process is training in") == 2, res.stderr[-3000:]
    # (torchrun's own ChildFailedError report follows; no rank died in a collective)
    assert not any(w in res.stderr for w in ("Connection closed", "DistBackendError", "RuntimeError", "gloo"))
    assert not (run / "config.yaml").exists()


def test_ddp_flag_without_torchrun_is_a_clear_error(monkeypatch):
    from pgjets.train import init_from_env

    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="torchrun") as info:
        init_from_env()
    from pgjets.errors import UsageError

    assert isinstance(info.value, UsageError)  # the CLI prints one line and exits 2


class KeyRecorder(nn.Module):
    """A tiny tagger that records which jets (keyed by their summed pT) it trained on."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.lin = nn.Linear(features, 2)
        self.seen: list[list[float]] = []

    def forward(self, b):
        if self.training:
            from torch_geometric.utils import scatter

            self.seen.append([round(v, 3) for v in scatter(b.pt.double(), b.batch, reduce="sum").tolist()])
        return self.lin(global_mean_pool(b.x, b.batch))


def _shard_worker(rank: int, world: int, tmp: str, path: str) -> None:
    from pgjets.data import JetDataset

    dist.init_process_group("gloo", init_method=f"file://{tmp}/store_shards", rank=rank, world_size=world)
    try:
        ds = JetDataset(path, k=None, chunk_size=7, shuffle_chunks=3)
        model = KeyRecorder(ds.num_features)
        cfg = TrainConfig(epochs=2, batch_size=5, lr=1e-2, schedule="onecycle", progress=False, verbose=False)
        Trainer(model, cfg).fit(ds)
        torch.save(model.seen, os.path.join(tmp, f"seen{rank}.pt"))
        dist.barrier()  # no rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_stream_disjoint_shares_of_the_chunks(tmp_path):
    import numpy as np

    from pgjets.data import JetTable, write_top_landscape

    rng = np.random.default_rng(4)
    n = 61
    counts = rng.integers(2, 6, n)
    pt = rng.uniform(1, 40, int(counts.sum()))
    phi = rng.normal(0, 0.2, pt.size)
    table = JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=0.3 * pt, E=1.1 * pt,
                     offsets=np.r_[0, np.cumsum(counts)], label=(np.arange(n) >= 30).astype(int),
                     label_names=["qcd", "top"])
    path = write_top_landscape(table, tmp_path / "train.h5", n_part=6)
    mp.spawn(_shard_worker, args=(2, str(tmp_path), str(path)), nprocs=2, join=True)
    seen = [torch.load(tmp_path / f"seen{r}.pt") for r in range(2)]
    steps = (n // 2) // 5
    assert len(seen[0]) == len(seen[1]) == 2 * steps  # equal steps per rank, every epoch
    for epoch in range(2):
        ranks = [[k for batch in s[epoch * steps:(epoch + 1) * steps] for k in batch] for s in seen]
        flat = ranks[0] + ranks[1]
        assert len(set(flat)) == len(flat) == 2 * steps * 5  # no training jet twice in the epoch
        assert n - len(flat) < 2 * 5  # fewer than one batch per rank left out
    assert seen[0][:steps] != seen[0][steps:]  # reshuffled per epoch
