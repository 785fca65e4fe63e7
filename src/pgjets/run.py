"""Training runs on jets: the machinery behind ``pgjets train``, ``evaluate`` and ``demo``.

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

import argparse
import json
import math
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ._atomic import atomic_output
from ._checks import check_no_repeats, check_out_folder, check_setting_int
from ._lock import folder_lock
from .errors import (
    CheckpointError,
    DataArgumentError,
    DataFileError,
    DataFileNotFoundError,
    GraphSizeError,
    PathArgumentError,
    PgjetsError,
    SettingsMismatchError,
    UsageError,
)
from .data.splits import load_table, split_indices
from .train.trainer import (TrainConfig, Trainer, atomic_write_text, load_checkpoint_file, settings_diff,
                            strict_json)

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
    "val": None,
    "test": None,
    "signal": None,
    "working_points": None,
    "split": [0.6, 0.2, 0.2],
    "max_jets": None,
    "epochs": 10,
    "batch_size": 128,
    "lr": 3e-3,
    "weight_decay": 1e-2,
    "schedule": "onecycle",
    "label_smoothing": 0.0,
    "patience": None,
    "collections": None,
    "object_fields": None,
    "tree": None,
    "connectivity": None,
    "k": None,
    "seed": 0,
    "device": "auto",
    "progress": True,
}

#: Keys that do not change a run's result: not compared when a run is resumed.
RUNTIME_KEYS = ("device", "progress", "workers", "working_points")
#: What ``config.yaml`` records besides the settings (accepted, and ignored, in ``--config``).
RECORDED_KEYS = ("out", "data_fingerprint", "inputs", "held_out_fingerprints")
#: Files and folders of a run that ``--force`` removes (``data/`` only when regenerated).
RUN_ENTRIES = ("checkpoints", "history.json", "metrics.json", "scores.npz", "split.npz", "roc.png", "loss.png",
               "confusion.png", "demo.json", "eval")
_GENERATION_KEYS = ("generate", "processes", "gen_seed", "fast")
_FLAGS = {"processes": "--process", "generate": "--generate", "data": "--data",
          "working_points": "--working-point", "collections": "--collection", "object_fields": "--object-field",
          "tree": "--tree", "connectivity": "--connectivity", "k": "--k"}


def parse_working_points(values: Optional[list[str]]) -> Optional[dict[str, float]]:
    """``--working-point CLASS=EFF`` flags (repeatable) as ``{class: signal efficiency}``.

    Raises:
        UsageError: A value is not ``NAME=EFF`` with ``0 < EFF <= 1``, or a class is given twice.
    """
    if not values:
        return None
    out: dict[str, float] = {}
    for v in values:
        name, sep, eff = str(v).partition("=")
        try:
            e = float(eff)
        except ValueError:
            e = float("nan")
        if not sep or not name or not 0.0 < e <= 1.0:
            raise UsageError(f"--working-point must be CLASS=EFF with 0 < EFF <= 1 (e.g. Tbl=0.995), got {v!r}")
        if name in out:
            raise UsageError(f"--working-point {name} given twice")
        out[name] = e
    return out


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    """Merge defaults, the YAML file and the flags (flags win), and check every setting.

    Raises:
        UsageError: A setting has a wrong type or value, the YAML file is not a
            mapping or has unknown keys (the message names the flag or the file).
    """
    import yaml

    cfg = dict(DEFAULTS)
    origin: dict[str, str] = {}
    if getattr(args, "config", None):
        path = Path(args.config)
        if not path.exists():
            raise PathArgumentError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            raise UsageError(f"config file {path} is not valid YAML{line}") from exc
        loaded = {} if loaded is None else loaded
        if not isinstance(loaded, dict):
            raise UsageError(f"config file {path} must hold a mapping of settings, got {type(loaded).__name__}")
        unknown = set(loaded) - set(DEFAULTS) - set(RECORDED_KEYS)
        if unknown:
            raise UsageError(f"unknown keys in {path}: {sorted(map(str, unknown))}; "
                             f"known: {', '.join(DEFAULTS)}")
        cfg.update({k: v for k, v in loaded.items() if k in DEFAULTS})
        origin.update({k: f"{k} in {path}" for k in loaded})
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            cfg[key] = str(value) if isinstance(value, Path) else value
            if key == "working_points":
                cfg[key] = parse_working_points(value)
            if key in ("data", "val", "test") and isinstance(value, list):
                cfg[key] = [str(v) for v in value] if len(value) > 1 else str(value[0])
            origin[key] = _FLAGS.get(key, "--" + key.replace("_", "-"))
            if key in ("data", "generate"):  # a source given as a flag replaces the file's
                cfg["generate" if key == "data" else "data"] = None
    if cfg["data"] is None and cfg["generate"] is None:
        raise UsageError("give --data DIR or --generate N")
    return validate_config(cfg, origin)


def validate_config(cfg: dict[str, Any], origin: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """Check the type and value of every setting of ``cfg``; return it with numbers normalised.

    Args:
        cfg: A run configuration (keys of :data:`DEFAULTS`; missing keys take the defaults).
        origin: Where each key came from (``"--epochs"``, ``"epochs in run.yaml"``), for the messages.

    Raises:
        UsageError: The first bad setting, named as in ``origin``.
    """
    from .data.features import FEATURE_NAMES
    from .data.generate import PROCESSES
    from .models.registry import EVENT_MODELS, MODELS

    origin = origin or {}
    cfg = {**DEFAULTS, **cfg}
    name = lambda key: origin.get(key, key)  # noqa: E731

    def bad(key: str, want: str) -> UsageError:
        return UsageError(f"{name(key)} must be {want}, got {cfg[key]!r}")

    def number(key: str, low: float, strict: bool, high: Optional[float] = None) -> None:
        v = cfg[key]
        if isinstance(v, str):  # YAML 1.1 reads 3e-3 as text
            try:
                v = float(v)
            except ValueError:
                pass
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or (v <= low if strict else v < low) or (high is not None and v >= high):
            rel = ">" if strict else ">="
            raise bad(key, f"a number {rel} {low:g}" + (f" and < {high:g}" if high is not None else ""))
        cfg[key] = float(v)

    def choice(key: str, options) -> None:
        if not isinstance(cfg[key], str) or cfg[key] not in options:
            raise bad(key, f"one of {', '.join(options)}")

    choice("model", [*MODELS, *EVENT_MODELS])
    choice("feature_set", list(FEATURE_NAMES))
    choice("schedule", ["onecycle", "cosine", "none"])
    for key, low, optional in (("epochs", 1, False), ("batch_size", 1, False), ("seed", 0, False),
                               ("gen_seed", 0, False), ("generate", 1, True), ("max_jets", 1, True),
                               ("workers", 1, True), ("patience", 1, True)):
        check_setting_int(cfg[key], name(key), minimum=low, optional=optional)
    number("lr", 0.0, strict=True)
    number("weight_decay", 0.0, strict=False)
    number("label_smoothing", 0.0, strict=False, high=1.0)
    for key in ("fast", "progress"):
        if not isinstance(cfg[key], bool):
            raise bad(key, "true or false")
    for key in ("data", "val", "test"):
        v = cfg[key]
        if v is not None and not (isinstance(v, str) or (isinstance(v, list) and v
                                                         and all(isinstance(x, str) for x in v))):
            raise bad(key, "a path or a list of paths")
    if cfg["signal"] is not None and not isinstance(cfg["signal"], str):
        raise bad("signal", "a class name")
    wp = cfg["working_points"]
    if wp is not None and not (isinstance(wp, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1
            for k, v in wp.items())):
        raise bad("working_points", "a mapping of class names to signal efficiencies in (0, 1]")
    if cfg["data"] is not None and cfg["generate"] is not None:
        raise UsageError(f"give either data ({name('data')}) or generate ({name('generate')}), not both")
    for key in ("collections", "object_fields"):  # event runs only (checked against the data when they are read)
        v = cfg[key]
        if v is not None:
            if isinstance(v, str):
                v = cfg[key] = [v]
            if not (isinstance(v, list) and v and all(isinstance(x, str) and x.isidentifier() for x in v)):
                raise bad(key, "a list of names (e.g. Muon, Jet, MET; btagDeepFlavB)")
            check_no_repeats(v, name(key))
    if cfg["tree"] is not None and not (isinstance(cfg["tree"], str) and cfg["tree"].strip()):
        raise bad("tree", "the name of the ROOT tree of the events (e.g. mini, nominal)")
    if cfg["connectivity"] not in (None, "full", "knn"):
        raise bad("connectivity", "full or knn")
    if cfg["connectivity"] == "full":
        cfg["connectivity"] = None  # the default, spelled out: the same setting
    if cfg["k"] is not None:
        check_setting_int(cfg["k"], name("k"))
        if cfg["connectivity"] != "knn":
            raise UsageError(f"{name('k')} is the number of neighbours of kNN event graphs: give "
                             "--connectivity knn with it (connectivity: knn in a config file)")
    from .data.event_dataset import DEFAULT_COLLECTIONS

    if cfg["collections"] == list(DEFAULT_COLLECTIONS):
        cfg["collections"] = None  # the default, spelled out: the same setting
    procs = cfg["processes"]
    if not isinstance(procs, list) or not procs or not all(isinstance(p, str) and p in PROCESSES for p in procs):
        raise bad("processes", f"a list of processes from {', '.join(PROCESSES)}")
    check_no_repeats(procs, name("processes"))
    split = cfg["split"]
    if (not isinstance(split, list) or len(split) != 3 or not all(isinstance(f, (int, float)) and f >= 0 for f in split)
            or not math.isclose(sum(split), 1.0, abs_tol=1e-6)):
        raise bad("split", "three fractions (train, val, test) summing to 1")
    _check_device(cfg["device"], name("device"))
    return cfg


def _check_device(device: Any, name: str) -> None:
    import torch

    if not isinstance(device, str):
        raise UsageError(f"{name} must be auto, cpu or cuda, got {device!r}")
    if device == "auto":
        return
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise UsageError(f"{name} must be auto, cpu or cuda[:N], got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{name} {device}: no CUDA GPU is available here (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"{name} {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type != "cpu":
        raise UsageError(f"{name} must be auto, cpu or cuda[:N], got {device!r}")


def run_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The settings that define a run's result: ``cfg`` without :data:`RUNTIME_KEYS`.

    The data path of a run that generates its jets lies in the run folder and is not a setting.
    """
    out = {k: cfg.get(k, DEFAULTS[k]) for k in DEFAULTS if k not in RUNTIME_KEYS}
    if out.get("generate") is not None:
        out["data"] = None
    return out


