"""Full-size ParticleNet and ParT on a large generated top-vs-QCD sample.

Not a test: generates ``--n-jets`` jets per process with Pythia 8 + FastJet
(reusing the folder when it exists), trains each model with the plain
``pgjets.train.Trainer`` (AdamW, one-cycle, AMP on CUDA) and prints/writes
test AUC and 1/eps_B at eps_S = 0.3 and 0.5 as JSON lines.

    python benchmarks/large_sample.py --n-jets 50000 --workers 16 --models particlenet part --epochs 10
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-jets", type=int, default=50000, help="jets per process")
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--data", type=Path, default=Path("runs/large/data"))
    ap.add_argument("--models", nargs="+", default=["particlenet", "part"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from pgjets.data import generate_dataset
    from pgjets.data import load_table, split_indices
    from pgjets.run import make_datasets
    from pgjets.models import build_model
    from pgjets.train import TrainConfig, Trainer

    t0 = time.time()
    if not (args.data / "manifest.json").exists():
        generate_dataset(["qcd", "top"], args.n_jets, args.data, seed=1, fast=True, workers=args.workers,
                         chunk_size=2000, progress=False)
    print(f"data ready in {time.time() - t0:.0f} s", flush=True)
    if args.generate_only:
        return
    table = load_table(args.data)
    split = split_indices(len(table), (0.7, 0.1, 0.2), seed=0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for name in args.models:
        ds = make_datasets(table, split, name, "particlenet")
        torch.manual_seed(0)
        model = build_model(name, ds["train"].num_features, 2)
        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule="onecycle",
                          progress=False, device=device, monitor="val_auc")
        trainer = Trainer(model, cfg)
        t1 = time.time()
        trainer.fit(ds["train"], ds["val"])
        metrics = trainer.evaluate(ds["test"], prefix="test_")
        rec = {"model": name, "jets_train": len(ds["train"]), "jets_test": len(ds["test"]),
               "epochs": args.epochs, "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
               "train_seconds": round(time.time() - t1, 1),
               "params": sum(p.numel() for p in model.parameters()), **metrics}
        print(json.dumps(rec), flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
