"""The segmenter the Segment section describes, and "Use this model" for a trained checkpoint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..core.segment import ModelError, load_segmenter
from ._controls import (
    ALL_CLASSES,
    BUILTIN_MODEL,
    BUILTIN_SEGMENTER,
    CHECKPOINT_SEGMENTER,
    ONE_CLASS,
    Controls,
)

#: The built-in model the Segmenter choice :data:`BUILTIN_MODEL` loads.
BUILTIN_MODEL_NAME = "axon-myelin-sem"

__all__ = ["segmenter_factory", "segmenter_name", "use_checkpoint", "model_classes"]


def segmenter_factory(c: Controls) -> Callable[[], object]:
    """A function that loads the segmenter the controls describe (run in the worker).

    Raises
    ------
    ModelError
        The checkpoint choice without a folder, or an empty class name for Otsu.
    """

    choice = c.batch_size.value
    batch = {} if choice == "auto" else {"batch_size": int(choice)}
    if c.segmenter.value == BUILTIN_SEGMENTER:
        polarity, name = c.polarity.value, c.otsu_class.value.strip()
        if not name:
            raise ModelError("type the class Otsu's objects are (e.g. axon or myelin)")
        return lambda: load_segmenter("otsu", polarity=polarity, label_class=name, **batch)
    if c.segmenter.value == BUILTIN_MODEL:
        device = c.device.value
        return lambda: load_segmenter(BUILTIN_MODEL_NAME, classes="all", device=device, **batch)
    folder = c.model_dir.value
    if folder is None or str(folder) in ("", "."):
        raise ModelError("choose a checkpoint folder first")
    if c.classes.value == ALL_CLASSES:
        opts = {"classes": "all", "device": c.device.value, **batch}
    else:
        opts = {"class_index": c.class_index.value, "threshold": c.threshold.value,
                "device": c.device.value, **batch}
        if len(model_classes(Path(folder))) == 1:  # one sigmoid logit: its class is 0
            opts["class_index"] = 0
    return lambda: load_segmenter(Path(folder), **opts)


def segmenter_name(c: Controls) -> str:
    """What is being loaded, for the status line: ``otsu`` or the checkpoint folder's name."""
    if c.segmenter.value == BUILTIN_SEGMENTER:
        return "otsu"
    if c.segmenter.value == BUILTIN_MODEL:
        return BUILTIN_MODEL_NAME
    folder = c.model_dir.value
    return Path(folder).name if folder else "the checkpoint"


def model_classes(folder: Path) -> list[str]:
    """The class names of a checkpoint folder (``config.json``'s ``id2label``, by index)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        labels = config.get("id2label") or {}
        return [str(labels[k]) for k in sorted(labels, key=int)]
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def use_checkpoint(c: Controls, folder: Path) -> str:
    """Make ``folder`` the segmenter; a model of several classes segments them all (argmax).

    Returns the line for the status: which classes it will paint.
    """
    c.segmenter.value = CHECKPOINT_SEGMENTER
    c.model_dir.value = folder
    names = model_classes(folder)
    foreground = names[1:]
    c.classes.value = ALL_CLASSES if len(foreground) > 1 else ONE_CLASS
    if len(foreground) > 1:
        return f"segmenter: {folder} (all its classes: {', '.join(foreground)})"
    return f"segmenter: {folder}"
