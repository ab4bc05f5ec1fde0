"""PNG read without Pillow's whole-image decode: band by band, and the chunks that matter.

:func:`png_bands` decodes a non-interlaced PNG a band of rows at a time
(memory: one band, whatever the image size), each band re-wrapped as a small
PNG Pillow decodes, so the pixels are Pillow's. :func:`critical_png_chunks`
keeps what decoding needs (no text or ICC chunks that would make libpng
warn), :func:`png_interlaced` says when streaming is impossible.
"""

from __future__ import annotations

import io as _io
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .colour import pil_array
from .source import ImageReadError

__all__ = ["png_bands", "png_interlaced", "critical_png_chunks"]


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


# -- streaming PNG -----------------------------------------------------------
_PNG_SIG = b"\x89PNG\r\n\x1a\n"


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


#: (colour type, bit depth) of a stand-in PNG that unfilters rows to their raw bytes, by bpp.
_RAW_STANDIN = {1: (0, 8), 2: (4, 8), 3: (2, 8), 4: (6, 8), 6: (2, 16), 8: (6, 16)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _ihdr(width: int, height: int, depth: int, ctype: int) -> bytes:
    return _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))


def png_bands(path: Path, band_bytes: int = 2 * 2**20) -> Iterator[tuple[int, np.ndarray]]:
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
                pixels = pil_array(im)
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
