"""Training runs on jets: the machinery behind ``pgjets train``, ``evaluate`` and ``demo``.

This module trains and loads runs; their settings are in :mod:`pgjets.run_config` and their
evaluation and reports in :mod:`pgjets.run_report`, whose names it re-exports (``pgjets.run.evaluate_run``).

A run folder holds::

    RUN/config.yaml          the full configuration (flags and YAML merged), the resolved
                             absolute data path and a fingerprint of the data
    RUN/split.npz            the jet indices of the train/val/test split
    RUN/checkpoints/         last.pt (every epoch, exact resume) and best.pt
    RUN/history.json         losses and metrics per epoch
    RUN/metrics.json         test metrics (written by evaluate; strict JSON: an infinite
                             rejection, no background jet passing, is null)
    RUN/roc.png, loss.png    plots
    RUN/eval/<name>/         metrics and plots of ``pgjets evaluate RUN --data PATH``
                             (<name>-2, -3, ... for other data whose files have the same name)

Training data come from ``--data`` (a generated folder, a data file of any
public format, a glob or several of them, see :mod:`pgjets.data.sources`) or
are generated on the spot (``--generate N``: N jets per process with Pythia 8
+ FastJet).  They are streamed from disk (:mod:`pgjets.data.inputs`), never
read whole; ``--val``/``--test`` give separate validation/test data, else the
seeded split applies.  ``config.yaml`` records the feature set, the input
columns and the classes a run was trained on, and ``evaluate`` refuses data
that cannot provide them.

Reproducibility: everything random is seeded from ``seed`` before the model is
built, so the same settings and data on the same machine give bit-identical
weights and metrics on CPU, and a run stopped after any epoch and started again
ends bit-identical to an uninterrupted one.

Reruns: a ``train`` into a folder that already holds a run resumes it when the
settings are the same; with other settings it stops before writing anything,
naming the settings that differ; ``force=True`` (``--force``) starts afresh
there.  The keys in :data:`RUNTIME_KEYS` (device, progress bar, generator
processes) are not compared.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ._atomic import atomic_output
from ._checks import check_out_folder
from ._lock import folder_lock
from .errors import (
    CheckpointError,
    DataArgumentError,
    DataFileError,
    DataFileNotFoundError,
    GraphSizeError,
    PgjetsError,
    SettingsMismatchError,
    UsageError,
)
from .data.splits import load_table, split_indices
from .train.trainer import (TrainConfig, Trainer, atomic_write_text, load_checkpoint_file, settings_diff)
from .run_config import (  # noqa: F401  (the settings and the reports of a run: pgjets.run names them all)
    DEFAULTS, RUNTIME_KEYS, RECORDED_KEYS, RUN_ENTRIES, _GENERATION_KEYS, _FLAGS, parse_working_points,
    load_config, validate_config, _check_device, run_settings, read_run_config, check_rerun, LOCATION_KEYS,
    moved_data, _uses, clear_run, check_argument_paths, _as_specs, resolve_data_paths, check_data_paths,
)
from .run_report import (  # noqa: F401  (the settings and the reports of a run: pgjets.run names them all)
    _eval_name, check_eval_out, _variant, _test_dest, _eval_dest, _own_dest, evaluate_run, warn_trained_on,
    warn_unnamed_labels, check_matching_inputs, checkpoint_sha256, write_scores, _jet_score_index,
    write_report, _cuts_of_run, format_metrics, format_cuts,
)


def check_signal(signal: Optional[str], data: Any) -> None:
    """``--signal`` must name a class of a binary sample (:func:`check_report_settings` on the classes of
    ``data``).

    Raises:
        UsageError: ``signal`` is not one of the classes (or the sample is not binary).
    """
    check_report_settings(class_names(data), signal, None)


def class_names(data: Any, names: Optional[Sequence[str]] = None) -> list[str]:
    """The class names of a run: ``names`` (recorded at training), else those of ``data``, else
    ``"0"``, ``"1"``, ... for its number of classes."""
    names = names or getattr(data, "label_names", None)
    return [str(n) for n in names] if names else [str(i) for i in range(int(data.num_classes))]


def check_report_settings(names: Sequence[str], signal: Optional[str],
                          working_points: Optional[dict[str, float]]) -> None:
    """``--signal`` and ``--working-point`` against the classes ``names`` of a run, before anything is
    trained or written (a bad one used to cost a whole training, and with ``--force`` the old run).

    A binary run has a signal (``--signal``, default: not the QCD class, else the second) and a
    working point only for it; a multi-class run has no ``--signal``, and working points for every
    class but the background (``qcd``, else the first), whose rejection they measure.

    Raises:
        UsageError: a class the run does not have, ``--signal`` on a multi-class run, a working
            point for the background.
    """
    from .data.inputs import background_index, signal_class

    names = [str(n) for n in names]
    wps = working_points or {}
    unknown = sorted(set(wps) - set(names))
    if unknown:
        raise UsageError(f"--working-point for {', '.join(unknown)}: not a class of the data ({', '.join(names)})")
    if len(names) == 2:
        try:
            sig = signal_class(names, signal)
        except DataFileError as exc:
            raise UsageError(str(exc)) from None
        wrong = sorted(set(wps) - {names[sig]})
        if wrong:
            raise UsageError(f"--working-point for {', '.join(wrong)}: a binary run measures the rejection of "
                             f"{names[1 - sig]} at an efficiency of the signal, {names[sig]}; give "
                             f"--working-point {names[sig]}=EFF")
        return
    if signal is not None:
        raise UsageError(f"--signal {signal} applies to binary runs; this one has {len(names)} classes "
                         "(use --working-point CLASS=EFF)")
    bkg = background_index(names)
    if names[bkg] in wps:
        others = ", ".join(n for n in names if n != names[bkg])
        raise UsageError(f"--working-point for {names[bkg]}: it is the background whose rejection is "
                         f"measured at the efficiencies of the other classes ({others})")


def prepare_data(cfg: dict[str, Any], out: Path) -> Path:
    """The data folder of a run, generating jets first when asked to."""
    if cfg["data"] is not None and cfg.get("generate") is None:
        _check_data_flags(cfg)
        return cfg["data"]
    from .data.generate import generate_dataset

    from .train.distributed import barrier, is_main_process, waiting_group

    path = out / "data"
    group = waiting_group()  # (every rank) a barrier that outlasts a long generation
    if not is_main_process():  # rank 0 generates, the others wait for the manifest
        barrier(group)
        return path
    workers = cfg["workers"] or max(1, min(len(os.sched_getaffinity(0)), 8))
    if not (path / "manifest.json").exists():
        print(f"generating {cfg['generate']} jets per process {cfg['processes']} "
              f"with Pythia 8 + FastJet ({workers} workers) -> {path}")
    # also with a manifest: generate_dataset returns at once when it holds these settings and
    # refuses jets generated with other ones (a run must not train on them under its settings)
    generate_dataset(cfg["processes"], cfg["generate"], path, seed=cfg["gen_seed"],
                     fast=cfg["fast"], workers=workers, progress=cfg["progress"])
    barrier(group)
    return path


def refuse_event_settings(cfg: dict[str, Any]) -> None:
    """Refuse the settings of event runs (``collections``, ``object_fields``, ``tree``, ``connectivity``,
    ``k``, ``weight``, ``weight_norm``) for a jet run.

    Raises:
        UsageError: one of them is set.
    """
    what = {"collections": "chooses the objects of event data", "object_fields": "adds object fields of event data",
            "tree": "names the ROOT tree of event data", "connectivity": "chooses the edges of event graphs",
            "k": "sets the neighbours of kNN event graphs",
            "weight": "reads event weights (jet runs are unweighted so far)",
            "weight_norm": "scales event weights"}
    for key in ("collections", "object_fields", "tree", "connectivity", "k", "weight", "weight_norm"):
        if cfg.get(key) is not None:
            raise UsageError(f"{_FLAGS[key]} {what[key]}, but the data are jets ({_describe_specs(cfg)})")


def _describe_specs(cfg: dict[str, Any]) -> str:
    return "the generated jets" if cfg.get("generate") is not None else " ".join(_as_specs(cfg["data"]))


def refuse_class_specs(value: Any, flag: str = "--data") -> None:
    """Refuse ``CLASS=PATH`` specs for jet data, whose files carry their own labels.

    Raises:
        UsageError: a spec of ``value`` is ``CLASS=PATH``.
    """
    from .data.sources import split_class_spec
    from .run_events import first_non_event_spec

    specs = [s for s in _as_specs(value) if split_class_spec(s)[0] is not None]
    found = first_non_event_spec(specs, flag) if specs else None
    if found is not None:
        raise UsageError(f"{flag} {found[0]}: CLASS=PATH gives a class to event files (NanoAOD, H->ZZ, event "
                         f"parquet), which hold none; {found[1]}")
    if specs:
        raise UsageError(f"{flag}: CLASS=PATH gives a class to event files; give the jet data as plain paths "
                         "(jet files carry their own labels)")


def make_datasets(table, split: dict[str, np.ndarray], model_name: str, feature_set: str) -> dict:
    from .data.jet_dataset import JetDataset
    from .models.registry import representation_of

    rep, k = representation_of(model_name)
    return {name: JetDataset.from_table(table.take(idx), representation=rep, k=k, feature_set=feature_set)
            for name, idx in split.items()}


def build_run_model(cfg: dict[str, Any], num_features: int, num_classes: int):
    from .models.registry import build_model

    return build_model(cfg["model"], in_channels=num_features, num_classes=num_classes)


def _trainer(cfg: dict[str, Any], model, out: Optional[Path], distributed: Optional[bool] = None,
             signal_class: int = 1) -> Trainer:
    names = {f.name for f in fields(TrainConfig)} - {"signal_class"}
    tc = TrainConfig(**{k: v for k, v in cfg.items() if k in names},
                     monitor=RUN_MONITOR, signal_class=signal_class)
    return Trainer(model, tc, out_dir=out, distributed=distributed, settings=run_settings(cfg),
                   locations=LOCATION_KEYS)


#: The validation metric that chooses a command-line run's best checkpoint (the one evaluated).
RUN_MONITOR = "val_auc"


def best_checkpoint_note(run: Path) -> Optional[str]:
    """``"scored: the best checkpoint, epoch 2 of 15 by val_auc (0.754; last epoch 0.741)"``: which
    epoch's weights a finished run's test metrics come from (``None`` without a history or a best
    checkpoint, or when training stopped without validation)."""
    import json

    run = Path(run)
    try:
        history = json.loads((run / "history.json").read_text())
        from .train import load_checkpoint_file

        epoch = int(load_checkpoint_file(run / "checkpoints" / "best.pt")["epoch"])
    except (OSError, ValueError, KeyError, TypeError, PgjetsError):
        return None
    values = _monitor_values(history)
    if values.get(epoch) is None or not values:
        return None
    last = max(values)
    tail = "" if epoch == last else f"; last epoch {values[last]:.4g}"
    note = f"scored: the best checkpoint, epoch {epoch} of {last} by {RUN_MONITOR} ({values[epoch]:.4g}{tail})"
    stale = _stale_best(values, epoch)
    return note if stale is None else f"{note}; but {stale}"


def _monitor_values(history: Any) -> dict[int, Any]:
    return {int(h["epoch"]): h.get(RUN_MONITOR) for h in history if isinstance(h, dict) and "epoch" in h}


def _stale_best(values: dict[int, Any], epoch: int) -> Optional[str]:
    """Why ``best.pt`` (of ``epoch``) is stale, when an epoch of the history has a better :data:`RUN_MONITOR`
    (a kill between the writes of ``last.pt`` and ``best.pt``, before ``last.pt`` was written last)."""
    known = [v for v in values.values() if v is not None]
    if values.get(epoch) is None or not known or values[epoch] >= max(known):  # val_auc is maximised
        return None
    top = max(known)
    better = min(e for e, v in values.items() if v == top)
    return (f"epoch {better} had a better {RUN_MONITOR} ({top:.4g}): best.pt is stale (the run was killed between "
            "its checkpoint writes with an older pgjets); `pgjets train ... --force` retrains it")


def _data_changed(where: str, recorded: Optional[dict], current: dict, hint: str) -> None:
    from .data.fingerprint import fingerprint_diff

    diffs = fingerprint_diff(recorded, current) if recorded else []
    if diffs:
        raise DataFileError(f"the data in {where} no longer match those that {hint} ({'; '.join(diffs)})")


def train_run(cfg: dict[str, Any], out: Path, force: bool = False) -> dict[str, Any]:
    """Prepare data, train, evaluate on the test split; return the test metrics.

    A run already in ``out`` with the same settings is resumed; one with other
    settings raises :class:`~pgjets.errors.SettingsMismatchError` before anything
    is written, unless ``force`` (start afresh).  Everything random is seeded
    from ``cfg["seed"]`` before the model is built.  The run holds a lock on
    ``out`` while it works: a second training into the same folder (same
    settings or not, ``force`` or not) raises :class:`~pgjets.errors.RunInUseError`
    before it reads or writes anything there (under DDP on every rank).
    """
    out = Path(out)
    cfg = validate_config(cfg)
    check_out_folder(out)
    if _world_size() > 1:
        return _train_run_locked_by_rank0(cfg, out, force)
    with folder_lock(out):
        return _train_run(cfg, out, force)


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _train_run_locked_by_rank0(cfg: dict[str, Any], out: Path, force: bool) -> dict[str, Any]:
    """Under DDP rank 0 takes the folder lock for all ranks and tells them whether it got it: a busy
    ``--out`` is then refused by every rank with the same line (the others died in gloo's
    "connection closed" when rank 0 left)."""
    import contextlib

    import torch.distributed as dist

    from .errors import RunInUseError

    refusal: list[Optional[str]] = [None]
    with contextlib.ExitStack() as stack:
        if dist.get_rank() == 0:
            try:
                stack.enter_context(folder_lock(out))
            except RunInUseError as exc:
                refusal[0] = str(exc)
        dist.broadcast_object_list(refusal, src=0)
        if refusal[0] is not None:
            raise RunInUseError(refusal[0])
        return _train_run(cfg, out, force)


def _train_run(cfg: dict[str, Any], out: Path, force: bool) -> dict[str, Any]:
    from .data.fingerprint import fingerprint
    from .train.distributed import is_main_process

    main = is_main_process()  # under DDP only rank 0 writes files
    from .data.inputs import input_record, run_datasets

    if cfg["generate"] is not None:
        cfg["data"] = str((out / "data").resolve())
    else:
        cfg["data"] = resolve_data_paths(cfg["data"])
    from .run_events import order_held_out  # CLASS=PATH held-out files: the same in any order

    cfg["val"], cfg["test"] = (order_held_out(cfg["data"], resolve_data_paths(cfg[k])) for k in ("val", "test"))
    if force and (out / "config.yaml").exists():
        _check_before_clearing(cfg)  # a bad argument must not cost the old run
    old = check_rerun(out, cfg, force=force) if main or not force else None  # rank 0 clears
    from .run_events import maybe_train_events  # whole events (pgjets generate --events)

    events_result = maybe_train_events(cfg, out, old)
    if events_result is not None:
        return events_result
    if cfg["generate"] is None:
        refuse_class_specs(cfg["data"])
    refuse_event_settings(cfg)
    data_dir = prepare_data(cfg, out)  # checks --data before anything is written
    refuse_unlabelled(cfg)
    files = check_data_paths(data_dir)
    fp = fingerprint(files)
    hint = f"run {out} started on; use --force to start afresh"
    if old is not None:
        _data_changed(str(data_dir), old.get("data_fingerprint"), fp, hint)
    ds, split, n_jets = run_datasets(cfg, data_dir)  # streamed: only file lists and counts are read
    # before training, not when the report is written
    check_report_settings(class_names(ds["train"]), cfg.get("signal"), cfg.get("working_points"))
    check_binary_validation(ds["val"], ds["train"].num_classes, cfg.get("val"))
    out.mkdir(parents=True, exist_ok=True)
    fp["n_jets"] = n_jets
    if old is not None:
        _data_changed(str(data_dir), old.get("data_fingerprint"), fp, hint)
    held_out = {}  # --val and --test files are fingerprinted too, and checked on resume and evaluate
    for key in ("val", "test"):
        if cfg[key] is not None:
            held_out[key] = fingerprint(check_data_paths(cfg[key], "--" + key), n_jets=len(ds[key]))
            if old is not None:
                _data_changed(str(cfg[key]), (old.get("held_out_fingerprints") or {}).get(key), held_out[key], hint)
    cfg = {**cfg, "data_fingerprint": fp, "inputs": input_record(ds["train"], cfg["feature_set"])}
    if held_out:
        cfg["held_out_fingerprints"] = held_out
        if main:
            warn_held_out_overlap(fp, held_out)
    if not fit_run(cfg, out, split, ds["train"], ds["val"], ds["train"].num_features, ds["train"].num_classes):
        return {"metrics": {}}
    return evaluate_run(out, test_data=ds["test"], progress=bool(cfg.get("progress")))


def check_binary_validation(val: Any, num_classes: int, given: Any) -> None:
    """Refuse, before training, validation jets of a binary run that hold one class only: the
    validation AUC chooses the best checkpoint, and it needs both.  Reads the label columns
    until both classes are seen (a chunk or two of a mixed sample).

    Raises:
        DataArgumentError: ``val`` holds one class (``given``: the ``--val`` specs, or ``None``
        for the validation split of ``--data``).
    """
    if num_classes != 2 or len(val) == 0:
        return
    present = val.classes_present(at_least=2)
    if len(present) >= 2:
        return
    names = val.label_names or ["0", "1"]
    only = names[present[0]] if present and 0 <= present[0] < len(names) else present
    where = f"--val {' '.join(_as_specs(given))}" if given is not None else "the validation split of --data"
    hint = ("give --val files with both classes" if given is not None
            else "give more jets, or a larger validation fraction of --split")
    raise DataArgumentError(f"the {len(val)} validation jets ({where}) hold only class {only}: the validation "
                            f"AUC, which chooses the best checkpoint, needs both classes; {hint}")


def warn_overlap(fp: Optional[dict], reference: Optional[dict], what: str, reference_what: str,
                 consequence: str) -> None:
    """Warn (:class:`~pgjets.errors.DataOverlapWarning`) when files of the fingerprint ``fp`` hold the
    same content as files of ``reference`` (any names): held-out or evaluated data that are training
    data give biased metrics."""
    import warnings

    from .data.fingerprint import shared_files
    from .errors import DataOverlapWarning

    pairs = shared_files(fp or {}, reference or {})
    if pairs:
        same = ", ".join(a if a == b else f"{a} (= {b})" for a, b in pairs[:3])
        more = f" and {len(pairs) - 3} more" if len(pairs) > 3 else ""
        verb = "is" if len(pairs) == 1 else "are"
        warnings.warn(DataOverlapWarning(f"{what} {same}{more} {verb} also in {reference_what} (same content): "
                                         f"{consequence}"), stacklevel=2)


def warn_held_out_overlap(data_fp: dict, held_out: dict[str, dict], keys: Sequence[str] = ("val", "test")) -> None:
    """Warn when ``--val``/``--test`` files (``held_out``: their fingerprints; only those of ``keys``
    against ``--data``) are ``--data`` files or each other's."""
    why = {"val": "the validation loss, early stopping and the best checkpoint are biased",
           "test": "the test metrics are biased"}
    for key, fp in held_out.items():
        if key in keys:
            warn_overlap(fp, data_fp, f"--{key}", "--data, which trains the run", why[key])
    if "val" in held_out and "test" in held_out:
        warn_overlap(held_out["test"], held_out["val"], "--test", "--val, which chooses the best checkpoint",
                     why["test"])


