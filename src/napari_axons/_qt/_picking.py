"""Picking tiles on the canvas: a click toggles one tile, Shift+drag adds a box of tiles.

A plain drag pans the view (napari's camera moves only without modifiers, so a
Shift+drag is free for the box).
"""

from __future__ import annotations

import numpy as np

from ._grid_layer import grid_index

__all__ = ["pick_callback", "tiles_in_box"]


def tiles_in_box(grid, corner0, corner1) -> list[int]:
    """Indices of the tiles meeting the working-pixel rectangle between two corners."""
    (ya, xa), (yb, xb) = corner0, corner1
    y0, y1 = sorted((ya, yb))
    x0, x1 = sorted((xa, xb))
    return [t.index for t in grid_index(grid).tiles_in(y0, x0, y1 + 1, x1 + 1)]


def pick_callback(on_click, on_box):
    """A napari mouse-drag callback: ``on_click(world)`` on a click, ``on_box(w0, w1)`` on Shift+drag.

    A drag without Shift (the cursor moving more than 4 canvas pixels) pans as
    usual and calls nothing.
    """

    def callback(layer, event):
        if getattr(event, "button", 1) not in (1, None):
            return
        shift = "Shift" in {str(getattr(m, "name", m)) for m in getattr(event, "modifiers", ())}
        start_world = tuple(event.position)
        start_canvas = np.asarray(getattr(event, "pos", (0, 0)), float)
        end_world = start_world
        yield
        dragged = False
        while event.type == "mouse_move":
            end_world = tuple(event.position)
            if np.hypot(*(np.asarray(event.pos, float) - start_canvas)) > 4:
                dragged = True
            yield
        end_world = tuple(event.position) if event.position is not None else end_world
        if shift and dragged:
            on_box(start_world, end_world)
        elif not dragged:
            on_click(start_world)

    return callback
