r"""Neighbour offsets of the grid-graph convention (images, :class:`~pgjets.nn.GridPool`).

A pixel :math:`(r, c)` of a grid graph receives an edge from every pixel at
:math:`(r, c) + \boldsymbol\delta` for the offsets :math:`\boldsymbol\delta` of
its 4- or 8-neighbourhood of radius :math:`\rho`.  The graph builders of
:mod:`pgjets.graphs.image` and the layers of :mod:`pgjets.nn.grid_pool` both use
these tables.
"""

from __future__ import annotations

#: The radius-1 neighbour offsets per connectivity (4 or 8), row-major.
GRID_OFFSETS = {
    4: ((-1, 0), (0, -1), (0, 1), (1, 0)),
    8: ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}


def check_connectivity(connectivity: int) -> int:
    """Return ``connectivity`` (4 or 8) as an ``int``; anything else raises ``ValueError``."""
    if isinstance(connectivity, bool) or connectivity not in GRID_OFFSETS:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    return int(connectivity)


def check_radius(radius: int) -> int:
    """Return ``radius`` (an integer >= 1); anything else raises ``ValueError``."""
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
    return radius


def grid_offsets(connectivity: int = 8, radius: int = 1) -> tuple[tuple[int, int], ...]:
    r"""Neighbour offsets :math:`(\delta_r, \delta_c) \ne (0, 0)` of a grid graph, row-major.

    .. math::
        \{\boldsymbol\delta : 0 < \lVert\boldsymbol\delta\rVert_\infty \le \rho\}\ (8),\qquad
        \{\boldsymbol\delta : 0 < \lVert\boldsymbol\delta\rVert_1 \le \rho\}\ (4)

    Args:
        connectivity: 4 or 8 (the shape of the neighbourhood).
        radius: :math:`\rho`; 1 gives the classic 4 / 8 neighbours.

    Shapes:
        - **output:** :math:`O` pairs (:math:`(2\rho+1)^2 - 1` for 8)
    """
    connectivity = check_connectivity(connectivity)
    radius = check_radius(radius)
    if radius == 1:
        return GRID_OFFSETS[connectivity]
    rng = range(-radius, radius + 1)
    if connectivity == 8:
        return tuple((r, c) for r in rng for c in rng if (r, c) != (0, 0))
    return tuple((r, c) for r in rng for c in rng if (r, c) != (0, 0) and abs(r) + abs(c) <= radius)


__all__ = ["GRID_OFFSETS", "grid_offsets", "check_connectivity", "check_radius"]
