"""Fixtures for the npe2 contributions (reader, writers, sample data)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _private_pyramid_cache(tmp_path, monkeypatch):
    """Pyramids built by tests go to a temporary cache, never ~/.cache."""
    monkeypatch.setenv("NAPARI_AXONS_CACHE", str(tmp_path / "cache"))


def _structured(height, width, seed=1234):
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 7 + yy * 3) % 256, (xx * 2 + yy * 5) % 256, (xx ^ yy) % 256], -1)
    noise = np.random.default_rng(seed).integers(0, 20, (height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def _flat_tiff_file(tmp_path_factory):
    import tifffile

    img = _structured(2500, 3001)
    path = tmp_path_factory.mktemp("flat") / "flat.tif"
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb")
    return path, img


@pytest.fixture
def flat_tiff(_flat_tiff_file, tmp_path):
    """A 2500 x 3001 tiled RGB TIFF without a pyramid (a fresh copy), and its pixels."""
    import shutil

    src, img = _flat_tiff_file
    path = tmp_path / "flat.tif"
    shutil.copyfile(src, path)
    return path, img


@pytest.fixture(scope="session")
def pyramid_tiff(tmp_path_factory):
    """A 2048 x 2048 tiled RGB TIFF holding a 3-level pyramid (SubIFDs)."""
    import tifffile

    img = _structured(2048, 2048, seed=5)
    path = tmp_path_factory.mktemp("pyr") / "pyr.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(img, tile=(256, 256), photometric="rgb", subifds=2)
        tif.write(img[::2, ::2], tile=(256, 256), photometric="rgb", subfiletype=1)
        tif.write(img[::4, ::4], tile=(256, 256), photometric="rgb", subfiletype=1)
    return path, img


@pytest.fixture
def blob_mask():
    """``make(shape, seed)``: a binary mask of discs, lines and a hole (uint8 0/1)."""
    return _blobs


def _blobs(shape, seed=0, n=12):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    m = np.zeros(shape, bool)
    for _ in range(n):
        cy, cx = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        r = rng.integers(3, 40)
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        m[rng.integers(0, shape[0]), :] = True  # a 1-px line across
    m[5:30, 5:30] ^= m[10:20, 10:20].any()  # maybe a hole
    return m.astype(np.uint8)
