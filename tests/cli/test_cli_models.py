"""The CLI's segmenter options: --classes, --polarity, options a segmenter does not use,
and checkpoints that only the dry run can show to be broken."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.tiny_models import make_decisive, save_checkpoint, set_classes, tiny_segformer

from napari_axons.cli import main
from napari_axons.core.segment import clear_model_cache


@pytest.fixture
def slide(tmp_path):
    yy, xx = np.mgrid[0:200, 0:260]
    grey = np.random.default_rng(0).normal(128, 8, (200, 260))
    grey[(yy - 60) ** 2 + (xx - 80) ** 2 < 400] -= 100  # a dark disk
    grey = grey.clip(0, 255).astype(np.uint8)
    path = tmp_path / "slide.png"
    Image.fromarray(np.repeat(grey[..., None], 3, 2)).save(path)
    return path


def run(argv, capsys):
    capsys.readouterr()  # what building the test's model printed
    code = main(argv)
    out, err = capsys.readouterr()
    # progress lines (stderr is not a terminal here) are not what these tests look at
    err = "".join(line for line in err.splitlines(keepends=True)
                  if not line.startswith(("segmenting: ", "tiling: ")))
    return code, out, err


@pytest.mark.parametrize(("extra", "flag"), [
    (["--threshold", "0.3"], "--threshold"),
    (["--class-index", "2"], "--class-index"),
    (["--classes", "all"], "--classes"),
])
def test_otsu_refuses_model_options(tmp_path, slide, capsys, extra, flag):
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", "otsu", *extra], capsys)
    assert code == 2 and not out.exists()
    assert err == (f"napari-axons: error: {flag} applies to Hugging Face models, not to --model "
                   "otsu (one class; its threshold is computed from the image)\n")


def test_otsu_any_case_and_dark_polarity(tmp_path, slide, capsys):
    out = tmp_path / "out"
    code, stdout, err = run(["tile", str(slide), "-o", str(out), "--model", "Otsu",
                             "--polarity", "dark", "--tile-size", "128"], capsys)
    assert code == 0 and err == "" and "objects" in stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["segmenter"]["polarity"] == "dark"
    mask = np.asarray(Image.open(out / "masks" / "slide_tile_0000_mask.png"))
    yy, xx = np.mgrid[0:128, 0:128]
    disk = (yy - 60) ** 2 + (xx - 80) ** 2 < 400
    assert set(np.unique(mask)) == {0, 255}
    assert ((mask > 0) == disk).mean() > 0.99


def test_polarity_is_for_otsu_only(tmp_path, slide, capsys):
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(tmp_path),
                        "--polarity", "dark"], capsys)
    assert code == 2 and err == "napari-axons: error: --polarity applies to --model otsu only\n"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--polarity", "dark"], capsys)
    assert code == 2 and not out.exists()
    assert err == "napari-axons: error: --polarity applies to --model otsu only (no --model given)\n"


@pytest.mark.model
def test_unknown_class_name_lists_the_models_classes(tmp_path, slide, capsys):
    model = set_classes(tiny_segformer(3), ["background", "myelin", "axon"])
    folder = save_checkpoint(model, tmp_path / "m", processor_size=64)
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder),
                        "--classes", "axon,dendrite", "--torch-threads", "1"], capsys)
    assert code == 1 and not out.exists()
    assert err == (f"napari-axons: error: {folder.resolve()}: the model has no class "
                   "'dendrite'; its classes are: myelin, axon\n")


@pytest.mark.model
def test_classes_all_runs_the_argmax(tmp_path, slide, capsys):
    import torch
    from transformers import SegformerImageProcessor

    tile = np.asarray(Image.open(slide))[:128, :128]
    pixels = SegformerImageProcessor(size={"height": 128, "width": 128})(
        images=[tile], return_tensors="pt")["pixel_values"]
    model = set_classes(make_decisive(tiny_segformer(3), pixels),
                        ["background", "myelin", "axon"])
    folder = save_checkpoint(model, tmp_path / "m", processor_size=128)
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder), "--classes",
                        "all", "--tile-size", "128", "--torch-threads", "1"], capsys)
    assert code == 0 and err == ""
    seg = json.loads((out / "manifest.json").read_text())["segmenter"]
    assert seg["classes_mode"] == "all" and seg["classes"] == ["background", "myelin", "axon"]
    with torch.inference_mode():
        logits = model(pixel_values=pixels).logits
    ref = torch.nn.functional.interpolate(logits, size=(128, 128), mode="bilinear",
                                          align_corners=False).argmax(1)[0].numpy()
    mask = Image.open(out / "masks" / "slide_tile_0000_mask.png")
    assert mask.mode == "P"  # a palette PNG of class indices
    np.testing.assert_array_equal(np.asarray(mask), ref)
    assert set(np.unique(ref)) == {0, 1, 2}
    labels = json.loads((out / "slide_tile_0000__labels.json").read_text())["labels"]
    assert {lab["label_class"] for lab in labels} == {"myelin", "axon"}
    clear_model_cache()


@pytest.mark.model
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_checkpoint_exports(tmp_path, slide, capsys, dtype):
    import torch

    folder = save_checkpoint(tiny_segformer().to(getattr(torch, dtype)), tmp_path / "m")
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder),
                        "--torch-threads", "1"], capsys)
    assert code == 0 and err == ""
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


@pytest.mark.model
def test_a_model_that_cannot_run_writes_nothing(tmp_path, slide, capsys, monkeypatch):
    from transformers import SegformerForSemanticSegmentation

    folder = save_checkpoint(tiny_segformer(), tmp_path / "m")
    clear_model_cache()

    def broken(self, pixel_values=None, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(SegformerForSemanticSegmentation, "forward", broken)
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder),
                        "--torch-threads", "1"], capsys)
    assert code == 1 and not out.exists()
    assert err == (f"napari-axons: error: {folder.resolve()}: the model fails on a 512 x 512 "
                   "test tile (RuntimeError: boom)\n")
    clear_model_cache()


@pytest.mark.model
def test_one_listed_class_is_a_seed_mask_named_after_it(tmp_path, slide, capsys):
    from tests.tiny_models import push_bias

    model = set_classes(push_bias(tiny_segformer(3), 1), ["background", "myelin", "axon"])
    folder = save_checkpoint(model, tmp_path / "m", processor_size=128)
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder), "--classes",
                        "myelin", "--tile-size", "128", "--torch-threads", "1"], capsys)
    assert code == 0 and err == ""
    mask = np.asarray(Image.open(out / "masks" / "slide_tile_0000_mask.png"))
    assert mask.dtype == np.uint8 and (mask == 255).all()  # the seed's 0/255, all myelin
    labels = json.loads((out / "slide_tile_0000__labels.json").read_text())["labels"]
    assert [lab["label_class"] for lab in labels] == ["myelin"]
    clear_model_cache()


@pytest.mark.model
def test_the_dry_run_uses_the_exports_tile_size(tmp_path, slide, capsys):
    """A model that runs only at its own input size (no resize in its processor):
    refused at 512 before anything is written, accepted at its size."""
    from tests.tiny_models import tiny_family
    from transformers import BeitImageProcessorPil

    folder = tmp_path / "m"
    tiny_family("data2vec-vision").save_pretrained(folder)  # fixed 64 x 64 input
    BeitImageProcessorPil(do_resize=False).save_pretrained(folder)
    out = tmp_path / "out"
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder),
                        "--torch-threads", "1"], capsys)
    assert code == 1 and not out.exists()
    assert err.startswith(f"napari-axons: error: {folder.resolve()}: the model fails on a "
                          "512 x 512 test tile (RuntimeError: ") and err.count("\n") == 1
    code, _, err = run(["tile", str(slide), "-o", str(out), "--model", str(folder),
                        "--tile-size", "64", "--torch-threads", "1"], capsys)
    assert code == 0 and err == ""
    clear_model_cache()
