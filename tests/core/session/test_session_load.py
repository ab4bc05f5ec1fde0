"""Masks from QuPath GeoJSON and OME-Zarr labels loaded into a headless session's mask store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr.writer import write_image

from formats_helpers import discs
from napari_axons.core.common import ClassTable
from napari_axons.core.formats import GeoJSONError, export_geojson
from napari_axons.core.formats.ngff_labels import write_ngff_labels
from napari_axons.core.formats.ngff_read import NgffError, resample_nearest
from napari_axons.core.session import EditsInTheWay, Session, SessionError


def _tif(tmp_path, shape=(600, 900)):
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, np.full((*shape, 3), 90, np.uint8), photometric="rgb")
    return path


def _ome_image(path, shape):
    """A (c, y, x) OME-Zarr image (NGFF 0.5) with 3 levels."""
    img = np.full((3, *shape), 90, np.uint8)
    write_image(img, zarr.open_group(str(path), mode="w"), axes="cyx", scale_factors=(2, 4))
    return path


def _fc(path, *features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g, "properties": p} for g, p in features]}))
    return path


SQUARE_WITH_HOLE = {"type": "Polygon", "coordinates": [
    [[30, 60], [300, 60], [300, 330], [30, 330], [30, 60]],
    [[120, 150], [210, 150], [210, 240], [120, 240], [120, 150]]]}
MYELIN_BOX = {"type": "Polygon", "coordinates": [[[600, 0], [900, 0], [900, 30], [600, 30], [600, 0]]]}


def _qupath_file(tmp_path):
    return _fc(tmp_path / "qupath.geojson",
               (SQUARE_WITH_HOLE, {"objectType": "annotation",
                                   "classification": {"name": "axon", "color": [255, 0, 0]}}),
               (MYELIN_BOX, {"objectType": "annotation",
                             "classification": {"name": "myelin", "color": [0, 0, 200]}}),
               ({"type": "Point", "coordinates": [5, 5]}, {"objectType": "annotation"}))


def _want_downsampled():
    """The two objects at downsample 3: working pixels whose centres ((c + 0.5) * 3) are inside."""
    want = np.zeros((200, 300), np.uint8)
    want[20:110, 10:100] = 1
    want[50:80, 40:70] = 0
    want[0:10, 200:300] = 2
    return want


def test_geojson_painted_into_a_downsampled_session_with_a_new_class(tmp_path):
    s = Session(_tif(tmp_path), cache_dir=tmp_path / "c", tile_size=64, downsample=3,
                overview_min_side=64)
    try:
        s.paint(150, 150, np.ones((10, 10), np.uint8))  # an edit far from the objects
        s.store.write(190, 0, np.ones((10, 10), np.uint8))  # a mask outside the objects: kept
        summary = s.load_geojson(_qupath_file(tmp_path))
        want = _want_downsampled()
        want[150:160, 150:160] = 1
        want[190:200, 0:10] = 1
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300), want)
        assert s.classes.names == ("background", "axon", "myelin")
        assert s.classes.colours[2] == (0, 0, 200)  # the file's colour for the new class
        assert s.classes.colours[1] == ClassTable.from_names(["axon"]).colours[1]  # ours kept
        assert summary.added == ["myelin"] and summary.objects == 2
        assert summary.notes == [f"{tmp_path / 'qupath.geojson'}: feature 2: Point geometry skipped "
                                 "(only polygons become labels)"]
        # tiles (64 px, the seed's order: the regular grid, then the shifted edge tiles) meeting
        # the objects: 0, 1, 4, 5 (the square), 3 and the right edge's 12 (the myelin strip)
        assert summary.tiles == [0, 1, 3, 4, 5, 12]
        assert all(s.status[i] == "segmented" for i in summary.tiles)
        assert s.label_source(0) == "manual"
        assert s.status[10] == s.status[17] == "edited"  # the tiles of the edit far away
        assert np.asarray(s.store.levels[1]).max() == 2  # the display pyramid follows
    finally:
        s.close()


def test_geojson_refuses_over_hand_edits_then_keeps_or_replaces_them(tmp_path):
    path = _qupath_file(tmp_path)
    s = Session(_tif(tmp_path), cache_dir=tmp_path / "c", tile_size=64, downsample=3)
    try:
        s.paint(30, 20, np.ones((10, 10), np.uint8))
        s.paint(30, 20, np.zeros((10, 10), np.uint8))  # erased by hand: an edit inside the square
        before = s.store.read(0, 0, 200, 300)
        with pytest.raises(EditsInTheWay, match=r"^tile\(s\) 0 hold hand edits; loading the GeoJSON's "
                                                r"objects would replace them"):
            s.load_geojson(path)
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300), before)  # nothing written
        assert s.classes.names == ("background", "axon")  # nor the classes changed
        s.load_geojson(path, keep_edits=True)
        want = _want_downsampled()
        want[30:40, 20:30] = 0  # the edit kept
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300), want)
        assert s.status[0] == "edited"
        s.load_geojson(path, overwrite_edits=True)
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300), _want_downsampled())
        assert s.edits.empty and s.status[0] == "segmented"
    finally:
        s.close()


def test_geojson_unknown_class_refused_and_bad_files(tmp_path):
    s = Session(_tif(tmp_path), cache_dir=tmp_path / "c", tile_size=64)
    try:
        path = _qupath_file(tmp_path)
        with pytest.raises(SessionError, match=r"qupath.geojson: class\(es\) myelin not in the "
                                               r"session's class table \(axon\)$"):
            s.load_geojson(path, add_classes=False)
        outside = _fc(tmp_path / "out.geojson", ({"type": "Polygon", "coordinates": [
            [[800, 10], [950, 10], [950, 40], [800, 10]]]}, {}))
        with pytest.raises(GeoJSONError, match=r"out.geojson: feature 0: coordinates outside the "
                                               r"image .* the image is 900 x 600 pixels"):
            s.load_geojson(outside)
        points = _fc(tmp_path / "points.geojson", ({"type": "Point", "coordinates": [5, 5]}, {}))
        with pytest.raises(GeoJSONError, match=r"points.geojson: no Polygon or MultiPolygon features$"):
            s.load_geojson(points)
        assert not s.store.read(0, 0, 600, 900).any() and not s.status
        # an unclassified polygon is the one class of a one-class table
        one = _fc(tmp_path / "one.geojson", (MYELIN_BOX, {"objectType": "annotation"}))
        assert s.load_geojson(one).added == []
        assert (s.store.read(0, 600, 30, 900) == 1).all() and s.classes.names == ("background", "axon")
    finally:
        s.close()


def test_session_geojson_round_trip_through_an_export(tmp_path):
    """Paint, export, write the export as GeoJSON, load it into a fresh session: same pixels."""
    truth = discs((300, 420), seed=2, n=12)
    img = _tif(tmp_path, (600, 840))
    a = Session(img, cache_dir=tmp_path / "a", tile_size=128, overlap=16, downsample=2)
    b = Session(img, cache_dir=tmp_path / "b", tile_size=100, downsample=2)
    try:
        a.paint(0, 0, truth)
        a.export(tmp_path / "export", range(len(a.grid)))
        summary = export_geojson(tmp_path / "export", tmp_path / "slide.geojson")
        assert summary.n_features > 5
        b.load_geojson(tmp_path / "slide.geojson")
        np.testing.assert_array_equal(b.store.read(0, 0, 300, 420), truth)
    finally:
        a.close()
        b.close()


def test_ngff_labels_of_the_image_into_its_session(tmp_path):
    image = _ome_image(tmp_path / "slide.zarr", (300, 420))
    cmap = discs((300, 420), seed=5, n=10)
    cmap[200:260, 40:120] = 2
    write_ngff_labels(image, cmap, ClassTable(("background", "myelin", "axon"),
                                              ((0, 0, 0), (10, 20, 30), (255, 0, 0))), chunk=64)
    s = Session(image, cache_dir=tmp_path / "c", tile_size=64, downsample=2)
    try:
        s.store.write(0, 0, np.full((150, 210), 1, np.uint8))  # replaced: labels cover all
        summary = s.load_ngff_labels()
        # myelin is new (appended, its colour from the labels), axon is ours: values swapped
        assert s.classes.names == ("background", "axon", "myelin")
        assert s.classes.colours[2] == (10, 20, 30)
        want = np.array([0, 2, 1], np.uint8)[resample_nearest(cmap, (150, 210), 0, 150, 0, 210)]
        np.testing.assert_array_equal(s.store.read(0, 0, 150, 210), want)
        assert summary.source == image / "labels" / "napari-axons" and summary.objects == 3
        assert summary.tiles == list(range(len(s.grid)))
        assert all(s.status[i] == "segmented" for i in range(len(s.grid)))
        # hand edits: refused, then kept
        s.paint(10, 10, np.full((4, 4), 2, np.uint8))
        with pytest.raises(EditsInTheWay, match=r"^tile\(s\) 0 hold hand edits; loading the "
                                                r"OME-Zarr labels would replace them"):
            s.load_ngff_labels()
        s.load_ngff_labels(keep_edits=True)
        want[10:14, 10:14] = 2
        np.testing.assert_array_equal(s.store.read(0, 0, 150, 210), want)
        with pytest.raises(NgffError, match=r"slide.zarr: no label group 'nuclei' \(it has: napari-axons\)"):
            s.load_ngff_labels("nuclei")
    finally:
        s.close()


def test_ngff_labels_unnamed_values_and_a_tiff_session(tmp_path):
    image = _ome_image(tmp_path / "plain.zarr", (128, 128))
    from ome_zarr.writer import write_multiscale_labels

    lab = np.zeros((128, 128), np.uint8)
    lab[:64, :64], lab[64:, 64:] = 1, 3  # no metadata naming them
    write_multiscale_labels([lab, lab[::2, ::2], lab[::4, ::4]], zarr.open_group(str(image), mode="r+"),
                            "cells", axes="yx")
    s = Session(image, cache_dir=tmp_path / "c", tile_size=64)
    t = Session(_tif(tmp_path, (64, 64)), cache_dir=tmp_path / "t", tile_size=64)
    try:
        with pytest.raises(SessionError, match=r"labels/cells: class\(es\) class_3 not in the session's"):
            s.load_ngff_labels(add_classes=False)
        assert not s.store.read(0, 0, 128, 128).any() and s.classes.names == ("background", "axon")
        summary = s.load_ngff_labels()
        assert s.classes.names == ("background", "axon", "class_3") and summary.added == ["class_3"]
        np.testing.assert_array_equal(s.store.read(0, 0, 128, 128), np.where(lab == 3, 2, lab))
        with pytest.raises(SessionError, match=r"slide.tif: not an OME-Zarr image; OME-Zarr labels "
                                               r"load only into the session of the OME-Zarr image"):
            t.load_ngff_labels()
    finally:
        s.close()
        t.close()


def test_loads_in_small_regions_equal_one_region_and_report_progress(tmp_path):

    truth = discs((300, 420), seed=9, n=15)
    img = _tif(tmp_path, (600, 840))
    a = Session(img, cache_dir=tmp_path / "a", tile_size=128, downsample=2)
    try:
        a.paint(0, 0, truth)
        a.export(tmp_path / "export", range(len(a.grid)))
    finally:
        a.close()
    export_geojson(tmp_path / "export", tmp_path / "slide.geojson")
    image = _ome_image(tmp_path / "slide.zarr", (600, 840))
    write_ngff_labels(image, truth, ClassTable.from_names(["axon"]), chunk=64)
    for source, load in ((img, lambda s, **k: s.load_geojson(tmp_path / "slide.geojson", **k)),
                         (image, lambda s, **k: s.load_ngff_labels(**k))):
        maps = []
        for chunk in (2048, 64):
            s = Session(source, cache_dir=tmp_path / f"c{chunk}", tile_size=100, downsample=2)
            reports = []
            try:
                load(s, chunk=chunk, progress=lambda d, t, r=reports: r.append((d, t)))
                maps.append(s.store.read(0, 0, 300, 420))
            finally:
                s.close()
            total = 1 if chunk == 2048 else 5 * 7  # regions of the 300 x 420 working image
            assert reports[-1] == (total, total) and all(t == total for _, t in reports)
            assert [d for d, _ in reports] == sorted(d for d, _ in reports)
        np.testing.assert_array_equal(maps[0], truth)
        np.testing.assert_array_equal(maps[1], truth)


def _ads_mask(path, cmap):
    """``cmap`` (0 background, 1 myelin, 2 axon) written with AxonDeepSeg's grey levels."""
    from PIL import Image

    Image.fromarray(np.array([0, 127, 255], np.uint8)[cmap]).save(path)
    return path


