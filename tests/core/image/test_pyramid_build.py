"""A pyramid readable while it is built: open_pyramid, PyramidBuild.steps, BuildingLevel."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_axons.core.image import pyramid
from napari_axons.core.image.open import open_image


@pytest.fixture
def slide(tmp_path, monkeypatch):
    monkeypatch.setattr(pyramid, "BLOCK", 256)
    rng = np.random.default_rng(7)
    img = rng.integers(1, 256, (1000, 1300, 3), dtype=np.uint8)  # never 0
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb")
    with open_image(path) as src:
        yield src, img


def _reduced(img, k):
    for _ in range(k):
        img = pyramid._halve(img)
    return img


def _open(src, tmp_path):
    return pyramid.open_pyramid(src, cache_dir=tmp_path / "c", large_side=512, top_side=200)


@pytest.mark.parametrize("memory", [True, False])  # small levels in memory, or read from Zarr
def test_levels_fill_in_block_by_block(slide, tmp_path, monkeypatch, memory):
    if not memory:
        monkeypatch.setattr(pyramid, "MEMORY_LEVEL_BYTES", 0)
    src, img = slide
    build = _open(src, tmp_path)
    assert not build.complete and build.total == 4 * 6
    assert [lv.shape for lv in build.levels[1:]] == [(500, 650, 3), (250, 325, 3), (125, 162, 3)]
    assert all((lv._memory is not None) == memory for lv in build.levels[1:])
    assert not (tmp_path / "c").exists()  # nothing written before the build starts
    top = build.levels[-1]
    np.testing.assert_array_equal(np.asarray(top), 0)
    steps = build.steps()
    assert next(steps) == (0, 24)
    seen = []
    ref = _reduced(img, 3)
    for _done, total in steps:
        now = np.asarray(top)
        filled = now[..., 0] > 0
        seen.append(filled.mean())
        # every block is built whole: its part of the level is the reduced image, the rest 0
        np.testing.assert_array_equal(now[filled], ref[filled])
        assert total == 24
    assert seen == sorted(seen) and 0 < seen[0] < 1 and seen[-1] == 1
    assert build.complete and build.done == 24
    for k, level in enumerate(build.levels[1:], start=1):
        np.testing.assert_array_equal(np.asarray(level), _reduced(img, k))
    levels = build.final_levels()
    np.testing.assert_array_equal(levels[2].compute(), _reduced(img, 2))
    assert [p.name.startswith(".") for p in (tmp_path / "c").iterdir()] == [False]
    # the next open finds it in the cache
    assert _open(src, tmp_path).complete


@pytest.mark.parametrize("key", [
    (slice(10, 90), slice(5, 200)),
    (slice(None), slice(None)),
    (slice(10, 90, 3), slice(200, 5, -2)),
    (17, slice(None)),
    (slice(3, 9), -1),
    (slice(3, 9), slice(0, 4), 1),
    (Ellipsis, 0),
    (slice(5, 5), slice(None)),
    5,
])
def test_building_level_indexes_like_numpy(slide, tmp_path, key):
    src, img = slide
    build = _open(src, tmp_path)
    for _ in build.steps():
        pass
    ref = _reduced(img, 1)
    level = _open(src, tmp_path).levels[1]  # cached: dask; the build's own level: BuildingLevel
    np.testing.assert_array_equal(build.levels[1][key], ref[key])
    np.testing.assert_array_equal(np.asarray(level[key]), ref[key])


def test_closing_the_steps_stops_and_leaves_no_files(slide, tmp_path):
    src, _ = slide
    build = _open(src, tmp_path)
    steps = build.steps()
    for done, _ in steps:
        if done >= 3:
            break
    steps.close()
    assert not build.complete and build.done < build.total
    assert list((tmp_path / "c").iterdir()) == []
    np.testing.assert_array_equal(np.asarray(build.levels[-1]), 0)
    with pytest.raises(RuntimeError, match="not built yet"):
        build.final_levels()


def test_ready_made_levels_are_complete_at_once(tmp_path, monkeypatch):
    path = tmp_path / "small.tif"
    tifffile.imwrite(path, np.ones((300, 400, 3), np.uint8), photometric="rgb")
    with open_image(path) as src:
        build = pyramid.open_pyramid(src, cache_dir=tmp_path / "c")
        assert build.complete and list(build.steps()) == [] and len(build.levels) == 1
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.float32])
@pytest.mark.parametrize("shape", [(37, 53), (64, 66, 3), (33, 70, 4), (101, 99, 2), (1, 5, 3)])
def test_halving_is_the_rounded_2x2_mean_on_every_path(dtype, shape):
    """OpenCV's area resize (uint8/16, int16; 1, 3, 4 channels) and numpy give the same pixels."""
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "ui" else None
    a = (rng.integers(info.min, info.max, shape, endpoint=True) if info is not None
         else rng.normal(0, 100, shape)).astype(dtype)
    hh, ww = shape[0] // 2, shape[1] // 2
    view = a[: 2 * hh, : 2 * ww].reshape((hh, 2, ww, 2) + a.shape[2:])
    if info is not None:  # the sum of four, plus two, floor-divided by four
        want = np.floor_divide(view.sum(axis=(1, 3), dtype=np.int64) + 2, 4).astype(dtype)
    else:
        want = view.mean(axis=(1, 3), dtype=np.float64).astype(dtype)
    got = pyramid._halve(a)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
