r"""The one azimuth wrap of pgjets, :math:`\phi \mapsto (-\pi, \pi]`.

:func:`pgjets.transforms.wrap_phi` (tensors, the jet operations) and the event builders of
:mod:`pgjets.graphs.event` (NumPy arrays, the ``pt``/``phi`` layouts and ``vector`` records) both
wrap with it; it lives here, below both layers, so that each may import it.
"""

from __future__ import annotations

import math
from typing import TypeVar, Union

import numpy as np
import torch
from torch import Tensor

_Array = TypeVar("_Array", bound=Union[Tensor, np.ndarray])


def wrap_phi(phi: _Array) -> _Array:
    r"""Wrap angles to :math:`(-\pi, \pi]`; values already in range are returned unchanged.

    .. math::
        \phi \mapsto \pi - \big((\pi - \phi) \bmod 2\pi\big)

    A tensor is wrapped with torch (plain element-wise operations, traceable), a NumPy array with
    NumPy, in the input's dtype: :math:`\pi` maps to itself, :math:`-\pi` to :math:`\pi`.

    Args:
        phi: Angles in radians, a tensor or a NumPy array.

    Shapes:
        - **input / output:** any shape
    """
    xp = np if isinstance(phi, np.ndarray) else torch
    wrapped = math.pi - xp.remainder(math.pi - phi, 2.0 * math.pi)
    return xp.where((phi > math.pi) | (phi <= -math.pi), wrapped, phi)


__all__ = ["wrap_phi"]
