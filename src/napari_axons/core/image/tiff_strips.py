"""Striped TIFF data read by region with bounded memory.

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
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import numpy as np

from .decoded_cache import cached_rows
from .source import ImageReadError, ZarrPlane

__all__ = ["StripPlane", "BIG_STRIP_BYTES", "INFLATE_BAND_BYTES", "big_deflate_strips",
           "inflate_strip_rows", "deflate_plane", "open_fd", "uncompressed"]


def open_fd(path: Path) -> int:
    """A read-only file descriptor (for ``os.pread``)."""
    return os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))


def uncompressed(page) -> bool:
    """The page's data is stored uncompressed, in strips."""
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
            if not uncompressed(keyframe) or int(getattr(keyframe, "fillorder", 1)) != 1:
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


def big_deflate_strips(page) -> bool:
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


def deflate_plane(path: Path, fd: int, page, keyframe, byteorder: str, level: int) -> ZarrPlane:
    height, width = int(keyframe.imagelength), int(keyframe.imagewidth)
    spp = int(keyframe.samplesperpixel)
    shape = (height, width) + ((spp,) if spp > 1 else ())
    array = cached_rows(path, shape, np.dtype(keyframe.dtype),
                        lambda: inflate_strip_rows(fd, page, keyframe, byteorder),
                        key=f"tiff level {level} page {page.index}")
    index = (None,) * len(shape)
    return ZarrPlane(array, index, 2 if spp > 1 else None, (0, 1))
