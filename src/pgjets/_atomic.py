"""Atomic file output: write to a hidden temporary name, then rename.

A reader (or a resumed run) therefore sees either the previous file or the
complete new one, never a half-written file; on any error the temporary file
is removed.  A full disk (``ENOSPC``, ``EDQUOT``) is reported as
:class:`~pgjets.errors.DiskFullError` naming the folder; the previous file
stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator, Union

from .errors import DiskFullError

#: ``errno`` values that mean "the device is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def temporary_name(path: Path) -> Path:
    """The hidden temporary sibling ``.NAME.tmp-PID`` of ``path``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc`` is an ``OSError`` saying that the device is full."""
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def disk_full_error(path: Union[str, Path], exc: BaseException) -> DiskFullError:
    """The :class:`DiskFullError` for a failed write of ``path``."""
    path = Path(path)
    return DiskFullError(f"no space left on {path.parent} (writing {path.name}); "
                         "files completed before were kept")


@contextlib.contextmanager
def atomic_output(path: Union[str, Path]) -> Iterator[Path]:
    """Yield a temporary path to write to; it replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp.exists():
            tmp.unlink()
        if is_disk_full(exc):
            raise disk_full_error(path, exc) from exc
        raise


def atomic_write_bytes(path: Union[str, Path], data: Union[bytes, bytearray, memoryview]) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    path = Path(path)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return path
