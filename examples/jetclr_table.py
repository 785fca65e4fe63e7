"""JetCLR augmentation table on generated top vs QCD jets.

Reproduces the table of Dillon et al., *Symmetries, Safety, and Self-Supervision*
(hep-ph/2108.04253) on Pythia jets: one JetCLR encoder is trained contrastively per
augmentation set (none / translations / rotations / soft+collinear / all), and its frozen
representation is judged with a linear classifier test (AUC and background rejection
1/eps_B at eps_S = 0.5) and with its rotation invariance (mean cosine similarity between
f(x) and f(Rx)). Two baselines run on the same jets and split: a linear classifier on the
101 energy flow polynomials of degree <= 5 (pgjets.data.jet_efps, 50 hardest constituents)
and a supervised ParticleNet-Lite.

The linear classifier test reads the representation *before* the projection head
(``representations(..., pooled=True)``), as the paper's LCT does ("rep 0" of its code);
the head output is reported next to it ("AUC head").

Usage::

    python examples/jetclr_table.py --n-jets 300 --epochs 10          # generates the jets
    python examples/jetclr_table.py --data DIR --n-jets 20000 --epochs 5 --rows all --baselines '' \\
        --seed 1 --json all_seed1.json                                 # one row, one seed
    python examples/jetclr_table.py --collect *.json                    # merge rows and seeds

``--recipe paper`` follows JetCLR's own code instead of the milder default: the 50 hardest
constituents per jet, every training jet rotated at random first, soft smearing (clipped at
0.1 GeV) and the collinear fill on the second view only, translations up to the jet's size
(see :func:`augmentation_sets`).

Each row is a separate, single-threaded job, so the rows and seeds of a large table run side
by side; ``--collect`` merges their ``--json`` files (mean AUC, spread over the seeds).
The table at 20 000 jets per class (the paper's scale), with the exact commands, is in
docs/studies.rst.
"""

from __future__ import annotations

import argparse
import time
from typing import Sequence

import numpy as np
import torch

from pgjets.data import jet_efps, generate_jets, JetDataset, JetTable
from pgjets.models import JetCLREncoder
from pgjets.train import (
    CollinearSplitting, RandomRotation, RandomTranslation, SoftSmearing, linear_classifier_test,
    representations, rotation_invariance, train_jetclr,
)


def read_class(folder: str, process: str, n: int, label: int) -> JetTable:
    """The first ``n`` jets of ``process`` in a ``pgjets generate`` folder, relabelled."""
    from pgjets.data import load_process

    t = load_process(folder, process, n)
    t.label = np.full(len(t), label, dtype=np.int64)
    return t


def supervised_particlenet(table: JetTable, args) -> tuple[float, float]:
    """ParticleNet-Lite trained on the linear-classifier training split, scored on its test split."""
    from sklearn.model_selection import train_test_split

    from pgjets.models import particlenet_lite
    from pgjets.train import TrainConfig, Trainer, background_rejection, roc_auc

    idx = np.arange(len(table))
    tr, te = train_test_split(idx, test_size=0.3, random_state=args.seed, stratify=table.label)
    train, test = JetDataset.from_table(table.take(np.sort(tr))), JetDataset.from_table(table.take(np.sort(te)))
    torch.manual_seed(args.seed)
    model = particlenet_lite(train.num_features)
    config = TrainConfig(epochs=args.supervised_epochs, batch_size=64, lr=3e-3, schedule="onecycle", device="cpu",
                         progress=False, verbose=False, seed=args.seed)
    trainer = Trainer(model, config)
    trainer.fit(train)
    logits, target = trainer.predict(test)
    score = torch.softmax(logits, -1)[:, 1]
    return roc_auc(score, target), background_rejection(score, target, 0.5)


