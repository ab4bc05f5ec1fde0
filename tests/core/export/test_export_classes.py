"""Exports with classes: palette masks, per-class polygons, AxonDeepSeg masks; binary unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from napari_axons.core.common import ClassTable, encode_png
from napari_axons.core.export import ExportJob, ExportOptions
from napari_axons.core.labels.class_masks import ClassMaskError

AXON_MYELIN = ClassTable.from_names(["axon", "myelin"])


class _ClassModel:
    """Class maps from the red channel: > 170 axon (1), > 85 myelin (2), else background."""

    batch_size, streams, name = 2, 1, "classes"

    def __init__(self, classes=AXON_MYELIN, binary=False):
        self.classes, self.binary = classes, binary

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        r = tiles[..., 0]
        if self.binary:
            return (r > 128).astype(np.uint8)
        return np.where(r > 170, 1, np.where(r > 85, 2, 0)).astype(np.uint8)

    def info(self):
        return {"kind": "test", "name": self.name}


def expected_class_map(tile):
    r = tile[..., 0]
    return np.where(r > 170, 1, np.where(r > 85, 2, 0)).astype(np.uint8)


def export(tmp_path, name, options, model):
    job = ExportJob([str(tmp_path / "x.png")], tmp_path / name, options, segmenter=model)
    try:
        manifest = None
        gen = job.run()
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                manifest = stop.value
                break
    finally:
        job.close()
    return manifest


@pytest.fixture
def image(tmp_path, rgb_image):
    img = rgb_image(600, 700)
    Image.fromarray(img).save(tmp_path / "x.png")
    return img


def test_multiclass_export_writes_palette_masks_and_class_polygons(tmp_path, image):
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    opts = ExportOptions(tile_size=256, threads=1, classes=AXON_MYELIN)
    manifest = export(tmp_path, "out", opts, _ClassModel())
    out = tmp_path / "out"
    assert manifest["classes"] == AXON_MYELIN.to_json()
    assert manifest["options"]["classes"] == ["background", "axon", "myelin"]
    mapping = {"axon": 1, "myelin": 2}
    for entry in manifest["images"][0]["tiles"]:
        tile = np.asarray(Image.open(out / entry["files"]["tile"]))
        expected = expected_class_map(tile)
        with Image.open(out / entry["files"]["mask"]) as im:
            assert im.mode == "P"
            np.testing.assert_array_equal(np.asarray(im), expected)
        labels_path = out / entry["files"]["labels"]
        doc = json.loads(labels_path.read_bytes())
        assert {lab["label_class"] for lab in doc["labels"]} == {"axon", "myelin"}
        rendered = labelling_tool.WrappedImageLabels.from_file(str(labels_path)).labels \
            .render_label_classes(mapping, image_shape=expected.shape)
        np.testing.assert_array_equal(rendered, expected)
        assert not (out / (entry["name"] + "_seg-axon.png")).exists()


def test_binary_export_is_byte_identical_with_or_without_a_table(tmp_path, image):
    base = ExportOptions(tile_size=256, threads=1)
    export(tmp_path, "plain", base, _ClassModel(ClassTable.from_names(["axon"]), binary=True))
    export(tmp_path, "table", ExportOptions(tile_size=256, threads=1,
                                            classes=ClassTable.from_names(["axon"])),
           _ClassModel(ClassTable.from_names(["axon"]), binary=True))
    files = sorted(p.relative_to(tmp_path / "plain") for p in (tmp_path / "plain").rglob("*.*")
                   if p.name != "manifest.json")
    assert files == sorted(p.relative_to(tmp_path / "table") for p in
                           (tmp_path / "table").rglob("*.*") if p.name != "manifest.json")
    for rel in files:
        assert (tmp_path / "plain" / rel).read_bytes() == (tmp_path / "table" / rel).read_bytes()
    # the seed's mask: 0/255 grey, as encode_png of the thresholded tile
    tile = np.asarray(Image.open(tmp_path / "plain" / "x_tile_0001.png"))
    mask = (tmp_path / "plain" / "masks" / "x_tile_0001_mask.png").read_bytes()
    assert mask == encode_png(np.where(tile[..., 0] > 128, 255, 0).astype(np.uint8), 1)
    doc = json.loads((tmp_path / "plain" / "x_tile_0001__labels.json").read_bytes())
    assert {lab["label_class"] for lab in doc["labels"]} == {"axon"}
    manifest = json.loads((tmp_path / "plain" / "manifest.json").read_bytes())
    assert manifest["classes"] == [{"index": 0, "name": "background", "color": "#000000"},
                                   {"index": 1, "name": "axon", "color": "#ff4040"}]
    assert "classes" not in manifest["options"] and "axondeepseg" not in manifest["options"]


def test_axondeepseg_masks_next_to_each_tile(tmp_path, image):
    opts = ExportOptions(tile_size=256, threads=1, classes=AXON_MYELIN, axondeepseg=True)
    manifest = export(tmp_path, "out", opts, _ClassModel())
    out = tmp_path / "out"
    entry = manifest["images"][0]["tiles"][2]
    stem = entry["name"]
    assert entry["files"]["seg-axonmyelin"] == f"{stem}_seg-axonmyelin.png"
    tile = np.asarray(Image.open(out / f"{stem}.png"))
    m = expected_class_map(tile)
    axon = np.asarray(Image.open(out / f"{stem}_seg-axon.png"))
    myelin = np.asarray(Image.open(out / f"{stem}_seg-myelin.png"))
    both = np.asarray(Image.open(out / f"{stem}_seg-axonmyelin.png"))
    np.testing.assert_array_equal(axon, np.where(m == 1, 255, 0))
    np.testing.assert_array_equal(myelin, np.where(m == 2, 255, 0))
    np.testing.assert_array_equal(both, np.choose(m, [0, 255, 127]))
    n_tiles = len(manifest["images"][0]["tiles"])
    assert len(list(out.glob("*_seg-axonmyelin.png"))) == n_tiles


def test_axondeepseg_needs_axon_and_myelin():
    with pytest.raises(ValueError) as err:
        ExportOptions(axondeepseg=True)
    assert str(err.value) == ("--axondeepseg needs classes named 'axon' and 'myelin'; the class "
                              "table has axon (no 'myelin')")


def test_a_class_map_value_without_a_class_writes_nothing_of_that_tile(tmp_path, image):
    class Bad(_ClassModel):
        def predict(self, tiles):
            out = super().predict(tiles)
            out[:, 0, 0] = 7
            return out

    opts = ExportOptions(tile_size=256, threads=1, classes=AXON_MYELIN)
    with pytest.raises(ClassMaskError) as err:
        export(tmp_path, "out", opts, Bad())
    assert str(err.value) == ("x_tile_0000: mask: holds value 7, but the class table has "
                              "classes 1-2 (axon, myelin)")
    out = tmp_path / "out"
    assert not (out / "x_tile_0000.png").exists()
    assert not list((out / "masks").iterdir())
