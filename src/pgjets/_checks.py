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
    InputDtypeError,
    InputShapeError,
    MissingExtraError,
    NonFiniteError,
)


#: Per-layer validation inside ``forward`` (value checks that sync with the device); off by default.
_DEBUG = False


def set_debug(enabled: bool = True) -> None:
    """Turn the per-layer input checks on or off (``pgjets.set_debug``).

    Off (the default), layers check only shapes and types, which cost no host-device
    synchronisation: value checks (NaN/inf, index ranges, sortedness) run once at the
    boundaries -- graph builders, datasets, :func:`pgjets.nn.knn_graph`, the Trainer's
    loss check.  On, every layer also checks the values it receives,
    which names the first layer that sees a NaN, at the price of a sync per check (and
    graph breaks under ``torch.compile``).
    """
    global _DEBUG
    _DEBUG = bool(enabled)


def is_debug() -> bool:
    """Whether :func:`set_debug` turned the per-layer checks on."""
    return _DEBUG


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


def as_float_tensor(value: Any, name: str) -> Tensor:
    """:func:`as_tensor` in ``torch.get_default_dtype()`` (integers, bools and other float
    widths cast): the dtype policy of the graph builders (CONTRIBUTING.md, "Input dtypes")."""
    t = as_tensor(value, name)
    if t.is_complex():
        raise InputDtypeError(f"{name} must be real, got {t.dtype}")
    return t if t.dtype == torch.get_default_dtype() else t.to(torch.get_default_dtype())


def check_ndim(x: Tensor, ndims: int | Sequence[int], name: str, layout: str = "") -> None:
    """Raise :class:`InputShapeError` unless ``x.dim()`` is one of ``ndims``."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.dim() not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        extra = f" {layout}" if layout else ""
        raise InputShapeError(f"{name} must be {want}{extra}, got shape {tuple(x.shape)}")


def check_input_dtype(x: Tensor, module: torch.nn.Module, name: str = "x") -> None:
    """The input dtype policy of every layer (CONTRIBUTING.md, "Input dtypes").

    Layers compute in the dtype of their parameters and never cast: a non-floating input, or
    a floating one of another dtype than the parameters (outside autocast), raises
    :class:`InputDtypeError`.  The boundaries (graph builders, datasets) cast to
    ``torch.get_default_dtype()``.  Metadata only: no host-device synchronisation.
    """
    if not x.is_floating_point():
        raise InputDtypeError(f"{name} must be a floating-point tensor, got {x.dtype} "
                              f"({type(module).__name__}); cast it, e.g. {name}.float()")
    param = next(module.parameters(), None)
    if param is not None and x.dtype != param.dtype and not torch.is_autocast_enabled(x.device.type):
        raise InputDtypeError(f"{name} is {x.dtype} but {type(module).__name__} computes in {param.dtype}: "
                              f"cast the input ({name}.to({param.dtype})) or the model (model.to({x.dtype}))")


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


def debug_check_finite(x: Tensor, name: str) -> None:
    """:func:`check_finite` inside a layer's ``forward``: only in debug mode (:func:`set_debug`)."""
    if _DEBUG:
        check_finite(x, name)


def check_sorted(batch: Tensor, message: str) -> None:
    """Raise :class:`InputShapeError` with ``message`` unless ``batch`` is sorted ascending."""
    if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise InputShapeError(message)


def check_batch(batch: Tensor, name: str = "batch") -> None:
    """Raise :class:`InputShapeError` unless ``batch`` holds graph ids >= 0 in ascending order."""
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise InputShapeError(f"{name} must hold integer graph ids, got dtype {batch.dtype}")
    if batch.numel() and int(batch.min()) < 0:
        raise InputShapeError(f"{name} holds negative graph ids (smallest {int(batch.min())}); graph ids start at 0")
    check_sorted(batch, f"{name} must be sorted in ascending order (as PyG batches are)")


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

    The message tells the user which ``pip install 'pgjets[extra]'`` fixes it.  A module that is
    installed but fails to import (a dependency of it missing or built against another numpy) is
    reported with the cause instead: reinstalling the extra would not help.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        missing = getattr(exc, "name", None)
        if isinstance(exc, ModuleNotFoundError) and missing is not None:
            if module == missing or module.startswith(missing + "."):
                raise MissingExtraError(f"{module!r} is needed{what} but is not installed; "
                                        f"install it with: pip install 'pgjets[{extra}]'") from exc
            raise MissingExtraError(f"{module!r} is needed{what}; it is installed but needs {missing!r}, which "
                                    f"is not: pip install 'pgjets[{extra}]' (or {missing})") from exc
        raise MissingExtraError(
            f"{module!r} is needed{what}; it is installed but fails to import: {type(exc).__name__}: {exc} "
            "(a broken or incompatible install: check the versions of it and of numpy, pyarrow)"
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


def user_path(text: str) -> "Path":
    """A path argument as the shell would have expanded it: ``~`` and ``~user`` are the home folder
    (a quoted ``--out '~/runs/a'`` made a folder named ``~``)."""
    from pathlib import Path

    return Path(text).expanduser()


def check_out_folder(path: Any, name: str = "--out") -> None:
    """Raise :class:`~pgjets.errors.UsageError` if ``path`` exists but is not a folder."""
    from pathlib import Path

    from .errors import UsageError

    if Path(path).exists() and not Path(path).is_dir():
        raise UsageError(f"{name} {path} is a file; give a folder (it is created if missing)")


def warn_deprecated_name(old: str, new: str, note: str = "") -> None:
    """Warn (``DeprecationWarning``) that the public name ``old`` is now ``new``; call it in ``old.__init__``."""
    import warnings

    warnings.warn(f"{old} is deprecated and will be removed in the next release: use {new} (same arguments){note}",
                  DeprecationWarning, stacklevel=3)
