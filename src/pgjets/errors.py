"""Typed errors raised by pgjets.

Every error pgjets raises for bad input derives from :class:`PgjetsError`, and
also from the builtin exception a Python user would expect (``ValueError`` for
bad values and shapes, ``ImportError`` for a missing optional dependency,
``FileNotFoundError`` for a missing file), so ``except ValueError`` keeps
working in user code.
"""

from __future__ import annotations


class PgjetsError(Exception):
    """Base class of every pgjets error."""


class InputShapeError(PgjetsError, ValueError):
    """A tensor or array has the wrong number of dimensions or sizes."""


class InputDtypeError(InputShapeError, TypeError):
    """A tensor has the wrong dtype (e.g. float64 into a float32 layer, integers as features)."""


class NonFiniteError(PgjetsError, ValueError):
    """An input holds NaN or infinite values."""


class EmptyGraphError(PgjetsError, ValueError):
    """A graph (or a batch) has no nodes where at least one is needed."""


class GraphSizeError(PgjetsError, ValueError):
    """A graph is too small for the requested operation (e.g. ``k`` > nodes)."""


class MissingExtraError(PgjetsError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


class DataFileError(PgjetsError, ValueError):
    """A data file is corrupt, truncated or has the wrong layout."""


class DataFileNotFoundError(PgjetsError, FileNotFoundError):
    """A data file or folder does not exist."""


class ExportCheckError(PgjetsError, RuntimeError):
    """An exported model (ONNX) does not reproduce the PyTorch outputs."""


class UsageError(PgjetsError, ValueError):
    """A bad command-line argument or run setting (the CLI exits with status 2)."""


class SettingsMismatchError(UsageError):
    """A run folder or checkpoint belongs to other settings than the ones given."""


class RunInUseError(UsageError):
    """Another process is writing the run folder (it holds the folder's lock)."""


class DistributedSetupError(UsageError, RuntimeError):
    """``--ddp`` (or another process-group entry point) without the environment torchrun sets."""


class PathArgumentError(UsageError, DataFileNotFoundError):
    """A path given as an argument (a run folder, a config file) does not exist (exit status 2)."""


class NoDataError(UsageError, DataFileError):
    """A folder given as data holds no file pgjets reads (exit status 2)."""


class DataArgumentError(UsageError, DataFileError):
    """The data lack what an argument asks for: a collection, an object field, a class with events, a
    file given for two classes (exit status 2)."""


class CheckpointError(DataFileError):
    """A checkpoint file is damaged (checksum mismatch, truncated) or not a pgjets checkpoint."""


class DiskFullError(PgjetsError, OSError):
    """No space left on the device a file is written to (what was complete is kept)."""


class PgjetsWarning(UserWarning):
    """Base class of the warnings pgjets issues (the command line prints them as ``pgjets CMD: warning: ...``)."""


class DataOverlapWarning(PgjetsWarning):
    """Held-out or evaluated data hold the same files as the training data (their metrics are biased)."""


__all__ = [
    "PgjetsError",
    "PathArgumentError",
    "NoDataError",
    "DataArgumentError",
    "DistributedSetupError",
    "InputShapeError",
    "NonFiniteError",
    "EmptyGraphError",
    "GraphSizeError",
    "MissingExtraError",
    "DataFileError",
    "DataFileNotFoundError",
    "ExportCheckError",
    "UsageError",
    "SettingsMismatchError",
    "RunInUseError",
    "CheckpointError",
    "DiskFullError",
    "PgjetsWarning",
    "DataOverlapWarning",
]
