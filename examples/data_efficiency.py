r"""Data efficiency of symmetry-exact taggers: test AUC and :math:`1/\varepsilon_B(0.3)` against the
number of training jets, for ParticleNet, ParT, LorentzNet, the eta-phi invariant ParticleNet,
PFN and EFN (issue 14).

Every model sees the same generated top and QCD jets (Pythia 8 + FastJet, ``pgjets generate``):
for each training size ``n`` (jets *per class*) and seed, ``n`` jets per class are drawn from the
training pool with that seed (the same draw for every model), the model is trained for the same
number of epochs with the same batch size and schedule, without validation or early stopping,
and its last state is evaluated on one common test set that no training draw touches.  The
statistical uncertainty of :math:`1/\varepsilon_B` from the finite test set is
:math:`\sigma = (1/\varepsilon_B)/\sqrt{k}` with :math:`k = \varepsilon_B n_B` the background
jets that pass the cut; the error bars of the plot are the spread (standard deviation) over seeds.

The defaults are the full study of the issue (1k, 3k, 10k, 30k jets per class, 3 seeds up to 3k
and 1 above, 20 epochs, a test set of 100k QCD and 100k top jets, published model sizes); that
needs a GPU or days of CPU.  Flags scale it down, e.g. the run of the docs page::

    pgjets generate --process qcd --process top --n-jets 3000 --out /tmp/jets --fast --workers 1 --seed 7
    python examples/data_efficiency.py --data /tmp/jets --out /tmp/data_efficiency \
        --sizes 150 500 1500 --seeds 3 --many-seeds-up-to 500 --epochs 6 --test-jets 1500 \
        --small --max-constituents 30 --batch-size 32 --lr 3e-3

Results are appended to ``OUT/results.json`` as each run finishes (a rerun skips the runs it
already has), then ``OUT/table.md`` and ``OUT/data_efficiency.png`` are written.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: study name -> (registry name at full size, registry name and kwargs with --small)
MODELS: dict[str, tuple[str, tuple[str, dict[str, Any]]]] = {
    "ParticleNet": ("particlenet", ("particlenet_lite", {})),
    "ParT": ("part", ("part_lite", {})),
    "LorentzNet": ("lorentznet", ("lorentznet", {"hidden_channels": 32, "num_layers": 4})),
    "ParticleNet-inv": ("particlenet_inv", ("particlenet_inv_lite", {})),
    "PFN": ("pfn", ("pfn", {"phi": (64, 64, 128), "f": (64, 64)})),
    "EFN": ("efn", ("efn", {"phi": (64, 64, 128), "f": (64, 64)})),
}
#: Peak learning rate per model (the papers' choices, scaled for AdamW + cosine); ``--lr`` overrides all.
LR = {"ParticleNet": 3e-3, "ParT": 1e-3, "LorentzNet": 1e-3, "ParticleNet-inv": 3e-3, "PFN": 1e-3, "EFN": 1e-3}


def leading_constituents(table, n_max: Optional[int]):
    """Keep the ``n_max`` highest-:math:`p_T` constituents of every jet (all with ``None``)."""
    from pgjets.data import JetTable

    if n_max is None:
        return table
    pt = np.hypot(table.px, table.py)
    jet = table.jet_index
    order = np.lexsort((-pt, jet))  # by jet, then decreasing pt
    rank = np.arange(order.size) - table.offsets[:-1][jet[order]]
    keep = order[rank < n_max]  # jets stay in order, each led by its hardest constituent
    counts = np.minimum(table.n_constituents, n_max)
    offsets = np.zeros(len(table) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    kw = {name: (None if getattr(table, name) is None else getattr(table, name)[keep])
          for name in JetTable._CONSTITUENT}
    return JetTable(offsets=offsets, label=table.label, extra=dict(table.extra), label_names=table.label_names, **kw)


def split_pools(table, test_jets: int, seed: int = 12345) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Per-class training pools and the common test set (``test_jets`` per class, disjoint)."""
    rng = np.random.default_rng(seed)
    pools, test = {}, []
    for c in np.unique(table.label):
        idx = rng.permutation(np.nonzero(table.label == c)[0])
        if idx.size <= test_jets:
            raise SystemExit(f"class {c} has {idx.size} jets, not more than --test-jets {test_jets}")
        test.append(idx[:test_jets])
        pools[int(c)] = idx[test_jets:]
    return pools, np.sort(np.concatenate(test))


