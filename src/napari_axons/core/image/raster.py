"""PNG, JPEG and the other formats Pillow decodes: whole when small, streamed when large.

These formats cannot be read by region. So:

* an image whose decoded size is at most :data:`WHOLE_DECODE_MAX_BYTES` is
  decoded once, on first access, and kept in memory while it is open;
* a larger one is decoded once into a chunked, uncompressed Zarr store (as much
  disk as its decoded size; checked before it starts) in the cache folder
  (``$NAPARI_AXONS_CACHE/decoded``, else ``$XDG_CACHE_HOME/napari-axons/decoded``,
  else ``~/.cache/napari-axons/decoded``; one entry per file, keyed by its path,
  size and modification time) and read by region from there. A non-interlaced
  PNG is decoded band by band (:func:`png_bands`): memory holds one band of
  rows, whatever the image size. Interlaced PNGs, JPEG and other formats are
  decoded whole once (peak memory about the decoded size), then cached.

Pixels are exactly what Pillow gives for the whole image (palette -> RGB or
RGBA, 1-bit -> L, CMYK/YCbCr -> RGB, LA -> L, 16-bit gray as uint16), in both
cases; ``tests/core/image/test_raster.py`` checks it.

Size limit: Pillow refuses images over 179 megapixels (its decompression-bomb
guard). Here the limit is :data:`DEFAULT_MAX_PIXELS` (4295 megapixels, more
than any JPEG can hold), changed with ``max_pixels`` / ``--max-pixels`` /
``$NAPARI_AXONS_MAX_PIXELS`` (0: none).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..common import from_resolution
from .colour import pil_array
from .decoded_cache import cached_rows, decoded_cache_dir
from .png_stream import critical_png_chunks, png_bands, png_interlaced
from .source import ImageReadError, RegionSource, SourceImage, ZarrPlane, short_error

__all__ = ["open_raster", "png_bands", "WHOLE_DECODE_MAX_BYTES", "DEFAULT_MAX_PIXELS",
           "decoded_cache_dir"]

#: Images decoding to more bytes than this are decoded into the on-disk cache.
WHOLE_DECODE_MAX_BYTES = 256 * 2**20
#: Default most pixels of a PNG/JPEG (see the module docstring).
DEFAULT_MAX_PIXELS = 2**32
#: Raw bytes per band when streaming a PNG.
BAND_BYTES = 2 * 2**20
_open_lock = threading.Lock()

_PIL_DTYPES = {"I": np.int32, "F": np.float32, "I;16": np.uint16, "I;16B": np.uint16,
               "I;16L": np.uint16, "I;16N": np.uint16}
_PIL_BANDS = {"L": 1, "1": 1, "LA": 1, "RGB": 3, "RGBA": 4, "RGBX": 3, "CMYK": 3, "YCbCr": 3,
              "LAB": 3, "HSV": 3}
#: Pillow modes of PNGs that libpng decodes to the same array as Pillow (not palette, 1-bit, LA).
_LIBPNG_MODES = ("L", "RGB", "RGBA", "I;16", "I;16B")


def max_pixels_default() -> int:
    """The size limit in force: ``$NAPARI_AXONS_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    env = os.environ.get("NAPARI_AXONS_MAX_PIXELS", "").strip()
    if env:
        try:
            return int(float(env))
        except ValueError:
            pass
    return DEFAULT_MAX_PIXELS








class _PilPlane:
    """A Pillow image decoded whole on first access (no chunks: cached whole)."""

    chunks = None

    def __init__(self, path: Path, mode: str, shape: tuple, dtype, fmt: str | None):
        self.path = path
        self.mode = mode
        self.format = fmt
        self.shape = shape
        self.dtype = np.dtype(dtype)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return self.decode()[y0:y1, x0:x1]

    def decode(self) -> np.ndarray:
        from PIL import Image

        if self.format == "PNG" and self.mode in _LIBPNG_MODES:
            arr = self._decode_libpng()
            if arr is not None:
                return arr
        try:
            with _unguarded(), Image.open(self.path) as im:
                arr = pil_array(im)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"{self.path}: cannot decode image ({short_error(exc)})") from exc
        if arr.shape != self.shape:
            raise ImageReadError(f"{self.path}: decoded shape {arr.shape} != header {self.shape}")
        return arr

    def _decode_libpng(self) -> np.ndarray | None:
        """PNG through libpng (imagecodecs): 2.4x faster than Pillow, the same pixels.

        None when libpng fails or gives another layout than Pillow would (a
        transparency key expanded to alpha, 16-bit RGB), and for an interlaced
        PNG (imagecodecs does not turn libpng's interlace handling on, so libpng
        prints "Interlace handling should be turned on..." on stderr for a valid
        file): Pillow decodes it then, and reports a broken file its own way.
        """
        import imagecodecs

        try:
            with open(self.path, "rb") as fh:
                if png_interlaced(fh.read(29)):
                    return None
            arr = imagecodecs.png_decode(critical_png_chunks(self.path.read_bytes()))
        except Exception:  # imagecodecs.PngError, OSError
            return None
        if arr.shape != self.shape or arr.dtype != self.dtype:
            return None
        return arr








