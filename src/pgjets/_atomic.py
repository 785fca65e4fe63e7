"""Atomic file output: write to a hidden temporary name, then rename.

A reader (or a resumed run) therefore sees either the previous file or the
complete new one, never a half-written file; on any error the temporary file
is removed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union


def temporary_name(path: Path) -> Path:
    """The hidden temporary sibling ``.NAME.tmp-PID`` of ``path``."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_output(path: Union[str, Path]) -> Iterator[Path]:
    """Yield a temporary path to write to; it replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
