"""Segmenters as class-map makers: class tables, --classes, Otsu's polarity and options,
half-precision checkpoints, the dry run and the training pixel size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.tiny_models import (
    make_decisive,
    push_bias,
    save_checkpoint,
    set_classes,
    tiny_segformer,
)

from napari_axons.core.common import DEFAULT_TABLE
from napari_axons.core.segment import (
    ModelError,
    ThresholdSegmenter,
    clear_model_cache,
    load_segmenter,
)

NAMES = ["background", "myelin", "axon"]


# --------------------------------------------------------------------------- otsu


def disk_on_grey(value: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """A grey (128) tile with one disk of ``value``, and the disk."""
    yy, xx = np.mgrid[0:size, 0:size]
    disk = (yy - 40) ** 2 + (xx - 50) ** 2 <= 12**2
    grey = np.full((size, size), 128, np.uint8)
    grey[disk] = value
    return np.repeat(grey[..., None], 3, 2), disk


def test_otsu_polarity_picks_bright_or_dark_objects():
    for polarity, value in (("bright", 230), ("dark", 20)):
        tile, disk = disk_on_grey(value)
        seg = load_segmenter("otsu", polarity=polarity, sigma=0, min_size=0)
        seg.prepare(tile)
        cmap = seg.predict(tile[None])[0]
        np.testing.assert_array_equal(cmap, disk.astype(np.uint8))  # class 1 exactly there
        assert seg.info()["polarity"] == polarity
        other = ThresholdSegmenter(polarity="dark" if polarity == "bright" else "bright",
                                   sigma=0, min_size=0)
        other.prepare(tile)
        np.testing.assert_array_equal(other.predict(tile[None])[0], (~disk).astype(np.uint8))
    assert ThresholdSegmenter().polarity == "bright"


def test_otsu_flat_image_is_empty_with_either_polarity():
    flat = np.full((1, 32, 32, 3), 90, np.uint8)
    for polarity in ("bright", "dark"):
        seg = ThresholdSegmenter(polarity=polarity)
        seg.prepare(flat[0])
        assert not seg.predict(flat).any()


def test_otsu_is_one_class_named_by_label_class():
    assert ThresholdSegmenter().classes == DEFAULT_TABLE
    seg = load_segmenter("OTSU", label_class="nucleus")  # any case
    assert seg.classes.names == ("background", "nucleus")
    assert seg.info()["classes"] == ["background", "nucleus"]


@pytest.mark.parametrize(("options", "message"), [
    ({"polarity": "grey"}, "otsu: polarity must be 'bright' or 'dark', got 'grey'"),
    ({"class_index": 2}, "otsu (the built-in segmenter) does not take the option(s) class_index;"),
    ({"classes": "all"}, "otsu (the built-in segmenter) does not take the option(s) classes;"),
])
def test_otsu_refuses_options_it_does_not_use(options, message):
    with pytest.raises(ModelError) as err:
        load_segmenter("Otsu", **options)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- checkpoints


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
    clear_model_cache()


@pytest.fixture(scope="module")
def tiles():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:64, 0:64]
    base[:, (yy - 32) ** 2 + (xx - 32) ** 2 < 200] = 250  # structure, not only noise
    return base


@pytest.fixture(scope="module")
def three_class(tmp_path_factory, tiles):
    """A decisive 3-class SegFormer (background, myelin, axon); its processor keeps 64 px."""
    from transformers import SegformerImageProcessor

    proc = SegformerImageProcessor(size={"height": 64, "width": 64})
    model = make_decisive(tiny_segformer(3), proc(images=list(tiles), return_tensors="pt")
                          ["pixel_values"])
    set_classes(model, NAMES)
    folder = tmp_path_factory.mktemp("three") / "m"
    return save_checkpoint(model, folder, processor_size=64)


def reference_argmax(seg, tiles):
    """transformers' own post-processing: logits resized to the tile, argmax."""
    import torch

    with torch.inference_mode():
        out = seg.model(**seg.processor(images=list(tiles), return_tensors="pt"))
    ref = seg.processor.post_process_semantic_segmentation(out, target_sizes=[tiles.shape[1:3]]
                                                           * len(tiles))
    return np.stack([r.numpy() for r in ref]).astype(np.uint8)


