"""Small input-validation helpers shared by every module.

They raise the typed errors of :mod:`pgjets.errors` with a message that names
the argument and the problem, e.g. ``x must be 2-D (num_nodes, features), got
shape (3,)``.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Optional, Sequence

import torch
from torch import Tensor

from .errors import (
    EmptyGraphError,
    InputShapeError,
    MissingExtraError,
    NonFiniteError,
)


def as_tensor(value: Any, name: str, dtype: Optional[torch.dtype] = None) -> Tensor:
    """Turn ``value`` into a tensor (numpy arrays and lists are accepted)."""
    if isinstance(value, Tensor):
        return value if dtype is None else value.to(dtype)
    try:
        t = torch.as_tensor(value)
    except Exception as exc:  # pragma: no cover - message only
        raise InputShapeError(f"{name} cannot be turned into a tensor: {exc}") from exc
    if dtype is not None:
        t = t.to(dtype)
    elif t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def check_ndim(x: Tensor, ndims: int | Sequence[int], name: str, layout: str = "") -> None:
    """Raise :class:`InputShapeError` unless ``x.dim()`` is one of ``ndims``."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.dim() not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        extra = f" {layout}" if layout else ""
        raise InputShapeError(f"{name} must be {want}{extra}, got shape {tuple(x.shape)}")


def check_size(x: Tensor, dim: int, size: int, name: str) -> None:
    """Raise :class:`InputShapeError` unless ``x.size(dim) == size``."""
    if x.size(dim) != size:
        raise InputShapeError(
            f"{name} must have size {size} in dimension {dim}, got shape {tuple(x.shape)}"
        )


def check_finite(x: Tensor, name: str) -> None:
    """Raise :class:`NonFiniteError` if a floating tensor holds NaN or inf."""
    # One reduction first: the sum of finite numbers is finite unless it overflows, and any NaN
    # or inf makes it non-finite; only then is the exact elementwise test needed.
    if (x.is_floating_point() and x.numel() > 0 and not bool(torch.isfinite(x.sum()))
            and not bool(torch.isfinite(x).all())):
        n_nan = int(torch.isnan(x).sum())
        n_inf = int(torch.isinf(x).sum())
        raise NonFiniteError(f"{name} holds {n_nan} NaN and {n_inf} infinite values")


def check_sorted(batch: Tensor, message: str) -> None:
    """Raise :class:`InputShapeError` with ``message`` unless ``batch`` is sorted ascending."""
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise InputShapeError(message)


def check_nonempty(num_nodes: int, name: str = "graph") -> None:
    """Raise :class:`EmptyGraphError` if ``num_nodes`` is zero."""
    if num_nodes == 0:
        raise EmptyGraphError(f"{name} has no nodes")


def check_positive_int(value: int, name: str) -> int:
    """Return ``value`` as int, raising ``ValueError`` unless it is >= 1."""
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def require(module: str, extra: str, purpose: str = "") -> ModuleType:
    """Import an optional dependency or raise :class:`MissingExtraError`.

    The message tells the user which ``pip install 'pgjets[extra]'`` fixes it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        raise MissingExtraError(
            f"{module!r} is needed{what} but is not installed; "
            f"install it with: pip install 'pgjets[{extra}]'"
        ) from exc


def batch_vector(batch: Optional[Tensor], num_nodes: int, device: torch.device) -> Tensor:
    """``batch`` as a checked long vector of length ``num_nodes`` (zeros = one graph if ``None``)."""
    if batch is None:
        return torch.zeros(num_nodes, dtype=torch.long, device=device)
    check_ndim(batch, 1, "batch", "(num_nodes,)")
    if batch.numel() != num_nodes:
        raise InputShapeError(f"batch has {batch.numel()} entries but x has {num_nodes} nodes")
    return batch.to(torch.long)


def check_setting_int(value: Any, name: str, minimum: int = 1, optional: bool = False) -> Optional[int]:
    """Return ``value`` if it is an integer >= ``minimum`` (or ``None`` when ``optional``).

    Raises :class:`~pgjets.errors.UsageError` (a bad argument or run setting, CLI exit 2)
    naming ``name`` (e.g. ``--epochs``) otherwise.
    """
    from .errors import UsageError

    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_no_repeats(values: Sequence[Any], name: str) -> None:
    """Raise :class:`~pgjets.errors.UsageError` if ``values`` repeats an item."""
    from .errors import UsageError

    seen: set = set()
    twice = [v for v in values if v in seen or seen.add(v)]
    if twice:
        raise UsageError(f"{name} is given more than once: {twice[0]!r} (each may appear once)")


def check_out_folder(path: Any, name: str = "--out") -> None:
    """Raise :class:`~pgjets.errors.UsageError` if ``path`` exists but is not a folder."""
    from pathlib import Path

    from .errors import UsageError

    if Path(path).exists() and not Path(path).is_dir():
        raise UsageError(f"{name} {path} is a file; give a folder (it is created if missing)")
