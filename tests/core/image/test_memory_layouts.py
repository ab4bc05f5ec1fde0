"""Layouts that cannot be read by tile are tiled with peak memory well below the decoded image."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image


def _peak_mb(image, out, tmp_path, prelude=""):
    code = (
        "import sys\n" + prelude +
        "from napari_axons.cli import main\n"
        f"code = main(['tile', {str(image)!r}, '-o', {str(out)!r}, '--threads', '2'])\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('PEAK_KB', peak)\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "NAPARI_AXONS_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    return int(run.stdout.split("PEAK_KB")[1].split()[0]) / 1024


def _baseline_mb(tmp_path):
    """Peak RSS of tiling a 64 x 64 PNG: the interpreter, imports and thread pools."""
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "tiny.png")
    return _peak_mb(tmp_path / "tiny.png", tmp_path / "out-tiny", tmp_path)


def _rows(side, y0, y1):
    x = np.arange(side, dtype=np.uint32)[None, :]
    y = np.arange(y0, y1, dtype=np.uint32)[:, None]
    return np.dstack([(x + y) % 256, (x * 3 + y) % 251, np.broadcast_to((y * 5) % 241, (y1 - y0, side))
                      ]).astype(np.uint8)


@pytest.mark.parametrize("planar", [False, True])
def test_one_strip_uncompressed_tiff_is_read_in_pieces(tmp_path, planar):
    side = 8000  # 192 MB decoded
    path = tmp_path / "onestrip.tif"
    shape = (3, side, side) if planar else (side, side, 3)
    mm = tifffile.memmap(path, shape=shape, dtype=np.uint8, photometric="rgb", rowsperstrip=side,
                         planarconfig="separate" if planar else "contig")
    for y0 in range(0, side, 1000):
        band = _rows(side, y0, y0 + 1000)
        if planar:
            mm[:, y0 : y0 + 1000] = np.moveaxis(band, -1, 0)
        else:
            mm[y0 : y0 + 1000] = band
    mm.flush()
    del mm
    out = tmp_path / "out"
    peak = _peak_mb(path, out, tmp_path) - _baseline_mb(tmp_path)
    assert peak < 64, f"peak RSS {peak:.0f} MB above the baseline for a 192 MB one-strip image"
    tile = np.asarray(Image.open(out / "onestrip_tile_0017.png"))  # main grid row 1, column 2
    np.testing.assert_array_equal(tile, _rows(side, 512, 1024)[:, 1024:1536])


def test_large_png_is_streamed_into_the_cache(tmp_path):
    w, h = 8000, 6000  # 144 MB decoded; streamed because the in-memory limit is lowered to 16 MB
    image = np.concatenate([_rows(w, y0, y0 + 1000) for y0 in range(0, h, 1000)])
    Image.fromarray(image).save(tmp_path / "big.png", compress_level=1)
    del image
    out = tmp_path / "out"
    prelude = "import napari_axons.core.image.raster as r; r.WHOLE_DECODE_MAX_BYTES = 16 * 2**20\n"
    peak = _peak_mb(tmp_path / "big.png", out, tmp_path, prelude) - _baseline_mb(tmp_path)
    assert peak < 64, f"peak RSS {peak:.0f} MB above the baseline for a 144 MB PNG"
    tile = np.asarray(Image.open(out / "big_tile_0016.png"))  # main grid row 1, column 1
    np.testing.assert_array_equal(tile, _rows(w, 512, 1024)[:, 512:1024])


@pytest.mark.parametrize(("dtype", "spp", "byteorder", "predictor"), [
    (np.uint8, 3, "<", False), (np.uint8, 3, "<", True), (np.uint16, 1, ">", True),
    (np.uint16, 4, "<", False), (np.int32, 1, "<", True)])
def test_big_deflate_strips_are_inflated_in_bands_with_the_same_pixels(
        tmp_path, rng, monkeypatch, dtype, spp, byteorder, predictor):
    from napari_axons.core.image import tiff_strips as tiff
    from napari_axons.core.image.open import open_image

    monkeypatch.setenv("NAPARI_AXONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tiff, "BIG_STRIP_BYTES", 1000)
    monkeypatch.setattr(tiff, "INFLATE_BAND_BYTES", 5000)
    info = np.iinfo(dtype)
    shape = (301, 207) + ((spp,) if spp > 1 else ())
    data = rng.integers(max(info.min, -1000), min(info.max, 60000), shape).astype(dtype)
    kw = {"photometric": "rgb" if spp >= 3 else "minisblack", "compression": "zlib",
          "rowsperstrip": 120, "byteorder": byteorder, "predictor": predictor}
    if spp == 4:
        kw["extrasamples"] = [2]
    tifffile.imwrite(tmp_path / "z.tif", data, **kw)
    with open_image(tmp_path / "z.tif") as src:
        assert type(src._levels[0].plane).__name__ == "ZarrPlane"
        assert "decoded" in str(src._levels[0].plane.array.store)  # the decoded cache
        np.testing.assert_array_equal(src.read_region(0, 0, 301, 207), data)
        np.testing.assert_array_equal(src.read_region(119, 50, 3, 100), data[119:122, 50:150])


def test_one_zlib_strip_is_tiled_in_bounded_memory(tmp_path):
    side = 8000
    image = np.concatenate([_rows(side, y0, y0 + 1000) for y0 in range(0, side, 1000)])
    tifffile.imwrite(tmp_path / "zstrip.tif", image, photometric="rgb", compression="zlib",
                     compressionargs={"level": 1}, rowsperstrip=side)
    del image
    out = tmp_path / "out"
    peak = _peak_mb(tmp_path / "zstrip.tif", out, tmp_path) - _baseline_mb(tmp_path)
    assert peak < 64, f"peak RSS {peak:.0f} MB above the baseline for a 192 MB zlib strip"
    tile = np.asarray(Image.open(out / "zstrip_tile_0017.png"))
    np.testing.assert_array_equal(tile, _rows(side, 512, 1024)[:, 1024:1536])
