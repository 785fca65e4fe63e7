"""Every Python file of the repository compiles without warnings.

An invalid escape such as ``"\\l"`` in a docstring is only a ``SyntaxWarning`` (a
``DeprecationWarning`` before Python 3.12), printed once when the module is first compiled
and then hidden by the bytecode cache; it becomes an error in a later Python.  Compiling
the sources here, with warnings turned into errors, catches it at once.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p for folder in ("src", "tests", "benchmarks", "examples", "docs")
    for p in (ROOT / folder).rglob("*.py")
    if "_build" not in p.parts and ".cache" not in p.parts
)


def test_the_sources_are_found():
    assert any(p.name == "knn.py" for p in SOURCES) and len(SOURCES) > 100


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_compiles_without_warnings(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_control_characters(path: Path):
    """A ``\\t`` or ``\\b`` written unescaped into a docstring's math becomes a tab or backspace."""
    text = path.read_text(encoding="utf-8")
    bad = [(n, line) for n, line in enumerate(text.splitlines(), 1)
           if any(ord(c) < 32 and c not in "\r" for c in line)]
    assert not bad, f"control characters in {path.name}, line {bad[0][0]}: {bad[0][1]!r}"


def test_an_invalid_escape_fails_here():
    with warnings.catch_warnings(), pytest.raises((SyntaxError, SyntaxWarning, DeprecationWarning)):
        warnings.simplefilter("error")
        compile('def f():\n    """a \\l b"""\n', "<doc>", "exec")
