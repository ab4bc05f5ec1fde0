"""COCO: an export's tiles as instance annotations, checked with pycocotools itself."""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from formats_helpers import discs, make_export
from napari_axons.cli import main
from napari_axons.core.export import read_export
from napari_axons.core.formats.coco import CocoError, export_coco, read_coco


def _coco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_coco_masks_equal_exported_masks_per_tile(export_dir, tmp_path):
    out = export_dir / "annotations.json"
    summary = export_coco(export_dir, out)
    coco = _coco(out)
    tiles = read_export(export_dir).images[0].tiles
    assert summary.n_images == len(tiles) == len(coco.getImgIds())
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["axon"]
    assert summary.n_rle > 0  # objects with holes
    ious = []
    for img in coco.loadImgs(coco.getImgIds()):
        t = next(t for t in tiles if t.tile.name == img["file_name"])
        truth = np.asarray(Image.open(t.mask)) > 0
        got = np.zeros(truth.shape, bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"])):
            assert ann["iscrowd"] == 0 and ann["category_id"] == 1
            m = coco.annToMask(ann) > 0
            x, y, w, h = ann["bbox"]
            ys, xs = np.nonzero(m)
            assert (xs.min(), ys.min(), xs.max() + 1 - x, ys.max() + 1 - y) == (x, y, w, h)
            assert abs(ann["area"] - m.sum()) <= 0.01 * ann["area"] + 1
            if isinstance(ann["segmentation"], list):
                assert all(len(p) >= 6 and len(p) % 2 == 0 for p in ann["segmentation"])
            got |= m
        if truth.any() or got.any():
            ious.append((truth & got).sum() / (truth | got).sum())
    assert len(ious) > 5 and min(ious) >= 0.99


def test_coco_read_back_gives_class_maps(export_dir, tmp_path):
    out = export_dir / "annotations.json"
    export_coco(export_dir, out)
    data = read_coco(out)
    assert data.classes.names == ("background", "axon")
    tiles = {t.tile.name: t for t in read_export(export_dir).images[0].tiles}
    for im in data.images:
        truth = (np.asarray(Image.open(tiles[im.file_name].mask)) > 0).astype(np.uint8)
        agree = (im.class_map == truth).mean()
        assert agree >= 0.999, im.file_name


def test_cli_export_coco_elsewhere_and_missing_images(export_dir, tmp_path, capsys):
    out = tmp_path / "coco.json"
    assert main(["export-coco", str(export_dir), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.err == "" and f"written to {out}" in printed.out
    doc = json.loads(out.read_text())
    # file_name is relative to the export folder: reading from elsewhere needs the root
    n = len(doc["images"])
    with pytest.raises(CocoError, match=rf"coco.json: {n} of {n} images are missing under "
                                        rf"{re.escape(str(tmp_path))} \(first: 'slide_tile_0000.png'\)"):
        read_coco(out)
    assert len(read_coco(out, images_root=export_dir).images) == len(doc["images"])
    (export_dir / "slide_tile_0003.png").unlink()
    with pytest.raises(CocoError, match=r"1 of \d+ images are missing .* \(first: 'slide_tile_0003.png'\)"):
        read_coco(out, images_root=export_dir)


def test_coco_bad_inputs(tmp_path, export_dir, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(CocoError, match=r"bad.json: not a COCO instances file"):
        read_coco(bad)
    bad.write_text(json.dumps({"images": [], "categories": [{"id": 1, "name": "a"}],
                               "annotations": [{"id": 7, "image_id": 3, "category_id": 1}]}))
    with pytest.raises(CocoError, match=r"annotation 7 refers to an image that is not in 'images'"):
        read_coco(bad)
    out = tmp_path / "x" / "a.json"
    assert main(["export-coco", str(export_dir), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"napari-axons: error: {out}: cannot write")
    assert not out.parent.exists()


def test_coco_multi_part_object_and_downsampled_export(tmp_path):
    truth = discs((300, 420), seed=9)
    export = make_export(tmp_path, truth, downsample=2, tile_size=128)
    out = export / "annotations.json"
    export_coco(export, out)
    data = read_coco(out)
    tiles = {t.tile.name: t for t in read_export(export).images[0].tiles}
    for im in data.images:
        t = tiles[im.file_name]
        assert im.class_map.shape == (128, 128)
        ref = truth[t.y: t.y + 128, t.x: t.x + 128]
        assert (im.class_map == ref).mean() >= 0.999


def _write_tiles(folder, names, size=(64, 80)):
    for n in names:
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(folder / n)


@pytest.mark.parametrize("empty", [[], None, "absent", [[]], [[1, 2, 3, 4]]])
def test_rectangle_only_annotations_read_as_pycocotools_makes_boxes(tmp_path, empty):
    """Label Studio writes a rectangle label as "segmentation": [] plus its bbox; pycocotools'
    loadRes turns a box into the polygon of its corners, CVAT reads it as a rectangle."""
    _write_tiles(tmp_path, ["a.png", "b.png"])
    boxes = [[10, 5, 20, 12], [30.5, 20.25, 7.5, 9.75], [0, 0, 80, 64]]
    anns = [{"id": 1, "image_id": 1, "category_id": 2, "iscrowd": 0, "area": 1,
             "segmentation": [[40, 40, 60, 40, 60, 60, 40, 60]], "bbox": [40, 40, 20, 20]}]
    for k, box in enumerate(boxes):
        ann = {"id": k + 2, "image_id": 1 if k < 2 else 2, "category_id": 1, "iscrowd": 0,
               "area": box[2] * box[3], "bbox": box, "segmentation": empty}
        if empty == "absent":
            del ann["segmentation"]
        anns.append(ann)
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 64, "width": 80},
                      {"id": 2, "file_name": "b.png", "height": 64, "width": 80}],
           "annotations": anns,
           "categories": [{"id": 1, "name": "axon"}, {"id": 2, "name": "myelin"}]}
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(doc))
    data = read_coco(path)
    assert data.notes == []
    # the reference: pycocotools itself, the boxes as results (loadRes makes their segmentation)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {**doc, "annotations": [anns[0]]}
        gt.createIndex()
        res = gt.loadRes([{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 1.0}
                          for a in anns[1:]])
    for im in data.images:
        want = np.zeros((64, 80), np.uint8)
        for a in gt.imgToAnns.get(im.id, []):
            want[gt.annToMask(a) > 0] = 2
        for a in res.imgToAnns.get(im.id, []):
            want[res.annToMask(a) > 0] = 1
        np.testing.assert_array_equal(im.class_map, want)
    a = data.images[0].class_map
    assert (a[5:17, 10:30] == 1).all() and (a[:30, :30] == 1).sum() == 20 * 12  # columns 10-29, rows 5-16
    assert (data.images[1].class_map == 1).all()


def test_annotation_without_segmentation_or_box_is_skipped_with_a_note(tmp_path):
    _write_tiles(tmp_path, ["a.png"])
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 64, "width": 80}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                            "segmentation": [[1, 1, 9, 1, 9, 9]]},
                           {"id": 2, "image_id": 1, "category_id": 1, "segmentation": []},
                           {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [],
                            "bbox": [5, 5, 0, 3]}],
           "categories": [{"id": 1, "name": "axon"}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    data = read_coco(path)
    assert data.notes == [f"{path}: annotation 2: no segmentation and no usable bbox (None); skipped",
                          f"{path}: annotation 3: no segmentation and no usable bbox ([5, 5, 0, 3]); skipped"]
    assert data.images[0].class_map.any()


def test_string_ids_read_as_pycocotools_reads_them(tmp_path):
    _write_tiles(tmp_path, ["a.png", "b.png"])
    doc = {"images": [{"id": "b", "file_name": "b.png", "height": 64, "width": 80},
                      {"id": "a", "file_name": "a.png", "height": 64, "width": 80}],
           "annotations": [{"id": "x1", "image_id": "a", "category_id": "myelin", "iscrowd": 0,
                            "segmentation": [[5, 5, 30, 5, 30, 30, 5, 30]], "bbox": [5, 5, 25, 25],
                            "area": 625},
                           {"id": "x2", "image_id": "b", "category_id": 7, "iscrowd": 0,
                            "segmentation": [[40, 10, 70, 10, 70, 50]], "bbox": [40, 10, 30, 40],
                            "area": 600}],
           "categories": [{"id": "myelin", "name": "myelin"}, {"id": 7, "name": "axon"}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    data = read_coco(path)
    assert data.classes.names == ("background", "axon", "myelin")  # integer ids first
    assert [im.id for im in data.images] == ["b", "a"]
    coco = _coco(path)
    assert sorted(coco.getImgIds(), key=str) == ["a", "b"]
    index = {7: 1, "myelin": 2}
    for im in data.images:
        want = np.zeros((64, 80), np.uint8)
        for ann in coco.imgToAnns[im.id]:
            want[coco.annToMask(ann) > 0] = index[ann["category_id"]]
        assert want.any()
        np.testing.assert_array_equal(im.class_map, want)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("images", 1.5, r"images\[1\]\.id: expected an integer or a string, got float 1\.5"),
    ("images", True, r"images\[1\]\.id: expected an integer or a string, got bool True"),
    ("images", [1], r"images\[1\]\.id: expected an integer or a string, got list \[1\]"),
    ("images", 1, r"images\[1\]\.id: 1 is used by an earlier entry too"),
    ("images", None, r"images\[1\]\.id: expected an integer or a string, got NoneType None"),
    ("categories", {"a": 1}, r"categories\[0\]\.id: expected an integer or a string, got dict"),
])
def test_bad_ids_one_line_naming_file_and_field(tmp_path, field, value, message):
    _write_tiles(tmp_path, ["a.png", "b.png"])
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 64, "width": 80},
                      {"id": 2, "file_name": "b.png", "height": 64, "width": 80}],
           "annotations": [], "categories": [{"id": 1, "name": "axon"}]}
    doc[field][1 if field == "images" else 0]["id"] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CocoError, match=rf"^{re.escape(str(path))}: {message}") as err:
        read_coco(path)
    assert "\n" not in str(err.value)
    doc[field][1 if field == "images" else 0].pop("id")
    path.write_text(json.dumps(doc))
    with pytest.raises(CocoError, match=rf"{field}\[\d\]\.id: missing"):
        read_coco(path)