@pytest.mark.model
def test_all_classes_is_the_argmax_with_the_model_table(three_class, tiles):
    seg = load_segmenter(three_class, classes="all", num_threads=1)
    assert seg.classes.names == tuple(NAMES) and seg.mode == "all"
    maps = seg.predict(tiles)
    ref = reference_argmax(seg, tiles)
    assert set(np.unique(ref)) == {0, 1, 2}
    np.testing.assert_array_equal(maps, ref)
    info = json.loads(json.dumps(seg.info()))
    assert info["classes_mode"] == "all" and info["classes"] == NAMES
    assert info["threshold"] is None and info["class_index"] is None


@pytest.mark.model
def test_subset_keeps_the_argmax_and_renumbers_in_the_order_given(three_class, tiles):
    ref = load_segmenter(three_class, classes="all", num_threads=1).predict(tiles)
    seg = load_segmenter(three_class, classes="axon, myelin", num_threads=1)
    assert seg.classes.names == ("background", "axon", "myelin")
    maps = seg.predict(tiles)
    want = np.array([0, 2, 1], np.uint8)[ref]  # model index -> table index
    np.testing.assert_array_equal(maps, want)
    only = load_segmenter(three_class, classes=["axon"], num_threads=1)
    assert only.classes.is_binary and only.classes.names == ("background", "axon")
    # myelin pixels become background: axon never grows into them
    np.testing.assert_array_equal(only.predict(tiles), (ref == 2).astype(np.uint8))


@pytest.mark.model
def test_binary_rule_stays_the_default_and_is_named_by_label_class(three_class, tiles):
    seg = load_segmenter(three_class, num_threads=1)
    assert seg.mode == "binary" and seg.classes == DEFAULT_TABLE  # "axon", not the model's name
    import torch

    maps = seg.predict(tiles)
    with torch.inference_mode():
        logits = seg.model(**seg.processor(images=list(tiles), return_tensors="pt")).logits
    prob = torch.softmax(torch.nn.functional.interpolate(
        logits, size=(64, 64), mode="bilinear", align_corners=False), 1)[:, 1]
    np.testing.assert_array_equal(maps, (prob > 0.5).numpy().astype(np.uint8))
    named = load_segmenter(three_class, label_class="fibre", class_index=2, num_threads=1)
    assert named.classes.names == ("background", "fibre")


@pytest.mark.model
def test_the_one_class_rule_says_when_it_renames_a_class(three_class, tmp_path, capsys):
    """The seed's rule writes the model's myelin (class 1) as "axon": one note says so."""
    from PIL import Image

    from napari_axons.cli import main

    seg = load_segmenter(three_class, num_threads=1)
    assert seg.class_note == (
        "m: its class 1 is 'myelin', written as 'axon' (the one-class rule); --classes all "
        "gives every class (myelin, axon), --label-class myelin names it")
    assert load_segmenter(three_class, class_index=2, num_threads=1).class_note is None
    assert load_segmenter(three_class, classes="all", num_threads=1).class_note is None
    images = [tmp_path / "x.png", tmp_path / "y.png"]
    for image in images:
        Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    capsys.readouterr()
    assert main(["tile", *map(str, images), "-o", str(tmp_path / "out"), "--model",
                 str(three_class), "--tile-size", "64", "--torch-threads", "1"]) == 0
    err = [x for x in capsys.readouterr().err.splitlines() if not x.startswith("segmenting")]
    assert err == [f"napari-axons: note: {seg.class_note}"]  # once, not once per image
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [e["source"]["notes"] for e in manifest["images"]] == [[seg.class_note]] * 2


@pytest.mark.model
def test_a_model_napari_axons_made_segments_all_its_classes(three_class, tmp_path, tiles):
    """Trained by napari-axons (napari_axons.json beside it): its classes, not the seed's rule."""
    import shutil

    own = tmp_path / "own"
    shutil.copytree(three_class, own)
    (own / "napari_axons.json").write_text('{"pixel_size_um": null}')
    seg = load_segmenter(own, num_threads=1)
    assert seg.mode == "all" and seg.classes.names == ("background", "myelin", "axon")
    ref = load_segmenter(three_class, classes="all", num_threads=1)
    np.testing.assert_array_equal(seg.predict(tiles), ref.predict(tiles))
    assert load_segmenter(own, class_index=2, num_threads=1).mode == "binary"  # when asked


