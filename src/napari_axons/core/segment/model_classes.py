"""What a Hugging Face checkpoint's outputs and inputs mean: its classes and its channels.

Classes (:func:`class0_is_background`). napari-axons' class maps keep 0 for the
background. A model's class 0 is that background only when the model says so:

1. its image processor reduces labels (``do_reduce_labels``, ``reduce_labels``
   in older files: the ADE20k set-up, where the dataset's label 0 was dropped
   in training and every model class is a real one, e.g. class 0 ``"wall"``):
   never;
2. ``id2label[0]`` is a background name (:data:`BACKGROUND_NAMES`, compared
   case-insensitively without surrounding ``_``, spaces or ``-``:
   ``"background"``, ``"__background__"``, ``"bg"``, ``"unlabeled"``,
   ``"void"``, ...): yes;
3. ``id2label[0]`` is transformers' default name (``"LABEL_0"``, or
   ``"class_0"``): the model names no class, so the seed's convention holds
   (class 0 background, class 1 foreground): yes;
4. otherwise (``"wall"``, ``"road"``, ``"axon"``): class 0 is a real class.

When class 0 is real, the model's class ``k`` is class ``k + 1`` of the class
map under ``--classes all`` and may be listed by name; 0 is left for pixels
no listed class takes.

One logit (``num_labels=1``, transformers' binary set-up trained with
``BCEWithLogitsLoss``): its sigmoid is the probability of the one class
(:func:`is_sigmoid`); foreground where it is above the threshold.

Channels (:func:`input_channels`, :class:`LuminanceInput`): tiles are RGB; a
model trained on one channel (``num_channels=1`` in its config or its
backbone's, or a one-value ``image_mean``, as SEM/TEM models are) is given
each tile's luminance instead, by Pillow's ``convert("L")`` rule (ITU-R 601-2:
``L = (19595 R + 38470 G + 7471 B + 32768) >> 16``, so a grey tile, R = G = B,
keeps its values exactly).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BACKGROUND_NAMES", "class0_is_background", "is_background_name", "is_default_name",
           "is_sigmoid", "input_channels", "luminance", "LuminanceInput"]

#: Names of a background class (lower case, without surrounding ``_ -`` and spaces).
BACKGROUND_NAMES = frozenset({
    "background", "backgrounds", "bg", "bkg", "bgnd", "back", "unlabeled", "unlabelled",
    "unlabel", "no label", "nolabel", "void", "none", "nothing", "empty", "ignore", "ignored",
})


def _norm(name: Any) -> str:
    return " ".join(str(name).strip(" _-\t").lower().replace("_", " ").split())


def is_background_name(name: Any) -> bool:
    """True for a name that says "background" (see :data:`BACKGROUND_NAMES`)."""
    n = _norm(name)
    return n in BACKGROUND_NAMES or n.replace(" ", "") in BACKGROUND_NAMES


def is_default_name(name: Any, index: int | None = None) -> bool:
    """True for transformers' default class name (``"LABEL_k"``, or ``"class_k"``): the
    model names no class. ``index``: only that class's default (None: any)."""
    n = _norm(name)
    if index is not None:
        return n in (f"label {index}", f"class {index}")
    return n.startswith(("label ", "class "))


def reduces_labels(processor: Any) -> bool:
    """Whether the image processor was set to reduce labels in training (ADE20k style)."""
    return any(bool(getattr(processor, attr, False)) for attr in ("do_reduce_labels", "reduce_labels"))


def class0_is_background(id2label: dict[int, str], processor: Any = None) -> bool:
    """Whether the model's class 0 is the background (the rules in the module docstring).

    Parameters
    ----------
    id2label : dict of int to str
        Every class index of the model -> its name.
    processor : image processor, optional
        Its ``do_reduce_labels`` (or ``reduce_labels``) is read.
    """
    if processor is not None and reduces_labels(processor):
        return False
    name = str(id2label.get(0, "LABEL_0"))
    return is_background_name(name) or is_default_name(name, 0)


def is_sigmoid(num_labels: int) -> bool:
    """One logit: a sigmoid per pixel (transformers' ``num_labels=1`` set-up)."""
    return int(num_labels) == 1


def input_channels(config: Any, processor: Any = None) -> int:
    """How many channels the model takes (3 unless it says otherwise).

    ``num_channels`` of the config, else of its ``backbone_config``, else the
    length of the processor's ``image_mean`` when it is a one-value list.
    """
    for cfg in (config, getattr(config, "backbone_config", None)):
        n = getattr(cfg, "num_channels", None) if cfg is not None else None
        if isinstance(n, int) and not isinstance(n, bool):
            return n
    mean = getattr(processor, "image_mean", None)
    if isinstance(mean, (list, tuple)) and len(mean) == 1:
        return 1
    return 3


def luminance(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 RGB -> ``(...)`` uint8 luminance, exactly Pillow's ``convert("L")``."""
    rgb = np.asarray(rgb)
    acc = (rgb[..., 0].astype(np.uint32) * 19595 + rgb[..., 1].astype(np.uint32) * 38470
           + rgb[..., 2].astype(np.uint32) * 7471 + 32768)
    return (acc >> 16).astype(np.uint8)


class LuminanceInput:
    """An image processor of a one-channel model, called with RGB tiles like any other.

    Each ``(H, W, 3)`` image is replaced by its ``(H, W, 1)`` :func:`luminance`
    before the wrapped processor sees it; every attribute is the wrapped
    processor's.
    """

    def __init__(self, processor: Any):
        self.__dict__["processor"] = processor

    def __call__(self, images, **kwargs):
        grey = [luminance(im)[..., None] if np.asarray(im).ndim == 3 and np.asarray(im).shape[-1] == 3
                else np.asarray(im) for im in images]
        return self.processor(images=grey, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["processor"], name)

    def __repr__(self) -> str:
        return f"LuminanceInput({self.processor!r})"