def test_export_coco_leaves_out_deleted_tiles_and_reads_its_own_file(export_dir, tmp_path, capsys):
    gone = sorted(export_dir.glob("slide_tile_*.png"))[1]
    stem = gone.name[: -len(".png")]
    gone.unlink()
    (export_dir / "masks" / f"{stem}_mask.png").unlink()
    (export_dir / f"{stem}__labels.json").unlink()
    no_masks = sorted(export_dir.glob("slide_tile_*.png"))[3]
    (export_dir / "masks" / f"{no_masks.stem}_mask.png").unlink()
    (export_dir / f"{no_masks.stem}__labels.json").unlink()
    n_tiles = len(read_export(export_dir).images[0].tiles)
    out = export_dir / "annotations.json"
    assert main(["export-coco", str(export_dir), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    idx = int(stem.rsplit("_", 1)[1])
    assert printed.err.splitlines() == [
        f"napari-axons: warning: tile {idx} ({stem}): its image {gone.name} is missing; left out of "
        "the COCO file",
        f"napari-axons: warning: tile {int(no_masks.stem.rsplit('_', 1)[1])} ({no_masks.stem}): no label "
        "file or mask; left out of the COCO file"]
    assert "(2 left out: see the warnings)" in printed.out
    doc = json.loads(out.read_text())
    names = [im["file_name"] for im in doc["images"]]
    assert gone.name not in names and no_masks.name not in names
    assert len(names) == n_tiles - 2 and all((export_dir / n).is_file() for n in names)
    data = read_coco(out)  # the product reads the file it wrote
    assert len(data.images) == len(names)
    assert len(_coco(out).getImgIds()) == len(names)
