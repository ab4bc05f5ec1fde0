"""Segmenting at a model's pixel size: tiles resampled for the model, logits mapped back.

A model trained at ``model_um`` micrometres per pixel sees an image of
``image_um`` um/px best when the image is first resampled by
``factor = image_um / model_um`` (0.7 for a 0.07 um/px image and a 0.1 um/px
model: the tile shrinks). :class:`Resampling` does both directions:

* :meth:`Resampling.to_model`: ``(N, H, W, 3)`` uint8 tiles -> ``(N, h, w, 3)``
  with ``h = round(H * factor)`` (bilinear, antialiased when shrinking);
* :meth:`Resampling.to_tile`: logits or probabilities ``(N, C, h, w)`` ->
  ``(N, C, H, W)`` on the tile's own pixel grid (bilinear).

Both directions map the tile's outer pixel edges onto each other
(``align_corners=False``), so pixel centres land where they belong however
``h / H`` rounds: the class map comes back exactly on the tile's grid, never
shifted by a fraction of a pixel. Logits, not class indices, are resized, so
class borders fall between the model's pixels rather than on them.

torch is imported inside the functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SAME_SIZE_TOLERANCE", "Resampling", "class_map_on_grid", "resample_class_map",
           "resampling"]

#: Pixel sizes within this relative difference are taken as equal (no resampling).
SAME_SIZE_TOLERANCE = 0.02


@dataclass(frozen=True)
class Resampling:
    """Resample tiles by ``factor`` for a model and its logits back.

    Attributes
    ----------
    factor : float
        Model pixels per image pixel along each axis (``image_um / model_um``).
    """

    factor: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.factor) and self.factor > 0):
            raise ValueError(f"resampling factor must be a positive number, got {self.factor!r}")

    def model_size(self, height: int, width: int) -> tuple[int, int]:
        """``(h, w)`` the model sees for a ``height x width`` tile (at least 1 x 1)."""
        return (max(1, int(round(height * self.factor))), max(1, int(round(width * self.factor))))

    def to_model(self, tiles: np.ndarray) -> np.ndarray:
        """Resample ``(N, H, W, C)`` uint8 tiles to :meth:`model_size` (uint8, rounded).

        Bilinear interpolation, antialiased when shrinking (each output pixel
        averages the input pixels it covers).
        """
        import torch
        import torch.nn.functional as F

        tiles = np.asarray(tiles)
        if tiles.ndim != 4:
            raise ValueError(f"tiles must be (N, H, W, C), got shape {tiles.shape}")
        size = self.model_size(*tiles.shape[1:3])
        if size == tiles.shape[1:3]:
            return tiles
        x = torch.from_numpy(np.ascontiguousarray(tiles)).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False,
                          antialias=self.factor < 1)
        return y.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

    def to_tile(self, logits: Any, size: tuple[int, int]) -> Any:
        """Map ``(N, C, h, w)`` logits or probabilities (torch) onto the tile grid ``size``.

        Returns a float tensor ``(N, C, H, W)``: bilinear, outer pixel edges
        aligned (antialiased when the model's grid is finer than the tile's).
        """
        import torch.nn.functional as F

        size = (int(size[0]), int(size[1]))
        if tuple(logits.shape[-2:]) == size:
            return logits
        shrink = logits.shape[-2] > size[0] or logits.shape[-1] > size[1]
        return F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False,
                             antialias=shrink)


def resampling(image_um: float | None, model_um: float | None, *,
               tolerance: float = SAME_SIZE_TOLERANCE) -> Resampling | None:
    """The :class:`Resampling` from an image's pixel size to a model's, or None.

    Parameters
    ----------
    image_um, model_um : float or None
        Pixel sizes in micrometres (None: unknown).
    tolerance : float
        Relative difference under which the sizes count as equal.

    Returns
    -------
    Resampling or None
        None when either size is unknown or they are equal within ``tolerance``.

    Raises
    ------
    ValueError
        A size that is not a positive number.
    """
    if image_um is None or model_um is None:
        return None
    for name, v in (("image", image_um), ("model", model_um)):
        if isinstance(v, bool) or not np.isfinite(float(v)) or float(v) <= 0:
            raise ValueError(f"{name} pixel size must be a positive number of micrometres, "
                             f"got {v!r}")
    factor = float(image_um) / float(model_um)
    if abs(factor - 1.0) <= tolerance:
        return None
    return Resampling(factor)


def resample_class_map(class_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A class map resampled to ``size`` = ``(h, w)``: each class's share, then the argmax.

    Each class becomes a 0/1 plane, resampled like the image (bilinear,
    antialiased when shrinking), and every output pixel takes the class with
    the largest share (ties: the lower value). Thin classes (myelin rings)
    keep their shape better than under nearest-neighbour sampling. Any value
    counts as a class (an "ignore" value too).

    Returns
    -------
    numpy.ndarray
        ``(h, w)`` of ``class_map``'s dtype.
    """
    import torch
    import torch.nn.functional as F

    cm = np.asarray(class_map)
    size = (int(size[0]), int(size[1]))
    if cm.shape == size:
        return cm
    values = np.unique(cm)
    planes = torch.from_numpy(np.stack([cm == v for v in values]).astype(np.float32))[None]
    shrink = size[0] < cm.shape[0] or size[1] < cm.shape[1]
    share = F.interpolate(planes, size=size, mode="bilinear", align_corners=False,
                          antialias=shrink)[0]
    return values[share.argmax(0).numpy()].astype(cm.dtype)


def class_map_on_grid(class_map: np.ndarray, source: tuple[int, int], working: tuple[int, int]
                      ) -> tuple[np.ndarray, bool] | None:
    """A whole image's class map on its working grid, or None when it fits neither size.

    The one rule for a class map of a whole image given from outside (a mask
    file scored, exported or loaded): of the working image's size ``(h, w)`` it
    is taken as it is; of the source image's size it is resampled onto the
    working grid (:func:`resample_class_map`: each pixel the class with the
    largest share). Callers say in their own words why another size is refused.

    Returns
    -------
    (numpy.ndarray, bool) or None
        The ``working``-size map and whether it was resampled.
    """
    if class_map.shape == tuple(working):
        return class_map, False
    if class_map.shape == tuple(source):
        return resample_class_map(class_map, tuple(working)), True
    return None
