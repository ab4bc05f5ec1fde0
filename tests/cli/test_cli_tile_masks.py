"""``napari-axons tile IMAGE --masks MASK``: a lab's whole-image ground truth as an export's labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from napari_axons.cli import main
from napari_axons.core.common import ClassTable
from napari_axons.core.export import list_exported_tiles
from napari_axons.core.geometry import resample_class_map
from napari_axons.core.labels import labels_to_class_map, read_mask_image


def run(argv, capsys):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _rings(h, w):
    """Class map (0 background, 1 myelin, 2 axon) of a few fibres, and its micrograph."""
    yy, xx = np.mgrid[0:h, 0:w]
    cmap = np.zeros((h, w), np.uint8)
    for cy, cx, r in ((40, 50, 22), (120, 170, 30), (160, 60, 18), (70, 260, 25)):
        d = np.hypot(yy - cy, xx - cx)
        cmap[d <= r] = 1
        cmap[d <= 0.6 * r] = 2
    img = np.stack([np.where(cmap == 1, 30, np.where(cmap == 2, 200, 120))] * 3, -1).astype(np.uint8)
    return cmap, img


@pytest.fixture
def slide(tmp_path):
    """A 200 x 300 micrograph and its AxonDeepSeg-style mask (0 / 127 myelin / 255 axon)."""
    cmap, img = _rings(200, 300)
    image, mask = tmp_path / "slide.png", tmp_path / "slide_seg-axonmyelin-manual.png"
    Image.fromarray(img).save(image)
    Image.fromarray(np.array([0, 127, 255], np.uint8)[cmap]).save(mask)
    return image, mask, cmap


def _tile_maps(out):
    """``{tile name: (box, class map from its label file, class map from its mask)}``."""
    (img,) = list_exported_tiles(out)
    manifest = json.loads((out / "manifest.json").read_text())
    table = ClassTable.from_names([c["name"] for c in manifest["classes"]][1:])
    maps = {}
    for t in img.tiles:
        doc = json.loads(t.labels.read_text())
        drawn, _, _ = labels_to_class_map(doc, (t.height, t.width), table)
        maps[t.name] = ((t.y, t.x, t.height, t.width), drawn, read_mask_image(t.mask).class_map)
    return maps


def _cut(cmap, box):
    y, x, h, w = box
    out = np.zeros((h, w), np.uint8)
    y0, x0 = max(y, 0), max(x, 0)
    part = cmap[y0:y + h, x0:x + w]
    out[y0 - y:y0 - y + part.shape[0], x0 - x:x0 - x + part.shape[1]] = part
    return out


def test_an_axondeepseg_mask_becomes_every_tiles_labels(slide, tmp_path, capsys):
    image, mask, cmap = slide
    out = tmp_path / "out"
    code, stdout, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128"],
                            capsys)
    assert (code, err) == (0, "")
    assert stdout.startswith("6 tiles written to ")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["classes"]] == ["background", "myelin", "axon"]
    assert manifest["label_source"] == "manual"
    assert manifest["segmenter"]["masks"][0]["file"] == mask.name
    maps = _tile_maps(out)
    assert len(maps) == 6
    for name, (box, drawn, from_mask) in maps.items():
        want = _cut(cmap, box)
        assert (from_mask == want).all(), name
        assert (drawn == want).all(), name  # the polygons draw the same pixels
    for t in json.loads(next(out.glob("*__labels.json")).read_text())["labels"]:
        assert t["source"] == "manual"
    # score against the same mask: the export is the truth, exactly
    code, stdout, _ = run(["score", out, "--truth", mask, "--json", "-"], capsys)
    figures = json.loads(stdout)
    assert code == 0
    assert figures["overall"]["myelin"]["iou"] == figures["overall"]["axon"]["iou"] == 1.0


def test_a_source_size_mask_is_resampled_onto_the_exported_grid(slide, tmp_path, capsys):
    image, mask, cmap = slide
    out = tmp_path / "out"
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "64",
                        "--downsample", "2"], capsys)
    assert code == 0
    assert err == (f"napari-axons: note: {mask.resolve()}: resampled from the image's 300 x 200 px "
                   "to the export's 150 x 100 px\n")
    small = resample_class_map(cmap, (100, 150))
    for name, (box, _, from_mask) in _tile_maps(out).items():
        assert (from_mask == _cut(small, box)).all(), name


def test_index_masks_take_the_names_given(tmp_path, capsys):
    cmap, img = _rings(100, 300)
    image, mask = tmp_path / "a.png", tmp_path / "a_mask.png"
    Image.fromarray(img).save(image)
    Image.fromarray(np.array([0, 2, 1], np.uint8)[cmap]).save(mask)  # 1 axon, 2 myelin
    out = tmp_path / "out"
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128"], capsys)
    assert code == 1 and not out.exists()
    assert err == (f"napari-axons: error: {mask}: holds class indices (up to 2) with no names; "
                   "give their names with --classes NAME,... (class 1 first)\n")
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128",
                        "--classes", "axon"], capsys)
    assert code == 1 and not out.exists()
    assert err == (f"napari-axons: error: {mask}: holds class 2, but --classes names 1 class "
                   "(axon)\n")
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128",
                        "--classes", "axon,myelin"], capsys)
    assert (code, err) == (0, "")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["classes"]] == ["background", "axon", "myelin"]
    for name, (box, drawn, _) in _tile_maps(out).items():
        assert (drawn == _cut(np.array([0, 2, 1], np.uint8)[cmap], box)).all(), name


def test_a_binary_mask_is_the_label_class(tmp_path, capsys):
    cmap, img = _rings(100, 128)
    image, mask = tmp_path / "b.png", tmp_path / "b_mask.png"
    Image.fromarray(img).save(image)
    Image.fromarray(((cmap == 2) * 255).astype(np.uint8)).save(mask)
    out = tmp_path / "out"
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128",
                        "--label-class", "axon"], capsys)
    assert (code, err) == (0, "")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["classes"]] == ["background", "axon"]
    ((box, drawn, _),) = _tile_maps(out).values()
    assert (drawn == _cut((cmap == 2).astype(np.uint8), box)).all()


@pytest.mark.parametrize("extra, message", [
    (["--model", "otsu"], "--masks gives the labels: --model cannot be used with it"),
    (["--classes", "all"], "--classes with --masks: the class names, class 1 first (e.g. axon,myelin)"),
])
def test_options_a_mask_export_refuses(slide, tmp_path, capsys, extra, message):
    image, mask, _ = slide
    out = tmp_path / "out"
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, *extra], capsys)
    assert code == 2 and not out.exists()
    assert err.strip().endswith(f"napari-axons: error: {message}")


def test_one_mask_per_image_of_its_size(slide, tmp_path, capsys):
    image, mask, _ = slide
    out = tmp_path / "out"
    code, _, err = run(["tile", image, image, "--masks", mask, "-o", out], capsys)
    assert code == 2 and not out.exists()
    assert err.strip().endswith("--masks: 1 mask for 2 images; give one mask per IMAGE, in order")
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((50, 60), np.uint8)).save(other)
    code, _, err = run(["tile", image, "--masks", other, "-o", out], capsys)
    assert code == 1 and not out.exists()
    assert err == (f"napari-axons: error: {other.resolve()}: is 60 x 50 px but its image {image} "
                   "is 300 x 200 px\n")
    code, _, err = run(["tile", image, "--masks", image, "-o", out], capsys)  # the micrograph
    assert code == 1 and not out.exists()
    assert f"napari-axons: error: {image}: not a mask" in err


def test_resuming_with_other_masks_is_refused(slide, tmp_path, capsys):
    image, mask, cmap = slide
    out = tmp_path / "out"
    argv = ["tile", image, "--masks", mask, "-o", out, "--tile-size", "128"]
    assert run(argv, capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, stdout, _ = run([*argv, "--resume"], capsys)
    assert code == 0 and "6 already done" in stdout
    edited = cmap.copy()
    edited[0:10, 0:10] = 2
    Image.fromarray(np.array([0, 127, 255], np.uint8)[edited]).save(mask)
    code, _, err = run([*argv, "--resume"], capsys)
    assert code == 1
    assert err == (f"napari-axons: error: {out}: cannot resume: the existing export's labels came "
                   "from other masks; use --overwrite to replace it\n")
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_masks_given_in_the_wrong_order_and_every_bad_mask_are_said(tmp_path, capsys):
    cmap, img = _rings(200, 300)
    for stem in ("data9", "data10", "data11"):
        Image.fromarray(img).save(tmp_path / f"{stem}.png")
        Image.fromarray(np.array([0, 127, 255], np.uint8)[cmap]).save(
            tmp_path / f"{stem}_seg-axonmyelin.png")
    Image.fromarray(np.zeros((50, 60), np.uint8)).save(tmp_path / "small.png")
    images = [tmp_path / f"{s}.png" for s in ("data9", "data10", "data11")]
    swapped = [tmp_path / f"{s}_seg-axonmyelin.png" for s in ("data10", "data9")] + [
        tmp_path / "small.png"]
    out = tmp_path / "out"
    code, _, err = run(["tile", *images, "--masks", *swapped, "-o", out], capsys)
    assert code == 1 and not out.exists()
    assert err.splitlines() == [  # same sizes, so only the names tell; all three lines at once
        f"napari-axons: error: {swapped[0]}: named after data10.png but given for data9.png "
        "(--masks go in the order of the IMAGEs)",
        f"napari-axons: error: {swapped[1]}: named after data9.png but given for data10.png "
        "(--masks go in the order of the IMAGEs)",
        f"napari-axons: error: {swapped[2].resolve()}: is 60 x 50 px but its image {images[2]} "
        "is 300 x 200 px"]


def test_axondeepsegs_one_class_masks_are_named_by_their_suffix(slide, tmp_path, capsys):
    image, _, cmap = slide
    myelin = tmp_path / "slide_seg-myelin.png"
    Image.fromarray(((cmap == 1) * 255).astype(np.uint8)).save(myelin)
    out = tmp_path / "out"
    code, _, err = run(["tile", image, "--masks", myelin, "-o", out, "--tile-size", "128"], capsys)
    assert (code, err) == (0, "")
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["classes"]] == ["background", "myelin"]


def test_a_renamed_mask_of_the_same_content_resumes(slide, tmp_path, capsys):
    image, mask, _ = slide
    out = tmp_path / "out"
    assert run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128"], capsys)[0] == 0
    renamed = mask.rename(tmp_path / "slide_truth.png")
    code, stdout, err = run(["tile", image, "--masks", renamed, "-o", out, "--tile-size", "128",
                             "--resume"], capsys)
    assert (code, err) == (0, "") and "6 already done" in stdout


def test_ground_truth_in_axondeepsegs_own_files_per_tile(slide, tmp_path, capsys):
    image, mask, cmap = slide
    out = tmp_path / "out"
    code, _, err = run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128",
                        "--axondeepseg"], capsys)
    assert (code, err) == (0, "")
    levels = np.array([0, 127, 255], np.uint8)[cmap]  # what the source mask holds
    for name, (box, _, _) in _tile_maps(out).items():
        with Image.open(out / f"{name}_seg-axonmyelin.png") as im:
            assert (np.asarray(im) == _cut(levels, box)).all(), name
        with Image.open(out / f"{name}_seg-myelin.png") as im:
            assert (np.asarray(im) == _cut((cmap == 1) * np.uint8(255), box)).all(), name


def test_a_tile_over_the_border_holds_background_in_its_padding(tmp_path, capsys):
    cmap, img = _rings(100, 300)  # lower than a tile of 128: 28 rows of padding above
    image, mask = tmp_path / "low.png", tmp_path / "low_seg-axonmyelin.png"
    Image.fromarray(img).save(image)
    Image.fromarray(np.array([0, 127, 255], np.uint8)[cmap]).save(mask)
    out = tmp_path / "out"
    assert run(["tile", image, "--masks", mask, "-o", out, "--tile-size", "128"], capsys)[0] == 0
    maps = _tile_maps(out)
    assert {box[0] for box, _, _ in maps.values()} == {-28}
    for name, (box, drawn, from_mask) in maps.items():
        assert (from_mask[:28] == 0).all() and (from_mask == _cut(cmap, box)).all(), name
        assert (drawn == from_mask).all(), name
