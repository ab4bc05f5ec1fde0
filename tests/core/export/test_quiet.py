"""Valid inputs print nothing but the result: no libpng, numpy or tifffile warnings on stderr."""

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.image import open_image

#: Adam7 passes: (first row, first column, row step, column step).
_ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def interlaced_png(a: np.ndarray) -> bytes:
    """An Adam7-interlaced PNG of ``a`` ((H, W) grey, (H, W, 2|3|4); uint8 or uint16).

    Pillow cannot write interlaced PNGs; GIMP, ImageMagick (-interlace PNG) and
    web tools do.
    """
    ctype = 0 if a.ndim == 2 else {2: 4, 3: 2, 4: 6}[a.shape[2]]
    depth = 16 if a.dtype == np.uint16 else 8
    raw = b""
    for y0, x0, dy, dx in _ADAM7:
        sub = a[y0::dy, x0::dx]
        if sub.size:
            rows = np.ascontiguousarray(sub.astype(">u2") if depth == 16 else sub)
            raw += b"".join(b"\x00" + r.tobytes() for r in rows.view(np.uint8).reshape(len(sub), -1))
    return (b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", a.shape[1], a.shape[0], depth, ctype, 0, 0, 1))
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def _inputs(tmp_path, rng):
    rgb = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    paths = []
    # a PNG with a colour profile libpng complains about ("iCCP: too short")
    Image.fromarray(rgb).save(p := tmp_path / "icc.png", icc_profile=b"x" * 200)
    paths.append(p)
    # float data with NaN and +-inf (numpy would warn on the cast)
    f = rng.random((200, 300)).astype(np.float32) * 1000
    f[0, :10] = np.nan
    f[1, :10] = np.inf
    f[2, :10] = -np.inf
    tifffile.imwrite(p := tmp_path / "nan.tif", f)
    paths.append(p)
    # float64 beyond float32's range
    tifffile.imwrite(p := tmp_path / "huge.tif", np.full((200, 300), 1e300) * rng.random((200, 300)))
    paths.append(p)
    # an OME-TIFF whose OME-XML tifffile cannot parse: it logs, then reads the pages
    tifffile.imwrite(p := tmp_path / "badome.ome.tif", rgb, photometric="rgb",
                     description='<?xml version="1.0"?><OME><Image broken')
    paths.append(p)
    # a 1-bit TIFF and a MinIsWhite one
    tifffile.imwrite(p := tmp_path / "bilevel.tif", rgb[..., 0] > 100, photometric="miniswhite")
    paths.append(p)
    # interlaced PNGs (libpng: "Interlace handling should be turned on when using png_read_image")
    # (libpng prints it through C stdio at exit: only a separate process sees it)
    for name, arr in (("il_rgb", rgb), ("il_grey", rgb[..., 0]), ("il_grey16", rgb[..., 0] * np.uint16(257))):
        (p := tmp_path / f"{name}.png").write_bytes(interlaced_png(arr))
        paths.append(p)
    return paths


@pytest.mark.parametrize("layout", ["grey", "grey16", "grey_alpha", "rgb", "rgba"])
def test_interlaced_png_pixels(tmp_path, rng, layout):
    rgba = rng.integers(0, 255, (37, 53, 4), dtype=np.uint8)
    arr = {"grey": rgba[..., 0], "grey16": rgba[..., 0].astype(np.uint16) * 257 + 3,
           "grey_alpha": rgba[..., :2], "rgb": rgba[..., :3], "rgba": rgba}[layout]
    (p := tmp_path / "i.png").write_bytes(interlaced_png(arr))
    with Image.open(p) as im:
        assert im.info.get("interlace") == 1
        expected = np.asarray(im.convert("L") if layout == "grey_alpha" else im)
    with open_image(p) as src:
        got = src.read_region(0, 0, 37, 53)
    np.testing.assert_array_equal(got, expected)
    if layout in ("grey", "rgb", "rgba"):
        np.testing.assert_array_equal(got, arr)


def test_valid_inputs_leave_stderr_empty(tmp_path, rng):
    paths = _inputs(tmp_path, rng)
    out = tmp_path / "out"
    code = ("import sys; from napari_axons.cli import main; "
            f"sys.exit(main(['tile', *{[str(p) for p in paths]!r}, '-o', {str(out)!r}, "
            "'--progress-interval', '1000']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NAPARI_AXONS_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    noise = [line for line in run.stderr.splitlines() if not line.startswith("tiling: ")]
    assert noise == []
    assert len(list(out.glob("*_tile_0000.png"))) == len(paths)
