"""Which of a checkpoint's classes a run keeps: the seed's threshold rule, all, or some by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..common import ClassTable, ClassTableError
from .base import ModelError, one_class_table
from .model_classes import is_default_name, is_sigmoid

__all__ = ["select_classes"]


def select_classes(
    path: Path, id2label: dict[int, str], classes: Any, label_class: str,
    class_index: int | None, threshold: float | None, background0: bool = True,
    made_here: bool = False,
) -> tuple[str, ClassTable, np.ndarray | None, int, float]:
    """``(mode, table, lut, class_index, threshold)`` for the ``classes`` option.

    ``id2label`` holds every class index of the model. ``mode`` is ``"binary"``
    (the seed's threshold rule), ``"all"`` or ``"subset"``; ``lut`` maps the
    model's class indices to the table's (None when they are the same).
    ``background0``: the model's class 0 is the background
    (:func:`~.model_classes.class0_is_background`); else it is a real class,
    and so is the one class of a one-logit (sigmoid) model.

    Defaults: the seed's one-class threshold rule (class 1 above 0.5, named
    ``label_class``; ``DESIGN.md`` section 1: a default export is a drop-in
    for the seed's), except for a model napari-axons made (``made_here``: the
    built-in models and those ``napari-axons train`` writes, which carry
    ``napari_axons.json``) of two or more real classes: all of them, by
    argmax. :func:`class_note` says when the one-class rule renames a class.
    """
    n = len(id2label)
    real0 = is_sigmoid(n) or not background0
    n_real = n if real0 else n - 1
    if (made_here and classes is None and class_index is None and threshold is None
            and n_real >= 2):
        classes = "all"  # napari-axons' own models of several classes: all of them
    if classes is None:
        ci = (0 if is_sigmoid(n) else 1) if class_index is None else class_index
        if isinstance(ci, bool) or not 0 <= int(ci) < n:
            raise ModelError(
                f"{path}: class_index {ci} is out of range: the model has {n} classes "
                f"({', '.join(id2label.values())})"
            )
        thr = 0.5 if threshold is None else float(threshold)
        if not 0.0 <= thr < 1.0:
            raise ModelError(f"{path}: threshold must be in [0, 1), got {threshold}")
        return "binary", one_class_table(label_class, str(path)), None, int(ci), thr
    if class_index is not None or threshold is not None:
        raise ModelError(
            f"{path}: class_index and threshold belong to the one-class threshold rule; "
            "with classes the class map is the argmax over the model's classes"
        )
    # the model's names as ClassTable.from_id2label gives them (duplicates get _K)
    names: list[str] = []
    for k in range(n):
        names.append(id2label[k] if id2label[k] not in names else f"{id2label[k]}_{k}")
    real = names if real0 else names[1:]  # the classes a class map can name
    if isinstance(classes, str) and classes.strip().lower() == "all":
        try:
            if not real0:
                return "all", ClassTable.from_id2label(id2label), None, 1, 0.5
            # every model class is real: model class k is class k + 1, 0 stays the background
            background = next(b for b in ("background", "unclassified", "none_0") if b not in names)
            table = ClassTable.from_names(names, background=background)
        except ClassTableError as exc:
            raise ModelError(f"{path}: the model's classes: {exc}; choose some of them "
                             "by name") from None
        return "all", table, np.arange(1, n + 1, dtype=np.uint8), 1, 0.5
    listed = [str(c).strip() for c in (classes.split(",") if isinstance(classes, str)
                                        else classes)]
    for name in listed:
        if not real0 and name == names[0]:
            raise ModelError(
                f"{path}: {name!r} is the model's background (class 0); list foreground "
                f"classes only: {', '.join(real)}"
            )
        if name and name not in names:
            raise ModelError(
                f"{path}: the model has no class {name!r}; its classes are: "
                f"{', '.join(real)}"
            )
    try:
        wanted = ClassTable.from_spec(",".join(listed))
    except ClassTableError as exc:
        raise ModelError(f"{path}: classes: {exc}") from None
    lut = np.zeros(n, np.uint8)
    for k, name in enumerate(wanted.foreground, start=1):
        lut[names.index(name)] = k
    return "subset", wanted, lut, 1, 0.5


def class_note(id2label: dict[int, str], mode: str, class_index: int, label_class: str,
               name: str) -> str | None:
    """One line when the one-class rule writes a model's class under another class's name.

    E.g. a model of myelin (class 1) and axon under the default rule: its
    myelin would be written as ``axon`` (the seed's rule). None when the
    names agree, the model's name is a generic one (``LABEL_1``, ``class_1``,
    ``foreground`` ...) or the mode is not the one-class rule.
    """
    if mode != "binary" or len(id2label) < 2:
        return None
    own = str(id2label.get(class_index, ""))
    generic = (own.lower() in ("", "foreground", "object", "objects", "positive", "1")
               or is_default_name(own))
    if generic or own == label_class:
        return None
    others = ", ".join(v for k, v in sorted(id2label.items()) if k and v != own)
    return (f"{name}: its class {class_index} is {own!r}, written as {label_class!r} (the "
            f"one-class rule); --classes all gives every class ({own}, {others}), "
            f"--label-class {own} names it")
