"""The tile grid drawn by level of detail: legible at any zoom, at a cost flat in the tile count.

* Lines: two paths (all horizontal edges, all vertical edges; see
  :func:`~._grid_layer.grid_polylines`) whose width is kept at
  :data:`~._grid_layer.LINE_PX` screen pixels as the camera zooms, so every edge
  stays visible and none drops out (thinner than a pixel, napari's line meshes
  fall between pixels, and a 121 x 121 grid looked like 5 x 5).
* Numbers: only for the tiles in view, and only when a tile is at least
  :data:`~._grid_layer.MIN_LABEL_PX` screen pixels wide; updated when the camera
  moves, at most once per ``interval_ms``.

:class:`GridLevelOfDetail` owns nothing: it is given the lines (Shapes) and
numbers (Points with an ``index`` feature as text) layers with the grid, and
follows the viewer's camera and canvas.
"""

from __future__ import annotations

import numpy as np

from ..core.geometry import TileGrid
from ._grid_layer import (
    FAINT_COLOUR,
    GRID_COLOUR,
    LINE_PX,
    MAX_LABELS,
    MIN_LABEL_PX,
    edge_polylines,
    grid_index,
    grid_polylines,
    label_points,
)

__all__ = ["GridLevelOfDetail", "TEXT_PX"]

#: Size of the tile numbers (napari's text size, screen pixels).
TEXT_PX = 10


def _camera(viewer):
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


class GridLevelOfDetail:
    """Keeps a grid's lines and numbers right for the current view of ``viewer``.

    Parameters
    ----------
    viewer : napari.Viewer
    interval_ms : int
        Shortest time between two updates while the camera moves.

    Attributes
    ----------
    updates : int
        How many times the view was recomputed (tests and the benchmark count them).
    labels_shown : int
        Tile numbers drawn now.
    line_width : float
        Line width now, in the grid layer's data units (working pixels).
    """

    def __init__(self, viewer, interval_ms: int = 80):
        self.viewer = viewer
        self.interval_ms = int(interval_ms)
        self.grid: TileGrid | None = None
        self.lines = self.numbers = None
        self.updates = 0
        self.labels_shown = 0
        self.line_width = 0.0
        self._shown: tuple = ()
        self._pending = False
        camera = _camera(viewer)
        camera.events.zoom.connect(self.schedule)
        camera.events.center.connect(self.schedule)
        viewer.canvas.events.size.connect(self.schedule)

    def set_grid(self, grid: TileGrid, lines, numbers) -> None:
        """Draw ``grid`` into the ``lines`` (Shapes) and ``numbers`` (Points) layers, now."""
        self.grid, self.lines, self.numbers = grid, lines, numbers
        self._shown = None
        numbers.text.size = TEXT_PX
        self.line_width = self._wanted_width()
        lines.data = []
        lines.add_paths(grid_polylines(grid), edge_color=GRID_COLOUR, edge_width=self.line_width)
        faint = edge_polylines(grid)
        if faint:
            lines.add_paths(faint, edge_color=FAINT_COLOUR, edge_width=self.line_width)
        self.update()

    # -- the view ------------------------------------------------------------------------
    def _scale(self) -> float:
        """World units per working pixel (the grid layers' own scale)."""
        scale = np.asarray(self.lines.scale, float)[-2:]
        return float(np.mean(np.abs(scale)))

    def _wanted_width(self) -> float:
        zoom = float(_camera(self.viewer).zoom)  # screen pixels per world unit
        return LINE_PX / max(zoom * self._scale(), 1e-12)

    def view_rect(self) -> tuple[float, float, float, float]:
        """``(y0, x0, y1, x1)``: the canvas in working pixels."""
        camera = _camera(self.viewer)
        h, w = self.viewer.canvas.size
        cy, cx = (float(c) for c in tuple(camera.center)[-2:])
        half_y, half_x = h / 2 / camera.zoom, w / 2 / camera.zoom
        ty, tx = (float(t) for t in tuple(self.lines.translate)[-2:])
        sy, sx = (float(s) for s in tuple(self.lines.scale)[-2:])
        ys = sorted(((cy - half_y - ty) / sy, (cy + half_y - ty) / sy))
        xs = sorted(((cx - half_x - tx) / sx, (cx + half_x - tx) / sx))
        return ys[0], xs[0], ys[1], xs[1]

    def tile_px(self) -> float:
        """A tile's side on screen, in pixels."""
        return self.grid.tile_size * self._scale() * float(_camera(self.viewer).zoom)

    def schedule(self, _event=None) -> None:
        """Update soon (at most once per ``interval_ms`` while the camera moves)."""
        if self._pending or self.grid is None:
            return
        self._pending = True
        from qtpy.QtCore import QTimer

        QTimer.singleShot(self.interval_ms, self._run_pending)

    def _run_pending(self) -> None:
        self._pending = False
        self.update()

    def _alive(self) -> bool:
        layers = self.viewer.layers
        return self.lines is not None and self.lines in layers and self.numbers in layers

    def update(self) -> None:
        """Set the line width and the numbers for the current view."""
        if self.grid is None or not self._alive():
            return
        self.updates += 1
        width = self._wanted_width()
        if self.lines.nshapes and not 0.8 < width / max(self.line_width, 1e-12) < 1.25:
            self.lines.edge_width = width
            self.lines.refresh()  # napari 0.9 keeps drawing the old mesh until refreshed
            self.line_width = width
        tiles = []
        if self.tile_px() >= MIN_LABEL_PX:
            index = grid_index(self.grid)
            rect = self.view_rect()
            if index.count_in(*rect) <= 4 * MAX_LABELS:
                tiles = index.tiles_in(*rect)[:MAX_LABELS]
        px = self.tile_px() / self.grid.tile_size  # screen pixels per working pixel
        key = (tuple(t.index for t in tiles), round(px, 6) if tiles else 0)
        if key == self._shown:
            return
        self._shown = key
        pts, texts = label_points(tiles, self.grid)
        # the number's top-left 4 px inside its tile's corner (napari draws text above its point)
        pts += np.array([TEXT_PX + 4, 4]) / px
        self.numbers.data = pts
        self.numbers.features = {"index": np.asarray(texts, dtype=object)}
        self.numbers.refresh()
        self.labels_shown = len(tiles)