@pytest.mark.model
@pytest.mark.parametrize(("options", "message"), [
    ({"classes": "axon,dendrite"},
     "the model has no class 'dendrite'; its classes are: myelin, axon"),
    ({"classes": "background"}, "'background' is the model's background (class 0)"),
    ({"classes": "axon,axon"}, "classes: class name 'axon' appears twice"),
    ({"classes": "all", "threshold": 0.4},
     "class_index and threshold belong to the one-class threshold rule"),
    ({"classes": "axon", "class_index": 2},
     "class_index and threshold belong to the one-class threshold rule"),
    ({"polarity": "dark"}, "(a Hugging Face checkpoint) does not take the option(s) polarity"),
])
def test_class_options_errors_are_one_line(three_class, options, message):
    with pytest.raises(ModelError) as err:
        load_segmenter(three_class, num_threads=1, **options)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.model
def test_argmax_batched_equals_per_tile_and_ties_go_to_the_lower_index(three_class, tiles):
    seg = load_segmenter(three_class, classes="all", batch_size=4, num_threads=1)
    single = np.concatenate([seg.predict(t[None]) for t in tiles])
    np.testing.assert_array_equal(seg.predict(tiles), single)
    always = load_segmenter(three_class, classes="all", batch_size=4, batch_tolerance=1.0,
                            num_threads=1)
    np.testing.assert_array_equal(always.predict(tiles), single)
    assert always.reruns == len(tiles)  # every tile has a pixel whose top two are < 1 apart


@pytest.mark.parametrize("n_classes", [1, 2, 3, 8, 257])
def test_class_argmax_equals_torch_max_and_topk(n_classes):
    import torch

    from napari_axons.core.segment import class_argmax

    gen = torch.Generator().manual_seed(n_classes)
    # few distinct values, so that exact ties (also of the top two) are common
    prob = torch.randint(0, 4, (n_classes, 16, 16), generator=gen).float() / 4
    index, best, runner_up = class_argmax(prob, second=True)
    values, expected = prob.max(dim=0)  # torch: a tie goes to the lowest index
    assert index.dtype == (torch.uint8 if n_classes <= 256 else torch.int64)
    assert torch.equal(index.long(), expected) and torch.equal(best, values)
    if n_classes > 1:
        assert torch.equal(runner_up, prob.topk(2, dim=0).values[1])
    else:
        assert torch.isinf(runner_up).all()
    assert class_argmax(prob)[2] is None


@pytest.mark.model
def test_exact_tie_gives_the_lower_class(tmp_path):
    import torch

    model = set_classes(push_bias(tiny_segformer(3), 2), NAMES)
    with torch.no_grad():
        from tests.tiny_models import classifier

        classifier(model).bias[1] = 10.0  # myelin and axon tie everywhere
    folder = save_checkpoint(model, tmp_path / "m", processor_size=64)
    seg = load_segmenter(folder, classes="all", num_threads=1)
    assert (seg.predict(np.zeros((2, 64, 64, 3), np.uint8)) == 1).all()


@pytest.mark.model
def test_more_classes_than_a_class_map_holds(tmp_path):
    model = push_bias(tiny_segformer(257), 256)
    folder = save_checkpoint(model, tmp_path / "m", processor_size=64)
    assert load_segmenter(folder, num_threads=1).mode == "binary"  # the seed's rule still works
    with pytest.raises(ModelError, match="at most 255 classes besides the background"):
        load_segmenter(folder, classes="all", num_threads=1)
    sub = load_segmenter(folder, classes="LABEL_7,LABEL_256", num_threads=1)
    assert sub.classes.names == ("background", "LABEL_7", "LABEL_256")
    assert (sub.predict(np.zeros((1, 64, 64, 3), np.uint8)) == 2).all()  # model class 256


# --------------------------------------------------------------------------- precision


@pytest.mark.model
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_checkpoints_load_and_run_on_cpu(tmp_path, dtype, tiles):
    import torch

    model = tiny_segformer()
    ref_folder = save_checkpoint(model, tmp_path / "fp32", processor_size=64)
    half = save_checkpoint(tiny_segformer().to(getattr(torch, dtype)), tmp_path / dtype,
                           processor_size=64)
    assert json.loads((half / "config.json").read_text())["dtype"] == dtype
    seg = load_segmenter(half, device="cpu", num_threads=1)
    assert next(seg.model.parameters()).dtype == torch.float32  # upcast on CPU
    assert seg.info()["dtype"] == "float32"
    maps = seg.predict(tiles)
    # the same weights rounded to half: nearly the fp32 model's masks
    ref = load_segmenter(ref_folder, device="cpu", num_threads=1).predict(tiles)
    assert maps.shape == ref.shape and (maps == ref).mean() > 0.95


@pytest.mark.model
def test_half_is_cuda_only(tmp_path):
    folder = save_checkpoint(tiny_segformer(), tmp_path / "m", processor_size=64)
    with pytest.raises(ModelError, match="half precision \\(float16\\) runs on CUDA only, not on cpu"):
        load_segmenter(folder, device="cpu", half=True)


