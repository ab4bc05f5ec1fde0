"""Synthetic Aperio SVS files in every compression and colour layout Aperio writes.

Aperio's writers use, per pyramid level: no compression or LZW (RGB), JPEG with YCbCr
samples (4:2:0, 4:2:2 or 4:4:4) or RGB samples (no colour transform, no JFIF marker), and
JPEG 2000 as compression 33005 (an RGB codestream) or 33003 (a YCbCr codestream without a
colour transform, chroma 4:4:4 or subsampled 4:2:2 / 4:2:0), with the PhotometricInterpretation
tag saying RGB or YCbCr. A subsampled JPEG 2000 codestream needs per-component subsampling,
which imagecodecs cannot write: it is encoded here with OpenJPEG itself (the libopenjp2 that
Pillow or imagecodecs ship), through ctypes.
"""

from __future__ import annotations

import ctypes
import glob
import os
import tempfile

import imagecodecs
import numpy as np
import tifffile
from PIL import Image

#: kind -> (TIFF compression, photometric tag) of level 0
KINDS = {
    "none": (1, 2), "lzw": (5, 2),
    "jpeg-ycbcr-420": (7, 6), "jpeg-ycbcr-422": (7, 6), "jpeg-ycbcr-444": (7, 6), "jpeg-rgb": (7, 2),
    "j2k-33005-rgb": (33005, 2),
    "j2k-33003-444": (33003, 2), "j2k-33003-422": (33003, 2), "j2k-33003-420": (33003, 2),
    "j2k-33003-444-ycbcr-tag": (33003, 6), "j2k-33003-422-ycbcr-tag": (33003, 6),
}
TILE = 256


def picture(h: int = 512, w: int = 768) -> np.ndarray:
    """An RGB slide-like picture: smooth colour ramps and two stained blobs."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(128 + 100 * np.sin(xx / 37.0)), (128 + 100 * np.cos(yy / 23.0)),
                    (xx + yy) * 255 // (h + w)], -1).astype(np.uint8)
    img[100:200, 150:300] = (220, 40, 90)
    img[300:400, 400:600] = (60, 90, 200)
    return img


# --------------------------------------------------------------------------- OpenJPEG, ctypes


def _openjp2():
    import PIL

    for pkg in (PIL, imagecodecs):
        base = os.path.dirname(os.path.dirname(pkg.__file__))
        for p in sorted(glob.glob(os.path.join(base, "*.libs", "libopenjp2*.so*"))):
            return ctypes.CDLL(p)
    return None


OPENJP2 = _openjp2()


class _CmptParm(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("dx", "dy", "w", "h", "x0", "y0", "prec", "bpp", "sgnd")]


class _Comp(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint32) for n in ("dx", "dy", "w", "h", "x0", "y0", "prec", "bpp", "sgnd",
                                               "resno_decoded", "factor")] + [
        ("data", ctypes.POINTER(ctypes.c_int32)), ("alpha", ctypes.c_uint16)]


class _Image(ctypes.Structure):
    _fields_ = [("x0", ctypes.c_uint32), ("y0", ctypes.c_uint32), ("x1", ctypes.c_uint32),
                ("y1", ctypes.c_uint32), ("numcomps", ctypes.c_uint32), ("color_space", ctypes.c_int),
                ("comps", ctypes.POINTER(_Comp)), ("icc_profile_buf", ctypes.c_void_p),
                ("icc_profile_len", ctypes.c_uint32)]


def j2k_components(planes: list[np.ndarray], steps: list[tuple[int, int]]) -> bytes:
    """A lossless J2K codestream of uint8 ``planes`` (each already subsampled by its
    ``(dy, dx)`` step), no colour transform: OpenJPEG's defaults."""
    lib = OPENJP2
    h, w = planes[0].shape
    parms = (_CmptParm * len(planes))()
    for i, (p, (dy, dx)) in enumerate(zip(planes, steps, strict=True)):
        parms[i].dx, parms[i].dy, parms[i].w, parms[i].h = dx, dy, p.shape[1], p.shape[0]
        parms[i].prec, parms[i].bpp = 8, 8
    lib.opj_image_create.restype = ctypes.POINTER(_Image)
    img = lib.opj_image_create(ctypes.c_uint32(len(planes)), parms, ctypes.c_int(0))
    im = img.contents
    im.x0, im.y0, im.x1, im.y1 = 0, 0, w, h
    for i, p in enumerate(planes):
        flat = np.ascontiguousarray(p, np.int32).ravel()
        ctypes.memmove(im.comps[i].data, flat.ctypes.data, flat.nbytes)
    params = ctypes.create_string_buffer(1 << 20)  # larger than opj_cparameters_t
    lib.opj_set_default_encoder_parameters(params)
    lib.opj_create_compress.restype = ctypes.c_void_p
    codec = ctypes.c_void_p(lib.opj_create_compress(ctypes.c_int(0)))  # OPJ_CODEC_J2K
    fd, name = tempfile.mkstemp(suffix=".j2k")
    os.close(fd)
    lib.opj_stream_create_default_file_stream.restype = ctypes.c_void_p
    stream = ctypes.c_void_p(lib.opj_stream_create_default_file_stream(name.encode(), ctypes.c_int(0)))
    try:
        ok = (lib.opj_setup_encoder(codec, params, img) and lib.opj_start_compress(codec, img, stream)
              and lib.opj_encode(codec, stream) and lib.opj_end_compress(codec, stream))
    finally:
        lib.opj_stream_destroy(stream)
        lib.opj_destroy_codec(codec)
        lib.opj_image_destroy(img)
    with open(name, "rb") as fh:
        data = fh.read()
    os.unlink(name)
    assert ok and data[:4] == b"\xff\x4f\xff\x51"
    return data


