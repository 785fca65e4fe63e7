"""Streaming memory and speed: peak RSS streaming ``--n-jets`` on-disk jets, and training from disk vs memory.

Two parts (``--part dataset``, ``--part train`` or ``--part all``, the default):

``dataset`` (issue #6): a generated folder in pgjets' own on-disk format (``manifest.json`` +
HDF5 chunk files written by :func:`pgjets.data.jet_io.write_jets`, as ``pgjets generate`` writes
them) is iterated once as PyG ``Batch`` objects (``JetDataset(...).batches``, k = None as for
ParticleNet/ParT) in a fresh child process, which reports its peak resident set size
(``ru_maxrss``) and the throughput from disk.  Goal: peak RSS < 2 GB.

``train`` (issue #11): a top-tagging landscape-layout file (pandas HDF5, ``format="table"`` so
that it can be written in blocks larger files than memory; 200 particle slots, as the published
files) of ``--n-jets`` jets, then

1. ``pgjets train --model particlenet_lite --data big.h5 --max-jets M --val v.h5 --test v.h5
   --epochs 1`` in a fresh process: the full command line, streaming the whole file (the
   ``--max-jets`` subset is spread over every chunk of the file); its peak RSS is the figure
   of merit (goal < 3 GB; it must not grow with ``--n-jets``);
2. the same training epoch (same model, settings and ``M`` jets: the first ``M`` of the file)
   timed in two fresh processes, once streamed from the file through the shuffle buffer and once
   from a table held in memory (``JetDataset.from_table``): jets/s and their ratio
   (goal streamed / memory >= 0.9).

``events`` (issue #16, not part of ``all``): ``pgjets train --model event_deepsets --data EVENTS/
--epochs 1`` on a folder of ``pgjets generate --events ttbar --events wjets`` in fresh processes,
once as the command runs it (``StreamedEventDataset``: chunks read on demand) and once with the
folder loaded whole into an :class:`~pgjets.data.EventDataset` (every event and its graph in
memory, the run otherwise identical), each reporting its own peak RSS.  The folder is generated
(``--n-events`` per process) unless ``--events-dir`` names one; ``--replicate R`` also measures
a folder holding every file ``R`` times (hard links; the readers cannot tell), to show how each
path grows with the data.

Generating a million Pythia jets takes hours on two cores, so every file is filled by resampling
(with replacement, a different draw per block) the few hundred real cached Pythia 8 jets; the
readers cannot tell.  Files live under ``--tmp`` and are deleted afterwards.

    python benchmarks/bench_streaming.py                      # the issue's configuration: 1M jets
    python benchmarks/bench_streaming.py --small              # 200k jets, M = 4096 (shared machines)
    python benchmarks/bench_streaming.py --part train --n-jets 200000 --train-jets 4096
    python benchmarks/bench_streaming.py --part events --n-events 25000 --replicate 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_MB = 2048.0
GOAL_TRAIN_MB = 3072.0
GOAL_RATIO = 0.9


def write_dataset(root: Path, n_jets: int, chunk_size: int, seed: int = 0) -> float:
    """Write ``n_jets`` resampled real jets in chunk files under ``root``; return seconds taken."""
    import numpy as np

    from _jets import real_jets
    from pgjets.data import write_jets
    from pgjets.data.jet_io import MANIFEST_FORMAT, write_manifest

    table = real_jets()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    files = []
    for c, a in enumerate(range(0, n_jets, chunk_size)):
        n = min(chunk_size, n_jets - a)
        name = f"resampled_{c:05d}.h5"
        write_jets(table.take(rng.integers(0, len(table), n)), root / name)
        files.append({"name": name, "n_jets": n})
    write_manifest(root, {"format": MANIFEST_FORMAT, "label_names": table.label_names, "files": files,
                          "n_jets_total": n_jets, "note": "real Pythia 8 jets resampled for a memory benchmark"})
    return time.perf_counter() - t0


def write_landscape(path: Path, n_jets: int, block: int = 50_000, seed: int = 0) -> float:
    """A landscape-layout file of ``n_jets`` resampled real jets, written in blocks; return seconds taken."""
    import numpy as np

    from _jets import real_jets
    from pgjets.data import write_top_landscape

    table = real_jets()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for a in range(0, n_jets, block):
        part = table.take(rng.integers(0, len(table), min(block, n_jets - a)))
        write_top_landscape(part, path, format="table", append=a > 0)
    return time.perf_counter() - t0


def child(root: Path, batch_size: int, threads: int) -> None:
    """Iterate the whole dataset once; print one JSON object (runs in a fresh process)."""
    import torch

    from _timing import peak_rss_mb
    from pgjets.data import JetDataset

    torch.set_num_threads(threads)
    rss_start = peak_rss_mb()
    ds = JetDataset(root, representation="cloud", k=None)
    t0 = time.perf_counter()
    jets = particles = batches = 0
    for b in ds.batches(batch_size):
        jets += b.num_graphs
        particles += b.num_nodes
        batches += 1
    dt = time.perf_counter() - t0
    print(json.dumps({"jets": jets, "particles": particles, "batches": batches, "seconds": dt,
                      "jets_per_s": jets / dt, "rss_after_imports_mb": rss_start, "peak_rss_mb": peak_rss_mb(),
                      "cache_chunks": ds.cache_chunks, "num_chunks": ds.num_chunks}))


def train_child(path: Path, mode: str, n_train: int, batch_size: int, threads: int) -> None:
    """One training epoch of ParticleNet-Lite on the first ``n_train`` jets, streamed or from memory."""
    import numpy as np
    import torch

    from _timing import peak_rss_mb
    from pgjets.data import JetDataset
    from pgjets.data.readers import read_rows
    from pgjets.models import build_model
    from pgjets.train import TrainConfig, Trainer, seed_everything

    torch.set_num_threads(threads)
    rss_start = peak_rss_mb()
    t0 = time.perf_counter()
    if mode == "stream":
        ds = JetDataset(path, k=None).subset(np.arange(n_train))
    else:
        ds = JetDataset.from_table(read_rows(path, 0, n_train), k=None)
    t_load = time.perf_counter() - t0
    seed_everything(0)
    model = build_model("particlenet_lite", ds.num_features, 2)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=3e-3, schedule="onecycle", progress=False,
                      verbose=False, device="cpu")
    trainer = Trainer(model, cfg)
    trainer._make_scheduler(ds)
    t0 = time.perf_counter()
    loss = trainer.train_epoch(ds)
    dt = time.perf_counter() - t0
    print(json.dumps({"mode": mode, "jets": len(ds), "seconds": dt, "jets_per_s": len(ds) / dt,
                      "load_s": t_load, "loss": loss, "rss_after_imports_mb": rss_start,
                      "peak_rss_mb": peak_rss_mb()}))


def _run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli_child(argv: list[str]) -> None:
    """Run ``pgjets`` with ``argv`` in this (fresh) process; print its wall time and own peak RSS."""
    from pgjets.cli import main as pgjets_main

    t0 = time.perf_counter()
    rc = pgjets_main(argv)
    wall = time.perf_counter() - t0
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_mb": r / 1024}))


def _cli_train(big: Path, val: Path, run: Path, n_train: int, batch_size: int, threads: int) -> dict:
    """``pgjets train`` over the big file in a fresh process: wall time and the process's own peak RSS."""
    argv = ["train", "--model", "particlenet_lite", "--data", str(big), "--max-jets", str(n_train),
            "--val", str(val), "--test", str(val), "--epochs", "1", "--batch-size", str(batch_size),
            "--no-progress", "--device", "cpu", "--out", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, __file__, "--cli-child", json.dumps(argv)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-3000:])
        raise SystemExit(proc.returncode)
    lines = proc.stdout.strip().splitlines()
    res = json.loads(lines[-1])
    if res["rc"] != 0:
        raise SystemExit(f"pgjets train failed: {proc.stderr[-2000:]}")
    res["test"] = next((ln for ln in lines if ln.startswith("test:")), "")
    return res


