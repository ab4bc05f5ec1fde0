"""Entry points: measure the fibres of a class map, of tiles, or of an export folder.

* :func:`measure_export` -- an export folder's corrected tiles (what
  ``napari-axons morphometrics EXPORT`` calls);
* :func:`measure_tiles` -- any :class:`~.source.TileSource` (a session's tiles, ...);
* :func:`measure_class_map` -- a class map already whole (NumPy, Zarr, a mask store).

All return a :class:`~.table.FibreTable`. :func:`iter_fibres` is the streaming
core they share: per block, the pixel rows and (optionally) the outlines.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import shapely

from ..common import ClassTable
from .engine import BlockResult, block_boxes, iter_blocks
from .errors import FibreInputError
from .export_tiles import open_export
from .measure import PIXEL_COLUMNS, empty_rows
from .source import CompositeMap, SlideFrame, TileSource, composite
from .split import SPLITS
from .table import FibreTable

__all__ = ["DEFAULT_MAX_SHEATH_UM", "class_indices", "iter_fibres", "measure_class_map",
           "measure_export", "measure_tiles", "open_export_map", "region_box"]

#: The thickest myelin sheath looked for, in micrometres (myelin farther than this from
#: every axon belongs to no fibre). Sheaths of the largest fibres are about 3 um.
DEFAULT_MAX_SHEATH_UM = 4.0

Progress = Callable[[int, int], None]


def class_indices(classes: ClassTable, where: str = "input") -> tuple[int, int]:
    """The class indices of ``axon`` and ``myelin`` in a class table.

    Raises
    ------
    FibreInputError
        One line naming ``where`` and the classes it has, when either is missing.
    """
    missing = [n for n in ("axon", "myelin") if n not in classes.names[1:]]
    if missing:
        have = ", ".join(classes.foreground) or "none"
        raise FibreInputError(f"{where}: no class named {' or '.join(repr(m) for m in missing)} "
                              f"(its classes: {have}); fibre morphometrics need classes named "
                              "'axon' and 'myelin'")
    return classes.index_of("axon"), classes.index_of("myelin")


def region_box(region, shape: tuple[int, int], scale: tuple[float, float] = (1.0, 1.0),
               where: str = "region") -> tuple[int, int, int, int]:
    """A region ``(y0, x0, y1, x1)`` in full-resolution slide pixels as class-map pixels.

    None gives the whole slide. The box is widened to whole class-map pixels
    and clipped to the slide.

    Raises
    ------
    FibreInputError
        A region that is not four numbers or holds no pixel of the slide.
    """
    h, w = shape
    if region is None:
        return 0, 0, h, w
    try:
        y0, x0, y1, x1 = (float(v) for v in region)
    except (TypeError, ValueError):
        raise FibreInputError(f"{where}: expected (y0, x0, y1, x1), got {region!r}") from None
    sy, sx = scale
    box = (max(0, math.floor(y0 / sy)), max(0, math.floor(x0 / sx)),
           min(h, math.ceil(y1 / sy)), min(w, math.ceil(x1 / sx)))
    if box[2] <= box[0] or box[3] <= box[1]:
        raise FibreInputError(f"{where}: {region!r} holds no pixel of the "
                              f"{w * sx:.0f} x {h * sy:.0f} slide")
    return box


class _Region:
    """A window of an array-like, itself array-like (slicing with plain ranges)."""

    def __init__(self, array, box):
        self.array, self.box = array, box
        self.shape = (box[2] - box[0], box[3] - box[1])

    def __getitem__(self, key):
        ys, xs = key
        y0, x0 = self.box[0], self.box[1]
        return np.asarray(self.array[ys.start + y0: ys.stop + y0, xs.start + x0: xs.stop + x0])


def iter_fibres(class_map, classes: ClassTable, *, pixel_size_um: float,
                box: tuple[int, int, int, int] | None = None,
                max_sheath_um: float = DEFAULT_MAX_SHEATH_UM, split: str = "sheath",
                block: int = 2048, halo: int | None = None, outlines: bool = False,
                progress: Progress | None = None,
                where: str = "input") -> Iterator[BlockResult]:
    """The fibres of a class map, block by block (:func:`~.engine.iter_blocks`).

    Rows and outlines are in class-map pixels of the whole map (``box``'s
    origin added). Parameters as :func:`measure_class_map`.
    """
    axon, myelin = class_indices(classes, where)
    _check(pixel_size_um, max_sheath_um, split, block)
    h, w = (int(v) for v in class_map.shape[:2])
    box = (0, 0, h, w) if box is None else tuple(int(v) for v in box)
    view = class_map if box == (0, 0, h, w) else _Region(class_map, box)
    oy, ox = box[0], box[1]
    for res in iter_blocks(view, axon=axon, myelin=myelin, reach=max_sheath_um / pixel_size_um,
                           block=block, halo=halo, split=split, outlines=outlines,
                           progress=progress):
        if oy or ox:
            r = res.rows
            for c in ("anchor_y", "y0", "y1"):
                r[c] = r[c] + oy
            for c in ("anchor_x", "x0", "x1"):
                r[c] = r[c] + ox
            r["cy"] = r["cy"] + oy
            r["cx"] = r["cx"] + ox
            if res.outlines:
                res.outlines = [shapely.transform(g, lambda p: p + np.array([ox, oy]))
                                for g in res.outlines]
            y0, x0, y1, x1 = res.box
            res.box = (y0 + oy, x0 + ox, y1 + oy, x1 + ox)
        yield res


def measure_class_map(class_map, classes: ClassTable, *, pixel_size_um: float,
                      scale: tuple[float, float] = (1.0, 1.0), region=None,
                      max_sheath_um: float = DEFAULT_MAX_SHEATH_UM, split: str = "sheath",
                      block: int = 2048, halo: int | None = None, name: str = "",
                      progress: Progress | None = None) -> FibreTable:
    """Measure every fibre of a class map.

    Parameters
    ----------
    class_map : array-like
        ``(H, W)`` class indices (NumPy, Zarr, :class:`~.source.CompositeMap`),
        read window by window.
    classes : ClassTable
        Must name ``axon`` and ``myelin``.
    pixel_size_um : float
        Side of a class-map pixel in micrometres.
    scale : tuple of float
        Full-resolution slide pixels per class-map pixel ``(sy, sx)``.
    region : tuple of float, optional
        ``(y0, x0, y1, x1)`` in full-resolution slide pixels: measure only
        there (fibres cut by its edge are cut, and flagged ``touches_border``).
    max_sheath_um : float
        Thickest sheath looked for (the split's reach).
    split : str
        ``"sheath"`` (default) or ``"nearest"`` (:data:`~.split.SPLITS`).
    block, halo : int
        Block side and first halo in class-map pixels (speed and memory only:
        the result does not depend on them).
    name : str
        The slide's name for messages.
    progress : callable, optional
        ``progress(done, total)`` per block.

    Returns
    -------
    FibreTable

    Raises
    ------
    FibreInputError
        No axon or myelin class, a pixel size or sheath that is not a positive
        number, an unknown split, or a region outside the map.
    """
    where = name or "input"
    shape = tuple(int(v) for v in class_map.shape[:2])
    box = region_box(region, shape, scale, where)
    frame = SlideFrame(float(pixel_size_um), tuple(float(v) for v in scale), name)
    parts, n_axon, n_myelin = [], 0, 0
    for res in iter_fibres(class_map, classes, pixel_size_um=pixel_size_um, box=box,
                           max_sheath_um=max_sheath_um, split=split, block=block, halo=halo,
                           progress=progress, where=where):
        parts.append(res.rows)
        n_axon += res.axon_pixels
        n_myelin += res.myelin_pixels
    rows = ({c: np.concatenate([p[c] for p in parts]) for c in PIXEL_COLUMNS}
            if parts else empty_rows(0))
    return FibreTable.from_pixel_rows(rows, pixel_size_um=pixel_size_um, frame=frame,
                                      area_box=box, axon_pixels=n_axon, myelin_pixels=n_myelin,
                                      reach_um=float(max_sheath_um), split=split)


def measure_tiles(source: TileSource, frame: SlideFrame, *, region=None,
                  max_sheath_um: float = DEFAULT_MAX_SHEATH_UM, split: str = "sheath",
                  block: int = 2048, halo: int | None = None,
                  tmp_dir: str | os.PathLike | None = None,
                  progress: Progress | None = None) -> FibreTable:
    """Measure every fibre of a tiled slide (tiles laid down in order, later tiles winning).

    The tiles are first put back together on disk (:func:`~.source.composite`,
    one tile in memory), then measured as :func:`measure_class_map`; a fibre
    cut by tile borders is measured once, whole.

    Parameters
    ----------
    source : TileSource
    frame : SlideFrame
        Its pixel size (required) and scale.
    tmp_dir : path, optional
        Where the temporary class map goes.
    progress : callable, optional
        ``progress(done, total)``: tiles, then blocks.

    Other parameters as :func:`measure_class_map`.

    Raises
    ------
    FibreInputError
        No pixel size, no axon or myelin class, ...
    """
    where = frame.name or "input"
    if frame.pixel_size_um is None:
        raise FibreInputError(f"{where}: no pixel size; give one in micrometres "
                              "(--pixel-size UM)")
    _check(frame.pixel_size_um, max_sheath_um, split, block)
    if _table_known(source):
        class_indices(source.classes, where)  # fail before reading any tile
    y0, x0, y1, x1 = region_box(region, source.shape, frame.scale, where)
    n_blocks = len(block_boxes((y1 - y0, x1 - x0), block))
    n_tiles = len(source.boxes)
    tile_progress = None if progress is None else (lambda d, t: progress(d, n_tiles + n_blocks))
    with composite(source, tmp_dir=tmp_dir, progress=tile_progress) as cmap:
        block_progress = (None if progress is None
                          else (lambda d, t: progress(n_tiles + d, n_tiles + n_blocks)))
        table = measure_class_map(cmap, source.classes, pixel_size_um=frame.pixel_size_um,
                                  scale=frame.scale, region=region, max_sheath_um=max_sheath_um,
                                  split=split, block=block, halo=halo, name=frame.name,
                                  progress=block_progress)
    table.frame = frame
    table.warnings.extend(getattr(source, "warnings", []))
    return table


def measure_export(path: str | os.PathLike, *, pixel_size_um: float | None = None,
                   image: str | None = None, region=None,
                   max_sheath_um: float = DEFAULT_MAX_SHEATH_UM, split: str = "sheath",
                   block: int = 2048, tmp_dir: str | os.PathLike | None = None,
                   progress: Progress | None = None) -> FibreTable:
    """Measure every fibre of an export folder's corrected tiles.

    Parameters
    ----------
    path : path
        The export folder (or its ``manifest.json``).
    pixel_size_um : float, optional
        The full-resolution slide's pixel size in micrometres, overriding the
        manifest's (needed when the manifest has none).
    image : str, optional
        The image's base name, when the export holds several.
    region : tuple of float, optional
        ``(y0, x0, y1, x1)`` in full-resolution slide pixels.
    max_sheath_um, split, block, tmp_dir, progress
        As :func:`measure_tiles`.

    Returns
    -------
    FibreTable

    Raises
    ------
    ManifestError
        A missing or malformed manifest.
    FibreInputError
        No pixel size, no axon or myelin class, no such image, ... (one line).
    """
    source, frame = open_export(path, image=image, pixel_size_um=pixel_size_um)
    frame = SlideFrame(frame.pixel_size_um, frame.scale, frame.name or str(path))
    if frame.pixel_size_um is None:
        raise FibreInputError(f"{path}: the export records no pixel size; give one in "
                              "micrometres (--pixel-size UM)")
    return measure_tiles(source, frame, region=region, max_sheath_um=max_sheath_um, split=split,
                         block=block, tmp_dir=tmp_dir, progress=progress)


def open_export_map(path: str | os.PathLike, *, pixel_size_um: float | None = None,
                    image: str | None = None, tmp_dir: str | os.PathLike | None = None,
                    progress: Progress | None = None
                    ) -> tuple[CompositeMap, ClassTable, SlideFrame, list[str]]:
    """An export's class map put back together on disk (close it when done), its
    classes, frame and warnings: for several passes over one export."""
    source, frame = open_export(path, image=image, pixel_size_um=pixel_size_um)
    frame = SlideFrame(frame.pixel_size_um, frame.scale, frame.name or str(Path(path)))
    if frame.pixel_size_um is None:
        raise FibreInputError(f"{path}: the export records no pixel size; give one in "
                              "micrometres (--pixel-size UM)")
    if _table_known(source):
        class_indices(source.classes, frame.name)
    cmap = composite(source, tmp_dir=tmp_dir, progress=progress)
    return cmap, source.classes, frame, list(source.warnings)


def _table_known(source) -> bool:
    """Whether the source's class table is final before its tiles are read (optional
    ``classes_known`` attribute of a source; an export without a class table builds
    it from its label files)."""
    return bool(getattr(source, "classes_known", True))


def _check(pixel_size_um, max_sheath_um, split, block) -> None:
    for what, v in (("pixel size", pixel_size_um), ("maximum sheath thickness", max_sheath_um)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise FibreInputError(f"{what} must be a positive number of micrometres, got {v!r}")
    if split not in SPLITS:
        raise FibreInputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise FibreInputError(f"block must be a positive integer (pixels), got {block!r}")
