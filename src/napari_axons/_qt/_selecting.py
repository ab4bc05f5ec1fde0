"""Selecting tiles in the dock widget: a click, a Shift+drag box, Select all / none.

A mixin of :class:`~._widget.AxonsWidget` (it uses the widget's ``session``,
``overlays``, ``window`` and ``controls``). Every change of selection writes
pending edits back first, then moves the edit window over the new selection.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._grid_layer import pick_tile
from ._picking import tiles_in_box

__all__ = ["Selecting"]


class Selecting:
    """The widget's selection methods."""

    def toggle_at(self, world_position) -> int | None:
        """Toggle the selection of the tile under a world position; returns its index."""
        if self.session is None:
            return None
        box = pick_tile(self.grid, *self.overlays.placement.world_to_working(world_position))
        if box is None:
            return None
        sel = self.selected ^ {box.index}
        self.last_picked = box.index if box.index in sel else None
        self.set_selection(sel)
        return box.index

    def add_box(self, world0, world1) -> list[int]:
        """Add the tiles meeting the box between two world positions (Shift+drag)."""
        if self.session is None:
            return []
        to_working = self.overlays.placement.world_to_working
        tiles = tiles_in_box(self.grid, to_working(world0), to_working(world1))
        self.set_selection(self.selected | set(tiles))
        return tiles

    def select_all(self, _=None) -> None:
        if self.session is not None:
            self.set_selection(range(len(self.grid)))

    def select_none(self, _=None) -> None:
        self.set_selection(())

    def set_selection(self, indices: Iterable[int]) -> None:
        """Select tiles; writes pending edits back, then moves the edit window over them."""
        if self.session is not None:
            self.window.flush()
            self.session.select(indices)
            self.update_selection_view()

    def update_selection_view(self) -> None:
        """Marks, the selection count and the edit window after the selection changed."""
        grid, sel = self.grid, self.selected
        self.overlays.draw_marks(grid, self.status, sel)
        self.controls.selection_info.value = f"{len(sel)} of {len(grid)} tiles"
        focus = grid[self.last_picked] if self.last_picked in sel else None
        self.window.move([grid[i] for i in sorted(sel)], focus)
