r"""Pairwise Lorentz-invariant-ish interaction features of the Particle Transformer.

For two particles :math:`a, b` with transverse momenta :math:`p_{T}`, rapidities
:math:`y` and azimuths :math:`\phi` (Qu, Li, Qian 2022, eq. 3):

.. math::
    \Delta &= \sqrt{(y_a - y_b)^2 + (\phi_a - \phi_b)^2}, \\
    k_T &= \min(p_{T,a}, p_{T,b})\,\Delta, \\
    z &= \min(p_{T,a}, p_{T,b}) / (p_{T,a} + p_{T,b}), \\
    m^2 &= (E_a + E_b)^2 - \lVert \vec p_a + \vec p_b \rVert^2,

and the network sees :math:`(\ln\Delta, \ln k_T, \ln z, \ln m^2)`, each
logarithm taken of the value clamped from below by ``eps`` so that padding
and soft particles give finite numbers.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from .._checks import debug_check_finite, check_ndim, check_size

#: Number of pair features per pair: (ln Delta, ln kT, ln z, ln m^2).
NUM_PAIR_FEATURES = 4


def _kinematics(p4: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    E, px, py, pz = p4.unbind(-1)
    pt = torch.sqrt(px * px + py * py)
    # rapidity, guarded against E <= |pz| from rounding by a floor relative to E (an absolute floor
    # changed the rapidity of real particles softer than it: E - pz < 1e-8 in input units)
    floor = (E.abs() * 1e-12).clamp_min(torch.finfo(p4.dtype).tiny)
    rap = 0.5 * torch.log(torch.maximum(E + pz, floor) / torch.maximum(E - pz, floor))
    phi = torch.atan2(py, px)
    return pt, rap, phi


def _pair_features(p4_a: Tensor, p4_b: Tensor, eps: float) -> Tensor:
    pt_a, y_a, phi_a = _kinematics(p4_a)
    pt_b, y_b, phi_b = _kinematics(p4_b)
    dphi = torch.remainder(phi_a - phi_b + math.pi, 2 * math.pi) - math.pi
    delta = torch.sqrt((y_a - y_b) ** 2 + dphi**2)
    ptmin = torch.minimum(pt_a, pt_b)
    kt = ptmin * delta
    z = ptmin / (pt_a + pt_b).clamp_min(eps)
    s = p4_a + p4_b
    m2 = s[..., 0] ** 2 - (s[..., 1:] ** 2).sum(-1)
    return torch.stack(
        [delta.clamp_min(eps).log(), kt.clamp_min(eps).log(), z.clamp_min(eps).log(), m2.clamp_min(eps).log()],
        dim=-1,
    )


def pairwise_features(p4: Tensor, edge_index: Tensor, eps: float = 1e-8) -> Tensor:
    r"""Pair features for each edge ``(j -> i)`` of a graph.

    Args:
        p4: Four-momenta ``(E, px, py, pz)``, shape ``(N, 4)``.
        edge_index: Edges, shape ``(2, E)``.
        eps: Lower clamp before each logarithm.

    Shapes:
        - **input:** :math:`(N, 4)`, :math:`(2, E)`
        - **output:** :math:`(E, 4)`
    """
    check_ndim(p4, 2, "p4", "(num_nodes, 4)")
    check_size(p4, 1, 4, "p4")
    debug_check_finite(p4, "p4")
    return _pair_features(p4[edge_index[1]], p4[edge_index[0]], eps)


def dense_pairwise_features(p4: Tensor, mask: Optional[Tensor] = None, eps: float = 1e-8) -> Tensor:
    r"""Pair features for all pairs of a padded batch.

    Args:
        p4: Padded four-momenta, shape ``(B, N, 4)``.
        mask: Valid-particle mask ``(B, N)``; pairs with a padded particle get 0.

    Shapes:
        - **input:** :math:`(B, N, 4)`
        - **output:** :math:`(B, N, N, 4)`, entry ``[b, i, j]`` for the pair (i, j)
    """
    check_ndim(p4, 3, "p4", "(batch, num_particles, 4)")
    check_size(p4, 2, 4, "p4")
    out = _pair_features(p4.unsqueeze(2), p4.unsqueeze(1), eps)
    if mask is not None:
        pair = mask.unsqueeze(2) & mask.unsqueeze(1)
        out = out.masked_fill(~pair.unsqueeze(-1), 0.0)
    return out


__all__ = ["pairwise_features", "dense_pairwise_features", "NUM_PAIR_FEATURES"]
