"""Training runs on jets: the machinery behind ``pgjets train``, ``evaluate`` and ``demo``.

A run folder holds::

    RUN/config.yaml          the full configuration (flags and YAML merged)
    RUN/split.npz            the jet indices of the train/val/test split
    RUN/checkpoints/         last.pt (every epoch, exact resume) and best.pt
    RUN/history.json         losses and metrics per epoch
    RUN/metrics.json         test metrics (written by evaluate)
    RUN/roc.png, loss.png    plots

Training data come from a generated folder (``--data DIR``) or are generated on
the spot (``--generate N``: N jets per process with Pythia 8 + FastJet).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import DataFileError, DataFileNotFoundError
from .train.trainer import TrainConfig, Trainer, atomic_write_text

#: Defaults of a run configuration (YAML keys or ``--flags``).
DEFAULTS: dict[str, Any] = {
    "model": "particlenet_lite",
    "data": None,
    "generate": None,
    "processes": ["qcd", "top"],
    "fast": True,
    "workers": None,
    "gen_seed": 1,
    "feature_set": "particlenet",
    "split": [0.6, 0.2, 0.2],
    "max_jets": None,
    "epochs": 10,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 1e-2,
    "schedule": "onecycle",
    "label_smoothing": 0.0,
    "patience": None,
    "seed": 0,
    "device": "auto",
    "progress": True,
}


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML file with run settings (flags override it)")
    p.add_argument("--model", help="model name (see pgjets.models.registry.MODELS)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", type=Path, help="folder of generated jets or events (pgjets generate)")
    src.add_argument("--generate", type=int, metavar="N", help="generate N jets per process now")
    p.add_argument("--process", dest="processes", action="append", help="process to generate (repeatable)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--max-jets", type=int, help="use at most this many jets")
    p.add_argument("--workers", type=int, help="generator processes")
    p.add_argument("--device", help="auto, cpu or cuda")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None)
    p.add_argument("--ddp", action="store_true",
                   help="distributed data parallel under torchrun (gloo on CPU, nccl on GPU)")
    p.add_argument("--out", type=Path, required=True, help="run folder")


def add_evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run folder written by pgjets train")
    p.add_argument("--data", type=Path, help="evaluate on all jets of this folder instead of the test split")


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults, the YAML file and the flags (flags win)."""
    import yaml

    cfg = dict(DEFAULTS)
    if getattr(args, "config", None):
        if not Path(args.config).exists():
            raise DataFileNotFoundError(f"config file {args.config} does not exist")
        loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        unknown = set(loaded) - set(DEFAULTS) - {"out"}
        if unknown:
            raise ValueError(f"unknown keys in {args.config}: {sorted(unknown)}")
        cfg.update(loaded)
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = str(value) if isinstance(value, Path) else value
    if cfg["data"] is None and cfg["generate"] is None:
        raise ValueError("give --data DIR or --generate N")
    return cfg


def prepare_data(cfg: dict[str, Any], out: Path) -> Path:
    """The data folder of a run, generating jets first when asked to."""
    if cfg["data"] is not None:
        path = Path(cfg["data"])
        if not path.exists():
            raise DataFileNotFoundError(f"data folder {path} does not exist")
        return path
    from .data.generate import generate_dataset

    from .train.distributed import barrier, is_main_process

    path = out / "data"
    if not is_main_process():  # rank 0 generates, the others wait for the manifest
        barrier()
        return path
    if not (path / "manifest.json").exists():
        workers = cfg["workers"] or max(1, min(len(os.sched_getaffinity(0)), 8))
        print(f"generating {cfg['generate']} jets per process {cfg['processes']} "
              f"with Pythia 8 + FastJet ({workers} workers) -> {path}")
        generate_dataset(cfg["processes"], cfg["generate"], path, seed=cfg["gen_seed"],
                         fast=cfg["fast"], workers=workers, progress=cfg["progress"])
    barrier()
    return path


def load_table(path: Path, max_jets: Optional[int] = None):
    """All jets of a generated folder as one :class:`~pgjets.data.table.JetTable`."""
    from .data.jet_io import dataset_files, read_jets
    from .data.table import JetTable

    files = dataset_files(path)
    if not files:
        raise DataFileError(f"{path} holds no jet files")
    table = JetTable.concat([read_jets(f) for f in files])
    if max_jets is not None and len(table) > max_jets:
        rng = np.random.default_rng(0)
        table = table.take(np.sort(rng.choice(len(table), max_jets, replace=False)))
    return table


def split_indices(n: int, fractions, seed: int) -> dict[str, np.ndarray]:
    """Seeded random train/val/test split of ``n`` items."""
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"split must be three fractions summing to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(n)
    a, b = int(round(f[0] * n)), int(round((f[0] + f[1]) * n))
    return {"train": np.sort(perm[:a]), "val": np.sort(perm[a:b]), "test": np.sort(perm[b:])}


def make_datasets(table, split: dict[str, np.ndarray], model_name: str, feature_set: str) -> dict:
    from .data.jet_dataset import JetDataset
    from .models.registry import representation_of

    rep, k = representation_of(model_name)
    return {name: JetDataset.from_table(table.take(idx), representation=rep, k=k, feature_set=feature_set)
            for name, idx in split.items()}


def build_run_model(cfg: dict[str, Any], num_features: int, num_classes: int):
    from .models.registry import build_model

    return build_model(cfg["model"], in_channels=num_features, num_classes=num_classes)


