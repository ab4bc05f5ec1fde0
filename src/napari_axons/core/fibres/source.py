"""Where the fibres' class map comes from: tiles, put back together into one slide.

A :class:`TileSource` is what the fibre engine needs from an export, a session
or any other producer of tiled class maps: the slide's size, the class table,
the tiles' boxes, and the tiles' class maps one at a time. Boxes are in the
pixels of the class maps (an export's *working* image: the slide itself, or
the slide downsampled; :class:`SlideFrame` maps them to full-resolution slide
pixels and micrometres). Tiles may overlap (the seed grid's shifted edge
tiles, ``--overlap``) and may hang over the slide's top-left edge; where tiles
overlap, the **later tile wins**, the rule of the export's read-back.

:func:`composite` lays the tiles, in order, into one on-disk Zarr array (a
temporary folder, chunked, compressed): the slide's class map as if it had
never been cut, read back window by window by :mod:`.engine`. Memory: one tile.
:class:`ArrayTiles` cuts an in-memory class map on the seed grid (tests, small
images).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import zarr

from ..common import ClassTable
from ..geometry import TileGrid

__all__ = ["ArrayTiles", "CompositeMap", "SlideFrame", "TileSource", "composite"]


@runtime_checkable
class TileSource(Protocol):
    """Tiled class maps of one slide.

    Attributes
    ----------
    shape : tuple of int
        ``(height, width)`` of the slide in class-map pixels.
    classes : ClassTable
        What the class maps' values mean (index 0 background).
    boxes : sequence of tuple of int
        ``(y, x, height, width)`` of each tile in class-map pixels, in the order
        in which they are laid down (later tiles win where they overlap); ``y``
        or ``x`` is negative for a tile hanging over the top or left edge.

    Methods
    -------
    class_maps()
        Yields ``(k, class_map)`` for the tiles in order: ``k`` indexes
        :attr:`boxes`, ``class_map`` is a ``(height, width)`` integer array of
        class indices, or None for a tile without masks (left as background).
    """

    shape: tuple[int, int]
    classes: ClassTable
    boxes: Sequence[tuple[int, int, int, int]]

    def class_maps(self) -> Iterator[tuple[int, np.ndarray | None]]:
        ...


@dataclass(frozen=True)
class SlideFrame:
    """How class-map pixels relate to the full-resolution slide and to micrometres.

    Attributes
    ----------
    pixel_size_um : float or None
        Side of a class-map pixel in micrometres (None: unknown).
    scale : tuple of float
        Full-resolution slide pixels per class-map pixel ``(sy, sx)`` (1, 1
        without downsampling). Class-map pixel ``[r, c]`` covers the slide square
        ``[c * sx, (c + 1) * sx] x [r * sy, (r + 1) * sy]``.
    name : str
        The slide's name, for messages and the summary.
    """

    pixel_size_um: float | None = None
    scale: tuple[float, float] = (1.0, 1.0)
    name: str = ""


class ArrayTiles:
    """An in-memory class map cut on the seed grid (:class:`~napari_axons.core.geometry.TileGrid`).

    Parameters
    ----------
    class_map : numpy.ndarray
        ``(H, W)`` integer class map.
    classes : ClassTable
    tile_size, overlap : int
        The grid (shifted edge tiles included).
    """

    def __init__(self, class_map: np.ndarray, classes: ClassTable, *, tile_size: int = 512,
                 overlap: int = 0):
        self.class_map = np.asarray(class_map)
        if self.class_map.ndim != 2:
            raise ValueError(f"a class map must be 2-D (rows, columns), got shape "
                             f"{self.class_map.shape}")
        self.shape = tuple(int(v) for v in self.class_map.shape)
        self.classes = classes
        grid = TileGrid.from_shape(*self.shape, tile_size=tile_size, overlap=overlap)
        self.boxes = [(t.y, t.x, t.height, t.width) for t in grid]

    def class_maps(self) -> Iterator[tuple[int, np.ndarray | None]]:
        h, w = self.shape
        for k, (y, x, th, tw) in enumerate(self.boxes):
            out = np.zeros((th, tw), self.class_map.dtype)
            y0, x0 = max(y, 0), max(x, 0)
            y1, x1 = min(y + th, h), min(x + tw, w)
            out[y0 - y: y1 - y, x0 - x: x1 - x] = self.class_map[y0:y1, x0:x1]
            yield k, out


class CompositeMap:
    """A slide's class map laid down from its tiles into a temporary Zarr array.

    Array-like: ``shape``, ``dtype`` and ``[y0:y1, x0:x1]`` (NumPy uint8). Use
    as a context manager, or call :meth:`close` to delete the folder.
    """

    def __init__(self, array, folder: Path):
        self._array = array
        self.folder = folder
        self.shape = tuple(int(v) for v in array.shape)
        self.dtype = np.dtype(np.uint8)

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self._array[key])

    def close(self) -> None:
        """Delete the temporary folder."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> CompositeMap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def composite(source: TileSource, *, chunk: int = 512, tmp_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None) -> CompositeMap:
    """Lay a source's tiles down, in order, into one on-disk class map.

    Parameters
    ----------
    source : TileSource
    chunk : int
        Zarr chunk side in pixels.
    tmp_dir : path, optional
        Where the temporary folder goes (default: the system's).
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    CompositeMap
        uint8 class indices; pixels no tile covers are 0.

    Raises
    ------
    ValueError
        A class map whose shape is not its box's, or with values above 255.
    """
    h, w = (int(v) for v in source.shape)
    folder = Path(tempfile.mkdtemp(prefix="napari-axons-fibres-", dir=tmp_dir))
    try:
        array = zarr.create_array(str(folder / "classes.zarr"), shape=(h, w),
                                  chunks=(min(chunk, h), min(chunk, w)), dtype="uint8",
                                  fill_value=0)
        boxes = list(source.boxes)
        for done, (k, cmap) in enumerate(source.class_maps(), start=1):
            if cmap is not None:
                y, x, th, tw = boxes[k]
                cmap = np.asarray(cmap)
                if cmap.shape != (th, tw):
                    raise ValueError(f"tile {k}: class map is {cmap.shape[1]} x {cmap.shape[0]}, "
                                     f"its box {tw} x {th}")
                if cmap.size and int(cmap.max()) > 255:
                    raise ValueError(f"tile {k}: class index {int(cmap.max())} above 255")
                y0, x0 = max(y, 0), max(x, 0)
                y1, x1 = min(y + th, h), min(x + tw, w)
                if y1 > y0 and x1 > x0:
                    array[y0:y1, x0:x1] = cmap[y0 - y: y1 - y, x0 - x: x1 - x].astype(np.uint8)
            if progress is not None:
                progress(done, len(boxes))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return CompositeMap(array, folder)
