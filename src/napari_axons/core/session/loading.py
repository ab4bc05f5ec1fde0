"""Load an export's masks into a session's mask store (its own export, or one of the same image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..export import iter_tile_masks, list_exported_tiles
from ..geometry import TileBox
from .rules import EditsInTheWay, SessionError

__all__ = ["Loading"]


class Loading:
    """:class:`~.session.Session`'s :meth:`load_masks` and its two steps (a mixin)."""

    def check_loadable(self, folder, *, overwrite_edits: bool = False,
                       keep_edits: bool = False):
        """The export's tile list for this image and factor, after the checks.

        Returns
        -------
        (ExportedTiles, bool)
            The tiles, and whether the export's grid is the session's (then its tiles
            are marked "exported" as they load).

        Raises
        ------
        SessionError
            No export of this image, or not at this downsample factor, or no masks.
        EditsInTheWay
            The export's tiles cover hand-edited pixels and neither flag is given.
        ExportError
            A missing or malformed manifest.
        """
        folder = Path(folder)
        matches = [im for im in list_exported_tiles(folder) if im.source_hash == self.source_hash]
        if not matches:
            raise SessionError(f"{folder}: holds no export of {self.path.name} (other images, "
                               "or the file changed since)")
        exported = next((im for im in matches if im.downsample == self.working.factor), None)
        if exported is None:
            factors = ", ".join(map(str, sorted({im.downsample for im in matches})))
            raise SessionError(f"{folder}: exported with downsample {factors}; set Downsample to "
                               "that to load its masks")
        if not exported.tiles:
            raise SessionError(f"{folder}: the export has no masks (tiles only)")
        shape = self.working_shape
        if not (overwrite_edits or keep_edits) and any(
                self.edits.any_in(t.y, t.x, t.y + t.height, t.x + t.width, shape)
                for t in exported.tiles):
            raise EditsInTheWay(self.edited_tiles() or [t.index for t in exported.tiles],
                                "loading the export's masks")
        self._load_keeps_edits = keep_edits and not overwrite_edits
        g = self.grid
        return exported, (exported.tile_size, exported.overlap) == (g.tile_size, g.tile_size - g.stride)

    def write_loaded(self, tile, mask: np.ndarray, same_grid: bool) -> TileBox:
        """Write one loaded tile's mask (0/1 or class map) into the store; returns its box."""
        box = TileBox(tile.index, tile.y, tile.x, tile.height, tile.width)
        keep = None
        if getattr(self, "_load_keeps_edits", False):
            keep, _ = self.edits.project(box.y, box.x, box.y1, box.x1, self.working_shape)
        else:
            self.edits.clear(box.y, box.x, box.y1, box.x1, self.working_shape)
        self.store.write(box.y, box.x, np.asarray(mask, np.uint8), keep, pyramid=False)
        self.changed_elsewhere(box.y, box.x, box.y1, box.x1, edited=False)
        if same_grid:
            self.made_by.pop(tile.index, None)  # a mask from elsewhere: not ours to name
        if same_grid and tile.index < len(self.grid):
            self.status[tile.index] = "exported"
        return box

    def load_masks(self, folder, *, overwrite_edits: bool = False,
                   keep_edits: bool = False) -> list[str]:
        """Load an export's masks into the store now; returns the warnings (one line each)."""
        exported, same = self.check_loadable(folder, overwrite_edits=overwrite_edits,
                                        keep_edits=keep_edits)
        notes: list[str] = []
        for tile, mask in iter_tile_masks(exported.tiles, notes):
            if mask is not None:
                self.write_loaded(tile, mask, same)
        self.store.update_pyramid()
        self.refresh_edited()
        return notes