def events_child(mode: str, argv: list[str]) -> None:
    """``pgjets train`` on events in this (fresh) process, streamed as the CLI does or with the
    folder loaded in memory; print its wall time and own peak RSS."""
    import numpy as np

    from _timing import peak_rss_mb
    import pgjets.run_events as run_events
    from pgjets.cli import main as pgjets_main
    from pgjets.data import EventDataset, StreamedEventDataset

    rss_start = peak_rss_mb()
    used = {}
    streamed = run_events._dataset

    def dataset(path: Path, max_events):
        if mode == "stream":
            ds, idx = streamed(path, max_events)  # what the command does
        else:  # no --max-jets: every event
            assert max_events is None
            ds = EventDataset(path)  # every event and its graph, built once
            idx = np.arange(len(ds))
        used.setdefault("dataset", type(ds).__name__)
        return ds, idx

    run_events._dataset = dataset
    t0 = time.perf_counter()
    rc = pgjets_main(argv)
    wall = time.perf_counter() - t0
    assert used["dataset"] == {"stream": StreamedEventDataset, "memory": EventDataset}[mode].__name__
    print(json.dumps({"rc": rc, "mode": mode, "dataset": used["dataset"], "wall_s": wall,
                      "rss_after_imports_mb": rss_start, "peak_rss_mb": peak_rss_mb()}))


