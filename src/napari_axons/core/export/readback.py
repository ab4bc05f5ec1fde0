"""Reading an export back: the slide image and its labels, in slide coordinates.

:func:`read_export` accepts an export folder, its ``manifest.json``, or a single
Django-Labeller ``__labels.json`` file, and returns :class:`ExportContents`.

Per exported image (:class:`ExportedImage`):

* **image**: when the manifest's source file still exists and its
  :func:`~napari_axons.core.common.sampled_file_hash` matches the manifest, the
  source is opened lazily (full resolution, with a pyramid from
  :func:`~napari_axons.core.image.pyramid.pyramid_levels`); otherwise the tile PNGs
  are reassembled lazily (a dask array over the tiles, in working-image
  pixels; each chunk reads the tiles under it when it is drawn), with a
  pyramid too: lazy levels for a small mosaic, and for a large one levels
  built once from the tiles and cached (keyed by the manifest and every tile
  file's size and modification time), so a viewer never reads every tile to
  draw a zoomed-out view.
* **labels**: a ``uint8`` class map (0 = background, ``k`` = class ``k`` of
  :attr:`ExportedImage.classes`; a one-class export gives 0/1) covering the
  bounding box of the exported tiles in working-image pixels
  (:attr:`ExportedImage.origin` is its top-left corner). Each tile's polygons
  are rendered with :func:`~napari_axons.core.labels.class_masks.labels_to_class_map`
  (the rendering Django-Labeller uses, class by class); the mask PNG (palette:
  class indices; an old 0/255 mask: class 1) is used only for a tile whose
  label file is missing. Where tiles overlap (shifted edge tiles, overlap),
  the tile that comes **later in the grid order wins**, the order in which the
  tiles were written.
* **classes**: the manifest's ``"classes"`` table; an export without one (and a
  single label file) gets its table from the label classes in order of first
  appearance. A label class the manifest's table does not know is *added* to
  the table, with a warning naming the file and the class (never merged into
  another class).

World coordinates: the image's own pixels. When the source is shown and the
export was downsampled, labels need ``scale = (scale_y, scale_x)`` and a
``translate`` (:meth:`ExportedImage.labels_transform`) to sit on the source.

Safety: file names read from a manifest or a label file are relative paths
that must stay inside the export folder; absolute names, ``..`` and symbolic
links leading out are refused with :class:`~napari_axons.core.common.ExportError`
(manifest) or :class:`~napari_axons.core.labels.labelfile.LabelFileError` (label file).
The source path is the one absolute path a manifest holds; it is only opened
when it is a regular file (or a Zarr folder) whose fingerprint matches.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import DEFAULT_TABLE, ClassTable, safe_child, sampled_file_hash
from ..image import open_image, pyramid_levels
from ..labels import LabelFileError, read_labels_json
from .manifest import ImageEntry, Manifest, SourceEntry, load_manifest
from .tilelist import LABELS_SUFFIX, ExportedTile, TileClasses, iter_tile_masks, read_png

__all__ = ["ExportContents", "ExportedImage", "read_export"]


@dataclass
class ExportedImage:
    """One image of an export, read back.

    Attributes
    ----------
    base : str
        The export's base name for the image.
    shape : tuple of int
        Working-image ``(height, width)`` (the grid's image).
    image : list of array
        Lazy levels, full resolution first (source pixels when ``from_source``,
        else working-image pixels).
    from_source : bool
        True when ``image`` is the original source file.
    labels : numpy.ndarray or None
        ``uint8`` class map over the tiles' bounding box (None: no masks
        exported); 0/1 for a one-class export.
    origin : tuple of int
        Working-image ``(y, x)`` of ``labels[0, 0]``.
    scale : tuple of float
        Source pixels per working pixel ``(scale_y, scale_x)`` (1 without downsampling).
    tiles : list of ExportedTile
    source_path : Path or None
    rgb : bool
    classes : ClassTable
        The classes of :attr:`labels` (the manifest's, plus any label class
        found in the files and not in it).
    """

    base: str
    shape: tuple[int, int]
    image: list
    from_source: bool
    labels: np.ndarray | None
    origin: tuple[int, int]
    scale: tuple[float, float]
    tiles: list[ExportedTile]
    source_path: Path | None = None
    rgb: bool = True
    classes: ClassTable = DEFAULT_TABLE

    def labels_transform(self) -> dict:
        """``{"scale", "translate"}`` placing :attr:`labels` on :attr:`image` in napari.

        A working pixel ``i`` covers source pixels ``[i * s, (i + 1) * s)``, whose
        centre is ``i * s + (s - 1) / 2``.
        """
        s = self.scale if self.from_source else (1.0, 1.0)
        return {
            "scale": tuple(float(v) for v in s),
            "translate": tuple(o * v + (v - 1) / 2 for o, v in zip(self.origin, s, strict=True)),
        }


@dataclass
class ExportContents:
    """What :func:`read_export` found."""

    folder: Path
    images: list[ExportedImage]
    manifest: Manifest | None = None
    warnings: list[str] = field(default_factory=list)


def read_export(path: str | os.PathLike, *, use_source: bool = True,
                progress=None) -> ExportContents:
    """Read an export folder, its manifest, or one ``__labels.json`` file.

    Parameters
    ----------
    path : path
        An export folder (holding ``manifest.json``), the manifest itself, or a
        Django-Labeller ``*__labels.json`` file.
    use_source : bool
        Open the original source image when it exists with a matching
        fingerprint (otherwise, and when False, the tile PNGs are used).
    progress : callable, optional
        ``progress(done, total)`` while a pyramid is built (the first read of a
        large export; see :func:`~napari_axons.core.image.pyramid.pyramid_levels`).

    Returns
    -------
    ExportContents

    Raises
    ------
    ExportError
        A missing or malformed manifest, or a file name leaving the folder.
    LabelFileError
        A malformed label file, or an image name in it leaving its folder.
    """
    path = Path(path)
    if path.is_file() and path.name.endswith(LABELS_SUFFIX):
        return _read_single_labels(path)
    manifest = load_manifest(path)
    folder = manifest.folder
    contents = ExportContents(folder, [], manifest)
    for img in manifest.images:
        contents.images.append(_read_image(folder, img, use_source, contents.warnings,
                                           manifest.path, progress, manifest.classes))
    return contents


def _read_image(folder: Path, entry: ImageEntry, use_source: bool, warnings: list[str],
                manifest_path: Path, progress=None,
                table: ClassTable | None = None) -> ExportedImage:
    wh, ww = entry.working.height, entry.working.width
    scale = (entry.working.scale_y, entry.working.scale_x)
    tiles = [ExportedTile.from_entry(folder, t) for t in entry.tiles]
    source_path = _matching_source(entry.source, warnings) if use_source else None
    image, from_source, rgb = None, False, True
    if source_path is not None:
        try:
            source = open_image(source_path, series=entry.source.series)  # the series exported
            image, from_source = pyramid_levels(source, progress=progress), True
            rgb = len(source.shape) == 3 and source.shape[2] in (3, 4)
        except Exception as exc:  # fall back to the tiles; say why
            warnings.append(f"{source_path}: cannot open the source ({exc}); showing the tiles")
    if image is None:
        image = pyramid_levels(_MosaicSource(tiles, (wh, ww), manifest_path, entry.base),
                               progress=progress)
    classes = TileClasses(table)
    labels, origin = _labels(tiles, (wh, ww), warnings, classes)
    return ExportedImage(entry.base, (wh, ww), image, from_source, labels, origin, scale, tiles,
                         source_path, rgb, classes.table)


def _matching_source(src: SourceEntry, warnings: list[str]) -> Path | None:
    raw = src.path
    if not raw:
        return None
    p = Path(raw)
    try:
        zarr_dir = p.is_dir() and any((p / n).exists() for n in (".zarray", ".zgroup", "zarr.json"))
        ok = p.is_file() or zarr_dir
        if not ok:
            return None
        if sampled_file_hash(p) != src.hash:
            warnings.append(f"{p}: the source file changed since the export; showing the tiles")
            return None
    except OSError:
        return None
    return p


def _labels(tiles: list[ExportedTile], shape, warnings: list[str], classes: TileClasses):
    with_labels = [t for t in tiles if t.labels is not None or t.mask is not None]
    if not with_labels:
        return None, (0, 0)
    h, w = shape
    y0 = max(0, min(t.y for t in tiles))
    x0 = max(0, min(t.x for t in tiles))
    y1 = min(h, max(t.y + t.height for t in tiles))
    x1 = min(w, max(t.x + t.width for t in tiles))
    if (y1 - y0) * (x1 - x0) > 2**28:
        warnings.append(f"labels cover {x1 - x0} x {y1 - y0} pixels; this needs "
                        f"{(y1 - y0) * (x1 - x0) / 2**30:.1f} GB of memory")
    out = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    for t, mask in iter_tile_masks(with_labels, warnings, classes):
        if mask is None:
            continue
        ty0, tx0 = max(t.y, y0), max(t.x, x0)
        ty1, tx1 = min(t.y + t.height, y1), min(t.x + t.width, x1)
        if ty1 <= ty0 or tx1 <= tx0:
            continue
        out[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = mask[ty0 - t.y : ty1 - t.y,
                                                               tx0 - t.x : tx1 - t.x]
    return out, (y0, x0)


class _TileMosaic:
    """Array-like ``(h, w, 3)`` uint8 assembled from tile PNGs on demand (later tiles win)."""

    def __init__(self, tiles: list[ExportedTile], shape: tuple[int, int]):
        self.tiles = sorted((t for t in tiles if t.tile is not None), key=lambda t: t.index)
        self.shape = (shape[0], shape[1], 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def _tile(self, t: ExportedTile) -> np.ndarray | None:
        with self._lock:
            if t.index in self._cache:
                self._cache.move_to_end(t.index)
                return self._cache[t.index]
        arr = read_png(t.tile) if t.tile.is_file() else None
        if arr is not None:
            if arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, axis=2)
            if arr.shape[:2] != (t.height, t.width):
                arr = None
        with self._lock:
            self._cache[t.index] = arr
            while len(self._cache) > 16:
                self._cache.popitem(last=False)
        return arr

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        ys, xs, cs = key
        y0, y1, _ = ys.indices(self.shape[0])
        x0, x1, _ = xs.indices(self.shape[1])
        out = np.zeros((max(0, y1 - y0), max(0, x1 - x0), 3), np.uint8)
        for t in self.tiles:
            ty0, tx0 = max(t.y, y0), max(t.x, x0)
            ty1, tx1 = min(t.y + t.height, y1), min(t.x + t.width, x1)
            if ty1 <= ty0 or tx1 <= tx0:
                continue
            arr = self._tile(t)
            if arr is None:
                continue
            out[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = arr[ty0 - t.y : ty1 - t.y,
                                                                 tx0 - t.x : tx1 - t.x]
        return out[:, :, cs]


class _MosaicSource:
    """The tile mosaic of one exported image, as :func:`~.pyramid.pyramid_levels` reads it."""

    n_levels = 1
    dtype = np.dtype(np.uint8)

    def __init__(self, tiles: list[ExportedTile], shape: tuple[int, int], manifest: Path, base: str):
        self.mosaic = _TileMosaic(tiles, shape)
        self.path, self.base = manifest, base
        self.shape = self.mosaic.shape
        self.height, self.width = shape

    def levels(self) -> list:
        import dask.array as da

        size = max((t.height for t in self.mosaic.tiles), default=512)
        return [da.from_array(self.mosaic, chunks=(size, size, 3), asarray=False,
                              fancy=False, name=False)]

    def read_region(self, y: int, x: int, height: int, width: int) -> np.ndarray:
        return self.mosaic[y : y + height, x : x + width]

    def cache_key(self) -> tuple:
        """The manifest and every tile file: any change gives another pyramid."""
        h = hashlib.blake2b(digest_size=16)
        for p in (self.path, *(t.tile for t in self.mosaic.tiles)):
            try:
                st = p.stat()
                h.update(repr((str(p.resolve()), st.st_size, st.st_mtime_ns)).encode())
            except OSError:
                h.update(repr((str(p), None)).encode())
        return (self.base, h.hexdigest())


def _read_single_labels(path: Path) -> ExportContents:
    folder = path.parent
    doc = read_labels_json(path)
    warnings: list[str] = []
    name = doc.get("image_filename")
    tile_path = None
    image = None
    if isinstance(name, str) and name:
        tile_path = safe_child(folder, name, what="image_filename", error=LabelFileError)
        if tile_path.is_file():
            image = read_png(tile_path, warnings)
        else:
            warnings.append(f"{path}: its image {name!r} is not beside it")
    tile_block = doc.get("tile") if isinstance(doc.get("tile"), dict) else {}
    if image is not None:
        shape = image.shape[:2]
    elif isinstance(tile_block.get("height"), int) and isinstance(tile_block.get("width"), int):
        shape = (tile_block["height"], tile_block["width"])
    else:
        xs, ys = [0], [0]
        _extent(doc["labels"], xs, ys)
        shape = (int(np.ceil(max(ys))) + 1, int(np.ceil(max(xs))) + 1)
        warnings.append(f"{path}: no image or tile size; labels sized to their extent "
                        f"({shape[1]} x {shape[0]})")
    classes = TileClasses(None)
    labels = classes.render(doc, shape, path, warnings)
    stem = path.name[: -len(LABELS_SUFFIX)] or path.stem
    if image is not None:
        rgb = image.ndim == 3
        levels = [image]
    else:
        rgb, levels = True, []
    index = tile_block.get("index") if isinstance(tile_block.get("index"), int) else 0
    t = ExportedTile(index, stem, 0, 0, shape[0], shape[1], tile_path, None, path)
    img = ExportedImage(stem, tuple(shape), levels, False, labels, (0, 0), (1.0, 1.0), [t],
                        None, rgb, classes.table)
    return ExportContents(folder, [img], None, warnings)


def _extent(labels, xs: list, ys: list) -> None:
    for label in labels:
        if not isinstance(label, dict):
            continue
        regions = [label["vertices"]] if "vertices" in label else label.get("regions") or []
        for region in regions:
            for v in region:
                xs.append(float(v["x"]))
                ys.append(float(v["y"]))
        _extent(label.get("component_models") or [], xs, ys)
