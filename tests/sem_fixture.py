"""The real SEM fixture: a crop of one shared AxonDeepSeg image and its manual mask.

See ``tests/data/README.md``. The mask is read by the product's own rule for
AxonDeepSeg masks (:func:`napari_axons.core.labels.mask_image.read_mask_image`:
the nearest of 0, 127, 255).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from napari_axons.core.labels.mask_image import read_mask_image

DATA = Path(__file__).resolve().parent / "data"
#: The fixture's classes, by index.
NAMES = ("background", "myelin", "axon")
#: Its pixel size, micrometres (rat 3's images).
PIXEL_SIZE_UM = 0.1


def sem_crop() -> tuple[np.ndarray, np.ndarray]:
    """``(RGB image (384, 384, 3) uint8, class map: 0 background, 1 myelin, 2 axon)``."""
    grey = np.array(Image.open(DATA / "sem_rat3_crop.png").convert("L"))
    mask = read_mask_image(DATA / "sem_rat3_crop_mask.png")
    assert mask.names == NAMES and mask.rule == "axondeepseg"
    return np.repeat(grey[..., None], 3, -1), mask.class_map
