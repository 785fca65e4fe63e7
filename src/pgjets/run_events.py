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
    """True when ``path`` (``--data``: a path, or a list of them; ``CLASS=PATH`` specs included) holds
    only events: event folders, event parquet files, ROOT event files (NanoAOD, H->ZZ layout)."""
    specs = [path] if isinstance(path, (str, Path)) else list(path or [])
    try:
        return bool(specs) and all(not_event_data_reason(str(spec)) is None for spec in specs)
    except (DataFileNotFoundError, TypeError):
        return False


def event_input(data: Any) -> Any:
    """What :class:`~pgjets.data.event_dataset.StreamedEventDataset` takes for ``--data``: one path,
    a list of paths, or ``{class: [paths]}`` when the specs are ``CLASS=PATH``.

    Raises:
        UsageError: some specs have a class and others not.
    """
    from .data.sources import class_specs

    specs = [str(data)] if isinstance(data, (str, Path)) else [str(d) for d in data]
    classes = class_specs(specs)
    if classes is not None:
        return classes
    return specs[0] if len(specs) == 1 else specs


def _dataset(data: Any, max_events: Optional[int], cfg: dict[str, Any]):
    from .data.event_dataset import DEFAULT_COLLECTIONS, StreamedEventDataset

    ds = StreamedEventDataset(event_input(data), collections=cfg.get("collections") or DEFAULT_COLLECTIONS,
                              extra_fields=cfg.get("object_fields") or ())  # reads file lists and counts only
    idx = np.arange(len(ds))
    if max_events is not None and len(ds) > max_events:
        idx = np.sort(np.random.default_rng(0).choice(len(ds), max_events, replace=False))
    return ds, idx


def _fingerprint(ds) -> dict[str, Any]:
    """The fingerprint of the files a streamed event dataset reads, with its number of events."""
    from .data.fingerprint import fingerprint

    return fingerprint(ds.files, n_jets=len(ds))


def _subset(ds, idx: np.ndarray):
    return ds.subset(idx)  # streamed batches for the Trainer (StreamedEventDataset.batches)


def _describe(data: Any) -> str:
    return str(data) if isinstance(data, (str, Path)) else " ".join(map(str, data))


def not_event_data_reason(spec: str) -> Optional[str]:
    """Why the ``--data`` spec ``spec`` (``CLASS=PATH`` or a path) is not event data; ``None`` when it is.

    Raises:
        DataFileNotFoundError: the path does not exist, or its glob matches nothing.
    """
    from .data.event_dataset import event_file_kind
    from .data.generate_events import is_event_folder
    from .data.sources import expand_spec, split_class_spec
    from .errors import DataFileError

    for p in expand_spec(split_class_spec(spec)[1], "event data"):
        if is_event_folder(p):
            continue
        if p.is_dir():
            return f"{p} is a folder without event files (a pgjets generate --events manifest, parquet or ROOT)"
        try:
            event_file_kind(p)
        except DataFileError as exc:
            return str(exc)
        return f"{p} holds no events (jets?)"
    return None


def first_non_event_spec(specs: Any, flag: str = "--data") -> Optional[tuple[str, str]]:
    """``(spec, reason)`` of the first spec of ``specs`` that is not event data, ``None`` when all are.

    Raises:
        UsageError: a path does not exist or a glob matches nothing (a bad argument).
    """
    from .errors import UsageError

    for spec in [str(specs)] if isinstance(specs, (str, Path)) else [str(d) for d in specs]:
        try:
            reason = not_event_data_reason(spec)
        except DataFileNotFoundError as exc:
            raise UsageError(f"{flag} {spec}: {exc}") from None
        if reason is not None:
            return spec, reason
    return None


def _explain_not_events(data: Any, model: str) -> None:
    """Raise the reason why ``--data`` does not hold events, for an event model."""
    from .errors import UsageError

    found = first_non_event_spec(data)
    if found is not None:
        raise UsageError(f"model {model!r} classifies whole events, but --data {found[0]}: {found[1]}")
    raise UsageError(f"model {model!r} classifies whole events: give --data with a folder of "
                     "`pgjets generate --events`, parquet event files or NanoAOD ROOT files (CLASS=FILE per class)")


