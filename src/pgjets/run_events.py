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


def is_event_data(path: Any, tree: Optional[str] = None, model: Optional[str] = None) -> bool:
    """True when ``path`` (``--data``: a path, or a list of them; ``CLASS=PATH`` specs included) holds
    only events: event folders, event parquet files, ROOT event files (NanoAOD, H->ZZ layout, or with
    the tree ``tree``: ``--tree``), each file judged by its content, whatever its name (see
    :func:`~pgjets.data.generate_events.is_event_folder`).  CMS PFNano and Delphes files hold both: for a
    jet ``model`` (not one of :data:`~pgjets.models.registry.EVENT_MODELS`) they are jets."""
    specs = [path] if isinstance(path, (str, Path)) else list(path or [])
    try:
        if not (bool(specs) and all(not_event_data_reason(str(spec), tree) is None for spec in specs)):
            return False
    except (DataFileNotFoundError, TypeError):
        return False
    from .models.registry import EVENT_MODELS

    return model is None or model in EVENT_MODELS or not _all_jet_files(specs)


def _all_jet_files(specs: list) -> bool:
    """Whether every file of ``specs`` (plain paths, folders or globs) holds jets with their constituents
    (:data:`~pgjets.data.readers.EVENT_JET_FORMATS`: CMS PFNano, Delphes)."""
    from .data.readers import EVENT_JET_FORMATS, detect_format, looks_like_data
    from .data.sources import expand_spec, folder_data_files, split_class_spec

    files = []
    for spec in specs:
        for p in expand_spec(split_class_spec(str(spec))[1], "--data"):
            files += folder_data_files(p) if p.is_dir() else [p]
    try:
        return bool(files) and all(looks_like_data(f) and detect_format(f) in EVENT_JET_FORMATS for f in files)
    except Exception:
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


def order_held_out(data: Any, held: Any) -> Any:
    """``--val``/``--test`` specs ``held`` with their ``CLASS=PATH`` specs in the order of the classes
    of ``--data`` (stable within a class; classes ``--data`` lacks last), so that the same held-out
    files given in another order are the same setting (a resumed run is not refused).  Anything
    else is returned as given.
    """
    from .data.sources import class_specs, split_class_spec
    from .errors import UsageError
    from .run import _as_specs

    if held is None or data is None:
        return held
    specs = _as_specs(held)
    try:
        order = class_specs(_as_specs(data))
        if order is None or class_specs(specs) is None:
            return held
    except UsageError:  # mixed specs: refused where they are read
        return held
    rank = {name: i for i, name in enumerate(order)}
    ordered = sorted(specs, key=lambda spec: rank.get(split_class_spec(spec)[0], len(rank)))
    return ordered if isinstance(held, (list, tuple)) else held


def _dataset(data: Any, max_events: Optional[int], cfg: dict[str, Any], unlabelled_ok: bool = False,
             flag: Optional[str] = None):
    """The streamed events of ``data`` and the positions used (all, or ``max_events`` of them).

    ``unlabelled_ok`` (evaluation): event files given without classes and without a label field
    (NanoAOD of collision data) are read unlabelled, ``y = -1``, instead of refused.

    ``flag`` (data given on the command line, ``"--data"``): a file that cannot be read as events
    (a folder's file without the tree, not ROOT) is a bad argument, as when the file is given itself.

    Raises:
        DataArgumentError: (not ``unlabelled_ok``) event files without classes and without a label field;
            with ``flag``, event files that cannot be indexed.
    """
    from .data.event_dataset import StreamedEventDataset
    from .errors import DataArgumentError, DataFileError

    given = event_input(data)
    tree = cfg.get("tree")
    unlabelled = not isinstance(given, dict) and _without_labels(given, tree)
    if unlabelled and not unlabelled_ok:
        raise DataArgumentError(f"{_describe(data)}: the event files have no label field 'label' (a NanoAOD, "
                                "Delphes, EDM4hep or PHYSLITE file holds none): give the class of each file, --data CLASS=FILE repeated "
                                "per class (a mapping {class: files} in Python)")
    label = None if unlabelled else "label"
    try:
        ds = StreamedEventDataset(given, label=label, **event_graph_settings(cfg))  # file lists and counts only
    except DataFileError as exc:
        if flag is None or isinstance(exc, DataArgumentError):
            raise
        raise DataArgumentError(f"{flag} {_describe(data)}: {exc}") from None
    idx = np.arange(len(ds))
    if max_events is not None and len(ds) > max_events:
        idx = np.sort(np.random.default_rng(0).choice(len(ds), max_events, replace=False))
    return ds, idx


