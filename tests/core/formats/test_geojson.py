"""QuPath GeoJSON: an export written as one FeatureCollection and read back, pixel exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from scipy import ndimage

from formats_helpers import discs, make_export
from napari_axons.cli import main
from napari_axons.core.common import DEFAULT_TABLE, ClassTable
from napari_axons.core.formats import (
    GeoJSONError,
    export_geojson,
    geojson_table,
    rasterize_geojson,
    read_geojson,
)
from napari_axons.core.labels.outlines import class_map_objects, rasterize

EIGHT = np.ones((3, 3), bool)


def _features(path):
    doc = json.loads(path.read_text())
    assert doc["type"] == "FeatureCollection"
    return doc["features"]


def _per_object_iou(objects, truth, scale=(1.0, 1.0)):
    """IoU of each feature with the truth object it covers; every truth object used once."""
    labels, n = ndimage.label(truth > 0, structure=EIGHT)
    seen = []
    ious = []
    for o in objects:
        one = np.zeros(truth.shape, np.uint8)
        rasterize_geojson([o], one, DEFAULT_TABLE, scale=scale)
        hit = np.unique(labels[one > 0])
        hit = hit[hit > 0]
        assert len(hit) == 1, f"feature {o.index} covers {len(hit)} truth objects"
        seen.append(int(hit[0]))
        ref = labels == hit[0]
        ious.append((ref & (one > 0)).sum() / (ref | (one > 0)).sum())
    return n, seen, np.array(ious)


def test_vectorize_round_trip_is_exact_with_holes_and_corners():
    m = np.zeros((40, 50), np.uint8)
    m[5:20, 5:20] = 1
    m[9:13, 9:13] = 0          # a hole
    m[20, 20] = 1              # touches the square at a corner only: same object
    m[30:35, 30:45] = 2        # another class
    m[32, 35] = 0              # a one-pixel hole
    objs = class_map_objects(m, offset=(0, 0))
    assert [o.class_index for o in objs] == [1, 2]
    assert objs[0].geometry.geom_type == "MultiPolygon"
    assert all(o.geometry.is_valid for o in objs)
    assert sum(len(p.interiors) for p in objs[0].geometry.geoms) == 1
    assert objs[0].geometry.area == m[m == 1].size  # pixel-edge outline: area = pixel count
    back = rasterize([(o.class_index, o.geometry) for o in objs], np.zeros_like(m))
    np.testing.assert_array_equal(back, m)


def test_export_geojson_is_exact_and_counts_border_objects_once(export_dir, truth, tmp_path):
    out = tmp_path / "slide.geojson"
    summary = export_geojson(export_dir, out)
    feats = _features(out)
    assert len(feats) == summary.n_features
    assert summary.n_merged > 0  # objects cut by tile borders were merged
    for f in feats:
        assert f["properties"]["objectType"] == "annotation"
        assert f["properties"]["classification"] == {"name": "axon", "color": [255, 64, 64]}
        geom = shapely.geometry.shape(f["geometry"])
        assert geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon")
    objects = read_geojson(out, image_size=truth.shape)
    n, seen, ious = _per_object_iou(objects, truth)
    assert sorted(seen) == list(range(1, n + 1))  # one feature per object, none twice
    assert ious.min() >= 0.999
    whole = np.zeros(truth.shape, np.uint8)
    rasterize_geojson(objects, whole, DEFAULT_TABLE, chunk=300)
    np.testing.assert_array_equal(whole, truth)
    assert any(len(shapely.geometry.shape(f["geometry"]).interiors) if
               f["geometry"]["type"] == "Polygon" else False for f in feats)  # holes written


def test_downsampled_export_lands_on_full_resolution_pixels(tmp_path):
    truth = discs((300, 420), seed=7)
    export = make_export(tmp_path, truth, downsample=3, tile_size=128)
    out = tmp_path / "ds.geojson"
    export_geojson(export, out)
    objects = read_geojson(out, image_size=(900, 1260))
    # full-resolution raster: each working pixel is a 3 x 3 block of the slide
    full = np.zeros((900, 1260), np.uint8)
    rasterize_geojson(objects, full, DEFAULT_TABLE)
    np.testing.assert_array_equal(full, np.kron(truth, np.ones((3, 3), np.uint8)))
    # and back into the export's working pixels (a mask store)
    work = np.zeros(truth.shape, np.uint8)
    rasterize_geojson(objects, work, DEFAULT_TABLE, scale=(3.0, 3.0))
    np.testing.assert_array_equal(work, truth)
    minx, miny, maxx, maxy = shapely.union_all([o.geometry for o in objects]).bounds
    assert maxx <= 1260 and maxy <= 900 and minx >= 0 and miny >= 0


def test_cli_export_geojson_detection(export_dir, tmp_path, capsys):
    out = tmp_path / "d.geojson"
    assert main(["export-geojson", str(export_dir), "-o", str(out), "--object-type", "detection"]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    feats = _features(out)
    assert printed.out.strip().startswith(f"{len(feats)} objects written to {out}")
    assert {f["properties"]["objectType"] for f in feats} == {"detection"}
    assert len({f["id"] for f in feats}) == len(feats)


def test_multi_class_geojson_round_trip(tmp_path):
    table = ClassTable.from_names(["axon", "myelin"])
    m = discs((120, 160), seed=2, n=8)
    m[m > 0] = 1
    m[60:90, 10:40] = 2
    m[70:80, 20:30] = 1  # an axon inside a myelin ring
    feats = []
    for o in class_map_objects(m):
        feats.append({"type": "Feature", "geometry": json.loads(shapely.to_geojson(o.geometry)),
                      "properties": {"objectType": "annotation",
                                     "classification": {"name": table.names[o.class_index],
                                                        "color": list(table.colours[o.class_index])}}})
    path = tmp_path / "mc.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    objects = read_geojson(path)
    assert geojson_table(objects).names == ("background", "axon", "myelin")
    out = np.zeros(m.shape, np.uint8)
    rasterize_geojson(objects, out, table)
    np.testing.assert_array_equal(out, m)


def test_qupath_old_style_list_and_packed_colour(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps([{
        "type": "Feature", "id": "PathAnnotationObject",
        "geometry": {"type": "Polygon", "coordinates": [[[2, 2], [6, 2], [6, 5], [2, 5], [2, 2]]]},
        "properties": {"classification": {"name": "Tumor", "colorRGB": -3670016}}}]))
    [o] = read_geojson(path)
    assert o.class_name == "Tumor" and o.colour == (200, 0, 0)
    table = geojson_table([o])
    assert table.names == ("background", "Tumor") and table.colours[1] == (200, 0, 0)
    out = np.zeros((8, 8), np.uint8)
    rasterize_geojson([o], out, table)
    assert out.sum() == 12 and out[2:5, 2:6].all()


def _fc(tmp_path, geometry, cls="axon", name="bad.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": geometry,
         "properties": {"objectType": "annotation", "classification": {"name": cls}}}]}))
    return path


def test_bad_geojson_one_clear_line_each(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}
    with pytest.raises(GeoJSONError, match=r"bad.geojson: feature 0: invalid Polygon: Self-intersection"):
        read_geojson(_fc(tmp_path, bowtie))
    square = {"type": "Polygon", "coordinates": [[[0, 0], [30, 0], [30, 30], [0, 30], [0, 0]]]}
    with pytest.raises(GeoJSONError, match=r"feature 0: coordinates outside the image .* 20 x 20 pixels"):
        read_geojson(_fc(tmp_path, square), image_size=(20, 20))
    objects = read_geojson(_fc(tmp_path, square, cls="Tumor"))
    target = np.zeros((40, 40), np.uint8)
    with pytest.raises(GeoJSONError, match=r"feature 0: unknown class 'Tumor'; known classes: axon"):
        rasterize_geojson(objects, target, DEFAULT_TABLE, path="bad.geojson")
    assert not target.any()  # nothing painted
    (tmp_path / "x.geojson").write_text("{not json")
    with pytest.raises(GeoJSONError, match=r"x.geojson: not readable JSON"):
        read_geojson(tmp_path / "x.geojson")
    (tmp_path / "y.geojson").write_text('{"type": "Topology"}')
    with pytest.raises(GeoJSONError, match=r"y.geojson: not GeoJSON"):
        read_geojson(tmp_path / "y.geojson")


def test_cli_bad_output_leaves_nothing(export_dir, tmp_path, capsys):
    missing = tmp_path / "nope" / "slide.geojson"
    assert main(["export-geojson", str(export_dir), "-o", str(missing)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"napari-axons: error: {missing}: cannot write")
    assert not (tmp_path / "nope").exists()
    assert main(["export-geojson", str(tmp_path / "no_export"), "-o", str(tmp_path / "a.geojson")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such export folder or manifest" in err[0]
    assert not (tmp_path / "a.geojson").exists()


def test_multi_class_export_to_geojson_and_coco(tmp_path):
    from napari_axons.core.formats.coco import export_coco, read_coco

    table = ClassTable.from_names(["myelin", "axon"])
    truth = discs((400, 600), seed=5, n=15)
    inner = discs((400, 600), seed=6, n=10, holes=False)
    truth[(inner > 0) & (truth > 0)] = 2
    export = make_export(tmp_path, truth, tile_size=128, classes=table)
    out = tmp_path / "mc.geojson"
    summary = export_geojson(export, out)
    assert set(summary.per_class) == {"myelin", "axon"}
    objects = read_geojson(out)
    assert {o.class_name for o in objects} == {"myelin", "axon"}
    back = np.zeros(truth.shape, np.uint8)
    rasterize_geojson(objects, back, table)
    np.testing.assert_array_equal(back, truth)
    coco_path = export / "annotations.json"
    export_coco(export, coco_path)
    data = read_coco(coco_path)
    assert data.classes.names == table.names and data.classes.colours == table.colours
    assert all(im.class_map.max() <= 2 for im in data.images)


def test_napari_reader_opens_qupath_geojson_as_labels(export_dir, truth, tmp_path):
    from napari.layers import Labels

    from napari_axons._reader import napari_get_reader

    out = tmp_path / "slide.geojson"
    export_geojson(export_dir, out)
    reader = napari_get_reader(str(out))
    assert reader is not None
    [(data, meta, kind)] = reader(str(out))
    assert kind == "labels" and data.dtype == np.uint8
    y0, x0 = (int(v) for v in meta["translate"])
    full = np.zeros(truth.shape, np.uint8)
    full[y0: y0 + data.shape[0], x0: x0 + data.shape[1]] = data
    np.testing.assert_array_equal(full, truth)
    layer = Labels(data, **meta)
    assert tuple(layer.translate) == (y0, x0)
    assert np.allclose(layer.colormap.map(1)[:3], np.array([255, 64, 64]) / 255)
    # a QuPath export named .json is recognised by its content; other JSON is not ours
    as_json = tmp_path / "qupath.json"
    as_json.write_bytes(out.read_bytes())
    assert napari_get_reader(str(as_json)) is not None
    (tmp_path / "other.json").write_text('{"a": 1}')
    assert napari_get_reader(str(tmp_path / "other.json")) is None


def test_qupath_polygon_painted_into_a_downsampled_mask_store(tmp_path):
    from napari_axons.core.session.maskstore import MaskStore

    # a QuPath-drawn square with a hole, in full-resolution pixels of a slide exported at
    # downsample 3: it covers working pixels whose centres ((c + 0.5) * 3) fall inside
    path = _fc(tmp_path, {"type": "Polygon", "coordinates": [
        [[30, 60], [300, 60], [300, 330], [30, 330], [30, 60]],
        [[120, 150], [210, 150], [210, 240], [120, 240], [120, 150]]]}, name="drawn.geojson")
    objects = read_geojson(path, image_size=(1500, 1500))
    store = MaskStore(500, 500, chunk=128, root=tmp_path, min_side=128)
    try:
        rasterize_geojson(objects, store, DEFAULT_TABLE, scale=(3.0, 3.0), chunk=128)
        got = store.read(0, 0, 500, 500)
        want = np.zeros((500, 500), np.uint8)
        want[20:110, 10:100] = 1
        want[50:80, 40:70] = 0
        np.testing.assert_array_equal(got, want)
        assert np.asarray(store.levels[1]).max() == 1  # the display pyramid was updated
    finally:
        store.close()


@pytest.mark.parametrize("flush_every", [1, 5])
def test_objects_are_written_as_soon_as_final_with_the_same_result(export_dir, truth, tmp_path,
                                                                    flush_every):
    from napari_axons.core.export.classmaps import open_export_slides
    from napari_axons.core.formats import write_slide_geojson

    [slide] = open_export_slides(export_dir)
    once = write_slide_geojson(slide, tmp_path / "once.geojson", flush_every=10**6)
    often = write_slide_geojson(slide, tmp_path / "often.geojson", flush_every=flush_every)
    assert (often.n_features, often.n_merged) == (once.n_features, once.n_merged)
    objects = read_geojson(tmp_path / "often.geojson")
    n, seen, ious = _per_object_iou(objects, truth)
    assert sorted(seen) == list(range(1, n + 1)) and ious.min() >= 0.999


def test_vectorize_random_masks_exact_and_valid():
    rng = np.random.default_rng(11)
    for trial in range(150):
        h, w = rng.integers(3, 50, 2)
        m = (rng.random((h, w)) < rng.uniform(0.2, 0.7)).astype(np.uint8)
        if trial % 2:
            m[rng.random((h, w)) < 0.3] = 2  # a second class, interleaved
        objs, labels = class_map_objects(m, offset=(5, 7), with_labels=True)
        assert sum(int(lab.max()) for lab in labels.values()) == len(objs)
        for o in objs:
            assert o.geometry.is_valid and o.geometry.geom_type in ("Polygon", "MultiPolygon")
            one = rasterize([(1, o.geometry)], np.zeros((h, w), np.uint8), origin=(5, 7))
            np.testing.assert_array_equal(one > 0, labels[o.class_index] == o.label)


@pytest.mark.parametrize("scale", [(1.0, 1.0), (3.0, 2.5)])
def test_large_features_are_streamed_as_geos_would_write_them(scale):
    """Above ``chunk`` vertices a feature is written in pieces: the same GeoJSON as GEOS'."""
    import io

    from napari_axons.core.common import ClassTable
    from napari_axons.core.formats.geojson_write import _write_feature

    ring = shapely.Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(2, 2), (2, 4), (4, 4), (4, 2)]])
    multi = shapely.MultiPolygon([ring, shapely.box(20, 0, 23, 7)])
    table = ClassTable.from_names(["axon"])
    for geom in (ring, multi):
        texts = []
        for chunk in (3, 1 << 16):  # streamed, and GEOS' writer
            fh = io.StringIO()
            _write_feature(fh, geom, 1, table, "detection", "f1", scale, chunk=chunk)
            texts.append(json.loads(fh.getvalue()))
        streamed, whole = texts
        assert streamed == whole  # numbers compare equal: 3 == 3.0
        assert streamed["properties"]["classification"]["name"] == "axon"
        back = shapely.geometry.shape(streamed["geometry"])
        expected = shapely.affinity.scale(geom, scale[1], scale[0], origin=(0, 0))
        assert back.is_valid and back.equals(expected) and back.geom_type == geom.geom_type


