"""npe2 writers: Labels -> __labels.json and image + labels -> export, read back exactly."""

from __future__ import annotations

import json

import npe2
import numpy as np
import pytest
import tifffile

from napari_axons._reader import napari_get_reader
from napari_axons._sample_data import make_sample_data
from napari_axons._writer import write_export, write_labels_json
from napari_axons.core.export import read_export
from napari_axons.core.labels.labelfile import read_labels_json


@pytest.fixture(autouse=True, scope="module")
def _discovered():
    """npe2.read / npe2.write use the global plugin manager; napari discovers it at startup."""
    npe2.PluginManager.instance().discover()


def test_write_labels_json_round_trip(tmp_path, blob_mask):
    mask = blob_mask((256, 300), seed=2).astype(np.int32) * 7  # any int dtype, any value
    target = tmp_path / "tile_0003__labels.json"
    written = npe2.write(target, [(mask, {"name": "l"}, "labels")], plugin_name="napari-axons")
    assert written == [str(target)]
    doc = read_labels_json(target)
    assert doc["image_filename"] == "tile_0003.png" and doc["labels"]
    assert {lab["source"] for lab in doc["labels"]} == {"manual"}
    [(back, meta, kind)] = npe2.read([str(target)], stack=False, plugin_name="napari-axons")
    assert kind == "labels"
    # without the PNG beside it the size comes from the label extent: compare that area
    h, w = back.shape
    np.testing.assert_array_equal(back, (mask[:h, :w] > 0).astype(np.uint8))
    assert not (mask[h:] > 0).any() and not (mask[:, w:] > 0).any()


def test_write_labels_json_with_image_beside(tmp_path, blob_mask, rgb_image):
    from PIL import Image

    mask = blob_mask((128, 160), seed=4)
    Image.fromarray(rgb_image(128, 160)).save(tmp_path / "t.png")
    write_labels_json(str(tmp_path / "t__labels.json"), mask, {"translate": (512.0, 1024.0)})
    doc = json.loads((tmp_path / "t__labels.json").read_text())
    assert doc["tile"]["y"] == 512.0 and doc["tile"]["x"] == 1024.0
    [im] = read_export(tmp_path / "t__labels.json").images
    np.testing.assert_array_equal(im.labels, mask)
    assert im.image[0].shape == (128, 160, 3)


def test_write_labels_json_refuses_3d(tmp_path):
    with pytest.raises(ValueError, match="only 2D"):
        write_labels_json(str(tmp_path / "x.json"), np.zeros((2, 4, 4), np.uint8), {})


def test_write_export_in_memory_image_round_trip(tmp_path, rgb_image, blob_mask):
    img = rgb_image(600, 700)
    labels = blob_mask((600, 700), seed=9)
    out = tmp_path / "exp"
    written = npe2.write(out, [(img, {"name": "my slide"}, "image"),
                               (labels, {"name": "labels"}, "labels")],
                         plugin_name="napari-axons")
    assert written[0] == str(out / "manifest.json")
    assert (out / "my slide_tile_0000.png").is_file()
    assert all((out / p).is_file() for p in written)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"][0]["source"]["path"] is None
    assert manifest["label_source"] == "manual"
    contents = read_export(out)
    [im] = contents.images
    assert not im.from_source
    np.testing.assert_array_equal(im.labels, labels)
    np.testing.assert_array_equal(im.image[0].compute(), img)
    layers = napari_get_reader(str(out))(str(out))
    np.testing.assert_array_equal(layers[1][0], labels)


def test_write_export_from_file_with_labels_window(tmp_path, rgb_image, blob_mask):
    img = rgb_image(1100, 1300)
    src = tmp_path / "slide.tif"
    tifffile.imwrite(src, img, photometric="rgb", tile=(256, 256))
    [(levels, meta, _)] = napari_get_reader(str(src))(str(src))
    window = blob_mask((512, 1024), seed=11)  # tiles 0 and 1 of the 512 grid, placed at 0, 0
    out = tmp_path / "exp"
    written = write_export(str(out), [(levels, meta, "image"),
                                      (window, {"translate": (0.0, 0.0)}, "labels")])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"][0]["source"]["path"] == str(src.resolve())
    assert [t["index"] for t in manifest["images"][0]["tiles"]] == [0, 1]
    assert len(written) == 1 + 2 * 3
    [im] = read_export(out).images
    assert im.from_source
    np.testing.assert_array_equal(im.labels, window)


def test_write_export_downsampled_labels(tmp_path, rgb_image, blob_mask):
    img = rgb_image(900, 1200)
    src = tmp_path / "s.tif"
    tifffile.imwrite(src, img, photometric="rgb")
    labels = blob_mask((300, 400), seed=12)
    meta = {"metadata": {"napari_axons": {"path": str(src)}}}
    write_export(str(tmp_path / "e"), [(img, meta, "image"),
                                       (labels, {"scale": (3.0, 3.0), "translate": (1.0, 1.0)},
                                        "labels")])
    [im] = read_export(tmp_path / "e").images
    assert im.scale == (3.0, 3.0)
    np.testing.assert_array_equal(im.labels, labels)
    assert im.labels_transform() == {"scale": (3.0, 3.0), "translate": (1.0, 1.0)}


def test_write_export_wrong_layers(tmp_path):
    with pytest.raises(ValueError, match="exactly one image"):
        write_export(str(tmp_path / "e"), [(np.zeros((4, 4), np.uint8), {}, "labels")])