def _trainer(cfg: dict[str, Any], model, out: Optional[Path], distributed: Optional[bool] = None) -> Trainer:
    names = {f.name for f in fields(TrainConfig)}
    tc = TrainConfig(**{k: v for k, v in cfg.items() if k in names},
                     monitor="val_auc")
    return Trainer(model, tc, out_dir=out, distributed=distributed)


def train_run(cfg: dict[str, Any], out: Path) -> dict[str, Any]:
    """Prepare data, train, evaluate on the test split; return the test metrics."""
    import yaml

    from .train.distributed import is_main_process

    main = is_main_process()  # under DDP only rank 0 writes files
    out.mkdir(parents=True, exist_ok=True)
    from .run_events import maybe_train_events  # whole events (pgjets generate --events)

    events_result = maybe_train_events(cfg, out)
    if events_result is not None:
        return events_result
    data_dir = prepare_data(cfg, out)
    cfg = {**cfg, "data": str(data_dir)}
    if main:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    table = load_table(data_dir, cfg["max_jets"])
    split = split_indices(len(table), cfg["split"], cfg["seed"])
    if main:
        np.savez(out / "split.npz", **split)
    ds = make_datasets(table, split, cfg["model"], cfg["feature_set"])
    model = build_run_model(cfg, ds["train"].num_features, ds["train"].num_classes)
    trainer = _trainer(cfg, model, out)
    if main:
        print(f"training {cfg['model']} ({sum(p.numel() for p in model.parameters()):,} parameters) on "
              f"{len(ds['train'])} jets, validating on {len(ds['val'])}")
    trainer.fit(ds["train"], ds["val"])
    if not main:
        return {"metrics": {}}
    return evaluate_run(out, table=table)


def evaluate_run(run: Path, data: Optional[Path] = None, table=None) -> dict[str, Any]:
    """Test metrics and plots of a finished run (best checkpoint)."""
    import torch
    import yaml

    run = Path(run)
    if not (run / "config.yaml").exists():
        raise DataFileNotFoundError(f"{run} is not a run folder (no config.yaml)")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    from .run_events import evaluate_event_run, is_event_data  # whole events

    if is_event_data(cfg["data"]):
        return evaluate_event_run(run, cfg, data=data)
    if data is not None:
        table = load_table(Path(data))
        idx = np.arange(len(table))
    else:
        table = table if table is not None else load_table(Path(cfg["data"]), cfg["max_jets"])
        idx = np.load(run / "split.npz")["test"]
    test = make_datasets(table, {"test": idx}, cfg["model"], cfg["feature_set"])["test"]
    model = build_run_model(cfg, test.num_features, test.num_classes)
    best = run / "checkpoints" / "best.pt"
    if not best.exists():
        raise DataFileNotFoundError(f"{best} does not exist: has the run finished an epoch?")
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=False)["model"])
    trainer = _trainer({**cfg, "progress": False}, model, None, distributed=False)
    logits, y = trainer.predict(test)
    metrics, curves = write_report(run, cfg["model"], logits, y, table.label_names, len(idx))
    return {"metrics": metrics, "curves": curves, "table": table, "test_index": idx, "logits": logits, "y": y}


def write_report(run: Path, model_name: str, logits, y, label_names: Optional[list], n_test: int):
    """Test metrics (``metrics.json``) and plots (ROC, confusion, loss) of a run folder."""
    from .train.metrics import classification_report, confusion_matrix, roc_curve
    from .train.plots import plot_confusion_matrix, plot_history, plot_roc

    metrics: dict[str, Any] = classification_report(logits, y)
    metrics["n_test"] = int(n_test)
    names = label_names or [str(i) for i in range(logits.shape[1])]
    curves = {}
    if logits.shape[1] == 2:
        fpr, tpr, _ = roc_curve(logits, y)
        curves[model_name] = (fpr, tpr)
        plot_roc(curves, run / "roc.png", signal_name=names[1])
    plot_confusion_matrix(confusion_matrix(logits, y), run / "confusion.png", names)
    hist = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else []
    if hist:
        plot_history(hist, run / "loss.png", keys=["train_loss", "val_loss"])
    atomic_write_text(run / "metrics.json", json.dumps(metrics, indent=1))
    return metrics, curves


def format_metrics(metrics: dict[str, Any]) -> str:
    parts = [f"AUC {metrics['auc']:.4f}", f"acc {metrics['accuracy']:.4f}"]
    for key in ("rej@0.3", "rej@0.5"):
        if key in metrics:
            parts.append(f"1/eps_B(eps_S={key[4:]}) {metrics[key]:.1f}")
    return ", ".join(parts)


def run_train(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if getattr(args, "ddp", False):
        from .train.distributed import init_from_env, is_main_process

        rank, world = init_from_env()
        if rank == 0:
            print(f"DDP: {world} processes, global batch {world * cfg['batch_size']}")
        res = train_run(cfg, Path(args.out))
        if not is_main_process():
            return 0
    else:
        res = train_run(cfg, Path(args.out))
    print(f"test: {format_metrics(res['metrics'])}")
    print(f"run folder: {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    res = evaluate_run(Path(args.run), data=args.data)
    print(f"test: {format_metrics(res['metrics'])}")
    return 0


__all__ = ["DEFAULTS", "train_run", "evaluate_run", "split_indices", "load_table", "format_metrics"]