def check_event_data(cfg: dict[str, Any]) -> tuple[Any, np.ndarray]:
    """The streamed dataset of an event run's ``--data`` and the events it uses, after every check that
    needs no writing: the files, their collections and object fields, two or more classes with events,
    no ``--val``/``--test``.

    Raises:
        UsageError: ``--val``/``--test`` given, or fewer than two classes.
        DataArgumentError: a class without events, a missing collection or object field.
    """
    from .errors import DataArgumentError, UsageError

    held_out = [f"--{key}" for key in ("val", "test") if cfg.get(key) is not None]
    if held_out:
        raise UsageError(f"{' and '.join(held_out)}: event runs split --data (set split: in --config); "
                         "held-out event files are not supported yet")
    ds, idx = _dataset(cfg["data"], cfg["max_jets"], cfg)
    counts = ds.class_counts()
    if counts is not None:
        if len(counts) < 2:
            raise UsageError(f"--data gives one class ({ds.label_names[0]}); a classifier needs two or more "
                             "(--data CLASS=PATH per class)")
        empty = [name for name, n in zip(ds.label_names, counts) if n == 0]
        if empty:
            raise DataArgumentError(f"class {empty[0]!r} has no events (its files are empty)")
    return ds, idx


def maybe_train_events(cfg: dict[str, Any], out: Path, old: Optional[dict[str, Any]] = None
                       ) -> Optional[dict[str, Any]]:
    """The hook of :func:`pgjets.run.train_run`: train on events if ``cfg["data"]`` holds events.

    ``old`` is the configuration of the run being resumed (from
    :func:`pgjets.run.check_rerun`, which has already compared the settings).
    Returns ``None`` (a jet run) otherwise.

    Raises:
        UsageError: an event model (:data:`~pgjets.models.registry.EVENT_MODELS`)
            without event data as ``--data`` (the message says what is wrong with it).
    """
    from .models.registry import EVENT_MODELS

    if cfg.get("generate") is None and is_event_data(cfg["data"]):
        return train_event_run(cfg, out, cfg["data"], old)
    if cfg["model"] in EVENT_MODELS:
        _explain_not_events(cfg["data"] if cfg.get("generate") is None else [], cfg["model"])
    return None


