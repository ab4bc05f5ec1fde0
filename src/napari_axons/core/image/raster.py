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

import hashlib
import io as _io
import os
import shutil
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..common import from_resolution
from .source import ImageReadError, RegionSource, SourceImage, ZarrPlane, short_error

__all__ = ["open_raster", "png_bands", "WHOLE_DECODE_MAX_BYTES", "DEFAULT_MAX_PIXELS",
           "decoded_cache_dir"]

#: Images decoding to more bytes than this are decoded into the on-disk cache.
WHOLE_DECODE_MAX_BYTES = 256 * 2**20
#: Default most pixels of a PNG/JPEG (see the module docstring).
DEFAULT_MAX_PIXELS = 2**32
#: Raw bytes per band when streaming a PNG.
BAND_BYTES = 2 * 2**20
#: Rows of the cached store's chunks (512 columns wide).
CHUNK_ROWS = 256
_CACHE_FORMAT = "napari-axons-decoded/1"
_open_lock = threading.Lock()
_build_lock = threading.Lock()

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


def decoded_cache_dir() -> Path:
    """The folder holding decoded PNG/JPEG stores (see the module docstring)."""
    root = os.environ.get("NAPARI_AXONS_CACHE")
    if root:
        return Path(root) / "decoded"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "napari-axons" / "decoded"


def _normalise_pil(im):
    """Pillow modes -> arrays: the conversions Pillow itself defines."""
    mode = im.mode
    if mode in ("P", "PA"):
        return im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return im.convert("RGB")
    if mode in ("1", "LA"):
        return im.convert("L")
    return im


def _pil_array(im) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no stray warnings for valid files (docs/errors.md)
        im.load()
        return np.asarray(_normalise_pil(im))


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
                arr = _pil_array(im)
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


#: PNG chunks that decide the pixels; the others (colour profiles, text, times) are
#: dropped before libpng sees the file, so it never prints a warning about them
#: ("iCCP: known incorrect sRGB profile") for a valid image.
_PIXEL_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")


def png_interlaced(data: bytes) -> bool:
    """True when ``data`` (a PNG file's first 29 bytes at least) is Adam7-interlaced."""
    return data[:8] == _PNG_SIG and data[12:16] == b"IHDR" and len(data) > 28 and data[28] != 0


def critical_png_chunks(data: bytes) -> bytes:
    """``data`` (a PNG file) with only the chunks that decide its pixels.

    Malformed data is returned unchanged, for the decoder to report.
    """
    if data[:8] != _PNG_SIG:
        return data
    view = memoryview(data)  # slices of a memoryview copy nothing: one copy at most, below
    out = [view[:8]]
    pos, dropped = 8, False
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            out.append(view[pos:])  # truncated: leave it to the decoder
            pos = len(data)
            break
        if kind in _PIXEL_CHUNKS:
            out.append(view[pos:end])
        else:
            dropped = True
        pos = end
        if kind == b"IEND":
            break
    if not dropped and pos == len(data):
        return data  # nothing to drop (the usual case): no copy of a large file
    return b"".join(out)


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


# -- the on-disk cache for large PNG/JPEG ------------------------------------
def _fingerprint(path: Path, shape, dtype, key: str = "") -> str:
    st = path.stat()
    h = hashlib.blake2b(digest_size=12)
    for part in (_CACHE_FORMAT, str(path.resolve()), st.st_size, st.st_mtime_ns, shape, str(dtype),
                 key):
        h.update(repr(part).encode())
    return h.hexdigest()


def _cached_decode(path: Path, shape: tuple, dtype, fmt, interlaced: bool, mode: str):
    if fmt == "PNG" and not interlaced:
        return cached_rows(path, shape, dtype, lambda: png_bands(path))
    return cached_rows(path, shape, dtype,
                       lambda: [(0, _PilPlane(path, mode, shape, dtype, fmt).decode())])