def test_rasterize_follows_shapely_on_arbitrary_polygons():
    """QuPath's polygons have any vertices (not only pixel corners): a pixel is painted when
    shapely says its centre is strictly inside (centres exactly on an edge aside)."""
    rng = np.random.default_rng(5)
    h, w = 40, 50
    centres = shapely.points(np.stack(np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5),
                                      axis=-1).reshape(-1, 2))
    for _ in range(60):
        pts = rng.uniform(-5, 55, (int(rng.integers(3, 12)), 2))
        poly = shapely.make_valid(shapely.Polygon(pts))
        hole = shapely.Point(rng.uniform(10, 40, 2)).buffer(rng.uniform(2, 8))
        geom = shapely.difference(poly, hole)
        painted = rasterize([(1, geom)], np.zeros((h, w), np.uint8)).ravel() > 0
        inside = shapely.contains_properly(geom, centres)
        on_edge = shapely.distance(shapely.boundary(geom), centres) < 1e-9
        assert np.array_equal(painted[~on_edge], inside[~on_edge])


def _feature(geometry, object_type="annotation", name=None, fid=None):
    f = {"type": "Feature", "geometry": geometry, "properties": {"objectType": object_type}}
    if name:
        f["properties"]["classification"] = {"name": name, "color": [255, 0, 0]}
    if fid:
        f["id"] = fid
    return f


