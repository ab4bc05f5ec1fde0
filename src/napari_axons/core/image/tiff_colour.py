"""TIFF colour: stored values mapped to what libtiff-based viewers (Pillow, ImageJ) show.

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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .source import ImageReadError, PixelConvert

__all__ = ["colour_convert", "PHOTOMETRIC_NAMES", "APERIO_J2K_YCBCR"]

#: Compression: Aperio JPEG 2000 whose codestream holds YCbCr (33005: RGB)
APERIO_J2K_YCBCR = 33003

# TIFF PhotometricInterpretation values
MINISWHITE, MINISBLACK, RGB, PALETTE, MASK, SEPARATED, YCBCR, CIELAB = 0, 1, 2, 3, 4, 5, 6, 8
PHOTOMETRIC_NAMES = {0: "MinIsWhite", 1: "MinIsBlack", 2: "RGB", 3: "Palette", 4: "Mask",
                      5: "Separated", 6: "YCbCr", 8: "CIELab", 9: "ICCLab", 10: "ITULab",
                      32803: "CFA", 32844: "LogL", 32845: "LogLuv", 34892: "LinearRaw"}


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
    name = PHOTOMETRIC_NAMES.get(photometric, f"photometric {photometric}")
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
