"""Painting never goes into nothing: the edit window follows the selected tile painted on.

The edit window covers the selected tiles' bounding box, or, when that is too
large to hold (:data:`~._edit_window.MAX_WINDOW_PIXELS`), the selected tiles
around the one last clicked. A stroke that starts outside the window used to
do nothing, silently. Now, pressed with a painting tool of the mask layer:

* on a selected tile outside the window: the window moves there first (the
  earlier window's edits are stored), the stroke paints, and the status line
  says which tiles are now editable;
* on a tile that is not selected, or outside the image: nothing is painted and
  the status line says why and what to do.
"""

from __future__ import annotations

from ._grid_layer import pick_tile

__all__ = ["paint_guard", "PAINT_MODES"]

#: The Labels modes that change pixels.
PAINT_MODES = ("paint", "fill", "erase", "polygon")


def paint_guard(widget):
    """A mouse-drag callback for the edit layer, to run before napari's own painting."""

    def guard(layer, event):
        s = widget.session
        if s is None or str(layer.mode) not in PAINT_MODES or getattr(event, "button", 1) != 1:
            return
        y, x = widget.overlays.placement.world_to_working(event.position)
        box = widget.window.box
        if box is not None and box[0] <= y < box[2] and box[1] <= x < box[3]:
            return  # inside the window: napari paints
        tile = pick_tile(s.grid, y, x)
        if tile is None:
            widget.say("outside the image: nothing painted", "warning")
        elif tile.index not in s.selected:
            widget.say(f"tile {tile.index} is not selected: nothing painted (select it first: "
                        "click it on the canvas with another layer active, or Select all)",
                        "warning")
        else:
            widget.last_picked = tile.index
            widget.window.flush()
            widget.update_selection_view()  # the window moves there, and says so

    return guard
