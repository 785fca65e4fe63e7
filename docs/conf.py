"""Sphinx configuration of the pgjets documentation (``make docs``)."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # document this checkout, not an installed copy

# The gallery runs on the CPU with small data; keep it to one thread per process
# and never open a window.
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pgjets  # noqa: E402

project = "pgjets"
author = "pgjets developers"
copyright = "2026, pgjets developers"
release = version = pgjets.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "README.md", "generated/*.txt", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "auto_examples/*.md5",
                    "auto_examples/*.json", "auto_examples/*.pickle"]

# -- MyST ---------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# -- autodoc / napoleon ---------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}
autosummary_generate = False  # the API pages are written below from each package's __all__
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shapes", ("Forward args", "params_style")]
napoleon_use_ivar = True
napoleon_use_rtype = False

# -- math -----------------------------------------------------------------------
# MathJax renders the math in the browser. Offline (CI, a local build opened from disk)
# the CDN copy cannot load, so a local MathJax 2 (Debian: apt-get install libjs-mathjax)
# is used when present; set PGJETS_DOCS_MATHJAX=cdn to publish with the CDN copy.
LOCAL_MATHJAX = Path("/usr/share/javascript/mathjax/MathJax.js")
if LOCAL_MATHJAX.is_file() and os.environ.get("PGJETS_DOCS_MATHJAX", "local") == "local":
    mathjax_path = f"{LOCAL_MATHJAX.as_uri()}?config=TeX-AMS_CHTML"
    mathjax2_config = {"tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                                   "processEscapes": False, "processEnvironments": False}}

# -- HTML -----------------------------------------------------------------------
html_theme = "furo"
html_title = f"pgjets {version}"

# -- sphinx-gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples" / "gallery")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "reset_modules": ("matplotlib", "seaborn"),
    "matplotlib_animations": False,
    "show_memory": False,
    "plot_gallery": "True",
}

# -- API reference: one page per subpackage, every public name ------------------------
PACKAGES = {
    "pgjets.ops": "Kernels",
    "pgjets.graphs": "Graph builders",
    "pgjets.nn": "Layers",
    "pgjets.models": "Models",
    "pgjets.data": "Data",
    "pgjets.train": "Training",
    "pgjets.transforms": "Jet transforms",
    "pgjets.symmetry": "Symmetry checks",
    "pgjets.errors": "Errors",
}


def _directive(obj: object) -> str:
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if callable(obj):
        return "autofunction"
    return "data"


def _data_doc(package: str, name: str, obj: object) -> tuple[str, str]:
    """The defining submodule of a public constant and its ``#:`` comment."""
    from sphinx.pycode import ModuleAnalyzer

    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        sub = importlib.import_module(f"{package}.{info.name}")
        if vars(sub).get(name) is obj:
            docs = ModuleAnalyzer.for_module(sub.__name__).find_attr_docs().get(("", name), [])
            return sub.__name__, " ".join(line.strip() for line in docs).strip()
    return package, ""


def _home(obj: object, package: str) -> str | None:
    """The other documented package whose module defines ``obj`` (a re-export here), or ``None``."""
    module = getattr(obj, "__module__", "") or ""
    return next((p for p in PACKAGES if p != package and (module == p or module.startswith(p + "."))), None)


def _api_page(package: str, title: str) -> str:
    module = importlib.import_module(package)
    names = [n for n in module.__all__ if not n.startswith("__") and n != "errors"]
    objects = {}
    targets = {}  # name -> the dotted path autodoc imports
    for n in names:
        obj = getattr(module, n)
        targets[n] = n
        if hasattr(module, "__path__") and importlib.util.find_spec(f"{package}.{n}") is not None:
            # A submodule of the same name (pgjets.data.jet_image) may shadow the export.
            obj = getattr(importlib.import_module(f"{package}.{n}"), n)
            targets[n] = f"{package}.{n}.{n}"
        objects[n] = obj
    documented = [n for n in names if _directive(objects[n]) != "data"]
    constants = [n for n in names if _directive(objects[n]) == "data"]
    head = f"{package}: {title}"
    lines = [f".. This page is written by docs/conf.py from ``{package}.__all__``; do not edit.", "",
             head, "=" * len(head), "", f".. automodule:: {package}", "   :no-members:", "",
             f".. currentmodule:: {package}", ""]
    if documented:
        lines += [".. autosummary::", "   :nosignatures:", ""] + [f"   {targets[n].removeprefix(package + '.')}" for n in documented] + [""]
    for n in documented:
        directive = _directive(objects[n])
        lines.append(f".. {directive}:: {targets[n]}")
        if directive == "autoclass":
            lines.append("   :members:")
            if _home(objects[n], package) is not None:
                lines.append("   :no-index:")  # a re-export (old import path): indexed on its home's page
        lines.append("")
    if constants:
        lines += ["Constants", "---------", ""]
    for n in constants:
        where, doc = _data_doc(package, n, objects[n]) if hasattr(module, "__path__") else (package, "")
        lines += [f".. py:data:: {n}", f"   :type: {type(objects[n]).__name__}", ""]
        lines += [f"   {doc}" if doc else "   A public constant.", "",
                  f"   Defined in ``{where}``.", ""]
    return "\n".join(lines)


def write_api_pages() -> None:
    out = HERE / "generated"
    out.mkdir(exist_ok=True)
    for package, title in PACKAGES.items():
        text = _api_page(package, title)
        path = out / f"{package}.rst"
        if not path.exists() or path.read_text() != text:  # unchanged pages stay cached
            path.write_text(text)


write_api_pages()
