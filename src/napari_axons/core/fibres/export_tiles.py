"""An export folder's corrected tiles as a :class:`~.source.TileSource` (the one adapter).

Everything the fibre engine reads from an export goes through this module:
the typed manifest (:func:`~napari_axons.core.export.load_manifest`, read once):
the tile list and each tile's class map (its label file rendered, else its mask
PNG: :func:`~napari_axons.core.export.iter_tile_masks`), the class table, and
the pixel size and downsample factor of the working image. When the export's
readers change, only this module changes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..common import ClassTable
from ..export import TileClasses, exported_tiles, iter_tile_masks, load_manifest
from .errors import FibreInputError
from .source import SlideFrame

__all__ = ["ExportTiles", "open_export"]


class ExportTiles:
    """The tiles with masks of one image of an export, in grid order (later tiles win).

    Attributes
    ----------
    shape : tuple of int
        The working image's ``(height, width)``.
    classes : ClassTable
        The manifest's table (plus any class a label file adds, with a warning).
    boxes : list of tuple of int
        ``(y, x, height, width)`` per tile, working-image pixels.
    warnings : list of str
        Lines about tiles that could not be read, classes added, ...
    """

    def __init__(self, tiles, shape: tuple[int, int], table: ClassTable | None):
        self._tiles = sorted(tiles, key=lambda t: t.index)
        self._classes = TileClasses(table)
        self.shape = (int(shape[0]), int(shape[1]))
        self.boxes = [(t.y, t.x, t.height, t.width) for t in self._tiles]
        self.warnings: list[str] = []

    @property
    def classes(self) -> ClassTable:
        return self._classes.table

    @property
    def classes_known(self) -> bool:
        """True when the manifest has a class table (else it grows as label files are read)."""
        return self._classes.known

    def class_maps(self) -> Iterator[tuple[int, np.ndarray | None]]:
        for k, (_, mask) in enumerate(iter_tile_masks(self._tiles, self.warnings, self._classes)):
            yield k, mask


def open_export(path: str | os.PathLike, *, image: str | None = None,
                pixel_size_um: float | None = None) -> tuple[ExportTiles, SlideFrame]:
    """One image of an export folder (or its ``manifest.json``) as tiles and a frame.

    Parameters
    ----------
    path : path
        The export folder or its manifest.
    image : str, optional
        The image's base name, needed when the export holds several.
    pixel_size_um : float, optional
        The full-resolution slide's pixel size in micrometres, overriding the
        manifest's (``--pixel-size``); the working image's follows from the
        downsample factor.

    Returns
    -------
    tiles : ExportTiles
    frame : SlideFrame
        ``pixel_size_um`` of a working (class-map) pixel, None when neither the
        manifest nor ``pixel_size_um`` gives one; ``scale`` slide pixels per
        working pixel.

    Raises
    ------
    ManifestError
        A missing or malformed manifest (one line naming it).
    FibreInputError
        No such image, several images and no ``image``, or non-square pixels.
    """
    manifest = load_manifest(path)
    where = Path(path)
    listed = exported_tiles(manifest, manifest.folder)
    names = [e.base for e in manifest.images]
    if image is None:
        if len(names) != 1:
            raise FibreInputError(f"{where}: the export has {len(names)} images "
                                  f"({', '.join(names) or 'none'}); choose one with --image BASE")
        k = 0
    elif image in names:
        k = names.index(image)
    else:
        raise FibreInputError(f"{where}: no image {image!r} in this export "
                              f"(it has: {', '.join(names)})")
    entry, tiles = manifest.images[k], listed[k]
    sx, sy = float(entry.working.scale_x), float(entry.working.scale_y)
    if pixel_size_um is not None:
        if not (isinstance(pixel_size_um, (int, float)) and math.isfinite(pixel_size_um)
                and pixel_size_um > 0):
            raise FibreInputError(f"pixel size must be a positive number of micrometres, "
                                  f"got {pixel_size_um!r}")
        px, py = pixel_size_um * sx, pixel_size_um * sy
    elif entry.working.pixel_size is not None:
        px, py = entry.working.pixel_size.x, entry.working.pixel_size.y
    else:
        px = py = None
    if px is not None and not math.isclose(px, py, rel_tol=0.01):
        raise FibreInputError(f"{where}: pixels of {px:.6g} x {py:.6g} um are not square; "
                              "fibre measures need square pixels")
    frame = SlideFrame(None if px is None else float(px), (sy, sx), entry.base)
    return ExportTiles(tiles.tiles, tiles.shape, manifest.classes), frame
