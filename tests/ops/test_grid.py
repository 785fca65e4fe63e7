from __future__ import annotations

import pytest

from pgjets.ops import GRID_OFFSETS, grid_offsets
from pgjets.ops.grid import check_connectivity


def test_grid_offsets_radius():
    assert len(grid_offsets(8, 2)) == 24 and len(grid_offsets(4, 2)) == 12
    assert grid_offsets(8, 1) == grid_offsets(8) and len(grid_offsets(4, 1)) == 4
    with pytest.raises(ValueError):
        grid_offsets(8, 0)


def test_radius1_offsets_are_the_table_and_exclude_the_centre():
    for conn in (4, 8):
        assert grid_offsets(conn) == GRID_OFFSETS[conn]
        assert (0, 0) not in grid_offsets(conn, 3)
    assert all(abs(r) + abs(c) == 1 for r, c in GRID_OFFSETS[4])


@pytest.mark.parametrize("bad", [True, 6, 0, "8"])
def test_bad_connectivity(bad):
    with pytest.raises(ValueError, match="connectivity must be 4 or 8"):
        check_connectivity(bad)


def test_graph_builder_and_pool_share_the_offsets():
    from pgjets.graphs import grid_offsets as graphs_offsets

    assert graphs_offsets is grid_offsets