def _replicate(src: Path, dst: Path, times: int) -> int:
    """A copy of event folder ``src`` holding each file ``times`` times (hard links); returns the event count."""
    from pgjets.data.jet_io import MANIFEST_NAME

    manifest = json.loads((src / MANIFEST_NAME).read_text())
    dst.mkdir(parents=True)
    files = []
    for r in range(times):
        for f in manifest["files"]:
            name = f"r{r}_{f['name']}"
            try:
                os.link(src / f["name"], dst / name)
            except OSError:
                shutil.copy(src / f["name"], dst / name)
            files.append({**f, "name": name})
    manifest.update(files=files, n_events_total=sum(f["n_events"] for f in files),
                    note=f"every file of {src} {times} times, for a memory benchmark")
    (dst / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2))
    return manifest["n_events_total"]


def part_events(args) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="pgjets_events_", dir=args.tmp))
    try:
        src, t_gen = args.events_dir, None
        if src is None:  # generated by a child, so that this process stays small (see part_train)
            src = tmp / "events"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pgjets.cli", "generate", "--events", "ttbar", "--events", "wjets",
                            "--n-events", str(args.n_events), "--chunk-size", "5000", "--seed", "1",
                            "--no-progress", "--out", str(src)], check=True, capture_output=True)
            t_gen = time.perf_counter() - t0
        folders = [(1, Path(src))]
        if args.replicate > 1:
            folders.append((args.replicate, tmp / f"x{args.replicate}"))
            _replicate(Path(src), folders[-1][1], args.replicate)
        recs = []
        for times, folder in folders:
            n_events = json.loads((folder / "manifest.json").read_text())["n_events_total"]
            disk_mb = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1024**2
            for mode in ("stream", "memory"):
                run = tmp / f"run_{times}_{mode}"
                argv = ["train", "--model", "event_deepsets", "--data", str(folder), "--epochs", "1",
                        "--batch-size", str(args.batch_size), "--no-progress", "--device", "cpu", "--out", str(run)]
                env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
                proc = subprocess.run([sys.executable, __file__, "--events-child", mode, json.dumps(argv)],
                                      capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-3000:])
                    raise SystemExit(proc.returncode)
                lines = proc.stdout.strip().splitlines()
                res = json.loads(lines[-1])
                res["test"] = next((ln for ln in lines if ln.startswith("test:")), "")
                rec = {"benchmark": "streaming_events_train_rss", "model": "event_deepsets", "n_events": n_events,
                       "replicated": times, "disk_mb": disk_mb, "batch_size": args.batch_size,
                       "generate_s": t_gen, "threads": args.threads, **res}
                recs.append(rec)
                print(f"{'pgjets train (events, ' + mode + ')':<34} {n_events:,} events ({disk_mb:,.0f} MB): "
                      f"peak RSS {res['peak_rss_mb']:,.0f} MB (after imports {res['rss_after_imports_mb']:,.0f} MB),"
                      f" {res['wall_s']:.0f} s; {res['test']}", flush=True)
                shutil.rmtree(run, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return recs


def part_dataset(args, machine) -> dict:
    root = Path(tempfile.mkdtemp(prefix="pgjets_stream_", dir=args.tmp))
    try:
        t_write = _run_child(["--write-dataset", str(root), "--n-jets", str(args.n_jets), "--chunk-size",
                              str(args.chunk_size)])["seconds"]  # in a child, as the landscape file
        disk_mb = sum(p.stat().st_size for p in root.iterdir()) / 1024**2
        print(f"wrote {args.n_jets:,} jets ({disk_mb:,.0f} MB) in {t_write:.0f} s to {root}", flush=True)
        res = _run_child(["--child", str(root), "--batch-size", str(args.batch_size), "--threads", str(args.threads)])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert res["jets"] == args.n_jets
    rec = {"benchmark": "streaming_rss", "n_jets": args.n_jets, "chunk_size": args.chunk_size,
           "batch_size": args.batch_size, "disk_mb": disk_mb, "write_s": t_write, **res,
           "goal_peak_rss_mb": GOAL_MB, "met": res["peak_rss_mb"] < GOAL_MB, **machine, "threads": args.threads}
    print(f"{'streaming_rss':<34} {args.n_jets:,} jets from disk: peak RSS {res['peak_rss_mb']:,.0f} MB "
          f"(after imports {res['rss_after_imports_mb']:,.0f} MB), {res['jets_per_s']:,.0f} jets/s  "
          f"goal < {GOAL_MB:.0f} MB: {'met' if rec['met'] else 'MISSED'}", flush=True)
    return rec


def part_train(args, machine) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="pgjets_train_", dir=args.tmp))
    try:
        big, val = tmp / "big.h5", tmp / "val.h5"
        # written by a child: Linux carries a parent's peak RSS into the children it forks, so the
        # parent stays small for the children's ru_maxrss to be their own
        t_write = _run_child(["--write-landscape", str(big), "--n-jets", str(args.n_jets)])["seconds"]
        _run_child(["--write-landscape", str(val), "--n-jets", str(args.val_jets), "--seed", "1"])
        disk_mb = big.stat().st_size / 1024**2
        print(f"wrote a landscape-layout file of {args.n_jets:,} jets ({disk_mb:,.0f} MB) in {t_write:.0f} s",
              flush=True)
        cli = _cli_train(big, val, tmp / "run", args.train_jets, args.batch_size, args.threads)
        print(f"{'pgjets train (landscape file)':<34} {args.n_jets:,} jets on disk, {args.train_jets:,} trained: "
              f"peak RSS {cli['peak_rss_mb']:,.0f} MB, {cli['wall_s']:.0f} s in all  "
              f"goal < {GOAL_TRAIN_MB:.0f} MB: {'met' if cli['peak_rss_mb'] < GOAL_TRAIN_MB else 'MISSED'}",
              flush=True)
        res = {}
        for mode in ("memory", "stream", "memory", "stream")[: 2 * args.repeats]:
            r = _run_child(["--train-child", str(big), "--mode", mode, "--train-jets", str(args.train_jets),
                            "--batch-size", str(args.batch_size), "--threads", str(args.threads)])
            res.setdefault(mode, []).append(r)
            print(f"  epoch of {r['jets']:,} jets {mode:>6}: {r['jets_per_s']:,.0f} jets/s "
                  f"(peak RSS {r['peak_rss_mb']:,.0f} MB)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {m: max(r["jets_per_s"] for r in rs) for m, rs in res.items()}
    ratio = best["stream"] / best["memory"]
    print(f"{'training from disk / from memory':<34} {ratio:.2f}x (best of {args.repeats}: "
          f"{best['stream']:,.0f} vs {best['memory']:,.0f} jets/s)  goal >= {GOAL_RATIO}: "
          f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}", flush=True)
    common = {"n_jets": args.n_jets, "train_jets": args.train_jets, "batch_size": args.batch_size,
              "disk_mb": disk_mb, "write_s": t_write, **machine, "threads": args.threads}
    return [{"benchmark": "streaming_train_rss", **common, **cli, "goal_peak_rss_mb": GOAL_TRAIN_MB,
             "met": cli["peak_rss_mb"] < GOAL_TRAIN_MB},
            {"benchmark": "streaming_train_speed", **common, "runs": res, "stream_jets_per_s": best["stream"],
             "memory_jets_per_s": best["memory"], "ratio": ratio, "goal_ratio": GOAL_RATIO,
             "met": ratio >= GOAL_RATIO}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("dataset", "train", "events", "all"), default="all",
                        help="all = dataset and train; events only when asked for")
    parser.add_argument("--n-jets", type=int, default=1_000_000)
    parser.add_argument("--small", action="store_true",
                        help="a size that fits a shared 2-core machine: 200k jets, 4096 trained, 100k for the "
                             "dataset part")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=None, help="512 (dataset part) / 128 (training)")
    parser.add_argument("--train-jets", type=int, default=20_000, help="jets of the timed training epoch")
    parser.add_argument("--val-jets", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=1, choices=(1, 2))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--train-child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="stream", help=argparse.SUPPRESS)
    parser.add_argument("--write-landscape", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--write-dataset", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n-events", type=int, default=25_000, help="events per process (--part events)")
    parser.add_argument("--events-dir", type=Path, default=None,
                        help="an existing folder of pgjets generate --events (--part events; default: generate one)")
    parser.add_argument("--replicate", type=int, default=1,
                        help="also measure a folder holding every event file this many times (--part events)")
    parser.add_argument("--cli-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--events-child", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cli_child is not None:
        cli_child(json.loads(args.cli_child))
        return
    if args.events_child is not None:
        events_child(args.events_child[0], json.loads(args.events_child[1]))
        return
    if args.write_dataset is not None:
        print(json.dumps({"seconds": write_dataset(args.write_dataset, args.n_jets, args.chunk_size)}))
        return
    if args.write_landscape is not None:
        print(json.dumps({"seconds": write_landscape(args.write_landscape, args.n_jets, seed=args.seed)}))
        return
    if args.child is not None:
        child(args.child, args.batch_size or 512, args.threads)
        return
    if args.train_child is not None:
        train_child(args.train_child, args.mode, args.train_jets, args.batch_size or 128, args.threads)
        return

    recs = []
    info: dict = {}
    if args.part in ("dataset", "all"):
        sub = argparse.Namespace(**vars(args))
        sub.n_jets = 100_000 if args.small else args.n_jets
        sub.batch_size = args.batch_size or 512
        recs.append(part_dataset(sub, info))
    if args.part in ("train", "all"):
        sub = argparse.Namespace(**vars(args))
        if args.small:
            sub.n_jets, sub.train_jets = 200_000, 4096
        sub.batch_size = args.batch_size or 128
        recs.extend(part_train(sub, info))
    if args.part == "events":
        recs.extend(part_events(argparse.Namespace(**{**vars(args), "batch_size": args.batch_size or 256})))
    from _timing import machine  # imports torch: after the children, which must not inherit its memory

    for rec in recs:
        rec.update(machine())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            for rec in recs:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
