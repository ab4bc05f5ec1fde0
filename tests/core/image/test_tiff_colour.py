"""Every colour interpretation and sample layout tifffile writes reads as Pillow (libtiff) shows it.

Each case is written with tifffile (uncompressed strips, one strip, compressed
strips and tiles: the region readers differ), then read through
``open_image`` + ``read_rgb`` and compared with Pillow's ``convert("RGB")`` of
the same file, which is what libtiff-based viewers show.
"""

import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.image.colour import to_rgb8
from napari_axons.core.image.open import open_image
from napari_axons.core.image.tiff_strips import StripPlane

H, W = 37, 53  # odd sizes: bit packing and strip remainders are exercised


def _data(rng):
    g = rng.integers(0, 256, (H, W), dtype=np.uint8)
    return {
        "gray": g,
        "rgb": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "rgba": rng.integers(0, 256, (H, W, 4), dtype=np.uint8),
        "cmyk": rng.integers(0, 256, (H, W, 4), dtype=np.uint8),
        "la": rng.integers(0, 256, (H, W, 2), dtype=np.uint8),
    }


CASES = {
    "minisblack": lambda d: (d["gray"], {"photometric": "minisblack"}),
    "miniswhite": lambda d: (d["gray"], {"photometric": "miniswhite"}),
    "bilevel-black": lambda d: (d["gray"] > 128, {"photometric": "minisblack"}),
    "bilevel-white": lambda d: (d["gray"] > 128, {"photometric": "miniswhite"}),
    "gray-4bit": lambda d: (d["gray"] // 16, {"photometric": "minisblack", "bitspersample": 4}),
    "gray-4bit-white": lambda d: (d["gray"] // 16, {"photometric": "miniswhite", "bitspersample": 4}),
    "gray-2bit": lambda d: (d["gray"] // 64, {"photometric": "minisblack", "bitspersample": 2}),
    "gray-alpha": lambda d: (d["la"], {"photometric": "minisblack", "extrasamples": [2]}),
    "rgb": lambda d: (d["rgb"], {"photometric": "rgb"}),
    "rgb-planar": lambda d: (np.moveaxis(d["rgb"], -1, 0), {"photometric": "rgb",
                                                           "planarconfig": "separate"}),
    "rgba-unassociated": lambda d: (d["rgba"], {"photometric": "rgb", "extrasamples": [2]}),
    "rgba-associated": lambda d: (d["rgba"], {"photometric": "rgb", "extrasamples": [1]}),
    "rgba-planar": lambda d: (np.moveaxis(d["rgba"], -1, 0), {"photometric": "rgb",
                                                             "planarconfig": "separate",
                                                             "extrasamples": [2]}),
    "palette": lambda d: (d["gray"], {"photometric": "palette", "colormap": _colormap()}),
    "cmyk": lambda d: (d["cmyk"], {"photometric": "separated"}),
    "ycbcr": lambda d: (d["rgb"], {"photometric": "ycbcr"}),
    "cielab": lambda d: (d["rgb"], {"photometric": "cielab"}),
}

LAYOUTS = {
    "strips": {"rowsperstrip": 8},
    "one-strip": {},
    "zlib-strips": {"rowsperstrip": 8, "compression": "zlib"},
    "tiles": {"tile": (16, 16)},
}


def _colormap():
    rng = np.random.default_rng(7)
    return rng.integers(0, 65536, (3, 256)).astype(np.uint16)


def _pillow_rgb(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", list(CASES))
def test_tiff_colour_matches_pillow(tmp_path, rng, case, layout):
    data, kw = CASES[case](_data(rng))
    kw = {**kw, **LAYOUTS[layout]}
    if kw.get("bitspersample", 8) < 8 and "compression" in kw:
        kw.pop("compression")
    path = tmp_path / f"{case}.tif"
    try:
        tifffile.imwrite(path, data, **kw)
    except (ValueError, NotImplementedError) as exc:  # a layout tifffile does not write
        pytest.skip(f"tifffile cannot write {case} as {layout}: {exc}")
    expect = _pillow_rgb(path)
    # Pillow converts compressed YCbCr through libtiff's integer tables, uncompressed
    # through its own formula (used here for both): they differ by at most 1.
    tol = 1 if case == "ycbcr" and "compression" in kw else 0
    with open_image(path) as src:
        assert src.shape[:2] == (H, W)
        np.testing.assert_allclose(src.read_rgb(0, 0, H, W), expect, atol=tol, rtol=0)
        # a region in the middle, across strip and tile borders
        np.testing.assert_allclose(src.read_rgb(5, 9, 20, 30), expect[5:25, 9:39], atol=tol, rtol=0)
        # the napari path (lazy dask levels) shows the same converted values
        level = np.asarray(src.levels()[0])
        shown = to_rgb8(level, None if level.dtype == np.uint8 else src.intensity_range())
        np.testing.assert_allclose(shown, expect, atol=tol, rtol=0)


def test_uncompressed_strips_are_read_from_the_file_not_decoded_whole(tmp_path, rng):
    data = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "one.tif", data, photometric="rgb")  # one strip
    with open_image(tmp_path / "one.tif") as src:
        level = src._levels[0]
        assert isinstance(level.plane, StripPlane)
        np.testing.assert_array_equal(src.read_region(100, 50, 64, 64), data[100:164, 50:114])
        assert level._whole is None  # nothing was decoded whole


def test_miniswhite_16bit_is_inverted_within_its_bit_depth(tmp_path, rng):
    data = rng.integers(0, 4096, (20, 30)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "w16.tif", data, photometric="miniswhite")
    with open_image(tmp_path / "w16.tif") as src:
        np.testing.assert_array_equal(src.read_region(0, 0, 20, 30), 65535 - data)
        assert src.colour == "MinIsWhite: inverted (65535 - value)"
    fdata = rng.random((20, 30)).astype(np.float32)
    tifffile.imwrite(tmp_path / "wf.tif", fdata, photometric="miniswhite")
    with open_image(tmp_path / "wf.tif") as src:
        np.testing.assert_allclose(src.read_region(0, 0, 20, 30), 1 - fdata)
