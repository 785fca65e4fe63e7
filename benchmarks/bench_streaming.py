"""Dataset streaming memory: peak RSS while iterating an on-disk ``JetDataset`` of ``--n-jets`` jets.

The dataset is a generated folder in pgjets' own on-disk format (``manifest.json`` + HDF5 chunk
files written by :func:`pgjets.data.jet_io.write_jets`, as ``pgjets generate`` writes them).
Generating a million Pythia jets takes hours on two cores, so the chunk files are filled by
resampling (with replacement, a different draw per file) the few hundred real cached Pythia 8
jets; the reader cannot tell.  A fresh child process then iterates every jet once as PyG
``Batch`` objects (``JetDataset(...).batches``, k = None as for ParticleNet/ParT) and reports
its peak resident set size (``ru_maxrss``) and the throughput from disk.  Goal: peak RSS < 2 GB.
The folder lives under ``--tmp`` and is deleted afterwards.

    python benchmarks/bench_streaming.py --n-jets 1000000 --chunk-size 10000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_MB = 2048.0


def write_dataset(root: Path, n_jets: int, chunk_size: int, seed: int = 0) -> float:
    """Write ``n_jets`` resampled real jets in chunk files under ``root``; return seconds taken."""
    import numpy as np

    from _jets import real_jets
    from pgjets.data.jet_io import MANIFEST_FORMAT, write_jets, write_manifest

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


def child(root: Path, batch_size: int, threads: int) -> None:
    """Iterate the whole dataset once; print one JSON object (runs in a fresh process)."""
    import torch

    from _timing import peak_rss_mb
    from pgjets.data.jet_dataset import JetDataset

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jets", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.batch_size, args.threads)
        return

    from _timing import machine

    root = Path(tempfile.mkdtemp(prefix="pgjets_stream_", dir=args.tmp))
    try:
        t_write = write_dataset(root, args.n_jets, args.chunk_size)
        disk_mb = sum(p.stat().st_size for p in root.iterdir()) / 1024**2
        print(f"wrote {args.n_jets:,} jets ({disk_mb:,.0f} MB) in {t_write:.0f} s to {root}", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--child", str(root), "--batch-size", str(args.batch_size),
                               "--threads", str(args.threads)], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(proc.returncode)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert res["jets"] == args.n_jets
    rec = {"benchmark": "streaming_rss", "n_jets": args.n_jets, "chunk_size": args.chunk_size,
           "batch_size": args.batch_size, "disk_mb": disk_mb, "write_s": t_write, **res,
           "goal_peak_rss_mb": GOAL_MB, "met": res["peak_rss_mb"] < GOAL_MB, **machine()}
    rec["threads"] = args.threads
    print(f"{'streaming_rss':<34} {args.n_jets:,} jets from disk: peak RSS {res['peak_rss_mb']:,.0f} MB "
          f"(after imports {res['rss_after_imports_mb']:,.0f} MB), {res['jets_per_s']:,.0f} jets/s  "
          f"goal < {GOAL_MB:.0f} MB: {'met' if rec['met'] else 'MISSED'}", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
