"""core.export read-back: an export read back gives the masks it was written from, safely."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile

from napari_axons._reader import napari_get_reader
from napari_axons.core.common import ExportError
from napari_axons.core.export import (
    ExportJob,
    ExportOptions,
    iter_tile_masks,
    list_exported_tiles,
    read_export,
)
from napari_axons.core.labels.labelfile import LabelFileError


def _export(src, out, truth, *, downsample=1, tile_size=256):
    def mask_reader(plan, box):
        m = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(truth.shape[0], truth.shape[1])
        m[ys, xs] = truth[box.y + ys.start : box.y + ys.stop, box.x + xs.start : box.x + xs.stop]
        return m

    job = ExportJob([src], out, ExportOptions(tile_size=tile_size, downsample=downsample,
                                              threads=2), mask_reader=mask_reader)
    try:
        results = list(job.run())
    finally:
        job.close()
    assert not job.errors
    return results


@pytest.fixture
def exported(tmp_path, rgb_image, blob_mask):
    img = rgb_image(700, 1000)
    src = tmp_path / "slide.tif"
    tifffile.imwrite(src, img, photometric="rgb")
    truth = blob_mask((700, 1000), seed=3)
    out = tmp_path / "out"
    results = _export(src, out, truth)
    return src, img, truth, out, results


def test_round_trip_labels_exact(exported):
    src, img, truth, out, results = exported
    contents = read_export(out)
    assert contents.warnings == []
    [im] = contents.images
    assert im.shape == (700, 1000) and im.origin == (0, 0) and im.labels.dtype == np.uint8
    np.testing.assert_array_equal(im.labels, truth)
    # every mask PNG written agrees with the labels read back at its box
    from PIL import Image

    for t in im.tiles:
        mask = np.asarray(Image.open(t.mask)) > 0
        np.testing.assert_array_equal(mask, im.labels[t.y : t.y + t.height, t.x : t.x + t.width])
    assert im.from_source and im.source_path == src.resolve()
    np.testing.assert_array_equal(np.asarray(im.image[0]), img)


def test_without_source_tiles_are_reassembled(exported):
    src, img, truth, out, _ = exported
    src.unlink()
    contents = read_export(out / "manifest.json")
    [im] = contents.images
    assert not im.from_source
    np.testing.assert_array_equal(im.image[0].compute(), img)
    np.testing.assert_array_equal(im.labels, truth)


def test_large_mosaic_gets_a_cached_pyramid_built_from_the_tiles(exported, monkeypatch):
    from PIL import Image

    from napari_axons.core.image import pyramid

    src, img, truth, out, _ = exported
    src.unlink()
    monkeypatch.setattr(pyramid, "LARGE_SIDE", 512)  # this 1000-px mosaic counts as large
    monkeypatch.setattr(pyramid, "TOP_SIDE", 256)
    calls = []
    before = pyramid.build_count()
    [im] = read_export(out, progress=lambda done, total: calls.append((done, total))).images
    assert pyramid.build_count() == before + 1 and calls[0][0] == 0 and calls[-1][0] == calls[-1][1]
    assert [lv.shape[:2] for lv in im.image] == [(700, 1000), (350, 500), (175, 250)]
    np.testing.assert_array_equal(im.image[0].compute(), img)
    level1 = img[:700, :1000].reshape(350, 2, 500, 2, 3).sum(axis=(1, 3), dtype=np.uint16)
    np.testing.assert_array_equal(im.image[1].compute(), ((level1 + 2) // 4).astype(np.uint8))
    # read again: the cached levels are reused
    [again] = read_export(out).images
    assert pyramid.build_count() == before + 1 and len(again.image) == 3
    # a tile edited on disk: another pyramid, showing the edit
    tile0 = out / "slide_tile_0000.png"
    Image.fromarray(np.full((256, 256, 3), 255, np.uint8)).save(tile0)
    [edited] = read_export(out).images
    assert pyramid.build_count() == before + 2
    assert (edited.image[1][:128, :128].compute() == 255).all()
    # napari gets the levels as one multiscale layer
    data, meta, kind = napari_get_reader(str(out))(str(out))[0]
    assert kind == "image" and meta["multiscale"] and len(data) == 3


def test_tile_by_tile_listing_reads_no_pixels_until_asked(exported):
    from napari_axons.core.common import sampled_file_hash

    src, _, truth, out, results = exported
    [listed] = list_exported_tiles(out)
    assert listed.source_hash == sampled_file_hash(src) and listed.source_name == "slide.tif"
    assert (listed.downsample, listed.shape, listed.tile_size, listed.overlap) == (1, (700, 1000), 256, 0)
    assert [t.index for t in listed.tiles] == sorted(r.box.index for r in results)
    warnings = []
    rebuilt = np.zeros_like(truth)
    for t, mask in iter_tile_masks(listed.tiles, warnings):
        rebuilt[t.y : t.y + t.height, t.x : t.x + t.width] = mask  # later tiles win
    np.testing.assert_array_equal(rebuilt, truth)
    assert warnings == []
    (out / listed.tiles[0].labels.name).unlink()
    (out / "masks" / listed.tiles[0].mask.name).unlink()
    masks = dict(iter_tile_masks(listed.tiles[:1], warnings))
    assert masks == {listed.tiles[0]: None} and "no label file or mask" in warnings[0]
    (out / "manifest.json").write_text('{"format": "napari-axons-export/1", "images": [{"base": 1}]}')
    with pytest.raises(ExportError, match=r"manifest.json: images\[0\].base: expected a string, "
                                          "got an int"):
        list_exported_tiles(out)


def test_changed_source_is_not_used(exported):
    src, img, truth, out, _ = exported
    tifffile.imwrite(src, img[::-1].copy(), photometric="rgb")
    contents = read_export(out)
    assert not contents.images[0].from_source
    assert any("changed" in w for w in contents.warnings)
    np.testing.assert_array_equal(contents.images[0].image[0].compute(), img)


def test_mask_png_fallback(exported):
    _, _, truth, out, _ = exported
    for f in out.glob("*__labels.json"):
        f.unlink()
    [im] = read_export(out, use_source=False).images
    np.testing.assert_array_equal(im.labels, truth)


def test_downsampled_export_places_labels_on_source(tmp_path, rgb_image, blob_mask):
    img = rgb_image(1200, 900)
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, img, photometric="rgb", tile=(256, 256))
    truth = blob_mask((400, 300), seed=7)
    _export(src, tmp_path / "out", truth, downsample=3, tile_size=128)
    [im] = read_export(tmp_path / "out").images
    np.testing.assert_array_equal(im.labels, truth)
    assert im.from_source and im.image[0].shape == (1200, 900, 3)
    tr = im.labels_transform()
    assert tr["scale"] == (3.0, 3.0) and tr["translate"] == (1.0, 1.0)


def test_reader_on_export_gives_image_and_labels(exported):
    _, img, truth, out, _ = exported
    layers = napari_get_reader(str(out))(str(out))
    kinds = [k for _, _, k in layers]
    assert kinds == ["image", "labels"]
    (lab, meta, _) = layers[1]
    np.testing.assert_array_equal(lab, truth)
    assert "scale" not in meta and "translate" not in meta
    assert meta["metadata"]["napari_axons"]["export"] == str(out)


def _edit_manifest(out, change):
    doc = json.loads((out / "manifest.json").read_text())
    change(doc)
    (out / "manifest.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("bad", ["../outside__labels.json", "/etc/passwd",
                                 "..\\..\\x.json", "masks/../../x.png"])
def test_path_traversal_in_manifest_is_refused(exported, bad):
    _, _, _, out, _ = exported
    (out.parent / "outside__labels.json").write_text('{"labels": []}')

    def change(doc):
        doc["images"][0]["tiles"][1]["files"]["labels"] = bad

    _edit_manifest(out, change)
    with pytest.raises(ExportError, match="export folder|absolute"):
        read_export(out)
    assert napari_get_reader(str(out)) is not None  # detection stays cheap; reading refuses


def test_symlink_out_of_folder_is_refused(exported, tmp_path):
    _, _, _, out, _ = exported
    (tmp_path / "elsewhere").mkdir()
    (out / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    _edit_manifest(out, lambda d: d["images"][0]["tiles"][0]["files"].update(
        labels="link/x__labels.json"))
    with pytest.raises(ExportError, match="outside the export folder"):
        read_export(out)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a readable manifest"),
    ('{"format": "something-else"}', "not a napari-axons manifest"),
    ('{"format": "napari-axons-export/1", "images": 3}', "images: expected a list, got an int"),
    ('{"format": "napari-axons-export/1", "images": [{"base": "a"}]}',
     r"manifest.json: images\[0\].source: missing"),
])
def test_malformed_manifest_one_line_error(tmp_path, text, message):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ExportError, match=message) as info:
        read_export(tmp_path)
    assert "\n" not in str(info.value)


def test_single_labels_file(exported, tmp_path):
    _, _, truth, out, _ = exported
    [im] = read_export(out, use_source=False).images
    t = im.tiles[3]
    one = read_export(t.labels)
    [single] = one.images
    assert single.image[0].shape == (t.height, t.width, 3)
    np.testing.assert_array_equal(single.labels, truth[t.y : t.y + t.height, t.x : t.x + t.width])
    layers = napari_get_reader(str(t.labels))(str(t.labels))
    assert [k for *_, k in layers] == ["image", "labels"]


def test_single_labels_file_without_image_and_bad_names(tmp_path):
    doc = {"image_filename": "gone.png", "labels": [
        {"label_type": "polygon", "label_class": "axon", "source": "manual", "anno_data": {},
         "object_id": "a", "regions": [[{"x": 2, "y": 2}, {"x": 9, "y": 2}, {"x": 9, "y": 6}]]}]}
    p = tmp_path / "t__labels.json"
    p.write_text(json.dumps(doc))
    contents = read_export(p)
    [im] = contents.images
    assert im.labels.shape == (7, 10) and im.labels.max() == 1 and im.image == []
    assert any("not beside it" in w for w in contents.warnings)
    doc["image_filename"] = "../../etc/passwd"
    p.write_text(json.dumps(doc))
    with pytest.raises(LabelFileError, match=r"leaves the export folder"):
        read_export(p)
    p.write_text("{broken")
    with pytest.raises(LabelFileError, match="malformed JSON"):
        read_export(p)
    shutil.rmtree(tmp_path / "nothing", ignore_errors=True)


# -- classes -----------------------------------------------------------------------------------

def _class_truth(shape, seed):
    """Axons (1) in myelin rings (2), and a third class (3) of specks."""
    from skimage.draw import disk

    rng = np.random.default_rng(seed)
    m = np.zeros(shape, np.uint8)
    for _ in range(30):
        c = tuple(rng.integers(0, s) for s in shape)
        r = int(rng.integers(4, 30))
        m[disk(c, r + 5, shape=shape)] = 2
        m[disk(c, r, shape=shape)] = 1
    m[rng.random(shape) < 0.001] = 3
    return m


@pytest.fixture
def exported_classes(tmp_path, rgb_image):
    from napari_axons.core.common import ClassTable

    table = ClassTable.from_names(["axon", "myelin", "node"])
    src = tmp_path / "slide.tif"
    tifffile.imwrite(src, rgb_image(700, 1000), photometric="rgb")
    truth = _class_truth((700, 1000), seed=5)

    def mask_reader(plan, box):
        m = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(700, 1000)
        m[ys, xs] = truth[box.y + ys.start : box.y + ys.stop, box.x + xs.start : box.x + xs.stop]
        return m

    out = tmp_path / "out"
    job = ExportJob([src], out, ExportOptions(tile_size=256, threads=2, classes=table),
                    mask_reader=mask_reader)
    try:
        list(job.run())
    finally:
        job.close()
    return table, truth, out


def test_export_with_classes_reads_back_as_one_class_map(exported_classes):
    table, truth, out = exported_classes
    contents = read_export(out)
    assert contents.warnings == []
    [im] = contents.images
    assert im.classes == table
    np.testing.assert_array_equal(im.labels, truth)
    layers = napari_get_reader(str(out))(str(out))
    [(lab, meta, _)] = [ld for ld in layers if ld[2] == "labels"]
    np.testing.assert_array_equal(lab, truth)
    assert meta["colormap"] == table.napari_colormap()
    assert meta["metadata"]["napari_axons"]["classes"] == table.to_json()
    # tile by tile, as the widget loads them
    [listed] = list_exported_tiles(out)
    assert listed.classes == table
    for t, mask in iter_tile_masks(listed.tiles, [], listed.classes):
        np.testing.assert_array_equal(mask, truth[t.y : t.y + t.height, t.x : t.x + t.width])


def test_palette_mask_fallback_gives_class_indices(exported_classes):
    table, truth, out = exported_classes
    for f in out.glob("*__labels.json"):
        f.unlink()
    [im] = read_export(out, use_source=False).images
    assert im.classes == table
    np.testing.assert_array_equal(im.labels, truth)


def test_label_class_not_in_the_manifest_is_added_with_a_warning(exported_classes):
    table, truth, out = exported_classes
    path = out / "slide_tile_0005__labels.json"
    doc = json.loads(path.read_text())
    renamed = next(lab for lab in doc["labels"] if lab["label_class"] == "myelin")
    renamed["label_class"] = "Myelin"  # a near-miss is its own class, never merged
    path.write_text(json.dumps(doc))
    contents = read_export(out)
    assert contents.warnings == [f"{path}: label class 'Myelin' is not in the export's class "
                                 "table; added as class 4"]
    [im] = contents.images
    assert im.classes.names == (*table.names, "Myelin")
    assert (im.labels == 4).any()
    np.testing.assert_array_equal(im.labels > 0, truth > 0)


def test_old_export_without_a_table_uses_the_order_of_first_appearance(exported, tmp_path):
    _, _, truth, out, _ = exported
    _edit_manifest(out, lambda d: d.pop("classes", None))
    [im] = read_export(out).images
    assert im.classes.names == ("background", "axon")
    np.testing.assert_array_equal(im.labels, truth)
    # masks written as the seed writes them (0/255 grey) read as class 1
    for f in out.glob("*__labels.json"):
        f.unlink()
    [im] = read_export(out, use_source=False).images
    np.testing.assert_array_equal(im.labels, truth)


def test_malformed_class_table_in_the_manifest(exported):
    _, _, _, out, _ = exported
    _edit_manifest(out, lambda d: d.update(classes=[{"index": 0, "name": "background"},
                                                    {"index": 1, "name": "background"}]))
    with pytest.raises(ExportError) as err:
        read_export(out)
    assert str(err.value) == (f"{out / 'manifest.json'}: classes: class name 'background' "
                              "appears twice in the class table")


def test_palette_mask_indices_beyond_the_table_are_added_with_a_warning(exported_classes):
    from napari_axons.core.common import ClassTable
    from napari_axons.core.labels.class_masks import encode_class_mask

    table, truth, out = exported_classes
    for f in out.glob("*__labels.json"):
        f.unlink()
    mask_path = out / "masks" / "slide_tile_0000_mask.png"
    m = truth[:256, :256].copy()
    m[0:3, 0:3], m[5:8, 5:8] = 4, 5
    wider = table.with_names(["x", "y"])
    mask_path.write_bytes(encode_class_mask(m, wider, 1))
    contents = read_export(out, use_source=False)
    assert contents.warnings == [f"{mask_path}: mask values 4-5 are not in the export's class "
                                 "table; added as class_4, class_5"]
    [im] = contents.images
    assert im.classes.names == (*table.names, "class_4", "class_5")
    assert isinstance(im.classes, ClassTable)
    np.testing.assert_array_equal(im.labels[:256, :256], m)
