"""The npe2 reader: cheap and total detection, lazy multiscale images, cached pyramids."""

from __future__ import annotations

import os

import dask.array as da
import numpy as np
import pytest

from napari_axons import _reader
from napari_axons._reader import napari_get_reader
from napari_axons.core.image import pyramid
from napari_axons.core.image.open import open_image


def test_junk_gives_none_and_never_raises(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    fake_tif = tmp_path / "fake.tif"
    fake_tif.write_text("not a tiff at all")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    other_json = tmp_path / "thing.json"
    other_json.write_text("{}")
    folder = tmp_path / "random"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    for p in [text, fake_tif, empty, other_json, folder, tmp_path / "missing.tif",
              str(tmp_path / "missing"), [], [str(text)], None, 42, "\x00bad"]:
        assert napari_get_reader(p) is None, p


def test_reader_accepts_images_and_exports(flat_tiff, tmp_path):
    path, _ = flat_tiff
    assert napari_get_reader(str(path)) is not None
    assert napari_get_reader([str(path), str(path)]) is not None
    labels = tmp_path / "t__labels.json"
    labels.write_text("{}")
    assert napari_get_reader(str(labels)) is not None  # decided by name; errors come on read


def _check_levels(levels, shape0):
    assert isinstance(levels, list) and len(levels) > 1
    assert levels[0].shape == shape0
    for lo, hi in zip(levels, levels[1:], strict=False):
        assert isinstance(hi, da.Array) and isinstance(lo, da.Array)  # lazy, never numpy
        assert hi.shape[:2] == (lo.shape[0] // 2, lo.shape[1] // 2)


def test_flat_tiff_gives_lazy_multiscale(flat_tiff):
    path, img = flat_tiff
    [(data, meta, kind)] = napari_get_reader(str(path))(str(path))
    assert kind == "image" and meta["multiscale"] and meta["rgb"]
    assert meta["metadata"]["napari_axons"]["path"] == str(path.resolve())
    _check_levels(data, img.shape)
    np.testing.assert_array_equal(data[0][100:300, 200:400].compute(), img[100:300, 200:400])
    expected = ((img[:2500 // 2 * 2, :3000].reshape(1250, 2, 1500, 2, 3)
                 .astype(np.uint16).sum((1, 3)) + 2) // 4).astype(np.uint8)
    np.testing.assert_array_equal(data[1].compute(), expected)


def test_pyramid_tiff_uses_its_own_levels(pyramid_tiff):
    path, img = pyramid_tiff
    before = pyramid.build_count()
    [(data, meta, _)] = napari_get_reader(str(path))(str(path))
    assert pyramid.build_count() == before  # nothing to build for a pyramidal file
    assert meta["multiscale"] and len(data) == 3
    _check_levels(data, img.shape)
    np.testing.assert_array_equal(data[2].compute(), img[::4, ::4])


def test_large_flat_tiff_builds_cached_pyramid_once(flat_tiff, tmp_path, monkeypatch):
    monkeypatch.setattr(pyramid, "LARGE_SIDE", 1024)  # treat the test image as "large"
    monkeypatch.setattr(pyramid, "BLOCK", 1024)  # several blocks: exercise the stitching
    path, img = flat_tiff
    before = pyramid.build_count()
    [(data, meta, _)] = _reader.read_image(str(path))
    assert pyramid.build_count() == before + 1
    _check_levels(data, img.shape)
    assert max(data[-1].shape[:2]) <= pyramid.TOP_SIDE
    cache = tmp_path / "cache" / "pyramids"
    [entry] = [p for p in cache.iterdir() if not p.name.startswith(".")]
    mtime = entry.stat().st_mtime_ns
    # the cached levels equal the lazy reduction computed from level 0
    lazy = pyramid._lazy_levels(data[0], len(data) - 1)
    for built, ref in zip(data[1:], lazy[1:], strict=True):
        np.testing.assert_array_equal(built.compute(), ref.compute())
    # second open: reused, not rebuilt, no progress reported
    calls = []
    with open_image(path) as src:
        again = pyramid.pyramid_levels(src, progress=lambda d, t: calls.append((d, t)))
    assert pyramid.build_count() == before + 1 and calls == []
    assert entry.stat().st_mtime_ns == mtime
    assert [a.shape for a in again] == [a.shape for a in data]


def test_pyramid_progress_and_invalidation(flat_tiff, tmp_path):
    path, _ = flat_tiff
    calls = []
    with open_image(path) as src:
        pyramid.pyramid_levels(src, cache_dir=tmp_path / "c", large_side=512, top_side=300,
                               progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)
    os.utime(path, ns=(1, 1))  # the file "changed": a new fingerprint, a rebuild
    before = pyramid.build_count()
    with open_image(path) as src:
        pyramid.pyramid_levels(src, cache_dir=tmp_path / "c", large_side=512, top_side=300)
    assert pyramid.build_count() == before + 1


def test_cancelled_build_leaves_no_cache(flat_tiff, tmp_path, monkeypatch):
    monkeypatch.setattr(pyramid, "BLOCK", 1024)
    path, _ = flat_tiff

    def cancel(done, total):
        if done:
            raise KeyboardInterrupt

    with open_image(path) as src, pytest.raises(KeyboardInterrupt):
        pyramid.pyramid_levels(src, cache_dir=tmp_path / "c", large_side=512, progress=cancel)
    assert list((tmp_path / "c").iterdir()) == []


def test_small_image_single_level(tmp_path, rgb_image):
    import tifffile

    p = tmp_path / "small.tif"
    tifffile.imwrite(p, rgb_image(300, 400), photometric="rgb")
    [(data, meta, _)] = napari_get_reader(str(p))(str(p))
    assert meta["multiscale"] is False and isinstance(data, da.Array)


def test_uint16_gets_contrast_limits_from_a_sample(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    img = rng.integers(1000, 3000, (600, 700), dtype=np.uint16)
    p = tmp_path / "g16.tif"
    tifffile.imwrite(p, img, tile=(256, 256))
    [(data, meta, _)] = napari_get_reader(str(p))(str(p))
    lo, hi = meta["contrast_limits"]
    assert 1000 <= lo < hi <= 3000 and meta["rgb"] is False


def test_a_label_file_with_classes_opens_as_one_labels_layer(tmp_path):
    import json

    def square(cls, x0, y0, x1, y1):
        return {"label_type": "polygon", "label_class": cls, "object_id": f"{cls}{x0}",
                "regions": [[{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1},
                             {"x": x0, "y": y1}]]}

    doc = {"image_filename": None, "tile": {"height": 24, "width": 24},
           "labels": [square("myelin", 1, 1, 6, 6), square("axon", 10, 10, 12, 12),
                      square("myelin", 15, 15, 20, 20), square(None, 0, 20, 2, 22),
                      {"label_type": "box", "label_class": "axon", "object_id": "b",
                       "centre": {"x": 3, "y": 3}, "size": {"x": 2, "y": 2}}]}
    path = tmp_path / "t__labels.json"
    path.write_text(json.dumps(doc))
    layers = napari_get_reader(str(path))(str(path))
    [(data, meta, kind)] = layers  # no image beside it: labels only
    assert kind == "labels" and data.dtype == np.uint8 and data.shape == (24, 24)
    info = meta["metadata"]["napari_axons"]
    assert [c["name"] for c in info["classes"]] == ["background", "myelin", "axon", "object"]
    assert data[3, 3] == 1 and data[11, 11] == 2 and data[17, 17] == 1 and data[21, 1] == 3
    from napari_axons.core.common import ClassTable

    assert meta["colormap"] == ClassTable.from_json(info["classes"]).napari_colormap()
    assert set(meta["colormap"]) == {None, 0, 1, 2, 3}
    assert info["warnings"] == ["label 4 (object_id 'b'): label type 'box' cannot be rasterised "
                                "(only polygons and groups of polygons); skipped"]
