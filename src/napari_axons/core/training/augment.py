"""Augmentations for micrographs, on torch tensors (one sample at a time).

A training sample is a random square crop of a tile, then:

* scale jitter: the crop window is ``crop * s`` pixels (``s`` in ``scale``,
  log-uniform) resized to ``crop`` (bilinear for the image, nearest for the
  class map): objects look 1/s times as large;
* a random flip and a random multiple of 90 degrees (micrographs have no
  "up");
* brightness and contrast: ``x' = (x - mean) * c + mean + b`` with ``c`` and
  ``b`` drawn per sample (in 0-255 units, before the processor's
  normalisation);
* gamma: ``x' = 255 (x / 255) ** g``, ``g`` log-uniform in ``gamma``
  (detectors and stainings differ in their response curve);
* blur: with probability ``blur_p``, a Gaussian blur of standard deviation
  up to ``blur`` pixels (focus and resolution differ between microscopes).

Randomness comes from torch's global generator, which the training loop seeds
and saves with its resume state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Augment"]


@dataclass(frozen=True)
class Augment:
    """Crop + micrograph augmentations.

    Attributes
    ----------
    crop : int
        Side of the output square in pixels (a multiple of 32 suits every model).
    scale : tuple of float
        Range of the scale jitter ``s`` (``(1, 1)``: none).
    brightness : float
        Largest brightness shift, in 0-255 units.
    contrast : float
        Largest relative contrast change (``c`` in ``[1 - contrast, 1 + contrast]``).
    geometric : bool
        Random flips and 90-degree rotations.
    gamma : tuple of float
        Range of the gamma ``g`` (``(1, 1)``: none).
    blur : float
        Largest blur standard deviation in pixels.
    blur_p : float
        Share of the samples blurred.
    """

    crop: int = 256
    scale: tuple[float, float] = (0.8, 1.25)
    brightness: float = 20.0
    contrast: float = 0.2
    geometric: bool = True
    gamma: tuple[float, float] = (0.7, 1.4)
    blur: float = 1.5
    blur_p: float = 0.25

    def __call__(self, image, labels):
        """Augment one sample.

        Parameters
        ----------
        image : torch.Tensor
            ``(3, H, W)`` float32 in 0-255.
        labels : torch.Tensor
            ``(H, W)`` int64 class indices.

        Returns
        -------
        (torch.Tensor, torch.Tensor)
            ``(3, crop, crop)`` float32 in 0-255 and ``(crop, crop)`` int64. A
            tile smaller than the window is padded (image by reflection, labels
            by ``-100``, which the loss ignores).
        """
        import torch
        import torch.nn.functional as F

        lo, hi = self.scale
        s = math.exp(float(torch.empty(()).uniform_(math.log(lo), math.log(hi)))) if hi > lo else lo
        win = max(8, int(round(self.crop * s)))
        h, w = labels.shape
        if h < win or w < win:
            py, px = max(0, win - h), max(0, win - w)
            mode = "reflect" if py < h and px < w else "replicate"
            image = F.pad(image[None], (0, px, 0, py), mode=mode)[0]
            labels = F.pad(labels, (0, px, 0, py), value=-100)
            h, w = labels.shape
        y = int(torch.randint(0, h - win + 1, ()))
        x = int(torch.randint(0, w - win + 1, ()))
        image = image[:, y : y + win, x : x + win]
        labels = labels[y : y + win, x : x + win]
        if win != self.crop:
            image = F.interpolate(image[None], size=(self.crop, self.crop), mode="bilinear",
                                  align_corners=False, antialias=win > self.crop)[0]
            labels = F.interpolate(labels[None, None].float(), size=(self.crop, self.crop),
                                   mode="nearest")[0, 0].long()
        if self.geometric:
            if bool(torch.randint(0, 2, ())):
                image, labels = image.flip(-1), labels.flip(-1)
            k = int(torch.randint(0, 4, ()))
            if k:
                image, labels = image.rot90(k, (-2, -1)), labels.rot90(k, (-2, -1))
        if self.contrast or self.brightness:
            c = 1.0 + float(torch.empty(()).uniform_(-self.contrast, self.contrast))
            b = float(torch.empty(()).uniform_(-self.brightness, self.brightness))
            mean = image.mean()
            image = ((image - mean) * c + mean + b).clamp_(0, 255)
        glo, ghi = self.gamma
        if ghi > glo:
            g = math.exp(float(torch.empty(()).uniform_(math.log(glo), math.log(ghi))))
            image = (image / 255.0).pow_(g).mul_(255.0)
        if self.blur > 0 and float(torch.rand(())) < self.blur_p:
            image = _blur(image, float(torch.empty(()).uniform_(0.3, self.blur)))
        return image.contiguous(), labels.contiguous()


def _blur(image, sigma: float):
    """``(3, H, W)`` float image blurred by a Gaussian of ``sigma`` pixels (separable, reflected)."""
    import torch
    import torch.nn.functional as F

    r = max(1, int(math.ceil(2.5 * sigma)))
    x = torch.arange(-r, r + 1, dtype=image.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = image.shape[0]
    out = F.pad(image[None], (r, r, r, r), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    out = F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return out[0]
