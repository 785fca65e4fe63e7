"""Every Python code block of README.md and docs/ runs as written (issue 13 item 7).

Blocks are taken from Markdown fences (```` ```python ````) and reStructuredText
``.. code-block:: python`` directives.  The blocks of one file run in order in one namespace
(later blocks may use names of earlier ones), in a temporary working directory.  A block is
skipped when it needs a GPU: its first line is ``# requires: cuda``, or (Markdown) the line
before its fence is ``<!-- gpu -->``.  Files whose blocks generate data or compile are ``slow``.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs").glob("*.rst"))]
#: Pages whose blocks generate jets with Pythia or compile a model (seconds to a minute).
SLOW = {"training.rst", "deployment.md"}
GPU_MARK = "# requires: cuda"


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line, source)`` of every runnable Python block of a Markdown or rst page."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if path.suffix == ".md" and line.strip() == "```python":
            gpu = i > 0 and lines[i - 1].strip() == "<!-- gpu -->"
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            blocks.append((i + 1, "\n".join(lines[i + 1:j]), gpu))  # type: ignore[arg-type]
            i = j
        elif path.suffix == ".rst" and re.match(r"\s*\.\. code-block:: python\s*$", line):
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].lstrip().startswith(":")):
                j += 1  # blank lines and directive options
            body = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                body.append(lines[j])
                j += 1
            blocks.append((i + 1, textwrap.dedent("\n".join(body)).strip("\n"), False))  # type: ignore[arg-type]
            i = j - 1
        i += 1
    return [(n, src) for n, src, gpu in blocks  # type: ignore[misc]
            if not gpu and not src.lstrip().startswith(GPU_MARK)]


def test_the_extractor_finds_markdown_and_rst_blocks_and_skips_gpu_ones(tmp_path):
    md = tmp_path / "a.md"
    md.write_text("x\n```python\na = 1\n```\n<!-- gpu -->\n```python\nb = 2\n```\n"
                  "```python\n# requires: cuda\nc = 3\n```\n```bash\nls\n```\n")
    assert python_blocks(md) == [(2, "a = 1")]
    rst = tmp_path / "a.rst"
    rst.write_text("Text\n\n.. code-block:: python\n   :caption: c\n\n   a = 1\n   if a:\n       b = 2\n\nMore\n")
    assert python_blocks(rst) == [(3, "a = 1\nif a:\n    b = 2")]


PAGES_WITH_CODE = [p for p in PAGES if python_blocks(p)]


@pytest.mark.parametrize("page", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else [])
                                  for p in PAGES_WITH_CODE])
def test_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__doc_block__"}
    for line, source in python_blocks(page):
        try:
            exec(compile(source, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"{page.relative_to(ROOT)} block at line {line} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc
