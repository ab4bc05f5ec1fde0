"""An export's tiles as class maps, with the coordinates the format bridges need.

The GeoJSON, COCO and OME-Zarr bridges (:mod:`~napari_axons.core.formats`,
:mod:`~napari_axons.core.formats.coco`, :mod:`~napari_axons.core.formats.ngff_labels`) read an
export through this one module: per image, its tiles (boxes in working-image
pixels), the working -> full-resolution scale, the source size and the class
table, and each tile's class map, one tile in memory at a time.

Coordinates: a working pixel ``[r, c]`` covers the full-resolution square
``[c * sx, (c + 1) * sx] x [r * sy, (r + 1) * sy]`` (``sx, sy`` =
:attr:`ExportSlide.scale`, 1 without downsampling), so a pixel-edge polygon in
working pixels becomes one in slide pixels by multiplying by the scale.

Overlapping tiles (the shifted edge tiles): the later tile in the grid order
wins, as in :mod:`.readback`; :meth:`ExportSlide.owned`
gives the part of a tile that no later tile covers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import DEFAULT_TABLE, ClassTable, ExportError
from .manifest import Manifest, load_manifest
from .tilelist import ExportedTile, TileClasses, exported_tiles, iter_tile_masks

__all__ = ["ExportSlide", "export_class_table", "open_export_slides", "choose_slide"]


@dataclass
class ExportSlide:
    """One image of an export, ready to be converted.

    Attributes
    ----------
    folder : Path
        The export folder.
    base : str
        The image's base name in the export.
    working_shape : tuple of int
        ``(height, width)`` of the working image (the tiled one) in pixels.
    source_shape : tuple of int
        ``(height, width)`` of the full-resolution source image in pixels.
    scale : tuple of float
        Full-resolution pixels per working pixel ``(sy, sx)``.
    tiles : list of ExportedTile
        Tiles with masks or label files, in grid order.
    all_tiles : list of ExportedTile
        Every tile of the grid (for tile images without masks).
    classes : ClassTable
    """

    folder: Path
    base: str
    working_shape: tuple[int, int]
    source_shape: tuple[int, int]
    scale: tuple[float, float]
    tiles: list[ExportedTile]
    all_tiles: list[ExportedTile]
    classes: ClassTable

    def iter_class_maps(self, warnings: list[str]):
        """``(tile, class_map)`` per tile in grid order, one in memory at a time.

        ``class_map`` is ``(tile.height, tile.width)`` uint8 (class indices of
        :attr:`classes`), or None when the tile's masks cannot be read (a line
        is added to ``warnings``). A class a tile holds and the export's table
        does not know is added to :attr:`classes` with a warning (the rule of
        :mod:`napari_axons.core.common.classes`), so read :attr:`classes` after
        each tile.
        """
        classes = TileClasses(self.classes)
        for t, cmap in iter_tile_masks(self.tiles, warnings, classes):
            self.classes = classes.table
            yield t, cmap

    def owned(self, k: int) -> np.ndarray:
        """``(height, width)`` bool: the pixels of ``self.tiles[k]`` inside the
        image that no later tile covers (where this tile's pixels count)."""
        t = self.tiles[k]
        h, w = self.working_shape
        out = np.zeros((t.height, t.width), bool)
        out[max(0, -t.y): max(0, min(t.height, h - t.y)), max(0, -t.x): max(0, min(t.width, w - t.x))] = True
        for u in self.tiles[k + 1:]:
            y0, x0 = max(u.y, t.y), max(u.x, t.x)
            y1, x1 = min(u.y + u.height, t.y + t.height), min(u.x + u.width, t.x + t.width)
            if y1 > y0 and x1 > x0:
                out[y0 - t.y: y1 - t.y, x0 - t.x: x1 - t.x] = False
        return out


def export_class_table(manifest: Manifest) -> ClassTable:
    """The class table of an export: the manifest's ``"classes"``, else its label class."""
    if manifest.classes is not None:
        return manifest.classes
    name = manifest.options.get("label_class")
    return ClassTable.from_names([name]) if isinstance(name, str) and name else DEFAULT_TABLE


def open_export_slides(path: str | os.PathLike) -> list[ExportSlide]:
    """The images of an export folder (or its ``manifest.json``).

    Raises
    ------
    ExportError
        A missing or malformed manifest (one line naming it).
    """
    manifest = load_manifest(path)
    classes = export_class_table(manifest)
    slides = []
    for listed, every in zip(exported_tiles(manifest, manifest.folder),
                             exported_tiles(manifest, manifest.folder, with_masks_only=False),
                             strict=True):
        work, src = listed.entry.working, listed.entry.source
        slides.append(ExportSlide(manifest.folder, listed.base, listed.shape,
                                  (src.height, src.width), (work.scale_y, work.scale_x),
                                  listed.tiles, every.tiles, classes))
    return slides


def choose_slide(slides: list[ExportSlide], base: str | None, where) -> ExportSlide:
    """The slide named ``base``, or the only one.

    Raises
    ------
    ExportError
        No such image, or several and no ``base`` (the message lists them).
    """
    names = ", ".join(s.base for s in slides)
    if base is not None:
        for s in slides:
            if s.base == base:
                return s
        raise ExportError(f"{where}: no image {base!r} in this export (it has: {names})")
    if len(slides) != 1:
        raise ExportError(f"{where}: the export has {len(slides)} images ({names}); choose one "
                          "with --image BASE")
    return slides[0]