def _check_data_flags(cfg: dict[str, Any]) -> None:
    """``--data``, ``--val`` and ``--test`` name existing data (:func:`check_argument_paths`)."""
    for key in ("data", "val", "test"):
        if cfg.get(key) is not None:
            check_argument_paths(cfg[key], "--" + key)


def _check_before_clearing(cfg: dict[str, Any]) -> None:
    """The checks of the new run's data and ``--signal`` that need no writing, before ``--force`` clears."""
    from .data.inputs import run_datasets
    from .run_events import is_event_data

    if cfg.get("generate") is not None:
        return
    _check_data_flags(cfg)
    if is_event_data(cfg["data"], cfg.get("tree"), cfg["model"]):
        from .run_events import check_event_data

        check_event_data(cfg)  # the files, collections, fields and classes of the new run
        return
    refuse_class_specs(cfg["data"])
    refuse_event_settings(cfg)
    check_data_paths(cfg["data"])
    ds, _, _ = run_datasets(cfg, cfg["data"])
    check_report_settings(class_names(ds["train"]), cfg.get("signal"), cfg.get("working_points"))


def fit_run(cfg: dict[str, Any], out: Path, split: dict[str, np.ndarray], train, val, num_features: int,
            num_classes: int, unit: str = "jets") -> bool:
    """Write ``config.yaml`` and ``split.npz`` (rank 0), seed, build the model and train it.

    Shared by jet and event runs.  Returns ``True`` on the process that
    evaluates (rank 0, or the only one).
    """
    import yaml

    from .train.distributed import is_main_process
    from .train.trainer import seed_everything

    main = is_main_process()
    progress = unfinished_epochs(out, cfg) if main else None  # (trained, planned); None: finished
    if progress is not None and progress[0] and (out / "eval").is_dir() and any((out / "eval").iterdir()):
        import warnings

        from .errors import PgjetsWarning

        warnings.warn(PgjetsWarning(
            f"{out / 'eval'} holds evaluations of the weights after epoch {progress[0]}; training goes on to "
            f"epoch {progress[1]}, so evaluate again when it has finished"), stacklevel=2)
    seed_everything(cfg["seed"])  # before the model is built: its initial weights follow the seed
    model = build_run_model(cfg, num_features, num_classes)
    from .data.inputs import signal_class

    signal = signal_class(class_names(train), cfg.get("signal")) if num_classes == 2 else 1
    trainer = _trainer(cfg, model, out, signal_class=signal)  # the validation rej@ of the run's signal
    try:
        trainer.check_shares(train)  # DDP: a full batch per process, before anything is written
    except GraphSizeError as exc:
        raise UsageError(f"--batch-size {cfg['batch_size']}: {exc}") from None
    if main:
        atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
        with atomic_output(out / "split.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **split)
    if main and progress is None:
        print(f"{cfg['model']} in {out} has finished training: evaluating its best checkpoint")
    elif main:
        what = f"resuming {cfg['model']} at epoch {progress[0] + 1}/{progress[1]}" if progress[0] else \
            f"training {cfg['model']}"
        print(f"{what} ({sum(p.numel() for p in model.parameters()):,} parameters) on {len(train)} {unit}, "
              f"validating on {len(val)}")
    try:
        trainer.fit(train, val)
    except CheckpointError as exc:  # a damaged last.pt: the run cannot resume
        raise CheckpointError(f"{exc}; --force starts the run afresh in {out}") from None
    except SettingsMismatchError as exc:  # another number of DDP processes than the checkpoint's
        raise SettingsMismatchError(f"{exc}; or --force starts the run afresh in {out}") from None
    return main


def jets_have_labels(specs: list[str]) -> bool:
    """Whether the jet files of ``specs`` are labelled; ``False`` when all are parquet files without a
    ``label`` field or PFNano files without a jet flavour (jets of collision data: scored with ``y = -1``).

    Raises:
        DataArgumentError: labelled and unlabelled files mixed.
    """
    from .data.pfnano import pfnano_has_labels
    from .data.readers import parquet_has_labels
    from .data.sources import resolve_sources

    files = [(path, fmt) for src in resolve_sources(specs) for path, fmt in src.files()]
    has = {"parquet": parquet_has_labels, "pfnano": pfnano_has_labels}
    labelled = [fmt not in has or has[fmt](path) for path, fmt in files]
    return all_or_none_labelled([path for path, _ in files], labelled, "jets")


def all_or_none_labelled(files: Sequence[Any], labelled: Sequence[bool], unit: str, hint: str = "") -> bool:
    """``True`` when every one of ``files`` is labelled (``labelled``: per file), ``False`` when none is.

    Raises:
        DataArgumentError: the files mix the two (``unit``: "jets" or "events"; ``hint`` ends the message).
    """
    if any(labelled) and not all(labelled):
        with_labels = next(f for f, has in zip(files, labelled) if has)
        without = next(f for f, has in zip(files, labelled) if not has)
        raise DataArgumentError(f"the files mix labelled and unlabelled {unit}: {with_labels} has a label "
                                f"field, {without} none; evaluate them apart{hint}")
    return all(labelled)


def refuse_unlabelled(cfg: dict[str, Any]) -> None:
    """Refuse jets without labels (parquet files without a ``label`` field) as ``--data``, ``--val`` or
    ``--test`` of a training: a bad argument (exit 2), before anything is written.

    Raises:
        DataArgumentError: a file of them has no labels.
    """
    if cfg.get("generate") is not None:
        return
    for key in ("data", "val", "test"):
        specs = _as_specs(cfg[key]) if cfg.get(key) is not None else []
        if specs and not jets_have_labels(specs):
            raise DataArgumentError(f"--{key} {' '.join(specs)} holds jets without labels (parquet without a field "
                                    "'label', PFNano without Jet_hadronFlavour): training needs the class of "
                                    "every jet; pgjets evaluate RUN --data scores unlabelled jets with a trained run")


def unfinished_epochs(run: Path, cfg: dict[str, Any]) -> Optional[tuple[int, int]]:
    """``(trained, planned)`` epochs of a run that has not finished training (interrupted, or training
    now), ``None`` for a finished one (all epochs, or stopped early)."""
    from .train.trainer import load_checkpoint_file

    run = Path(run)
    try:
        trained = len(json.loads((run / "history.json").read_text()))
    except (OSError, ValueError):
        trained = 0
    planned = int(cfg.get("epochs") or 0)
    if trained >= planned:
        return None
    if cfg.get("patience") is not None and (run / "checkpoints" / "last.pt").exists():
        try:
            if load_checkpoint_file(run / "checkpoints" / "last.pt").get("stopped_early"):
                return None
        except PgjetsError:
            pass  # a damaged checkpoint: loading the weights reports it
    return trained, planned


def warn_unfinished(run: Path, cfg: dict[str, Any]) -> None:
    """Warn that an evaluation scores a run that has not finished training."""
    import warnings

    from .errors import PgjetsWarning

    progress = unfinished_epochs(run, cfg)
    if progress is not None:
        warnings.warn(PgjetsWarning(
            f"run {run} has trained {progress[0]} of {progress[1]} epochs (interrupted, or training now): these "
            "are the results of its best checkpoint so far; evaluate again when it has finished"), stacklevel=2)


def run_data_path(run: Path, cfg: dict[str, Any]) -> Any:
    """Where the data a run was trained on are now (generated into the run folder, or ``cfg["data"]``)."""
    run = Path(run)
    data = cfg["data"]
    if cfg.get("generate") is not None and (run / "data").is_dir():
        return run / "data"  # generated into the run folder: follows the folder when it is moved
    if isinstance(data, str) and not Path(data).is_absolute():  # configs written before paths were resolved
        return run / data if (run / data).exists() else Path(data)
    return data


def run_test_data(run: Path, cfg: dict[str, Any]):
    """The test jets of a run (``--test`` or its test split), streamed, after checking the data still match.

    Raises:
        DataFileNotFoundError: The data are gone.
        DataFileError: They no longer match the fingerprint in ``config.yaml``.
    """
    from .data.fingerprint import fingerprint
    from .data.inputs import open_dataset

    run = Path(run)
    hint = f"run {run} was trained on; give --data PATH to evaluate on other jets"
    data = run_data_path(run, cfg)
    try:
        files = check_data_paths(data)
    except DataFileNotFoundError as exc:
        raise DataFileNotFoundError(f"the data of run {run}, {data}, do not exist (moved or deleted?); "
                                    f"give --data PATH to evaluate on other jets ({exc})") from None
    recorded = cfg.get("data_fingerprint")
    current = fingerprint(files)
    _data_changed(str(data), recorded, current, hint)
    if cfg.get("test") is not None:
        test = open_dataset(_as_specs(cfg["test"]), cfg["model"], cfg["feature_set"])
        recorded_test = (cfg.get("held_out_fingerprints") or {}).get("test")
        _data_changed(str(cfg["test"]), recorded_test,
                      fingerprint(check_data_paths(cfg["test"], "--test"), n_jets=len(test)),
                      f"run {run} was tested on (--test); give --data PATH to evaluate on other jets")
        return test
    full = open_dataset(_as_specs(data), cfg["model"], cfg["feature_set"])
    current["n_jets"] = len(full)
    _data_changed(str(data), recorded, current, hint)
    return full.subset(run_split(run, len(full))["test"])


def run_table(run: Path, cfg: dict[str, Any]):
    """The test jets of a run as one :class:`~pgjets.data.table.JetTable` (reads them all: small runs only)."""
    return run_test_data(run, cfg).to_table()


def run_split(run: Path, n_jets: Optional[int] = None) -> dict[str, np.ndarray]:
    """The train/val/test indices in ``RUN/split.npz``, checked against the number of jets (when given)."""
    path = Path(run) / "split.npz"
    if not path.exists():
        raise DataFileNotFoundError(f"{path} does not exist: the run has not started training")
    try:
        with np.load(path) as f:
            split = {k: f[k] for k in ("train", "val", "test") if k in f}
    except Exception as exc:
        raise DataFileError(f"{path} is damaged: {exc}") from exc
    if any(v.size and (v.min() < 0 or (n_jets is not None and v.max() >= n_jets)) for v in split.values()):
        raise DataFileError(f"{path} indexes jets beyond the {n_jets} of the run's data")
    return split


def load_run_weights(run: Path, cfg: dict[str, Any], model, checkpoint: str = "best") -> Path:
    """Load ``RUN/checkpoints/<checkpoint>.pt`` into ``model`` (``best`` falls back to ``last``).

    Returns the checkpoint path.

    Raises:
        DataFileNotFoundError: There is no checkpoint.
        CheckpointError: It is damaged or does not fit the model.
        SettingsMismatchError: It belongs to other settings than ``config.yaml``.
    """
    from .errors import CheckpointError

    folder = Path(run) / "checkpoints"
    path = folder / f"{checkpoint}.pt"
    if not path.exists() and checkpoint == "best":
        path = folder / "last.pt"
    if not path.exists():
        raise DataFileNotFoundError(f"{folder} holds no {checkpoint}.pt: has the run finished an epoch?")
    state = load_checkpoint_file(path)
    if state.get("settings") is not None:
        # where the data lie is not compared: the run checks its data by content (moved_data)
        diffs = settings_diff(state["settings"], run_settings(cfg), ignore=LOCATION_KEYS)
        if diffs:
            raise SettingsMismatchError(f"checkpoint {path} belongs to other settings than "
                                        f"{Path(run) / 'config.yaml'}: {'; '.join(diffs)}")
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} does not fit model {cfg['model']!r}: {first}") from exc
    if path.name == "best.pt":  # pgjets train runs pick it by RUN_MONITOR
        _warn_stale_best(Path(run), state)
    return path


