"""Imports point one way: every import inside ``src/pgjets`` follows the layer table of CONTRIBUTING.md.

The table (section "Layers") names the modules of each layer and the layers it may import; a
module may always import its own layer.  From another layer only public names are taken (no
``from ..ops.knn import _helper``).  Every ``import`` statement counts, also those inside
functions (a lazy import is still a dependency).  The few allowed back edges are listed in the
exceptions table of the same section, each with its reason; an exception that no import uses any
more fails too, so the list can only shrink.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"


class Edge(NamedTuple):
    source: str  # importing module, dotted
    target: str  # imported module, dotted
    where: str  # file:line
    name: str = ""  # the name taken from ``target`` by ``from target import name`` (not a module)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _names(cell: str) -> list[str]:
    """The backticked names of a table cell, or its comma-separated words."""
    quoted = re.findall(r"`([^`]+)`", cell)
    return quoted or [w.strip() for w in cell.split(",") if w.strip()]


def _tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text``: rows of cells, header first, separator row dropped."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.strip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def read_rules(text: str) -> tuple[dict[str, str], dict[str, set[str]], set[tuple[str, str]]]:
    """``(module -> layer, layer -> layers it may import, {(module, target) allowed as exceptions})``
    from the "Layers" section of CONTRIBUTING.md."""
    section = re.search(r"^## Layers\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "CONTRIBUTING.md has no '## Layers' section"
    layer_of: dict[str, str] = {}
    allowed: dict[str, set[str]] = {}
    exceptions: set[tuple[str, str]] = set()
    for table in _tables(section.group(1)):
        header = [h.lower() for h in table[0]]
        if header[:3] == ["layer", "modules", "may import"]:
            for name, modules, may in table[1:]:
                for m in _names(modules):
                    layer_of["pgjets" if m == "pgjets" else f"pgjets.{m}"] = name
                allowed[name] = set(_names(may)) | {name}
        elif header[:2] == ["module", "imports"]:
            for row in table[1:]:
                exceptions.add((f"pgjets.{_names(row[0])[0]}", f"pgjets.{_names(row[1])[0]}"))
    assert layer_of and allowed, "the '## Layers' section has no 'layer | modules | may import' table"
    unknown = {x for may in allowed.values() for x in may} - set(allowed)
    assert not unknown, f"layers named in 'may import' but not defined: {sorted(unknown)}"
    return layer_of, allowed, exceptions


def module_name(path: Path, src: Path = SRC) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool, filename: str,
            is_module=lambda name: True) -> list[Edge]:
    """Every ``pgjets`` module imported by ``source`` (relative imports resolved; ``from pkg import
    name`` is ``pkg.name`` when ``is_module(pkg.name)``, else ``pkg``)."""
    package = module if is_package else module.rpartition(".")[0]
    edges = []
    for node in ast.walk(ast.parse(source, filename)):
        targets: list[tuple[str, str]] = []  # (module, name taken from it or "")
        if isinstance(node, ast.Import):
            targets = [(a.name, "") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            targets = [(f"{base}.{a.name}", "") if is_module(f"{base}.{a.name}") else (base, a.name)
                       for a in node.names]
        edges += [Edge(module, t, f"{filename}:{node.lineno}", name) for t, name in targets
                  if t == "pgjets" or t.startswith("pgjets.")]
    return edges


def _under(name: str, prefix: str) -> bool:
    return name == prefix or (prefix != "pgjets" and name.startswith(prefix + "."))


def layer(name: str, layer_of: dict[str, str]) -> str | None:
    """The layer of a dotted module: that of its longest prefix in the table (the package
    ``pgjets`` itself is only its ``__init__``, not a prefix of everything)."""
    hits = [prefix for prefix in layer_of if _under(name, prefix)]
    return layer_of[max(hits, key=len)] if hits else None


def check(edges: list[Edge], layer_of: dict[str, str], allowed: dict[str, set[str]],
          exceptions: set[tuple[str, str]] = frozenset()) -> tuple[list[str], set[tuple[str, str]]]:
    """``(violations, exceptions used)``: one line per import that points the wrong way or takes
    a private (``_name``) object of another layer."""
    bad, used = [], set()
    for e in edges:
        src, dst = layer(e.source, layer_of), layer(e.target, layer_of)
        if src is None:
            bad.append(f"{e.where}: {e.source} is in no layer of CONTRIBUTING.md")
        elif dst is None:
            bad.append(f"{e.where}: {e.target} (imported by {e.source}) is in no layer of CONTRIBUTING.md")
        elif _private(e.name) and dst != src:
            bad.append(f"{e.where}: {e.source} ({src}) takes the private {e.target}.{e.name} of {dst}; "
                       f"make it public in its home or keep it inside {dst}")
        elif dst not in allowed[src]:
            hit = next(((m, t) for m, t in exceptions if _under(e.source, m) and _under(e.target, t)), None)
            if hit:
                used.add(hit)
            else:
                bad.append(f"{e.where}: {e.source} ({src}) imports {e.target} ({dst}); "
                           f"{src} may import {', '.join(sorted(allowed[src]))}")
    return bad, used


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def package_edges() -> list[Edge]:
    edges = []
    for path in sorted((SRC / "pgjets").rglob("*.py")):
        edges += imports(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py",
                         str(path.relative_to(ROOT)), _is_module)
    return edges


@pytest.fixture(scope="module")
def rules():
    return read_rules(CONTRIBUTING.read_text(encoding="utf-8"))


def test_imports_point_one_way(rules):
    layer_of, allowed, exceptions = rules
    bad, used = check(package_edges(), layer_of, allowed, exceptions)
    assert not bad, "imports against the layer table of CONTRIBUTING.md:\n" + "\n".join(bad)
    stale = exceptions - used
    assert not stale, f"exceptions in CONTRIBUTING.md that no import needs any more (remove them): {sorted(stale)}"


def test_every_module_has_a_layer(rules):
    layer_of = rules[0]
    missing = [module_name(p) for p in sorted((SRC / "pgjets").rglob("*.py"))
               if layer(module_name(p), layer_of) is None]
    assert not missing, f"modules in no layer of CONTRIBUTING.md: {missing}"


# ---------------------------------------------------------------------- the checker itself can fail
FAKE_LAYERS = {"pgjets": "base", "pgjets.errors": "base", "pgjets.ops": "ops", "pgjets.nn": "nn",
               "pgjets.train": "train"}
FAKE_ALLOWED = {"base": {"base"}, "ops": {"base", "ops"}, "nn": {"base", "ops", "nn"},
                "train": {"base", "ops", "nn", "train"}}


def _fake(source: str, module: str = "pgjets.nn.layer", is_package: bool = False) -> list[str]:
    edges = imports(source, module, is_package, "fake.py", is_module=lambda n: n.count(".") == 2)
    return check(edges, FAKE_LAYERS, FAKE_ALLOWED)[0]


def test_checker_accepts_downward_imports():
    assert _fake("from ..ops import knn\nfrom .. import errors\nfrom .other import f\nimport torch") == []


@pytest.mark.parametrize("source", [
    "from ..train.trainer import Trainer",  # relative, from a module
    "import pgjets.train.trainer",  # absolute
    "from pgjets.train import trainer",  # absolute, a submodule by name
    "def f():\n    from ..train import metrics\n    return metrics",  # lazy: still a dependency
])
def test_checker_finds_an_upward_edge(source):
    (line,) = _fake(source)
    assert "pgjets.nn.layer (nn) imports pgjets.train" in line and line.startswith("fake.py:")


def test_checker_resolves_relative_imports_of_packages_and_names_unplaced_modules():
    # In a package __init__, "." is the package itself.
    assert _fake("from .trainer import Trainer", module="pgjets.train", is_package=True) == []
    (line,) = _fake("from ..train import x", module="pgjets.ops", is_package=True)
    assert "pgjets.ops (ops) imports pgjets.train" in line
    (line,) = _fake("from ..nowhere import x")
    assert "pgjets.nowhere" in line and "no layer" in line


def test_checker_rejects_private_names_of_another_layer():
    (line,) = _fake("from ..ops.knn import _block_distances")
    assert "private pgjets.ops.knn._block_distances of ops" in line
    assert _fake("from .edge_conv import _helper\nfrom ..ops.knn import knn_graph") == []  # own layer


def test_exceptions_allow_exactly_their_edge():
    edges = imports("def f():\n    from ..train import jetclr\n", "pgjets.nn.old", False, "old.py",
                    is_module=lambda n: True)
    exc = {("pgjets.nn.old", "pgjets.train.jetclr")}
    assert check(edges, FAKE_LAYERS, FAKE_ALLOWED, exc) == ([], exc)
    bad, used = check(edges, FAKE_LAYERS, FAKE_ALLOWED, {("pgjets.nn.other", "pgjets.train.jetclr")})
    assert len(bad) == 1 and not used


def test_rules_are_read_from_the_markdown_tables():
    text = ("## Layers\n\n| layer | modules | may import |\n| --- | --- | --- |\n"
            "| base | `pgjets`, `errors` | |\n| nn | `nn` | base |\n\n"
            "| module | imports | reason |\n| --- | --- | --- |\n| `nn.old` | `train.x` | compat |\n\n## Next\n")
    layer_of, allowed, exceptions = read_rules(text)
    assert layer_of == {"pgjets": "base", "pgjets.errors": "base", "pgjets.nn": "nn"}
    assert allowed == {"base": {"base"}, "nn": {"base", "nn"}}
    assert exceptions == {("pgjets.nn.old", "pgjets.train.x")}
