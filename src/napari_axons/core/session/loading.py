"""Load an export's masks into a session's mask store (its own export, or one of the same image).

The export's classes are adopted by name (:meth:`~.session.Session.adopt_classes`):
a class the session lacks is added, the loaded values are mapped onto the
session's indices, and a value neither table knows is refused with one line.
Each loaded tile remembers what made its masks (the manifest's ``label_source``),
so exporting it again unchanged keeps its files as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..export import (
    ExportedTile,
    ExportedTiles,
    TileClasses,
    iter_tile_masks,
    list_exported_tiles,
    load_manifest,
)
from ..geometry import TileBox
from .rules import EditsInTheWay, SessionError

__all__ = ["Loading", "LoadableExport"]


@dataclass
class LoadableExport:
    """An export's tiles, checked for loading into a session (see :meth:`Loading.check_loadable`).

    Attributes
    ----------
    folder : Path
    exported : ExportedTiles
        The image's tiles in the export (grid order).
    same_grid : bool
        The export's grid is the session's: loaded tiles are marked "exported".
    keep_edits : bool
        Hand-edited pixels keep their values.
    sources : dict
        ``{tile index: label source}`` from the manifest (``"auto:otsu"``, ``"manual"``).
    segmenter : dict or None
        The manifest's segmenter ``info()``.
    """

    folder: Path
    exported: ExportedTiles
    same_grid: bool
    keep_edits: bool = False
    sources: dict = field(default_factory=dict)
    segmenter: dict | None = None

    @property
    def tiles(self) -> list[ExportedTile]:
        return self.exported.tiles

    def masks(self, notes: list[str]) -> Iterator[tuple]:
        """``(tile, class map or None, its ClassTable)`` per tile, one tile in memory at a time.

        The class map is in the export's table as it stands after that tile
        (label classes the manifest lacks are added, with a line in ``notes``);
        pass the table to :meth:`Loading.write_loaded`. Reads files only: safe
        to run off the UI thread.
        """
        classes = TileClasses(self.exported.classes)
        for tile, mask in iter_tile_masks(self.exported.tiles, notes, classes):
            yield tile, mask, classes.table


class Loading:
    """:class:`~.session.Session`'s :meth:`load_masks` and its two steps (a mixin)."""

    def check_loadable(self, folder, *, overwrite_edits: bool = False, keep_edits: bool = False,
                       base: str | None = None) -> LoadableExport:
        """The export's tiles for this image and factor, after the checks.

        Parameters
        ----------
        folder : path
            The export folder (or its manifest).
        overwrite_edits, keep_edits : bool
            What to do with hand-edited pixels under the export's tiles.
        base : str, optional
            Take the export's image of this base name whatever its fingerprint
            (a session opened on that export's own reassembled tiles).

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
        images = list_exported_tiles(folder)
        if base is not None:
            matches = [im for im in images if im.base == base]
        else:
            matches = [im for im in images if im.source_hash == self.source_hash]
        if not matches:
            raise SessionError(f"{folder}: holds no export of {self.path.name} (other images, "
                               "or the file changed since)")
        mosaic = base is not None and self.in_memory  # the export's own tiles: working pixels
        exported = next((im for im in matches if mosaic or im.downsample == self.working.factor),
                        None)
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
        g = self.grid
        same = (exported.tile_size, exported.overlap) == (g.tile_size, g.tile_size - g.stride)
        manifest = load_manifest(folder)
        image = next((im for im in manifest.images if im.base == exported.base), None)
        sources = {}
        if image is not None:
            for t in image.tiles:
                sources[t.index] = t.label_source or manifest.label_source or "manual"
        return LoadableExport(folder, exported, same, keep_edits and not overwrite_edits,
                              sources, manifest.segmenter)

    def write_loaded(self, tile, mask: np.ndarray, loadable: LoadableExport,
                     table=None) -> TileBox:
        """Write one loaded tile's class map (indices of ``table``) into the store; returns its box.

        ``table`` (the export's classes, :meth:`LoadableExport.masks`) is merged
        into the session's (None: the values are the session's already).

        Raises
        ------
        SessionError
            A value no class stands for (one line naming the tile; nothing written).
        """
        box = TileBox(tile.index, tile.y, tile.x, tile.height, tile.width)
        where = f"tile {tile.index} of {loadable.folder}"
        mask = self.to_session_classes(mask, table, where)
        self.classes_fixed = True
        keep = None
        if loadable.keep_edits:
            keep, _ = self.edits.project(box.y, box.x, box.y1, box.x1, self.working_shape)
        else:
            self.edits.clear(box.y, box.x, box.y1, box.x1, self.working_shape)
        self.store.write(box.y, box.x, mask, keep, pyramid=False)
        self.changed_elsewhere(box.y, box.x, box.y1, box.x1, edited=False)
        if loadable.same_grid and tile.index < len(self.grid):
            source = loadable.sources.get(tile.index, "manual")
            if source.startswith("auto:"):  # what made it: kept, so an unchanged tile stays as it is
                name = source[5:]
                self.made_by[tile.index] = name
                info = loadable.segmenter or {}
                self.segmenters.setdefault(name, info if info.get("name") == name
                                           else {"name": name})
            else:
                self.made_by.pop(tile.index, None)
            self.status[tile.index] = "exported"
        return box

    def load_masks(self, folder, *, overwrite_edits: bool = False,
                   keep_edits: bool = False) -> list[str]:
        """Load an export's masks into the store now; returns the warnings (one line each)."""
        loadable = self.check_loadable(folder, overwrite_edits=overwrite_edits,
                                       keep_edits=keep_edits)
        notes: list[str] = []
        for tile, mask, table in loadable.masks(notes):
            if mask is not None:
                self.write_loaded(tile, mask, loadable, table)
        self.store.update_pyramid()
        self.refresh_edited()
        return notes
