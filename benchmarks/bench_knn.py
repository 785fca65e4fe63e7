"""kNN graphs: ``pgjets.nn.knn_graph`` (pure-torch backend) vs ``torch_cluster.knn_graph``.

A batch of 256 real jets (20-150 constituents), k = 16, on the 2-D (delta eta, delta phi)
coordinates and on 64-D coordinates (a fixed random projection of the 13 input features, like the
learned feature spaces of ParticleNet's later blocks).  Both sides get the same flat ``(N, D)``
coordinates and ``batch`` vector; the edge sets are checked to agree (up to ties) before timing.
Goal: >= 1.0x torch-cluster.

    python benchmarks/bench_knn.py --jets 256 --k 16 --dims 2 64
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _jets import features, pick, real_jets  # noqa: E402
from _timing import add_common_arguments, compare, report, setup  # noqa: E402

GOAL = 1.0


def same_neighbourhoods(a: torch.Tensor, b: torch.Tensor, n: int) -> float:
    """Fraction of nodes whose neighbour sets agree (ties may legitimately differ)."""
    def sets(ei: torch.Tensor) -> list[set]:
        out: list[set] = [set() for _ in range(n)]
        for s, t in ei.t().tolist():
            out[t].add(s)
        return out

    sa, sb = sets(a), sets(b)
    return sum(x == y for x, y in zip(sa, sb)) / n


def coordinates(f: dict, dims: Iterable[int]) -> Iterator[tuple[int, torch.Tensor]]:
    """``(dim, (N, dim) coordinates)`` per dimension: (delta eta, delta phi) for 2, otherwise a
    fixed random projection of the features (one seeded generator for all of ``dims``)."""
    gen = torch.Generator().manual_seed(0)
    for dim in dims:
        x = f["pos"] if dim == 2 else f["x"] @ torch.randn(f["x"].size(1), dim, generator=gen)
        yield dim, x.contiguous()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=256)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 64])
    add_common_arguments(parser, repeats=30, warmup=3)
    args = parser.parse_args()
    device = setup(args)
    import torch_cluster

    from pgjets.ops import knn_graph

    f = features(pick(real_jets(), args.jets, seed=1))
    batch = f["batch"].to(device)
    for dim, x in coordinates(f, args.dims):
        x = x.to(device)
        n = x.size(0)
        ref = torch_cluster.knn_graph(x, args.k, batch, loop=False)
        got = knn_graph(x, args.k, batch, loop=False, backend="torch")
        agree = same_neighbourhoods(ref.cpu(), got.cpu(), n)
        if agree < 0.99:
            raise SystemExit(f"kNN graphs disagree on {100 * (1 - agree):.1f}% of the nodes (D={dim})")

        res = compare(lambda: torch_cluster.knn_graph(x, args.k, batch, loop=False),
                      lambda: knn_graph(x, args.k, batch, loop=False, backend="torch"),
                      args.repeats, args.warmup, device)
        report({"benchmark": f"knn_{dim}d", "jets": args.jets, "nodes": n, "dim": dim, "k": args.k,
                "same_neighbourhoods": agree, "goal": GOAL, "peer": "torch-cluster", **res},
               args.out, device, args.jets)


if __name__ == "__main__":
    main()