def auc_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Hanley-McNeil standard error of an AUC measured on ``n_pos`` signal and ``n_neg`` background jets."""
    q1, q2 = auc / (2.0 - auc), 2.0 * auc * auc / (1.0 + auc)
    var = auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)
    return float(np.sqrt(max(var, 0.0) / (n_pos * n_neg)))


def augmentation_sets(translation_scale: float, recipe: str = "pgjets",
                      paper_shift: float = 1.0) -> dict[str, tuple[list, list]]:
    """The rows of the table: name -> (augmentations of both views, of the second view only).

    ``recipe="pgjets"``: every augmentation on both views, milder than the paper (shifts
    N(0, translation_scale^2), soft smearing clipped at pT = 0.5 GeV, each constituent split
    with probability 0.5, at most 20 per jet). ``recipe="paper"``: JetCLR's own recipe
    (``run_jetclr.py``, ``jet_augs.py``): rotations and translations (uniform within
    +-paper_shift x the jet's extent; the paper's width is 1) on both views; the collinear
    fill (twice, up to 50 constituents) and the soft smearing (Lambda_soft = 0.1 GeV, clipped
    at 0.1 GeV) on the second view only.

    Besides the seed's five rows, ``"rotations+soft+collinear"`` is "all" without the
    translations: what the translations add on top of the other augmentations.
    """
    rotate = RandomRotation()
    if recipe == "paper":
        translate = RandomTranslation(paper_shift, "uniform", relative=True)
        fill = CollinearSplitting(PAPER_CONSTITUENTS, p=1.0, fill_to=PAPER_CONSTITUENTS)
        soft_col = [fill, fill, SoftSmearing(lambda_soft=0.1, pt_min=0.1)]
        return {
            "none": ([], []),
            "translations": ([translate], []),
            "rotations": ([rotate], []),
            "soft+collinear": ([], soft_col),
            "all": ([rotate, translate], soft_col),
            "rotations+soft+collinear": ([rotate], soft_col),
        }
    translate = RandomTranslation(scale=translation_scale)
    soft_col = [SoftSmearing(lambda_soft=0.1), CollinearSplitting(max_splits=20)]
    return {
        "none": ([], []),
        "translations": ([translate], []),
        "rotations": ([rotate], []),
        "soft+collinear": (soft_col, []),
        "all": ([rotate, translate, *soft_col], []),
        "rotations+soft+collinear": ([rotate, *soft_col], []),
    }


#: Constituents per jet of the paper's recipe (the hardest; JetCLR's ``nconstit``).
PAPER_CONSTITUENTS = 50


def base_rotated(batches, seed: int):
    """The paper's recipe rotates every training jet at random before the two views are made."""
    g = torch.Generator().manual_seed(seed)
    rotate = RandomRotation()
    for batch in batches:
        yield rotate.apply(batch, g)


#: Order of the rows in a collected table (the seed's order, then the baselines).
ROW_ORDER = ("none", "translations", "rotations", "soft+collinear", "all", "rotations+soft+collinear",
             "EFP d<=5 (linear)", "ParticleNet-Lite (supervised)")


def recipe_label(args: dict) -> str:
    """The recipe of a run's arguments: ``pgjets``, ``paper`` or ``paper/W`` (shifts within +-W x the extent)."""
    recipe = args.get("recipe", "pgjets")
    shift = args.get("paper_shift", 1.0)
    return f"paper/{shift:g}" if recipe == "paper" and shift != 1.0 else recipe


def collect(paths: list[str]) -> list[dict]:
    """Merge the ``--json`` files of several runs (rows, seeds) into one table.

    Rows of the same name, sample size, recipe and number of epochs from different seeds are
    combined: the mean AUC, its spread over the seeds (sample standard deviation; 0 with one
    seed) and the mean test-set error. Returns one dict per row and setting, in the seed's
    order (pgjets recipe first).
    Raises ``ValueError`` for a row repeated with the same seed or a file written before the
    test read the representation before the head, ``OSError`` for an unreadable file.
    """
    import json
    from collections import defaultdict

    runs: dict[tuple[int, str, int, str], list[tuple[int, dict]]] = defaultdict(list)
    for path in paths:
        with open(path) as f:
            js = json.load(f)
        if any("auc_head" not in row for row in js["rows"]):
            raise ValueError(f"{path}: written before the linear classifier test read the representation before the "
                             "projection head (no 'auc_head'); its 'auc' is the head output and is not comparable")
        for row in js["rows"]:
            key = (js["args"]["n_jets"], recipe_label(js["args"]), js["args"].get("epochs", 0), row["name"])
            runs[key].append((js["args"]["seed"], row))
    table = []
    for (n_jets, recipe, epochs, name), found in runs.items():
        seeds = [seed for seed, _ in found]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"row {name!r} ({recipe} recipe, {epochs} epochs) at {n_jets} jets per class appears "
                             f"twice with the same seed {seeds}")
        rows = [r for _, r in sorted(found, key=lambda t: t[0])]
        aucs = np.array([r["auc"] for r in rows])
        table.append({
            "n_jets": n_jets, "recipe": recipe, "epochs": epochs, "name": name, "seeds": sorted(seeds),
            "aucs": aucs.tolist(), "auc": float(aucs.mean()),
            "seed_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
            "auc_err": float(np.mean([r["auc_err"] for r in rows])),
            "rejection": float(np.mean([r["rejection"] for r in rows])),
            "s_rot": float(np.mean([r["s_rot"] for r in rows])),
            "auc_head": float(np.mean([r["auc_head"] for r in rows])),
        })
    rank = {name: i for i, name in enumerate(ROW_ORDER)}
    table.sort(key=lambda r: (r["n_jets"], r["recipe"] != "pgjets", r["recipe"], r["epochs"],
                              rank.get(r["name"], len(rank)), r["name"]))
    return table


