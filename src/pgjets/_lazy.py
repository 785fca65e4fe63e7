"""Lazy attribute access for subpackages (PEP 562).

``pgjets.nn.GridConv`` imports ``pgjets.nn.grid_conv`` on first access, so
importing a subpackage stays cheap and optional dependencies (h5py, awkward,
RDKit) are only imported by the code that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, table: dict[str, list[str]]) -> tuple[Callable[[str], Any], list[str]]:
    """Return a module ``__getattr__`` and ``__all__`` for ``{module: [names]}``."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{where[name]}")
        return getattr(module, name)

    return __getattr__, sorted(where)
