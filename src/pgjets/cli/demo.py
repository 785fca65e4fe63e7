r"""``pgjets demo``: real top-vs-QCD tagging, end to end, on a CPU.

1. Generate top (hadronic :math:`t\bar t`) and QCD jets with Pythia 8 + FastJet
   (anti-:math:`k_t`, R = 0.8, 550 < :math:`p_T` < 650 GeV, :math:`|\eta| < 2`,
   MPI off for speed).
2. Train ParticleNet-Lite on the constituents.
3. Compare on a held-out test set with the classic cut-based tagger, a window on
   the jet mass around :math:`m_t` (score :math:`-|m_J - 172.5\,\mathrm{GeV}|`),
   by ROC AUC and background rejection :math:`1/\varepsilon_B` at
   :math:`\varepsilon_S = 0.3, 0.5`, and draw both ROC curves.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .._checks import user_path
from ..run import DEFAULTS, format_metrics, train_run
from ..train.trainer import atomic_write_text

TOP_MASS = 172.5


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=user_path, default=Path("runs/demo"), help="run folder (default runs/demo)")
    p.add_argument("--n-jets", type=int, default=4000, help="jets per process to generate (default 4000)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    p.add_argument("--model", default="particlenet_lite", help="model (default particlenet_lite)")
    p.add_argument("--workers", type=int, default=None, help="generator processes (default: all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--force", action="store_true", help="start afresh in --out if it holds a run of other settings")


def mass_window_scores(table) -> np.ndarray:
    """Cut-based baseline score: minus the distance of the jet mass to the top mass."""
    return -np.abs(table.jet_kinematics()["mass"] - TOP_MASS)


def run_demo(args: argparse.Namespace) -> int:
    from ..train.metrics import background_rejection, roc_auc, roc_curve
    from ..train.plots import plot_roc

    t0 = time.time()
    out = Path(args.out)
    cfg = dict(DEFAULTS)
    cfg.update(model=args.model, generate=args.n_jets, processes=["qcd", "top"], epochs=args.epochs,
               workers=args.workers, seed=args.seed, progress=args.progress)
    res = train_run(cfg, out, force=getattr(args, "force", False))
    y = res["y"].numpy()
    base = mass_window_scores(res["test_data"].to_table())  # the test jets, in prediction order
    baseline = {"auc": roc_auc(base, y), "rej@0.3": background_rejection(base, y, 0.3),
                "rej@0.5": background_rejection(base, y, 0.5)}
    fpr, tpr, _ = roc_curve(base, y)
    curves = {**{f"{args.model} (AUC {res['metrics']['auc']:.3f})": v for v in res["curves"].values()},
              f"mass window (AUC {baseline['auc']:.3f})": (fpr, tpr)}
    plot_roc(curves, out / "roc.png", title="top vs QCD, Pythia 8 particle level", signal_name="top")
    summary = {"model": args.model, "model_metrics": res["metrics"], "mass_window": baseline,
               "seconds": round(time.time() - t0, 1)}
    atomic_write_text(out / "demo.json", json.dumps(summary, indent=1))
    m = res["metrics"]
    print()
    print(f"{'tagger':<22}{'AUC':>8}{'1/eps_B(0.3)':>15}{'1/eps_B(0.5)':>15}")
    print(f"{args.model:<22}{m['auc']:>8.4f}{m['rej@0.3']:>15.1f}{m['rej@0.5']:>15.1f}")
    print(f"{'mass window':<22}{baseline['auc']:>8.4f}{baseline['rej@0.3']:>15.1f}{baseline['rej@0.5']:>15.1f}")
    print(f"\nROC plot: {out / 'roc.png'}   ({summary['seconds']:.0f} s in all)")
    print(f"model test metrics: {format_metrics(m)}")
    return 0


__all__ = ["run_demo", "add_demo_arguments", "mass_window_scores"]