def test_sample_data():
    [(image, imeta, ik), (truth, tmeta, tk)] = make_sample_data()
    assert (ik, tk) == ("image", "labels") and imeta["name"] == "axons sample"
    assert tmeta["name"] == "axons ground truth"
    assert image.shape == (2048, 2048, 3) and image.dtype == np.uint8
    assert truth.shape == (2048, 2048) and truth.dtype == np.uint8
    assert set(np.unique(truth)) == {0, 1}


# -- classes -----------------------------------------------------------------------------------

def _square(cls, x0, y0, x1, y1, oid):
    return {"label_type": "polygon", "label_class": cls, "object_id": oid, "source": "manual",
            "anno_data": {}, "regions": [[{"x": x0, "y": y0}, {"x": x1, "y": y0},
                                          {"x": x1, "y": y1}, {"x": x0, "y": y1}]]}


def _ring(region):
    """A closed polygon as a set-like key: the same ring from any start, either direction."""
    pts = [(v["x"], v["y"]) for v in region]
    k = pts.index(min(pts))
    fwd = pts[k:] + pts[:k]
    back = [fwd[0], *reversed(fwd[1:])]
    return min(tuple(fwd), tuple(back))


def test_two_class_file_round_trips_through_the_plugin(tmp_path, rgb_image):
    """Issue 11's case: open with the plugin, save with the plugin, open with Django-Labeller."""
    from PIL import Image

    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    Image.fromarray(rgb_image(32, 32)).save(tmp_path / "t.png")
    original = {"image_filename": "t.png", "completed_tasks": [],
                "labels": [_square("axon", 2, 2, 10, 10, "1"),
                           _square("myelin", 15, 15, 28, 28, "2")]}
    (tmp_path / "t__labels.json").write_text(json.dumps(original))
    layers = npe2.read([str(tmp_path / "t__labels.json")], stack=False,
                       plugin_name="napari-axons")
    [(data, meta, _)] = [ld for ld in layers if ld[2] == "labels"]
    assert sorted(np.unique(data).tolist()) == [0, 1, 2]
    assert [c["name"] for c in meta["metadata"]["napari_axons"]["classes"]] == \
        ["background", "axon", "myelin"]
    assert meta["metadata"]["napari_axons"]["warnings"] == []
    out = tmp_path / "saved" / "t__labels.json"
    out.parent.mkdir()
    npe2.write(out, [(data, meta, "labels")], plugin_name="napari-axons")
    saved = labelling_tool.WrappedImageLabels.from_file(str(out))
    ref = labelling_tool.WrappedImageLabels.from_file(str(tmp_path / "t__labels.json"))
    mapping = {"axon": 1, "myelin": 2}
    np.testing.assert_array_equal(
        saved.labels.render_label_classes(mapping, image_shape=(32, 32)),
        ref.labels.render_label_classes(mapping, image_shape=(32, 32)))
    doc = json.loads(out.read_text())
    assert [lab["label_class"] for lab in doc["labels"]] == ["axon", "myelin"]
    assert [[_ring(r) for r in lab["regions"]] for lab in doc["labels"]] == \
        [[_ring(r) for r in lab["regions"]] for lab in original["labels"]]


def test_write_labels_json_keeps_every_class_and_refuses_unnamed_values(tmp_path):
    from napari_axons.core.common import ClassTable

    table = ClassTable.from_names(["axon", "myelin", "node"])
    data = np.zeros((40, 40), np.uint8)
    data[2:9, 2:9], data[12:20, 3:30], data[25:35, 25:35] = 3, 2, 1
    meta = {"metadata": {"napari_axons": {"classes": table.to_json()}}}
    target = tmp_path / "x__labels.json"
    write_labels_json(str(target), data, meta)
    [im] = read_export(target).images
    # polygons are written class by class, so the order of first appearance is the table's
    assert im.classes.names == ("background", "axon", "myelin", "node")
    np.testing.assert_array_equal(im.labels, data[:35, :35])  # no image: sized to the extent
    doc = json.loads(target.read_text())
    assert [lab["label_class"] for lab in doc["labels"]] == ["axon", "myelin", "node"]
    data[0, 0] = 4
    bad = tmp_path / "bad__labels.json"
    with pytest.raises(ValueError) as err:
        write_labels_json(str(bad), data, meta)
    assert str(err.value) == (f"{bad}: the labels layer holds value 4, which its class table "
                              "does not name (classes 1-3: axon, myelin, node); nothing written")
    assert not bad.exists()


def test_write_export_with_classes(tmp_path, rgb_image):
    from PIL import Image

    from napari_axons.core.common import ClassTable

    table = ClassTable.from_names(["axon", "myelin"])
    img = rgb_image(600, 700)
    labels = np.zeros((600, 700), np.uint8)
    labels[20:60, 20:60], labels[30:50, 30:50], labels[100:200, 150:260] = 2, 1, 1
    out = tmp_path / "exp"
    write_export(str(out), [(img, {"name": "s"}, "image"),
                            (labels, {"metadata": {"napari_axons": {"classes": table.to_json()}}},
                             "labels")])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == table.to_json()
    with Image.open(out / "masks" / "s_tile_0000_mask.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), labels[:512, :512])
    layers = napari_get_reader(str(out))(str(out))
    (back, meta, _) = layers[1]
    np.testing.assert_array_equal(back, labels)
    assert meta["metadata"]["napari_axons"]["classes"] == table.to_json()
    assert meta["colormap"] == table.napari_colormap()
