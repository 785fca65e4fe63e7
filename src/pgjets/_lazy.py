"""Lazy attribute access for subpackages (PEP 562).

``pgjets.nn.GridConv`` imports ``pgjets.nn.grid_conv`` on first access, so
importing a subpackage stays cheap and optional dependencies (h5py, awkward,
RDKit) are only imported by the code that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, table: dict[str, list[str]]) -> tuple[Callable[[str], Any], list[str]]:
    """Return a module ``__getattr__`` and ``__all__`` for ``{module: [names]}``.

    A name exported by a submodule of the same name (``pgjets.data.jet_image``
    the function, from ``pgjets.data.jet_image`` the module) is bound eagerly:
    importing a submodule sets it as an attribute of the package, which would
    otherwise hide the exported object from ``from package import name``.
    """
    import sys

    where = {name: module for module, names in table.items() for name in names}
    for name, module in where.items():
        if name == module:
            setattr(sys.modules[package], name, getattr(importlib.import_module(f"{package}.{module}"), name))

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{where[name]}")
        return getattr(module, name)

    return __getattr__, sorted(where)