def cached_rows(path: Path, shape: tuple, dtype, bands, key: str = ""):
    """The decoded copy of ``path`` in the cache, written from ``bands()`` once.

    Parameters
    ----------
    path : Path
        The image file (its path, size and modification time key the entry).
    shape, dtype
        Of the decoded plane, ``(y, x[, c])``.
    bands : callable
        Returns an iterator of ``(first row, rows)`` in order, covering the image.
    key : str
        Anything else that decides the contents (a TIFF page, ...).

    Returns
    -------
    zarr.Array

    Raises
    ------
    ImageReadError
        Decoding fails (the partial copy is removed), or the cache disk is too small.
    """
    import zarr

    root = decoded_cache_dir()
    folder = root / f"{_fingerprint(path, shape, dtype, key)}.zarr"
    with _build_lock:
        array = _open_cached(folder, shape)
        if array is not None:
            return array
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{folder.name}-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _check_space(path, root, shape, dtype)
            group = zarr.open_group(str(tmp), mode="w")
            group.attrs.update({"format": _CACHE_FORMAT, "source": str(path)})
            arr = group.create_array("0", shape=shape, dtype=dtype, fill_value=0,
                                     chunks=(CHUNK_ROWS, 512) + shape[2:], compressors=None)
            _store_rows(path, bands(), arr, shape, dtype)
            group.attrs["complete"] = True
            shutil.rmtree(folder, ignore_errors=True)  # an incomplete or stale entry
            os.replace(tmp, folder)
        except ImageReadError:
            raise
        except (OSError, ValueError, zlib.error, struct.error) as exc:
            raise ImageReadError(f"{path}: cannot decode image ({short_error(exc)})") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        array = _open_cached(folder, shape)
        if array is None:
            raise ImageReadError(f"{path}: the decoded copy in {folder} cannot be read back")
        return array


def _store_rows(path: Path, bands, arr, shape, dtype) -> None:
    """Write decoded row bands into ``arr`` in whole chunk rows (no chunk is written twice)."""
    buf = np.empty((CHUNK_ROWS,) + tuple(shape[1:]), dtype)
    filled = done = 0
    for _, band in bands:
        if band.shape[1:] != tuple(shape[1:]) or done + filled + band.shape[0] > shape[0]:
            raise ImageReadError(f"{path}: decoded band {band.shape} != header {shape}")
        pos = 0
        while pos < band.shape[0]:
            take = min(CHUNK_ROWS - filled, band.shape[0] - pos)
            buf[filled : filled + take] = band[pos : pos + take]
            filled, pos = filled + take, pos + take
            if filled == CHUNK_ROWS:
                arr[done : done + filled] = buf
                done, filled = done + filled, 0
    if filled:
        arr[done : done + filled] = buf[:filled]
    if done + filled != shape[0]:
        raise ImageReadError(f"{path}: {done + filled} of {shape[0]} rows decoded")


def _open_cached(folder: Path, shape):
    import zarr

    if not folder.exists():
        return None
    try:
        group = zarr.open_group(str(folder), mode="r")
        if group.attrs.get("format") != _CACHE_FORMAT or not group.attrs.get("complete"):
            return None
        arr = group["0"]
        return arr if tuple(arr.shape) == tuple(shape) else None
    except Exception:  # an unreadable cache entry is rebuilt, never fatal
        return None


def _check_space(path: Path, root: Path, shape, dtype) -> None:
    need = int(np.prod(shape)) * np.dtype(dtype).itemsize
    free = shutil.disk_usage(root).free
    if free < need:
        raise ImageReadError(
            f"{path}: decoding it needs up to {need / 2**30:.1f} GiB in the cache folder {root}, "
            f"which has {free / 2**30:.1f} GiB free; set NAPARI_AXONS_CACHE to a larger disk"
        )


# -- streaming PNG -----------------------------------------------------------
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
#: (colour type, bit depth) of a stand-in PNG that unfilters rows to their raw bytes, by bpp.
_RAW_STANDIN = {1: (0, 8), 2: (4, 8), 3: (2, 8), 4: (6, 8), 6: (2, 16), 8: (6, 16)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _ihdr(width: int, height: int, depth: int, ctype: int) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))