# --------------------------------------------------------------------------- SVS files


def _j2k_tiles(img: np.ndarray, kind: str) -> list[bytes]:
    out = []
    h, w = img.shape[:2]
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            tile = np.zeros((TILE, TILE, 3), np.uint8)
            part = img[y: y + TILE, x: x + TILE]
            tile[: part.shape[0], : part.shape[1]] = part
            if "33005" in kind:
                out.append(imagecodecs.jpeg2k_encode(tile, codecformat="J2K", mct=True,
                                                     reversible=True, level=0))
                continue
            ycc = np.asarray(Image.fromarray(tile).convert("YCbCr"))
            dy, dx = {"444": (1, 1), "422": (1, 2), "420": (2, 2)}[kind.split("-")[2]]
            out.append(j2k_components([ycc[..., 0], ycc[::dy, ::dx, 1], ycc[::dy, ::dx, 2]],
                                      [(1, 1), (dy, dx), (dy, dx)]))
    return out


def _write_level(tw, img: np.ndarray, kind: str, description: str) -> None:
    h, w = img.shape[:2]
    kw = {"tile": (TILE, TILE), "description": description, "metadata": None}
    if kind in ("none", "lzw"):
        tw.write(img, photometric="rgb", compression=None if kind == "none" else "lzw", **kw)
    elif kind.startswith("jpeg-ycbcr"):
        sub = {"420": (2, 2), "422": (2, 1), "444": (1, 1)}[kind[-3:]]
        tw.write(img, photometric="rgb", compression="jpeg", compressionargs={"level": 95},
                 subsampling=sub, **kw)
    elif kind == "jpeg-rgb":  # Aperio's RGB JPEG: no colour transform, no JFIF marker
        tw.write(img, photometric="rgb", compression="jpeg", subsampling=(1, 1),
                 compressionargs={"level": 95, "outcolorspace": "rgb"}, **kw)
    else:
        compression = KINDS[kind][0]
        extra = {"photometric": "ycbcr", "subsampling": (1, 1)} if kind.endswith("ycbcr-tag") else \
            {"photometric": "rgb"}
        tw.write(iter(_j2k_tiles(img, kind)), shape=(h, w, 3), dtype="uint8", compression=compression,
                 **extra, **kw)


def write_svs(path, img: np.ndarray, kind: str) -> None:
    """An Aperio SVS: level 0 (``img``), a stripped thumbnail, level 1 (half size), all in ``kind``."""
    h, w = img.shape[:2]
    desc = (f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] ({TILE}x{TILE}) {kind}"
            "|AppMag = 20|MPP = 0.4990")
    half = np.asarray(Image.fromarray(img).resize((w // 2, h // 2), Image.BILINEAR))
    with tifffile.TiffWriter(path) as tw:
        _write_level(tw, img, kind, desc)
        tw.write(np.asarray(Image.fromarray(img).resize((w // 4, h // 4))), photometric="rgb",
                 description=f"Aperio Image Library v12.0.15 \r\n{w}x{h} -> {w // 4}x{h // 4}",
                 metadata=None)
        _write_level(tw, half, kind, f"Aperio Image Library v12.0.15 \r\n{w}x{h} -> {w // 2}x{h // 2}")
