r"""A cheap fingerprint of data files, to notice when a run's data have changed.

:func:`fingerprint` describes a set of files by their names and sizes and a
SHA-256 of the first :data:`HEAD_BYTES` bytes of the first file, plus an
optional jet count given by the caller.  It reads at most :data:`HEAD_BYTES`
bytes however large the sample is, so it can be checked on every
``pgjets evaluate``; it notices replaced, regenerated, truncated, added or
removed files, not an edit that keeps every size and the head of the first file.

``paths`` may be one folder (its regular, non-hidden files, sorted by name), one
file, or a list of files and folders (in the order given, folders expanded).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from ..errors import DataFileNotFoundError

#: Bytes of the first file that go into the hash.
HEAD_BYTES = 1 << 20

PathLike = Union[str, os.PathLike]


def _expand(paths: Union[PathLike, Sequence[PathLike]]) -> list[Path]:
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            raise DataFileNotFoundError(f"{p} does not exist")
    return files


def fingerprint(paths: Union[PathLike, Sequence[PathLike]], n_jets: Optional[int] = None) -> dict[str, Any]:
    """Fingerprint of the files ``paths`` (a folder, a file or a list of them).

    Args:
        paths: A folder, a file, or a list of files and folders.
        n_jets: Number of jets the files hold (recorded as given; ``None`` = not recorded).

    Returns:
        ``{"files": [{"name", "size"}, ...], "head_sha256": str, "head_bytes": int}``
        plus ``"n_jets"`` when given; YAML/JSON-serialisable.  ``name`` is the
        file name (folders: relative to the folder), so a moved copy of the same
        data has the same fingerprint.

    Raises:
        DataFileNotFoundError: A path does not exist.
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    roots = [Path(p) for p in items]
    files = _expand(paths)
    entries = []
    for f in files:
        root = next((r for r in roots if r.is_dir() and r in f.parents), None)
        entries.append({"name": f.relative_to(root).as_posix() if root is not None else f.name,
                        "size": int(f.stat().st_size)})
    head = hashlib.sha256()
    if files:
        with open(files[0], "rb") as fh:
            head.update(fh.read(HEAD_BYTES))
    out: dict[str, Any] = {"files": entries, "head_sha256": head.hexdigest(), "head_bytes": HEAD_BYTES}
    if n_jets is not None:
        out["n_jets"] = int(n_jets)
    return out


def fingerprint_diff(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match).

    A key missing from ``recorded`` (e.g. ``n_jets``) is not compared.
    """
    out = []
    old = {e["name"]: e["size"] for e in recorded.get("files", [])}
    new = {e["name"]: e["size"] for e in current.get("files", [])}
    gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    if gone:
        out.append(f"missing files {_few(gone)}")
    if added:
        out.append(f"new files {_few(added)}")
    resized = [n for n in old if n in new and old[n] != new[n]]
    if resized:
        out.append(f"other sizes of {_few(resized)}")
    if not out and recorded.get("head_sha256") != current.get("head_sha256"):
        out.append("other contents of the first file")
    if "n_jets" in recorded and "n_jets" in current and recorded["n_jets"] != current["n_jets"]:
        out.append(f"{current['n_jets']} jets instead of {recorded['n_jets']}")
    return out


def _few(names: list[str], k: int = 3) -> str:
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


__all__ = ["fingerprint", "fingerprint_diff", "HEAD_BYTES"]
