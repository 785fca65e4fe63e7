"""The settings of a training run: defaults, ``--config`` YAML and flags merged and checked
(:func:`load_config`, :func:`validate_config`), the settings that define a run's result
(:func:`run_settings`) and the rerun rule (:func:`check_rerun`: the same settings resume, others
are refused; data that moved with the recorded content resume, :func:`moved_data`), and the data
arguments (``--data`` specs as paths, checked).  :mod:`pgjets.run` re-exports every name.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
from pathlib import Path
from typing import Any, Optional


from ._checks import check_no_repeats, check_out_folder, check_setting_int
from .errors import (
    DataFileError,
    DataFileNotFoundError,
    PathArgumentError,
    PgjetsError,
    SettingsMismatchError,
    UsageError,
)
from .train.trainer import (settings_diff)


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
    "weight": None,
    "weight_norm": None,
    "seed": 0,
    "device": "auto",
    "progress": True,
}


#: Neighbours per object of kNN event graphs (``--connectivity knn`` without ``--k``).
DEFAULT_EVENT_K = 8

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
          "tree": "--tree", "connectivity": "--connectivity", "k": "--k", "weight": "--weight",
          "weight_norm": "--weight-norm"}


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
    if cfg["connectivity"] == "knn" and cfg["k"] is None:
        cfg["k"] = DEFAULT_EVENT_K  # recorded as used: --k 8 given or not is one setting
    if cfg["k"] is not None:
        check_setting_int(cfg["k"], name("k"))
        if cfg["connectivity"] != "knn":
            raise UsageError(f"{name('k')} is the number of neighbours of kNN event graphs: give "
                             "--connectivity knn with it (connectivity: knn in a config file)")
    if cfg["weight"] is not None:
        from .data.event_dataset import weight_expression, weight_fields

        try:
            fields = weight_fields(cfg["weight"]) if isinstance(cfg["weight"], (str, list)) else None
        except ValueError:
            fields = None
        if not fields:
            raise bad("weight", "a per-event field of the event weights, or a product and quotient of fields "
                                "(e.g. genWeight; mcWeight*scaleFactor_PILEUP*XSection/SumWeights)")
        cfg["weight"] = weight_expression(fields)  # one spelling of one setting
    from .data.event_dataset import WEIGHT_NORMS

    if cfg["weight_norm"] is not None:
        choice("weight_norm", list(WEIGHT_NORMS))
        if cfg["weight"] is None:
            raise UsageError(f"{name('weight_norm')} scales the event weights: give --weight FIELD with it "
                             "(weight: FIELD in a config file)")
    if cfg["weight"] is not None and cfg["weight_norm"] is None:
        cfg["weight_norm"] = "class"  # recorded as used: --weight-norm class given or not is one setting
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
                or is_event_data(cfg[key], cfg.get("tree"), cfg["model"])
                or is_event_data(old[key], old.get("tree"), old.get("model"))):
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


def check_argument_paths(value: Any, flag: str = "--data") -> list[Path]:
    """:func:`check_data_paths` of a command-line argument: a missing path is a bad argument.

    Raises:
        UsageError: a path does not exist, a glob matches nothing, or a file is in no known format.
    """
    try:
        return check_data_paths(value, flag)
    except DataFileNotFoundError as exc:
        raise UsageError(f"{flag}: {exc}") from None


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
