"""Segmenters: turn batches of RGB tiles into class maps.

Two implementations of one small protocol (:class:`Segmenter`):

- :class:`ThresholdSegmenter` (``"otsu"``), the built-in default for bright filaments
  and cells on a dark background; numpy/scipy/scikit-image only.
- :class:`HFSegmenter`, a local Hugging Face semantic-segmentation checkpoint folder
  (``config.json``, ``model.safetensors``, ``preprocessor_config.json``).

The protocol lives in :mod:`.base`, Otsu in :mod:`.otsu`, checkpoint loading in
:mod:`.checkpoint`, the segmenter of a checkpoint in :mod:`.hf` (its classes
chosen by :mod:`.class_choice`, what its classes and channels mean read by
:mod:`.model_classes`, its image processor's geometry measured by
:mod:`.processor_geometry` and replaced by a lookup table where exact,
:mod:`.pixel_lut`), devices, threads and streams in :mod:`.runtime`;
:func:`load_segmenter` (:mod:`.load`) picks one from a user-facing spec. The wing
is headless: ``torch`` and ``transformers`` are imported inside functions only,
so importing it is cheap and works without them.

Every segmenter returns *class maps* (``(N, H, W)`` uint8, 0 = background,
``k`` = class ``k`` of its :class:`~napari_axons.core.common.ClassTable`,
``segmenter.classes``). One-class segmenters (Otsu, a checkpoint under the
seed's threshold rule) give 0/1 and a table of the background and one class
named ``label_class`` (default ``"axon"``, the seed's).
"""

from .base import ModelError, Segmenter, check_tiles, one_class_table, one_line
from .checkpoint import clear_model_cache
from .hf import DRY_RUN_TILE, HFSegmenter
from .load import BUILTIN, load_segmenter, pixel_size_note
from .otsu import ThresholdSegmenter
from .runtime import (
    class_argmax,
    default_num_threads,
    default_streams,
    model_batching,
    model_executor,
    prefer_passive_openmp,
    resolve_device,
)

__all__ = ["HFSegmenter", "ModelError", "Segmenter", "ThresholdSegmenter", "clear_model_cache",
           "default_num_threads", "default_streams", "load_segmenter", "model_batching",
           "model_executor", "prefer_passive_openmp", "pixel_size_note", "resolve_device",
           "class_argmax", "check_tiles", "one_class_table", "one_line", "BUILTIN", "DRY_RUN_TILE"]
