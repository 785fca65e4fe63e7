"""Evaluation and reports of a training run: ``pgjets evaluate`` (:func:`evaluate_run`), the
files it writes (``metrics.json``, ``scores.npz``, plots: :func:`write_report`), where it writes them
(``RUN/eval/<name>/``, never over other results) and the printed summary (:func:`format_metrics`).
:mod:`pgjets.run` re-exports every name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ._atomic import atomic_output
from .errors import (
    DataArgumentError,
    DataFileError,
    UsageError,
)
from .train.trainer import (atomic_write_text, strict_json)
from .run_config import _as_specs, check_data_paths, read_run_config, resolve_data_paths


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
                 progress: bool = False, tree: Optional[str] = None, weight: Optional[str] = None) -> dict[str, Any]:
    """Test metrics and plots of a finished run (best checkpoint).

    Without ``data`` the run's own test data (``--test`` or the test split) are
    used, after checking that they still match the fingerprint recorded at
    training time, and the results go to the run folder.  With ``data``
    (paths, globs) every jet there is evaluated, after checking that the data
    provide the run's input columns and classes, and the results go to
    ``out`` (default ``RUN/eval/<name>/``), never over the run's own.
    ``progress`` shows a progress bar over the batches (on a terminal).  ``tree`` (event runs, with
    ``data``): the ROOT tree of the events of ``data``, when it is not the run's (``--tree``).
    ``weight`` (event runs, with ``data``): the event weights of ``data`` when they are not the run's
    (``--weight``; ``"none"``: unweighted).
    """
    from .run import (_trainer, check_report_settings, class_names, jets_have_labels, load_run,  # (run imports
                      refuse_class_specs, run_test_data, warn_held_out_overlap, warn_unfinished)  # this module)
    from .data.inputs import open_dataset

    run = Path(run)
    cfg = read_run_config(run)
    from .run_events import _class_order, evaluate_event_run, is_event_data  # whole events

    if tree is not None and data is None:
        raise UsageError("--tree names the tree of the events of --data: give --data with it (the run's own "
                         "test events are read from the run's tree)")
    if weight is not None and data is None:
        raise UsageError("--weight names the event weights of --data: give --data with it (the run's own "
                         "test events are weighted as in training)")
    if test_data is None:  # (not at the end of a training)
        warn_unfinished(run, cfg)
    if is_event_data(cfg["data"], cfg.get("tree"), cfg["model"]):
        return evaluate_event_run(run, cfg, data=data, out=out, signal=signal, working_points=working_points,
                                  progress=progress, tree=tree, weight=weight)
    if tree is not None or weight is not None:
        flag = "--tree names the tree" if tree is not None else "--weight names the weights"
        raise UsageError(f"{flag} of event files, but run {run} classifies jets")
    recorded = cfg.get("inputs") or {}
    specs, order = None, None
    if data is not None:
        specs = _as_specs(resolve_data_paths(data))
        refuse_class_specs(specs)
        files = check_data_paths(specs)
        if is_event_data(specs, model=cfg["model"]):
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


def warn_trained_on(cfg: dict[str, Any], files: list, unit: str) -> None:
    """Warn when files evaluated with ``pgjets evaluate --data`` are files the run trained or validated on."""
    from .run import warn_overlap  # (run imports this module)
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
    from .data.fingerprint import file_sha256

    return file_sha256(path)


def write_scores(dest: Path, logits, y, names: list[str], index: Optional[np.ndarray] = None,
                 extra: Optional[dict[str, np.ndarray]] = None, weights_sha256: Optional[str] = None) -> Path:
    r"""``dest/scores.npz``: the model's output for every scored jet or event.

    Arrays: ``logits`` :math:`(n, K)`, ``probabilities`` (softmax), ``y`` (true class),
    ``label_names`` :math:`(K,)`; ``index`` :math:`(n,)`, the position of each in the data it
    came from, when known; and ``extra`` (event runs: ``files``, and per event ``file_index`` and
    ``entry``, its file and tree entry, the event identifiers the files have and, for a weighted run,
    ``weight`` as stored in the files); ``checkpoint_sha256``, the weights that wrote it
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
    from .run import run_split  # (run imports this module)
    if data_given or cfg.get("test") is not None:
        return np.arange(n)
    return np.unique(run_split(run)["test"])


def write_report(run: Path, dest: Path, cfg: dict[str, Any], logits, y, names: list[str],
                 signal: Optional[str] = None, data_specs: Optional[list[str]] = None,
                 working_points: Optional[dict[str, float]] = None, index: Optional[np.ndarray] = None,
                 extra_scores: Optional[dict[str, np.ndarray]] = None, checkpoint: Optional[Path] = None,
                 sample_weight: Optional[np.ndarray] = None, weight_note: Optional[dict[str, Any]] = None):
    """Test metrics (``dest/metrics.json``), the scores (``dest/scores.npz``, :func:`write_scores`)
    and plots (ROC or per-class rejections, confusion, loss).

    ``sample_weight`` (event weights, as scaled for training): the AUC, accuracy, rejections and ROC
    curve are weighted, ``metrics["unweighted"]`` holds the AUC and rejections of the events counted
    one each, and ``weight_note`` (e.g. ``{"weight": "genWeight", "weight_norm": "class"}``) is
    recorded; the confusion matrix, class counts and the cuts on other data stay in events.

    Shared by jet and event runs.  ``working_points`` (class name -> signal
    efficiency) override the run's ``working_points`` for multi-class samples; on a binary
    sample only the signal class may have one, which adds a rejection at that efficiency.
    Returns ``(metrics, curves)``.
    """
    from .run import check_report_settings  # (run imports this module)
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
        metrics = classification_report(logits, y, working_points=cut_points[sig], signal=sig,
                                        sample_weight=sample_weight)
        if sample_weight is not None:
            plain = classification_report(logits, y, working_points=cut_points[sig], signal=sig)
            metrics["unweighted"] = {k: v for k, v in plain.items() if k == "auc" or k.startswith("rej@")}
        fpr, tpr, _ = roc_curve(logits, y, signal=sig, sample_weight=sample_weight)
        curves[cfg["model"]] = (fpr, tpr)
        plot_roc(curves, dest / "roc.png", signal_name=names[sig])
    elif binary:  # one class: no ROC; what it has are the efficiencies at the run's cuts (below)
        metrics = {"accuracy": accuracy(logits, y, sample_weight)}
    else:
        metrics = multiclass_report(logits, y, names, background=bkg, working_points=wps or None,
                                    sample_weight=sample_weight)
        if sample_weight is not None:
            plain = multiclass_report(logits, y, names, background=bkg, working_points=wps or None)
            metrics["unweighted"] = {"auc": plain["auc"], "rejection": plain["rejection"]}
    if sample_weight is not None and unlabelled < len(labels):
        metrics.update(weight_note or {})
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


def format_metrics(metrics: dict[str, Any]) -> str:
    """One line of test metrics; with many classes followed by the table of rejections of the
    background class (``metrics["background"]``: QCD, else the first)."""
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
