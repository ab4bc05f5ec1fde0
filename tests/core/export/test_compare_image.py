"""Scoring an export against the mask of the whole image it was tiled from (and the other way round).

The predicted export is made by the product's export (:class:`ExportJob`) with a
segmenter that reads the classes off the pixels' colours, so the prediction is
known pixel for pixel; the truth is a hand-made AxonDeepSeg mask of the whole
source image (0 background, 127 myelin, 255 axon).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.tiny_models import RedChannelModel
from tests.train_data import labelled_export

from napari_axons.core.common import ClassTable, encode_png
from napari_axons.core.export import ExportJob, ExportOptions, ScoreInputError, compare
from napari_axons.core.labels import encode_class_mask

AXON_MYELIN = ClassTable.from_names(["axon", "myelin"])


def _segment(images, out, **options):
    """The product's export of ``images`` segmented by :class:`RedChannelModel`."""
    job = ExportJob([str(i) for i in images], out,
                    ExportOptions(threads=1, classes=AXON_MYELIN, **options),
                    segmenter=RedChannelModel())
    try:
        for _ in job.run():
            pass
    finally:
        job.close()

def _maps(width):
    """Source ``(200, width)`` truth and prediction (AXON_MYELIN indices: 1 axon, 2 myelin).

    Every edge on even coordinates, every object inside one tile of both
    grids used below (100 px tiles; 128 px tiles of the image downsampled 2x).

    Truth: axons A [10:30, 10:30] (400 px), B [40:80, 40:80] (1600 px), D
    [120:140, 120:140] (400 px); myelin M [110:150, 210:250] (1600 px).
    Prediction: A exactly; the left 40 % of B ([40:80, 40:56], 640 px: IoU 0.4,
    no match); no D; a false axon C [10:20, 320:340] (200 px); M exactly.
    """
    truth = np.zeros((200, width), np.uint8)
    truth[10:30, 10:30] = 1
    truth[40:80, 40:80] = 1
    truth[120:140, 120:140] = 1
    truth[110:150, 210:250] = 2
    pred = np.zeros((200, width), np.uint8)
    pred[10:30, 10:30] = 1
    pred[40:80, 40:56] = 1
    pred[10:20, 320:340] = 1
    pred[110:150, 210:250] = 2
    return truth, pred


def _export(tmp_path, width, **options):
    """The product's export of an image painted with the prediction's colours; the truth's file."""
    truth, pred = _maps(width)
    rgb = np.zeros((200, width, 3), np.uint8)
    rgb[..., 0] = np.choose(pred, [0, 255, 128])  # red 255 axon, 128 myelin
    Image.fromarray(rgb).save(tmp_path / "img.png")
    out = tmp_path / "out"
    _segment([tmp_path / "img.png"], out, **options)
    ads = np.choose(truth, [0, 255, 127]).astype(np.uint8)  # AxonDeepSeg: 255 axon, 127 myelin
    truth_path = tmp_path / "img_seg-axonmyelin-manual.png"
    Image.fromarray(ads).save(truth_path)
    return out, truth_path


def _background_iou(tp, fp, fn):
    return tp / (tp + fp + fn)