# The seed's ordering, step by step, and what the translations add on top of the rest:
# (lower row, upper row) of each within-seed difference --collect reports.
ORDER_PAIRS = (("none", "translations"), ("translations", "rotations"), ("rotations", "soft+collinear"),
               ("soft+collinear", "all"), ("rotations+soft+collinear", "all"))


def paired_differences(table: list[dict], pairs: Sequence[tuple[str, str]] = ORDER_PAIRS) -> list[dict]:
    """Differences ``upper - lower`` of the AUC within each seed, for rows of one setting.

    Rows of one seed share the initial weights, the batch order and the test jets, so the
    within-seed difference cancels the noise they share; its mean over the seeds and the
    standard error of that mean (``sem``, NaN with one seed) say whether the ordering
    ``lower < upper`` is resolved. Only seeds that ran both rows count. Returns one dict per
    pair and setting (sample size, recipe, epochs) with at least one common seed, in the
    order of ``table``: ``lower``, ``upper``, ``seeds``, ``diffs``, ``mean``, ``sem``,
    ``wins`` (seeds with ``upper > lower``).
    """
    rows = {(r["n_jets"], r["recipe"], r["epochs"], r["name"]): r for r in table}
    settings = list(dict.fromkeys((r["n_jets"], r["recipe"], r["epochs"]) for r in table))
    out = []
    for setting in settings:
        for lower, upper in pairs:
            lo, up = rows.get((*setting, lower)), rows.get((*setting, upper))
            if lo is None or up is None:
                continue
            lo_auc, up_auc = dict(zip(lo["seeds"], lo["aucs"])), dict(zip(up["seeds"], up["aucs"]))
            seeds = sorted(set(lo_auc) & set(up_auc))
            if not seeds:
                continue
            diffs = np.array([up_auc[s] - lo_auc[s] for s in seeds])
            sem = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
            out.append({"n_jets": setting[0], "recipe": setting[1], "epochs": setting[2], "lower": lower,
                        "upper": upper, "seeds": seeds, "diffs": diffs.tolist(), "mean": float(diffs.mean()),
                        "sem": sem, "wins": int((diffs > 0).sum())})
    return out


def print_paired(pairs: list[dict]) -> None:
    print("\nwithin-seed differences (upper - lower; mean +- its standard error over the seeds):")
    print(f"{'jets/class':>10}  {'recipe':<10}{'epochs':>6}  {'upper - lower':<42}{'seeds':>6}{'mean':>9}"
          f"{'+-':>7}{'wins':>6}  per seed")
    for p in pairs:
        label = f"{p['upper']} - {p['lower']}"
        print(f"{p['n_jets']:>10}  {p['recipe']:<10}{p['epochs']:>6}  {label:<42}{len(p['seeds']):>6}"
              f"{p['mean']:+9.4f}{p['sem']:7.4f}{p['wins']:>4}/{len(p['seeds'])}  "
              + " ".join(f"{d:+.3f}" for d in p["diffs"]))


