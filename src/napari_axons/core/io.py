"""Open any supported image lazily and read regions of it.

Supported: TIFF / BigTIFF / OME-TIFF / SVS / NDPI (tiled or striped, with or
without a pyramid; :mod:`napari_axons.core.tiff`), Zarr / OME-Zarr 0.1-0.5,
and everything Pillow decodes (PNG, JPEG, ...; :mod:`napari_axons.core.raster`).

Memory: every layout is read with peak memory bounded independently of the
image's size.

* Tiled TIFF and Zarr are read chunk by chunk through ``zarr``.
* Uncompressed TIFF strips (one strip for the whole image included, as ImageJ
  writes) are read row by row straight from the file (``os.pread``), so a
  20000 x 20000 one-strip file is never held in memory.
* Compressed TIFF strips are decoded one strip at a time; recent row bands are
  cached.
* PNG and JPEG that are small (decoded size up to :data:`WHOLE_DECODE_MAX_BYTES`)
  are decoded once, on first access, and kept in memory while the image is open.
  Larger ones are decoded once, band by band, into a chunked Zarr store in the
  cache folder (:mod:`napari_axons.core.raster`), then read by region.

Axes rule (the same for every format): images are exposed as ``(y, x)`` or
``(y, x, c)``.

* Axis names come from the file: OME-TIFF / ImageJ / tifffile metadata, and
  OME-Zarr ``multiscales`` (0.3 and later name their axes; 0.1 and 0.2 are
  always ``t, c, z, y, x``).
* Files without axis names (plain Zarr arrays, plain TIFF stacks): the last two
  axes are ``y, x``, except that a last axis of 3 or 4 entries is the colour
  axis and the two before it are ``y, x``. A TIFF's samples (RGB) axis is known
  from the file itself.
* The colour axis is the TIFF samples axis, else the channel axis ``c``.
* Every other axis (time, z, a page of a stack, an unnamed one) is reduced to
  its *first* plane, and :attr:`SourceImage.notes` says so.

Colour interpretation of TIFF files (MinIsWhite, bilevel, palette, CMYK,
YCbCr, ...) is applied as Pillow/libtiff viewers apply it: see
:mod:`napari_axons.core.tiff`.

Conversion to RGB (:func:`to_rgb8`), the rule used for the model and the tile
PNGs:

* 8-bit: gray is replicated to three channels, RGB is kept, a fourth channel
  (alpha) is dropped, as Pillow's ``convert("RGB")`` does; Pillow palette,
  CMYK, YCbCr and LA images are converted by Pillow when decoded.
* More than 8 bits (uint16, int32, float): a linear stretch of
  ``[low, high]`` to ``[0, 255]`` with clipping, where ``low``/``high`` are the
  0.1th and 99.9th percentiles of a sample of the *whole* image, computed once
  (:meth:`SourceImage.intensity_range`), so that all tiles agree.
  Float images already in ``[0, 1]`` are scaled by 255. NaN becomes 0. Never
  wrap-around.
* Two channels: the first is used as gray. More than four: the first three.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import PixelSize

__all__ = [
    "ImageReadError",
    "SourceImage",
    "open_image",
    "to_rgb8",
    "IntensityRange",
    "PixelSize",
    "reduce_axes",
]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".ome.tif", ".ome.tiff", ".svs", ".ndpi")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".jp2")
#: Chunks bigger than this are never cached whole: row bands of them are.
_BIG_CHUNK_BYTES = 64 * 2**20
#: Most memory kept for recently read row bands of striped data.
BAND_CACHE_BYTES = 256 * 2**20


class ImageReadError(ValueError):
    """An image cannot be opened or read; the message names the file and the problem."""


@dataclass(frozen=True)
class IntensityRange:
    """Linear intensity mapping ``[low, high] -> [0, 255]`` (see :func:`to_rgb8`)."""

    low: float
    high: float
    rule: str

    def as_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "rule": self.rule}


def to_rgb8(region: np.ndarray, intensity: IntensityRange | None = None) -> np.ndarray:
    """Convert a ``(y, x)`` or ``(y, x, c)`` region to RGB uint8 ``(y, x, 3)``.

    Parameters
    ----------
    region : ndarray
        Pixels in any dtype.
    intensity : IntensityRange, optional
        Required for non-uint8 data (see the module docstring for the rule).
    """
    if region.ndim == 3:
        c = region.shape[2]
        if c == 1 or c == 2:
            region = region[..., 0]
        elif c >= 3:
            region = region[..., :3]
    if region.dtype == np.bool_:
        region = region.view(np.uint8) * np.uint8(255)
    elif region.dtype != np.uint8:
        if intensity is None:
            intensity = _range_for(region, None)
        lo, hi = intensity.low, intensity.high
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # inf and huge floats saturate
            out = (region.astype(np.float32) - np.float32(lo)) * np.float32(scale)
            out = np.clip(out + 0.5, 0, 255, out=out)
        if region.dtype.kind == "f":
            out = np.nan_to_num(out, nan=0.0, copy=False)  # no cast warning, NaN -> 0
        region = out.astype(np.uint8)
    if region.ndim == 2:
        region = np.repeat(region[..., None], 3, axis=2)
    return np.ascontiguousarray(region)


def _range_for(sample: np.ndarray, dtype) -> IntensityRange:
    dtype = np.dtype(dtype or sample.dtype)
    if dtype == np.uint8:
        return IntensityRange(0.0, 255.0, "uint8")
    if dtype == np.bool_:
        return IntensityRange(0.0, 1.0, "bilevel")
    finite = sample[np.isfinite(sample)] if dtype.kind == "f" else sample.ravel()
    if finite.size == 0:
        return IntensityRange(0.0, 1.0, "empty")
    if dtype.kind == "f" and finite.min() >= 0 and finite.max() <= 1:
        return IntensityRange(0.0, 1.0, "float in [0, 1]: x 255")
    lo, hi = np.percentile(finite, [0.1, 99.9])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    return IntensityRange(float(lo), float(hi), "percentiles 0.1-99.9 of a whole-image sample")


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


class _RegionSource:
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

    def __init__(self, source: _RegionSource):
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
    """

    path: Path
    format: str
    _levels: list[_RegionSource] = field(repr=False)
    notes: list[str] = field(default_factory=list)
    _closers: list = field(default_factory=list, repr=False)
    _intensity: IntensityRange | None = field(default=None, repr=False)
    pixel_size: PixelSize | None = None
    colour: str | None = None

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
        """Cache decoded chunks of level 0 for overlapping reads (see ``_RegionSource``)."""
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
            raise ImageReadError(f"{self.path}: cannot decode pixel data ({_short(exc)})") from exc
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

    def intensity_range(self) -> IntensityRange:
        """The image-wide intensity mapping used by :func:`to_rgb8` (computed once)."""
        if self._intensity is None:
            if self.dtype == np.uint8:
                self._intensity = IntensityRange(0.0, 255.0, "uint8")
            elif self.dtype == np.bool_:
                self._intensity = IntensityRange(0.0, 1.0, "bilevel")
            else:
                self._intensity = _range_for(self.sample(), self.dtype)
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


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def open_image(path: str | Path, *, pixel_size: float | PixelSize | None = None) -> SourceImage:
    """Open an image lazily.

    Parameters
    ----------
    path : str or Path
        A TIFF/BigTIFF/OME-TIFF/SVS/NDPI file, a Zarr/OME-Zarr folder, or a
        file Pillow reads.
    pixel_size : float or PixelSize, optional
        Pixel size in micrometres that overrides the file's (``--pixel-size``).

    Returns
    -------
    SourceImage

    Raises
    ------
    ImageReadError
        One line naming the file and the problem (missing, a folder that is not
        Zarr, empty, truncated, not an image, too large, ...).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    if path.is_dir():
        if _looks_like_zarr(path):
            from .zarr_image import open_zarr

            source = open_zarr(path)
        else:
            raise ImageReadError(
                f"{path}: is a folder, not an image (only Zarr folders can be opened)")
    else:
        source = _open_file(path)
    if pixel_size is not None:
        source.set_pixel_size(pixel_size, "--pixel-size")
    return source


def _open_file(path: Path) -> SourceImage:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        from .tiff import open_tiff

        return open_tiff(path, size)
    if path.name.lower().endswith(TIFF_SUFFIXES):
        raise ImageReadError(f"{path}: not a TIFF file (the file's header is not a TIFF header)")
    from .slides import slide_reader_for

    other = slide_reader_for(path)
    if other is not None:
        return other(path)
    from .raster import open_raster

    return open_raster(path)


def _looks_like_zarr(path: Path) -> bool:
    return any((path / n).exists() for n in ("zarr.json", ".zarray", ".zgroup"))


#: Axis letters that mean "not named by the file" (tifffile: Q unknown, I pages).
UNNAMED_AXES = "QI"


def unnamed_axes(shape: tuple[int, ...]) -> str:
    """Axis letters for an array whose file does not name them (the module's rule).

    The last two axes are ``Y, X``; a last axis of 3 or 4 entries after two
    others is the colour axis ``S``; all leading axes are ``Q`` (unnamed).
    """
    n = len(shape)
    if n < 2:
        return "Q" * n
    if n >= 3 and shape[-1] in (3, 4):
        return "Q" * (n - 3) + "YXS"
    return "Q" * (n - 2) + "YX"


def reduce_axes(axes: str, shape: tuple[int, ...], path: Path, notes: list[str]):
    """Map an axes string to ``(index template, channel axis, (y, x) axes)``.

    ``axes`` has one letter per axis (upper or lower case); ``S`` (samples) or
    ``C`` (channels) is the colour axis; other letters than ``Y``/``X`` are
    reduced to their first plane, with a note.
    """
    axes = axes.upper()
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"{path}: no Y/X axes in the image (axes {axes!r})")
    chan = "S" if "S" in axes else ("C" if "C" in axes else None)
    index: list = []
    dropped = []
    for i, a in enumerate(axes):
        if a in "YX" or a == chan:
            index.append(None)
        else:
            index.append(0)
            if shape[i] > 1:
                dropped.append(f"{a}={shape[i]}")
    if dropped:
        note = (f"{path.name}: {len(dropped)} extra axis/axes ({', '.join(dropped)}): "
                "using the first plane only")
        if any(a in UNNAMED_AXES for a in axes):
            note += " (axes not named in the file: the last two are y, x)"
        notes.append(note)
    cax = axes.index(chan) if chan else None
    return tuple(index), cax, (axes.index("Y"), axes.index("X"))