def _square(x, y, s):
    return [[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]


#: What QuPath users meet: unlocated features (RFC 7946 3.2), points and lines, and detections
#: whose outline collapsed to one point or a line (QuPath's own test data has such), next to
#: valid annotations that must load.
ODD_FEATURES = [
    _feature({"type": "Polygon", "coordinates": [_square(10, 10, 20)]}, name="axon"),
    _feature(None, fid="unlocated"),
    _feature({"type": "Point", "coordinates": [5, 5]}),
    _feature({"type": "LineString", "coordinates": [[0, 0], [5, 5]]}),
    _feature({"type": "Polygon", "coordinates": [[[40.5, 7.25]] * 4]}, "detection", fid="dot"),
    _feature({"type": "Polygon", "coordinates": [[[40, 7], [40, 7]]]}, "detection"),
    _feature({"type": "Polygon", "coordinates": [[[0, 40], [9, 40], [3, 40], [0, 40]]]}, "detection"),
    _feature({"type": "MultiPolygon", "coordinates": [[_square(50, 50, 4)], [[[70, 70]] * 4]]}, "detection"),
    _feature({"type": "Polygon", "coordinates": [_square(60, 10, 10), [[62, 12]] * 4]}, "detection"),
    _feature({"type": "Polygon", "coordinates": []}),
]


def test_odd_qupath_features_are_skipped_with_a_note_and_the_rest_loads(tmp_path):
    path = tmp_path / "odd.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": ODD_FEATURES}))
    notes = []
    objects = read_geojson(path, notes=notes)
    assert [o.index for o in objects] == [0, 7, 8]
    assert [round(o.geometry.area, 6) for o in objects] == [400, 16, 100]
    # what has an area is what GEOS (the C++ port of JTS, QuPath's geometry library) gives an
    # area to, feature by feature (GEOS refuses the whole collection for the null geometry)
    for i, f in enumerate(ODD_FEATURES):
        g = f["geometry"]
        if g is None or g["type"] not in ("Polygon", "MultiPolygon"):
            continue
        try:
            area = shapely.from_geojson(json.dumps(g)).area
        except shapely.errors.GEOSException:  # a ring of 2 points: not even a geometry
            area = 0.0
        kept = [o for o in objects if o.index == i]
        assert (area > 0) == bool(kept), i
        if kept:
            assert kept[0].geometry.area == pytest.approx(area)
    assert notes == [
        f'{path}: feature 1 (id unlocated): no geometry ("geometry": null); skipped',
        f"{path}: feature 2: Point geometry skipped (only polygons become labels)",
        f"{path}: feature 3: LineString geometry skipped (only polygons become labels)",
        f"{path}: feature 4 (id dot): zero-area Polygon (collapsed to a point or a line); skipped",
        f"{path}: feature 5: zero-area Polygon (collapsed to a point or a line); skipped",
        f"{path}: feature 6: zero-area Polygon (collapsed to a point or a line); skipped",
        f"{path}: feature 7: 1 zero-area ring(s) of the MultiPolygon (collapsed to a point or a line)"
        " dropped",
        f"{path}: feature 8: 1 zero-area ring(s) of the Polygon (collapsed to a point or a line) dropped",
        f"{path}: feature 9: empty Polygon; skipped",
    ]
    table = geojson_table(objects)
    out = np.zeros((80, 80), np.uint8)
    rasterize_geojson(objects, out, table, strict=False)
    assert (out > 0).sum() == 400 + 16 + 100
    # a self-intersecting polygon with an area is still refused: fixing it is the user's call
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [_feature(bowtie)]}))
    with pytest.raises(GeoJSONError, match="feature 0: invalid Polygon: Self-intersection"):
        read_geojson(path)


