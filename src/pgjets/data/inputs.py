r"""What a training run reads: its train/val/test datasets, streamed, and the inputs it was trained on.

:func:`run_datasets` turns the data settings of a run (``--data``, ``--val``,
``--test``, ``--split``, ``--max-jets``, ``--feature-set``) into streaming
:class:`~pgjets.data.jet_dataset.JetDataset` objects, never reading the sample
into memory:

- with ``--val`` and ``--test`` the three sources are used as given;
- without them the jets of ``--data`` are split with the seeded split of
  :func:`pgjets.data.split_indices` (fractions ``--split``); with only one of
  them the other part comes from ``--data`` with the fractions renormalised;
- ``--max-jets`` keeps a seeded random subset of ``--data`` before splitting.

Memory: the datasets hold file lists and chunk counts; a split or a
``--max-jets`` subset holds its jet positions (8 bytes per jet), which the
case of both ``--val`` and ``--test`` avoids entirely.

:func:`input_record` is what a run stores about its inputs (feature set, input
columns, class names) and :func:`check_inputs` refuses data that cannot
provide them, with one line naming both sides, e.g. a model trained with PID
inputs evaluated on landscape jets, which carry no PID.

:func:`signal_class` and :func:`background_class` fix the roles of the classes:
background (QCD) is the class named ``qcd`` (class 0 of every reader); the
signal of a binary sample is ``--signal`` or the non-QCD class; for a sample
without QCD (quark vs gluon) it is class 1 (quark, the energy-flow convention).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from ..errors import DataFileError, UsageError
from .jet_dataset import JetDataset


def open_dataset(spec: Any, model: str, feature_set: str, **kwargs: Any) -> JetDataset:
    """A streaming :class:`JetDataset` of ``spec`` in the representation ``model`` needs.

    Raises:
        UsageError: jet-image files for a model that reads particles.
        DataFileError: the files hold no jets.
    """
    from ..models.registry import MODELS, representation_of
    from .sources import resolve_sources

    rep, k = representation_of(model)
    if rep != "image" and spec is not None:
        images = [s.path for s in resolve_sources(spec) if s.format == "images"]
        if images:
            image_models = sorted(name for name in MODELS if representation_of(name)[0] == "image")
            raise UsageError(f"{images[0]} holds jet images, but model {model!r} reads particles "
                             f"({rep} graphs): use an image model ({', '.join(image_models)})")
    ds = JetDataset(spec, representation=rep, k=k, feature_set=feature_set, **kwargs)
    if spec is not None and len(ds) == 0:  # --data, --val, --test or evaluate --data: nothing to use
        raise DataFileError(f"{ds!r} holds no jets")
    return ds


def _specs(value: Any) -> Optional[list[str]]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] or None
    return [str(value)]


def run_datasets(cfg: dict[str, Any], data: Any = None,
                 **kwargs: Any) -> tuple[dict[str, JetDataset], dict, int]:
    """Train/val/test datasets of a run configuration and the split used.

    Args:
        cfg (dict): Run settings with ``model``, ``feature_set``, ``data``,
            ``val``, ``test``, ``split``, ``seed`` and ``max_jets``.
        data: The training source(s) (default ``cfg["data"]``).
        **kwargs: Passed to :class:`JetDataset` (``chunk_size``, ...).

    Returns:
        ``({"train": ds, "val": ds, "test": ds}, split, n)`` where ``split``
        maps the parts taken from ``--data`` to their jet positions in it and
        ``n`` is the number of jets of ``--data``.
    """
    from .splits import split_positions

    model, fs = cfg["model"], cfg.get("feature_set", "particlenet")
    full = open_dataset(_specs(data if data is not None else cfg["data"]), model, fs, **kwargs)
    given = {name: _specs(cfg.get(name)) for name in ("val", "test")}
    if all(v is not None for v in given.values()) and (cfg.get("max_jets") is None
                                                        or len(full) <= int(cfg["max_jets"])):
        out = {"train": full}  # nothing to split: no index array of the size of the sample
        for name, spec in given.items():
            out[name] = open_dataset(spec, model, fs, **kwargs)
            check_same_classes(full, out[name], name)
        return out, {}, len(full)
    positions = np.arange(len(full))
    if cfg.get("max_jets") is not None and len(full) > int(cfg["max_jets"]):
        rng = np.random.default_rng(0)
        positions = np.sort(rng.choice(len(full), int(cfg["max_jets"]), replace=False))
    split = split_positions(positions, cfg.get("split", (0.6, 0.2, 0.2)), int(cfg.get("seed", 0)),
                            tuple(name for name, spec in given.items() if spec is not None))
    out = {"train": full if split["train"].size == len(full) else full.subset(split["train"])}
    for name in ("val", "test"):
        if given[name] is not None:
            out[name] = open_dataset(given[name], model, fs, **kwargs)
            check_same_classes(out["train"], out[name], name)
        else:
            out[name] = full.subset(split[name])
    return out, split, len(full)


def input_record(ds: JetDataset, feature_set: str) -> dict[str, Any]:
    """What a run records about its inputs: feature set, input columns, class names."""
    return {"feature_set": feature_set, "input_columns": ds.feature_names,
            "label_names": list(ds.label_names) if ds.label_names else None}


def _cols(names: Sequence[str]) -> str:
    return f"{len(names)} columns ({', '.join(names)})"


def check_inputs(recorded: dict[str, Any], ds: JetDataset, run: str, data: str,
                 verb: str = "was trained on") -> None:
    """Refuse ``ds`` if it cannot give the input columns or classes ``recorded`` at training time.

    ``run`` names what ``recorded`` describes and ``verb`` joins it to the inputs
    (``"run R was trained on ..."``, ``"the training data has ..."``).

    Raises:
        DataFileError: One line naming the run's inputs and the data's.
    """
    want = recorded.get("input_columns")
    if want is not None and list(want) != ds.feature_names:
        missing = [c for c in want if c not in ds.feature_names]
        why = f"; it lacks {', '.join(missing)}" if missing else ""
        fs = recorded.get("feature_set")
        raise DataFileError(f"{run} {verb} {_cols(want)}{f' (feature set {fs!r})' if fs else ''} "
                            f"but {data} provides {_cols(ds.feature_names)}{why}")
    names = recorded.get("label_names")
    if names and ds.label_names and list(names) != list(ds.label_names):
        raise DataFileError(f"{run} {verb} the classes {list(names)} but {data} has {list(ds.label_names)}")
    if names and ds.num_classes > len(names):
        raise DataFileError(f"{run} {verb} {len(names)} classes but {data} has {ds.num_classes}")


def check_same_classes(train: JetDataset, other: JetDataset, name: str) -> None:
    """``--val``/``--test`` data must have the training inputs and classes."""
    check_inputs(input_record(train, ""), other, "the training data", f"the --{name} data", verb="has")


def background_class(label_names: Optional[Sequence[str]]) -> Optional[int]:
    """Index of the QCD class (case-insensitive ``qcd``), ``None`` when there is none."""
    for i, name in enumerate(label_names or []):
        if str(name).lower() == "qcd":
            return i
    return None


def background_index(label_names: Sequence[str]) -> int:
    """The background of a multi-class sample, against which its rejections are measured: the QCD
    class (:func:`background_class`), else the first."""
    bkg = background_class(label_names)
    return 0 if bkg is None else bkg


def signal_class(label_names: Optional[Sequence[str]], signal: Optional[str] = None) -> int:
    """The signal class of a binary sample (see the module docstring).

    Raises:
        DataFileError: ``signal`` is not one of the class names.
    """
    names = list(label_names or ["0", "1"])
    if signal is not None:
        lowered = [str(n).lower() for n in names]
        if str(signal).lower() not in lowered:
            raise DataFileError(f"--signal {signal} is not a class of the data ({', '.join(names)})")
        return lowered.index(str(signal).lower())
    bkg = background_class(names)
    if bkg is not None and len(names) == 2:
        return 1 - bkg
    return 1


__all__ = ["open_dataset", "run_datasets", "input_record", "check_inputs", "background_class", "background_index",
           "signal_class"]