def _warn_stale_best(run: Path, state: dict) -> None:
    """Warn when the history of ``run`` has an epoch better than the one ``best.pt`` (``state``) holds."""
    import json
    import warnings

    from .errors import PgjetsWarning

    try:
        values = _monitor_values(json.loads((run / "history.json").read_text()))
        stale = _stale_best(values, int(state["epoch"]))
    except (OSError, ValueError, KeyError, TypeError):
        return
    if stale is not None:
        warnings.warn(PgjetsWarning(f"{run / 'checkpoints' / 'best.pt'} holds epoch {int(state['epoch'])}, but {stale}"),
                      stacklevel=3)


@dataclass
class LoadedRun:
    """A trained run as :func:`load_run` reads it."""

    #: ``config.yaml`` of the run.
    config: dict[str, Any]
    #: The model with the checkpoint's weights, in eval mode.
    model: Any
    #: The data the model was built for: the run's own test data (fingerprint checked) or those given.
    test_data: Any
    #: The checkpoint file that was loaded.
    checkpoint: Path


def load_run(run: Path, checkpoint: str = "best", test_data=None, num_classes: Optional[int] = None,
             config: Optional[dict[str, Any]] = None) -> LoadedRun:
    """Read a run folder: ``config.yaml``, its test data, the model and a checkpoint's weights.

    The one reader of trained runs behind :func:`evaluate_run` and
    :func:`pgjets.export.load_run_model`.

    Args:
        run: Run folder written by ``pgjets train``.
        checkpoint: ``"best"`` (falls back to ``last``) or ``"last"``.
        test_data: Data to build the model for; default the run's own test data
            (:func:`run_test_data`, which checks them against the recorded fingerprint).
        num_classes: Output classes of the model (default ``test_data.num_classes``).
        config: The run's configuration when already read (default: read ``config.yaml``).

    Raises:
        DataFileNotFoundError: No ``config.yaml``, data or checkpoint.
        DataFileError: The data no longer match the recorded fingerprint.
        CheckpointError: The checkpoint is damaged or does not fit the model.
        SettingsMismatchError: The checkpoint belongs to other settings than ``config.yaml``.
    """
    run = Path(run)
    cfg = read_run_config(run) if config is None else config
    test = run_test_data(run, cfg) if test_data is None else test_data
    model = build_run_model(cfg, test.num_features, num_classes or test.num_classes)
    path = load_run_weights(run, cfg, model, checkpoint)
    model.eval()
    return LoadedRun(cfg, model, test, path)


__all__ = ["DEFAULTS", "RUNTIME_KEYS", "train_run", "evaluate_run", "split_indices", "load_table", "format_metrics",
           "load_config", "validate_config", "run_settings", "check_rerun", "read_run_config", "run_table",
           "load_run", "LoadedRun", "load_run_weights", "run_test_data", "resolve_data_paths", "check_data_paths",
           "check_argument_paths", "check_signal", "check_report_settings", "class_names", "check_eval_out",
           "refuse_class_specs", "refuse_event_settings", "write_scores", "warn_overlap", "warn_held_out_overlap",
           "warn_trained_on", "warn_unnamed_labels", "check_matching_inputs", "format_cuts"]
