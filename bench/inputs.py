"""Benchmark inputs, generated on first use under ``bench/_data`` (gitignored).

Content is the package's synthetic axon sample, mirrored into a larger mosaic, so
PNG encoding sees realistic (not constant, not white-noise) images.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "_data"


@lru_cache(maxsize=2)
def _sample_block(kind: str = "axons") -> np.ndarray:
    from napari_axons.core.image.sample import make_axon_sample, make_myelinated_sample

    make = make_myelinated_sample if kind == "myelinated" else make_axon_sample
    image, _ = make((2048, 2048), seed=7)
    return image


def _mosaic_tile(y: int, x: int, size: int, kind: str = "axons") -> np.ndarray:
    """The ``size``-square tile at (y, x) of an endless mirrored mosaic of the sample."""
    block = _sample_block(kind)
    n = block.shape[0]
    ys = np.arange(y, y + size)
    xs = np.arange(x, x + size)
    ys = np.where((ys // n) % 2 == 0, ys % n, n - 1 - ys % n)
    xs = np.where((xs // n) % 2 == 0, xs % n, n - 1 - xs % n)
    return block[ys[:, None], xs[None, :]]


def png_image(side: int = 8192) -> Path:
    """An RGB PNG of ``side`` x ``side`` pixels."""
    path = DATA / f"mosaic_{side}.png"
    if not path.exists():
        from PIL import Image

        DATA.mkdir(parents=True, exist_ok=True)
        image = _mosaic_tile(0, 0, side)
        tmp = path.with_suffix(".tmp")
        Image.fromarray(image).save(tmp, format="PNG", compress_level=1)
        tmp.replace(path)
    return path


def tiled_tiff(side: int, *, tile: int = 512, pyramid: bool = False, kind: str = "axons") -> Path:
    """An RGB tiled (zlib) TIFF of ``side`` x ``side``, written tile by tile (bounded memory).

    ``kind``: the sample mirrored, ``"axons"`` (fluorescence-like) or ``"myelinated"``
    (SEM-like fibres: many separate objects).
    """
    import tifffile

    name = f"mosaic_{'' if kind == 'axons' else kind + '_'}{side}{'_pyramid' if pyramid else ''}.tif"
    path = DATA / name
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)

    def tiles(level_side, step):
        for y in range(0, level_side, tile):
            for x in range(0, level_side, tile):
                t = _mosaic_tile(y * step, x * step, tile * step, kind)[::step, ::step]
                h, w = min(tile, level_side - y), min(tile, level_side - x)
                out = np.zeros((tile, tile, 3), np.uint8)
                out[:h, :w] = t[:h, :w]
                yield out

    tmp = path.with_suffix(".tmp")
    levels = [1]
    if pyramid:
        while side // (levels[-1] * 2) >= 1024:
            levels.append(levels[-1] * 2)
    with tifffile.TiffWriter(tmp, bigtiff=True) as tw:
        for k, step in enumerate(levels):
            level_side = side // step
            tw.write(
                tiles(level_side, step), shape=(level_side, level_side, 3), dtype=np.uint8,
                tile=(tile, tile), compression="zlib", photometric="rgb",
                subifds=len(levels) - 1 if (k == 0 and pyramid) else None,
                subfiletype=1 if k else 0,
            )
    tmp.replace(path)
    return path


#: Share of foreground pixels the benchmark models give on the sample.
FOREGROUND_SHARE = 0.3


def _decisive(model, gain: float = 8.0) -> None:
    """Make a random-weight model answer like a trained one, in place.

    A random model's probabilities all sit near 0.5 and its masks are all or
    nothing; shifted and scaled on four tiles of the sample, its classifier
    marks about :data:`FOREGROUND_SHARE` of the pixels, in many objects of
    varied shapes with holes, most probabilities far from the threshold: the
    polygons, PNGs and files then cost what they cost on real masks.
    """
    import torch
    from transformers import SegformerImageProcessor

    block = _sample_block()
    tiles = [block[y : y + 512, x : x + 512] for y, x in ((0, 0), (512, 1024), (1024, 512), (1536, 1536))]
    with torch.inference_mode():
        pixels = SegformerImageProcessor(do_resize=False)(images=tiles, return_tensors="pt")
        logits = model(**pixels).logits
    diff = (logits[:, 1] - logits[:, 0]).flatten()
    cut = torch.quantile(diff[:: max(1, diff.numel() // 100_000)], 1.0 - FOREGROUND_SHARE)
    clf = model.decode_head.classifier
    with torch.no_grad():
        clf.bias[1] -= cut
        clf.weight.mul_(gain / float(diff.std()))
        clf.bias.mul_(gain / float(diff.std()))


def _decisive_classes(model, gain: float = 8.0) -> None:
    """:func:`_decisive` for a 3-class model: each foreground class wins on about
    :data:`FOREGROUND_SHARE` of the sample's pixels, most far from a tie."""
    import torch
    from transformers import SegformerImageProcessor

    block = _sample_block()
    tiles = [block[y : y + 512, x : x + 512] for y, x in ((0, 0), (512, 1024), (1024, 512), (1536, 1536))]
    with torch.inference_mode():
        pixels = SegformerImageProcessor(do_resize=False)(images=tiles, return_tensors="pt")
        logits = model(**pixels).logits
    clf = model.decode_head.classifier
    spread = float(logits.std())
    with torch.no_grad():
        for c in (1, 2):
            diff = (logits[:, c] - logits[:, 0]).flatten()
            clf.bias[c] -= torch.quantile(diff[:: max(1, diff.numel() // 100_000)],
                                          1.0 - FOREGROUND_SHARE)
        clf.weight.mul_(gain / spread)
        clf.bias.mul_(gain / spread)


def tiny_checkpoint(kind: str) -> Path:
    """A tiny checkpoint folder built from config: 'segformer' or 'upernet'.

    ``segformer-b0`` and ``upernet-convnext-tiny`` give full-sized architectures;
    ``segformer-3class`` the tiny SegFormer with classes background, myelin, axon.
    Random weights made decisive by :func:`_decisive`.
    """
    path = DATA / f"model_{kind}_v2"
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import (
        AutoModelForSemanticSegmentation,
        ConvNextConfig,
        SegformerConfig,
        SegformerImageProcessor,
        UperNetConfig,
    )

    torch.manual_seed(0)
    labels = {"id2label": {0: "background", 1: "axon"}, "label2id": {"background": 0, "axon": 1}}
    if kind == "segformer":
        config = SegformerConfig(num_labels=2, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                 num_attention_heads=[1, 1, 2, 2], decoder_hidden_size=32, **labels)
    elif kind == "segformer-3class":
        names = {0: "background", 1: "myelin", 2: "axon"}
        config = SegformerConfig(num_labels=3, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                 num_attention_heads=[1, 1, 2, 2], decoder_hidden_size=32,
                                 id2label=names, label2id={v: k for k, v in names.items()})
    elif kind == "segformer-b0":
        config = SegformerConfig(num_labels=2, **labels)
    elif kind == "upernet":
        backbone = ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                                  out_features=["stage1", "stage2", "stage3", "stage4"])
        config = UperNetConfig(backbone_config=backbone, hidden_size=32, num_labels=2,
                               use_auxiliary_head=False, **labels)
    elif kind == "upernet-convnext-tiny":
        backbone = ConvNextConfig(hidden_sizes=[96, 192, 384, 768], depths=[3, 3, 9, 3],
                                  out_features=["stage1", "stage2", "stage3", "stage4"])
        config = UperNetConfig(backbone_config=backbone, num_labels=2, use_auxiliary_head=False,
                               **labels)
    else:
        raise ValueError(kind)
    model = AutoModelForSemanticSegmentation.from_config(config).eval()
    (_decisive_classes if config.num_labels == 3 else _decisive)(model)
    tmp = path.with_name(path.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    SegformerImageProcessor(do_resize=False).save_pretrained(tmp)
    tmp.replace(path)
    return path
