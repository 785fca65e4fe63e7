"""Training runs on whole events: ``pgjets train --model event_deepsets --data EVENTS/``.

:func:`pgjets.run.train_run` hands over here when ``--data`` is an event
folder (``pgjets generate --events``, manifest ``kind: events``, or a folder
of parquet event files): the events become the object graphs of
:class:`~pgjets.data.event_dataset.EventDataset` (muons, electrons, jets,
photons and MET, complete graph per event, label = the stored ``label``),
``max_jets`` caps the number of events, and the run folder holds the same
files as a jet run (``config.yaml``, ``split.npz``, checkpoints,
``history.json``, ``metrics.json``, ``roc.png``, ``confusion.png``).  Any
registry model that takes ``(in_channels, num_classes)`` works; the event
models are :data:`~pgjets.models.registry.EVENT_MODELS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from .errors import DataFileNotFoundError


def is_event_data(path: Any) -> bool:
    """True when ``path`` is an event folder or event file (see the module doc)."""
    if path is None:
        return False
    from .data.generate_events import is_event_folder

    return Path(path).exists() and is_event_folder(path)


def _dataset(path: Path, max_events: Optional[int]):
    from .data.event_dataset import EventDataset

    ds = EventDataset(path)
    idx = np.arange(len(ds))
    if max_events is not None and len(ds) > max_events:
        idx = np.sort(np.random.default_rng(0).choice(len(ds), max_events, replace=False))
    return ds, idx


def _subset(ds, idx: np.ndarray):
    return ds.subset(idx)  # vectorised batches for the Trainer (EventDataset.batches)


def maybe_train_events(cfg: dict[str, Any], out: Path) -> Optional[dict[str, Any]]:
    """The hook of :func:`pgjets.run.train_run`: train on events if ``cfg["data"]`` holds events.

    Returns ``None`` (a jet run) otherwise.

    Raises:
        ValueError: an event model (:data:`~pgjets.models.registry.EVENT_MODELS`)
            without an event folder as ``--data``.
    """
    from .models.registry import EVENT_MODELS

    if is_event_data(cfg["data"]):
        return train_event_run(cfg, out, Path(cfg["data"]))
    if cfg["model"] in EVENT_MODELS:
        raise ValueError(f"model {cfg['model']!r} classifies whole events: give --data with a folder of "
                         "`pgjets generate --events` (or of parquet event files)")
    return None


def train_event_run(cfg: dict[str, Any], out: Path, data_dir: Path) -> dict[str, Any]:
    """Train ``cfg["model"]`` on the events of ``data_dir``, evaluate on the test split."""
    import yaml

    from .run import _trainer, build_run_model, split_indices
    from .train.distributed import is_main_process
    from .train.trainer import atomic_write_text

    main = is_main_process()
    cfg = {**cfg, "data": str(data_dir)}
    if main:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    ds, idx = _dataset(data_dir, cfg["max_jets"])
    split = {k: idx[v] for k, v in split_indices(idx.size, cfg["split"], cfg["seed"]).items()}
    if main:
        np.savez(out / "split.npz", **split)
    model = build_run_model(cfg, ds.num_features, ds.num_classes)
    trainer = _trainer(cfg, model, out)
    if main:
        print(f"training {cfg['model']} ({sum(p.numel() for p in model.parameters()):,} parameters) on "
              f"{split['train'].size} events, validating on {split['val'].size}")
    trainer.fit(_subset(ds, split["train"]), _subset(ds, split["val"]))
    if not main:
        return {"metrics": {}}
    return evaluate_event_run(out, cfg, dataset=ds)


def evaluate_event_run(run: Path, cfg: dict[str, Any], data: Optional[Path] = None,
                       dataset=None) -> dict[str, Any]:
    """Test metrics and plots of a finished event run (best checkpoint)."""
    import torch

    from .run import _trainer, build_run_model, write_report

    run = Path(run)
    if data is not None:
        dataset, idx = _dataset(Path(data), None)
    else:
        if dataset is None:
            dataset, _ = _dataset(Path(cfg["data"]), None)
        idx = np.load(run / "split.npz")["test"]
    model = build_run_model(cfg, dataset.num_features, dataset.num_classes)
    best = run / "checkpoints" / "best.pt"
    if not best.exists():
        raise DataFileNotFoundError(f"{best} does not exist: has the run finished an epoch?")
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=False)["model"])
    trainer = _trainer({**cfg, "progress": False}, model, None, distributed=False)
    logits, y = trainer.predict(_subset(dataset, idx))
    metrics, curves = write_report(run, cfg["model"], logits, y, dataset.label_names, idx.size)
    return {"metrics": metrics, "curves": curves, "test_index": idx, "logits": logits, "y": y}


__all__ = ["is_event_data", "maybe_train_events", "train_event_run", "evaluate_event_run"]
