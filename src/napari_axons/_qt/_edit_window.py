"""The editable mask window: one numpy Labels layer over the selected tiles.

A slide-sized class map lives in the session's
:class:`~napari_axons.core.session.maskstore.MaskStore` (zarr, on disk); napari paints
into an in-memory array. :class:`EditWindow` keeps one such array,
a copy of the store over the bounding box of the selected tiles, placed with
``translate`` and ``scale``, and writes what the user painted back to the store:
after every paint stroke (napari emits ``paint`` just before it writes the new
values, so the write-back waits for the next turn of the event loop), and before
the window moves or anything reads the store (:meth:`flush`). Writing back
goes through :meth:`Session.paint <napari_axons.core.session.Session.paint>`,
which compares the window with the store (so data set from a script counts
too), records the changed pixels as hand edits in full-resolution pixels, and
returns the tiles they touch; those are reported to ``on_edited``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.geometry import TileBox
from ..core.session import Session, SessionError
from ._grid_layer import bounding_box
from ._overlays import Overlays

__all__ = ["EditWindow", "MAX_WINDOW_PIXELS", "window_around"]

#: The edit window never exceeds this many working pixels (uint8: 16 MiB).
MAX_WINDOW_PIXELS = 4096 * 4096


class EditWindow:
    """The window of the mask store that the user edits.

    Parameters
    ----------
    overlays : Overlays
        Holds the edit layer and the placement.
    session : callable
        Returns the current :class:`~napari_axons.core.session.Session` (or None).
    locked : callable
        Returns True while edits must be ignored (a run is using the store).
    on_edited : callable
        Called with the tiles whose pixels an edit changed, after it is stored.
    say : callable
        ``say(text)`` tells the user something.

    Attributes
    ----------
    box : tuple or None
        ``(y0, x0, y1, x1)`` in working pixels, or None when nothing is selected.
    """

    def __init__(self, overlays: Overlays, *, session: Callable[[], Session | None],
                 locked: Callable[[], bool], on_edited: Callable[[list[int]], None],
                 say: Callable[..., None]):
        self.overlays = overlays
        self._session, self._locked, self._on_edited, self._say = session, locked, on_edited, say
        self.box: tuple[int, int, int, int] | None = None
        self._dirty: tuple[int, int, int, int] | None = None
        self._shape = (0, 0)

    def _store(self):
        return self._session().store

    def reset(self, height: int = 0, width: int = 0) -> None:
        """A new grid over a ``height x width`` working image (or none): no window."""
        self._shape = (height, width)
        self.box = self._dirty = None

    def move(self, boxes: list[TileBox], focus: TileBox | None = None) -> None:
        """Show the store over ``boxes`` (if too large: those around ``focus``, or the last box).

        Call :meth:`flush` first: the window's current content is replaced.
        """
        edit = self.overlays.edit_layer()
        if edit is None:
            return
        if not boxes:
            self.box = None
            edit.data = np.zeros((1, 1), np.uint8)
            self.overlays.place(edit)
            return
        y0, x0, y1, x1 = bounding_box(boxes)
        if (y1 - y0) * (x1 - x0) > MAX_WINDOW_PIXELS:
            last = focus if focus is not None else boxes[-1]
            near = window_around(boxes, last, MAX_WINDOW_PIXELS)
            y0, x0, y1, x1 = bounding_box(near)
            self._say(f"the selection is too large to edit at once: editing the {len(near)} "
                      f"selected tile(s) around tile {last.index} (paint on another selected "
                      "tile to edit there)")
        y0, x0 = max(y0, 0), max(x0, 0)
        y1, x1 = min(y1, self._shape[0]), min(x1, self._shape[1])
        self.box = (y0, x0, y1, x1)
        edit.data = self._store().read(y0, x0, y1, x1)
        edit.scale = self.overlays.placement.scale
        edit.translate = self.overlays.placement.offset(y0, x0)
        edit.refresh()

    def on_paint(self, event) -> None:
        """A paint/fill/erase stroke: mark its box dirty, write it back once applied."""
        if self.box is None or self._locked():
            return
        shape = self.overlays.edit_layer().data.shape
        for atom in event.value:
            box = atom_box(atom[0], shape)
            if box is None:  # unknown layout: diff the whole window
                box = (0, 0, shape[0], shape[1])
            d = self._dirty
            self._dirty = box if d is None else (min(d[0], box[0]), min(d[1], box[1]),
                                                 max(d[2], box[2]), max(d[3], box[3]))
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, self._apply_dirty)

    def _apply_dirty(self) -> None:
        box, self._dirty = self._dirty, None
        edit = self._current_layer()
        if box is None or edit is None or self._locked():
            return
        self._write_back(edit, *box)

    def flush(self) -> None:
        """Write any difference between the window and the store back to the store."""
        edit = self._current_layer()
        if edit is None or self._session() is None:
            return
        y0, x0, y1, x1 = self.box
        self._write_back(edit, 0, 0, y1 - y0, x1 - x0)

    def copy_from_store(self, box: TileBox) -> None:
        """Show the store's pixels of tile ``box`` in the window (e.g. new masks)."""
        edit = self.overlays.edit_layer()
        if self.box is None or edit is None:
            return
        wy0, wx0, wy1, wx1 = self.box
        y0, x0 = max(box.y, wy0), max(box.x, wx0)
        y1, x1 = min(box.y1, wy1), min(box.x1, wx1)
        if y1 <= y0 or x1 <= x0:
            return
        edit.data[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0] = self._store().read(y0, x0, y1, x1)
        edit.refresh()

    def _current_layer(self):
        """The edit layer, if it still shows the window (same shape)."""
        edit = self.overlays.edit_layer()
        if self.box is None or edit is None:
            return None
        y0, x0, y1, x1 = self.box
        return edit if edit.data.shape == (y1 - y0, x1 - x0) else None

    def _write_back(self, edit, by0: int, bx0: int, by1: int, bx1: int) -> None:
        """Store window box ``[by0:by1, bx0:bx1]`` as a hand edit; report the tiles it changed."""
        wy0, wx0 = self.box[:2]
        cur = np.asarray(edit.data[by0:by1, bx0:bx1])
        try:
            tiles = self._session().paint(wy0 + by0, wx0 + bx0, cur)
        except SessionError as exc:  # a label outside the class table
            self._say(str(exc), "warning")
            edit.data[by0:by1, bx0:bx1] = self._store().read(wy0 + by0, wx0 + bx0,
                                                               wy0 + by1, wx0 + bx1)
            edit.refresh()
            return
        if tiles:
            self._on_edited(tiles)


