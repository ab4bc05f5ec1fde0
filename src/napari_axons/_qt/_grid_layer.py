"""Overlay geometry for the tile grid, and where the working image sits in the world.

Pure numpy: no Qt, no napari (:func:`click_callback` only reads napari's mouse
events). The widget turns these into napari layers:

* the grid as *lines* (one per distinct tile edge, spanning the image): the seed's
  tiles are the Cartesian product of the row and column positions, so a few hundred
  lines draw a 6,000-tile grid that would cost seconds as rectangles
  (ENVIRONMENT.md item 12);
* tile indices as text on invisible points, skipped above :data:`MAX_TEXT_TILES`;
* selection and status as rectangles of the few tiles concerned, in small layers.

Every overlay and mask layer uses :class:`Placement`'s ``scale`` and ``translate``,
so its data coordinates are working-image pixels (the rule is in
:mod:`napari_axons.core.coords`).
"""

from __future__ import annotations

import numpy as np

from ..core.coords import Placement
from ..core.grid import TileBox, TileGrid

__all__ = ["click_callback", "Placement", "grid_lines", "tile_label_points", "merge_rectangles", "pick_tile",
           "bounding_box", "MAX_TEXT_TILES", "STATUS_COLOURS", "STATUSES"]

#: Above this many tiles the per-tile index text is not drawn.
MAX_TEXT_TILES = 2500

STATUSES = ("not segmented", "segmented", "edited", "exported")
#: Edge colour of a tile per status (the grid itself is drawn in GRID_COLOUR).
STATUS_COLOURS = {
    "segmented": "#ffffff",
    "edited": "#ff8800",
    "exported": "#3399ff",
}
GRID_COLOUR = "#00e5ff"
SELECTION_COLOUR = "#ffee00"


def _edges(tiles: list[TileBox]) -> tuple[list[int], list[int]]:
    ys = sorted({t.y for t in tiles} | {t.y1 for t in tiles})
    xs = sorted({t.x for t in tiles} | {t.x1 for t in tiles})
    return ys, xs


def grid_lines(grid: TileGrid) -> list[np.ndarray]:
    """Line segments ``[[y0, x0], [y1, x1]]`` drawing every tile edge.

    In working data coordinates (pixel edges at ``k - 0.5``). Each line spans the
    grid's extent, which is exact because the tiles are the product of the row
    and column positions.
    """
    ys, xs = _edges(list(grid.tiles))
    top, bottom, left, right = ys[0] - 0.5, ys[-1] - 0.5, xs[0] - 0.5, xs[-1] - 0.5
    lines = [np.array([[y - 0.5, left], [y - 0.5, right]]) for y in ys]
    lines += [np.array([[top, x - 0.5], [bottom, x - 0.5]]) for x in xs]
    return lines


def merge_rectangles(boxes) -> list[np.ndarray]:
    """Rectangles covering the tiles, tiles on the same rows merged where they touch.

    So that "select all" on a 6,000-tile slide is a few dozen shapes, not 6,000.
    Corner arrays in working data coordinates (pixel edges at ``k - 0.5``).

    Examples
    --------
    >>> g = TileGrid.from_shape(1024, 1536, tile_size=512)
    >>> [r[[0, 2]].tolist() for r in merge_rectangles([g[0], g[1], g[5]])]
    [[[-0.5, -0.5], [511.5, 1023.5]], [[511.5, 1023.5], [1023.5, 1535.5]]]
    """
    rows: dict[tuple[int, int], list[TileBox]] = {}
    for b in boxes:
        rows.setdefault((b.y, b.y1), []).append(b)
    out = []
    for (y0, y1), row in sorted(rows.items()):
        row.sort(key=lambda b: b.x)
        x0, x1 = row[0].x, row[0].x1
        for b in row[1:]:
            if b.x <= x1:
                x1 = max(x1, b.x1)
            else:
                out.append((y0, x0, y1, x1))
                x0, x1 = b.x, b.x1
        out.append((y0, x0, y1, x1))
    return [np.array([[a - 0.5, b - 0.5], [a - 0.5, d - 0.5], [c - 0.5, d - 0.5], [c - 0.5, b - 0.5]])
            for a, b, c, d in out]


def tile_label_points(grid: TileGrid) -> tuple[np.ndarray, list[str]]:
    """Positions (just inside each tile's top-left corner) and texts of the tile indices."""
    pts = np.empty((len(grid), 2), float)
    inset = max(grid.tile_size * 0.08, 2.0)
    for i, t in enumerate(grid.tiles):
        pts[i] = (t.y + inset, t.x + inset)
    return pts, [str(t.index) for t in grid.tiles]


def pick_tile(grid: TileGrid, y: int, x: int) -> TileBox | None:
    """The tile under working pixel ``(y, x)``; with overlaps, the one whose centre is nearest.

    Examples
    --------
    >>> g = TileGrid.from_shape(700, 1000, tile_size=512)
    >>> pick_tile(g, 600, 990).index, pick_tile(g, 10, 10).index
    (3, 0)
    >>> pick_tile(g, 700, 10) is None
    True
    """
    hits = grid.tiles_at(y, x)
    if not hits:
        return None
    return min(hits, key=lambda t: ((t.y + t.y1) / 2 - y) ** 2 + ((t.x + t.x1) / 2 - x) ** 2)


def bounding_box(boxes) -> tuple[int, int, int, int]:
    """``(y0, x0, y1, x1)`` around tiles (working pixels)."""
    boxes = list(boxes)
    return (min(b.y for b in boxes), min(b.x for b in boxes),
            max(b.y1 for b in boxes), max(b.x1 for b in boxes))


def click_callback(on_click):
    """A napari mouse-drag callback that calls ``on_click(world position)`` on a left click.

    A drag (the cursor moving more than 4 canvas pixels) pans as usual and calls nothing.
    """

    def callback(layer, event):
        if getattr(event, "button", 1) not in (1, None):
            return
        start_world = tuple(event.position)
        start_canvas = np.asarray(getattr(event, "pos", (0, 0)), float)
        yield
        dragged = False
        while event.type == "mouse_move":
            if np.hypot(*(np.asarray(event.pos, float) - start_canvas)) > 4:
                dragged = True
            yield
        if not dragged:
            on_click(start_world)

    return callback