def png_bands(path: Path, band_bytes: int = BAND_BYTES) -> Iterator[tuple[int, np.ndarray]]:
    """Decode a non-interlaced PNG band by band: ``(first row, pixels)`` pairs.

    Memory holds one band (about ``band_bytes`` of raw rows). The IDAT stream
    is inflated incrementally; each band's filtered rows are unfiltered by
    libpng through a stand-in PNG of the same bytes per pixel (its first row
    the previous band's last raw row, unfiltered), then turned into pixels by
    Pillow exactly as for the whole file.

    Raises
    ------
    ImageReadError
        Not a PNG, interlaced, or truncated / corrupt data.
    """
    import imagecodecs
    from PIL import Image

    with open(path, "rb") as fh:
        if fh.read(8) != _PNG_SIG:
            raise ImageReadError(f"{path}: not a PNG file")
        header = []
        ihdr = None
        inflate = zlib.decompressobj()
        pending = bytearray()
        prev_raw = None
        y = 0
        band_rows = row_bytes = height = None

        def emit(rows: bytes, n: int):
            nonlocal prev_raw, y
            # 1. unfilter: the band's filtered rows behind the previous band's last raw
            #    row (filter 0), as a stand-in PNG with the same bytes per pixel
            lead = b"" if prev_raw is None else b"\x00" + prev_raw
            idat = zlib.compress(lead + rows, 0)
            del rows
            raw = imagecodecs.png_decode(
                _PNG_SIG + _ihdr(standin_w, n + (prev_raw is not None), standin[1], standin[0])
                + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
            del idat
            if raw.dtype == np.uint16:
                raw = raw.astype(">u2")
            raw = np.ascontiguousarray(raw).view(np.uint8).reshape(raw.shape[0], -1)
            if prev_raw is not None:
                raw = raw[1:]
            prev_raw = raw[-1].tobytes()
            # 2. pixels: the raw rows, unfiltered (filter 0), decoded by Pillow as the file is
            body = np.empty((n, row_bytes + 1), np.uint8)
            body[:, 0] = 0
            body[:, 1:] = raw
            del raw
            idat = zlib.compress(body, 0)
            del body
            png = (_PNG_SIG + _ihdr(width, n, depth, ctype) + b"".join(header)
                   + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))
            del idat
            with warnings.catch_warnings(), Image.open(_io.BytesIO(png)) as im:
                warnings.simplefilter("ignore")
                pixels = _pil_array(im)
            out = (y, pixels)
            y += n
            return out

        while True:
            head = fh.read(8)
            if len(head) < 8:
                raise ImageReadError(f"{path}: truncated PNG (no IEND; {y} of {height} rows)")
            length, kind = struct.unpack(">I4s", head)
            data = fh.read(length)
            fh.read(4)  # CRC
            if len(data) < length:
                raise ImageReadError(f"{path}: truncated PNG ({y} of {height} rows)")
            if kind == b"IHDR":
                width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", data[:13])
                if interlace:
                    raise ImageReadError(f"{path}: interlaced PNG cannot be decoded by rows")
                bits = _CHANNELS[ctype] * depth
                row_bytes = (width * bits + 7) // 8
                bpp = max(1, bits // 8)
                standin = _RAW_STANDIN[bpp]
                standin_w = row_bytes // bpp  # the stand-in has bpp bytes per pixel
                band_rows = max(16, band_bytes // (row_bytes + 1))
                ihdr = True
            elif kind == b"IDAT":
                if ihdr is None:
                    raise ImageReadError(f"{path}: corrupt PNG (IDAT before IHDR)")
                buf = data
                while buf:
                    pending += inflate.decompress(buf, band_rows * (row_bytes + 1))
                    buf = inflate.unconsumed_tail
                    while len(pending) >= band_rows * (row_bytes + 1) and y < height:
                        n = min(band_rows, height - y)
                        size = n * (row_bytes + 1)
                        yield emit(bytes(pending[:size]), n)
                        del pending[:size]
            elif kind == b"IEND":
                pending += inflate.flush()
                while y < height:
                    n = min(band_rows, height - y)
                    size = n * (row_bytes + 1)
                    if len(pending) < size:
                        raise ImageReadError(f"{path}: truncated PNG data ({y} of {height} rows)")
                    yield emit(bytes(pending[:size]), n)
                    del pending[:size]
                return
            elif kind in (b"PLTE", b"tRNS") and ihdr is not None:
                header.append(_chunk(kind, data))  # what Pillow needs to give the same pixels
