"""Build a segmenter from what the user typed (``otsu``, a checkpoint folder), and the pixel-size note."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelError, Segmenter
from .builtin_models import BUILTIN_MODELS, builtin_model_path
from .hf import HFSegmenter
from .otsu import ThresholdSegmenter

BUILTIN = ("otsu",)


#: The image's pixel size may differ from a model's training pixel size by this
#: factor (either way) before segmenting warns.
PIXEL_SIZE_RATIO = 1.25


def pixel_size_note(segmenter: Any, image_pixel_size: Any) -> str | None:
    """A one-line warning when the image's pixel size is far from the model's.

    Parameters
    ----------
    segmenter : Segmenter or None
        Its ``pixel_size_um`` (training pixel size, micrometres) is read, if any.
    image_pixel_size : PixelSize or None
        The pixel size of the image the model sees (the working image), with
        ``x``/``y`` in micrometres.

    Returns
    -------
    str or None
        None when either size is unknown or they differ by at most
        :data:`PIXEL_SIZE_RATIO`.
    """
    model_um = getattr(segmenter, "pixel_size_um", None)
    if model_um is None or image_pixel_size is None:
        return None
    image_um = float(np.sqrt(image_pixel_size.x * image_pixel_size.y))
    ratio = image_um / float(model_um)
    if 1 / PIXEL_SIZE_RATIO <= ratio <= PIXEL_SIZE_RATIO:
        return None
    return (f"the image's pixels ({image_um:.4g} um) are {ratio:.2f}x the size the model "
            f"{segmenter.name} was trained at ({model_um:.4g} um); --target-pixel-size "
            f"{model_um:g} resamples the image to it")


def load_segmenter(spec: Any = None, **options: Any) -> Segmenter:
    """Build a segmenter from a user-facing spec.

    Parameters
    ----------
    spec : None, str, os.PathLike or Segmenter
        ``None`` or ``"otsu"`` (any case): :class:`ThresholdSegmenter`. A path to a folder,
        or a built-in model's name (``"axon-myelin-sem"``, :mod:`.builtin_models`):
        :class:`HFSegmenter`. An object that already is a segmenter is returned as is
        (``options`` must then be empty).
    **options
        Keyword arguments for the segmenter's constructor.

    Returns
    -------
    Segmenter

    Raises
    ------
    ModelError
        If the spec names nothing valid, an option does not belong to that
        segmenter, or the checkpoint cannot be used.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in BUILTIN):
        check_options(ThresholdSegmenter, options, "otsu (the built-in segmenter)")
        return ThresholdSegmenter(**options)
    if isinstance(spec, Segmenter) and not isinstance(spec, (str, os.PathLike)):
        if options:
            raise ModelError(f"options {sorted(options)} cannot be applied to {spec!r}")
        return spec
    if isinstance(spec, str) and builtin_model_path(spec) is not None:
        spec = builtin_model_path(spec)  # a checkpoint shipped in the package, by name
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        p = Path(text).expanduser()
        looks_like_path = (
            isinstance(spec, os.PathLike)
            or p.exists()
            or any(sep and sep in text for sep in (os.sep, os.altsep))
            or text.startswith(("~", "."))
        )
        if looks_like_path and text.strip():
            check_options(HFSegmenter, options, f"{p} (a Hugging Face checkpoint)")
            return HFSegmenter(p, **options)
    raise ModelError(
        f"unknown segmenter {spec!r}: use 'otsu' (built-in threshold), "
        f"{', '.join(repr(n) for n in BUILTIN_MODELS)} (built-in models) or the path to a "
        "Hugging Face checkpoint folder (config.json, model.safetensors, "
        "preprocessor_config.json)"
    )


def check_options(cls: type, options: dict, who: str) -> None:
    """ModelError naming the options ``cls`` does not take (instead of a TypeError)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in options if k not in params or k in ("self", "path"))
    if unknown:
        known = sorted(k for k, v in params.items()
                       if v.kind is inspect.Parameter.KEYWORD_ONLY)
        raise ModelError(f"{who} does not take the option(s) {', '.join(unknown)}; "
                         f"its options are: {', '.join(known)}")