class _unguarded:
    """Pillow's decompression-bomb guard off while opening (our own limit applies)."""

    def __enter__(self):
        from PIL import Image

        _open_lock.acquire()
        self.saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        return self

    def __exit__(self, *exc):
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = self.saved
        _open_lock.release()


def _too_large(path: Path, w: int, h: int, limit: int) -> ImageReadError:
    return ImageReadError(
        f"{path}: {w} x {h} is {w * h / 1e6:.0f} megapixels, more than the limit of "
        f"{limit / 1e6:.0f} megapixels for PNG/JPEG images (a guard against decompression "
        "bombs); if the file is trusted, raise it with --max-pixels N (0: no limit)"
    )


def open_raster(path: Path, *, max_pixels: int | None = None) -> SourceImage:
    """Open a PNG, JPEG or other Pillow image lazily (see the module docstring).

    Raises
    ------
    ImageReadError
        Not an image, unreadable header, or more pixels than ``max_pixels``.
    """
    from PIL import Image, UnidentifiedImageError

    limit = max_pixels_default() if max_pixels is None else int(max_pixels)
    try:
        with _unguarded(), Image.open(path) as im:
            mode, size, fmt = im.mode, im.size, im.format
            n_frames = getattr(im, "n_frames", 1)
            transparency = "transparency" in im.info
            interlaced = bool(im.info.get("interlace"))
            dpi = im.info.get("dpi")
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path}: not an image file Pillow can read") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: cannot read image header ({short_error(exc)})") from exc
    w, h = size
    if limit and w * h > limit:
        raise _too_large(path, w, h, limit)
    if mode in ("P", "PA"):
        bands = 4 if (transparency or mode == "PA") else 3
    else:
        bands = _PIL_BANDS.get(mode, 1)
    dtype = np.dtype(_PIL_DTYPES.get(mode, np.uint8))
    shape = (h, w) + ((bands,) if bands > 1 else ())
    notes = []
    if n_frames > 1:
        notes.append(f"{path.name}: {n_frames} frames, using the first")
    nbytes = w * h * bands * dtype.itemsize
    closers = []
    if nbytes <= WHOLE_DECODE_MAX_BYTES:
        plane = _PilPlane(path, mode, shape, dtype, fmt)
    else:
        array = _cached_decode(path, shape, dtype, fmt, interlaced, mode)
        index = (None, None, None) if bands > 1 else (None, None)
        plane = ZarrPlane(array, index, 2 if bands > 1 else None, (0, 1))
    source = SourceImage(path, fmt or "image", [RegionSource(plane)], notes, closers)
    source.pixel_size = _dpi_pixel_size(dpi, fmt)
    return source


def _dpi_pixel_size(dpi, fmt):
    if not dpi or fmt != "PNG":  # PNG pHYs in pixels per metre; JPEG densities are not read
        return None
    try:
        xres, yres = (float(v) for v in dpi)
    except (TypeError, ValueError):
        return None
    return from_resolution(xres, yres, 25400.0, "PNG pHYs")




def _cached_decode(path: Path, shape: tuple, dtype, fmt, interlaced: bool, mode: str):
    if fmt == "PNG" and not interlaced:
        return cached_rows(path, shape, dtype, lambda: png_bands(path, BAND_BYTES))
    return cached_rows(path, shape, dtype,
                       lambda: [(0, _PilPlane(path, mode, shape, dtype, fmt).decode())])
















