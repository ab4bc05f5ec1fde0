"""The export contract: typed manifest, one JSON round trip, one validation, one owner of names."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from napari_axons.core.common import DEFAULT_TABLE, PixelSize
from napari_axons.core.export import (
    ExportFiles,
    ExportJob,
    ExportLayout,
    ExportOptions,
    Manifest,
    ManifestError,
    load_manifest,
    read_manifest,
)
from napari_axons.core.geometry import TileBox
from napari_axons.core.segment import load_segmenter
from slide_helpers import drain


@pytest.fixture(scope="module")
def export(tmp_path_factory, ):
    root = tmp_path_factory.mktemp("m")
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (500, 600, 3)).astype(np.uint8)
    Image.fromarray(img).save(root / "x.png")
    job = ExportJob([root / "x.png"], root / "out", ExportOptions(tile_size=256, threads=1),
                    segmenter=load_segmenter("otsu"))
    returned = drain(job.run())[1]
    job.close()
    return root / "out", returned


def test_round_trip_is_byte_identical(export):
    out, returned = export
    data = (out / "manifest.json").read_bytes()
    manifest = load_manifest(out)
    assert manifest.dumps() == data
    assert manifest.to_json() == json.loads(data) == returned
    assert Manifest.from_json(manifest.to_json()) == manifest  # typed equality, frozen
    assert read_manifest(out) == returned


def test_typed_fields_and_the_new_keys(export):
    out, _ = export
    m = load_manifest(out / "manifest.json")
    assert m.status == "complete" and m.classes == DEFAULT_TABLE
    [img] = m.images
    assert img.source.name == "x.png" and img.source.pixel_size is None
    assert img.working.pixel_size is None and (img.working.width, img.working.height) == (600, 500)
    assert (img.grid.tile_size, img.grid.n_tiles, len(img.tiles)) == (256, 6, 6)
    t = img.tiles[5]
    assert (t.index, t.name, t.y, t.x) == (5, "x_tile_0005", 244, 344)
    assert t.files == {"tile": "x_tile_0005.png", "mask": "masks/x_tile_0005_mask.png",
                       "labels": "x_tile_0005__labels.json"}
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["classes"] == DEFAULT_TABLE.to_json()
    assert doc["images"][0]["source"]["pixel_size"] is None
    doc["images"][0]["source"]["pixel_size"] = {"x_um": 0.25, "y_um": 0.5, "origin": "ome-tiff"}
    sized = Manifest.from_json(doc, "m.json")
    assert sized.images[0].source.pixel_size == PixelSize(0.25, 0.5, "ome-tiff")
    assert sized.to_json() == doc


def test_an_older_manifest_without_the_new_keys_reads(export, tmp_path):
    out, _ = export
    doc = json.loads((out / "manifest.json").read_text())
    del doc["classes"]
    for img in doc["images"]:
        del img["source"]["pixel_size"], img["working"]["pixel_size"]
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    m = load_manifest(tmp_path)
    assert m.classes is None and m.images[0].source.pixel_size is None
    assert m.images[0] == load_manifest(out).images[0]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["images"][0]["tiles"][3]["box"].update(width="256"),
     "images[0].tiles[3].box.width: expected an int, got a string"),
    (lambda d: d["images"][0].pop("source"), "images[0].source: missing"),
    (lambda d: d["images"][0]["grid"].update(padded=None), "images[0].grid.padded: "
                                                           "expected true or false, got null"),
    (lambda d: d["images"][0]["tiles"][0]["source_box"].update(clipped=[0, 0]),
     "images[0].tiles[0].source_box.clipped: expected 4 ints, got 2 values"),
    (lambda d: d["images"][0]["tiles"][1].update(files=["x.png"]),
     "images[0].tiles[1].files: expected an object, got a list"),
    (lambda d: d.update(images={}), "images: expected a list, got an object"),
    (lambda d: d.update(classes=[{"name": "background"}]), "classes: a class table needs"),
])
def test_one_line_error_naming_the_file_and_the_field(export, tmp_path, edit, message):
    out, _ = export
    doc = json.loads((out / "manifest.json").read_text())
    edit(doc)
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'manifest.json'}: {message}")
    assert "\n" not in str(info.value)


def test_unreadable_and_foreign_manifests(tmp_path):
    with pytest.raises(ManifestError, match="not an export folder \\(no manifest.json in it\\)"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="nope: no such export folder or manifest"):
        load_manifest(tmp_path / "nope")
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not a readable manifest"):
        load_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "x"}')
    with pytest.raises(ManifestError, match="not a napari-axons manifest"):
        load_manifest(tmp_path)


def test_the_file_names_have_one_owner(tmp_path):
    assert ExportFiles.stem("slide", 7) == TileBox(7, 0, 0, 512, 512).name("slide") \
        == "slide_tile_0007"
    assert ExportFiles.of_tile("s_tile_12345", with_masks=True) == {
        "tile": "s_tile_12345.png", "mask": "masks/s_tile_12345_mask.png",
        "labels": "s_tile_12345__labels.json"}
    assert ExportFiles.of_tile("s", with_masks=False) == {"tile": "s.png"}
    assert list(ExportFiles.of_tile("s", with_masks=True, axondeepseg=True))[3:] == [
        "seg-axon", "seg-myelin", "seg-axonmyelin"]
    layout = ExportLayout(tmp_path)
    assert (layout.tile_name("a"), layout.mask_name("a"), layout.labels_name("a")) == (
        ExportFiles.tile("a"), ExportFiles.mask("a"), ExportFiles.labels("a"))
    assert layout.manifest == tmp_path / ExportFiles.manifest


def test_resume_compares_typed_entries_not_the_source_path(export, tmp_path):
    import shutil

    out, _ = export
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(out.parent / "x.png", moved / "x.png")  # the same image elsewhere
    target = tmp_path / "out"
    shutil.copytree(out, target)
    job = ExportJob([moved / "x.png"], target, ExportOptions(tile_size=256, threads=1),
                    segmenter=load_segmenter("otsu"), resume=True)
    manifest = drain(job.run())[1]
    job.close()
    assert manifest["images"][0]["source"]["path"] == str((moved / "x.png").resolve())
    bigger = ExportJob([moved / "x.png"], target, ExportOptions(tile_size=128, threads=1),
                       segmenter=load_segmenter("otsu"), resume=True)
    with pytest.raises(OSError, match="options differ"):
        drain(bigger.run())
