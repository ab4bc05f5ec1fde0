"""Overlay geometry for the tile grid, and where the working image sits in the world.

Pure numpy: no Qt, no napari (:func:`click_callback` only reads napari's mouse
events). The widget turns these into napari layers:

* the grid as *lines* (one per distinct tile edge, spanning the image): the seed's
  tiles are the Cartesian product of the row and column positions, so a few hundred
  lines draw a 6,000-tile grid that would cost seconds as rectangles
  (ENVIRONMENT.md item 12);
* tile indices as text on invisible points, only for the tiles in view that are
  large enough on screen (:mod:`._grid_lod` redraws them as the camera moves);
* selection and status as rectangles of the few tiles concerned, in small layers.

Every overlay and mask layer uses :class:`Placement`'s ``scale`` and ``translate``,
so its data coordinates are working-image pixels (the rule is in
:mod:`napari_axons.core.geometry`).
"""

from __future__ import annotations

import numpy as np

from ..core.geometry import Placement, TileBox, TileGrid, axis_positions

__all__ = ["click_callback", "Placement", "grid_lines", "tile_label_points", "merge_rectangles", "pick_tile",
           "bounding_box", "MAX_TEXT_TILES", "STATUS_COLOURS", "STATUSES"]

#: Above this many tiles the per-tile index text is not drawn.
MAX_TEXT_TILES = 2500