def train_event_run(cfg: dict[str, Any], out: Path, data: Any,
                    old: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Train ``cfg["model"]`` on the events of ``data`` (``--data``: see :func:`event_input`), evaluate
    on the test split.

    Seeded, resumable and guarded like a jet run: the settings were checked by
    :func:`pgjets.run.check_rerun`, the data's fingerprint is checked here.
    """
    from .run import _data_changed, fit_run, split_indices

    out = Path(out)
    ds, idx = check_event_data({**cfg, "data": data})  # before anything is written: bad data cost no folder
    out.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint(ds)
    if old is not None:
        _data_changed(_describe(data), old.get("data_fingerprint"), fp,
                      f"run {out} started on; use --force to start afresh")
    inputs = {"label_names": list(ds.label_names) if ds.label_names else None, "num_features": int(ds.num_features)}
    cfg = {**cfg, "data": str(data) if isinstance(data, Path) else data, "data_fingerprint": fp, "inputs": inputs}
    split = {k: idx[v] for k, v in split_indices(idx.size, cfg["split"], cfg["seed"]).items()}
    if not fit_run(cfg, out, split, _subset(ds, split["train"]), _subset(ds, split["val"]),
                   ds.num_features, ds.num_classes, unit="events"):
        return {"metrics": {}}
    return evaluate_event_run(out, cfg, dataset=ds)


def evaluate_event_run(run: Path, cfg: dict[str, Any], data: Any = None, out: Optional[Path] = None,
                       dataset=None, signal: Optional[str] = None,
                       working_points: Optional[dict[str, float]] = None) -> dict[str, Any]:
    """Test metrics and plots of a finished event run (best checkpoint).

    Without ``data`` the run's test split (after checking the events still match
    the recorded fingerprint) and the results go to the run folder (to
    ``RUN/eval/test-.../`` with another ``signal`` or other ``working_points``);
    with ``data`` all its events are evaluated into ``out`` (default
    ``RUN/eval/<name>/``).  ``signal`` and ``working_points`` mean what they
    mean for :func:`pgjets.run.evaluate_run`.
    """
    from .run import _as_specs, _data_changed, _eval_dest, _test_dest, _trainer, build_run_model, load_run_weights
    from .run import check_eval_out, resolve_data_paths, run_split, write_report

    run = Path(run)
    inputs = cfg.get("inputs") or {}  # classes and object features at training
    if data is not None:
        specs = _as_specs(resolve_data_paths(data))
        if not is_event_data(specs):
            raise DataFileNotFoundError(f"{' '.join(specs)} are not event data (give event folders or files, "
                                        "CLASS=FILE for NanoAOD files)")
        dataset, idx = _dataset(specs, None, cfg)
        order = _class_order(inputs.get("label_names"), dataset.label_names)  # another order: matched by name
        checked = inputs if order is None else {**inputs, "label_names": None}  # matched by name
        _check_event_inputs(checked, dataset, run, " ".join(specs))
        dest = Path(out) if out is not None else _eval_dest(run, specs)
        check_eval_out(run, dest)
    else:
        if dataset is None:
            try:
                dataset, _ = _dataset(cfg["data"], None, cfg)
            except DataFileNotFoundError as exc:
                raise DataFileNotFoundError(f"the events of run {run}, {_describe(cfg['data'])}, do not exist "
                                            f"(moved or deleted?): {exc}") from None
            recorded = cfg.get("data_fingerprint")
            _data_changed(_describe(cfg["data"]), recorded, _fingerprint(dataset),
                          f"run {run} was trained on; give --data PATH to evaluate on other events")
        idx = run_split(run, len(dataset))["test"]
        specs, order = None, None
        dest = Path(out) if out is not None else _test_dest(run, cfg, signal, working_points)
    num_classes = len(inputs["label_names"]) if inputs.get("label_names") else dataset.num_classes
    model = build_run_model(cfg, dataset.num_features, num_classes)
    load_run_weights(run, cfg, model, "best")
    trainer = _trainer({**cfg, "progress": False, "device": "auto"}, model, None, distributed=False)
    logits, y = trainer.predict(_subset(dataset, idx))
    if order is not None:
        y = y.new_tensor(order)[y]  # the data's class numbers as the run's
    names = inputs.get("label_names") or dataset.label_names or [str(i) for i in range(num_classes)]
    index = np.unique(idx)
    file, entry = dataset.locate(index)
    extra = {"files": np.asarray([str(f) for f in dataset.files]), "file_index": file, "entry": entry}
    metrics, curves = write_report(run, dest, cfg, logits, y, names, signal=signal, data_specs=specs,
                                   working_points=working_points, index=index, extra_scores=extra)
    return {"metrics": metrics, "curves": curves, "test_index": idx, "logits": logits, "y": y, "out": dest}


def _class_order(recorded: Optional[list], names: Optional[list]) -> Optional[list[int]]:
    """The run's class number of each class of the data, when the data name some or all of the run's
    classes in another order or numbering (``--data wjets=... --data ttbar=...`` for a run trained with
    ttbar first, or ``--data wjets=...`` alone); else ``None``."""
    recorded_names = [str(n) for n in recorded or []]
    given = [str(n) for n in names or []]
    if (not recorded_names or not given or given == recorded_names or not set(given) <= set(recorded_names)
            or len(set(given)) != len(given)):
        return None
    return [recorded_names.index(n) for n in given]


def _check_event_inputs(recorded: dict[str, Any], dataset: Any, run: Path, data: str) -> None:
    """Refuse events with other classes or another number of object features than the run's."""
    from .data.inputs import check_inputs
    from .errors import DataFileError

    check_inputs(recorded, dataset, f"run {run}", data)
    want = recorded.get("num_features")
    if want is not None and int(want) != int(dataset.num_features):
        raise DataFileError(f"run {run} was trained on objects with {want} features but {data} gives "
                            f"{dataset.num_features} (other collections or extra fields?)")


__all__ = ["is_event_data", "event_input", "check_event_data", "not_event_data_reason", "first_non_event_spec",
           "maybe_train_events",
           "train_event_run", "evaluate_event_run"]