def read_run_config(run: Path) -> dict[str, Any]:
    """The ``config.yaml`` of a run folder.

    Raises:
        PathArgumentError: ``run`` is not a run folder (a :class:`~pgjets.errors.DataFileNotFoundError`).
        DataFileError: ``config.yaml`` is damaged.
    """
    import yaml

    path = Path(run) / "config.yaml"
    if not path.exists():
        raise PathArgumentError(f"{run} is not a run folder (no config.yaml)")
    try:
        cfg = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path} is damaged (not valid YAML)") from exc
    if not isinstance(cfg, dict) or "model" not in cfg:
        raise DataFileError(f"{path} is damaged (no run settings in it)")
    return {**DEFAULTS, **cfg}


def check_rerun(out: Path, cfg: dict[str, Any], force: bool = False) -> Optional[dict[str, Any]]:
    """Check a ``train`` into ``out`` against the run already there, before anything is written.

    Returns the old configuration when the run is resumed (same settings), else ``None``.
    With ``force`` an old run is removed (only the files a run writes, see
    :data:`RUN_ENTRIES`; generated jets are kept when the new run would generate the same).

    Raises:
        SettingsMismatchError: ``out`` holds a run of other settings (and not ``force``).
    """
    out = Path(out)
    check_out_folder(out)
    if not out.exists():
        return None
    if (out / "config.yaml").exists():
        old = read_run_config(out)
        diffs = settings_diff(run_settings(old), run_settings(cfg))
        if diffs and not force and moved_data(old, cfg):
            diffs = []  # the same files elsewhere (a symlink, a copy on scratch): resumed
        if not diffs and not force:
            return old
        if not force:
            raise SettingsMismatchError(
                f"{out} holds a run with other settings ({'; '.join(diffs)}): use the same settings to "
                "resume it, --force to start afresh there, or another --out")
        keep = old.get("generate") is not None and all(old.get(k) == cfg.get(k) for k in _GENERATION_KEYS)
        keep = keep or _uses(cfg, out / "data")  # the new run trains on the old run's jets: keep them
        clear_run(out, data=not keep and old.get("generate") is not None)
    elif (out / "checkpoints").exists():
        if not force:
            raise SettingsMismatchError(f"{out} holds checkpoints but no config.yaml: add --force to start "
                                        "afresh there, or choose another --out")
        clear_run(out, data=False)
    return None


