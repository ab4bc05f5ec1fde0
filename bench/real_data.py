"""The shared AxonDeepSeg SEM images as the product's own labelled exports.

Each image (and its manual mask) becomes an export folder made by the
product at the image's own pixel size, every tile labelled from the mask
(``napari-axons tile IMAGE --masks MASK``: a mask PNG and a ``__labels.json``
per tile, source ``manual``), as a user's corrections would be. The masks' quirks are read as
AxonDeepSeg reads them: grey + alpha (rat 5) as grey, stray anti-aliased values
(rat 2) to the nearest class, i.e. thresholds at 64 and 192.

Used by ``bench/train_builtin.py`` (the built-in model) and
``bench/bench_real.py`` (leave-one-rat-out).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Class table of the built-in model (index 0 the background).
NAMES = ("background", "myelin", "axon")

#: rat -> [(image stem, pixel size um)], as the data's README lists them.
RATS = {
    "rat1": [("sub-rat1_sample-data1", 0.18)],
    "rat2": [("sub-rat2_sample-data5", 0.093)],
    "rat3": [("sub-rat3_sample-data9", 0.1), ("sub-rat3_sample-data10", 0.1),
             ("sub-rat3_sample-data11", 0.1)],
    "rat4": [("sub-rat4_sample-data12", 0.1)],
    "rat5": [("sub-rat5_sample-data14", 0.13)],
    "rat8": [("sub-rat8_sample-V915", 0.07)],
}


def default_data_dir() -> Path:
    """``../shared/data/axondeepseg-sem`` beside the repository (or ``$AXONDEEPSEG_SEM``)."""
    env = os.environ.get("AXONDEEPSEG_SEM")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "axondeepseg-sem"


def load_pair(data: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """``(image (H, W) uint8, class map (H, W) uint8: 0 background, 1 myelin, 2 axon)``."""
    from PIL import Image

    with Image.open(data / f"{stem}_SEM.png") as im:
        image = np.array(im.convert("L"))
    from napari_axons.core.labels.mask_image import read_mask_image

    # AxonDeepSeg's levels 0/127/255, the nearest one (rat 2 has anti-aliased edges;
    # rat 5's mask is grey + alpha)
    mask = read_mask_image(data / f"{stem}_SEM_seg-axonmyelin-manual.png")
    if mask.names != NAMES:
        raise ValueError(f"{stem}: mask read as {mask.rule} {mask.names}, not {NAMES}")
    class_map = mask.class_map
    if class_map.shape != image.shape:
        raise ValueError(f"{stem}: mask {class_map.shape} and image {image.shape} differ")
    return image, class_map


def labelled_export(folder: Path, image: np.ndarray, class_map: np.ndarray, pixel_size: float,
                    *, tile_size: int = 512, base: str = "img") -> None:
    """Export ``image`` (grey or RGB) into ``folder`` with every tile labelled from ``class_map``.

    What a user runs: ``napari-axons tile {base}.png --masks {base}_mask.png
    --classes myelin,axon --pixel-size UM`` (the image and its class-index mask go
    through PNGs beside ``folder``).
    """
    from PIL import Image

    from napari_axons.cli import main

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    src, mask = folder.parent / f"{base}.png", folder.parent / f"{base}_mask.png"
    Image.fromarray(image).save(src)
    Image.fromarray(class_map).save(mask)
    argv = ["tile", str(src), "-o", str(folder), "--masks", str(mask), "--classes",
            ",".join(NAMES[1:]), "--tile-size", str(tile_size), "--pixel-size", str(pixel_size),
            "--overwrite"]
    if main(argv) != 0:
        raise RuntimeError(f"napari-axons {' '.join(argv)} failed")


def export_rats(data: Path, rats, out: Path, *, tile_size: int = 512) -> list[Path]:
    """Every image of ``rats`` as a fully labelled export under ``out`` (made once, reused)."""
    folders = []
    for rat in rats:
        for stem, um in RATS[rat]:
            folder = out / stem / "export"
            if not (folder / "manifest.json").is_file():
                image, class_map = load_pair(data, stem)
                labelled_export(folder, image, class_map, um, tile_size=tile_size, base=stem)
            folders.append(folder)
    return folders


def segment_image(model_dir: Path, image: np.ndarray, pixel_size: float,
                  num_threads: int = 1) -> np.ndarray:
    """The class map of a whole grey image at its own pixel size, through the model.

    The image is resampled to the model's training pixel size, segmented in
    one piece, and the logits mapped back onto its own pixels before the
    argmax (:mod:`napari_axons.core.geometry.resample`), as segmenting a tile does.
    """
    import torch

    from napari_axons.core.training.evaluate import predict_tiles
    from napari_axons.core.training.models import load_base, stated_pixel_size

    torch.set_num_threads(num_threads)
    model, processor = load_base(model_dir, NAMES)
    model_um = stated_pixel_size(model_dir)
    factor = 1.0 if model_um is None else pixel_size / model_um
    rgb = np.repeat(image[..., None], 3, -1)
    return predict_tiles(model, processor, [rgb], [factor], "cpu")[0]
