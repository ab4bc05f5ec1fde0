"""``napari-axons score``: known numbers against a hand-made truth, product exports, bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.train_data import labelled_export

from napari_axons.cli import main
from napari_axons.core.common import ClassTable
from napari_axons.core.labels import encode_class_mask

TRUTH_NAMES = ("background", "axon", "myelin")
PRED_NAMES = ("background", "myelin", "axon")  # the same classes in another order


def run(argv, capsys):
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _hand_made(tmp_path):
    """A 128 x 256 image (two 128 px tiles) with a hand-made truth and prediction.

    Truth (tile 0): axons A (rows 10-29, cols 10-29, 400 px) and B (rows 60-79,
    cols 60-79, 400 px), a myelin square (rows 90-109, cols 90-109, 400 px).
    Prediction: A exactly; the left 40 % of B (rows 60-79, cols 60-67, 160 px:
    IoU 0.4 < 0.5, no match); a false axon C (rows 10-19, cols 100-109, 100 px);
    the myelin square exactly. Tile 1 is empty and labelled in the truth only.
    """
    img = np.full((128, 256, 3), 128, np.uint8)
    truth = np.zeros((128, 256), np.uint8)
    truth[10:30, 10:30] = 1
    truth[60:80, 60:80] = 1
    truth[90:110, 90:110] = 2
    pred = np.zeros((128, 256), np.uint8)  # in PRED_NAMES indices: 1 myelin, 2 axon
    pred[10:30, 10:30] = 2
    pred[60:80, 60:68] = 2
    pred[10:20, 100:110] = 2
    pred[90:110, 90:110] = 1
    t, p = tmp_path / "truth" / "export", tmp_path / "pred" / "export"
    labelled_export(t, img, truth, TRUTH_NAMES, tile_size=128, labelled=[0, 1])
    labelled_export(p, img, pred, PRED_NAMES, tile_size=128, labelled=[0])
    return p, t


def test_known_numbers_by_hand(tmp_path, capsys):
    p, t = _hand_made(tmp_path)
    out_json = tmp_path / "scores.json"
    code, out, err = run(["score", str(p), "--truth", str(t), "--json", str(out_json)], capsys)
    assert code == 0, err
    # axon pixels: TP = 400 (A) + 160 (B) = 560, FN = 240 (rest of B), FP = 100 (C)
    iou, dice = 560 / (560 + 240 + 100), 2 * 560 / (2 * 560 + 240 + 100)
    # axon objects: predicted A, B', C (3); true A, B (2); matched A only (B' has IoU 0.4)
    precision, recall, f1 = 1 / 3, 1 / 2, 2 * 1 / (3 + 2)
    doc = json.loads(out_json.read_text())
    assert doc["classes"] == list(TRUTH_NAMES)
    axon = doc["overall"]["axon"]
    assert axon["iou"] == pytest.approx(iou)
    assert axon["dice"] == pytest.approx(dice)
    assert (axon["precision"], axon["recall"], axon["f1"]) == pytest.approx((precision, recall, f1))
    assert axon["objects"] == {"matched": 1, "predicted": 3, "true": 2}
    myelin = doc["overall"]["myelin"]  # index 2 in the truth, 1 in the prediction: by name
    assert (myelin["iou"], myelin["dice"], myelin["f1"]) == (1.0, 1.0, 1.0)
    # the truth's tile 1 has no prediction: left out, with one note
    assert [tile["name"] for tile in doc["tiles"]] == ["img_tile_0000"]
    assert doc["tiles"][0]["classes"]["axon"]["iou"] == pytest.approx(iou)
    assert err.count("\n") == 1
    assert err.startswith(f"napari-axons: note: {t}: 1 labelled tile not in {p} (img_tile_0001); "
                          "scored over the 1 in common")
    # the table on stdout: aligned columns, the same figures to 3 decimals
    lines = out.splitlines()
    assert lines[0].split() == ["tile", "class", "IoU", "Dice", "precision", "recall", "F1",
                                "objects", "m/p/t"]
    overall = {ln.split()[1]: ln.split()[2:] for ln in lines if ln.startswith("overall")}
    assert overall["axon"] == [f"{iou:.3f}", f"{dice:.3f}", f"{precision:.3f}", f"{recall:.3f}",
                               f"{f1:.3f}", "1/3/2"]
    assert overall["myelin"][:2] == ["1.000", "1.000"]
    assert len({len(ln) for ln in lines}) == 1  # right-aligned numbers: every row as wide


def test_json_to_stdout(tmp_path, capsys):
    p, t = _hand_made(tmp_path)
    code, out, _ = run(["score", str(p), "--truth", str(t), "--json", "-"], capsys)
    assert code == 0
    doc = json.loads(out)  # nothing but the JSON
    assert doc["predicted"] == str(p) and doc["truth"] == str(t) and doc["match_iou"] == 0.5
    assert doc["overall"]["axon"]["objects"]["matched"] == 1


def test_product_exports_otsu_against_truth(tmp_path, capsys):
    """Two exports made by the product: the Otsu segmenter's, and the sample's truth."""
    img_path = tmp_path / "img.png"
    assert main(["sample", "--kind", "myelinated", "--size", "160", "200", str(img_path)]) == 0
    assert main(["tile", str(img_path), "-o", str(tmp_path / "otsu"), "--model", "otsu",
                 "--tile-size", "128"]) == 0
    img = np.asarray(Image.open(img_path).convert("RGB"))
    truth = np.asarray(Image.open(tmp_path / "img_truth.png"))  # 1 myelin, 2 axon
    labelled_export(tmp_path / "t" / "truth", img, truth, ("background", "myelin", "axon"),
                    tile_size=128)
    code, out, err = run(["score", str(tmp_path / "otsu"), "--truth", str(tmp_path / "t" / "truth"),
                          "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert [tile["name"] for tile in doc["tiles"]] == [f"img_tile_{k:04d}" for k in range(4)]
    # Otsu knows one class, axon: myelin is scored as never predicted, with a note
    assert "has no class 'myelin': scored as never predicted" in err
    assert doc["overall"]["myelin"]["iou"] == 0.0
    assert doc["overall"]["myelin"]["objects"]["predicted"] == 0
    assert doc["overall"]["myelin"]["objects"]["true"] > 0
    assert 0.1 < doc["overall"]["axon"]["iou"] < 1.0
    # an export against itself: every figure 1
    code, out, _ = run(["score", str(tmp_path / "otsu"), "--truth", str(tmp_path / "otsu"),
                        "--json", "-"], capsys)
    doc = json.loads(out)
    a = doc["overall"]["axon"]
    assert (a["iou"], a["dice"], a["precision"], a["recall"]) == (1.0, 1.0, 1.0, 1.0)
    assert a["objects"]["matched"] == a["objects"]["true"] > 0


def test_single_images_axondeepseg_palette_and_label_file(tmp_path, capsys):
    """An AxonDeepSeg mask (0/127/255, with anti-aliased strays) as the truth of one image."""
    ads = np.zeros((40, 50), np.uint8)
    ads[5:15, 5:15] = 127   # myelin, 100 px
    ads[20:30, 20:30] = 255  # axon, 100 px
    ads[20, 20:30] = 233     # strays: nearest class axon
    ads[5, 5:15] = 130       # nearest class myelin
    truth = tmp_path / "img_seg-axonmyelin-manual.png"
    Image.fromarray(ads).save(truth)
    # the prediction: a palette PNG of indices (no names: the truth's), axon half-found
    pred = np.zeros((40, 50), np.uint8)
    pred[5:15, 5:15] = 1
    pred[20:30, 20:25] = 2
    pred_path = tmp_path / "pred.png"
    pred_path.write_bytes(encode_class_mask(pred, ClassTable.from_names(["myelin", "axon"])))
    code, out, err = run(["score", str(pred_path), "--truth", str(truth), "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["classes"] == ["background", "myelin", "axon"]
    assert doc["overall"]["myelin"]["iou"] == 1.0
    assert doc["overall"]["axon"]["iou"] == pytest.approx(0.5)
    assert doc["overall"]["axon"]["objects"] == {"matched": 1, "predicted": 1, "true": 1}
    # a Django-Labeller label file beside its image: classes by name, sized by the image
    from napari_axons.core.labels import dumps_labels, labels_document, mask_to_labels

    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "img.png")
    labels = mask_to_labels(pred == 2, label_class="axon", source="manual")
    (tmp_path / "img__labels.json").write_bytes(dumps_labels(labels_document("img.png", labels)))
    code, out, err = run(["score", str(tmp_path / "img__labels.json"), "--truth", str(truth),
                          "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["overall"]["axon"]["iou"] == pytest.approx(0.5)
    assert doc["overall"]["myelin"]["iou"] == 0.0
    assert "has no class 'myelin'" in err


def _png(path, arr):
    Image.fromarray(np.asarray(arr, np.uint8)).save(path)
    return str(path)


def test_errors_one_line_naming_the_file(tmp_path, capsys):
    a = _png(tmp_path / "a.png", np.zeros((20, 30)))
    b = _png(tmp_path / "b.png", np.zeros((20, 31)))
    code, out, err = run(["score", a, "--truth", b], capsys)
    assert (code, out) == (1, "")
    assert err == f"napari-axons: error: {a} is 30 x 20 px but {b} is 31 x 20 px\n"

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    code, out, err = run(["score", str(bad), "--truth", a], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"napari-axons: error: {bad}: cannot read it as a mask image (")
    assert err.count("\n") == 1

    code, _, err = run(["score", str(tmp_path / "none.png"), "--truth", a], capsys)
    assert (code, err) == (1, f"napari-axons: error: {tmp_path / 'none.png'}: no such file\n")

    code, _, err = run(["score", str(tmp_path / "notes.txt"), "--truth", a], capsys)
    assert (code, err) == (1, f"napari-axons: error: {tmp_path / 'notes.txt'}: no such file or "
                              "folder\n")

    code, _, err = run(["score", a], capsys)
    assert code == 2 and err == "napari-axons: error: the following arguments are required: --truth\n"


def test_export_errors(tmp_path, capsys):
    p, t = _hand_made(tmp_path)
    # a predicted class the truth does not have, by name
    img = np.zeros((128, 256, 3), np.uint8)
    odd = np.zeros((128, 256), np.uint8)
    odd[5:9, 5:9] = 1
    n = tmp_path / "n" / "export"
    labelled_export(n, img, odd, ("background", "nucleus"), tile_size=128, labelled=[0])
    code, out, err = run(["score", str(n), "--truth", str(t)], capsys)
    assert (code, out) == (1, "")
    assert err == (f"napari-axons: error: {n}: class 'nucleus' is not in the truth's classes "
                   f"(axon, myelin in {t}); classes are matched by name\n")
    # no tile in common (another image, other tile names)
    other = tmp_path / "o" / "export"
    labelled_export(other, img, odd, ("background", "axon"), tile_size=128, base="other")
    code, out, err = run(["score", str(other), "--truth", str(t)], capsys)
    assert (code, out) == (1, "")
    assert err.startswith(f"napari-axons: error: no tile in common: {other} has 2 segmented "
                          f"tiles, {t} has 2 labelled tiles")
    # an export against one image of neither the source's nor the working image's size
    a = _png(tmp_path / "a.png", np.zeros((20, 30)))
    code, _, err = run(["score", str(p), "--truth", a], capsys)
    assert (code, err) == (1, f"napari-axons: error: {a} is 30 x 20 px but image img of {p} is "
                              "256 x 128 px\n")
    # a folder that is not an export
    code, _, err = run(["score", str(tmp_path), "--truth", str(t)], capsys)
    assert (code, err) == (1, f"napari-axons: error: {tmp_path}: not an export folder (no "
                              "manifest.json in it)\n")
    # a tile whose truth mask is another size
    (t / "img_tile_0000__labels.json").unlink()
    (t / "masks").mkdir(exist_ok=True)
    _png(t / "masks" / "img_tile_0000_mask.png", np.zeros((64, 64)))
    code, _, err = run(["score", str(p), "--truth", str(t)], capsys)
    assert code == 1
    assert err == (f"napari-axons: error: {t / 'masks' / 'img_tile_0000_mask.png'}: mask is "
                   "64 x 64, the tile 128 x 128\n")


def _ads(class_map):
    """An AxonDeepSeg mask (0 background, 127 myelin, 255 axon) of a 1 myelin / 2 axon map."""
    return np.choose(class_map, [0, 127, 255]).astype(np.uint8)


def test_tile_then_score_against_the_whole_images_mask(tmp_path, capsys):
    """A lab's run: tile the image with a model, score the export against the manual mask of
    the whole image. Tile by tile it gives exactly what the same truth as an export gives."""
    img_path = tmp_path / "img.png"
    assert main(["sample", "--kind", "myelinated", "--size", "160", "200", str(img_path)]) == 0
    truth = np.asarray(Image.open(tmp_path / "img_truth.png"))  # 1 myelin, 2 axon
    whole = _png(tmp_path / "img_seg-axonmyelin-manual.png", _ads(truth))
    assert main(["tile", str(img_path), "-o", str(tmp_path / "otsu"), "--model", "otsu",
                 "--tile-size", "128"]) == 0
    code, out, err = run(["score", str(tmp_path / "otsu"), "--truth", whole, "--json", "-"],
                         capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert [tile["name"] for tile in doc["tiles"]] == [f"img_tile_{k:04d}" for k in range(4)]
    assert err == (f"napari-axons: note: {tmp_path / 'otsu'} has no class 'myelin': scored as "
                   "never predicted\n")
    img = np.asarray(Image.open(img_path).convert("RGB"))
    labelled_export(tmp_path / "t" / "truth", img, truth, ("background", "myelin", "axon"),
                    tile_size=128)
    code, out, _ = run(["score", str(tmp_path / "otsu"), "--truth", str(tmp_path / "t" / "truth"),
                        "--json", "-"], capsys)
    as_export = json.loads(out)
    assert doc["overall"] == as_export["overall"]
    assert [t["classes"] for t in doc["tiles"]] == [t["classes"] for t in as_export["tiles"]]
    assert 0.1 < doc["overall"]["axon"]["iou"] < 1.0

    # --downsample 2: the mask (source size) is mapped onto the working grid, with one note
    assert main(["tile", str(img_path), "-o", str(tmp_path / "ds"), "--model", "otsu",
                 "--tile-size", "64", "--downsample", "2"]) == 0
    code, out, err = run(["score", str(tmp_path / "ds"), "--truth", whole], capsys)
    assert code == 0, err
    assert err.splitlines()[0] == (f"napari-axons: note: {whole} is 200 x 160 px, the size of the "
                                   "source image img.png: mapped onto the 100 x 80 px image the "
                                   "export tiled (downsample 2), each pixel the class with the "
                                   "largest share")
    overall = {ln.split()[1]: ln.split()[2:] for ln in out.splitlines() if ln.startswith("overall")}
    assert 0.1 < float(overall["axon"][0]) < 1.0


def test_a_micrograph_is_refused_on_either_side(tmp_path, capsys):
    img_path = tmp_path / "img.png"
    assert main(["sample", "--kind", "myelinated", "--size", "160", "200", str(img_path)]) == 0
    assert main(["tile", str(img_path), "-o", str(tmp_path / "out"), "--model", "otsu",
                 "--tile-size", "128"]) == 0
    tile, mask = tmp_path / "out" / "img_tile_0000.png", tmp_path / "out" / "masks" / \
        "img_tile_0000_mask.png"
    for pred, truth in ((mask, tile), (tile, mask), (tmp_path / "out", img_path)):
        code, out, err = run(["score", str(pred), "--truth", str(truth)], capsys)
        bad = tile if tile in (pred, truth) else img_path
        assert (code, out) == (1, "")
        assert err.startswith(f"napari-axons: error: {bad}: not a mask: ")
        assert " grey levels" in err and err.count("\n") == 1