#: The settings that say where a run's data lie (compared by content when they differ, see :func:`moved_data`).
LOCATION_KEYS = ("data", "val", "test")


def moved_data(old: dict[str, Any], cfg: dict[str, Any]) -> bool:
    """Whether ``cfg`` differs from the run ``old`` only in where its jet files lie: other ``--data``,
    ``--val`` or ``--test`` paths (a moved folder, a symlink, a copy on a node's scratch disk) whose
    files have the recorded content (names within the data, sizes and content hashes of the
    fingerprint).  Prints what moved when they do.  Event runs, generated data and fingerprints
    without content hashes compare by path only (``False``)."""
    from .data.fingerprint import fingerprint, fingerprint_diff
    from .run_events import is_event_data

    before, now = run_settings(old), run_settings(cfg)
    keys = [k for k in dict.fromkeys([*before, *now]) if before.get(k) != now.get(k)]
    if not keys or any(k not in LOCATION_KEYS for k in keys) or cfg.get("generate") is not None:
        return False
    recorded = {"data": old.get("data_fingerprint"), **(old.get("held_out_fingerprints") or {})}
    for key in keys:
        fp = recorded.get(key)
        if (cfg.get(key) is None or old.get(key) is None or not fp or fp.get("version") is None
                or is_event_data(cfg[key], cfg.get("tree")) or is_event_data(old[key], old.get("tree"))):
            return False
        try:
            current = fingerprint(check_data_paths(cfg[key], "--" + key))
        except PgjetsError:
            return False  # the new path is bad: the settings message says what differs
        if fingerprint_diff({k: v for k, v in fp.items() if k != "n_jets"}, current):
            return False
    from .train.distributed import is_main_process

    for key in keys if is_main_process() else ():
        print(f"--{key} moved: {' '.join(_as_specs(old[key]))} -> {' '.join(_as_specs(cfg[key]))} "
              "(the same files): resuming", flush=True)
    return True


def _uses(cfg: dict[str, Any], folder: Path) -> bool:
    """Whether ``--data``, ``--val`` or ``--test`` of ``cfg`` lie inside ``folder`` (not generated anew)."""
    if cfg.get("generate") is not None:
        return False
    inside = os.path.realpath(folder)
    for key in ("data", "val", "test"):
        for spec in _as_specs(cfg[key]) if cfg.get(key) is not None else ():
            path = os.path.realpath(spec)
            if path == inside or path.startswith(inside + os.sep):
                return True
    return False


