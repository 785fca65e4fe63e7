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
    """True when ``path`` (``--data``: a path, or a list of them) is one event folder or event file."""
    path = _event_path(path)
    if path is None:
        return False
    from .data.generate_events import is_event_folder

    return Path(path).exists() and is_event_folder(path)


def _dataset(path: Path, max_events: Optional[int]):
    from .data.event_dataset import StreamedEventDataset

    ds = StreamedEventDataset(path)  # streamed: only file lists and event counts are read
    idx = np.arange(len(ds))
    if max_events is not None and len(ds) > max_events:
        idx = np.sort(np.random.default_rng(0).choice(len(ds), max_events, replace=False))
    return ds, idx


def _subset(ds, idx: np.ndarray):
    return ds.subset(idx)  # streamed batches for the Trainer (StreamedEventDataset.batches)


def _event_path(data: Any) -> Any:
    """The one event folder or file of ``--data`` (a single path, possibly given as a list of one)."""
    if isinstance(data, (list, tuple)):
        return data[0] if len(data) == 1 else None
    return data


def maybe_train_events(cfg: dict[str, Any], out: Path, old: Optional[dict[str, Any]] = None
                       ) -> Optional[dict[str, Any]]:
    """The hook of :func:`pgjets.run.train_run`: train on events if ``cfg["data"]`` holds events.

    ``old`` is the configuration of the run being resumed (from
    :func:`pgjets.run.check_rerun`, which has already compared the settings).
    Returns ``None`` (a jet run) otherwise.

    Raises:
        UsageError: an event model (:data:`~pgjets.models.registry.EVENT_MODELS`)
            without an event folder as ``--data``.
    """
    from .errors import UsageError
    from .models.registry import EVENT_MODELS

    path = _event_path(cfg["data"])
    if cfg.get("generate") is None and is_event_data(path):
        return train_event_run(cfg, out, Path(path), old)
    if cfg["model"] in EVENT_MODELS:
        raise UsageError(f"model {cfg['model']!r} classifies whole events: give --data with a folder of "
                         "`pgjets generate --events` (or of parquet event files)")
    return None


def train_event_run(cfg: dict[str, Any], out: Path, data_dir: Path,
                    old: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Train ``cfg["model"]`` on the events of ``data_dir``, evaluate on the test split.

    Seeded, resumable and guarded like a jet run: the settings were checked by
    :func:`pgjets.run.check_rerun`, the data's fingerprint is checked here.
    """
    from .data.fingerprint import fingerprint
    from .run import _data_changed, fit_run, split_indices

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds, idx = _dataset(data_dir, cfg["max_jets"])
    fp = fingerprint(data_dir, n_jets=len(ds))
    if old is not None:
        _data_changed(str(data_dir), old.get("data_fingerprint"), fp,
                      f"run {out} started on; use --force to start afresh")
    inputs = {"label_names": list(ds.label_names) if ds.label_names else None, "num_features": int(ds.num_features)}
    cfg = {**cfg, "data": str(data_dir), "data_fingerprint": fp, "inputs": inputs}
    split = {k: idx[v] for k, v in split_indices(idx.size, cfg["split"], cfg["seed"]).items()}
    if not fit_run(cfg, out, split, _subset(ds, split["train"]), _subset(ds, split["val"]),
                   ds.num_features, ds.num_classes, unit="events"):
        return {"metrics": {}}
    return evaluate_event_run(out, cfg, dataset=ds)


def evaluate_event_run(run: Path, cfg: dict[str, Any], data: Any = None, out: Optional[Path] = None,
                       dataset=None) -> dict[str, Any]:
    """Test metrics and plots of a finished event run (best checkpoint).

    Without ``data`` the run's test split (after checking the events still match
    the recorded fingerprint) and the results go to the run folder; with
    ``data`` all its events are evaluated into ``out`` (default ``RUN/eval/<name>/``).
    """
    from .data.fingerprint import fingerprint
    from .run import _as_specs, _data_changed, _eval_name, _trainer, build_run_model, load_run_weights, run_split
    from .run import write_report

    run = Path(run)
    inputs = cfg.get("inputs") or {}  # classes and object features at training
    if data is not None:
        path = _event_path(_as_specs(data))
        if path is None or not Path(path).exists():
            raise DataFileNotFoundError(f"event data {data} do not exist (give one event folder or file)")
        dataset, idx = _dataset(Path(path), None)
        _check_event_inputs(inputs, dataset, run, str(path))
        dest = Path(out) if out is not None else run / "eval" / _eval_name([str(path)])
    else:
        if not Path(cfg["data"]).exists():
            raise DataFileNotFoundError(f"the events of run {run}, {cfg['data']}, do not exist (moved or deleted?)")
        if dataset is None:
            dataset, _ = _dataset(Path(cfg["data"]), None)
            recorded = cfg.get("data_fingerprint")
            _data_changed(cfg["data"], recorded, fingerprint(cfg["data"], n_jets=len(dataset)),
                          f"run {run} was trained on; give --data PATH to evaluate on other events")
        idx = run_split(run, len(dataset))["test"]
        dest = Path(out) if out is not None else run
    num_classes = len(inputs["label_names"]) if inputs.get("label_names") else dataset.num_classes
    model = build_run_model(cfg, dataset.num_features, num_classes)
    load_run_weights(run, cfg, model, "best")
    trainer = _trainer({**cfg, "progress": False, "device": "auto"}, model, None, distributed=False)
    logits, y = trainer.predict(_subset(dataset, idx))
    names = inputs.get("label_names") or dataset.label_names or [str(i) for i in range(num_classes)]
    metrics, curves = write_report(run, dest, cfg, logits, y, names)
    return {"metrics": metrics, "curves": curves, "test_index": idx, "logits": logits, "y": y, "out": dest}


def _check_event_inputs(recorded: dict[str, Any], dataset: Any, run: Path, data: str) -> None:
    """Refuse events with other classes or another number of object features than the run's."""
    from .data.inputs import check_inputs
    from .errors import DataFileError

    check_inputs(recorded, dataset, f"run {run}", data)
    want = recorded.get("num_features")
    if want is not None and int(want) != int(dataset.num_features):
        raise DataFileError(f"run {run} was trained on objects with {want} features but {data} gives "
                            f"{dataset.num_features} (other collections or extra fields?)")


__all__ = ["is_event_data", "maybe_train_events", "train_event_run", "evaluate_event_run"]
