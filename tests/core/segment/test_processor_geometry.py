"""Image processors that resize, crop and pad: class maps land on the tile's own pixels.

For each processor family transformers offers for semantic segmentation (without
torchvision: the PIL processors), a model whose logits are a known function of
the pixels it is given (class 1 where the pixel is bright) must give back the
tile's bright disks where they are, to the pixel, whatever the processor does
to the geometry. Disks sit within 16 px of every edge, where a crop would cut
them off or a stretched crop would shift them by ~15 px.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from tests.tiny_models import make_decisive, set_classes, tiny_family, tiny_segformer

from napari_axons.core.segment import clear_model_cache, load_segmenter
from napari_axons.core.segment.processor_geometry import GeometryError, crop_overrides, measure_geometry

pytestmark = pytest.mark.model


def _transformers():
    """transformers, imported when a test runs (so a quick run never loads it)."""
    return pytest.importorskip("transformers")


DISKS = [(10, 10, 8), (10, 256, 8), (256, 8, 7), (500, 500, 9), (256, 504, 8), (120, 130, 10),
         (380, 390, 10), (60, 450, 9), (450, 60, 9), (504, 256, 7)]


def disk_tile(size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size]
    truth = np.zeros((size, size), bool)
    for cy, cx, r in DISKS:
        cy, cx, r = cy * size // 512, cx * size // 512, max(3, r * size // 512)
        truth |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    tile = np.where(truth, 255, 0).astype(np.uint8)
    return np.repeat(tile[..., None], 3, 2), truth


PROCESSOR_NAMES = ["beit-resize-256-crop-224", "convnext-crop-pct", "dpt-keep-ratio-multiple-pad",
                   "mobilenet_v2-256-crop-224", "mobilevit-544-crop-512", "segformer-resize-1024"]


def processors():
    """name -> (processor, whether it crops when called as configured)."""
    t = _transformers()
    return {
        "segformer-resize-1024": (t.SegformerImageProcessorPil(
            size={"height": 1024, "width": 1024}), False),
        "beit-resize-256-crop-224": (t.BeitImageProcessorPil(
            size={"height": 256, "width": 256}, do_center_crop=True,
            crop_size={"height": 224, "width": 224}), True),
        "dpt-keep-ratio-multiple-pad": (t.DPTImageProcessorPil(
            size={"height": 384, "width": 384}, keep_aspect_ratio=True, ensure_multiple_of=32,
            do_pad=True, size_divisor=160), False),
        "mobilenet_v2-256-crop-224": (t.MobileNetV2ImageProcessorPil(
            size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}), True),
        "mobilevit-544-crop-512": (t.MobileViTImageProcessorPil(
            size={"shortest_edge": 544}, crop_size={"height": 512, "width": 512}), True),
        "convnext-crop-pct": (t.ConvNextImageProcessorPil(
            size={"shortest_edge": 224}, crop_pct=0.875), True),
    }


class PixelModel:
    """Logits of class 1 = (mean pixel value - level) * 20 at 1/``down`` of the input;
    class 0 = the negative. Class 1 therefore wins exactly on bright pixels."""

    def __init__(self, level: float, down: int):
        self.level, self.down = level, down

    def __call__(self, pixel_values):
        import torch.nn.functional as F

        x = pixel_values.float().mean(1, keepdim=True) - self.level
        if self.down > 1:
            x = F.avg_pool2d(x, self.down)
        import torch

        return SimpleNamespace(logits=torch.cat([-x, x], 1) * 20)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("geometry")
    tiny_segformer().save_pretrained(root)
    yield root
    clear_model_cache()


def segmenter_with(folder, processor, down):
    processor.save_pretrained(folder)
    clear_model_cache()
    seg = load_segmenter(folder, num_threads=1, streams=1)
    assert type(seg.processor).__name__ == type(processor).__name__
    grey = np.full((1, 64, 64, 3), 128, np.uint8)
    level = float(seg.processor(images=list(grey), return_tensors="pt",
                                **crop_overrides(seg.processor))["pixel_values"].mean())
    seg._loaded = dataclasses.replace(seg._loaded, model=PixelModel(level, down))
    return seg


def centroids(mask: np.ndarray, truth: np.ndarray) -> list[tuple[float, float] | None]:
    from scipy import ndimage as ndi

    lab, n = ndi.label(truth)
    out = []
    for k in range(1, n + 1):
        near = mask & ndi.binary_dilation(lab == k, iterations=12)
        out.append(ndi.center_of_mass(near) if near.any() else None)
    return out


@pytest.mark.parametrize("name", PROCESSOR_NAMES)
@pytest.mark.parametrize("down", [1, 4])
def test_class_map_lands_on_the_tile_pixels(folder, name, down):
    from scipy import ndimage as ndi

    processor, _ = processors()[name]
    seg = segmenter_with(folder, processor, down)
    tile, truth = disk_tile()
    mask = seg.predict(tile[None])[0] == 1
    lab, n = ndi.label(truth)
    want = [ndi.center_of_mass(lab == k) for k in range(1, n + 1)]
    got = centroids(mask, truth)
    assert None not in got, f"{name}: a disk near the edge was lost"
    shift = max(np.hypot(a[0] - b[0], a[1] - b[1]) for a, b in zip(got, want, strict=True))
    # logits at 1/4 of a 256-px input are 8 tile px apart: the disks' edges are that coarse
    assert shift <= (1.0 if down == 1 else 2.0), f"{name}: masks shifted by up to {shift:.1f} px"
    inter, union = (mask & truth).sum(), (mask | truth).sum()
    assert inter / union >= (0.9 if down == 1 else 0.6)


@pytest.mark.parametrize("name", PROCESSOR_NAMES)
def test_geometry_measured_and_crops_refused_when_not_skipped(name):
    processor, crops = processors()[name]
    g = measure_geometry(processor, 512, 512)
    top, left, bottom, right = g.box
    assert (bottom - top) > 0 and (right - left) > 0
    if name.startswith("dpt"):  # 512 -> 384 (multiple of 32) -> centre-padded to 480
        assert g.frame == (480, 480) and g.box == (48, 48, 432, 432) and g.padded
    else:
        assert not g.padded
    if crops:
        assert g.overrides  # the crop is switched off ...
        with pytest.raises(GeometryError, match="crops or shifts the tile"):
            measure_geometry(processor, 512, 512, overrides={})  # ... and would be caught
    else:
        assert g.overrides == {}


def test_mobilevit_frame_is_the_whole_resized_tile():
    processor, _ = processors()["mobilevit-544-crop-512"]
    g = measure_geometry(processor, 512, 512)
    assert g.overrides == {"do_center_crop": False}
    assert g.frame == (544, 544) and g.box == (0, 0, 544, 544)


def test_geometry_that_cannot_be_undone_is_refused_in_one_line(folder):
    # ConvNeXt below 384 always crops a square: a non-square tile loses its sides
    processor, _ = processors()["convnext-crop-pct"]
    seg = segmenter_with(folder, processor, 1)
    with pytest.raises(Exception, match=r"preprocessor_config.json: the image processor crops "
                                        r"or shifts the tile along its width") as err:
        seg.predict(np.zeros((1, 300, 500, 3), np.uint8))
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- real families

FAMILY_PROCESSORS = {
    "segformer": lambda: _transformers().SegformerImageProcessorPil(size={"height": 128, "width": 128}),
    "upernet": lambda: _transformers().SegformerImageProcessorPil(size={"height": 128, "width": 128}),
    "beit": lambda: _transformers().BeitImageProcessorPil(size={"height": 64, "width": 64}),
    "data2vec-vision": lambda: _transformers().BeitImageProcessorPil(size={"height": 64, "width": 64}),
    "dpt": lambda: _transformers().DPTImageProcessorPil(size={"height": 128, "width": 128}),
    "mobilenet_v2": lambda: _transformers().MobileNetV2ImageProcessorPil(
        size={"shortest_edge": 144}, crop_size={"height": 128, "width": 128}),
    "mobilevit": lambda: _transformers().MobileViTImageProcessorPil(
        size={"shortest_edge": 136}, crop_size={"height": 128, "width": 128}),
    "mobilevitv2": lambda: _transformers().MobileViTImageProcessorPil(
        size={"shortest_edge": 136}, crop_size={"height": 128, "width": 128}),
}


@pytest.mark.parametrize("family", sorted(FAMILY_PROCESSORS))
def test_every_family_loads_and_gives_the_argmax_of_the_whole_tile(tmp_path, family):
    """Through the real loader: the class map is transformers' own post-processing
    (logits resized to the tile, argmax) of the model run on the processor's
    output with any crop switched off."""
    import torch

    processor = FAMILY_PROCESSORS[family]()
    kw = {"do_center_crop": False} if getattr(processor, "do_center_crop", False) else {}
    tiles, _ = disk_tile(96)
    tiles = np.stack([tiles, tiles[::-1, ::-1] // 2])
    pixels = processor(images=list(tiles), return_tensors="pt", **kw)["pixel_values"]
    model = make_decisive(tiny_family(family, 3), pixels)
    set_classes(model, ["background", "myelin", "axon"])
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    seg = load_segmenter(tmp_path, classes="all", num_threads=1, streams=1)
    assert seg.classes.names == ("background", "myelin", "axon")
    maps = seg.predict(tiles)
    assert maps.shape == (2, 96, 96) and maps.dtype == np.uint8
    with torch.inference_mode():
        out = model(pixel_values=pixels)
    ref = processor.post_process_semantic_segmentation(out, target_sizes=[(96, 96)] * 2)
    ref = np.stack([r.numpy() for r in ref])
    assert len(np.unique(ref)) >= 2  # a decisive model with several classes in view
    assert (maps == ref).mean() > 0.999
