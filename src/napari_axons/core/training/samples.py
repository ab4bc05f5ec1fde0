"""Labelled tiles in memory at the training pixel size, and the samples the model sees.

* :class:`Tiles`: each tile's pixels and class map, resampled to the training
  pixel size when its export states its own (see :mod:`..resample`); the
  held-out tiles also keep their own pixels, for the final scores.
* :func:`crop_stream`: an endless stream of augmented random crops, tiles drawn
  by labelled area, so a step is a step however few tiles there are.
* :func:`whole_tiles`: the held-out tiles, whole, for validation.

torch is imported inside the functions only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common import ClassTable
from ..geometry.resample import resample_class_map, resampling
from .data import LabelledTile, load_tile

__all__ = ["Tiles", "crop_stream", "whole_tiles"]


class Tiles:
    """Labelled tiles in memory.

    Attributes
    ----------
    tiles : list of LabelledTile
    images, labels : list of numpy.ndarray
        ``(H, W, 3)`` uint8 and ``(H, W)`` uint8 at the training pixel size.
    native : list of (numpy.ndarray, numpy.ndarray) or None
        The same at the tiles' own pixel size (``keep_native=True``).
    factors : list of float
        Per tile, training pixels per tile pixel (1.0: not resampled).
    """

    def __init__(self, tiles: list[LabelledTile], classes: ClassTable, *,
                 pixel_sizes: dict | None = None, target_um: float | None = None,
                 keep_native: bool = False):
        self.tiles = list(tiles)
        self.images, self.labels, self.factors = [], [], []
        self.native = [] if keep_native else None
        for t in self.tiles:
            im, lab = load_tile(t, classes)
            if keep_native:
                self.native.append((im, lab))
            r = resampling((pixel_sizes or {}).get(str(Path(t.export).resolve())), target_um)
            if r is not None:
                size = r.model_size(*lab.shape)
                im = r.to_model(im[None])[0]
                lab = resample_class_map(lab, size)
            self.images.append(im)
            self.labels.append(lab)
            self.factors.append(1.0 if r is None else r.factor)

    def class_counts(self, n: int) -> list[int]:
        counts = np.zeros(n, np.int64)
        for lab in self.labels:
            counts += np.bincount(lab.ravel(), minlength=n)[:n]
        return counts.tolist()


def _to_input(image, norm):
    """``(3, H, W)`` float32 in 0-255 -> the processor's normalised pixels."""
    scale, mean, std = norm
    return (image * scale - mean) / std


def crop_stream(tiles: Tiles, augment, norm):
    """An endless ``IterableDataset`` of ``{"pixel_values", "labels"}`` random crops.

    Each sample draws a tile with probability proportional to its area, then
    ``augment`` crops and transforms it. Randomness comes from torch's global
    generator (the ``Trainer`` seeds it and saves it with its resume state).
    """
    import torch

    images = [torch.from_numpy(im).permute(2, 0, 1).float().contiguous() for im in tiles.images]
    labels = [torch.from_numpy(lab).long() for lab in tiles.labels]
    weights = torch.tensor([lab.numel() for lab in labels], dtype=torch.float64)

    class CropStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            while True:
                k = int(torch.multinomial(weights, 1))
                im, lab = augment(images[k], labels[k])
                yield {"pixel_values": _to_input(im, norm), "labels": lab}

    return CropStream()


def whole_tiles(tiles: Tiles, norm):
    """The tiles, whole and unaugmented, as a map-style dataset (validation)."""
    import torch

    class WholeTiles(torch.utils.data.Dataset):
        def __len__(self):
            return len(tiles.images)

        def __getitem__(self, i):
            im = torch.from_numpy(tiles.images[i]).permute(2, 0, 1).float()
            return {"pixel_values": _to_input(im, norm),
                    "labels": torch.from_numpy(tiles.labels[i]).long()}

    return WholeTiles()
