"""TIFF files (BigTIFF, OME-TIFF, ImageJ, SVS, NDPI): lazy planes, colour, pixel size.

Reading is done by tifffile, region by region:

* uncompressed strips (a single strip for the whole image included) are read
  row by row from the file with ``os.pread``: memory holds the requested
  region only, whatever the image size;
* compressed strips through tifffile's Zarr store, one strip at a time (recent
  row bands cached); deflate strips so large that one would not fit a memory
  budget (over :data:`BIG_STRIP_BYTES` decoded, e.g. a whole image in one zlib
  strip) are inflated incrementally, once, into the decoded-image cache of
  :mod:`napari_axons.core.image.raster`, and read by region from there;
* tiles through tifffile's Zarr store, one tile at a time.

Colour interpretation (``PhotometricInterpretation`` and sample layout): the
values tifffile returns are stored values; they are mapped to what
libtiff-based viewers (Pillow, ImageJ) show, region by region:

=====================  ====================================================
photometric            what is shown
=====================  ====================================================
MinIsBlack             as stored; 1-bit (bilevel) as 0/255; 2- and 4-bit
                       scaled to 0-255 (x 85, x 17) as Pillow does
MinIsWhite             inverted: ``2**bits - 1 - v`` for unsigned integers
                       (bilevel 1 -> 0, 0 -> 255), ``~v`` for signed ones,
                       ``1 - v`` for floats; then as MinIsBlack
RGB                    as stored (planar or contiguous); extra samples
                       (alpha) are kept and dropped on conversion to RGB, as
                       Pillow's ``convert("RGB")``; 8-bit associated
                       (premultiplied) alpha is un-premultiplied as Pillow does
Palette (ColorMap)     RGB through the colour map, ``value // 256`` per entry
                       (as Pillow)
Separated (CMYK)       8-bit: Pillow's CMYK -> RGB; 16-bit: the same formula
                       ``(max - C)(max - K) / max``
YCbCr                  JPEG-compressed: RGB from the JPEG decoder; otherwise
                       8-bit: Pillow's YCbCr -> RGB (libtiff's integer
                       tables, which Pillow uses for compressed strips,
                       differ from it by at most 1)
any, compression 33003 Aperio JPEG 2000 "YCbCr": the codestream holds Y, Cb,
                       Cr whatever the tag says. Chroma subsampled in the
                       codestream: the decoder (OpenJPEG via imagecodecs)
                       returns RGB; not subsampled (4:4:4): it returns the
                       YCbCr samples, converted by Pillow's YCbCr -> RGB
                       (OpenSlide's reading, to within 1-2 levels).
                       33005 (Aperio JPEG 2000 RGB) is RGB as decoded.
CIELab                 8-bit: Pillow's LAB -> RGB
others                 as stored, with a note
=====================  ====================================================

Pixel size: :mod:`napari_axons.core.common` (OME, SVS, ImageJ and
resolution tags).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path

import numpy as np

from ..common import PixelSize, from_ome_xml, from_resolution, from_svs_description, unit_to_um
from .axes import reduce_axes
from .raster import cached_rows
from .series import choose_series
from .source import ImageReadError, PixelConvert, RegionSource, SourceImage, ZarrPlane, short_error

__all__ = ["open_tiff", "colour_convert", "tiff_pixel_size", "StripPlane"]

# tifffile logs oddities of valid files (a malformed ImageJ or OME description it
# works around) through logging; without a handler Python would print them on
# stderr. An application that configures logging still receives them.
logging.getLogger("tifffile").addHandler(logging.NullHandler())

# TIFF PhotometricInterpretation values
MINISWHITE, MINISBLACK, RGB, PALETTE, MASK, SEPARATED, YCBCR, CIELAB = 0, 1, 2, 3, 4, 5, 6, 8
#: Compression: Aperio JPEG 2000 whose codestream holds YCbCr (33005: RGB)
APERIO_J2K_YCBCR = 33003
_PHOTOMETRIC_NAMES = {0: "MinIsWhite", 1: "MinIsBlack", 2: "RGB", 3: "Palette", 4: "Mask",
                      5: "Separated", 6: "YCbCr", 8: "CIELab", 9: "ICCLab", 10: "ITULab",
                      32803: "CFA", 32844: "LogL", 32845: "LogLuv", 34892: "LinearRaw"}


def open_tiff(path: Path, size: int, series: int | None = None) -> SourceImage:
    """Open a TIFF file's main image series lazily (see the module docstring).

    ``series``: the index of the image series to read (default: the main
    image, :func:`~.series.choose_series`).

    Raises
    ------
    ImageReadError
        Not a readable TIFF, truncated, no image, an unsupported pixel type,
        no such series.
    """
    import tifffile
    import zarr

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise ImageReadError(f"{path}: not a readable TIFF file ({short_error(exc)})") from exc
    closers = [tif.close]
    try:
        if not tif.series:
            raise ImageReadError(f"{path}: the TIFF file holds no image")
        notes: list[str] = []
        chosen = choose_series(tif, path, series, notes)
        series = tif.series[chosen]
        first = series.pages[0]
        if first is None:
            raise ImageReadError(f"{path}: the TIFF file holds no image")
        key = first.keyframe if hasattr(first, "keyframe") else first
        ends = [o + c for o, c in zip(first.dataoffsets, first.databytecounts, strict=False) if c]
        if ends and max(ends) > size:
            raise ImageReadError(
                f"{path}: truncated TIFF: pixel data ends at byte {max(ends)} "
                f"but the file has {size} bytes"
            )
        fd = None
        levels = []
        colour = None
        for k, level in enumerate(series.levels):
            index, cax, yx = reduce_axes(level.axes, level.shape, path, notes if k == 0 else [])
            page = level.pages[0]
            keyframe = page.keyframe if hasattr(page, "keyframe") else page
            plane = None
            if _plane_is_one_page(level, keyframe, cax):
                if fd is None and (_uncompressed(keyframe) or _big_deflate_strips(keyframe)):
                    fd = _open_fd(path)
                    closers.append(lambda fd=fd: os.close(fd))
                if fd is not None and _uncompressed(keyframe):
                    plane = StripPlane.maybe(fd, page, keyframe, tif.byteorder)
                elif fd is not None and _big_deflate_strips(keyframe):
                    plane = _deflate_plane(path, fd, page, keyframe, tif.byteorder, k)
            if plane is None:
                plane = ZarrPlane(zarr.open(series.aszarr(level=k), mode="r"), index, cax, yx)
            convert = colour_convert(keyframe, plane.shape, path)
            if k == 0 and convert is not None:
                colour = convert.rule
            levels.append(RegionSource(plane, convert))
        if levels[0].dtype.kind not in "uif" and levels[0].dtype != np.bool_:
            raise ImageReadError(f"{path}: unsupported pixel type {levels[0].dtype}")
        if key.photometric not in _PHOTOMETRIC_NAMES or colour and colour.startswith("as stored"):
            notes.append(f"{path.name}: {colour or 'unknown colour interpretation'}")
        pixel_size = tiff_pixel_size(tif, key, chosen)
    except ImageReadError:
        for close in reversed(closers):
            close()
        raise
    except Exception as exc:
        for close in reversed(closers):
            close()
        raise ImageReadError(f"{path}: cannot read TIFF structure ({short_error(exc)})") from exc
    return SourceImage(path, "tiff", levels, notes, list(reversed(closers)),
                       pixel_size=pixel_size, colour=colour,
                       series=chosen if len(tif.series) > 1 else None)


def _open_fd(path: Path) -> int:
    return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))


def _plane_is_one_page(level, keyframe, cax) -> bool:
    """True when the plane read (first page, all of y, x, samples) is one TIFF page."""
    page_axes = keyframe.axes
    if not level.axes.endswith(page_axes) or tuple(level.shape[-len(page_axes):]) != keyframe.shape:
        return False
    return cax is None or level.axes[cax] in page_axes


def _uncompressed(page) -> bool:
    return int(page.compression) == 1 and not page.is_tiled


class StripPlane:
    """An uncompressed, striped TIFF page read region by region with ``os.pread``.

    Strips may be anywhere in the file (one strip, many, planar or contiguous
    samples, 1-bit bilevel or 8/16/32/64-bit samples); only the requested rows
    and columns are read.
    """

    region_reads = True
    chunks = None

    def __init__(self, fd: int, page, keyframe, byteorder: str):
        self.fd = fd
        self.height, self.width = int(keyframe.imagelength), int(keyframe.imagewidth)
        self.spp = int(keyframe.samplesperpixel)
        self.bits = int(keyframe.bitspersample)
        self.planar = int(keyframe.planarconfig) == 2 and self.spp > 1
        self.rps = max(1, min(int(keyframe.rowsperstrip or self.height), self.height))
        self.offsets = [int(o) for o in page.dataoffsets]
        dtype = np.dtype(keyframe.dtype)
        self.dtype = dtype
        self.file_dtype = dtype.newbyteorder(byteorder) if dtype.itemsize > 1 else dtype
        per_row = 1 if self.planar else self.spp
        if self.bits == 1:
            self.row_bytes = (self.width + 7) // 8
        else:
            self.row_bytes = self.width * per_row * dtype.itemsize
        self.shape = (self.height, self.width) + ((self.spp,) if self.spp > 1 else ())
        self._lock = threading.Lock()

    @classmethod
    def maybe(cls, fd: int, page, keyframe, byteorder: str) -> StripPlane | None:
        """A StripPlane when ``page`` is uncompressed plain strips, else None."""
        try:
            if not _uncompressed(keyframe) or int(getattr(keyframe, "fillorder", 1)) != 1:
                return None
            if getattr(keyframe, "imagedepth", 1) > 1 or getattr(keyframe, "is_subsampled", False):
                return None
            bits, spp = int(keyframe.bitspersample), int(keyframe.samplesperpixel)
            if not ((bits in (8, 16, 32, 64) and np.dtype(keyframe.dtype).itemsize * 8 == bits)
                    or (bits == 1 and spp == 1)):
                return None
            plane = cls(fd, page, keyframe, byteorder)
        except (AttributeError, TypeError, ValueError):
            return None
        n_strips = math.ceil(plane.height / plane.rps) * (plane.spp if plane.planar else 1)
        counts = list(page.databytecounts)
        if len(plane.offsets) != n_strips or len(counts) != n_strips:
            return None
        per_plane = math.ceil(plane.height / plane.rps)
        for s, count in enumerate(counts):
            rows = min(plane.rps, plane.height - (s % per_plane) * plane.rps)
            if count < rows * plane.row_bytes:
                return None
        return plane

    def _pread(self, n: int, offset: int) -> bytes:
        data = os.pread(self.fd, n, offset) if hasattr(os, "pread") else self._seek_read(n, offset)
        if len(data) != n:
            raise ImageReadError(f"short read: {len(data)} of {n} bytes at offset {offset}")
        return data

    def _seek_read(self, n: int, offset: int) -> bytes:  # pragma: no cover - Windows
        with self._lock:
            os.lseek(self.fd, offset, os.SEEK_SET)
            return os.read(self.fd, n)

    def _rows(self, sample: int, y0: int, y1: int, b0: int, b1: int) -> np.ndarray:
        """Bytes ``[b0:b1]`` of rows ``y0:y1`` of one sample plane (all samples if contig)."""
        per_plane = math.ceil(self.height / self.rps)
        out = np.empty((y1 - y0, b1 - b0), np.uint8)
        full = (b1 - b0) * 3 >= self.row_bytes  # wide reads: whole rows, one call per strip
        y = y0
        while y < y1:
            s = y // self.rps
            end = min(y1, (s + 1) * self.rps)
            base = self.offsets[sample * per_plane + s] + (y - s * self.rps) * self.row_bytes
            if full:
                data = np.frombuffer(self._pread((end - y) * self.row_bytes, base), np.uint8)
                out[y - y0 : end - y0] = data.reshape(end - y, self.row_bytes)[:, b0:b1]
            else:
                for r in range(y, end):
                    out[r - y0] = np.frombuffer(
                        self._pread(b1 - b0, base + (r - y) * self.row_bytes + b0), np.uint8)
            y = end
        return out

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        if self.bits == 1:
            b0, b1 = x0 // 8, (x1 + 7) // 8
            raw = self._rows(0, y0, y1, b0, b1)
            bits = np.unpackbits(raw, axis=1)
            return bits[:, x0 - b0 * 8 : x1 - b0 * 8].astype(np.bool_)
        item = self.dtype.itemsize
        if self.planar:
            planes = []
            for s in range(self.spp):
                raw = self._rows(s, y0, y1, x0 * item, x1 * item)
                planes.append(raw.view(self.file_dtype).reshape(y1 - y0, x1 - x0))
            out = np.stack(planes, axis=-1)
        else:
            raw = self._rows(0, y0, y1, x0 * item * self.spp, x1 * item * self.spp)
            out = raw.view(self.file_dtype).reshape((y1 - y0, x1 - x0) + self.shape[2:])
        return out.astype(self.dtype, copy=False) if out.dtype != self.dtype else out


# -- big deflate strips: streamed once into the decoded cache ------------------
#: Compressed strips that decode to more than this are not decoded whole in memory.
BIG_STRIP_BYTES = 64 * 2**20
#: Rows handed on at a time while inflating a big strip.
INFLATE_BAND_BYTES = 4 * 2**20


def _big_deflate_strips(page) -> bool:
    """Deflate strips (predictor none or horizontal) each decoding to over BIG_STRIP_BYTES."""
    try:
        if page.is_tiled or int(page.compression) not in (8, 32946):
            return False
        if int(page.predictor) not in (1, 2) or int(page.fillorder) != 1:
            return False
        spp = int(page.samplesperpixel)
        if spp > 1 and int(page.planarconfig) != 1:
            return False
        dtype = np.dtype(page.dtype)
        if dtype.kind not in "ui" or dtype.itemsize * 8 != int(page.bitspersample):
            return False
        rows = min(int(page.rowsperstrip or page.imagelength), int(page.imagelength))
        return rows * int(page.imagewidth) * spp * dtype.itemsize > BIG_STRIP_BYTES
    except (AttributeError, TypeError, ValueError):
        return False


def inflate_strip_rows(fd: int, page, keyframe, byteorder: str, band_bytes: int = INFLATE_BAND_BYTES):
    """``(first row, rows)`` of a deflate-striped page, inflated incrementally.

    Memory holds a band of about ``band_bytes``; the horizontal predictor is
    undone per band (a cumulative sum along x, wrapping as integers do).

    Raises
    ------
    ImageReadError
        A strip ends before its rows (truncated or corrupt data).
    """
    import zlib

    height, width = int(keyframe.imagelength), int(keyframe.imagewidth)
    spp = int(keyframe.samplesperpixel)
    dtype = np.dtype(keyframe.dtype)
    file_dtype = dtype.newbyteorder(byteorder) if dtype.itemsize > 1 else dtype
    row_bytes = width * spp * dtype.itemsize
    rps = min(int(keyframe.rowsperstrip or height), height)
    predictor = int(keyframe.predictor)
    band_rows = max(1, band_bytes // row_bytes)
    y = 0
    for s, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts, strict=True)):
        want = min(rps, height - s * rps)
        inflate = zlib.decompressobj()
        pending = bytearray()
        pos = done = 0
        while done < want:
            if inflate.unconsumed_tail:
                data = inflate.unconsumed_tail
            elif pos < count:
                data = os.pread(fd, min(1 << 20, count - pos), offset + pos)
                if not data:
                    break
                pos += len(data)
            else:
                break
            pending += inflate.decompress(data, band_rows * row_bytes)
            while done < want:
                n = min(band_rows, want - done)
                if len(pending) < n * row_bytes:
                    break
                rows = np.frombuffer(bytes(pending[: n * row_bytes]), file_dtype)
                del pending[: n * row_bytes]
                rows = rows.reshape(n, width, spp).astype(dtype)
                if predictor == 2:
                    rows = np.cumsum(rows, axis=1, dtype=dtype)
                yield y, (rows if spp > 1 else rows[..., 0])
                y += n
                done += n
        if done < want:
            raise ImageReadError(f"strip {s} ends after {done} of {want} rows")


def _deflate_plane(path: Path, fd: int, page, keyframe, byteorder: str, level: int) -> ZarrPlane:
    height, width = int(keyframe.imagelength), int(keyframe.imagewidth)
    spp = int(keyframe.samplesperpixel)
    shape = (height, width) + ((spp,) if spp > 1 else ())
    array = cached_rows(path, shape, np.dtype(keyframe.dtype),
                        lambda: inflate_strip_rows(fd, page, keyframe, byteorder),
                        key=f"tiff level {level} page {page.index}")
    index = (None,) * len(shape)
    return ZarrPlane(array, index, 2 if spp > 1 else None, (0, 1))


# -- colour interpretation ---------------------------------------------------
def colour_convert(page, raw_shape: tuple, path: Path) -> PixelConvert | None:
    """The conversion from stored values to shown values for one TIFF page.

    Parameters
    ----------
    page : tifffile.TiffPage
        The page's keyframe (photometric, bits, samples, colour map).
    raw_shape : tuple
        ``(y, x)`` or ``(y, x, samples)`` of the plane as read.

    Returns
    -------
    PixelConvert or None
        None when the stored values are what viewers show.
    """
    photometric = int(page.photometric)
    bits = int(page.bitspersample)
    dtype = np.dtype(page.dtype)
    samples = raw_shape[2] if len(raw_shape) == 3 else 1
    compression = int(page.compression)
    if (compression == APERIO_J2K_YCBCR and dtype == np.uint8 and samples >= 3
            and not _j2k_chroma_subsampled(page, path)):
        return PixelConvert(lambda r: _pillow_convert(r[..., :3], "YCbCr"), 3, np.dtype(np.uint8),
                            "Aperio JPEG 2000 YCbCr (33003): Pillow's YCbCr -> RGB")
    if photometric in (MINISWHITE, MINISBLACK, MASK):
        invert = photometric == MINISWHITE
        if dtype == np.bool_:
            if invert:
                return PixelConvert(_bilevel_white, samples, np.dtype(np.uint8),
                                    "MinIsWhite bilevel: 0 -> 255, 1 -> 0")
            return PixelConvert(_bilevel_black, samples, np.dtype(np.uint8), "bilevel: 1 -> 255")
        if dtype.kind == "u" and bits < 8:
            top = (1 << bits) - 1
            rule = f"{bits}-bit gray scaled to 0-255" + (" after inversion (MinIsWhite)" if invert else "")
            return PixelConvert(lambda r: _scale_low_bits(r, top, invert), samples,
                                np.dtype(np.uint8), rule)
        if invert:
            if dtype.kind == "u":
                top = (1 << bits) - 1 if bits < dtype.itemsize * 8 else np.iinfo(dtype).max
                return PixelConvert(lambda r: _invert_first(r, lambda v: dtype.type(top) - v),
                                    samples, dtype, f"MinIsWhite: inverted ({top} - value)")
            if dtype.kind == "i":
                return PixelConvert(lambda r: _invert_first(r, np.invert), samples, dtype,
                                    "MinIsWhite: inverted (~value)")
            return PixelConvert(lambda r: _invert_first(r, lambda v: dtype.type(1) - v),
                                samples, dtype, "MinIsWhite: inverted (1 - value)")
        return None
    if photometric == RGB:
        extras = tuple(int(e) for e in (getattr(page, "extrasamples", ()) or ()))
        if dtype == np.uint8 and samples == 4 and extras[:1] == (1,):
            return PixelConvert(_unpremultiply, 4, np.dtype(np.uint8),
                                "RGB with associated alpha: un-premultiplied (Pillow's RGBa)")
        return None
    if photometric == PALETTE:
        cmap = getattr(page, "colormap", None)
        if cmap is None:
            raise ImageReadError(f"{path}: palette TIFF without a colour map")
        lut = np.ascontiguousarray((np.asarray(cmap, np.uint32) // 256).astype(np.uint8).T)
        if lut.ndim != 2 or lut.shape[1] != 3:
            raise ImageReadError(f"{path}: malformed TIFF colour map of shape {np.shape(cmap)}")
        n = lut.shape[0]

        def palette(region: np.ndarray) -> np.ndarray:
            idx = region[..., 0] if region.ndim == 3 else region
            idx = idx.astype(np.intp)
            return lut[np.minimum(idx, n - 1)]

        return PixelConvert(palette, 3, np.dtype(np.uint8), "Palette: RGB from the colour map")
    if photometric == SEPARATED and samples >= 4 and int(getattr(page, "inkset", 1) or 1) == 1:
        if dtype == np.uint8:
            return PixelConvert(lambda r: _pillow_convert(r[..., :4], "CMYK"), 3, np.dtype(np.uint8),
                                "CMYK: Pillow's CMYK -> RGB")
        if dtype.kind == "u":
            return PixelConvert(_cmyk_wide, 3, dtype, "CMYK: (max - C)(max - K) / max")
    if photometric == YCBCR:
        if compression in (6, 7, 33003, 33005, 34892):  # JPEG decoders return RGB
            return None
        if dtype == np.uint8 and samples >= 3:
            return PixelConvert(lambda r: _pillow_convert(r[..., :3], "YCbCr"), 3, np.dtype(np.uint8),
                                "YCbCr: Pillow's YCbCr -> RGB")
    if photometric == CIELAB and dtype == np.uint8 and samples >= 3:
        return PixelConvert(lambda r: _pillow_convert(r[..., :3], "LAB"), 3, np.dtype(np.uint8),
                            "CIELab: Pillow's LAB -> RGB")
    name = _PHOTOMETRIC_NAMES.get(photometric, f"photometric {photometric}")
    return PixelConvert(lambda r: r, samples, dtype, f"as stored ({name} is not converted)")


def _j2k_chroma_subsampled(page, path: Path) -> bool:
    """Whether the JPEG 2000 codestream of ``page``'s first tile has subsampled chroma.

    Read from the SIZ marker (components 2 and 3 with ``XRsiz`` or ``YRsiz``
    above 1). imagecodecs converts such a codestream from YCbCr to RGB itself
    (OpenJPEG's ``color_sycc_to_rgb``); a 4:4:4 one it returns as stored.
    Unreadable: False (the samples are taken as stored YCbCr).
    """
    import struct

    counts = [int(c) for c in page.databytecounts]
    first = next((k for k, c in enumerate(counts) if c), None)
    if first is None:
        return False
    with open(path, "rb") as fh:
        fh.seek(int(page.dataoffsets[first]))
        head = fh.read(min(counts[first], 4096))
    at = head.find(b"\xff\x4f\xff\x51")  # SOC + SIZ (also inside a JP2 box)
    if at < 0 or len(head) < at + 42:
        return False
    n = struct.unpack(">H", head[at + 40: at + 42])[0]
    comps = head[at + 42: at + 42 + 3 * n]
    if n < 3 or len(comps) < 9:
        return False
    return any(comps[3 * k + 1] > 1 or comps[3 * k + 2] > 1 for k in (1, 2))


def _bilevel_white(region: np.ndarray) -> np.ndarray:
    return np.where(region, np.uint8(0), np.uint8(255))


def _bilevel_black(region: np.ndarray) -> np.ndarray:
    return region.view(np.uint8) * np.uint8(255)


def _scale_low_bits(region: np.ndarray, top: int, invert: bool) -> np.ndarray:
    v = region.astype(np.uint16)
    if invert:
        v = top - v
    return (v * 255 // top).astype(np.uint8)


def _invert_first(region: np.ndarray, func) -> np.ndarray:
    if region.ndim == 3:  # gray + extra samples: only the gray is inverted
        out = region.copy()
        out[..., 0] = func(region[..., 0])
        return out
    return func(region)


def _pillow_convert(region: np.ndarray, mode: str) -> np.ndarray:
    from PIL import Image

    h, w = region.shape[:2]
    if h == 0 or w == 0:
        return np.zeros((h, w, 3), np.uint8)
    im = Image.frombuffer(mode, (w, h), np.ascontiguousarray(region).tobytes(), "raw", mode, 0, 1)
    return np.asarray(im.convert("RGB"))


def _unpremultiply(region: np.ndarray) -> np.ndarray:
    from PIL import Image

    h, w = region.shape[:2]
    if h == 0 or w == 0:
        return region
    im = Image.frombuffer("RGBA", (w, h), np.ascontiguousarray(region).tobytes(), "raw", "RGBa", 0, 1)
    return np.asarray(im)


def _cmyk_wide(region: np.ndarray) -> np.ndarray:
    top = float(np.iinfo(region.dtype).max)
    r = region.astype(np.float64)
    rgb = (top - r[..., :3]) * (top - r[..., 3:4]) / top
    return np.clip(rgb + 0.5, 0, top).astype(region.dtype)


# -- pixel size --------------------------------------------------------------
def tiff_pixel_size(tif, page, series: int = 0) -> PixelSize | None:
    """The pixel size of a TIFF file's image ``series`` (see :mod:`.pixel_size`)."""
    try:
        if tif.is_ome and tif.ome_metadata:
            found = from_ome_xml(tif.ome_metadata, series)
            if found is not None:
                return found
        description = page.description or ""
        if tif.is_svs or description.startswith("Aperio"):
            found = from_svs_description(description)
            if found is not None:
                return found
        xres, yres = page.resolution
        unit = int(page.resolutionunit)
        if tif.is_imagej and unit == 1:
            meta = tif.imagej_metadata or {}
            name = meta.get("unit")
            return from_resolution(xres, yres, unit_to_um(name), f"ImageJ resolution (unit {name!r})")
        if unit in (2, 3):
            what = "NDPI" if getattr(tif, "is_ndpi", False) else "TIFF"
            return from_resolution(xres, yres, 25400.0 if unit == 2 else 10000.0,
                                   f"{what} XResolution/YResolution ({'inch' if unit == 2 else 'cm'})")
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None
