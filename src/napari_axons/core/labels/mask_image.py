"""One image's class map from a mask image file: palette or grey PNG, TIFF, AxonDeepSeg levels.

For scoring a single image against ground truth (``napari-axons score``), where
the truth (or the prediction) is a mask image rather than an export. How the
pixel values are read (:func:`read_mask_image`):

* **palette PNG** (mode ``P``, what an export's several-class masks are): the
  pixel values are the class indices.
* **grey, every value under 64** (8-bit or 16-bit, PNG or TIFF): the values are
  the class indices (0 background, 1, 2, ...).
* **grey with values between 64 and 191** (8-bit): AxonDeepSeg's
  ``_seg-axonmyelin`` levels, 0 background, 127 myelin, 255 axon, each pixel
  taken to the nearest level (thresholds 64 and 192: the anti-aliased strays
  of real masks go to the nearest class, as AxonDeepSeg reads them); the
  class names are ``myelin`` and ``axon``.
* **grey with values only under 64 or from 192** (a 0/255 mask, 8-bit): one
  class, 1 where the value is 192 or more (the seed's one-class masks).
* grey + alpha (``LA``) is read as its grey; RGB whose three channels are equal
  as grey. Colour RGB, floats and more than 255 classes are refused.

**Not a mask** (a micrograph given by mistake, e.g. an export's tile PNG) is
refused with one line naming the file: more than :data:`MAX_LEVELS` distinct
values (any rule, palette included), or, under the AxonDeepSeg and 0/255
rules, more than :data:`MAX_OFF_LEVEL` of the pixels farther than
:data:`LEVEL_SLACK` grey levels from every level (0, 127/128, 255; 0 and 255):
the strays of a real mask are a handful of pixels, a micrograph's mid-greys
are most of them.

Index class maps carry no class names: the caller takes them as the indices of
the other side's class table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .class_masks import GREY_INDEX_LIMIT, ClassMaskError

__all__ = ["AXONDEEPSEG_NAMES", "LEVEL_SLACK", "MASK_IMAGE_SUFFIXES", "MAX_LEVELS", "MAX_OFF_LEVEL",
           "MaskImage", "read_mask_image"]

#: Class names of a mask read by AxonDeepSeg's levels (index 0 the background).
AXONDEEPSEG_NAMES = ("background", "myelin", "axon")

#: Suffixes of the mask images :func:`read_mask_image` opens.
MASK_IMAGE_SUFFIXES = (".png", ".tif", ".tiff")

#: Grey values from 64 to 191 are myelin, from 192 axon: the nearest of 0, 127 and 255 (191, half
#: way, goes to myelin).
_LOW, _HIGH = 64, 192

#: A mask image holds at most this many distinct values; more is a picture, not a class map.
MAX_LEVELS = 64

#: Grey values within this many levels of 0, 127/128 or 255 count as on a level.
LEVEL_SLACK = 3

#: Largest share of pixels off every level that a 0/127/255 or 0/255 mask may hold.
MAX_OFF_LEVEL = 0.05

_RULES = ("class indices 0, 1, 2, ..., AxonDeepSeg's 0/127/255 or 0/255")


@dataclass(frozen=True)
class MaskImage:
    """A class map read from a mask image.

    Attributes
    ----------
    class_map : numpy.ndarray
        ``(H, W)`` uint8 class indices.
    names : tuple of str or None
        Class names by index (``AXONDEEPSEG_NAMES`` for AxonDeepSeg levels);
        None: plain indices, named by whoever compares them.
    rule : str
        How the values were read: ``"palette"``, ``"index"``, ``"axondeepseg"``
        or ``"binary"``.
    """

    class_map: np.ndarray
    names: tuple[str, ...] | None
    rule: str


def read_mask_image(path: str | os.PathLike) -> MaskImage:
    """Read a mask image as a class map (rules in the module docstring).

    Parameters
    ----------
    path : path
        A ``.png``, ``.tif`` or ``.tiff`` file.

    Returns
    -------
    MaskImage

    Raises
    ------
    ClassMaskError
        An unreadable file, a suffix it does not open, or values it cannot
        take as classes (one line naming the file).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MASK_IMAGE_SUFFIXES:
        raise ClassMaskError(f"{path}: not a mask image (expected {', '.join(MASK_IMAGE_SUFFIXES)})")
    try:
        arr, palette = _read_tiff(path) if suffix in (".tif", ".tiff") else _read_pil(path)
    except ClassMaskError:
        raise
    except FileNotFoundError:
        raise ClassMaskError(f"{path}: no such file") from None
    except Exception as exc:
        raise ClassMaskError(f"{path}: cannot read it as a mask image "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if palette:
        _check_levels(arr, path, "palette indices")
        return MaskImage(arr.astype(np.uint8), None, "palette")
    return _classify(arr, path)


def _check_levels(arr: np.ndarray, path: Path, what: str = "grey levels") -> np.ndarray:
    """The distinct values of ``arr`` (sorted); more than :data:`MAX_LEVELS` is refused."""
    values = np.unique(arr)
    if len(values) > MAX_LEVELS:
        raise ClassMaskError(f"{path}: not a mask: {len(values)} {what} (a mask holds a few "
                             f"values: {_RULES}); is it the image rather than its mask?")
    return values


def _check_on_levels(arr: np.ndarray, values: np.ndarray, levels: tuple[int, ...],
                     path: Path) -> None:
    """Refuse a 0/127/255 or 0/255 reading when too many pixels lie off every level."""
    off_values = [v for v in values.tolist()
                  if min(abs(v - lv) for lv in levels) > LEVEL_SLACK]
    if not off_values:
        return
    share = float(np.isin(arr, off_values).mean())
    if share > MAX_OFF_LEVEL:
        named = "/".join(str(lv) for lv in levels if lv != 128)
        raise ClassMaskError(f"{path}: not a mask: {len(values)} grey levels, {share:.0%} of the "
                             f"pixels far from the levels {named} (a mask holds {_RULES})")


def _read_pil(path: Path) -> tuple[np.ndarray, bool]:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "P":
            return np.array(im, dtype=np.uint8), True
        if im.mode in ("LA", "PA"):
            return np.array(im.convert("LA"))[..., 0], False
        if im.mode in ("RGB", "RGBA"):
            rgb = np.array(im.convert("RGB"))
            return _grey_of(rgb, path), False
        if im.mode == "1":
            return np.array(im, dtype=np.uint8) * np.uint8(255), False
        return np.array(im), False


def _read_tiff(path: Path) -> tuple[np.ndarray, bool]:
    import tifffile

    arr = tifffile.imread(path)
    while arr.ndim > 2 and arr.shape[0] == 1:  # single pages, planes, series
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = _grey_of(arr[..., :3], path)
    return arr, False


def _grey_of(rgb: np.ndarray, path: Path) -> np.ndarray:
    if not ((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()):
        raise ClassMaskError(f"{path}: a colour mask; give a class map (palette or grey PNG, "
                             "grey TIFF: one value per class)")
    return rgb[..., 0]


def _classify(arr: np.ndarray, path: Path) -> MaskImage:
    if arr.ndim != 2:
        raise ClassMaskError(f"{path}: a mask image is 2-D, got shape {arr.shape}")
    if arr.dtype.kind not in "ub" and not (arr.dtype.kind == "i" and (arr.min(initial=0) >= 0)):
        raise ClassMaskError(f"{path}: pixel values of type {arr.dtype} are not class indices")
    values = _check_levels(arr, path)
    top = int(arr.max(initial=0))
    if top < GREY_INDEX_LIMIT:  # the rule an export's grey masks are read by, too
        return MaskImage(arr.astype(np.uint8), None, "index")
    if arr.dtype.itemsize > 1 or arr.dtype.kind == "b":
        if top > 255:
            raise ClassMaskError(f"{path}: holds value {top}; a class map holds at most 255 classes")
        return MaskImage(arr.astype(np.uint8), None, "index")
    out = np.zeros(arr.shape, np.uint8)
    middle = (arr >= _LOW) & (arr < _HIGH)
    if middle.any():
        _check_on_levels(arr, values, (0, 127, 128, 255), path)
        out[middle] = 1
        out[arr >= _HIGH] = 2
        return MaskImage(out, AXONDEEPSEG_NAMES, "axondeepseg")
    _check_on_levels(arr, values, (0, 255), path)
    out[arr >= _HIGH] = 1
    return MaskImage(out, None, "binary")
