"""Overlay geometry of the widget: placement, picking and merged rectangles (no display needed)."""

from __future__ import annotations

import numpy as np

from napari_axons._qt._grid_layer import grid_lines, merge_rectangles, pick_tile
from napari_axons.core.geometry import Placement, TileGrid


def test_placement_and_picking():
    p = Placement((1.0, 1.0), (0.0, 0.0), (3.0, 3.0))
    assert p.world_to_working((-0.49, -0.49)) == (0, 0)  # image pixel 0 -> working pixel 0
    assert p.world_to_working((2.49, 2.49)) == (0, 0)
    assert p.world_to_working((2.51, 2.51)) == (1, 1)
    grid = TileGrid.from_shape(700, 1000, tile_size=512)
    assert pick_tile(grid, 450, 505).index == 3  # in all four tiles: the nearest centre
    assert len(grid_lines(grid)) == 4 + 4  # edges y: 0, 188, 512, 700; x: 0, 488, 512, 1000


def test_merged_rectangles_cover_exactly_the_tiles():
    grid = TileGrid.from_shape(2048, 2048, tile_size=512)  # 4 x 4 tiles
    chosen = [0, 1, 2, 5, 7, 15]
    rects = merge_rectangles(grid[i] for i in chosen)
    assert len(rects) == 4  # row 0: tiles 0-2 merged; row 1: 5 and 7 apart; row 3: 15
    covered = np.zeros((2048, 2048), int)
    for r in rects:
        (y0, x0), (y1, x1) = r.min(axis=0) + 0.5, r.max(axis=0) + 0.5
        covered[int(y0) : int(y1), int(x0) : int(x1)] += 1
    expected = np.zeros_like(covered)
    for i in chosen:
        b = grid[i]
        expected[b.y : b.y1, b.x : b.x1] = 1
    np.testing.assert_array_equal(covered, expected)  # every chosen pixel once, nothing else
    assert merge_rectangles([]) == []
