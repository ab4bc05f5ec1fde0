"""Aperio SVS in every compression and colour layout Aperio writes: true colours at every level,
as the pixels written and as OpenSlide (the vendor reader) shows them."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from aperio_helpers import KINDS, OPENJP2, picture, write_svs
from PIL import Image

from napari_axons.core.image import open_image

#: lossless kinds: exactly the pixels written; the others (JPEG 95, chroma subsampling at the
#: blobs' edges, YCbCr <-> RGB rounding) within a mean of 3 levels: false colours are 50-75 off
LOSSLESS = ("none", "lzw", "j2k-33005-rgb")


@pytest.fixture(scope="module")
def img():
    return picture()


@pytest.mark.parametrize("kind", list(KINDS))
def test_aperio_svs_true_colours(tmp_path, img, kind):
    if "33003" in kind and kind[12:15] in ("422", "420") and OPENJP2 is None:
        pytest.skip("no libopenjp2 to write a subsampled codestream")
    path = tmp_path / f"{kind}.svs"
    write_svs(path, img, kind)
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        assert (int(page.compression), int(page.photometric)) == KINDS[kind]
        assert tf.is_svs
    half = np.asarray(Image.fromarray(img).resize((img.shape[1] // 2, img.shape[0] // 2), Image.BILINEAR))
    with open_image(path) as src:
        assert src.n_levels == 2 and src.notes == []  # the thumbnail is not a candidate
        got = [src.read_region(0, 0, 512, 768).astype(int),
               np.asarray(src.levels()[1][:256, :384]).astype(int)]
    for level, (mine, truth) in enumerate(zip(got, (img, half), strict=True)):
        err = np.abs(mine - truth)
        if kind in LOSSLESS:
            assert err.max() == 0, level
        assert err.mean() <= 3.0, (level, err.mean())


@pytest.mark.parametrize("kind", list(KINDS))
def test_aperio_svs_matches_openslide(tmp_path, img, kind):
    openslide = pytest.importorskip("openslide")
    if "33003" in kind and kind[12:15] in ("422", "420") and OPENJP2 is None:
        pytest.skip("no libopenjp2 to write a subsampled codestream")
    path = tmp_path / f"{kind}.svs"
    write_svs(path, img, kind)
    slide = openslide.OpenSlide(str(path))
    assert slide.properties["openslide.vendor"] == "aperio" and slide.level_count == 2
    with open_image(path) as src:
        for level in range(2):
            w, h = slide.level_dimensions[level]
            ref = np.asarray(slide.read_region((0, 0), level, (w, h)).convert("RGB")).astype(int)
            mine = np.asarray(src.levels()[level][:h, :w]).astype(int)
            # OpenSlide's YCbCr tables (libjpeg's) and Pillow's / OpenJPEG's round differently
            assert np.abs(mine - ref).max() <= (0 if "33003" not in kind else 2), level
