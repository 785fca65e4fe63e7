"""Scaling of ParticleNet training: time per epoch vs particles per jet and vs batch size, plotted.

An epoch is ``--epoch-jets`` jets; its time is the median training-step time (forward +
cross-entropy + backward + AdamW; ParticleNet-Lite by default, ``--config full`` for the published
ParticleNet) times the number of steps.
Jets have exactly ``N`` particles each with random features (the cost does not depend on the
values), so weaver's padded tensors carry no padding and the comparison isolates the cost growth.
Sweeps ``N`` at a fixed batch size and the batch size at a fixed ``N``; pgjets and weaver
alternate at every point.  Writes JSON lines and ``results/scaling.png``.

    python benchmarks/bench_scaling.py --particles 16 32 64 128 --batch-sizes 32 64 128 256
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _timing import RESULTS, add_common_arguments, compare, report, setup, train_step_fns  # noqa: E402
from bench_particlenet import CONV, FC, build_models  # noqa: E402

NUM_FEATURES = 13
#: ParticleNet-Lite (2 blocks, k = 7, 32/64 channels, FC 128): the quick default.
LITE = ([(7, (32, 32, 32)), (7, (64, 64, 64))], [(128, 0.1)])


def inputs(batch_size: int, n: int, device: torch.device, seed: int = 0):
    """``(pgjets Batch, weaver (points, features, mask))`` for ``batch_size`` jets of ``n`` particles."""
    from torch_geometric.data import Batch, Data

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, n, NUM_FEATURES, generator=gen)
    pos = torch.randn(batch_size, n, 2, generator=gen) * 0.3
    y = torch.randint(0, 2, (batch_size,), generator=gen)
    batch = Batch.from_data_list([Data(x=x[i], pos=pos[i], y=y[i:i + 1]) for i in range(batch_size)]).to(device)
    w = (pos.transpose(1, 2).contiguous().to(device), x.transpose(1, 2).contiguous().to(device),
         torch.ones(batch_size, 1, n, device=device))
    return batch, w


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed (extra 'plot'): no plot written")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, sweep, key, label in ((axes[0], "particles", "particles_per_jet", "particles per jet"),
                                  (axes[1], "batch_size", "batch_size", "batch size (jets)")):
        pts = sorted((r for r in rows if r["sweep"] == sweep), key=lambda r: r[key])
        if not pts:
            continue
        xs = [r[key] for r in pts]
        ax.plot(xs, [r["pgjets_epoch_s"] for r in pts], "o-", label="pgjets ParticleNet")
        ax.plot(xs, [r["peer_epoch_s"] for r in pts], "s--", label="weaver ParticleNet")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(f"seconds per epoch ({pts[0]['epoch_jets']} jets)")
        fixed = f"batch {pts[0]['batch_size']}" if sweep == "particles" else f"{pts[0]['particles_per_jet']} particles/jet"
        ax.set_title(f"ParticleNet-{pts[0]['config']} training, {fixed}, {pts[0]['threads']} thread(s)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--fixed-batch", type=int, default=128)
    parser.add_argument("--fixed-particles", type=int, default=48)
    parser.add_argument("--epoch-jets", type=int, default=10_000)
    parser.add_argument("--plot", type=Path, default=RESULTS / "scaling.png")
    parser.add_argument("--config", choices=["lite", "full"], default="lite",
                        help="ParticleNet-Lite (quick) or the published ParticleNet")
    add_common_arguments(parser, repeats=3, warmup=1)
    args = parser.parse_args()
    device = setup(args)

    rows = []
    points = [("particles", args.fixed_batch, n) for n in args.particles]
    points += [("batch_size", b, args.fixed_particles) for b in args.batch_sizes]
    for sweep, bs, n in points:
        batch, w = inputs(bs, n, device)
        conv, fc = LITE if args.config == "lite" else (CONV, FC)
        peer, ours = build_models(NUM_FEATURES, device, conv, fc)
        peer.trimmer._counter.fill_(peer.trimmer.warmup_steps)  # weaver's steady state (no-op: no padding)
        res = compare(*train_step_fns(peer, ours, lambda: peer(*w), lambda: ours(batch), batch.y), args.repeats, args.warmup, device)
        steps = -(-args.epoch_jets // bs)
        rec = report({"benchmark": f"scaling_{sweep}", "sweep": sweep, "batch_size": bs, "particles_per_jet": n,
                      "epoch_jets": args.epoch_jets, "config": args.config, "peer": "weaver-core 0.5.3", **res,
                      "peer_epoch_s": res["peer_s"] * steps, "pgjets_epoch_s": res["pgjets_s"] * steps},
                     args.out, device, bs)
        rows.append(rec)
    plot(rows, args.plot)


if __name__ == "__main__":
    main()
