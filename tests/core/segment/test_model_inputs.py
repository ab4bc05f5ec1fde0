"""What a checkpoint's outputs and inputs mean: a real class 0 (ADE20k's do_reduce_labels, a named
class 0), one sigmoid logit (num_labels=1), and one-channel (grey) models fed their luminance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.tiny_models import classifier, make_decisive, save_checkpoint, set_classes, tiny_segformer

from napari_axons.cli import main
from napari_axons.core.segment import ModelError, clear_model_cache, load_segmenter
from napari_axons.core.segment.model_classes import (
    LuminanceInput,
    class0_is_background,
    input_channels,
    is_background_name,
    luminance,
)

TILE = 64


# --------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("name", ["background", "Background", "__background__", "_background_", "bg",
                                  "BG", "unlabeled", "Unlabelled", "void", "none", "no_label",
                                  "ignore", "background "])
def test_background_names(name):
    assert is_background_name(name)


@pytest.mark.parametrize("name", ["wall", "road", "axon", "myelin", "other", "backbone", "tissue"])
def test_real_class_names(name):
    assert not is_background_name(name)


class _Proc:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.mark.parametrize(("id2label", "processor", "background"), [
    ({0: "background", 1: "axon"}, None, True),
    ({0: "LABEL_0", 1: "LABEL_1"}, None, True),  # transformers' defaults: the seed's convention
    ({0: "class_0", 1: "class_1"}, None, True),
    ({0: "wall", 1: "floor"}, None, False),  # a named class 0 is a class
    ({0: "road", 1: "sidewalk"}, _Proc(do_reduce_labels=False), False),
    ({0: "wall", 1: "floor"}, _Proc(do_reduce_labels=True), False),  # ADE20k
    ({0: "LABEL_0", 1: "LABEL_1"}, _Proc(do_reduce_labels=True), False),
    ({0: "background", 1: "axon"}, _Proc(reduce_labels=True), False),  # the older name
])
def test_class0_rule(id2label, processor, background):
    assert class0_is_background(id2label, processor) is background


def test_luminance_is_pillows_convert_l():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    rgb[0, :8] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3],
                  [128, 128, 128], [254, 255, 253]]
    want = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(luminance(rgb), want)
    grey = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, 2)
    np.testing.assert_array_equal(luminance(grey)[0], np.arange(256))  # grey stays as it is


# --------------------------------------------------------------------------- models


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
    base = rng.integers(0, 256, (3, TILE, TILE, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:TILE, 0:TILE]
    base[:, (yy - 32) ** 2 + (xx - 32) ** 2 < 200] = (250, 120, 30)  # structure, in colour
    return base


def _processor(**kw):
    from transformers import SegformerImageProcessor

    return SegformerImageProcessor(size={"height": TILE, "width": TILE}, **kw)


def _upsampled_logits(model, pixel_values):
    import torch

    with torch.inference_mode():
        logits = model(pixel_values=pixel_values).logits
    return torch.nn.functional.interpolate(logits, size=(TILE, TILE), mode="bilinear",
                                           align_corners=False)


@pytest.fixture(scope="module")
def ade(tmp_path_factory, tiles):
    """A decisive 3-class SegFormer trained ADE20k style: do_reduce_labels, class 0 'wall'."""
    proc = _processor(do_reduce_labels=True)
    pixels = proc(images=list(tiles), return_tensors="pt")["pixel_values"]
    model = set_classes(make_decisive(tiny_segformer(3), pixels), ["wall", "floor", "ceiling"])
    folder = tmp_path_factory.mktemp("ade") / "m"
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    ref = _upsampled_logits(model, pixels).argmax(1).numpy().astype(np.uint8)
    assert set(np.unique(ref)) == {0, 1, 2}
    return folder, ref


@pytest.mark.model
def test_reduce_labels_model_every_class_is_real(ade, tiles):
    folder, ref = ade
    seg = load_segmenter(folder, classes="all", num_threads=1)
    assert seg.classes.names == ("background", "wall", "floor", "ceiling")
    maps = seg.predict(tiles)
    np.testing.assert_array_equal(maps, ref + 1)  # model class k is class k + 1; none is 0
    info = seg.info()
    assert info["class_0"] == "a class" and info["output"] == "softmax"
    wall = load_segmenter(folder, classes="wall", num_threads=1)
    assert wall.classes.names == ("background", "wall")
    np.testing.assert_array_equal(wall.predict(tiles), (ref == 0).astype(np.uint8))
    two = load_segmenter(folder, classes=["ceiling", "wall"], num_threads=1)
    np.testing.assert_array_equal(two.predict(tiles), np.choose(ref, [2, 0, 1]).astype(np.uint8))
    with pytest.raises(ModelError, match="the model has no class 'sky'; its classes are: wall, floor, "
                                         "ceiling"):
        load_segmenter(folder, classes="sky", num_threads=1)


@pytest.mark.model
def test_named_background_is_still_refused_as_a_class(tmp_path, tiles):
    proc = _processor()
    pixels = proc(images=list(tiles), return_tensors="pt")["pixel_values"]
    model = set_classes(make_decisive(tiny_segformer(3), pixels), ["Background", "myelin", "axon"])
    folder = save_checkpoint(model, tmp_path / "m", processor_size=TILE)
    ref = _upsampled_logits(model, pixels).argmax(1).numpy().astype(np.uint8)
    seg = load_segmenter(folder, classes="all", num_threads=1)
    assert seg.classes.names == ("Background", "myelin", "axon") and seg.info()["class_0"] == "background"
    np.testing.assert_array_equal(seg.predict(tiles), ref)
    with pytest.raises(ModelError, match="'Background' is the model's background"):
        load_segmenter(folder, classes="Background", num_threads=1)


@pytest.mark.model
def test_cli_classes_all_and_wall_on_an_ade_model(ade, tiles, tmp_path, capsys):
    folder, ref = ade
    slide = tmp_path / "slide.png"
    Image.fromarray(np.concatenate(list(tiles), axis=1)).save(slide)  # 64 x 192: three tiles
    for spec, names in (("all", ["background", "wall", "floor", "ceiling"]),
                        ("wall", ["background", "wall"])):
        out = tmp_path / spec
        capsys.readouterr()
        assert main(["tile", str(slide), "-o", str(out), "--model", str(folder), "--classes", spec,
                     "--tile-size", str(TILE), "--torch-threads", "1"]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert [c["name"] for c in manifest["classes"]] == names
        for k in range(3):
            mask = np.asarray(Image.open(out / "masks" / f"slide_tile_{k:04d}_mask.png"))
            want = ref[k] + 1 if spec == "all" else (ref[k] == 0)
            np.testing.assert_array_equal(mask > 0 if spec == "wall" else mask, want)
            labels = json.loads((out / f"slide_tile_{k:04d}__labels.json").read_text())["labels"]
            assert "wall" in {lab["label_class"] for lab in labels}


def _decisive_one_logit(model, pixel_values, gain=20.0):
    """Like make_decisive, for one logit: PyTorch's initialisation, then the logit centred
    on its median (half the pixels foreground) with a spread of ``gain``."""
    import torch

    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.reset_parameters()
    clf = classifier(model)
    for _ in range(2):
        with torch.inference_mode():
            lg = model(pixel_values=pixel_values).logits.double()
        with torch.no_grad():
            clf.weight.mul_(gain / float(lg.std()))
            clf.bias.mul_(gain / float(lg.std()))
        with torch.inference_mode():
            lg = model(pixel_values=pixel_values).logits.double()
        with torch.no_grad():
            clf.bias.sub_(float(lg.median()))
    return model


@pytest.fixture(scope="module")
def sigmoid_model(tmp_path_factory, tiles):
    """num_labels=1, one logit (transformers' binary set-up), class 'axon'; decisive."""
    proc = _processor()
    pixels = proc(images=list(tiles), return_tensors="pt")["pixel_values"]
    model = set_classes(_decisive_one_logit(tiny_segformer(1), pixels), ["axon"])
    folder = save_checkpoint(model, tmp_path_factory.mktemp("sig") / "m", processor_size=TILE)
    logits = _upsampled_logits(model, pixels)
    return folder, logits[:, 0].sigmoid().numpy()


@pytest.mark.model
def test_one_logit_is_sigmoid_foreground(sigmoid_model, tiles):
    folder, prob = sigmoid_model
    assert 0.2 < (prob > 0.5).mean() < 0.8
    seg = load_segmenter(folder, num_threads=1)
    assert seg.classes.names == ("background", "axon") and seg.class_index == 0
    np.testing.assert_array_equal(seg.predict(tiles), (prob > 0.5).astype(np.uint8))
    info = seg.info()
    assert info["output"] == "sigmoid" and info["classes_mode"] == "binary"
    strict = load_segmenter(folder, threshold=0.8, label_class="fibre", num_threads=1)
    assert strict.classes.names == ("background", "fibre")
    np.testing.assert_array_equal(strict.predict(tiles), (prob > 0.8).astype(np.uint8))
    for spec in ("all", "axon"):
        named = load_segmenter(folder, classes=spec, num_threads=1)
        assert named.classes.names == ("background", "axon")
        np.testing.assert_array_equal(named.predict(tiles), (prob > 0.5).astype(np.uint8))
    with pytest.raises(ModelError, match=r"class_index 1 is out of range: the model has 1 classes \(axon\)"):
        load_segmenter(folder, class_index=1, num_threads=1)


@pytest.mark.model
@pytest.mark.parametrize("family", ["segformer", "upernet"])
def test_grey_model_gets_the_luminance_of_rgb_tiles(family, tiles, tmp_path):
    """num_channels=1 (SegFormer's config, UperNet's backbone_config), one-value image_mean:
    the model sees what transformers gives it for the tile's grey version (Pillow's "L")."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if family == "segformer":
        cfg = tf.SegformerConfig(num_channels=1, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64],
                                 num_attention_heads=[1, 1, 2, 4], decoder_hidden_size=32)
        model = tf.SegformerForSemanticSegmentation(cfg).eval()
    else:
        backbone = tf.ConvNextConfig(num_channels=1, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                     out_features=["stage1", "stage2", "stage3", "stage4"])
        cfg = tf.UperNetConfig(backbone_config=backbone, hidden_size=16, use_auxiliary_head=False)
        model = tf.UperNetForSemanticSegmentation(cfg).eval()
    proc = _processor(image_mean=[0.45], image_std=[0.2])
    grey = [np.asarray(Image.fromarray(t).convert("L"))[..., None] for t in tiles]
    pixels = proc(images=grey, return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    assert tuple(pixels.shape) == (3, 1, TILE, TILE)
    model = set_classes(make_decisive(model, pixels), ["background", "axon"])
    folder = tmp_path / family
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    seg = load_segmenter(folder, num_threads=1)
    assert isinstance(seg.processor, LuminanceInput)
    assert input_channels(seg.model.config, seg.processor.processor) == 1
    prob = _upsampled_logits(model, pixels).softmax(1)[:, 1].numpy()
    assert 0.05 < (prob > 0.5).mean() < 0.95
    np.testing.assert_array_equal(seg.predict(tiles), (prob > 0.5).astype(np.uint8))
    # the colour tile differs from what the RGB->grey rule gives: the rule is what counts
    assert not np.array_equal(tiles[..., 0], np.stack([g[..., 0] for g in grey]))


@pytest.mark.model
def test_model_of_four_channels_is_refused_in_one_line(tmp_path):
    import transformers as tf

    cfg = tf.SegformerConfig(num_channels=4, depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64],
                             num_attention_heads=[1, 1, 2, 4], decoder_hidden_size=32)
    folder = save_checkpoint(tf.SegformerForSemanticSegmentation(cfg).eval(), tmp_path / "m4",
                             processor_size=TILE)
    with pytest.raises(ModelError) as err:
        load_segmenter(folder, num_threads=1)
    assert str(err.value) == (f"{folder.resolve()}: the model takes 4 channels per pixel; napari-axons "
                              "gives it RGB (3) or grey (1) tiles")