def window_around(boxes: list[TileBox], focus: TileBox, max_pixels: int) -> list[TileBox]:
    """``focus`` and the boxes that fit with it in a square of ``max_pixels`` centred on it."""
    half = max(int(max_pixels**0.5) // 2, 1)
    cy, cx = (focus.y + focus.y1) // 2, (focus.x + focus.x1) // 2
    y0, x0 = min(focus.y, cy - half), min(focus.x, cx - half)
    y1, x1 = max(focus.y1, cy + half), max(focus.x1, cx + half)
    return [focus] + [b for b in boxes
                      if b is not focus and y0 <= b.y and b.y1 <= y1 and x0 <= b.x and b.x1 <= x1]


def atom_box(key, shape) -> tuple[int, int, int, int] | None:
    """``(y0, x0, y1, x1)`` touched by a napari Labels history atom's index, if known."""
    if not isinstance(key, tuple) or len(key) < 2:
        return None
    ky, kx = key[-2], key[-1]
    if isinstance(ky, slice) and isinstance(kx, slice):
        y0, y1, _ = ky.indices(shape[0])
        x0, x1, _ = kx.indices(shape[1])
        return y0, x0, y1, x1
    try:
        ky, kx = np.asarray(ky), np.asarray(kx)
        if ky.size == 0:
            return None
        return int(ky.min()), int(kx.min()), int(ky.max()) + 1, int(kx.max()) + 1
    except (TypeError, ValueError):
        return None
