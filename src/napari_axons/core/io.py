"""Open any supported image lazily and read regions of it.

Supported: TIFF / BigTIFF / OME-TIFF (tiled or striped, with or without a
pyramid), Zarr / OME-Zarr, and everything Pillow decodes (PNG, JPEG, ...).

* TIFF and Zarr are read region by region through ``zarr``: tiling a
  20000 x 20000 tiled TIFF never holds the image in memory.
* PNG, JPEG and the other Pillow formats cannot be read by region. They are
  decoded once, on first access, and kept in memory while the image is open.
  Pillow's decompression-bomb guard stays on for them.

Axes rule: images are exposed as ``(y, x)`` or ``(y, x, c)``. Any other axis
(time, z, a multi-page stack, an OME-TIFF's T/Z) is reduced to its *first*
plane, and :attr:`SourceImage.notes` says so. Channel-first data (``CYX``) is
moved to channels-last.

Conversion to RGB (:func:`to_rgb8`), the rule used for the model and the tile
PNGs:

* 8-bit: gray is replicated to three channels, RGB is kept, a fourth channel
  (alpha) is dropped, as Pillow's ``convert("RGB")`` does; Pillow palette,
  CMYK, YCbCr and LA images are converted by Pillow when decoded.
* More than 8 bits (uint16, int32, float): a linear stretch of
  ``[low, high]`` to ``[0, 255]`` with clipping, where ``low``/``high`` are the
  0.1th and 99.9th percentiles of a sample of the *whole* image, computed once
  (:meth:`SourceImage.intensity_range`), so that all tiles agree.
  Float images already in ``[0, 1]`` are scaled by 255. Never wrap-around.
* Two channels: the first is used as gray. More than four: the first three.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ImageReadError",
    "SourceImage",
    "open_image",
    "to_rgb8",
    "IntensityRange",
]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".ome.tif", ".ome.tiff")
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".jp2")
#: Chunks bigger than this are treated as "must be decoded whole" and cached.
_BIG_CHUNK_BYTES = 64 * 2**20


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
    if region.dtype != np.uint8:
        if intensity is None:
            intensity = _range_for(region, None)
        lo, hi = intensity.low, intensity.high
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        out = (region.astype(np.float32) - np.float32(lo)) * np.float32(scale)
        region = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    if region.ndim == 2:
        region = np.repeat(region[..., None], 3, axis=2)
    return np.ascontiguousarray(region)


def _range_for(sample: np.ndarray, dtype) -> IntensityRange:
    dtype = np.dtype(dtype or sample.dtype)
    if dtype == np.uint8:
        return IntensityRange(0.0, 255.0, "uint8")
    finite = sample[np.isfinite(sample)] if dtype.kind == "f" else sample.ravel()
    if finite.size == 0:
        return IntensityRange(0.0, 1.0, "empty")
    if dtype.kind == "f" and finite.min() >= 0 and finite.max() <= 1:
        return IntensityRange(0.0, 1.0, "float in [0, 1]: x 255")
    lo, hi = np.percentile(finite, [0.1, 99.9])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    return IntensityRange(float(lo), float(hi), "percentiles 0.1-99.9 of a whole-image sample")


class _RegionSource:
    """Reads ``[y0:y1, x0:x1]`` of one pyramid level as ``(y, x[, c])`` numpy."""

    def __init__(self, array, index: tuple, channel_axis: int | None, yx_axes: tuple[int, int]):
        self.array = array  # zarr array or numpy-like
        self.index = index  # template index: ints for reduced axes, None for y/x/c
        self.channel_axis = channel_axis
        self.yx_axes = yx_axes
        shape = [array.shape[yx_axes[0]], array.shape[yx_axes[1]]]
        if channel_axis is not None:
            shape.append(array.shape[channel_axis])
        self.shape = tuple(shape)
        self.dtype = np.dtype(array.dtype)
        chunks = getattr(array, "chunks", None)
        nbytes = self.dtype.itemsize
        if chunks is not None:
            nbytes *= int(np.prod([chunks[a] for a in self._kept_axes()]))
        else:
            nbytes = _BIG_CHUNK_BYTES + 1
        self._whole = None
        self._cache_whole = nbytes > _BIG_CHUNK_BYTES
        self._lock = threading.Lock()
        self._bands: OrderedDict = OrderedDict()
        self._band_rows = None
        self._chunk_shape = None
        self._chunks: OrderedDict = OrderedDict()
        self._chunk_budget = 0
        self._chunk_bytes = 0
        if chunks is not None and not self._cache_whole:
            cy, cx = chunks[yx_axes[0]], chunks[yx_axes[1]]
            self._chunk_shape = (cy, cx)
            if cx >= self.shape[1] and cy < self.shape[0]:  # strips: cache row bands
                self._band_rows = cy

    def _kept_axes(self):
        axes = list(self.yx_axes)
        if self.channel_axis is not None:
            axes.append(self.channel_axis)
        return axes

    def _raw(self, ys: slice, xs: slice) -> np.ndarray:
        idx = list(self.index)
        idx[self.yx_axes[0]] = ys
        idx[self.yx_axes[1]] = xs
        if self.channel_axis is not None:
            idx[self.channel_axis] = slice(None)
        out = np.asarray(self.array[tuple(idx)])
        kept = sorted(self._kept_axes())
        order = [kept.index(a) for a in self._kept_axes()]
        return np.transpose(out, order) if order != sorted(order) else out

    def whole(self) -> np.ndarray:
        """The whole level, decoded once and kept (for sources that cannot read regions)."""
        with self._lock:
            if self._whole is None:
                self._whole = self._raw(slice(None), slice(None))
        return self._whole

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if self._cache_whole:
            return self.whole()[y0:y1, x0:x1]
        if self._band_rows:
            return self._read_banded(y0, y1, x0, x1)
        if self._chunk_budget:
            return self._read_cached_chunks(y0, y1, x0, x1)
        return self._raw(slice(y0, y1), slice(x0, x1))

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
        data = self._raw(slice(ky * cy, min((ky + 1) * cy, self.shape[0])),
                         slice(kx * cx, min((kx + 1) * cx, self.shape[1])))
        with self._lock:
            if (ky, kx) not in self._chunks:
                self._chunks[(ky, kx)] = data
                self._chunk_bytes += data.nbytes
                while self._chunk_bytes > self._chunk_budget and len(self._chunks) > 1:
                    self._chunk_bytes -= self._chunks.popitem(last=False)[1].nbytes
        return data

    def _read_cached_chunks(self, y0, y1, x0, x1):
        cy, cx = self._chunk_shape
        out = np.empty((y1 - y0, x1 - x0) + self.shape[2:], self.dtype)
        for ky in range(y0 // cy, (y1 - 1) // cy + 1):
            for kx in range(x0 // cx, (x1 - 1) // cx + 1):
                chunk = self._chunk(ky, kx)
                ya, yb = max(y0, ky * cy), min(y1, ky * cy + chunk.shape[0])
                xa, xb = max(x0, kx * cx), min(x1, kx * cx + chunk.shape[1])
                out[ya - y0 : yb - y0, xa - x0 : xb - x0] = chunk[ya - ky * cy : yb - ky * cy,
                                                                  xa - kx * cx : xb - kx * cx]
        return out

    def _read_banded(self, y0, y1, x0, x1):
        b = self._band_rows
        by0, by1 = (y0 // b) * b, min(self.shape[0], -(-y1 // b) * b)
        key = (by0, by1)
        with self._lock:
            band = self._bands.get(key)
            if band is None:
                band = self._raw(slice(by0, by1), slice(None))
                self._bands[key] = band
                while len(self._bands) > 4:
                    self._bands.popitem(last=False)
            else:
                self._bands.move_to_end(key)
        return band[y0 - by0 : y1 - by0, x0:x1]

    def to_dask(self):
        import dask.array as da

        if self._cache_whole or not hasattr(self.array, "chunks"):
            chunk = (1024, 1024) + ((self.shape[2],) if len(self.shape) == 3 else ())
            return da.from_array(_LazyWhole(self), chunks=chunk, asarray=False, fancy=False)
        arr = da.from_zarr(self.array) if _is_zarr(self.array) else da.from_array(self.array)
        arr = arr[tuple(slice(None) if i is None else i for i in self.index)]
        kept = sorted(self._kept_axes())
        order = [kept.index(a) for a in self._kept_axes()]
        return arr.transpose(order) if order != sorted(order) else arr


class _LazyWhole:
    """Array-like that decodes the whole level on first access (for dask)."""

    def __init__(self, source: _RegionSource):
        self.source = source
        self.shape = source.shape
        self.dtype = source.dtype
        self.ndim = len(source.shape)

    def __getitem__(self, key):
        return self.source.whole()[key]


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
    """

    path: Path
    format: str
    _levels: list[_RegionSource] = field(repr=False)
    notes: list[str] = field(default_factory=list)
    _closers: list = field(default_factory=list, repr=False)
    _intensity: IntensityRange | None = field(default=None, repr=False)

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
            else:
                self._intensity = _range_for(self.sample(), self.dtype)
        return self._intensity

    def read_rgb(self, y: int, x: int, height: int, width: int) -> np.ndarray:
        """:meth:`read_region` converted to RGB uint8 by the documented rule."""
        region = self.read_region(y, x, height, width)
        return to_rgb8(region, None if region.dtype == np.uint8 else self.intensity_range())

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


