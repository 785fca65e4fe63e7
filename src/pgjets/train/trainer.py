r"""A plain PyTorch training loop for PyG models, with exact resume.

The loop minimises the empirical risk

.. math::
    \hat\theta = \arg\min_\theta \frac{1}{|\mathcal{D}|}
    \sum_{G \in \mathcal{D}} \mathcal{L}\big(f_\theta(G), y_G\big)

with AdamW, a cosine or one-cycle learning-rate schedule, gradient-norm
clipping, mixed precision on CUDA and early stopping on a validation metric.

Exact resume: every epoch ends with an atomic checkpoint holding the model,
optimizer, scheduler, early-stopping state, history and all random-number
generator states.  The order of the training batches of epoch :math:`e` depends
only on ``(seed, e)``, never on how much randomness earlier epochs consumed, so
a run killed at any point and resumed from its last checkpoint ends with the
same weights as a run that was never interrupted (on the same device).

Checkpoint files start with a header line ``PGJETS-CHECKPOINT-1 <sha256>``
followed by the ``torch.save`` payload; :func:`load_checkpoint_file` refuses a
file whose payload does not match the checksum (truncated, overwritten, random
bytes) with a :class:`~pgjets.errors.CheckpointError` naming it.  Read them with
:func:`load_checkpoint_file`, not with ``torch.load``.  A checkpoint also holds
the settings it belongs to (the :class:`TrainConfig` and the trainer's
``settings``); resuming from one of other settings is refused.

With BatchNorm in the model and ``batch_size > 1``, a training batch that holds a
single graph (an incomplete last batch) is skipped, as ``drop_last`` would: its
batch statistics are those of one jet, and BatchNorm over graph-level features
cannot compute them at all.  If no batch is left (one training graph), training
stops with a :class:`~pgjets.errors.GraphSizeError`; so it does when a BatchNorm
layer gets a single value per channel otherwise (e.g. ``batch_size=1`` asked for).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import math
import random
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from .._atomic import atomic_output, atomic_write_bytes
from ..errors import (CheckpointError, GraphSizeError, InputShapeError, NonFiniteError, SettingsMismatchError,
                      UsageError)
from .losses import LabelSmoothingCrossEntropy, regression_loss
from .metrics import classification_report

BatchSource = Union[Callable[[int], Iterable[Any]], Sequence[Any], Any]


@dataclass
class TrainConfig:
    """Settings of :class:`Trainer` (all JSON/YAML-serialisable).

    Args:
        epochs: Number of epochs.
        batch_size: Graphs per batch when the trainer builds the loader itself.
        lr: Peak learning rate.
        weight_decay: AdamW weight decay.
        schedule: ``"cosine"`` (per epoch), ``"onecycle"`` (per step) or ``"none"``.
        grad_clip: Max gradient norm (``None`` = no clipping).
        amp: Mixed precision; ``None`` = on for CUDA, off on CPU.
        patience: Early-stopping patience in epochs (``None`` = off).
        monitor: The number that early stopping and ``best.pt`` follow: ``"val_loss"``,
            ``"train_loss"`` or a metric of :meth:`Trainer.evaluate` (classification:
            ``"val_auc"``, ``"val_accuracy"``, ``"val_rej@0.3"``, ...; regression: ``"val_mae"``).
        monitor_mode: ``"min"`` or ``"max"``: whether a smaller or a larger ``monitor`` is better;
            ``None`` = from its name (losses and errors, ``*_loss``, ``*_mae``, ``*_mse``,
            ``*_rmse``, ``*_error``, are minimised, everything else maximised).
        task: ``"classification"`` or ``"regression"``.
        signal_class: The signal class of a binary classifier, for the validation ``rej@...``
            (1 by default; ``pgjets train`` passes that of ``--signal`` or of the class names).
        label_smoothing: For classification.
        seed: Seed of everything random in the run.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress: Show a tqdm progress bar.
        verbose: Print one summary line per epoch.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-2
    schedule: str = "cosine"
    grad_clip: Optional[float] = 1.0
    amp: Optional[bool] = None
    patience: Optional[int] = None
    monitor: str = "val_loss"
    monitor_mode: Optional[str] = None
    task: str = "classification"
    signal_class: int = 1
    label_smoothing: float = 0.0
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    verbose: bool = True
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.schedule not in ("cosine", "onecycle", "none"):
            raise ValueError(f"schedule must be cosine, onecycle or none, got {self.schedule!r}")
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be classification or regression, got {self.task!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.monitor_mode not in (None, "min", "max"):
            raise ValueError(f"monitor_mode must be 'min', 'max' or None, got {self.monitor_mode!r}")

    @property
    def maximise(self) -> bool:
        """Whether a larger ``monitor`` is better (``monitor_mode``, or the rule of its name)."""
        if self.monitor_mode is not None:
            return self.monitor_mode == "max"
        return not self.monitor.endswith(MINIMISED_SUFFIXES)


#: Monitors whose name ends like this are minimised (unless ``monitor_mode`` says otherwise).
MINIMISED_SUFFIXES = ("loss", "mae", "mse", "rmse", "error")


def known_monitor(name: str, task: str) -> bool:
    """Whether :meth:`Trainer.fit` records ``name`` every epoch (with validation data) for ``task``."""
    if name in ("train_loss", "val_loss"):
        return True
    if task == "regression":
        return name == "val_mae"
    if name in ("val_auc", "val_accuracy"):
        return True
    if name.startswith("val_rej@"):
        try:
            return 0.0 < float(name[len("val_rej@"):]) <= 1.0
        except ValueError:
            return False
    return False


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_algorithms(enabled: bool = True) -> Iterator[None]:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` inside the block, the previous
    setting after it.

    On a CPU with several threads the backward of advanced indexing (``x[index]``, an
    ``index_put_`` with accumulation) adds in a thread-dependent order, so two runs of the same
    seed differed in the last bits and then diverged.  :meth:`Trainer.fit` on a CPU trains inside
    this block (same seed, data and machine: bit-identical weights); ``warn_only`` turns an op
    without a deterministic kernel into a warning, not an error.

    Args:
        enabled: ``False`` leaves the setting as it is (a no-op block).
    """
    if not enabled:
        yield
        return
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def _rng_state() -> dict:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


#: First bytes of every checkpoint file written by :func:`atomic_torch_save`.
CHECKPOINT_MAGIC = b"PGJETS-CHECKPOINT-1 "
_DIGEST_HEX = 64

#: :class:`TrainConfig` fields that do not change the result (not compared on resume).
RUNTIME_FIELDS = ("device", "progress", "verbose")
#: The defaults of the :class:`TrainConfig` fields that have one.
_FIELD_DEFAULTS = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def atomic_torch_save(obj: Any, path: Path) -> None:
    """Save ``obj`` as a checksummed checkpoint file, atomically (temporary file, then rename).

    The file is ``CHECKPOINT_MAGIC + sha256(payload) + "\\n" + payload`` with the
    ``torch.save`` payload serialised in memory first, so a full disk fails in a
    plain write (:class:`~pgjets.errors.DiskFullError`) and the previous file stays.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getbuffer()
    digest = hashlib.sha256(payload).hexdigest().encode()
    atomic_write_bytes(path, b"".join([CHECKPOINT_MAGIC, digest, b"\n", payload]))


def load_checkpoint_file(path: Union[str, Path], map_location: Any = "cpu") -> dict:
    """Read a checkpoint written by :func:`atomic_torch_save`, verifying its checksum.

    Raises:
        CheckpointError: The file cannot be read, is not a pgjets checkpoint, or its
            payload does not match its checksum (truncated or overwritten).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc.strerror or exc}") from exc
    head = len(CHECKPOINT_MAGIC) + _DIGEST_HEX + 1
    if not data.startswith(CHECKPOINT_MAGIC) or len(data) < head or data[head - 1:head] != b"\n":
        raise CheckpointError(f"checkpoint {path} is not a pgjets checkpoint (no checksum header): "
                              "damaged or written by something else")
    payload = memoryview(data)[head:]
    if hashlib.sha256(payload).hexdigest().encode() != data[len(CHECKPOINT_MAGIC):head - 1]:
        raise CheckpointError(f"checkpoint {path} is damaged: its contents do not match its checksum "
                              "(truncated or overwritten)")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    except Exception as exc:  # the checksum matched, so the payload itself is unreadable here
        raise CheckpointError(f"checkpoint {path} cannot be loaded: {exc}") from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} holds no model state")
    return state


def settings_diff(old: dict, new: dict, ignore: Sequence[str] = ()) -> list[str]:
    """``"key old -> new"`` for every key whose value differs (keys in ``ignore`` are skipped)."""
    keys = [k for k in dict.fromkeys([*old, *new]) if k not in ignore]
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def strict_json(value: Any) -> Any:
    """``value`` with every non-finite float as ``None`` (``null``), for strict JSON, which has no
    ``Infinity`` or ``NaN`` (a rejection ``1/eps_B`` is infinite when no background jet passes)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_text(path: Path, text: str) -> None:
    """Write text atomically (temporary file, then rename)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)


class Trainer:
    r"""Train, validate, checkpoint and resume a PyG model.

    Args:
        model: Any ``nn.Module`` called as ``model(batch)``.
        config: A :class:`TrainConfig`.
        loss_fn: ``loss_fn(output, batch) -> scalar`` (a mean over the batch); default:
            cross entropy (classification, ``batch.y`` class indices, label-smoothed by
            ``config.label_smoothing``) or MSE (regression).  A given ``loss_fn`` is also the
            validation loss ``val_loss``; the default's is plain cross entropy (no smoothing) or MSE.
            Batches with per-graph weights ``batch.weight`` (event weights, see
            :func:`graph_weights`) weigh the default losses, :math:`\frac{1}{N}\sum_G w_G
            \mathcal{L}_G`, and the validation metrics (weighted ROC, AUC, accuracy).
        out_dir: Run folder for checkpoints (``checkpoints/last.pt``,
            ``checkpoints/best.pt``) and ``history.json``; ``None`` = no files.
        target_fn: ``target_fn(batch) -> Tensor`` (default ``batch.y``).
        settings: Further settings the run belongs to (e.g. data and model of a
            ``pgjets train`` run), stored in every checkpoint and compared on resume.
        locations: Keys of ``settings`` that say where the data lie, not what they are (the
            caller checks the data by content, e.g. by their fingerprint): stored, not compared, so
            a run resumes on data that moved.
        distributed: Use the initialised ``torch.distributed`` process group
            (DDP, sharded batches, rank-0 checkpoints); ``None`` = whenever one is
            initialised, ``False`` = never (e.g. evaluation on one rank).

    Data sources (``train_data`` / ``val_data``) may be a callable
    ``epoch -> iterable of batches``, an object with ``batches(batch_size,
    shuffle, seed)`` (e.g. :class:`pgjets.data.jet_dataset.JetDataset`), or a
    list/PyG dataset of ``Data`` objects (batched here with a loader whose
    shuffling is seeded by ``(seed, epoch)``).
    """

    def __init__(
        self,
        model: nn.Module,
        config: Optional[TrainConfig] = None,
        loss_fn: Optional[Callable[[Tensor, Any], Tensor]] = None,
        out_dir: Optional[Union[str, Path]] = None,
        target_fn: Optional[Callable[[Any], Tensor]] = None,
        distributed: Optional[bool] = None,
        settings: Optional[dict] = None,
        locations: Sequence[str] = (),
    ) -> None:
        self.config = config or TrainConfig()
        self.settings = dict(settings) if settings is not None else None
        self.locations = tuple(locations)
        cfg = self.config
        if cfg.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
        self.module = model.to(self.device)
        self._skip_single = cfg.batch_size > 1 and any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        self.world_size, self.rank = _distributed_world() if distributed is not False else (1, 0)
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index or 0] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.module, device_ids=ids)
        else:
            self.model = self.module
        self.target_fn = target_fn or (lambda b: b.y)
        if type(self).evaluate is Trainer.evaluate and not known_monitor(cfg.monitor, cfg.task):
            raise UsageError(f"monitor {cfg.monitor!r} is not recorded by a {cfg.task} run: use 'val_loss', "
                             "'train_loss' or " + ("'val_mae'" if cfg.task == "regression" else
                                                   "'val_auc', 'val_accuracy' or 'val_rej@<eps_S>'"))
        self.custom_loss = loss_fn is not None
        if loss_fn is None:
            loss_fn = self._default_loss
            self._ce = LabelSmoothingCrossEntropy(cfg.label_smoothing)
            self._ce_each = LabelSmoothingCrossEntropy(cfg.label_smoothing, reduction="none")
        self.loss_fn = loss_fn
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.amp = cfg.amp if cfg.amp is not None else self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler: Optional[torch.optim.lr_scheduler.LRScheduler] = None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.device.type == "cuda")
        self.history: list[dict[str, float]] = []
        self.epoch = 0
        self.best: Optional[float] = None
        self.bad_epochs = 0
        self.stopped_early = False

    def _default_loss(self, out: Tensor, batch: Any) -> Tensor:
        """Cross entropy (label-smoothed) or MSE, weighted by ``batch.weight`` where it has one."""
        target = self.target_fn(batch)
        w = graph_weights(batch)
        if self.config.task != "classification":
            return regression_loss(out, target, weight=w)
        if w is None:
            return self._ce(out, target.view(-1))
        per_graph = self._ce_each(out, target.view(-1))
        return (per_graph * w.reshape(-1).to(per_graph.dtype)).mean()

    # ------------------------------------------------------------- data ----
    def _train_batches(self, source: BatchSource, epoch: int) -> Iterable[Any]:
        """Training batches of this rank: every ``world_size``-th batch, equal counts on all ranks."""
        if self.world_size > 1 and _shards_itself(source):  # each rank streams its own share of the chunks
            seed = self.config.seed * 100_003 + epoch
            return source.batches(self.config.batch_size, shuffle=True, seed=seed, rank=self.rank,
                                  world_size=self.world_size)
        batches = self._batches(source, epoch, shuffle=True)
        if self.world_size == 1:
            return batches
        per_rank = self._rank_steps(source)  # full batches only: a rank never meets a lone last graph
        return itertools.islice(batches, self.rank, self.rank + per_rank * self.world_size, self.world_size)

    def _batches(self, source: BatchSource, epoch: int, shuffle: bool) -> Iterable[Any]:
        seed = self.config.seed * 100_003 + epoch
        if callable(source) and not hasattr(source, "batches") and not hasattr(source, "__getitem__"):
            return source(epoch)
        if hasattr(source, "batches"):
            return source.batches(self.config.batch_size, shuffle=shuffle, seed=seed)
        from torch_geometric.loader import DataLoader

        gen = torch.Generator().manual_seed(seed)
        return DataLoader(source, batch_size=self.config.batch_size, shuffle=shuffle, generator=gen)

    def check_shares(self, train_data: BatchSource) -> None:
        """Under DDP, check that every process gets a full batch of ``train_data`` per epoch (call it
        before writing anything; :meth:`fit` calls it too).

        Raises:
            GraphSizeError: a process would get no full batch.
        """
        if self.world_size > 1 and self._rank_steps(train_data) == 0:
            n = len(train_data) if hasattr(train_data, "__len__") else None
            share = f" ({n // self.world_size} of the {n} training graphs each)" if n is not None else ""
            raise GraphSizeError(
                f"each of the {self.world_size} processes gets no full batch of {self.config.batch_size} graphs per "
                f"epoch{share}: use a smaller batch size, fewer processes or more training data")

    def _rank_steps(self, source: BatchSource) -> int:
        """Training steps per rank and epoch under DDP: the full batches of the source, dealt out."""
        batch_size = self.config.batch_size
        if _shards_itself(source):
            return int(source.num_batches(batch_size, world_size=self.world_size))
        full = self._num_batches(source, batch_size, drop_last=True)
        if full is None:
            raise ValueError("distributed training needs a data source with a known number of batches")
        return full // self.world_size

    @staticmethod
    def _num_batches(source: BatchSource, batch_size: int, drop_last: bool = False) -> Optional[int]:
        """Batches of ``source`` (``drop_last``: full ones only), ``None`` when it cannot tell."""
        if hasattr(source, "num_batches"):
            if not drop_last:
                return int(source.num_batches(batch_size))
            try:
                return int(source.num_batches(batch_size, drop_last=True))
            except TypeError:  # no drop_last: the last batch may be incomplete, leave it out
                return max(int(source.num_batches(batch_size)) - 1, 0)
        if hasattr(source, "__len__") and not callable(getattr(source, "batches", None)):
            return len(source) // batch_size if drop_last else math.ceil(len(source) / batch_size)
        return None

    def _make_scheduler(self, train_data: BatchSource) -> None:
        cfg = self.config
        if cfg.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=cfg.epochs)
        elif cfg.schedule == "onecycle":
            steps = self._num_batches(train_data, cfg.batch_size)
            if steps is None:
                raise ValueError("schedule='onecycle' needs a data source with a known number of batches")
            if self.world_size > 1:
                steps = max(1, self._rank_steps(train_data))
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps
            )

    # -------------------------------------------------------- checkpoint ---
    def state_dict(self) -> dict:
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "history": self.history,
            "rng": _rng_state(),
            "config": asdict(self.config),
            "settings": self.settings,
            "world_size": self.world_size,
            "num_threads": torch.get_num_threads() if self.device.type == "cpu" else None,
        }

    def check_settings(self, state: dict, path: Union[str, Path] = "checkpoint") -> None:
        """Raise :class:`SettingsMismatchError` if ``state`` belongs to other settings."""
        # a checkpoint from before a field existed was made with its default (signal_class: 1)
        old = {**_FIELD_DEFAULTS, **(state.get("config") or {})}
        diffs = settings_diff(old, asdict(self.config), ignore=RUNTIME_FIELDS)
        if self.settings is not None and state.get("settings") is not None:
            diffs += settings_diff(state["settings"], self.settings, ignore=self.locations)
        if int(state.get("world_size", 1)) != self.world_size:  # other global batches, another schedule
            diffs.append(f"processes (world_size) {int(state.get('world_size', 1))} -> {self.world_size} (resume "
                         f"with {int(state.get('world_size', 1))} processes)")
        if diffs:
            raise SettingsMismatchError(f"checkpoint {path} belongs to other settings: {'; '.join(diffs)}")

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.best = state["best"]
        self.bad_epochs = int(state["bad_epochs"])
        self.stopped_early = bool(state.get("stopped_early", False))
        self.history = list(state["history"])
        _set_rng_state(state["rng"])

    @property
    def checkpoint_path(self) -> Optional[Path]:
        return None if self.out_dir is None else self.out_dir / "checkpoints" / "last.pt"

    def save_checkpoint(self, best: bool = False) -> None:
        if self.out_dir is None:
            return
        if self.rank != 0:  # rank 0 writes; the others wait so a resume sees a complete file
            _barrier(self.world_size)
            return
        state = self.state_dict()
        # last.pt last: it is what a resume starts from, so a kill between these writes resumes from the
        # epoch before and writes them all again (with last.pt first, a kill before best.pt left last.pt
        # recording a best that no later epoch beat, and the run scored an older best.pt)
        if best:
            atomic_torch_save({"model": state["model"], "epoch": self.epoch, "config": state["config"],
                               "settings": state["settings"]}, self.out_dir / "checkpoints" / "best.pt")
        atomic_write_text(self.out_dir / "history.json", json.dumps(strict_json(self.history), indent=1, allow_nan=False))
        atomic_torch_save(state, self.out_dir / "checkpoints" / "last.pt")
        _barrier(self.world_size)

    def load_checkpoint(self, path: Optional[Union[str, Path]] = None) -> bool:
        """Load ``path`` (default: the run's ``last.pt``); ``False`` if there is none.

        Raises:
            CheckpointError: The file is damaged (see :func:`load_checkpoint_file`).
            SettingsMismatchError: It belongs to other settings than this trainer's.
        """
        path = Path(path) if path is not None else self.checkpoint_path
        if path is None or not path.exists():
            return False
        state = load_checkpoint_file(path, map_location=self.device)
        missing = [k for k in ("optimizer", "epoch", "history", "rng") if k not in state]
        if missing:
            raise CheckpointError(f"checkpoint {path} cannot resume training: it has no {', '.join(missing)} "
                                  "(a best.pt?)")
        self.check_settings(state, path)
        threads = state.get("num_threads")
        going_on = int(state["epoch"]) < self.config.epochs and not state.get("stopped_early", False)
        other_threads = threads is not None and int(threads) != torch.get_num_threads()
        if going_on and self.device.type == "cpu" and other_threads:
            import warnings

            from ..errors import PgjetsWarning

            warnings.warn(PgjetsWarning(
                f"checkpoint {path} was written with {int(threads)} CPU threads, this process has "
                f"{torch.get_num_threads()}: training goes on, but its weights will not be bit-identical to "
                "those of an uninterrupted run (a matrix product sums in an order that depends on the threads; "
                f"set OMP_NUM_THREADS={int(threads)} for that)"), stacklevel=2)
        self.load_state_dict(state)
        return True

    # ---------------------------------------------------------- training ---
    def _improved(self, value: float) -> bool:
        maximise = self.config.maximise
        if self.best is None:
            return True
        return value > self.best if maximise else value < self.best

    def train_epoch(self, train_data: BatchSource) -> float:
        cfg = self.config
        self.model.train()
        total, count = 0.0, 0
        batches = self._train_batches(train_data, self.epoch)
        n = self._num_batches(train_data, cfg.batch_size)
        if self.world_size > 1:
            n = self._rank_steps(train_data)
        bar = _progress(batches, n, f"epoch {self.epoch + 1}/{cfg.epochs}", cfg.progress and self.rank == 0)
        skipped = 0
        for batch in bar:
            if self._skip_single and getattr(batch, "num_graphs", None) == 1:
                skipped += 1  # BatchNorm statistics of a single jet: skip (see the module docstring)
                continue
            batch = batch.to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, enabled=self.amp):
                try:
                    out = self.model(batch)
                except ValueError as exc:
                    if "Expected more than 1 value per channel" not in str(exc):
                        raise
                    raise GraphSizeError(
                        f"a training batch of {int(getattr(batch, 'num_graphs', 1))} graph(s) with "
                        f"{int(getattr(batch, 'num_nodes', 0) or 0)} node(s) gives a BatchNorm layer a single "
                        f"value per channel at epoch {self.epoch + 1}: use larger batches or graphs") from exc
                loss = self.loss_fn(out, batch)
            if not torch.isfinite(loss):
                raise NonFiniteError(f"loss became {loss.item()} at epoch {self.epoch + 1}")
            self.scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if cfg.schedule == "onecycle" and self.scheduler is not None:
                self.scheduler.step()
            size = int(getattr(batch, "num_graphs", 1))
            total += float(loss.detach()) * size
            count += size
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{total / count:.4f}")
        if skipped and count == 0 and self.world_size == 1:
            raise GraphSizeError(
                f"every training batch holds a single graph ({skipped} batches), but the model has BatchNorm "
                "layers, which need at least 2 graphs per batch in training: give at least 2 training graphs")
        if cfg.schedule == "cosine" and self.scheduler is not None:
            self.scheduler.step()
        if self.world_size > 1:  # mean training loss over all ranks
            import torch.distributed as dist

            red = torch.tensor([total, float(count)], dtype=torch.float64, device=self.device)
            dist.all_reduce(red)
            total, count = float(red[0]), int(red[1])
        return total / max(count, 1)

    def predict(self, data: BatchSource) -> tuple[Tensor, Tensor]:
        """Model outputs and targets over a data source, concatenated (on CPU)."""
        out, y, _, _ = self._predict(data, with_loss=False)
        return out, y

    @torch.no_grad()
    def _predict(self, data: BatchSource, with_loss: bool
                 ) -> tuple[Tensor, Tensor, Optional[float], Optional[Tensor]]:
        """Outputs, targets, (``with_loss``) the graph-weighted mean of ``loss_fn`` over the batches,
        and the per-graph weights (:func:`graph_weights`) when every batch has them, else ``None``."""
        self.module.eval()
        outs, ys, ws = [], [], []
        total, count = 0.0, 0
        n = self._num_batches(data, self.config.batch_size)
        for batch in _progress(self._batches(data, 0, shuffle=False), n, "predict",
                               self.config.progress and self.rank == 0):
            batch = batch.to(self.device)
            with torch.autocast(self.device.type, enabled=self.amp):
                out = self.module(batch)
                if with_loss:
                    size = int(getattr(batch, "num_graphs", 1))
                    total += float(self.loss_fn(out, batch)) * size
                    count += size
            outs.append(out.float().cpu())
            ys.append(self.target_fn(batch).cpu())
            w = graph_weights(batch)
            ws.append(None if w is None else w.reshape(-1).float().cpu())
        if not outs:
            raise ValueError("the evaluation data source yielded no batches")
        weights = None if any(w is None for w in ws) else torch.cat(ws)
        return torch.cat(outs), torch.cat(ys), (total / max(count, 1) if with_loss else None), weights

    def evaluate(self, data: BatchSource, prefix: str = "val_") -> dict[str, float]:
        """Loss and metrics (AUC, accuracy, ``1/eps_B``; regression: MAE) on ``data``.

        The loss is the trainer's ``loss_fn`` where one was given (averaged over
        the graphs), else plain cross entropy (classification) or MSE.  Data whose batches carry
        per-graph weights (:func:`graph_weights`) give the weighted loss and metrics.
        """
        out, y, custom, w = self._predict(data, with_loss=self.custom_loss)
        if self.config.task == "classification":
            if custom is not None:
                loss = custom
            elif w is None:
                loss = float(nn.functional.cross_entropy(out, y.view(-1).long()))
            else:
                loss = float((nn.functional.cross_entropy(out, y.view(-1).long(), reduction="none") * w).mean())
            labels = y.view(-1)
            present = torch.unique(labels)
            if (out.dim() == 1 or out.size(1) == 2) and present.numel() < 2:
                what = "validation" if prefix == "val_" else prefix.rstrip("_") or "evaluation"
                raise InputShapeError(
                    f"the {what} data ({labels.numel()} graphs) hold only class {present.tolist()}: the AUC and "
                    "1/eps_B need both classes; give more jets (or a larger validation fraction of --split)")
            metrics = classification_report(out, labels, signal=self.config.signal_class, sample_weight=w)
        else:
            err = out.view(-1) - y.view(-1).float()
            if w is None:
                loss = custom if custom is not None else float(nn.functional.mse_loss(out.view(-1), y.view(-1).float()))
                metrics = {"mae": float(err.abs().mean())}
            else:
                loss = custom if custom is not None else float((err ** 2 * w).mean())
                metrics = {"mae": float((err.abs() * w).sum() / w.sum())}
        return {f"{prefix}loss": loss, **{f"{prefix}{k}": v for k, v in metrics.items()}}

    def fit(self, train_data: BatchSource, val_data: Optional[BatchSource] = None, resume: bool = True) -> list[dict]:
        """Train for ``config.epochs`` epochs (continuing from the run's last checkpoint if ``resume``).

        On a CPU the epochs run with deterministic algorithms
        (:func:`deterministic_algorithms`): same seed, data, machine, number of CPU threads
        and initial weights give bit-identical weights (a matrix product splits its sums by
        thread, so 1 and 2 threads differ in the last bits and the runs then drift apart; a
        resume under another thread count warns).  ``config.seed`` seeds
        the training itself; the initial weights are drawn when the model is built, so call
        :func:`seed_everything` before building it.

        Returns:
            The history: one dict of losses and metrics per epoch.
        """
        with deterministic_algorithms(self.device.type == "cpu"):
            return self._fit(train_data, val_data, resume)

    def _fit(self, train_data: BatchSource, val_data: Optional[BatchSource], resume: bool) -> list[dict]:
        cfg = self.config
        seed_everything(cfg.seed)
        self.check_shares(train_data)
        self._make_scheduler(train_data)
        if resume:
            self.load_checkpoint()
        while self.epoch < cfg.epochs and not self.stopped_early:
            lr = self.optimizer.param_groups[0]["lr"]  # the rate this epoch starts with
            train_loss = self.train_epoch(train_data)
            record: dict[str, float] = {"epoch": self.epoch + 1, "train_loss": train_loss, "lr": lr}
            if val_data is not None:
                record.update(self.evaluate(val_data))
                if cfg.monitor not in record:
                    raise UsageError(f"monitor {cfg.monitor!r} is not among the recorded values "
                                     f"{sorted(k for k in record if k != 'epoch')}")
            self.epoch += 1
            self.history.append(record)
            value = record.get(cfg.monitor)
            best = False
            if value is not None and math.isfinite(value):
                if self._improved(value):
                    self.best, self.bad_epochs, best = value, 0, True
                else:
                    self.bad_epochs += 1
                    if cfg.patience is not None and self.bad_epochs >= cfg.patience:
                        self.stopped_early = True
            elif val_data is None:
                best = True
            self.save_checkpoint(best=best)
            if cfg.verbose and self.rank == 0:
                print(_epoch_line(record, cfg.epochs), flush=True)
        return self.history


def graph_weights(batch: Any) -> Optional[Tensor]:
    """The per-graph weights of a batch (``batch.weight``, shape ``(num_graphs,)``: Monte Carlo event
    weights, e.g. of :class:`~pgjets.data.event_dataset.StreamedEventDataset` with ``weight=``), or
    ``None`` for a batch without them."""
    w = getattr(batch, "weight", None)
    return w if isinstance(w, Tensor) else None


def _shards_itself(source: Any) -> bool:
    """Whether ``source.batches`` takes ``rank``/``world_size`` (a :class:`~pgjets.data.jet_dataset.JetDataset`)."""
    import inspect

    fn = getattr(source, "batches", None)
    if fn is None:
        return False
    try:
        return "world_size" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _distributed_world() -> tuple[int, int]:
    """``(world_size, rank)`` of an initialised torch.distributed process group, else ``(1, 0)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _barrier(world_size: int) -> None:
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def _epoch_line(record: dict, epochs: int) -> str:
    parts = [f"epoch {int(record['epoch'])}/{epochs}"]
    for key, value in record.items():
        if key == "epoch":
            continue
        parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
    return "  ".join(parts)


def _progress(iterable: Iterable, total: Optional[int], desc: str, enabled: bool) -> Iterable:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    # disable=None: tqdm switches itself off when stderr is not a terminal (CI logs)
    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True, disable=None)


__all__ = ["TrainConfig", "Trainer", "graph_weights", "seed_everything", "deterministic_algorithms", "atomic_torch_save", "atomic_write_text",
           "load_checkpoint_file", "settings_diff", "CHECKPOINT_MAGIC"]