def print_collected(table: list[dict]) -> None:
    print(f"{'jets/class':>10}  {'recipe':<10}{'epochs':>6}  {'row':<30}{'seeds':>6}{'AUC':>8}{'seed sd':>9}"
          f"{'test +-':>9}{'1/eps_B':>9}{'S_rot':>8}{'AUC head':>10}  AUC per seed")
    for r in table:
        print(f"{r['n_jets']:>10}  {r['recipe']:<10}{r['epochs']:>6}  {r['name']:<30}{len(r['seeds']):>6}"
              f"{r['auc']:8.3f}{r['seed_std']:9.3f}{r['auc_err']:9.3f}{r['rejection']:9.1f}{r['s_rot']:8.3f}{r['auc_head']:10.3f}  "
              + " ".join(f"{a:.3f}" for a in r["aucs"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-jets", type=int, default=300, help="jets per class (top, QCD)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--out-channels", type=int, default=32)
    parser.add_argument("--translation-scale", type=float, default=0.1,
                        help="standard deviation of the (eta, phi) shift")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", choices=("pgjets", "paper"), default="pgjets",
                        help="augmentation recipe: pgjets (milder, both views) or paper (JetCLR's own: the 50 "
                             "hardest constituents, soft+collinear on one view, shifts up to the jet size)")
    parser.add_argument("--data", default="", help="dataset folder with top_*.h5 and qcd_*.h5 (default: generate)")
    parser.add_argument("--rows", default="none,translations,rotations,soft+collinear,all",
                        help="augmentation rows to train (comma separated; empty: baselines only; "
                             "also rotations+soft+collinear, 'all' without the translations)")
    parser.add_argument("--baselines", default="efp,particlenet",
                        help="comma separated: efp (linear classifier on EFPs d <= 5), particlenet (supervised)")
    parser.add_argument("--supervised-epochs", type=int, default=10)
    parser.add_argument("--paper-shift", type=float, default=1.0, metavar="W",
                        help="--recipe paper: translations within +-W times the jet's extent (the paper: 1)")
    parser.add_argument("--lct-every", type=int, default=0, metavar="N",
                        help="also run the linear classifier test every N epochs (the AUC against training time)")
    parser.add_argument("--json", default="", help="write the table to this JSON file")
    parser.add_argument("--collect", nargs="+", metavar="JSON", default=None,
                        help="train nothing: merge these --json files (rows, seeds) into one table and print it")
    args = parser.parse_args()
    if args.collect:
        try:
            table = collect(args.collect)
        except (OSError, ValueError, KeyError) as exc:  # one line, exit 2, as for any bad argument
            parser.error(f"--collect: {type(exc).__name__}: {exc}")
        print_collected(table)
        print_paired(paired_differences(table))
        return
    if not args.paper_shift >= 0:
        parser.error(f"--paper-shift must be >= 0, got {args.paper_shift}")
    if args.lct_every < 0:
        parser.error(f"--lct-every must be >= 0 (0: only after the last epoch), got {args.lct_every}")
    augmentations = augmentation_sets(args.translation_scale, args.recipe, args.paper_shift)
    wanted = [r for r in args.rows.split(",") if r]
    unknown = [r for r in wanted if r not in augmentations]
    if unknown:
        parser.error(f"--rows: unknown row(s) {', '.join(map(repr, unknown))}; the rows are {', '.join(augmentations)}")

    t0 = time.time()
    if args.data:
        table = JetTable.concat([read_class(args.data, "top", args.n_jets, 1),
                                 read_class(args.data, "qcd", args.n_jets, 0)])
    else:
        table = JetTable.concat([
            generate_jets("top", args.n_jets, seed=args.seed + 1, fast=True, label=1),
            generate_jets("qcd", args.n_jets, seed=args.seed + 2, fast=True, label=0),
        ])
    if args.recipe == "paper":
        table = table.hardest(PAPER_CONSTITUENTS)
    ds = JetDataset.from_table(table, representation="cloud", k=None, feature_set="angular")
    print(f"generated {2 * args.n_jets} jets in {time.time() - t0:.1f} s")
    probe = next(iter(ds.batches(min(256, 2 * args.n_jets), shuffle=True, seed=12345)))

    rows = []
    curves: dict[str, dict[int, float]] = {}  # row -> {epoch: AUC} (--lct-every)
    for name, (augs, second) in augmentations.items():
        if name not in wanted:
            continue
        t1 = time.time()
        torch.manual_seed(args.seed)
        enc = JetCLREncoder(channels=args.channels, heads=4, num_layers=2, out_channels=args.out_channels)

        def batches(epoch: int):
            it = ds.batches(args.batch_size, shuffle=True, seed=args.seed + epoch)
            return base_rotated(it, 1000 * args.seed + epoch) if args.recipe == "paper" else it

        curve: dict[int, float] = {}

        def checkpoint(epoch: int, loss: float) -> None:
            if args.lct_every and (epoch + 1) % args.lct_every == 0 and epoch + 1 < args.epochs:
                f, y = representations(enc, ds.batches(256), pooled=True)
                curve[epoch + 1] = linear_classifier_test(f, y, test_fraction=0.3, seed=args.seed)["auc"]
                print(f"    epoch {epoch + 1}: loss {loss:.3f}, AUC {curve[epoch + 1]:.3f}", flush=True)

        losses = train_jetclr(enc, batches, augs, epochs=args.epochs, lr=args.lr, temperature=args.temperature,
                              seed=args.seed, second_view=second, on_epoch_end=checkpoint)
        # The paper's linear classifier test reads the representation *before* the projection head
        # (the z-weighted sum of the transformer outputs, "rep 0" of JetCLR's code); the head output,
        # which NT-Xent makes invariant to the augmentations, is reported next to it.
        feats, labels = representations(enc, ds.batches(256), pooled=True)
        lct = linear_classifier_test(feats, labels, test_fraction=0.3, seed=args.seed, signal_efficiency=0.5)
        head_feats, _ = representations(enc, ds.batches(256))
        lct_head = linear_classifier_test(head_feats, labels, test_fraction=0.3, seed=args.seed,
                                          signal_efficiency=0.5)
        rot = rotation_invariance(enc, probe, seed=args.seed)
        curve[args.epochs] = lct["auc"]
        curves[name] = curve
        rows.append((name, lct["auc"], lct["rejection"], rot, losses[0], losses[-1], time.time() - t1,
                     lct_head["auc"], lct_head["rejection"]))
        print(f"  {name}: AUC {lct['auc']:.3f} (head output {lct_head['auc']:.3f})  ({time.time() - t1:.0f} s)",
              flush=True)

    baselines = [b for b in args.baselines.split(",") if b]
    if "efp" in baselines:
        t1 = time.time()
        efps = jet_efps(table, 5, max_constituents=50)
        lct = linear_classifier_test(efps, table.label, test_fraction=0.3, seed=args.seed, signal_efficiency=0.5)
        rows.append(("EFP d<=5 (linear)", lct["auc"], lct["rejection"], float("nan"), float("nan"), float("nan"),
                     time.time() - t1, float("nan"), float("nan")))
        print(f"  EFP: AUC {lct['auc']:.3f}  ({time.time() - t1:.0f} s)", flush=True)
    if "particlenet" in baselines:
        t1 = time.time()
        auc, rej = supervised_particlenet(table, args)
        rows.append(("ParticleNet-Lite (supervised)", auc, rej, float("nan"), float("nan"), float("nan"),
                     time.time() - t1, float("nan"), float("nan")))
        print(f"  ParticleNet-Lite: AUC {auc:.3f}  ({time.time() - t1:.0f} s)", flush=True)

    print()
    n_test = round(0.3 * 2 * args.n_jets) // 2  # per class (stratified 30 % test split)
    rows = [(*r, auc_error(r[1], n_test, n_test)) for r in rows]
    print(f"{'augmentations':<16}{'AUC':>8}{'+-':>7}{'1/eps_B(0.5)':>14}{'S_rot':>8}{'loss0':>8}{'lossN':>8}"
          f"{'time/s':>8}{'AUC head':>10}")
    for name, auc, rej, rot, l0, ln, dt, auc_h, _, err in rows:
        print(f"{name:<16}{auc:8.3f}{err:7.3f}{rej:14.1f}{rot:8.3f}{l0:8.3f}{ln:8.3f}{dt:8.1f}{auc_h:10.3f}")
    print("\nAUC: linear classifier on the representation before the projection head (as JetCLR); AUC head: on the"
          "\nhead output. S_rot = mean cosine similarity between f(x) and f(R x) (head output; 1 = invariant).")
    if args.json:
        import json

        keys = ("name", "auc", "rejection", "s_rot", "loss0", "lossN", "seconds", "auc_head", "rejection_head",
                "auc_err")
        with open(args.json, "w") as f:
            out = [dict(zip(keys, r)) for r in rows]
            for row in out:
                if row["name"] in curves:
                    row["auc_by_epoch"] = curves[row["name"]]
            json.dump({"rows": out, "args": vars(args)}, f, indent=1)


if __name__ == "__main__":
    main()