def draw_train(pools: dict[int, np.ndarray], n: int, seed: int) -> np.ndarray:
    """``n`` jets per class from the pools, the same draw for every model."""
    rng = np.random.default_rng(1000 + seed)
    out = []
    for c, pool in sorted(pools.items()):
        if pool.size < n:
            raise SystemExit(f"class {c} has {pool.size} training jets, fewer than the size {n}")
        out.append(rng.choice(pool, n, replace=False))
    return np.sort(np.concatenate(out))


def rejection_with_error(scores: np.ndarray, y: np.ndarray, eps_s: float = 0.3) -> tuple[float, float, float]:
    r"""``(1/eps_B, sigma, k)`` at signal efficiency ``eps_s``; ``sigma = (1/eps_B)/sqrt(k)``."""
    from pgjets.train import background_rejection

    rej = background_rejection(scores, y, eps_s)
    n_b = int((y == 0).sum())
    k = n_b / rej if math.isfinite(rej) else 0.0
    sigma = rej / math.sqrt(k) if k > 0 else float("inf")
    return rej, sigma, k


def run_one(name: str, table, train_idx: np.ndarray, test_ds, args, seed: int) -> dict[str, Any]:
    import torch

    from pgjets.data import JetDataset
    from pgjets.models import build_model, representation_of
    from pgjets.train import roc_auc, TrainConfig, Trainer

    reg, (small_reg, small_kw) = MODELS[name]
    reg, kw = (small_reg, small_kw) if args.small else (reg, {})
    rep, k = representation_of(reg)
    train = JetDataset.from_table(table.take(train_idx), representation=rep, k=k)
    torch.manual_seed(seed)
    model = build_model(reg, train.num_features, 2, **kw)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or LR[name], schedule="cosine",
                      seed=seed, device=args.device, progress=False, verbose=False)
    trainer = Trainer(model, cfg)
    t0 = time.perf_counter()
    trainer.fit(train)
    seconds = time.perf_counter() - t0
    logits, y = trainer.predict(test_ds[rep, k])
    s = torch.softmax(logits.float(), -1)[:, 1].numpy()
    y = y.view(-1).numpy()
    rej, sigma, passed = rejection_with_error(s, y)
    return {"model": name, "registry": reg, "n_per_class": int(len(train_idx) // 2), "seed": seed,
            "auc": roc_auc(s, y), "rej@0.3": rej, "rej_stat": sigma, "bkg_passing": passed,
            "n_test": int(y.size), "params": sum(p.numel() for p in model.parameters()),
            "epochs": args.epochs, "train_seconds": seconds}


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over seeds per (model, size)."""
    rows = []
    keys = sorted({(r["model"], r["n_per_class"]) for r in results}, key=lambda t: (list(MODELS).index(t[0]), t[1]))
    for model, n in keys:
        rs = [r for r in results if r["model"] == model and r["n_per_class"] == n]
        auc = np.array([r["auc"] for r in rs])
        rej = np.array([r["rej@0.3"] for r in rs])
        ddof = 1 if len(rs) > 1 else 0
        rows.append({"model": model, "registry": rs[0]["registry"], "n": n, "seeds": len(rs),
                     "auc": auc.mean(), "auc_std": auc.std(ddof=ddof), "rej": rej.mean(), "rej_std": rej.std(ddof=ddof),
                     "rej_stat": float(np.mean([r["rej_stat"] for r in rs])), "params": rs[0]["params"],
                     "seconds": float(np.mean([r["train_seconds"] for r in rs]))})
    return rows


def write_table(rows: list[dict[str, Any]], path: Path, n_test: int) -> None:
    from pgjets._atomic import atomic_output

    lines = ["| model (registry name) | parameters | train jets / class | seeds | test AUC | 1/eps_B(0.3) "
             "| stat. (test set) | train s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        auc, rej = f"{r['auc']:.4f}", f"{r['rej']:.1f}"
        if r["seeds"] > 1:
            auc, rej = f"{auc} ± {r['auc_std']:.4f}", f"{rej} ± {r['rej_std']:.1f}"
        lines.append(f"| {r['model']} (`{r['registry']}`) | {r['params']:,} | {r['n']:,} | {r['seeds']} "
                     f"| {auc} | {rej} | ± {r['rej_stat']:.1f} | {r['seconds']:.0f} |")
    lines.append("")
    lines.append(f"Test set: {n_test:,} jets; ± after the means: standard deviation over seeds; "
                 "stat.: test-set uncertainty of 1/eps_B, (1/eps_B)/sqrt(k).")
    with atomic_output(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    from pgjets._atomic import atomic_output

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for model in MODELS:
        rs = [r for r in rows if r["model"] == model]
        if not rs:
            continue
        n = [r["n"] for r in rs]
        label = f"{model} ({rs[0]['registry']})"
        axes[0].errorbar(n, [r["auc"] for r in rs], yerr=[r["auc_std"] for r in rs], marker="o", capsize=3, label=label)
        axes[1].errorbar(n, [r["rej"] for r in rs], yerr=[r["rej_std"] for r in rs], marker="o", capsize=3, label=label)
    sizes = sorted({r["n"] for r in rows})
    for ax, label in zip(axes, ["test AUC", r"$1/\varepsilon_B$ at $\varepsilon_S = 0.3$"]):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training jets per class")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[1].yaxis.set_major_formatter(ScalarFormatter())
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="generated folder with qcd and top jets (pgjets generate)")
    p.add_argument("--generate", type=int, metavar="N", help="without --data: generate N jets per class into --out/jets")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000], help="training jets per class")
    p.add_argument("--seeds", type=int, default=3, help="seeds at sizes <= --many-seeds-up-to")
    p.add_argument("--many-seeds-up-to", type=int, default=3000)
    p.add_argument("--seeds-large", type=int, default=1, help="seeds at larger sizes")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="one peak learning rate for all models")
    p.add_argument("--test-jets", type=int, default=100_000, help="test jets per class")
    p.add_argument("--small", action="store_true", help="lite / small model configurations")
    p.add_argument("--max-constituents", type=int, default=None, help="keep the leading N constituents")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args(argv)

    import torch

    from pgjets._atomic import atomic_output
    from pgjets.data import JetDataset
    from pgjets.data import load_table

    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data
    if data is None:
        if args.generate is None:
            p.error("give --data DIR or --generate N")
        from pgjets.data import generate_dataset

        data = args.out / "jets"
        if not (data / "manifest.json").exists():
            generate_dataset(["qcd", "top"], args.generate, data, seed=1, fast=True, workers=1, progress=False)
    table = leading_constituents(load_table(data), args.max_constituents)
    pools, test_idx = split_pools(table, args.test_jets)
    test_table = table.take(test_idx)
    class TestSets(dict):  # one dataset per (representation, k), built on first use
        def __missing__(self, key):
            self[key] = JetDataset.from_table(test_table, representation=key[0], k=key[1])
            return self[key]

    test_ds = TestSets()
    res_path = args.out / "results.json"
    results = json.loads(res_path.read_text()) if res_path.exists() else []
    done = {(r["model"], r["n_per_class"], r["seed"]) for r in results}
    for n in sorted(args.sizes):
        seeds = args.seeds if n <= args.many_seeds_up_to else args.seeds_large
        for seed in range(seeds):
            train_idx = draw_train(pools, n, seed)
            for name in args.models:
                if (name, n, seed) in done:
                    continue
                rec = run_one(name, table, train_idx, test_ds, args, seed)
                rec["config"] = {"small": args.small, "max_constituents": args.max_constituents,
                                 "batch_size": args.batch_size, "lr": args.lr or LR[name],
                                 "threads": torch.get_num_threads()}
                results.append(rec)
                print(f"{name:16s} n={n:6d} seed={seed}  AUC {rec['auc']:.4f}  1/eps_B(0.3) {rec['rej@0.3']:.1f} "
                      f"± {rec['rej_stat']:.1f} (stat)  {rec['train_seconds']:.0f} s", flush=True)
                with atomic_output(res_path) as tmp:
                    tmp.write_text(json.dumps(results, indent=1))
    rows = summarise(results)
    n_test = len(test_idx)
    write_table(rows, args.out / "table.md", n_test)
    title = (f"{'small' if args.small else 'published'} models, {args.epochs} epochs, test {n_test:,} jets"
             + (f", leading {args.max_constituents} constituents" if args.max_constituents else ""))
    plot(rows, args.out / "data_efficiency.png", title)
    print((args.out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
