"""An opened image (:class:`SourceImage`): lazy levels and region reads with bounded memory.

The format readers (:mod:`.tiff`, :mod:`.raster`, :mod:`.slides`,
:mod:`.zarr_image`) build a :class:`SourceImage` from :class:`RegionSource`
levels over planes (:class:`ZarrPlane` or their own); :func:`~.open.open_image`
picks the reader.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import PixelSize
from .colour import IntensityRange, intensity_range_for, to_rgb8

__all__ = ["ImageReadError", "SourceImage", "RegionSource", "ZarrPlane", "PixelConvert",
           "short_error", "BAND_CACHE_BYTES"]

#: Chunks bigger than this are never cached whole: row bands of them are.
_BIG_CHUNK_BYTES = 64 * 2**20
#: Most memory kept for recently read row bands of striped data.
BAND_CACHE_BYTES = 256 * 2**20


class ImageReadError(ValueError):
    """An image cannot be opened or read; the message names the file and the problem."""








# -- planes: one 2-D (or 2-D + colour) level of an image -----------------------
class ZarrPlane:
    """The ``(y, x[, c])`` plane of an n-D array-like (zarr, numpy) picked by an index.

    Parameters
    ----------
    array : zarr.Array or array-like
        The n-D data.
    index : tuple
        One entry per axis: an int for reduced axes, None for y, x and colour.
    channel_axis : int or None
        The colour axis of ``array``.
    yx_axes : (int, int)
        The y and x axes of ``array``.
    """

    def __init__(self, array, index: tuple, channel_axis: int | None, yx_axes: tuple[int, int]):
        self.array = array
        self.index = index
        self.channel_axis = channel_axis
        self.yx_axes = yx_axes
        shape = [array.shape[yx_axes[0]], array.shape[yx_axes[1]]]
        if channel_axis is not None:
            shape.append(array.shape[channel_axis])
        self.shape = tuple(shape)
        self.dtype = np.dtype(array.dtype)
        chunks = getattr(array, "chunks", None)
        if chunks is not None:  # zarr: ints; dask: a tuple of block sizes per axis
            chunks = tuple(c[0] if isinstance(c, tuple) else c for c in chunks)
        self.chunks = None if chunks is None else (chunks[yx_axes[0]], chunks[yx_axes[1]])

    def _kept_axes(self) -> list[int]:
        axes = list(self.yx_axes)
        if self.channel_axis is not None:
            axes.append(self.channel_axis)
        return axes

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        idx = list(self.index)
        idx[self.yx_axes[0]] = slice(y0, y1)
        idx[self.yx_axes[1]] = slice(x0, x1)
        if self.channel_axis is not None:
            idx[self.channel_axis] = slice(None)
        out = np.asarray(self.array[tuple(idx)])
        kept = sorted(self._kept_axes())
        order = [kept.index(a) for a in self._kept_axes()]
        return np.transpose(out, order) if order != sorted(order) else out

    def to_dask(self):
        """A dask array of the plane straight from zarr (None: not a zarr array)."""
        if not _is_zarr(self.array):
            return None
        import dask.array as da

        arr = da.from_zarr(self.array)
        arr = arr[tuple(slice(None) if i is None else i for i in self.index)]
        kept = sorted(self._kept_axes())
        order = [kept.index(a) for a in self._kept_axes()]
        return arr.transpose(order) if order != sorted(order) else arr


@dataclass(frozen=True)
class PixelConvert:
    """A per-pixel conversion applied after reading (colour interpretation).

    ``func(region) -> region`` maps a ``(y, x[, c])`` region of the stored
    values to what viewers show; ``channels`` and ``dtype`` describe its output.
    """

    func: Callable[[np.ndarray], np.ndarray]
    channels: int
    dtype: np.dtype
    rule: str


class RegionSource:
    """Reads ``[y0:y1, x0:x1]`` of one pyramid level as ``(y, x[, c])`` numpy.

    Caches: a plane without chunks (decoded whole) is kept once decoded; a
    plane stored as row strips keeps recent row bands (at most
    :data:`BAND_CACHE_BYTES`); a tiled one can keep recent chunks
    (:meth:`enable_chunk_cache`).
    """

    def __init__(self, plane, convert: PixelConvert | None = None):
        self.plane = plane
        self.convert = convert
        shape = tuple(plane.shape)
        dtype = np.dtype(plane.dtype)
        if convert is not None:
            shape = shape[:2] + ((convert.channels,) if convert.channels > 1 else ())
            dtype = np.dtype(convert.dtype)
        self.shape = shape
        self.dtype = dtype
        self.raw_shape = tuple(plane.shape)
        self.raw_dtype = np.dtype(plane.dtype)
        chunks = getattr(plane, "chunks", None)
        self._whole = None
        self._cache_whole = chunks is None and not getattr(plane, "region_reads", False)
        self._lock = threading.Lock()
        self._bands: OrderedDict = OrderedDict()
        self._band_rows = None
        self._band_bytes = 0
        self._chunk_shape = None
        self._chunks: OrderedDict = OrderedDict()
        self._chunk_budget = 0
        self._chunk_bytes = 0
        if chunks is not None:
            cy, cx = chunks
            self._chunk_shape = (cy, cx)
            if cx >= self.raw_shape[1] and cy < self.raw_shape[0]:  # strips: cache row bands
                self._band_rows = cy

    def whole(self) -> np.ndarray:
        """The whole level, decoded once and kept (for sources that cannot read regions)."""
        with self._lock:
            if self._whole is None:
                self._whole = self.plane.read(0, self.raw_shape[0], 0, self.raw_shape[1])
        return self._whole

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        raw = self.read_raw(y0, y1, x0, x1)
        return self.convert.func(raw) if self.convert is not None else raw

    def read_raw(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if self._cache_whole:
            return self.whole()[y0:y1, x0:x1]
        if self._band_rows:
            return self._read_banded(y0, y1, x0, x1)
        if self._chunk_budget:
            return self._read_cached_chunks(y0, y1, x0, x1)
        return self.plane.read(y0, y1, x0, x1)

    def enable_chunk_cache(self, max_bytes: int) -> None:
        """Keep up to ``max_bytes`` of recently decoded chunks (tiled files only).

        Worth it when reads overlap, as the margins of downsampled tiles do:
        without it, a 512 px tile at factor 3 decodes 25 chunks of 512 px where
        9 hold its own pixels.
        """
        if self._chunk_shape is not None and not self._band_rows and not self._cache_whole:
            self._chunk_budget = int(max_bytes)

    def _chunk(self, ky: int, kx: int) -> np.ndarray:
        with self._lock:
            hit = self._chunks.get((ky, kx))
            if hit is not None:
                self._chunks.move_to_end((ky, kx))
                return hit
        cy, cx = self._chunk_shape
        data = self.plane.read(ky * cy, min((ky + 1) * cy, self.raw_shape[0]),
                               kx * cx, min((kx + 1) * cx, self.raw_shape[1]))
        with self._lock:
            if (ky, kx) not in self._chunks:
                self._chunks[(ky, kx)] = data
                self._chunk_bytes += data.nbytes
                while self._chunk_bytes > self._chunk_budget and len(self._chunks) > 1:
                    self._chunk_bytes -= self._chunks.popitem(last=False)[1].nbytes
        return data

    def _read_cached_chunks(self, y0, y1, x0, x1):
        cy, cx = self._chunk_shape
        out = np.empty((y1 - y0, x1 - x0) + self.raw_shape[2:], self.raw_dtype)
        for ky in range(y0 // cy, (y1 - 1) // cy + 1):
            for kx in range(x0 // cx, (x1 - 1) // cx + 1):
                chunk = self._chunk(ky, kx)
                ya, yb = max(y0, ky * cy), min(y1, ky * cy + chunk.shape[0])
                xa, xb = max(x0, kx * cx), min(x1, kx * cx + chunk.shape[1])
                out[ya - y0 : yb - y0, xa - x0 : xb - x0] = chunk[ya - ky * cy : yb - ky * cy,
                                                                  xa - kx * cx : xb - kx * cx]
        return out

    def _band(self, by0: int, by1: int) -> np.ndarray:
        key = (by0, by1)
        with self._lock:
            band = self._bands.get(key)
            if band is not None:
                self._bands.move_to_end(key)
                return band
        band = self.plane.read(by0, by1, 0, self.raw_shape[1])
        with self._lock:
            if key not in self._bands:
                self._bands[key] = band
                self._band_bytes += band.nbytes
                while self._band_bytes > BAND_CACHE_BYTES and len(self._bands) > 1:
                    self._band_bytes -= self._bands.popitem(last=False)[1].nbytes
        return band

    def _read_banded(self, y0, y1, x0, x1):
        b = self._band_rows
        first, last = y0 // b, (y1 - 1) // b
        if first == last:
            by0 = first * b
            return self._band(by0, min(self.raw_shape[0], by0 + b))[y0 - by0 : y1 - by0, x0:x1]
        out = np.empty((y1 - y0, x1 - x0) + self.raw_shape[2:], self.raw_dtype)
        for k in range(first, last + 1):
            by0 = k * b
            band = self._band(by0, min(self.raw_shape[0], by0 + b))
            ya, yb = max(y0, by0), min(y1, by0 + band.shape[0])
            out[ya - y0 : yb - y0] = band[ya - by0 : yb - by0, x0:x1]
        return out

    def to_dask(self):
        import dask.array as da

        if self.convert is None and not self._cache_whole:
            direct = getattr(self.plane, "to_dask", lambda: None)()
            if direct is not None:
                return direct
        chunks = self._chunk_shape or (1024, 1024)
        cy, cx = (min(max(c, 256), 2048) for c in chunks)
        chunk = (cy, cx) + ((self.shape[2],) if len(self.shape) == 3 else ())
        return da.from_array(_LevelArray(self), chunks=chunk, asarray=False, fancy=False)


class _LevelArray:
    """Array-like over a level's region reads (for dask)."""

    def __init__(self, source: RegionSource):
        self.source = source
        self.shape = source.shape
        self.dtype = source.dtype
        self.ndim = len(source.shape)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        ys, xs = key[0], key[1]
        y0, y1, _ = ys.indices(self.shape[0])
        x0, x1, _ = xs.indices(self.shape[1])
        out = self.source.read(y0, y1, x0, x1) if (y1 > y0 and x1 > x0) else \
            np.zeros((max(0, y1 - y0), max(0, x1 - x0)) + self.shape[2:], self.dtype)
        return out[(slice(None), slice(None)) + tuple(key[2:])] if len(key) > 2 else out