STATUSES = ("not segmented", "segmented", "edited", "exported")
#: Edge colour of a tile per status (the grid itself is drawn in GRID_COLOUR).
STATUS_COLOURS = {
    "segmented": "#ffffff",
    "edited": "#ff40ff",
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
    hits = grid_index(grid).tiles_in(y, x, y + 1, x + 1)  # by arithmetic, not a scan
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


# -- level of detail: drawing cost flat in the number of tiles ------------------------
__all__ += ["grid_polylines", "edge_polylines", "GridIndex", "grid_index", "label_points",
            "MIN_LABEL_PX", "LINE_PX", "MAX_LABELS", "FAINT_COLOUR"]

#: The inner edges of the shifted edge tiles: faint, so that they do not read as more cells.
FAINT_COLOUR = "#00e5ff55"

#: A tile's number is drawn only when the tile is at least this many screen pixels wide.
MIN_LABEL_PX = 48
#: Width of the grid lines on screen, in pixels, at every zoom.
LINE_PX = 1.5
#: At most this many tile numbers at once (a safeguard; the view rarely holds more).
MAX_LABELS = 600


def _axis_edges(size: int, tile: int, stride: int, tiles_edges: list[int]) -> tuple[list, list]:
    """``(solid, faint)`` edge positions along one axis.

    Solid: the main grid's tile edges and the image's far border. Faint: where a
    shifted edge tile starts inside the last main tile (drawn solid, it made a
    2 x 2 grid of tiles look like 3 x 3 cells).
    """
    main, edge = axis_positions(size, tile, stride)
    if edge is None:
        return tiles_edges, []
    faint = [edge] if edge not in {p for m in main for p in (m, m + tile)} else []
    return [e for e in tiles_edges if e not in faint], faint


def _serpentine(along: np.ndarray, lo: float, hi: float) -> np.ndarray:
    ends = np.empty((len(along), 2))
    ends[:, 0], ends[:, 1] = lo, hi
    ends[1::2] = ends[1::2, ::-1]  # every other edge runs back
    return np.stack([np.repeat(along, 2), ends.ravel()], axis=1)


def grid_polylines(grid: TileGrid) -> list[np.ndarray]:
    """The tile edges as two paths: all horizontal edges, then all vertical ones.

    Each path runs along one edge, steps along the grid's outer border (itself an
    edge) to the next, and runs back, so ``rows + 1`` (``columns + 1``) edges are
    one path of ``2 (rows + 1)`` vertices: two shapes whatever the tile count,
    where one shape per edge or per tile costs seconds on a big slide
    (ENVIRONMENT.md item 12). Working data coordinates (pixel edges at ``k - 0.5``).
    The inner edges of the shifted edge tiles are not among them
    (:func:`edge_polylines` draws them faint).

    Returns
    -------
    list of ndarray
        Two ``(n, 2)`` float arrays of ``(y, x)`` vertices.

    Examples
    --------
    >>> g = TileGrid.from_shape(1024, 1024, tile_size=512)
    >>> [p.tolist() for p in grid_polylines(g)][0]
    [[-0.5, -0.5], [-0.5, 1023.5], [511.5, 1023.5], [511.5, -0.5], [1023.5, -0.5], [1023.5, 1023.5]]
    """
    ys, xs = _edges(list(grid.tiles))
    span_y, span_x = np.asarray(ys, float) - 0.5, np.asarray(xs, float) - 0.5
    ys, _ = _axis_edges(grid.height, grid.tile_size, grid.stride, ys)
    xs, _ = _axis_edges(grid.width, grid.tile_size, grid.stride, xs)
    horizontal = _serpentine(np.asarray(ys, float) - 0.5, span_x[0], span_x[-1])
    vertical = _serpentine(np.asarray(xs, float) - 0.5, span_y[0], span_y[-1])[:, ::-1]
    return [horizontal, np.ascontiguousarray(vertical)]


def edge_polylines(grid: TileGrid) -> list[np.ndarray]:
    """Where the shifted edge tiles start inside the last main tiles: 0 to 2 paths, drawn faint."""
    ys, xs = _edges(list(grid.tiles))
    span_y, span_x = np.asarray(ys, float) - 0.5, np.asarray(xs, float) - 0.5
    _, fy = _axis_edges(grid.height, grid.tile_size, grid.stride, ys)
    _, fx = _axis_edges(grid.width, grid.tile_size, grid.stride, xs)
    out = []
    if fy:
        out.append(_serpentine(np.asarray(fy, float) - 0.5, span_x[0], span_x[-1]))
    if fx:
        out.append(np.ascontiguousarray(
            _serpentine(np.asarray(fx, float) - 0.5, span_y[0], span_y[-1])[:, ::-1]))
    return out


class GridIndex:
    """Tiles by position: which tiles meet a rectangle, in time independent of the grid size.

    The seed's tiles are the product of a few row and column origins (the main
    grid plus the shifted edge row/column), all of one size, so the tiles meeting
    a rectangle are found by bisecting the origins.

    Examples
    --------
    >>> g = TileGrid.from_shape(1000, 1000, tile_size=512)
    >>> [t.index for t in GridIndex(g).tiles_in(0, 0, 10, 1000)]
    [0, 1]
    """

    def __init__(self, grid: TileGrid):
        import bisect

        self._bisect = bisect
        self.grid = grid
        self.size = grid.tile_size
        self.rows = sorted({t.y for t in grid.tiles})
        self.cols = sorted({t.x for t in grid.tiles})
        self._at = {(t.y, t.x): t for t in grid.tiles}

    def _span(self, origins: list[int], lo: float, hi: float) -> list[int]:
        # tiles [o, o + size) meeting [lo, hi): lo - size < o < hi
        first = self._bisect.bisect_right(origins, lo - self.size)
        last = self._bisect.bisect_left(origins, hi)
        return origins[first:last]

    def tiles_in(self, y0: float, x0: float, y1: float, x1: float) -> list[TileBox]:
        """Tiles meeting the working-pixel rectangle ``[y0, y1) x [x0, x1)``, in grid order."""
        rows, cols = self._span(self.rows, y0, y1), self._span(self.cols, x0, x1)
        hits = [self._at[(y, x)] for y in rows for x in cols if (y, x) in self._at]
        return sorted(hits, key=lambda t: t.index)

    def count_in(self, y0: float, x0: float, y1: float, x1: float) -> int:
        """An upper bound of ``len(tiles_in(...))``, without listing them."""
        return len(self._span(self.rows, y0, y1)) * len(self._span(self.cols, x0, x1))


_INDEXES: dict[int, GridIndex] = {}


def grid_index(grid: TileGrid) -> GridIndex:
    """The :class:`GridIndex` of ``grid`` (built once, the last few kept)."""
    index = _INDEXES.get(id(grid))
    if index is None or index.grid is not grid:
        if len(_INDEXES) >= 4:
            _INDEXES.pop(next(iter(_INDEXES)))
        index = _INDEXES[id(grid)] = GridIndex(grid)
    return index


def label_points(tiles: list[TileBox], grid: TileGrid | None = None) -> tuple[np.ndarray, list[str]]:
    """Top-left corners (working pixel edges) and texts of these tiles' numbers.

    With ``grid``, a shifted edge tile's number sits at the corner of the cell it
    shows in (past the last main tile), not inside its neighbour's.
    """
    shift_y = shift_x = None
    if grid is not None:
        main_y, edge_y = axis_positions(grid.height, grid.tile_size, grid.stride)
        main_x, edge_x = axis_positions(grid.width, grid.tile_size, grid.stride)
        if edge_y is not None and main_y:
            shift_y = (edge_y, main_y[-1] + grid.tile_size)
        if edge_x is not None and main_x:
            shift_x = (edge_x, main_x[-1] + grid.tile_size)

    def corner(t: TileBox) -> tuple[float, float]:
        y = shift_y[1] if shift_y and t.y == shift_y[0] else t.y
        x = shift_x[1] if shift_x and t.x == shift_x[0] else t.x
        return y - 0.5, x - 0.5

    pts = np.array([corner(t) for t in tiles], float).reshape(-1, 2)
    return pts, [str(t.index) for t in tiles]