def open_image(path: str | Path) -> SourceImage:
    """Open an image lazily.

    Parameters
    ----------
    path : str or Path
        A TIFF/BigTIFF/OME-TIFF file, a Zarr/OME-Zarr folder, or a file Pillow reads.

    Returns
    -------
    SourceImage

    Raises
    ------
    ImageReadError
        One line naming the file and the problem (missing, a folder that is not
        Zarr, empty, truncated, not an image, too large to decode whole, ...).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    if path.is_dir():
        if _looks_like_zarr(path):
            return _open_zarr(path)
        raise ImageReadError(f"{path}: is a folder, not an image (only Zarr folders can be opened)")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _open_tiff(path, size)
    if path.name.lower().endswith(TIFF_SUFFIXES):
        raise ImageReadError(f"{path}: not a TIFF file (the file's header is not a TIFF header)")
    return _open_pil(path)


def _looks_like_zarr(path: Path) -> bool:
    return any((path / n).exists() for n in ("zarr.json", ".zarray", ".zgroup"))


def _reduce_axes(axes: str, shape: tuple[int, ...], path: Path, notes: list[str]):
    """Map an axes string to (index template, channel axis, (y, x) axes)."""
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
        notes.append(
            f"{path.name}: {len(dropped)} extra axis/axes ({', '.join(dropped)}): "
            "using the first plane only"
        )
    cax = axes.index(chan) if chan else None
    return tuple(index), cax, (axes.index("Y"), axes.index("X"))


def _open_tiff(path: Path, size: int) -> SourceImage:
    import tifffile
    import zarr

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise ImageReadError(f"{path}: not a readable TIFF file ({_short(exc)})") from exc
    try:
        if not tif.series:
            raise ImageReadError(f"{path}: the TIFF file holds no image")
        series = tif.series[0]
        for page in series.pages[:1]:
            page = page.keyframe if hasattr(page, "keyframe") else page
            ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c]
            if ends and max(ends) > size:
                raise ImageReadError(
                    f"{path}: truncated TIFF: pixel data ends at byte {max(ends)} "
                    f"but the file has {size} bytes"
                )
        notes: list[str] = []
        if len(tif.series) > 1:
            notes.append(f"{path.name}: {len(tif.series)} image series, using the first")
        levels = []
        for k, level in enumerate(series.levels):
            arr = zarr.open(series.aszarr(level=k), mode="r")
            index, cax, yx = _reduce_axes(level.axes, level.shape, path, notes if k == 0 else [])
            levels.append(_RegionSource(arr, index, cax, yx))
        if levels[0].dtype.kind not in "uif" and levels[0].dtype != np.bool_:
            raise ImageReadError(f"{path}: unsupported pixel type {levels[0].dtype}")
    except ImageReadError:
        tif.close()
        raise
    except Exception as exc:
        tif.close()
        raise ImageReadError(f"{path}: cannot read TIFF structure ({_short(exc)})") from exc
    return SourceImage(path, "tiff", levels, notes, [tif.close])


def _open_zarr(path: Path) -> SourceImage:
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise ImageReadError(f"{path}: cannot open Zarr ({_short(exc)})") from exc
    notes: list[str] = []
    if isinstance(node, zarr.Array):
        arrays, axes = [node], None
    else:
        attrs = dict(node.attrs)
        ms = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
        if ms:
            paths = [d["path"] for d in ms[0]["datasets"]]
            ax = ms[0].get("axes")
            axes = "".join(a["name"] if isinstance(a, dict) else a for a in ax) if ax else None
        else:
            paths = sorted(node.array_keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))
            axes = None
        if not paths:
            raise ImageReadError(f"{path}: the Zarr group holds no arrays")
        arrays = [node[p] for p in paths]
    levels = []
    for k, arr in enumerate(arrays):
        ax = axes
        if ax is None:
            ax = {2: "YX", 3: "YXS" if arr.shape[-1] <= 4 else "CYX"}.get(arr.ndim)
            if ax is None:
                ax = "Q" * (arr.ndim - 3) + ("YXS" if arr.shape[-1] <= 4 else "CYX")
        index, cax, yx = _reduce_axes(ax.replace("c", "C"), arr.shape, path, notes if k == 0 else [])
        levels.append(_RegionSource(arr, index, cax, yx))
    return SourceImage(path, "zarr", levels, notes)


class _PilArray:
    """Array-like over a Pillow image, decoded on first access."""

    def __init__(self, path: Path, mode: str, size: tuple[int, int], bands: int, dtype,
                 fmt: str | None = None):
        self.path = path
        self.mode = mode
        self.format = fmt
        self.shape = (size[1], size[0]) + ((bands,) if bands > 1 else ())
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def decode(self) -> np.ndarray:
        from PIL import Image

        if self.format == "PNG" and self.mode in _LIBPNG_MODES:
            arr = self._decode_libpng()
            if arr is not None:
                return arr
        try:
            with Image.open(self.path) as im:
                im.load()
                im = _normalise_pil(im)
                arr = np.asarray(im)
        except Image.DecompressionBombError as exc:
            raise ImageReadError(f"{self.path}: {_bomb_message()}") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"{self.path}: cannot decode image ({_short(exc)})") from exc
        if arr.shape != self.shape:
            raise ImageReadError(f"{self.path}: decoded shape {arr.shape} != header {self.shape}")
        return arr

    def _decode_libpng(self) -> np.ndarray | None:
        """PNG through libpng (imagecodecs): 2.4x faster than Pillow, the same pixels.

        None when libpng fails or gives another layout than Pillow would (a
        transparency key expanded to alpha, 16-bit RGB): Pillow decodes it then,
        and reports a broken file its own way.
        """
        import imagecodecs

        try:
            arr = imagecodecs.png_decode(self.path.read_bytes())
        except Exception:  # imagecodecs.PngError, OSError
            return None
        if arr.shape != self.shape or arr.dtype != self.dtype:
            return None
        return arr

    def __getitem__(self, key):
        return self.decode()[key]


#: Pillow modes of PNGs that libpng decodes to the same array as Pillow (not palette, 1-bit, LA).
_LIBPNG_MODES = ("L", "RGB", "RGBA", "I;16", "I;16B")


def _bomb_message() -> str:
    return (
        "too many pixels to decode a PNG/JPEG whole safely (Pillow's decompression-bomb "
        "guard); convert it to a tiled TIFF (e.g. with tifffile or vips) to read it by region"
    )


def _normalise_pil(im):
    """Pillow modes -> arrays: the conversions Pillow itself defines."""
    mode = im.mode
    if mode in ("P", "PA"):
        return im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return im.convert("RGB")
    if mode in ("1", "LA"):
        return im.convert("L")
    if mode.startswith("I;16"):
        return im  # numpy gives uint16
    return im


_PIL_DTYPES = {"I": np.int32, "F": np.float32, "I;16": np.uint16, "I;16B": np.uint16,
               "I;16L": np.uint16, "I;16N": np.uint16}
_PIL_BANDS = {"L": 1, "1": 1, "LA": 1, "RGB": 3, "RGBA": 4, "RGBX": 3, "CMYK": 3, "YCbCr": 3,
              "LAB": 3, "HSV": 3}


def _open_pil(path: Path) -> SourceImage:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                mode, size, fmt = im.mode, im.size, im.format
                n_frames = getattr(im, "n_frames", 1)
                transparency = "transparency" in im.info
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{path}: {_bomb_message()}") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot read image header ({_short(exc)})") from exc
    if mode in ("P", "PA"):
        bands = 4 if (transparency or mode == "PA") else 3
    else:
        bands = _PIL_BANDS.get(mode, 1)
    dtype = _PIL_DTYPES.get(mode, np.uint8)
    notes = []
    if n_frames > 1:
        notes.append(f"{path.name}: {n_frames} frames, using the first")
    arr = _PilArray(path, mode, size, bands, dtype, fmt)
    index = (None, None, None) if bands > 1 else (None, None)
    level = _RegionSource(arr, index, 2 if bands > 1 else None, (0, 1))  # no chunks: cached whole
    return SourceImage(path, fmt or "image", [level], notes)
