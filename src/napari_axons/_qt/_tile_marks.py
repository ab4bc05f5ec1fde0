"""Tile marks: selected, segmented, edited, exported, in one small Shapes layer, with a legend.

Each status is a tint over its tiles and an outline drawn *inside* them, inset
by more than the selection's outline is wide: the selection (a yellow outline
on the tile border) never hides a status, and "edited" is drawn thicker than
the others. Widths are in screen pixels at the zoom of the last draw (at least
:data:`MARK_PX`), so they stay legible on any slide. Tiles of one status (or the
selection) that touch along a row are merged into one rectangle, so marking
thousands of tiles stays a few dozen shapes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..core.geometry import TileGrid
from ._grid_layer import SELECTION_COLOUR, STATUS_COLOURS, merge_rectangles

__all__ = ["TILES_LAYER", "MARK_PX", "tile_marks", "status_legend_html", "marks_width"]

TILES_LAYER = "axons tiles (selected, status)"
#: Width of the status outlines on screen, in pixels (the selection: 1.5 x, "edited": 2 x).
MARK_PX = 3.0


def marks_width(tile_size: int, screen_px_per_pixel: float) -> float:
    """Outline width in working pixels: :data:`MARK_PX` on screen, within 1/64..1/12 of a tile."""
    wanted = MARK_PX / max(screen_px_per_pixel, 1e-9)
    return float(min(max(wanted, tile_size / 64), tile_size / 12))


def _inset(rect: np.ndarray, by: float) -> np.ndarray:
    """A rectangle's corners (as merge_rectangles gives them) moved inward by ``by``."""
    (y0, x0), (y1, x1) = rect.min(axis=0), rect.max(axis=0)
    by = min(by, (y1 - y0) / 4, (x1 - x0) / 4)
    y0, x0, y1, x1 = y0 + by, x0 + by, y1 - by, x1 - by
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])


def tile_marks(grid: TileGrid, status: dict[int, str], selected: Iterable[int],
               width: float) -> dict[str, list]:
    """The shapes of the marks layer, bottom to top.

    Returns
    -------
    dict
        ``rects`` (``(4, 2)`` corner arrays, working pixels), ``edge`` and
        ``face`` (colours, hex with alpha), ``width`` (working pixels) and ``kind``
        (``"selected"`` or a status), one entry per shape.
    """
    out: dict[str, list] = {"rects": [], "edge": [], "face": [], "width": [], "kind": []}
    sel_w = width * 1.5  # drawn above the grid lines, on the tile border
    for st, colour in STATUS_COLOURS.items():
        w = width * (2.0 if st == "edited" else 1.0)
        boxes = [grid[i] for i, s in status.items() if s == st and 0 <= i < len(grid)]
        for rect in merge_rectangles(boxes):
            # inside the selection's outline (which is centred on the tile border)
            out["rects"].append(_inset(rect, sel_w / 2 + w / 2 + width / 2))
            out["edge"].append(colour + "ff")
            out["face"].append(colour + "2e")  # a tint over the tile
            out["width"].append(w)
            out["kind"].append(st)
    for rect in merge_rectangles(grid[i] for i in sorted(selected) if 0 <= i < len(grid)):
        out["rects"].append(rect)
        out["edge"].append(SELECTION_COLOUR + "ff")
        out["face"].append(SELECTION_COLOUR + "14")
        out["width"].append(sel_w)
        out["kind"].append("selected")
    return out


def status_legend_html() -> str:
    """The tile marks as coloured squares and names (rich text for a QLabel)."""
    marks = [("selected", SELECTION_COLOUR), *STATUS_COLOURS.items()]
    return "&nbsp;&nbsp;".join(f'<span style="color:{c}">&#9634;</span> {name}'
                               for name, c in marks)


def draw_marks(viewer, layer, grid: TileGrid, status: dict[int, str],
               selected: Iterable[int], px_per_pixel: float) -> int:
    """Replace ``layer``'s shapes with the marks; returns the number of shapes."""
    marks = tile_marks(grid, status, selected, marks_width(grid.tile_size, px_per_pixel))
    layer.data = []
    if marks["rects"]:
        layer.add_rectangles(marks["rects"], edge_color=marks["edge"], face_color=marks["face"],
                             edge_width=marks["width"])
    layer.metadata["kinds"] = marks["kind"]
    return len(marks["rects"])
