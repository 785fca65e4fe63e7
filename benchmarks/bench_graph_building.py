"""Throughput of jet -> PyG ``Batch`` building (the training input pipeline).

Synthetic jets of 30-100 massless constituents are turned into kNN graph
batches with :meth:`pgjets.data.jet_dataset.JetDataset.batches` (constituent
features + one vectorised ``clouds_to_batch`` call per batch).  Runs on one
CPU thread; the goal is >= 50k jets/s.  The kNN search
(:func:`pgjets.ops.knn.knn_graph`, torch-cluster for 2-D when importable) dominates;
``--k 0`` times the same pipeline without edges.  Prints a line for humans and one JSON
line (also appended to ``--out`` when given).

    python benchmarks/bench_graph_building.py --jets 20000 --k 16 --batch-size 512
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from pgjets.data import constituent_features, JetDataset, JetTable


def synthetic_jets(n_jets: int, seed: int = 0, n_min: int = 30, n_max: int = 100) -> JetTable:
    """``n_jets`` random massless jets of ``n_min``-``n_max`` constituents."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(n_min, n_max + 1, n_jets)
    P = int(counts.sum())
    pt = rng.exponential(10.0, P) + 0.5
    eta = rng.normal(0, 0.3, P) + np.repeat(rng.uniform(-2, 2, n_jets), counts)
    phi = rng.normal(0, 0.3, P) + np.repeat(rng.uniform(-np.pi, np.pi, n_jets), counts)
    return JetTable(px=pt * np.cos(phi), py=pt * np.sin(phi), pz=pt * np.sinh(eta), E=pt * np.cosh(eta),
                    offsets=np.r_[0, np.cumsum(counts)], label=rng.integers(0, 2, n_jets),
                    pdgid=rng.choice([211, -211, 22, 130], P))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=20000)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="append the JSON line to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = synthetic_jets(args.jets)
    # warm up: the graph builders import torch_geometric lazily (seconds), keep that out of the timing
    list(JetDataset.from_table(synthetic_jets(64, seed=1), k=args.k or None).batches(64))

    t0 = time.perf_counter()
    constituent_features(table)
    t_feat = time.perf_counter() - t0

    best = float("inf")
    for _ in range(args.repeats):
        ds = JetDataset.from_table(table, representation="cloud", k=args.k or None)
        t0 = time.perf_counter()
        n = sum(b.num_graphs for b in ds.batches(args.batch_size))
        best = min(best, time.perf_counter() - t0)
        assert n == args.jets
    total = best + t_feat
    result = {
        "benchmark": "graph_building",
        "jets": args.jets,
        "mean_constituents": float(table.n_constituents.mean()),
        "k": args.k,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "features_jets_per_s": args.jets / t_feat,
        "batches_jets_per_s": args.jets / best,
        "jets_per_s": args.jets / total,
        "goal_jets_per_s": 50_000,
    }
    print(f"{result['jets_per_s']:,.0f} jets/s end to end (features {result['features_jets_per_s']:,.0f}/s, "
          f"kNN batches {result['batches_jets_per_s']:,.0f}/s; k={args.k}, {args.threads} thread)")
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        with open(args.out, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
