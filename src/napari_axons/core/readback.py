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

from .common import DEFAULT_TABLE, ClassTable, ClassTableError, ExportError, safe_child, sampled_file_hash
from .export import MANIFEST_NAME, read_manifest
from .labels.labelfile import LabelFileError, read_labels_json

__all__ = ["ExportContents", "ExportedImage", "ExportedTiles", "TileClasses", "TileEntry",
           "iter_tile_masks", "list_exported_tiles", "manifest_classes", "read_export",
           "safe_child"]

LABELS_SUFFIX = "__labels.json"


@dataclass(frozen=True)
class TileEntry:
    """One exported tile: its box in working-image pixels and its files (absolute)."""

    index: int
    name: str
    y: int
    x: int
    height: int
    width: int
    tile: Path | None
    mask: Path | None
    labels: Path | None


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
    tiles : list of TileEntry
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
    tiles: list[TileEntry]
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
    manifest: dict | None = None
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
    manifest_path, manifest, images = _open_manifest(path)
    folder = manifest_path.parent
    contents = ExportContents(folder, [], manifest)
    table = manifest_classes(manifest, manifest_path)
    for k, entry in enumerate(images):
        try:
            contents.images.append(_read_image(folder, entry, use_source, contents.warnings,
                                               manifest_path, progress, table))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LabelFileError):
                raise
            raise _malformed(manifest_path, k, exc) from exc
    return contents


def _open_manifest(path: Path) -> tuple[Path, dict, list]:
    """``(manifest path, manifest, its images)`` of an export folder or manifest."""
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    manifest = read_manifest(manifest_path)
    images = manifest.get("images")
    if not isinstance(images, list):
        raise ExportError(f"{manifest_path}: malformed manifest: 'images' is not a list")
    return manifest_path, manifest, images


def manifest_classes(manifest: dict, manifest_path: Path | str) -> ClassTable | None:
    """The manifest's ``"classes"`` table (None: an export written before classes).

    Raises
    ------
    ExportError
        A malformed ``"classes"`` list, naming the manifest.
    """
    entries = manifest.get("classes")
    if entries is None:
        return None
    try:
        return ClassTable.from_json(entries, where="'classes'")
    except ClassTableError as exc:
        raise ExportError(f"{manifest_path}: malformed manifest: {exc}") from None


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
    def table(self) -> ClassTable:
        """The table so far (:data:`~napari_axons.core.common.DEFAULT_TABLE` before any class)."""
        return self._table if self._table is not None else DEFAULT_TABLE

    def render(self, doc: dict, shape: tuple[int, int], path: Path,
               warnings: list[str]) -> np.ndarray:
        """A label file's class map in this table (adding the classes it lacks)."""
        from .labels.class_masks import labels_to_class_map

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


