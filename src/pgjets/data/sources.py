r"""Jet data sources of the command line: folders, files, globs, several of each.

``pgjets train --data`` (and ``--val``, ``--test``, ``pgjets evaluate --data``)
take one or more *specs*; :func:`resolve_sources` turns them into an ordered
list of :class:`Source` (a path and its format, told from the content by
:func:`~pgjets.data.readers.detect_format`):

- a generated folder (``manifest.json``): one source, its chunk files in
  manifest order;
- a folder of data files (no manifest): every file in it with a
  :data:`~pgjets.data.readers.DATA_SUFFIXES` suffix, sorted by name;
- a single file of any supported format;
- a glob such as ``'JetClass/train_*.root'`` (quoted, so that pgjets and not
  the shell expands it; sorted by name).

Every source of one dataset must describe the same classes
(:func:`check_compatible`); the streaming itself is done by
:class:`~pgjets.data.jet_dataset.JetDataset`.
"""

from __future__ import annotations

import glob as _glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from ..errors import DataFileError, DataFileNotFoundError, NoDataError

PathLike = Union[str, os.PathLike]
Spec = Union[PathLike, Sequence[PathLike]]

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Source:
    """One input of a dataset.

    Args:
        path (Path): A file, or a generated folder.
        format (str): One of :data:`~pgjets.data.readers.FORMATS`.
    """

    path: Path
    format: str

    def files(self) -> list[tuple[Path, str]]:
        """``(file, format)`` of every file this source streams (chunk files of a generated folder)."""
        if self.format == "generated":
            from .jet_io import dataset_files

            return [(f, "jetfile") for f in dataset_files(self.path)]
        return [(self.path, self.format)]


def _as_list(spec: Spec) -> list[PathLike]:
    if isinstance(spec, (str, os.PathLike)):
        return [spec]
    return list(spec)


def expand_spec(item: PathLike, what: str = "data") -> list[Path]:
    """The paths of one spec: the path itself if it exists, else the matches of a glob (sorted).

    Raises:
        DataFileNotFoundError: No such path, or a glob that matches nothing (``what`` names the data).
    """
    text = os.fspath(item)
    path = Path(text).expanduser()
    if path.exists():
        return [path]
    if _GLOB_CHARS & set(text):
        hits = sorted(Path(p) for p in _glob.glob(os.path.expanduser(text), recursive=True))
        if not hits:
            raise DataFileNotFoundError(f"no file matches the pattern {text!r}")
        return hits
    raise DataFileNotFoundError(f"{what} path {path} does not exist")


#: ``CLASS=PATH``: a class name (any characters but ``=``, ``/`` and ``\``, e.g. ``ttH(bb)``, ``Z->ll``)
#: and a path.
_CLASS_SPEC = re.compile(r"^([^=/\\]*[^=/\\\s][^=/\\]*)=(.+)$", re.S)


def split_class_spec(spec: PathLike) -> tuple[Optional[str], str]:
    """``("ttbar", "tt.root")`` for the spec ``"ttbar=tt.root"``; ``(None, spec)`` for a plain path.

    A spec that exists as a path is a path, even with an ``=`` in its name.  The class name is
    stripped of surrounding blanks.
    """
    text = os.fspath(spec)
    match = _CLASS_SPEC.match(text)
    if match is None or Path(text).expanduser().exists():
        return None, text
    return match.group(1).strip(), match.group(2)


def class_specs(specs: Sequence[PathLike], flag: str = "--data") -> Optional[dict[str, list[str]]]:
    """``{class: [paths]}`` when every spec is ``CLASS=PATH`` (order of first appearance; a class may
    be repeated), ``None`` when none is.

    Raises:
        UsageError: Some specs have a class and others not.
    """
    from ..errors import UsageError

    parts = [split_class_spec(s) for s in specs]
    named = [c is not None for c, _ in parts]
    if not any(named):
        return None
    if not all(named):
        plain = next(p for c, p in parts if c is None)
        raise UsageError(f"{flag}: give every path a class (CLASS=PATH) or none; {plain!r} has none")
    out: dict[str, list[str]] = {}
    for c, p in parts:
        out.setdefault(c, []).append(p)
    return out


def folder_data_files(folder: Path) -> list[Path]:
    """The files of a folder without manifest that pgjets reads: those with a
    :data:`~pgjets.data.readers.DATA_SUFFIXES` suffix, sorted by name."""
    from .readers import DATA_SUFFIXES

    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def resolve_sources(spec: Spec) -> list[Source]:
    """The :class:`Source` list of one or several folders, files or globs (see the module docstring).

    Args:
        spec (path, str or sequence of them): What ``--data`` was given.

    Raises:
        DataFileNotFoundError: A path does not exist or a glob matches nothing.
        DataFileError: A file is in no supported format, or a folder holds no data file.
    """
    from .readers import DATA_SUFFIXES, detect_format

    items = _as_list(spec)
    if not items:
        raise DataFileNotFoundError("no jet data path given")
    out: list[Source] = []
    for item in items:
        for path in expand_spec(item):
            if path.is_dir() and not (path / "manifest.json").exists():
                files = folder_data_files(path)
                if not files:
                    raise NoDataError(f"{path} is a folder with neither manifest.json nor data files "
                                        f"({', '.join(DATA_SUFFIXES)})")
                found = [Source(f, detect_format(f)) for f in files]
                if any(s.format == "jetfile" for s in found):
                    raise DataFileError(f"{path} holds pgjets jet files but no manifest.json: the generated "
                                        "dataset is incomplete (re-run pgjets generate to finish it, or give its "
                                        f"files as a glob, '{path}/*.h5', to read them as they are)")
                out.extend(found)
            else:
                out.append(Source(path, detect_format(path)))
    seen = set()
    unique = []
    for s in out:
        key = s.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return unique


def check_compatible(sources: Iterable[Source]) -> None:
    """Refuse a mix of jet images with constituent data (one representation per dataset)."""
    kinds = {s.path: s.format for s in sources}
    images = [p for p, f in kinds.items() if f == "images"]
    if images and len(images) != len(kinds):
        other = next(p for p, f in kinds.items() if f != "images")
        raise DataFileError(f"cannot mix jet images ({images[0]}) with constituent data ({other}) in one dataset")


def describe(sources: Sequence[Source]) -> str:
    """A short human description: ``'3 jetclass files (JetClass/HToBB_000.root, ...)'``."""
    if not sources:
        return "no data"
    fmts = sorted({s.format for s in sources})
    first = str(sources[0].path)
    if len(sources) == 1:
        return f"{first} ({fmts[0]})"
    return f"{len(sources)} {'/'.join(fmts)} sources ({first}, ...)"


__all__ = ["Source", "resolve_sources", "folder_data_files", "check_compatible", "describe", "expand_spec",
           "split_class_spec", "class_specs"]
