"""Build a segmenter from what the user typed (``otsu``, a checkpoint folder), and the pixel-size note."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..geometry.resample import SAME_SIZE_TOLERANCE
from .base import ModelError, Segmenter
from .builtin_models import BUILTIN_MODELS, builtin_model_path
from .hf import MATCH_FACTORS, HFSegmenter, as_micrometres
from .otsu import ThresholdSegmenter

BUILTIN = ("otsu",)


def pixel_size_note(segmenter: Any, image_pixel_size: Any) -> str | None:
    """The one line that says how tiles meet a model's training pixel size.

    A segmenter that states its training pixel size (``pixel_size_um``)
    segments tiles at it (:meth:`HFSegmenter.resampling_for
    <napari_axons.core.segment.hf.HFSegmenter.resampling_for>`); this says so,
    once per image.

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
        ``image 0.07 um/px, model 0.1 um/px: tiles resampled x0.70 for the
        model``; a note that the tiles go as they are when the image's pixel
        size is unknown or too far from the model's; None when the model states
        none or the two agree within 2 %.
    """
    model_um = getattr(segmenter, "pixel_size_um", None)
    if model_um is None:
        return None
    name = getattr(segmenter, "name", "the model")
    if image_pixel_size is None:
        return (f"image pixel size unknown: tiles go to the model {name} as they are (it was "
                f"trained at {model_um:g} um/px; give the image's pixel size to match it)")
    image_um = as_micrometres(image_pixel_size)
    factor = image_um / float(model_um)
    if abs(factor - 1.0) <= SAME_SIZE_TOLERANCE:
        return None
    head = f"image {image_um:.3g} um/px, model {model_um:g} um/px"
    if not MATCH_FACTORS[0] <= factor <= MATCH_FACTORS[1]:
        return (f"{head}: x{factor:.3g} is too far to resample; tiles go to the model as they "
                f"are")
    return f"{head}: tiles resampled x{factor:.2f} for the model"


def load_segmenter(spec: Any = None, **options: Any) -> Segmenter:
    """Build a segmenter from a user-facing spec.

    Parameters
    ----------
    spec : None, str, os.PathLike or Segmenter
        ``None`` or ``"otsu"`` (any case): :class:`ThresholdSegmenter`. A path to a folder,
        or a built-in model's name (``"axon-myelin-sem"``, :mod:`.builtin_models`):
        :class:`HFSegmenter`. An object that already is a segmenter is returned
        as is (``options`` must then be empty).
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