def _malformed(manifest_path: Path, k: int, exc: Exception) -> ExportError:
    return ExportError(f"{manifest_path}: malformed manifest: image {k}: "
                       f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class ExportedTiles:
    """One image of an export as its tile list, without reading any pixels.

    Attributes
    ----------
    base : str
    source_hash : str or None
        The source file's :func:`~napari_axons.core.common.sampled_file_hash`
        recorded at export time.
    source_name : str
    downsample : int
        The working image's downsample factor.
    shape : tuple of int
        Working-image ``(height, width)``.
    tile_size, overlap : int
        The export's grid.
    tiles : list of TileEntry
        Tiles with a label file or mask, in grid order.
    classes : ClassTable or None
        The manifest's class table (None: an export written before classes;
        pass it to :func:`iter_tile_masks`).
    """

    base: str
    source_hash: str | None
    source_name: str
    downsample: int
    shape: tuple[int, int]
    tile_size: int
    overlap: int
    tiles: list[TileEntry]
    classes: ClassTable | None = None


def list_exported_tiles(path: str | os.PathLike) -> list[ExportedTiles]:
    """The images of an export folder (or its manifest) and their tiles with masks.

    For loading masks tile by tile (e.g. into the widget's mask store) without
    assembling a slide-sized array; see :func:`iter_tile_masks`.

    Raises
    ------
    ExportError
        A missing or malformed manifest, or a file name leaving the folder.
    """
    manifest_path, manifest, images = _open_manifest(Path(path))
    folder = manifest_path.parent
    table = manifest_classes(manifest, manifest_path)
    out = []
    for k, entry in enumerate(images):
        try:
            src = entry.get("source") or {}
            grid = entry.get("grid") or {}
            tiles = [t for t in _tile_entries(folder, entry)
                     if t.labels is not None or t.mask is not None]
            out.append(ExportedTiles(
                str(entry["base"]), src.get("hash"), str(src.get("name", "")),
                _factor(entry["working"].get("downsample", 1)), _working_shape(entry),
                _int(grid.get("tile_size", 0), "tile size"), _int(grid.get("overlap", 0), "overlap"),
                sorted(tiles, key=lambda t: t.index), table,
            ))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise _malformed(manifest_path, k, exc) from exc
    return out


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{what} is not an integer: {value!r}")
    return int(value)


def _factor(value) -> int | float:
    """The working image's downsample factor: an integer, or a ratio (target pixel size)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"downsample is not a positive number: {value!r}")
    return int(value) if value == int(value) else float(value)


def _working_shape(entry: dict) -> tuple[int, int]:
    working = entry["working"]
    wh, ww = _int(working["height"], "working height"), _int(working["width"], "working width")
    if wh < 1 or ww < 1:
        raise ValueError(f"working size {ww} x {wh}")
    return wh, ww


def _tile_entries(folder: Path, entry: dict) -> list[TileEntry]:
    tiles = []
    for t in entry["tiles"]:
        box = t["box"]
        files = t.get("files") or {}
        if not isinstance(files, dict):
            raise TypeError("tile 'files' is not an object")
        resolved = {key: (safe_child(folder, files[key], what=f"{key} file")
                          if files.get(key) is not None else None)
                    for key in ("tile", "mask", "labels")}
        tiles.append(TileEntry(
            _int(t["index"], "tile index"), str(t.get("name", "")),
            _int(box["y"], "box y"), _int(box["x"], "box x"),
            _int(box["height"], "box height"), _int(box["width"], "box width"),
            resolved["tile"], resolved["mask"], resolved["labels"],
        ))
    return tiles


def _read_image(folder: Path, entry: dict, use_source: bool, warnings: list[str],
                manifest_path: Path, progress=None,
                table: ClassTable | None = None) -> ExportedImage:
    base = str(entry["base"])
    wh, ww = _working_shape(entry)
    working = entry["working"]
    scale = (float(working.get("scale_y", 1.0)), float(working.get("scale_x", 1.0)))
    tiles = _tile_entries(folder, entry)
    src = entry.get("source") or {}
    source_path = _matching_source(src, warnings) if use_source else None
    image, from_source, rgb = None, False, True
    from .image.pyramid import pyramid_levels

    if source_path is not None:
        try:
            from .image.open import open_image

            source = open_image(source_path)
            image, from_source = pyramid_levels(source, progress=progress), True
            rgb = len(source.shape) == 3 and source.shape[2] in (3, 4)
        except Exception as exc:  # fall back to the tiles; say why
            warnings.append(f"{source_path}: cannot open the source ({exc}); showing the tiles")
    if image is None:
        image = pyramid_levels(_MosaicSource(tiles, (wh, ww), manifest_path, base),
                               progress=progress)
    classes = TileClasses(table)
    labels, origin = _labels(tiles, (wh, ww), warnings, classes)
    return ExportedImage(base, (wh, ww), image, from_source, labels, origin, scale, tiles,
                         source_path, rgb, classes.table)


def _matching_source(src: dict, warnings: list[str]) -> Path | None:
    raw = src.get("path")
    if not isinstance(raw, str) or not raw:
        return None
    p = Path(raw)
    try:
        zarr_dir = p.is_dir() and any((p / n).exists() for n in (".zarray", ".zgroup", "zarr.json"))
        ok = p.is_file() or zarr_dir
        if not ok:
            return None
        if sampled_file_hash(p) != src.get("hash"):
            warnings.append(f"{p}: the source file changed since the export; showing the tiles")
            return None
    except OSError:
        return None
    return p


def _labels(tiles: list[TileEntry], shape, warnings: list[str], classes: TileClasses):
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


def iter_tile_masks(tiles: list[TileEntry], warnings: list[str],
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


def _tile_mask(t: TileEntry, warnings: list[str], classes: TileClasses) -> np.ndarray | None:
    if t.labels is not None and t.labels.is_file():
        doc = read_labels_json(t.labels)
        return classes.render(doc, (t.height, t.width), t.labels, warnings)
    if t.mask is not None and t.mask.is_file():
        from .labels.class_masks import decode_class_mask

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


def _read_png(path: Path, warnings: list[str] | None = None) -> np.ndarray | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    except Exception as exc:
        if warnings is not None:
            warnings.append(f"{path}: cannot read ({type(exc).__name__}: {exc})")
        return None


class _TileMosaic:
    """Array-like ``(h, w, 3)`` uint8 assembled from tile PNGs on demand (later tiles win)."""

    def __init__(self, tiles: list[TileEntry], shape: tuple[int, int]):
        self.tiles = sorted((t for t in tiles if t.tile is not None), key=lambda t: t.index)
        self.shape = (shape[0], shape[1], 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def _tile(self, t: TileEntry) -> np.ndarray | None:
        with self._lock:
            if t.index in self._cache:
                self._cache.move_to_end(t.index)
                return self._cache[t.index]
        arr = _read_png(t.tile) if t.tile.is_file() else None
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

    def __init__(self, tiles: list[TileEntry], shape: tuple[int, int], manifest: Path, base: str):
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
            image = _read_png(tile_path, warnings)
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
    t = TileEntry(index, stem, 0, 0, shape[0], shape[1], tile_path, None, path)
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
