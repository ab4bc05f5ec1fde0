"""npe2 sample data: a synthetic axon image and its ground truth."""

from __future__ import annotations

import numpy as np

from .core.image import make_axon_sample

__all__ = ["make_sample_data"]


def make_sample_data() -> list[tuple]:
    """A 2048 x 2048 synthetic axon image and its ground-truth labels.

    Returns
    -------
    list of LayerData tuples
        ``(image, {"name": "axons sample"}, "image")`` (RGB uint8) and
        ``(truth, {"name": "axons ground truth"}, "labels")`` (uint8, 1 on
        axons and cell bodies, 0 elsewhere), from
        :func:`napari_axons.core.image.sample.make_axon_sample`.
    """
    image, mask = make_axon_sample((2048, 2048))
    truth = (np.asarray(mask) > 0).astype(np.uint8)
    return [
        (image, {"name": "axons sample", "rgb": True}, "image"),
        (truth, {"name": "axons ground truth"}, "labels"),
    ]