def _rings(shape):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    cmap = np.zeros(shape, np.uint8)
    for cy, cx, r in ((100, 120, 60), (400, 600, 90), (300, 850, 40)):
        d = np.hypot(yy - cy, xx - cx)
        cmap[d <= r] = 1
        cmap[d <= 0.6 * r] = 2
    return cmap


def test_a_mask_image_replaces_the_masks_by_class_name(tmp_path):
    from napari_axons.core.geometry import resample_class_map

    cmap = _rings((600, 900))
    mask = _ads_mask(tmp_path / "slide_seg-axonmyelin-manual.png", cmap)
    s = Session(_tif(tmp_path), cache_dir=tmp_path / "c", tile_size=64, downsample=3)
    try:
        s.store.write(0, 0, np.full((10, 10), 1, np.uint8))  # an old mask: replaced
        summary = s.load_mask_image(mask)
        # the session's table is background, axon: myelin is added, every value goes by name
        assert s.classes.names == ("background", "axon", "myelin")
        assert summary.added == ["myelin"] and summary.objects == 2
        by_name = np.array([0, 2, 1], np.uint8)[cmap]  # myelin -> 2, axon -> 1
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300),
                                      resample_class_map(by_name, (200, 300)))
        assert summary.tiles and all(s.status[i] == "segmented" for i in summary.tiles)
        assert s.label_source(summary.tiles[0]) == "manual"
    finally:
        s.close()