@pytest.mark.model
def test_a_model_that_cannot_run_fails_at_load(tmp_path, monkeypatch):
    folder = save_checkpoint(tiny_segformer(), tmp_path / "m", processor_size=64)
    clear_model_cache()
    from transformers import SegformerForSemanticSegmentation

    def broken(self, pixel_values=None, **kw):
        raise RuntimeError("Input type (float) and bias type (c10::Half) should be the same")

    monkeypatch.setattr(SegformerForSemanticSegmentation, "forward", broken)
    with pytest.raises(ModelError) as err:
        load_segmenter(folder, num_threads=1)
    assert str(err.value) == (
        f"{folder.resolve()}: the model fails on a 512 x 512 test tile (RuntimeError: Input "
        "type (float) and bias type (c10::Half) should be the same)")
    clear_model_cache()


# --------------------------------------------------------------------------- pixel size


@pytest.mark.model
def test_training_pixel_size_from_the_folder(tmp_path):
    folder = save_checkpoint(tiny_segformer(), tmp_path / "m", processor_size=64)
    assert load_segmenter(folder, num_threads=1).pixel_size_um is None
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "pixel_size_um": 0.25}))
    seg = load_segmenter(folder, num_threads=1)
    assert seg.pixel_size_um == 0.25 and seg.info()["pixel_size_um"] == 0.25
    (folder / "napari_axons.json").write_text('{"pixel_size_um": 0.5}')  # wins over config
    assert load_segmenter(folder, num_threads=1).pixel_size_um == 0.5
    assert ThresholdSegmenter().pixel_size_um is None


@pytest.mark.model
@pytest.mark.parametrize(("text", "message"), [
    ('{"pixel_size_um": -1}', "napari_axons.json: pixel_size_um must be a positive number of "
                              "micrometres, got -1"),
    ('{"pixel_size_um": "0.2 um"}', "pixel_size_um must be a positive number of micrometres"),
    ("[1, 2", "napari_axons.json: unreadable"),
])
def test_bad_pixel_size_is_one_line(tmp_path, text, message):
    folder = save_checkpoint(tiny_segformer(), tmp_path / "m", processor_size=64)
    (folder / "napari_axons.json").write_text(text)
    with pytest.raises(ModelError) as err:
        load_segmenter(folder, num_threads=1)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.model
def test_export_notes_how_tiles_meet_the_models_pixel_size(tmp_path, capsys):
    """A model trained at 0.25 um/px: one note per image saying how its tiles are resampled."""
    from PIL import Image

    from napari_axons.cli import main
    from napari_axons.core.common import PixelSize
    from napari_axons.core.segment import pixel_size_note

    folder = save_checkpoint(tiny_segformer(), tmp_path / "m", processor_size=64)
    (folder / "napari_axons.json").write_text('{"pixel_size_um": 0.25}')
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((100, 120, 3), np.uint8)).save(image)
    capsys.readouterr()
    unknown = ("napari-axons: note: image pixel size unknown: tiles go to the model m as they "
               "are (it was trained at 0.25 um/px; give the image's pixel size to match it)")
    for px, want in (("0.5", "image 0.5 um/px, model 0.25 um/px: tiles resampled x2.00 for the "
                             "model"),
                     ("0.175", "image 0.175 um/px, model 0.25 um/px: tiles resampled x0.70 for "
                               "the model"),
                     ("0.252", None), (None, unknown)):
        out = tmp_path / f"out{px}"
        args = ["--pixel-size", px] if px else []
        assert main(["tile", str(image), "-o", str(out), "--model", str(folder), *args,
                     "--tile-size", "64", "--torch-threads", "1"]) == 0
        err = [line for line in capsys.readouterr().err.splitlines()
               if not line.startswith("segmenting: ")]
        if want is not None and not want.startswith("napari-axons"):
            want = f"napari-axons: note: {want}"
        assert err == ([want] if want else [])
    seg = load_segmenter(folder, num_threads=1)
    assert pixel_size_note(ThresholdSegmenter(), None) is None  # states no pixel size
    far = pixel_size_note(seg, PixelSize(5.0, 5.0, "test"))
    assert far == "image 5 um/px, model 0.25 um/px: x20 is too far to resample; tiles go to the " \
                  "model as they are"
    assert seg.resampling_for(PixelSize(5.0, 5.0, "test")) is None
    assert seg.resampling_for(0.5).factor == 2.0