def test_export_against_whole_mask_known_numbers(tmp_path):
    out, truth = _export(tmp_path, 400, tile_size=100)
    result = compare(out, truth)
    assert result.tiles == [f"img_tile_{k:04d}" for k in range(8)]
    assert result.notes == []  # same size as the working image: nothing resampled
    assert result.scores.names == ("background", "myelin", "axon")  # the truth's, by name
    doc = result.to_json()
    axon = doc["overall"]["axon"]
    # axon pixels: TP 400 (A) + 640 (B') = 1040, FN 960 (rest of B) + 400 (D), FP 200 (C)
    assert axon["iou"] == pytest.approx(1040 / (1040 + 1360 + 200))
    assert axon["dice"] == pytest.approx(2 * 1040 / (2 * 1040 + 1360 + 200))
    assert axon["objects"] == {"matched": 1, "predicted": 3, "true": 3}
    assert (axon["precision"], axon["recall"], axon["f1"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    myelin = doc["overall"]["myelin"]
    assert (myelin["iou"], myelin["f1"], myelin["objects"]["true"]) == (1.0, 1.0, 1)
    # background over the image's 80 000 pixels: FP (truth axon, predicted background) 1360,
    # FN 200 (C), TP the rest
    tp = 80000 - 4000 - 200
    assert doc["overall"]["background"]["iou"] == pytest.approx(_background_iou(tp, 1360, 200))
    # per tile: tile 0 (rows 0-99, cols 0-99) holds A and B
    t0 = doc["tiles"][0]["classes"]["axon"]
    assert t0["iou"] == pytest.approx(1040 / (1040 + 960))
    assert t0["objects"] == {"matched": 1, "predicted": 2, "true": 2}


def test_downsampled_export_and_tiles_hanging_over_the_edge(tmp_path):
    """Source 200 x 512, --downsample 2: working 100 x 256, two 128 px tiles that each hang
    28 rows over the top border (zero padding, not counted). The mask, at the source size, is
    mapped onto the working grid: every count is a quarter of the source's."""
    out, truth = _export(tmp_path, 512, tile_size=128, downsample=2)
    tiles = json.loads((out / "manifest.json").read_text())["images"][0]["tiles"]
    assert [(t["box"]["y"], t["box"]["x"], t["padding"]["top"]) for t in tiles] == \
        [(-28, 0, 28), (-28, 128, 28)]
    result = compare(out, truth)
    assert result.notes == [f"{truth} is 512 x 200 px, the size of the source image img.png: "
                            "mapped onto the 256 x 100 px image the export tiled (downsample 2), "
                            "each pixel the class with the largest share"]
    doc = result.to_json()
    axon = doc["overall"]["axon"]
    assert axon["iou"] == pytest.approx(260 / (260 + 340 + 50))  # 1040, 1360, 200 over 4
    assert axon["objects"] == {"matched": 1, "predicted": 3, "true": 3}
    assert doc["overall"]["myelin"]["iou"] == 1.0
    # background over the 25 600 pixels of the working image only: the 2 x 28 x 128 rows of
    # padding would add 7 168 true negatives
    tp = 25600 - 1000 - 50
    assert doc["overall"]["background"]["iou"] == pytest.approx(_background_iou(tp, 340, 50))
    # the same with the truth given at the working size (nothing resampled, no note)
    small = np.asarray(Image.open(truth))[::2, ::2]
    Image.fromarray(small).save(tmp_path / "small.png")
    again = compare(out, tmp_path / "small.png")
    assert again.notes == [] and again.to_json()["overall"] == doc["overall"]


def test_whole_image_label_file_as_truth(tmp_path):
    """A Django-Labeller file for the whole image, sized by the source image beside it."""
    from napari_axons.core.labels import dumps_labels, labels_document, mask_to_labels

    out, _ = _export(tmp_path, 512, tile_size=128, downsample=2)
    truth_map, _ = _maps(512)
    labels = [*mask_to_labels(truth_map == 1, label_class="axon", source="manual", id_prefix="a-"),
              *mask_to_labels(truth_map == 2, label_class="myelin", source="manual",
                              id_prefix="m-")]
    path = tmp_path / "img__labels.json"
    path.write_bytes(dumps_labels(labels_document("img.png", labels)))
    result = compare(out, path)
    assert result.notes[0].startswith(f"{path} is 512 x 200 px, the size of the source image")
    axon = result.to_json()["overall"]["axon"]
    assert axon["iou"] == pytest.approx(260 / 650)
    assert axon["objects"] == {"matched": 1, "predicted": 3, "true": 3}


def test_truth_export_against_a_whole_predicted_image(tmp_path):
    """The other way round: the export holds the truth, PREDICTED is one mask image."""
    out, _ = _export(tmp_path, 400, tile_size=100)
    truth_map, pred_map = _maps(400)
    # the export's masks are the prediction above; here they serve as the truth, and a palette
    # PNG of the hand-made truth as the prediction: every figure mirrors (FP <-> FN)
    pred_path = tmp_path / "whole.png"
    pred_path.write_bytes(encode_class_mask(truth_map, AXON_MYELIN))
    doc = compare(pred_path, out).to_json()
    assert doc["classes"] == ["background", "axon", "myelin"]  # the truth's: the export's table
    axon = doc["overall"]["axon"]
    assert axon["iou"] == pytest.approx(1040 / 2600)
    assert (axon["precision"], axon["recall"]) == pytest.approx((1 / 3, 1 / 3))
    assert axon["objects"] == {"matched": 1, "predicted": 3, "true": 3}
    # a prediction with class names (AxonDeepSeg levels) is matched by name
    Image.fromarray(np.choose(pred_map, [0, 255, 127]).astype(np.uint8)).save(tmp_path / "p.png")
    doc = compare(tmp_path / "p.png", out).to_json()
    assert doc["overall"]["axon"]["iou"] == 1.0 and doc["overall"]["myelin"]["iou"] == 1.0


def test_labelled_tiles_of_a_truth_export_only(tmp_path):
    """A truth export whose user labelled 2 of its 8 tiles: those 2 are scored, with a note."""
    truth_map, pred_map = _maps(400)
    out = tmp_path / "t" / "img"
    labelled_export(out, np.zeros((200, 400, 3), np.uint8), truth_map,
                    ("background", "axon", "myelin"), tile_size=100, labelled=[0, 6])
    pred_path = tmp_path / "pred.png"
    pred_path.write_bytes(encode_class_mask(pred_map, AXON_MYELIN))
    result = compare(pred_path, out)
    assert result.tiles == ["img_tile_0000", "img_tile_0006"]
    assert result.notes == [f"{out}: 6 of the 8 tiles of img have no label file or mask; "
                            "scored over the 2 with one"]
    # tile 0 holds A and B (as above); tile 6 (rows 100-199, cols 200-299) holds M only
    axon = result.to_json()["overall"]["axon"]
    assert axon["iou"] == pytest.approx(1040 / (1040 + 960))
    assert axon["objects"] == {"matched": 1, "predicted": 2, "true": 2}
    assert result.to_json()["overall"]["myelin"]["iou"] == 1.0


def test_which_image_of_several(tmp_path):
    truth, pred = _maps(400)
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[..., 0] = np.choose(pred, [0, 255, 128])
    for name in ("img", "img_b", "other"):
        Image.fromarray(rgb if name == "img" else rgb[:, ::-1].copy()).save(tmp_path / f"{name}.png")
    out = tmp_path / "out"
    _segment([tmp_path / f"{n}.png" for n in ("img", "img_b", "other")], out, tile_size=100)
    ads = np.choose(truth, [0, 255, 127]).astype(np.uint8)
    # the longest image name that begins the file's name: img, not img_b
    for name in ("img_seg-axonmyelin-manual.png", "img.png"):
        Image.fromarray(ads).save(tmp_path / name)
        result = compare(out, tmp_path / name)
        assert result.tiles == [f"img_tile_{k:04d}" for k in range(8)]
        assert result.to_json()["overall"]["axon"]["iou"] == pytest.approx(0.4)
    Image.fromarray(ads).save(tmp_path / "img_b_mask.png")
    assert compare(out, tmp_path / "img_b_mask.png").tiles[0] == "img_b_tile_0000"
    # no image's name: one clear error
    Image.fromarray(ads).save(tmp_path / "truth.png")
    with pytest.raises(ScoreInputError) as err:
        compare(out, tmp_path / "truth.png")
    assert str(err.value) == (f"{tmp_path / 'truth.png'}: cannot tell which of the 3 images of "
                              f"{out} it belongs to (img, img_b, other); name it after one of "
                              "them (e.g. img_mask.png), or score an export of that image alone")


def test_a_mask_of_another_size(tmp_path):
    out, _ = _export(tmp_path, 512, tile_size=128, downsample=2)
    bad = tmp_path / "bad.png"
    bad.write_bytes(encode_png(np.zeros((150, 300), np.uint8), 1))
    with pytest.raises(ScoreInputError) as err:
        compare(out, bad)
    assert str(err.value) == (f"{bad} is 300 x 150 px but image img of {out} is 512 x 200 px "
                              "(source) and 256 x 100 px as tiled")
