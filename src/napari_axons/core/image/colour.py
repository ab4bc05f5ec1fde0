"""Converting any image region to RGB uint8 for the model and the tile PNGs.

Colour interpretation of TIFF files (MinIsWhite, bilevel, palette, CMYK,
YCbCr, ...) is applied as Pillow/libtiff viewers apply it: see
:mod:`napari_axons.core.image.tiff`.

Conversion to RGB (:func:`to_rgb8`), the rule used for the model and the tile
PNGs:

* 8-bit: gray is replicated to three channels, RGB is kept, a fourth channel
  (alpha) is dropped, as Pillow's ``convert("RGB")`` does; Pillow palette,
  CMYK, YCbCr and LA images are converted by Pillow when decoded.
* More than 8 bits (uint16, int32, float): a linear stretch of
  ``[low, high]`` to ``[0, 255]`` with clipping, where ``low``/``high`` are the
  0.1th and 99.9th percentiles of a sample of the *whole* image, computed once
  (:meth:`SourceImage.intensity_range`), so that all tiles agree.
  Float images already in ``[0, 1]`` are scaled by 255. NaN becomes 0. Never
  wrap-around.
* Two channels: the first is used as gray. More than four: the first three.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["IntensityRange", "to_rgb8", "intensity_range_for", "normalise_pil", "pil_array"]


@dataclass(frozen=True)
class IntensityRange:
    """Linear intensity mapping ``[low, high] -> [0, 255]`` (see :func:`to_rgb8`)."""

    low: float
    high: float
    rule: str

    def as_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "rule": self.rule}


def to_rgb8(region: np.ndarray, intensity: IntensityRange | None = None) -> np.ndarray:
    """Convert a ``(y, x)`` or ``(y, x, c)`` region to RGB uint8 ``(y, x, 3)``.

    Parameters
    ----------
    region : ndarray
        Pixels in any dtype.
    intensity : IntensityRange, optional
        Required for non-uint8 data (see the module docstring for the rule).
    """
    if region.ndim == 3:
        c = region.shape[2]
        if c == 1 or c == 2:
            region = region[..., 0]
        elif c >= 3:
            region = region[..., :3]
    if region.dtype == np.bool_:
        region = region.view(np.uint8) * np.uint8(255)
    elif region.dtype != np.uint8:
        if intensity is None:
            intensity = intensity_range_for(region, None)
        lo, hi = intensity.low, intensity.high
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        with np.errstate(over="ignore", invalid="ignore"):  # inf and huge floats saturate
            out = (region.astype(np.float32) - np.float32(lo)) * np.float32(scale)
            out = np.clip(out + 0.5, 0, 255, out=out)
        if region.dtype.kind == "f":
            out = np.nan_to_num(out, nan=0.0, copy=False)  # no cast warning, NaN -> 0
        region = out.astype(np.uint8)
    if region.ndim == 2:
        region = np.repeat(region[..., None], 3, axis=2)
    return np.ascontiguousarray(region)


def intensity_range_for(sample: np.ndarray, dtype) -> IntensityRange:
    """The mapping of :func:`to_rgb8` for ``sample``'s values (stored as ``dtype``)."""
    dtype = np.dtype(dtype or sample.dtype)
    if dtype == np.uint8:
        return IntensityRange(0.0, 255.0, "uint8")
    if dtype == np.bool_:
        return IntensityRange(0.0, 1.0, "bilevel")
    finite = sample[np.isfinite(sample)] if dtype.kind == "f" else sample.ravel()
    if finite.size == 0:
        return IntensityRange(0.0, 1.0, "empty")
    if dtype.kind == "f" and finite.min() >= 0 and finite.max() <= 1:
        return IntensityRange(0.0, 1.0, "float in [0, 1]: x 255")
    lo, hi = np.percentile(finite, [0.1, 99.9])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    return IntensityRange(float(lo), float(hi), "percentiles 0.1-99.9 of a whole-image sample")


def normalise_pil(im):
    """Pillow modes -> arrays: the conversions Pillow itself defines."""
    mode = im.mode
    if mode in ("P", "PA"):
        return im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return im.convert("RGB")
    if mode in ("1", "LA"):
        return im.convert("L")
    return im


def pil_array(im) -> np.ndarray:
    """A Pillow image's pixels as an array, in the modes :func:`normalise_pil` gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no stray warnings for valid files (docs/errors.md)
        im.load()
        return np.asarray(normalise_pil(im))