def clear_run(out: Path, data: bool = False) -> None:
    """Remove the files a run wrote in ``out`` (``config.yaml`` last); other files stay."""
    out = Path(out)
    for name in RUN_ENTRIES + (("data",) if data else ()):
        path = out / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    (out / "config.yaml").unlink(missing_ok=True)


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


def check_argument_paths(value: Any, flag: str = "--data") -> list[Path]:
    """:func:`check_data_paths` of a command-line argument: a missing path is a bad argument.

    Raises:
        UsageError: a path does not exist, a glob matches nothing, or a file is in no known format.
    """
    try:
        return check_data_paths(value, flag)
    except DataFileNotFoundError as exc:
        raise UsageError(f"{flag}: {exc}") from None


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


def _as_specs(value: Any) -> list[str]:
    """Data specs as strings: a path, a list of them, or ``{class: path or paths}`` as ``CLASS=PATH``."""
    if isinstance(value, dict):
        return [f"{name}={path}" for name, paths in value.items()
                for path in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def resolve_data_paths(value: Any) -> Any:
    """``--data``/``--val``/``--test`` with every path (and glob) made absolute; ``None`` stays."""
    from .data.sources import split_class_spec

    if value is None:
        return None
    out = []
    for v in _as_specs(value):
        cls, path = split_class_spec(v)
        path = os.path.abspath(os.path.expanduser(path))
        out.append(path if cls is None else f"{cls}={path}")
    return out if isinstance(value, (list, tuple)) and len(out) > 1 else out[0]


def refuse_event_settings(cfg: dict[str, Any]) -> None:
    """Refuse the settings of event runs (``collections``, ``object_fields``, ``tree``, ``connectivity``,
    ``k``) for a jet run.

    Raises:
        UsageError: one of them is set.
    """
    for key in ("collections", "object_fields", "tree", "connectivity", "k"):
        if cfg.get(key) is not None:
            raise UsageError(f"{_FLAGS[key]} chooses the objects of event data, but the data are jets "
                             f"({_describe_specs(cfg)})")


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


def check_data_paths(value: Any, flag: str = "--data") -> list[Path]:
    """The data files and folders of ``value`` (see :func:`pgjets.data.sources.resolve_sources`).

    Raises:
        UsageError: A path is a file in none of the formats pgjets reads.
        DataFileNotFoundError: A path does not exist or a glob matches nothing.
    """
    from .data.readers import looks_like_data
    from .data.sources import resolve_sources, split_class_spec

    for spec in _as_specs(value):
        path = Path(split_class_spec(spec)[1])
        if path.is_file() and not looks_like_data(path):
            raise UsageError(f"{flag} {path} is a file in none of the formats pgjets reads (HDF5, ROOT, parquet, "
                             "npz); give a data file, a quoted glob or a folder written by pgjets generate")
    return [s.path for s in resolve_sources([split_class_spec(v)[1] for v in _as_specs(value)])]


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
    values = {int(h["epoch"]): h.get(RUN_MONITOR) for h in history if isinstance(h, dict) and "epoch" in h}
    if values.get(epoch) is None or not values:
        return None
    last = max(values)
    tail = "" if epoch == last else f"; last epoch {values[last]:.4g}"
    return (f"scored: the best checkpoint, epoch {epoch} of {last} by {RUN_MONITOR} "
            f"({values[epoch]:.4g}{tail})")


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
    before it reads or writes anything there.
    """
    from .train.distributed import is_main_process

    out = Path(out)
    cfg = validate_config(cfg)
    check_out_folder(out)
    if not is_main_process():  # under DDP rank 0 holds the lock for all ranks
        return _train_run(cfg, out, force)
    with folder_lock(out):
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
    if is_event_data(cfg["data"], cfg.get("tree")):
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


def _eval_name(specs: list[str]) -> str:
    """Folder name of an evaluation: the data's file (or folder) names, e.g. ``test`` or ``test_000+test_001``;
    files of one name in two folders with their folder's name, ``sig_nano_1+bkg_nano_1``."""
    import re

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.")

    paths = [Path(s) for s in dict.fromkeys(specs)]  # a file given twice is read once

    def stem(p: Path) -> str:
        if any(c in p.name for c in "*?["):  # a glob: its folder's name, and what the pattern fixes
            return clean(f"{p.parent.name}_{clean(p.stem)}")
        return clean(p.name if p.is_dir() else p.stem)

    stems = [stem(p) for p in paths]
    if len(set(stems)) < len(stems):  # the same name twice: tell them apart by their folders
        stems = [clean(f"{p.parent.name}_{stem}") for p, stem in zip(paths, stems)]
    name = "+".join(x or "data" for x in stems)
    return name if len(name) <= 80 else name[:80]


def check_eval_out(run: Path, dest: Path, data_given: bool = True) -> None:
    """Refuse a destination that would overwrite what is not an evaluation's: the run folder (for
    other data), the folder of another run, or a folder of data files.

    Raises:
        UsageError: ``dest`` is ``run`` (with ``data_given``), holds a run (``config.yaml``, or
        checkpoints) other than ``run``, or holds data (a ``manifest.json`` or files that pgjets reads
        as data, other than an evaluation's own ``scores.npz``).
    """
    from .data.sources import folder_data_files

    dest, run = Path(dest), Path(run)
    same = dest.resolve() == run.resolve()
    if same and data_given:
        raise UsageError(f"--out {dest} is the run folder; evaluations on other data go elsewhere "
                         "(default RUN/eval/<name>/) so that the run's own test results stay")
    if same or not dest.is_dir():
        return
    if (dest / "config.yaml").exists() or (dest / "checkpoints").exists():
        raise UsageError(f"--out {dest} holds another run; its results would be overwritten: choose an empty "
                         "folder or one of earlier evaluations")
    data = [p.name for p in folder_data_files(dest) if p.name != "scores.npz"]
    if (dest / "manifest.json").exists() or data:
        what = ", ".join(data[:3]) or "manifest.json"
        raise UsageError(f"--out {dest} holds data ({what}); the results (scores.npz among them) would be mixed "
                         "with it: choose an empty folder or one of earlier evaluations")


def _variant(cfg: dict[str, Any], signal: Optional[str], working_points: Optional[dict[str, float]]) -> list[str]:
    """The parts of an evaluation folder's name for a ``--signal`` or ``--working-point`` other than the
    run's: ``["signal-S", "wp-top0.9"]`` (none for the run's own)."""
    other = [f"signal-{signal}"] if signal is not None and signal != cfg.get("signal") else []
    if working_points and working_points != cfg.get("working_points"):
        other.append("wp-" + "-".join(f"{k}{v:g}" for k, v in sorted(working_points.items())))
    return other


def _test_dest(run: Path, cfg: dict[str, Any], signal: Optional[str],
               working_points: Optional[dict[str, float]]) -> Path:
    """Where the test split's results go: the run folder, or ``RUN/eval/test-signal-S-wp-.../`` with
    another signal or other working points (the run's own test results stay); ``...-2`` when that
    folder holds the evaluation of other data (given as ``--data``, in a folder named ``test``)."""
    other = _variant(cfg, signal, working_points)
    return _own_dest(run / "eval" / "-".join(["test", *other]), None) if other else run


def _eval_dest(run: Path, specs: list[str], variant: Sequence[str] = ()) -> Path:
    """``RUN/eval/<name>[-signal-S][-wp-...]/`` (``variant``: :func:`_variant`), or ``<name>-2``,
    ``<name>-3``, ... when that folder holds the evaluation of other data (two datasets in folders of
    the same name overwrote each other's results)."""
    return _own_dest(run / "eval" / "-".join([_eval_name(specs), *variant]), list(specs))


def _own_dest(base: Path, data: Optional[list[str]]) -> Path:
    """``base``, or ``base-2``, ``base-3``, ...: the first folder that is new or holds the results of the
    same data (``metrics.json``'s ``data``: the ``--data`` specs, absent for the run's test split)."""
    i = 1
    while True:
        dest = base if i == 1 else base.with_name(f"{base.name}-{i}")
        try:
            recorded = json.loads((dest / "metrics.json").read_text()).get("data")
        except FileNotFoundError:
            return dest  # a new evaluation
        except (OSError, ValueError, AttributeError):
            recorded = ()  # unreadable: nobody's
        if recorded == data:
            return dest  # the same data again: its own results are replaced
        i += 1


def evaluate_run(run: Path, data: Any = None, out: Optional[Path] = None, test_data=None,
                 signal: Optional[str] = None, working_points: Optional[dict[str, float]] = None,
                 progress: bool = False, tree: Optional[str] = None) -> dict[str, Any]:
    """Test metrics and plots of a finished run (best checkpoint).

    Without ``data`` the run's own test data (``--test`` or the test split) are
    used, after checking that they still match the fingerprint recorded at
    training time, and the results go to the run folder.  With ``data``
    (paths, globs) every jet there is evaluated, after checking that the data
    provide the run's input columns and classes, and the results go to
    ``out`` (default ``RUN/eval/<name>/``), never over the run's own.
    ``progress`` shows a progress bar over the batches (on a terminal).  ``tree`` (event runs, with
    ``data``): the ROOT tree of the events of ``data``, when it is not the run's (``--tree``).
    """
    from .data.inputs import open_dataset

    run = Path(run)
    cfg = read_run_config(run)
    from .run_events import _class_order, evaluate_event_run, is_event_data  # whole events

    if tree is not None and data is None:
        raise UsageError("--tree names the tree of the events of --data: give --data with it (the run's own "
                         "test events are read from the run's tree)")
    if test_data is None:  # (not at the end of a training)
        warn_unfinished(run, cfg)
    if is_event_data(cfg["data"], cfg.get("tree")):
        return evaluate_event_run(run, cfg, data=data, out=out, signal=signal, working_points=working_points,
                                  progress=progress, tree=tree)
    if tree is not None:
        raise UsageError(f"--tree names the tree of event files, but run {run} classifies jets")
    recorded = cfg.get("inputs") or {}
    specs, order = None, None
    if data is not None:
        specs = _as_specs(resolve_data_paths(data))
        refuse_class_specs(specs)
        files = check_data_paths(specs)
        if is_event_data(specs):
            raise DataArgumentError(f"{' '.join(specs)} hold whole events, but run {run} classifies jets "
                                    f"(model {cfg['model']}): give jet data")
        labelled = jets_have_labels(specs)
        test = open_dataset(specs, cfg["model"], cfg["feature_set"], labelled=labelled)
        warn_trained_on(cfg, files, "jets")
        if labelled:
            warn_unnamed_labels(specs, test.label_names, recorded.get("label_names"))
        order = _class_order(recorded.get("label_names"), test.label_names)  # some or all, by name
        check_matching_inputs({**recorded, "label_names": None} if order is not None else recorded, test,
                              f"run {run}", " ".join(specs))
        dest = Path(out) if out is not None else _eval_dest(run, specs, _variant(cfg, signal, working_points))
        check_eval_out(run, dest)
    else:
        test = test_data if test_data is not None else run_test_data(run, cfg)
        if test_data is None:  # (training warned already)
            warn_held_out_overlap(cfg.get("data_fingerprint"), cfg.get("held_out_fingerprints") or {}, ("test",))
        dest = Path(out) if out is not None else _test_dest(run, cfg, signal, working_points)
        check_eval_out(run, dest, data_given=False)
    names = class_names(test, recorded.get("label_names"))
    check_report_settings(names, signal, working_points)  # against the run's classes, not the sample's
    loaded = load_run(run, "best", test_data=test, num_classes=len(names), config=cfg)
    model = loaded.model
    trainer = _trainer({**cfg, "progress": progress, "device": "auto"}, model, None, distributed=False)
    logits, y = trainer.predict(test)
    if order is not None:
        y = y.new_tensor(order)[y]  # the data's class numbers as the run's
    index = _jet_score_index(run, cfg, data is not None, len(y))
    metrics, curves = write_report(run, dest, cfg, logits, y, names, signal=signal, data_specs=specs,
                                   working_points=working_points, index=index, checkpoint=loaded.checkpoint)
    return {"metrics": metrics, "curves": curves, "test_data": test, "logits": logits, "y": y, "out": dest}


def jets_have_labels(specs: list[str]) -> bool:
    """Whether the jet files of ``specs`` are labelled; ``False`` when all are parquet files without a
    ``label`` field (jets of collision data: scored with ``y = -1``).

    Raises:
        DataArgumentError: labelled and unlabelled files mixed.
    """
    from .data.readers import parquet_has_labels
    from .data.sources import resolve_sources

    files = [(path, fmt) for src in resolve_sources(specs) for path, fmt in src.files()]
    labelled = [fmt != "parquet" or parquet_has_labels(path) for path, fmt in files]
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
            raise DataArgumentError(f"--{key} {' '.join(specs)} holds jets without labels (no field 'label'): "
                                    "training needs the class of every jet; pgjets evaluate RUN --data scores "
                                    "unlabelled jets with a trained run")


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


def warn_trained_on(cfg: dict[str, Any], files: list, unit: str) -> None:
    """Warn when files evaluated with ``pgjets evaluate --data`` are files the run trained or validated on."""
    from .data.fingerprint import fingerprint

    import warnings

    from .errors import DataOverlapWarning

    current = fingerprint(files)
    seen: dict[tuple, str] = {}
    for entry in current["files"]:  # the same file twice in the sample: its jets or events count twice
        first = seen.setdefault((entry["size"], entry["sha256"]), entry["name"])
        if first != entry["name"]:
            warnings.warn(DataOverlapWarning(f"evaluated {entry['name']} and {first} have the same content: "
                                             f"their {unit} are scored twice"), stacklevel=2)
    warn_overlap(current, cfg.get("data_fingerprint"), "evaluated", "the run's --data",
                 f"{unit} it was trained on are among those evaluated, so the metrics are biased")
    warn_overlap(current, (cfg.get("held_out_fingerprints") or {}).get("val"), "evaluated",
                 "the run's --val", "it chose its best checkpoint on them, so the metrics are biased")


def warn_unnamed_labels(specs: list[str], data_names: Optional[Sequence[str]], run_names: Optional[Sequence[str]]
                        ) -> None:
    """Warn when evaluated data have labels but no class names: their numbers are taken as the run's
    class numbers, which may not be what the file meant."""
    import warnings

    from .errors import PgjetsWarning

    if data_names is None and run_names:
        numbering = ", ".join(f"{i}={n}" for i, n in enumerate(run_names))
        warnings.warn(PgjetsWarning(f"--data {' '.join(specs)} has labels but no class names: they are taken as "
                                    f"the run's class numbers ({numbering})"), stacklevel=2)


def check_matching_inputs(recorded: dict[str, Any], ds: Any, what: str, data: str) -> None:
    """:func:`~pgjets.data.inputs.check_inputs` for data given on the command line: a mismatch is a bad
    argument (:class:`~pgjets.errors.DataArgumentError`, exit 2).

    Raises:
        DataArgumentError: other input columns or classes than ``recorded``.
    """
    from .data.inputs import check_inputs

    try:
        check_inputs(recorded, ds, what, data)
    except DataArgumentError:
        raise
    except DataFileError as exc:
        raise DataArgumentError(str(exc)) from None


def checkpoint_sha256(path: Path) -> str:
    """The SHA-256 of a checkpoint file: which weights wrote a ``scores.npz``."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_scores(dest: Path, logits, y, names: list[str], index: Optional[np.ndarray] = None,
                 extra: Optional[dict[str, np.ndarray]] = None, weights_sha256: Optional[str] = None) -> Path:
    r"""``dest/scores.npz``: the model's output for every scored jet or event.

    Arrays: ``logits`` :math:`(n, K)`, ``probabilities`` (softmax), ``y`` (true class),
    ``label_names`` :math:`(K,)`; ``index`` :math:`(n,)`, the position of each in the data it
    came from, when known; and ``extra`` (event runs: ``files``, and per event ``file_index`` and
    ``entry``, its file and tree entry); ``checkpoint_sha256``, the weights that wrote it
    (``weights_sha256``: :func:`checkpoint_sha256` of their checkpoint), when given.  Written atomically.
    """
    import torch

    logits = torch.as_tensor(logits).float()
    arrays: dict[str, np.ndarray] = {
        "logits": logits.numpy(), "probabilities": torch.softmax(logits, 1).numpy(),
        "y": torch.as_tensor(y).numpy(), "label_names": np.asarray([str(n) for n in names])}
    if index is not None and len(index) == len(logits):
        arrays["index"] = np.asarray(index, dtype=np.int64)
        arrays.update(extra or {})
    if weights_sha256 is not None:
        arrays["checkpoint_sha256"] = np.asarray(weights_sha256)
    path = Path(dest) / "scores.npz"
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _jet_score_index(run: Path, cfg: dict[str, Any], data_given: bool, n: int) -> np.ndarray:
    """Positions of the scored jets: in the given data (``--data``, ``--test``) or the run's test split."""
    if data_given or cfg.get("test") is not None:
        return np.arange(n)
    return np.unique(run_split(run)["test"])


def write_report(run: Path, dest: Path, cfg: dict[str, Any], logits, y, names: list[str],
                 signal: Optional[str] = None, data_specs: Optional[list[str]] = None,
                 working_points: Optional[dict[str, float]] = None, index: Optional[np.ndarray] = None,
                 extra_scores: Optional[dict[str, np.ndarray]] = None, checkpoint: Optional[Path] = None):
    """Test metrics (``dest/metrics.json``), the scores (``dest/scores.npz``, :func:`write_scores`)
    and plots (ROC or per-class rejections, confusion, loss).

    Shared by jet and event runs.  ``working_points`` (class name -> signal
    efficiency) override the run's ``working_points`` for multi-class samples; on a binary
    sample only the signal class may have one, which adds a rejection at that efficiency.
    Returns ``(metrics, curves)``.
    """
    from .data.inputs import background_index, signal_class
    from .train.metrics import (BINARY_WORKING_POINTS, accuracy, classification_report, confusion_matrix,
                                multiclass_report, roc_curve, signal_efficiencies)
    from .train.plots import plot_confusion_matrix, plot_history, plot_roc

    run, dest = Path(run), Path(dest)
    curves = {}
    wps = {**(cfg.get("working_points") or {}), **(working_points or {})}
    binary = logits.shape[1] == 2
    check_report_settings(names, (signal or cfg.get("signal")) if binary else signal, wps)
    if binary:
        sig = signal_class(names, signal or cfg.get("signal"))
        bkg, cut_points = 1 - sig, {sig: sorted({*BINARY_WORKING_POINTS, *wps.values()})}
    else:
        bkg = background_index(names)
        cut_points = {c: [eff] for c, eff in signal_efficiencies(names, bkg, wps or None).items()}
    dest.mkdir(parents=True, exist_ok=True)
    weights = None if checkpoint is None else checkpoint_sha256(checkpoint)  # hashed once, for both uses
    labels = np.asarray(y, dtype=np.int64)
    unlabelled = int((labels < 0).sum())  # jets or events of no known class (collision data): y = -1
    counts = np.bincount(labels[labels >= 0], minlength=len(names))
    metrics: dict[str, Any] = {}
    if unlabelled == len(labels):
        pass  # scores and the fraction passing each cut only
    elif binary and counts.all():
        metrics = classification_report(logits, y, working_points=cut_points[sig], signal=sig)
        fpr, tpr, _ = roc_curve(logits, y, signal=sig)
        curves[cfg["model"]] = (fpr, tpr)
        plot_roc(curves, dest / "roc.png", signal_name=names[sig])
    elif binary:  # one class: no ROC; what it has are the efficiencies at the run's cuts (below)
        metrics = {"accuracy": accuracy(logits, y)}
    else:
        metrics = multiclass_report(logits, y, names, background=bkg, working_points=wps or None)
    if binary:
        metrics["signal"] = names[sig]
    metrics["n_test"] = int(len(y))
    metrics["class_counts"] = {str(n): int(c) for n, c in zip(names, counts)}
    if unlabelled:
        metrics["unlabelled"] = unlabelled
    if data_specs is not None:
        metrics["data"] = data_specs
        cuts, note = _cuts_of_run(run, names, logits, y, cut_points, bkg, weights)
        if cuts is not None:
            metrics["cuts"] = cuts
        if note is not None:
            metrics["cuts_note"] = note
    write_scores(dest, logits, y, names, index, extra_scores, weights)
    if not unlabelled:
        plot_confusion_matrix(confusion_matrix(logits, y, len(names)), dest / "confusion.png", names)
    hist = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else []
    if hist and dest == run:
        plot_history(hist, run / "loss.png", keys=["train_loss", "val_loss"])
    atomic_write_text(dest / "metrics.json", json.dumps(strict_json(metrics), indent=1, allow_nan=False))
    return metrics, curves


def _cuts_of_run(run: Path, names: list[str], logits, y, points: dict[int, list[float]],
                 background: int, weights: Optional[str] = None) -> tuple[Optional[list[dict]], Optional[str]]:
    """The run's working-point cuts, set on its own test scores (``RUN/scores.npz``), applied to other
    data (:func:`~pgjets.train.metrics.efficiencies_at_cuts`), and a note on the cuts that could not be
    set (no or a damaged ``scores.npz``, other classes, scores of other weights than ``weights``, the
    evaluated checkpoint's :func:`checkpoint_sha256`, a signal class absent from the test split)."""
    import zipfile

    from .train.metrics import efficiencies_at_cuts

    path = Path(run) / "scores.npz"
    rewrite = f"`pgjets evaluate {run}` (re)writes it"
    try:
        with np.load(path) as f:
            ref_logits, ref_y, ref_names = f["logits"], f["y"], [str(n) for n in f["label_names"]]
            ref_weights = str(f["checkpoint_sha256"]) if "checkpoint_sha256" in f.files else None
    except FileNotFoundError:
        return None, (f"no cuts: {path} does not exist (the run has not finished training, or was trained "
                      f"before it was written): {rewrite}")
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        return None, f"no cuts: {path} is damaged ({type(exc).__name__}): {rewrite}"
    if ref_names != [str(n) for n in names]:
        return None, f"no cuts: {path} holds the classes {ref_names}, not {list(names)}: {rewrite}"
    if ref_weights is not None and weights is not None and ref_weights != weights:
        return None, f"no cuts: {path} holds the scores of other weights than the run's checkpoint: {rewrite}"
    cuts = efficiencies_at_cuts(ref_logits, ref_y, logits, y, names, points, background)
    absent = [names[c] for c in points if not (np.asarray(ref_y) == c).any()]
    note = f"no cut for {', '.join(absent)}: the run's test data have none" if absent else None
    return cuts, note


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
    return path


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


def format_metrics(metrics: dict[str, Any]) -> str:
    """One line of test metrics; with many classes followed by the table of rejections of QCD."""
    auc = "macro AUC" if "rejection" in metrics else "AUC"
    used, names = metrics.get("auc_classes"), metrics.get("label_names") or []
    if used is not None and len(used) < len(names):  # a class absent from the data: not in the average
        auc += f" (of {', '.join(map(str, used))})"
    parts = []
    if metrics.get("auc") is not None and math.isfinite(metrics["auc"]):
        parts.append(f"{auc} {metrics['auc']:.4f}")
    if "accuracy" in metrics:
        parts.append(f"acc {metrics['accuracy']:.4f}")
    for key in sorted((k for k in metrics if k.startswith("rej@")), key=lambda k: float(k[4:])):
        parts.append(f"1/eps_B(eps_S={key[4:]}) {metrics[key]:.1f}")
    present = [n for n, c in (metrics.get("class_counts") or {}).items() if c]
    if metrics.get("unlabelled"):
        parts.append(f"{metrics['unlabelled']} unlabelled: scores only")
    elif "auc" not in metrics or (len(present) == 1 and "rejection" in metrics):
        parts.append(f"only class {present[0] if present else '?'}: no ROC")
    line = ", ".join(parts)
    if metrics.get("rejection"):
        from .train.metrics import format_rejection_table

        from .data.inputs import background_index

        background = metrics.get("background") or (str(names[background_index(names)]) if names else "QCD")
        line += "\n" + format_rejection_table(metrics["rejection"], background=str(background))
    if metrics.get("cuts"):
        line += "\n" + format_cuts(metrics["cuts"])
    if metrics.get("cuts_note"):
        line += "\n" + metrics["cuts_note"]
    return line


def format_cuts(cuts: list[dict]) -> str:
    """The efficiencies of the run's working-point cuts on other data (``metrics["cuts"]``), as text."""
    lines = ["at the run's cuts (set on its test split):"]
    for row in cuts:
        effs = ", ".join(f"eps({name}) {eff:.3f}" for name, eff in row["efficiency"].items())
        rej = row.get("rejection")
        rej = "" if rej is None else f", 1/eps_B {rej:.1f}" if math.isfinite(rej) else ", 1/eps_B inf"
        lines.append(f"  {row['signal']} eps_S={row['eps_S']:g}: {effs}{rej}")
    return "\n".join(lines)


__all__ = ["DEFAULTS", "RUNTIME_KEYS", "train_run", "evaluate_run", "split_indices", "load_table", "format_metrics",
           "load_config", "validate_config", "run_settings", "check_rerun", "read_run_config", "run_table",
           "load_run", "LoadedRun", "load_run_weights", "run_test_data", "resolve_data_paths", "check_data_paths",
           "check_argument_paths", "check_signal", "check_report_settings", "class_names", "check_eval_out",
           "refuse_class_specs", "refuse_event_settings", "write_scores", "warn_overlap", "warn_held_out_overlap",
           "warn_trained_on", "warn_unnamed_labels", "check_matching_inputs", "format_cuts"]