def test_napari_reader_loads_odd_features_and_keeps_the_notes(tmp_path):
    from napari_axons._reader import napari_get_reader

    path = tmp_path / "odd.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": ODD_FEATURES}))
    [(data, meta, kind)] = napari_get_reader(str(path))(str(path))
    assert kind == "labels" and tuple(meta["translate"]) == (10.0, 10.0)
    assert (data > 0).sum() == 400 + 16 + 100
    warnings = meta["metadata"]["napari_axons"]["warnings"]
    assert len(warnings) == 9 and "feature 1 (id unlocated): no geometry" in warnings[0]


@pytest.mark.parametrize("layout", ["sorted", "type_in_the_middle", "type_between_megabytes"])
def test_napari_reader_finds_a_feature_collection_whatever_its_key_order(tmp_path, layout):
    from napari_axons._reader import napari_get_reader

    features = [_feature({"type": "Polygon", "coordinates": [_square(i % 100, i // 100, 1)]})
                for i in range(300)]
    doc = {"type": "FeatureCollection", "features": features}
    path = tmp_path / "objects.json"
    if layout == "sorted":  # json.dump(sort_keys=True): "features" before "type", at every level
        text = json.dumps(doc, sort_keys=True, indent=1)
    elif layout == "type_in_the_middle":
        text = json.dumps({"features": features, "type": "FeatureCollection",
                           "zz": ["x" * 1000] * 2000}, indent=1)
    else:  # the key after 2 MB of features, before 2 MB of other data: a full scan
        text = json.dumps({"features": features * 50, "type": "FeatureCollection",
                           "zz": ["x" * 1000] * 2000})
    path.write_text(text)
    assert text.index('"FeatureCollection"') > 4096
    reader = napari_get_reader(str(path))
    assert reader is not None
    [(data, _, kind)] = reader(str(path))
    assert kind == "labels" and (data > 0).sum() == 300
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"features": "FeatureCollection", "zz": ["x" * 1000] * 3000}))
    assert napari_get_reader(str(other)) is None