def test_a_mask_image_of_another_size_or_over_edits(tmp_path):
    s = Session(_tif(tmp_path), cache_dir=tmp_path / "c", tile_size=64, downsample=3)
    try:
        small = _ads_mask(tmp_path / "small.png", _rings((100, 100)))
        with pytest.raises(SessionError, match=r"small.png: is 100 x 100 px but the image is "
                                               r"900 x 600 px \(300 x 200 px as shown\)$"):
            s.load_mask_image(small)
        s.paint(30, 20, np.ones((10, 10), np.uint8))
        before = s.store.read(0, 0, 200, 300)
        mask = _ads_mask(tmp_path / "m.png", np.zeros((200, 300), np.uint8))  # working size
        with pytest.raises(EditsInTheWay, match="loading the mask image would replace them"):
            s.load_mask_image(mask)
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300), before)
        s.load_mask_image(mask, keep_edits=True)  # all background, the edit kept
        want = np.zeros((200, 300), np.uint8)
        want[30:40, 20:30] = 1
        np.testing.assert_array_equal(s.store.read(0, 0, 200, 300), want)
    finally:
        s.close()


def test_a_mask_image_of_class_indices_is_the_sessions_table(tmp_path):
    from PIL import Image

    s = Session(_tif(tmp_path), cache_dir=tmp_path / "c", tile_size=64)
    try:
        cmap = np.zeros((600, 900), np.uint8)
        cmap[10:50, 10:50], cmap[100:150, 100:150] = 1, 3
        Image.fromarray(cmap).save(tmp_path / "index.png")
        with pytest.raises(SessionError, match=r"index.png: class\(es\) class_2, class_3 not in "):
            s.load_mask_image(tmp_path / "index.png", add_classes=False)
        summary = s.load_mask_image(tmp_path / "index.png")
        assert summary.added == ["class_2", "class_3"]
        np.testing.assert_array_equal(s.store.read(0, 0, 600, 900), cmap)
    finally:
        s.close()
