r"""A cheap fingerprint of data files, to notice when a run's data have changed.

:func:`fingerprint` describes the *data files* of a set of paths by their names,
sizes and a SHA-256 of a sample of each file's bytes: the whole file up to
:data:`SAMPLE_BLOCKS` :math:`\times` :data:`SAMPLE_BYTES` bytes, otherwise
:data:`SAMPLE_BLOCKS` blocks of :data:`SAMPLE_BYTES` spread evenly from the
first byte to the last.  It reads at most that much of every file however large
the sample is, so it can be checked on every ``pgjets evaluate``; it notices
replaced, regenerated, truncated, added or removed files and any edit of a
small file, not an edit of a large one between the sampled blocks that keeps
its size.

The data files of a path are what pgjets reads from it:

- a folder written by ``pgjets generate`` (it holds ``manifest.json``): the
  chunk files the manifest lists, not the manifest itself (it records the
  generation's wall-clock time, so regenerating byte-identical jets keeps the
  fingerprint);
- another folder: its files with a data suffix
  (:data:`~pgjets.data.readers.DATA_SUFFIXES`), sorted by name, so a README or
  a plot next to the data does not count;
- a file: the file.

``paths`` may be one such path or a list of them (in the order given).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from ..errors import DataFileNotFoundError

#: Bytes in one sampled block.
SAMPLE_BYTES = 1 << 16
#: Blocks sampled per file; a file of at most ``SAMPLE_BLOCKS * SAMPLE_BYTES`` bytes is hashed whole.
SAMPLE_BLOCKS = 8
#: Format of the fingerprints written now (records without ``version`` came from earlier pgjets).
FINGERPRINT_VERSION = 2

PathLike = Union[str, os.PathLike]
_MANIFEST = "manifest.json"


def _folder_files(folder: Path) -> list[Path]:
    """The files pgjets reads from ``folder``: a manifest's chunks, else :func:`~pgjets.data.sources.folder_data_files`."""
    if (folder / _MANIFEST).exists():
        from .jet_io import dataset_files

        return dataset_files(folder)
    from .sources import folder_data_files

    return folder_data_files(folder)


def _expand(paths: Union[PathLike, Sequence[PathLike]]) -> list[tuple[Path, str]]:
    """``(file, name)`` of every data file; ``name`` is relative to its folder, or the file name
    (prefixed by its folder's name where two files share a name)."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[tuple[Path, str]] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            files.extend((f, f.relative_to(p).as_posix()) for f in _folder_files(p))
        elif p.is_file():
            files.append((p, p.name))
        else:
            raise DataFileNotFoundError(f"{p} does not exist")
    names = [n for _, n in files]
    if len(set(names)) < len(names):  # same name in two folders (sig/nano_1.root, bkg/nano_1.root)
        files = [(f, f"{f.parent.name}/{n}" if names.count(n) > 1 else n) for f, n in files]
    return files


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a whole file, read in blocks of 1 MiB."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sample_sha256(path: PathLike, size: Optional[int] = None) -> str:
    """SHA-256 of the sampled bytes of one file (see the module docstring).

    Args:
        path: The file.
        size: Its size in bytes (read from the file system when ``None``).
    """
    size = os.stat(path).st_size if size is None else int(size)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= SAMPLE_BLOCKS * SAMPLE_BYTES:
            digest.update(fh.read())
        else:
            last = size - SAMPLE_BYTES
            for i in range(SAMPLE_BLOCKS):
                fh.seek(last * i // (SAMPLE_BLOCKS - 1))
                digest.update(fh.read(SAMPLE_BYTES))
    return digest.hexdigest()


def fingerprint(paths: Union[PathLike, Sequence[PathLike]], n_jets: Optional[int] = None) -> dict[str, Any]:
    """Fingerprint of the data files of ``paths`` (a folder, a file or a list of them).

    Args:
        paths: A folder, a file, or a list of files and folders.
        n_jets: Number of jets the files hold (recorded as given; ``None`` = not recorded).

    Returns:
        ``{"version": 2, "files": [{"name", "size", "sha256"}, ...]}`` plus
        ``"n_jets"`` when given; YAML/JSON-serialisable.  ``name`` is the file
        name (folders: relative to the folder; ``parent/name`` where two files
        share a name), so a moved copy of the same data has the same fingerprint.

    Raises:
        DataFileNotFoundError: A path does not exist (or a file a manifest lists).
        DataFileError: A generated folder's manifest is unreadable.
    """
    entries = []
    for f, name in _expand(paths):
        size = int(f.stat().st_size)
        entries.append({"name": name, "size": size, "sha256": sample_sha256(f, size)})
    out: dict[str, Any] = {"version": FINGERPRINT_VERSION, "files": entries}
    if n_jets is not None:
        out["n_jets"] = int(n_jets)
    return out


def _legacy_files(recorded: dict[str, Any], current: dict[str, Any]) -> list[dict[str, Any]]:
    """A version-1 record's data files: it listed every file of a folder, manifest and notes included."""
    from .readers import DATA_SUFFIXES

    now = {e["name"] for e in current.get("files", [])}
    return [e for e in recorded.get("files", [])
            if e["name"] in now or Path(e["name"]).suffix.lower() in DATA_SUFFIXES]


def fingerprint_diff(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match).

    A key missing from ``recorded`` (e.g. ``n_jets``) is not compared.  A record
    written before version 2 (no ``version``) is compared by the names and
    sizes of its data files only: it hashed other bytes.
    """
    out = []
    legacy = "version" not in recorded
    old_files = _legacy_files(recorded, current) if legacy else recorded.get("files", [])
    old = {e["name"]: e for e in old_files}
    new = {e["name"]: e for e in current.get("files", [])}
    gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    if gone:
        out.append(f"missing files {_few(gone)}")
    if added:
        out.append(f"new files {_few(added)}")
    both = [n for n in old if n in new]
    resized = [n for n in both if old[n]["size"] != new[n]["size"]]
    if resized:
        out.append(f"other sizes of {_few(resized)}")
    if not legacy:
        edited = [n for n in both if n not in resized and old[n].get("sha256") != new[n].get("sha256")]
        if edited:
            out.append(f"other contents of {_few(edited)}")
    if "n_jets" in recorded and "n_jets" in current and recorded["n_jets"] != current["n_jets"]:
        out.append(f"{current['n_jets']} jets instead of {recorded['n_jets']}")
    return out


def shared_files(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name in a, name in b)`` of the files of fingerprint ``a`` whose size and content hash equal
    those of a file of fingerprint ``b`` (the same data under any name; records without hashes
    share nothing)."""
    index = {(e["size"], e["sha256"]): e["name"] for e in b.get("files", []) if e.get("sha256")}
    return [(e["name"], index[e["size"], e["sha256"]]) for e in a.get("files", [])
            if e.get("sha256") and (e["size"], e["sha256"]) in index]


def _few(names: list[str], k: int = 3) -> str:
    more = f" and {len(names) - k} more" if len(names) > k else ""
    return ", ".join(names[:k]) + more


__all__ = ["fingerprint", "fingerprint_diff", "shared_files", "sample_sha256", "file_sha256", "FINGERPRINT_VERSION", "SAMPLE_BLOCKS",
           "SAMPLE_BYTES"]