def _is_zarr(array) -> bool:
    return type(array).__module__.startswith("zarr")


@dataclass
class SourceImage:
    """An opened image: lazy levels plus fast region reads of level 0.

    Attributes
    ----------
    path : Path
        The file or folder opened.
    format : str
        ``"tiff"``, ``"zarr"`` or the Pillow format name (``"PNG"``, ``"JPEG"``...).
    notes : list of str
        Things the user should know (a plane picked from a stack, ...).
    pixel_size : PixelSize or None
        Physical size of a level-0 pixel in micrometres, and where it came
        from (file metadata, or set with :meth:`set_pixel_size`); None when
        the file does not say.
    colour : str or None
        The colour interpretation applied to the stored values (for example
        ``"MinIsWhite: inverted"``); None when the values are shown as stored.
    series : int or None
        Which image series of a file holding several was opened
        (:mod:`.series`); None for a file of one image.
    """

    path: Path
    format: str
    _levels: list[RegionSource] = field(repr=False)
    notes: list[str] = field(default_factory=list)
    _closers: list = field(default_factory=list, repr=False)
    _intensity: IntensityRange | None = field(default=None, repr=False)
    pixel_size: PixelSize | None = None
    colour: str | None = None
    series: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """Full-resolution shape, ``(y, x)`` or ``(y, x, c)``."""
        return self._levels[0].shape

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def dtype(self) -> np.dtype:
        return self._levels[0].dtype

    @property
    def n_levels(self) -> int:
        return len(self._levels)

    def level_shape(self, level: int) -> tuple[int, ...]:
        return self._levels[level].shape

    def set_pixel_size(self, um: float | tuple[float, float] | PixelSize | None,
                       origin: str = "set by the user") -> None:
        """Set or override the pixel size (``um``: micrometres, one value or ``(y, x)``)."""
        if um is None or isinstance(um, PixelSize):
            self.pixel_size = um
            return
        y, x = (um, um) if np.isscalar(um) else um
        self.pixel_size = PixelSize.checked(float(x), float(y), origin)

    def enable_chunk_cache(self, max_bytes: int) -> None:
        """Cache decoded chunks of level 0 for overlapping reads (see ``RegionSource``)."""
        self._levels[0].enable_chunk_cache(max_bytes)

    def levels(self) -> list:
        """The pyramid as a list of lazy dask arrays, full resolution first."""
        return [lv.to_dask() for lv in self._levels]

    def read_region(self, y: int, x: int, height: int, width: int, *, level: int = 0) -> np.ndarray:
        """Read a box of the image; parts outside it are zero (as Pillow's ``crop`` pads).

        Raises
        ------
        ImageReadError
            When the file's data cannot be decoded (truncated, corrupt).
        """
        src = self._levels[level]
        h, w = src.shape[:2]
        y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + height, h), min(x + width, w)
        try:
            inner = src.read(y0, y1, x0, x1) if (y1 > y0 and x1 > x0) else None
        except ImageReadError:
            raise
        except Exception as exc:  # decoder errors come in many types
            raise ImageReadError(f"{self.path}: cannot decode pixel data ({short_error(exc)})") from exc
        if inner is not None and (y0, x0, y1, x1) == (y, x, y + height, x + width):
            return inner
        out = np.zeros((height, width) + src.shape[2:], dtype=src.dtype)
        if inner is not None:
            out[y0 - y : y1 - y, x0 - x : x1 - x] = inner
        return out

    def sample(self, max_side: int = 2048, window: int = 256) -> np.ndarray:
        """A small view of the whole image, for image-wide statistics.

        The smallest pyramid level whose longer side is at least ``max_side / 2``
        when the file has one that fits; otherwise a mosaic of evenly spaced
        ``window``-sized crops of level 0 (never the whole image).
        """
        for k in range(self.n_levels - 1, -1, -1):
            shp = self._levels[k].shape
            if max(shp[:2]) <= max_side and (k == 0 or max(shp[:2]) >= max_side // 2):
                return self.read_region(0, 0, shp[0], shp[1], level=k)
        n = max(1, max_side // window)
        ys = np.linspace(0, max(0, self.height - window), n).astype(int)
        xs = np.linspace(0, max(0, self.width - window), n).astype(int)
        rows = [np.concatenate([self.read_region(y, x, window, window) for x in xs], axis=1)
                for y in ys]
        return np.concatenate(rows, axis=0)

    def set_intensity_range(self, intensity: IntensityRange | None) -> None:
        """Use ``intensity`` as the image-wide mapping (e.g. the one another process computed)."""
        self._intensity = intensity

    def intensity_range(self) -> IntensityRange:
        """The image-wide intensity mapping used by :func:`to_rgb8` (computed once)."""
        if self._intensity is None:
            if self.dtype == np.uint8:
                self._intensity = IntensityRange(0.0, 255.0, "uint8")
            elif self.dtype == np.bool_:
                self._intensity = IntensityRange(0.0, 1.0, "bilevel")
            else:
                self._intensity = intensity_range_for(self.sample(), self.dtype)
        return self._intensity

    def read_rgb(self, y: int, x: int, height: int, width: int) -> np.ndarray:
        """:meth:`read_region` converted to RGB uint8 by the documented rule."""
        region = self.read_region(y, x, height, width)
        if region.dtype in (np.uint8, np.bool_):
            return to_rgb8(region)
        return to_rgb8(region, self.intensity_range())

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> SourceImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__












