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
