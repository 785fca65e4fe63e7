"""An exclusive lock on a run folder, so that two processes never write one run.

The lock is an advisory ``flock`` on the folder itself (no lock file is left
behind): the operating system releases it when the holder exits, however it
exits (``SIGKILL`` included), so a crashed run never blocks the next one.
Where ``fcntl`` is missing (Windows) the lock is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union

from .errors import RunInUseError


@contextlib.contextmanager
def folder_lock(path: Union[str, os.PathLike], what: str = "training") -> Iterator[Path]:
    """Hold an exclusive lock on the folder ``path`` (created if missing) for the ``with`` block.

    The folders this call created are removed again if they are still empty
    when the block ends (a refused argument leaves nothing behind).

    Raises:
        RunInUseError: Another process holds the lock on ``path``.
    """
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]  # innermost first
    path.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        fcntl = None
    fd = os.open(path, os.O_RDONLY)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunInUseError(f"another process is {what} in {path} (it holds the folder's lock): "
                                    "wait for it to finish, or choose another --out") from None
        try:
            yield path
        finally:
            for folder in created:
                try:
                    folder.rmdir()  # only if still empty
                except OSError:
                    break
    finally:
        os.close(fd)  # releases the lock
