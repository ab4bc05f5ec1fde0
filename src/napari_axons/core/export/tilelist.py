"""An export's tiles with masks, from its typed manifest, and their class maps one tile at a time.

:func:`list_exported_tiles` reads the manifest through the one reader of the
export contract (:func:`~.manifest.load_manifest`) and lists, per image, the
tiles that have a label file or a mask PNG (:class:`ExportedTiles`), with their
files resolved inside the export folder. :func:`iter_tile_masks` renders them,
in grid order, one tile in memory at a time: what loading masks into the
session's store, the slide-wide bridges (GeoJSON, COCO, OME-Zarr labels) and
the read-back all build on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..common import DEFAULT_TABLE, ClassTable, safe_child
from ..labels import decode_class_mask, labels_to_class_map, read_labels_json
from .files import ExportFiles
from .manifest import ImageEntry, Manifest, TileEntry, load_manifest

__all__ = ["ExportedTile", "ExportedTiles", "TileClasses", "LABELS_SUFFIX", "exported_tiles",
           "iter_tile_masks", "list_exported_tiles", "read_png"]

#: The suffix of a Django-Labeller label file (``{stem}__labels.json``).
LABELS_SUFFIX = "__labels.json"


@dataclass(frozen=True)
class ExportedTile:
    """One exported tile: its box in working-image pixels and its files (absolute paths).

    Built from the manifest's :class:`~.manifest.TileEntry`; the file names are
    checked to stay inside the export folder.
    """

    index: int
    name: str
    y: int
    x: int
    height: int
    width: int
    tile: Path | None
    mask: Path | None
    labels: Path | None

    @classmethod
    def from_entry(cls, folder: Path, t: TileEntry, *, beside: bool = False) -> ExportedTile:
        """The tile ``t`` of the export in ``folder``.

        With ``beside``, a label file or mask the manifest does not list is
        taken from its conventional place when it is there
        (``{stem}__labels.json`` beside the tile PNG, ``masks/{stem}_mask.png``):
        corrections made outside the product, as training reads them.

        Raises
        ------
        ExportError
            A file name that leaves the export folder.
        """
        files = {key: (safe_child(folder, t.files[key], what=f"{key} file")
                       if t.files.get(key) is not None else None)
                 for key in ("tile", "mask", "labels")}
        if beside and files["tile"] is not None:
            where = PurePosixPath(t.files["tile"])
            stem = where.name[: -len(".png")]
            for key, rel in (("labels", ExportFiles.labels(stem)), ("mask", ExportFiles.mask(stem))):
                if files[key] is None:
                    p = safe_child(folder, (where.parent / rel).as_posix(), what=f"{key} file")
                    files[key] = p if p.is_file() else None
        return cls(t.index, t.name, t.y, t.x, t.height, t.width,
                   files["tile"], files["mask"], files["labels"])


@dataclass(frozen=True)
class ExportedTiles:
    """One image of an export as its tile list, without reading any pixels.

    Attributes
    ----------
    base : str
    source_hash : str
        The source file's :func:`~napari_axons.core.common.sampled_file_hash`
        recorded at export time.
    source_name : str
    downsample : int or float
        The working image's downsample factor (a ratio with a target pixel size).
    shape : tuple of int
        Working-image ``(height, width)``.
    tile_size, overlap : int
        The export's grid.
    tiles : list of ExportedTile
        Tiles with a label file or mask, in grid order.
    classes : ClassTable or None
        The manifest's class table (None: an export written before classes;
        pass it to :func:`iter_tile_masks`).
    entry : ImageEntry
        The image's typed manifest entry.
    """

    base: str
    source_hash: str
    source_name: str
    downsample: int | float
    shape: tuple[int, int]
    tile_size: int
    overlap: int
    tiles: list[ExportedTile]
    classes: ClassTable | None = None
    entry: ImageEntry | None = None

    @classmethod
    def from_entry(cls, folder: Path, img: ImageEntry, classes: ClassTable | None,
                   *, with_masks_only: bool = True, beside: bool = False) -> ExportedTiles:
        tiles = [ExportedTile.from_entry(folder, t, beside=beside) for t in img.tiles]
        if with_masks_only:
            tiles = [t for t in tiles if t.labels is not None or t.mask is not None]
        return cls(img.base, img.source.hash, img.source.name, img.working.downsample,
                   (img.working.height, img.working.width), img.grid.tile_size,
                   img.grid.overlap, sorted(tiles, key=lambda t: t.index), classes, img)


def exported_tiles(manifest: Manifest, folder: Path, *, with_masks_only: bool = True,
                   beside: bool = False) -> list[ExportedTiles]:
    """The tile lists of a manifest already read (one per image; ``beside``: see
    :meth:`ExportedTile.from_entry`)."""
    return [ExportedTiles.from_entry(folder, img, manifest.classes,
                                     with_masks_only=with_masks_only, beside=beside)
            for img in manifest.images]


def list_exported_tiles(path: str | os.PathLike, *, beside: bool = False) -> list[ExportedTiles]:
    """The images of an export folder (or its manifest) and their tiles with masks.

    For loading masks tile by tile (e.g. into the session's mask store) without
    assembling a slide-sized array; see :func:`iter_tile_masks`. With
    ``beside``, label files and masks in their conventional places count even
    when the manifest does not list them (:meth:`ExportedTile.from_entry`).

    Raises
    ------
    ExportError
        (:class:`~.manifest.ManifestError`) A missing or malformed manifest, or a
        file name leaving the folder.
    """
    manifest = load_manifest(path)
    return exported_tiles(manifest, manifest.folder, beside=beside)


class TileClasses:
    """The class table while an export's tiles are read, growing as label files demand.

    Parameters
    ----------
    table : ClassTable or None
        The manifest's table: label classes it lacks are added with a warning.
        None (an export without one): the table is built from the label classes
        in order of first appearance, silently.
    """

    def __init__(self, table: ClassTable | None = None):
        self.known = table is not None
        self._table = table

    @property
    def named(self) -> bool:
        """True once there is a table: given, or built from the classes the files named."""
        return self._table is not None

    @property
    def table(self) -> ClassTable:
        """The table so far (:data:`~napari_axons.core.common.DEFAULT_TABLE` before any class)."""
        return self._table if self._table is not None else DEFAULT_TABLE

    def render(self, doc: dict, shape: tuple[int, int], path: Path,
               warnings: list[str]) -> np.ndarray:
        """A label file's class map in this table (adding the classes it lacks)."""
        mask, table, notes = labels_to_class_map(doc, shape, self._table, path=path,
                                                 warn_added=self.known)
        if self._table is not None or len(doc["labels"]):
            self._table = table
        warnings.extend(notes)
        return mask

    def mask_png(self, mask: np.ndarray, indexed: bool, path: Path,
                 warnings: list[str]) -> np.ndarray:
        """A decoded mask PNG's class map in this table (indices it lacks become ``class_K``)."""
        if not indexed:
            return mask
        top = int(mask.max()) if mask.size else 0
        table = self.table
        if top > table.n_foreground:
            new = [f"class_{k}" for k in range(len(table), top + 1)]
            grown = table.with_names(new)
            if self.known:
                warnings.append(f"{path}: mask values {len(table)}-{top} are not in the "
                                f"export's class table; added as {', '.join(new)}")
            self._table = grown
        return mask


def iter_tile_masks(tiles: list[ExportedTile], warnings: list[str],
                    classes: TileClasses | ClassTable | None = None):
    """``(tile, mask)`` for each tile in grid order, one tile in memory at a time.

    ``mask`` is a ``uint8`` class map at the tile's size (0/1 for a one-class
    export), rendered from its label file (the mask PNG when the label file is
    missing), or None when neither can be used (a line is added to
    ``warnings``). Writing them in this order gives the read-back rule: the
    later tile wins where tiles overlap.

    ``classes`` is the export's table (:attr:`ExportedTiles.classes`) or a
    :class:`TileClasses` whose ``table`` grows with label classes the files
    add (with a warning each when the export has a table); None: the table is
    built from the label classes in order of first appearance.
    """
    if not isinstance(classes, TileClasses):
        classes = TileClasses(classes)
    for t in sorted(tiles, key=lambda t: t.index):
        yield t, _tile_mask(t, warnings, classes)


def _tile_mask(t: ExportedTile, warnings: list[str], classes: TileClasses) -> np.ndarray | None:
    if t.labels is not None and t.labels.is_file():
        doc = read_labels_json(t.labels)
        return classes.render(doc, (t.height, t.width), t.labels, warnings)
    if t.mask is not None and t.mask.is_file():
        try:
            arr, indexed = decode_class_mask(t.mask)
        except Exception as exc:
            warnings.append(f"{t.mask}: cannot read ({type(exc).__name__}: {exc})")
            return None
        if arr.shape != (t.height, t.width):
            warnings.append(f"{t.mask}: mask is {arr.shape[1]} x {arr.shape[0]}, the tile "
                            f"{t.width} x {t.height}; skipped")
            return None
        return classes.mask_png(arr, indexed, t.mask, warnings)
    warnings.append(f"tile {t.index} ({t.name}): no label file or mask; left empty")
    return None


def read_png(path: Path, warnings: list[str] | None = None) -> np.ndarray | None:
    """A tile PNG as ``(y, x)`` grey or ``(y, x, 3)`` RGB uint8 (None, with a warning, if unreadable)."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    except Exception as exc:
        if warnings is not None:
            warnings.append(f"{path}: cannot read ({type(exc).__name__}: {exc})")
        return None