def event_graph_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~pgjets.data.event_dataset.StreamedEventDataset` arguments of an event run's settings:
    ``collections`` (``--collection``), ``extra_fields`` (``--object-field``), ``tree`` (``--tree``),
    ``connectivity`` and ``k`` (``--connectivity``, ``--k``; default complete graphs, k = 8 for kNN),
    ``weight`` and ``weight_norm`` (``--weight``, ``--weight-norm``; default unweighted, and weights
    scaled per class)."""
    from .data.event_dataset import DEFAULT_COLLECTIONS
    from .run_config import DEFAULT_EVENT_K

    return {"collections": cfg.get("collections") or DEFAULT_COLLECTIONS,
            "extra_fields": cfg.get("object_fields") or (), "tree": cfg.get("tree"),
            "connectivity": cfg.get("connectivity") or "full", "k": cfg.get("k") or DEFAULT_EVENT_K,
            "weight": cfg.get("weight"), "weight_norm": cfg.get("weight_norm") or "class"}


def _without_labels(given: Any, tree: Optional[str] = None) -> bool:
    """Whether ``given`` (what :func:`event_input` returns) names event files without classes, none of
    which has a label field (``tree``: ``--tree``)."""
    from .data.event_dataset import event_file_has_labels
    from .data.generate_events import event_input_files
    from .data.sources import expand_spec
    from .run import all_or_none_labelled

    if isinstance(given, dict):
        return False
    specs = [given] if isinstance(given, (str, Path)) else given
    files = [f for spec in specs for path in expand_spec(str(spec), "event data")
             for f in event_input_files(path, tree)]
    labelled = [event_file_has_labels(f, tree=tree) for f in files]
    return bool(files) and not all_or_none_labelled(files, labelled, "events",
                                                    ", or give every file a class (CLASS=PATH)")


def _fingerprint(ds) -> dict[str, Any]:
    """The fingerprint of the files a streamed event dataset reads, with its number of events."""
    from .data.fingerprint import fingerprint

    return fingerprint(ds.files, n_jets=len(ds))


def _subset(ds, idx: np.ndarray):
    return ds.subset(idx)  # streamed batches for the Trainer (StreamedEventDataset.batches)


def _describe(data: Any) -> str:
    return str(data) if isinstance(data, (str, Path)) else " ".join(map(str, data))


def not_event_data_reason(spec: str, tree: Optional[str] = None) -> Optional[str]:
    """Why the ``--data`` spec ``spec`` (``CLASS=PATH`` or a path) is not event data; ``None`` when it is
    (``tree``: the ROOT tree of the events, ``--tree``; default ``Events`` or ``events``).

    Raises:
        DataFileNotFoundError: the path does not exist, or its glob matches nothing.
    """
    from .data.event_dataset import event_file_kind
    from .data.generate_events import is_event_folder, parquet_file_layout
    from .data.sources import expand_spec, split_class_spec
    from .errors import DataFileError

    for p in expand_spec(split_class_spec(spec)[1], "event data"):
        if is_event_folder(p, tree):
            continue
        if p.is_dir():
            for f in _folder_candidates(p, tree):  # the first file that is not an event file says why
                reason = not_event_data_reason(str(f), tree)
                if reason is not None:
                    return f"the folder {p} holds a file that is not event data: {reason}"
            return f"{p} is a folder without event files (a pgjets generate --events manifest, parquet or ROOT)"
        try:
            kind = event_file_kind(p, tree)
        except DataFileError as exc:
            return str(exc)
        if kind == "parquet" and parquet_file_layout(p) == "unknown":
            return (f"{p} holds no events: a parquet file without per-event collections (jagged fields C_pt "
                    "or C_px, or records with a field pt or px)")
        return f"{p} holds no events (jets?)"
    return None


def _folder_candidates(folder: Path, tree: Optional[str]) -> list[Path]:
    """The files of a folder without a manifest that would be its event files (see
    :func:`~pgjets.data.generate_events.event_input_files`); none for a folder with a manifest."""
    from .data.generate_events import folder_event_files
    from .data.jet_io import MANIFEST_NAME

    return [] if (folder / MANIFEST_NAME).exists() else folder_event_files(folder, tree)


def first_non_event_spec(specs: Any, flag: str = "--data", tree: Optional[str] = None) -> Optional[tuple[str, str]]:
    """``(spec, reason)`` of the first spec of ``specs`` that is not event data, ``None`` when all are.

    Raises:
        UsageError: a path does not exist or a glob matches nothing (a bad argument).
    """
    from .errors import UsageError

    for spec in [str(specs)] if isinstance(specs, (str, Path)) else [str(d) for d in specs]:
        try:
            reason = not_event_data_reason(spec, tree)
        except DataFileNotFoundError as exc:
            raise UsageError(f"{flag} {spec}: {exc}") from None
        if reason is not None:
            return spec, reason
    return None


def _explain_not_events(data: Any, model: str, tree: Optional[str] = None) -> None:
    """Raise the reason why ``--data`` does not hold events, for an event model."""
    from .errors import UsageError

    found = first_non_event_spec(data, tree=tree)
    if found is not None:
        raise UsageError(f"model {model!r} classifies whole events, but --data {found[0]}: {found[1]}")
    raise UsageError(f"model {model!r} classifies whole events: give --data with a folder of "
                     "`pgjets generate --events`, parquet event files or ROOT event files (NanoAOD, Delphes, "
                     "EDM4hep, PHYSLITE; CLASS=FILE per class)")


#: Settings of jet runs only (generation and constituent features): refused for event runs when they
#: differ from their defaults, and left out of an event run's ``config.yaml``.
JET_SETTINGS = {"processes": "--process", "gen_seed": "gen_seed", "fast": "fast", "workers": "--workers",
                "feature_set": "--feature-set", "generate": "--generate"}


def refuse_jet_settings(cfg: dict[str, Any]) -> None:
    """Refuse the settings of jet runs (:data:`JET_SETTINGS`) for an event run, where they would be
    silently ignored (an event's node features are its objects' fields: ``--object-field``).

    Raises:
        UsageError: one of them differs from its default.
    """
    from .errors import UsageError
    from .run import DEFAULTS

    for key, flag in JET_SETTINGS.items():
        if cfg.get(key, DEFAULTS[key]) != DEFAULTS[key]:
            raise UsageError(f"{flag} is a setting of jet runs, but the data are whole events "
                             f"({_describe(cfg['data'])}); event runs choose their node features with "
                             "--collection and --object-field")


def check_event_data(cfg: dict[str, Any]) -> tuple[Any, np.ndarray]:
    """The streamed dataset of an event run's ``--data`` and the events it uses, after every check that
    needs no writing (:func:`event_datasets`, which also checks ``--val``/``--test``)."""
    ds, idx, _ = event_datasets(cfg)
    return ds, idx


def event_datasets(cfg: dict[str, Any]) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """The streamed dataset of an event run's ``--data``, the events it uses (all, or ``max_jets`` of
    them) and the held-out datasets of ``--val``/``--test`` (``{"val": ds, ...}``, those given).

    Checked, before anything is written: the files, their collections and object fields, two or more
    classes with events; held-out data are events with the same classes (``CLASS=PATH`` classes
    matched by name) and the same object features.

    Raises:
        UsageError: fewer than two classes.
        DataArgumentError: a class without events, a missing collection or object field, held-out
            data that are not events or have other classes.
    """
    from .errors import UsageError
    from .run import check_report_settings, class_names

    refuse_jet_settings(cfg)
    ds, idx = _dataset(cfg["data"], cfg["max_jets"], cfg, flag="--data")
    if cfg.get("tree") is not None and ds.files and all(ds.file_kind(i) == "parquet" for i in range(len(ds.files))):
        raise UsageError(f"--tree {cfg['tree']} names the tree of ROOT event files, but --data holds parquet "
                         "files only (they have no trees): leave --tree out")
    if cfg.get("connectivity") == "knn" and cfg["model"] in ("event_deepsets", "event_transformer"):
        import warnings

        from .errors import PgjetsWarning

        warnings.warn(PgjetsWarning(f"model {cfg['model']!r} does not read the edges of the event graphs: "
                                    "--connectivity knn only costs the kNN (event_gnn uses them)"), stacklevel=2)
    counts = ds.class_counts()
    if counts is not None:
        if len(counts) < 2:
            raise UsageError(f"--data gives one class ({ds.label_names[0]}); a classifier needs two or more "
                             "(--data CLASS=PATH per class)")
    _refuse_empty_classes(ds)
    names = list(ds.label_names) if ds.label_names else None
    check_report_settings(class_names(ds), cfg.get("signal"), cfg.get("working_points"))  # not after training
    held = {key: held_out_events(cfg, key, names, ds.num_features) for key in ("val", "test")
            if cfg.get(key) is not None}
    return ds, idx, held


def held_out_events(cfg: dict[str, Any], key: str, label_names: Optional[list], num_features: int):
    """The streamed dataset of ``cfg[key]`` (``--val`` or ``--test`` of an event run), checked against
    the training classes and number of object features.

    ``CLASS=PATH`` classes are matched by name and numbered as in training, whatever their order.

    Raises:
        DataArgumentError: not event data, other classes, a class without events, another number of
            object features.
    """
    from .data.event_dataset import StreamedEventDataset
    from .errors import DataArgumentError, DataFileError
    from .run import _as_specs

    flag = f"--{key}"
    specs = _as_specs(cfg[key])
    found = first_non_event_spec(specs, flag, cfg.get("tree"))
    if found is not None:
        raise DataArgumentError(f"{flag} {found[0]}: {found[1]}; an event run holds out events")
    data = event_input(specs)
    subset = False
    if isinstance(data, dict):
        known = set(map(str, label_names or []))
        subset = key == "test" and set(data) < known  # a test of some classes, as a jet run's
        if label_names is None or not (set(data) == known or subset):
            need = "all of them" if key == "val" else "some or all of them"
            raise DataArgumentError(f"{flag} gives the classes {list(data)} but --data "
                                    f"{'has no class names' if label_names is None else list(label_names)} "
                                    f"({flag} needs {need})")
        data = {str(n): data[str(n)] for n in label_names if str(n) in data}  # in the training order
    try:
        ds = StreamedEventDataset(data, **event_graph_settings(cfg))
        _check_event_inputs({"label_names": None if subset else label_names, "num_features": num_features}, ds,
                            "--data", " ".join(specs), verb="has")
    except DataFileError as exc:
        raise DataArgumentError(f"{flag}: {str(exc).replace('--data CLASS=FILE', f'{flag} CLASS=FILE')}") from None
    _refuse_empty_classes(ds, f"{flag}: ")
    return ds


#: A ratio of the objects' median pT between training and evaluated events beyond which
#: :func:`warn_pt_scale` warns (MeV against GeV is 1000; samples of other processes differ by a few).
PT_SCALE_RATIO = 30.0


def object_pt_median(ds: Any, positions: np.ndarray, n_events: int = 1024) -> Optional[float]:
    """The median :math:`p_T` of the objects (node column 0) of the first ``n_events`` events at
    ``positions`` of a streamed event dataset (one or two chunks read); ``None`` without objects."""
    sub = ds.subset(np.asarray(positions)[:n_events])
    batch = next(iter(sub.batches(n_events)), None)
    pt = batch.x[:, 0] if batch is not None and batch.num_nodes else None
    pt = pt[pt > 0] if pt is not None else None
    return float(pt.median()) if pt is not None and pt.numel() else None


def warn_pt_scale(trained: Optional[float], evaluated: Optional[float], data: str) -> None:
    r"""Warn when the evaluated events' median object :math:`p_T` is :data:`PT_SCALE_RATIO` times that
    of the training events or more, either way (files in MeV scored by a run trained in GeV): the
    event models take :math:`\log(1 + p_T)` as it is, and the run's cuts no longer mean anything."""
    import warnings

    from .errors import PgjetsWarning

    if not trained or not evaluated:
        return
    ratio = evaluated / trained
    if ratio >= PT_SCALE_RATIO or ratio <= 1 / PT_SCALE_RATIO:
        times = f"{ratio:.4g} times larger" if ratio > 1 else f"{1 / ratio:.4g} times smaller"
        warnings.warn(PgjetsWarning(
            f"the objects of {data} have a median pT of {evaluated:.4g}, those the run trained on {trained:.4g} "
            f"({times}): other units (MeV against GeV)? pgjets does not convert units, and the scores "
            "and cuts of the run assume those of its training events"), stacklevel=2)


def warn_class_pt_scales(ds: Any) -> None:
    """Warn when the classes of a dataset of one class per file (``CLASS=PATH``) have median object
    :math:`p_T` :data:`PT_SCALE_RATIO` times apart or more (the first events of each class's first
    file with events): files of one class in MeV and another in GeV, which a classifier tells apart by
    the units alone."""
    import warnings

    from .errors import PgjetsWarning

    if not ds.label_names or ds.class_counts() is None:
        return
    medians = {}
    for c, name in enumerate(ds.label_names):
        files = [i for i in range(len(ds.files)) if ds.file_class(i) == c and len(ds.file_positions(i))]
        if files:
            medians[str(name)] = object_pt_median(ds, ds.file_positions(files[0])[:1024])
    known = {k: v for k, v in medians.items() if v}
    if len(known) > 1 and max(known.values()) / min(known.values()) >= PT_SCALE_RATIO:
        listed = ", ".join(f"{k} {v:.4g}" for k, v in known.items())
        warnings.warn(PgjetsWarning(
            f"the classes' objects have median pT {listed} ({max(known.values()) / min(known.values()):.4g} "
            "times apart): files in other units (MeV against GeV)? A classifier would learn the units"),
            stacklevel=2)


def file_layouts(ds: Any) -> list[str]:
    """The layouts of the files of an event dataset (:data:`~pgjets.data.event_dataset.EVENT_FILE_KINDS`),
    sorted: ``config.yaml`` records those a run trained on."""
    return sorted({ds.file_kind(i) for i in range(len(ds.files))})


def warn_other_layouts(trained: Optional[list[str]], evaluated: list[str], data: str) -> None:
    """Warn when events of a layout the run never trained on are scored (Delphes by a run trained on
    NanoAOD): their objects come from another reconstruction, and the run's cuts assume its own."""
    import warnings

    from .data.root_layouts import LAYOUT_NAMES
    from .errors import PgjetsWarning

    other = [k for k in evaluated if trained and k not in trained]
    if other:
        names = lambda kinds: ", ".join(LAYOUT_NAMES.get(k, k) for k in kinds)  # noqa: E731
        warnings.warn(PgjetsWarning(
            f"{data} holds {names(other)} files, but the run trained on {names(trained)} files: their objects "
            "come from another reconstruction, and the scores and cuts of the run assume its own"), stacklevel=2)


def warn_class_layouts(ds: Any) -> None:
    """Warn when the classes of a dataset of one class per file (``CLASS=PATH``) come from files of
    different layouts (Delphes against EDM4hep, NanoAOD against Delphes, ...): their objects differ in
    reconstruction and in the fields stored, which a classifier tells apart without any physics."""
    import warnings

    from .data.root_layouts import LAYOUT_NAMES
    from .errors import PgjetsWarning

    if not ds.label_names or ds.class_counts() is None:
        return
    kinds: dict[str, set[str]] = {}
    for i in range(len(ds.files)):
        c = ds.file_class(i)
        if c is not None:
            kinds.setdefault(str(ds.label_names[c]), set()).add(ds.file_kind(i))
    if len({frozenset(k) for k in kinds.values()}) > 1:
        listed = "; ".join(f"{name}: {', '.join(sorted(LAYOUT_NAMES.get(k, k) for k in ks))}"
                           for name, ks in kinds.items())
        warnings.warn(PgjetsWarning(
            f"the classes come from files of different layouts ({listed}): their objects differ in "
            "reconstruction and stored fields, which a classifier can learn instead of the physics"),
            stacklevel=2)


def _refuse_empty_classes(ds: Any, prefix: str = "") -> None:
    """Refuse a dataset of one class per file (a mapping) in which a class has no events.

    Raises:
        DataArgumentError: the first class whose files hold no events.
    """
    from .errors import DataArgumentError

    counts = ds.class_counts()
    empty = [name for name, n in zip(ds.label_names or [], counts or []) if n == 0]
    if empty:
        raise DataArgumentError(f"{prefix}class {empty[0]!r} has no events (its files are empty)")


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

    if cfg.get("generate") is None and is_event_data(cfg["data"], cfg.get("tree"), cfg["model"]):
        return train_event_run(cfg, out, cfg["data"], old)
    if cfg["model"] in EVENT_MODELS:
        _explain_not_events(cfg["data"] if cfg.get("generate") is None else [], cfg["model"], cfg.get("tree"))
    return None


def train_event_run(cfg: dict[str, Any], out: Path, data: Any,
                    old: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Train ``cfg["model"]`` on the events of ``data`` (``--data``: see :func:`event_input`), evaluate
    on the test split.

    Seeded, resumable and guarded like a jet run: the settings were checked by
    :func:`pgjets.run.check_rerun`, the data's fingerprint is checked here.
    """
    from .data.splits import split_positions
    from .run import _data_changed, fit_run, warn_held_out_overlap
    from .train.distributed import is_main_process

    out = Path(out)
    ds, idx, held = event_datasets({**cfg, "data": data})  # before anything is written: bad data cost no folder
    split = split_positions(idx, cfg["split"], cfg["seed"], tuple(held))
    for key in ("val", "test"):  # weighted metrics on each: a positive sum of weights per class
        if key in held:
            check_class_weights(held[key], np.arange(len(held[key])), f"--{key} events")
        else:
            check_class_weights(ds, split[key], f"{'validation' if key == 'val' else 'test'} split",
                                "give it more events with --split, or draw another with --seed")
    out.mkdir(parents=True, exist_ok=True)
    fp = _fingerprint(ds)
    held_fp = {key: _fingerprint(held_ds) for key, held_ds in held.items()}
    if old is not None:
        hint = f"run {out} started on; use --force to start afresh"
        _data_changed(_describe(data), old.get("data_fingerprint"), fp, hint)
        for key, held_print in held_fp.items():
            _data_changed(_describe(cfg[key]), (old.get("held_out_fingerprints") or {}).get(key), held_print, hint)
    inputs = {"label_names": list(ds.label_names) if ds.label_names else None, "num_features": int(ds.num_features),
              "object_pt_median": object_pt_median(ds, idx), "layouts": file_layouts(ds)}
    if ds.weight is not None:
        inputs["weights"] = weight_summary(ds, idx)
        if is_main_process():
            print(describe_weights(inputs["weights"]))
    warn_class_pt_scales(ds)
    warn_class_layouts(ds)
    cfg = {**{k: v for k, v in cfg.items() if k not in JET_SETTINGS},  # config.yaml without jet settings
           "data": str(data) if isinstance(data, Path) else data, "data_fingerprint": fp, "inputs": inputs}
    if held_fp:
        cfg["held_out_fingerprints"] = held_fp
        if is_main_process():  # once, not per DDP process
            warn_held_out_overlap(fp, held_fp)
    val = held["val"] if "val" in held else _subset(ds, split["val"])
    if not fit_run(cfg, out, split, _subset(ds, split["train"]), val, ds.num_features, ds.num_classes,
                   unit="events"):
        return {"metrics": {}}
    return evaluate_event_run(out, cfg, dataset=held.get("test", ds), progress=bool(cfg.get("progress")))


def evaluate_event_run(run: Path, cfg: dict[str, Any], data: Any = None, out: Optional[Path] = None,
                       dataset=None, signal: Optional[str] = None,
                       working_points: Optional[dict[str, float]] = None, progress: bool = False,
                       tree: Optional[str] = None, weight: Optional[str] = None) -> dict[str, Any]:
    """Test metrics and plots of a finished event run (best checkpoint).

    Without ``data`` the run's test split (after checking the events still match
    the recorded fingerprint) and the results go to the run folder (to
    ``RUN/eval/test-.../`` with another ``signal`` or other ``working_points``);
    with ``data`` all its events are evaluated into ``out`` (default
    ``RUN/eval/<name>/``).  ``signal`` and ``working_points`` mean what they
    mean for :func:`pgjets.run.evaluate_run`; ``tree``: the ROOT tree of ``data``
    (default the run's); ``weight``: the event weights of ``data`` (default the run's ``--weight``;
    ``"none"``: unweighted).  A weighted run reports weighted metrics (see
    :func:`pgjets.run.write_report`) and the weights as stored in ``scores.npz`` (``weight``).
    """
    from .errors import DataArgumentError, DataFileError
    from .run import _as_specs, _data_changed, _eval_dest, _test_dest, _trainer, _variant, build_run_model
    from .run import check_report_settings, class_names, load_run_weights, warn_held_out_overlap, warn_trained_on
    from .run import warn_unnamed_labels
    from .run import check_eval_out, resolve_data_paths, run_split, write_report

    run = Path(run)
    inputs = cfg.get("inputs") or {}  # classes and object features at training
    if data is not None:
        specs = _as_specs(resolve_data_paths(data))
        read = cfg if tree is None else {**cfg, "tree": tree}  # the tree of data (--tree), else the run's
        if weight is not None:  # the weights of data (--weight), else the run's
            read = {**read, "weight": None if str(weight).lower() == "none" else _weight_setting(weight)}
        found = first_non_event_spec(specs, tree=read.get("tree"))
        if found is not None:
            raise DataArgumentError(f"--data {found[0]}: {found[1]}; run {run} classifies whole events (give "
                                    "event folders or files, CLASS=FILE for ROOT event files)")
        try:
            dataset, idx = _dataset(specs, None, read, unlabelled_ok=True, flag="--data")
        except DataArgumentError as exc:
            if read.get("weight") is None or "event weight" not in str(exc):
                raise
            raise DataArgumentError(f"{exc} (--weight FIELD reads other weights; --weight none: unweighted, "
                                    "e.g. collision data)") from None
        if len(dataset) == 0:
            raise DataArgumentError(f"--data {' '.join(specs)} holds no events")
        if dataset.label is not None:
            warn_unnamed_labels(specs, dataset.label_names, inputs.get("label_names"))
        warn_trained_on(cfg, dataset.files, "events")
        order = _class_order(inputs.get("label_names"), dataset.label_names)  # another order: matched by name
        checked = inputs if order is None else {**inputs, "label_names": None}  # matched by name
        try:
            _check_event_inputs(checked, dataset, f"run {run}", " ".join(specs))
        except DataFileError as exc:  # data given on the command line: a bad argument
            raise DataArgumentError(str(exc)) from None
        warn_pt_scale(inputs.get("object_pt_median"), object_pt_median(dataset, idx), " ".join(specs))
        warn_other_layouts(inputs.get("layouts"), file_layouts(dataset), " ".join(specs))
        dest = Path(out) if out is not None else _eval_dest(run, specs, _variant(cfg, signal, working_points))
        check_eval_out(run, dest)
    else:
        held_test = cfg.get("test") is not None  # --test events, else the test split of --data
        key = "test" if held_test else "data"
        if dataset is None:
            try:
                if held_test:
                    dataset = held_out_events(cfg, "test", inputs.get("label_names"), inputs["num_features"])
                else:
                    dataset, _ = _dataset(cfg["data"], None, cfg)
            except DataFileNotFoundError as exc:
                raise DataFileNotFoundError(f"the events of run {run}, {_describe(cfg[key])}, do not exist "
                                            f"(moved or deleted?): {exc}") from None
            held_prints = cfg.get("held_out_fingerprints") or {}
            recorded = held_prints.get("test") if held_test else cfg.get("data_fingerprint")
            used = "was tested on (--test)" if held_test else "was trained on"
            _data_changed(_describe(cfg[key]), recorded, _fingerprint(dataset),
                          f"run {run} {used}; give --data PATH to evaluate on other events")
            warn_held_out_overlap(cfg.get("data_fingerprint"), held_prints, ("test",))  # (training warned already)
        idx = np.arange(len(dataset)) if held_test else run_split(run, len(dataset))["test"]
        specs = None
        order = _class_order(inputs.get("label_names"), dataset.label_names) if held_test else None
        dest = Path(out) if out is not None else _test_dest(run, cfg, signal, working_points)
        check_eval_out(run, dest, data_given=False)
    names = class_names(dataset, inputs.get("label_names"))
    check_report_settings(names, signal, working_points)  # against the run's classes, before scoring
    model = build_run_model(cfg, dataset.num_features, len(names))
    checkpoint = load_run_weights(run, cfg, model, "best")
    trainer = _trainer({**cfg, "progress": progress, "device": "auto"}, model, None, distributed=False)
    check_class_weights(dataset, np.unique(idx), "--data events" if data is not None else "test events",
                        "--weight none scores them unweighted" if data is not None else "give it more events")
    logits, y = trainer.predict(_subset(dataset, idx))
    if order is not None:
        y = y.new_tensor(order)[y]  # the data's class numbers as the run's
    index = np.unique(idx)
    file, entry = dataset.locate(index)
    extra = {"files": np.asarray([str(f) for f in dataset.files]), "file_index": file, "entry": entry,
             **dataset.event_ids(index)}  # run, luminosityBlock, event (runNumber, ...) where the files have them
    sample_weight, note = None, None
    if dataset.weight is not None:
        from .data.event_dataset import weight_expression

        sample_weight = dataset.weights(index)  # as scaled for training (per class: the ROC is the same)
        extra["weight"] = dataset.weights(index, scaled=False)  # as stored in the files
        note = {"weight": weight_expression(dataset.weight), "weight_norm": dataset.weight_norm}
    metrics, curves = write_report(run, dest, cfg, logits, y, names, signal=signal, data_specs=specs,
                                   working_points=working_points, index=index, extra_scores=extra,
                                   checkpoint=checkpoint, sample_weight=sample_weight, weight_note=note)
    return {"metrics": metrics, "curves": curves, "test_index": idx, "logits": logits, "y": y, "out": dest}


def check_class_weights(ds: Any, positions: np.ndarray, what: str, hint: str = "give it more events") -> None:
    """Refuse events of a weighted dataset (``what``: ``"test split"``, ``"--data"``, ...) in which the
    weights of a class sum to zero or less: its efficiencies, and so the weighted ROC, AUC and
    rejections, are fractions of that sum (NLO samples with many negative weights in a small split).

    Raises:
        DataArgumentError: such a class (named, with its sum and number of events).
    """
    from .data.event_dataset import weight_expression
    from .errors import DataArgumentError

    if ds.weight is None or not len(positions):
        return
    w, classes = ds.weights(positions), ds.event_classes(positions)
    names = list(ds.label_names) if ds.label_names else None
    for c in np.unique(classes[classes >= 0]).tolist():
        total = float(w[classes == c].sum())
        if not total > 0.0:
            name = names[c] if names and c < len(names) else c
            raise DataArgumentError(
                f"the event weights {weight_expression(ds.weight)} of class {name} in the {what} "
                f"({int((classes == c).sum())} events) sum to {total:g}: the weighted ROC, AUC and 1/eps_B need a "
                f"positive sum per class ({hint})")


def weight_summary(ds: Any, positions: np.ndarray) -> dict[str, Any]:
    """What an event run records of its weights (``inputs["weights"]`` of ``config.yaml``): the
    fields (``weight``), their scaling (``weight_norm``), the fraction of events of negative weight
    and, per class, the sum of the weights as stored, over the events at ``positions``."""
    from .data.event_dataset import weight_expression

    raw = ds.weights(positions, scaled=False)
    classes = ds.event_classes(positions)
    names = list(ds.label_names) if ds.label_names else None
    sums = {(str(names[c]) if names and c >= 0 else str(c)): float(raw[classes == c].sum())
            for c in np.unique(classes).tolist()}
    return {"weight": weight_expression(ds.weight), "weight_norm": ds.weight_norm,
            "negative_fraction": float((raw < 0).mean()) if raw.size else 0.0, "class_sums": sums}


def describe_weights(summary: dict[str, Any]) -> str:
    """One line on an event run's weights (:func:`weight_summary`)."""
    scaling = {"class": "scaled to a mean of 1 per class", "total": "scaled to a mean of 1",
               "none": "as stored"}[summary["weight_norm"]]
    sums = ", ".join(f"{c} {v:.4g}" for c, v in summary["class_sums"].items())
    return (f"event weights {summary['weight']}: {scaling}; {100 * summary['negative_fraction']:.1f}% of the "
            f"events negative; sums as stored: {sums}")


def _weight_setting(weight: str) -> str:
    """``--weight`` of ``pgjets evaluate``, checked (``F`` or ``F1*F2``), in the run's spelling.

    Raises:
        UsageError: an empty field name.
    """
    from .data.event_dataset import weight_expression, weight_fields
    from .errors import UsageError

    try:
        return weight_expression(weight_fields(str(weight)))
    except ValueError as exc:
        raise UsageError(f"--weight: {exc}") from None


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


def _check_event_inputs(recorded: dict[str, Any], dataset: Any, what: str, data: str,
                        verb: str = "was trained on") -> None:
    """Refuse events with other classes or another number of object features than ``recorded``
    (``what`` names their owner: ``"run R"`` that ``verb``, ``"--data"`` that ``"has"``)."""
    from .data.inputs import check_inputs
    from .errors import DataFileError

    check_inputs(recorded, dataset, what, data, verb=verb)
    want = recorded.get("num_features")
    if want is not None and int(want) != int(dataset.num_features):
        raise DataFileError(f"{what} {verb} objects with {want} features but {data} gives "
                            f"{dataset.num_features} (other collections or extra fields?)")


__all__ = ["is_event_data", "event_input", "check_event_data", "event_datasets", "held_out_events", "order_held_out",
           "refuse_jet_settings", "JET_SETTINGS",
           "not_event_data_reason", "first_non_event_spec",
           "maybe_train_events",
           "train_event_run", "evaluate_event_run"]
