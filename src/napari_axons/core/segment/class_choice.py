"""Which of a checkpoint's classes a run keeps: the seed's threshold rule, all, or some by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..common import ClassTable, ClassTableError
from .base import ModelError, one_class_table

__all__ = ["select_classes"]


def select_classes(
    path: Path, id2label: dict[int, str], classes: Any, label_class: str,
    class_index: int | None, threshold: float | None,
) -> tuple[str, ClassTable, np.ndarray | None, int, float]:
    """``(mode, table, lut, class_index, threshold)`` for the ``classes`` option.

    ``id2label`` holds every class index of the model. ``mode`` is ``"binary"``
    (the seed's threshold rule), ``"all"`` or ``"subset"``; ``lut`` maps the
    model's class indices to the table's (None for binary).
    """
    n = len(id2label)
    if classes is None:
        ci = 1 if class_index is None else class_index
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
    if isinstance(classes, str) and classes.strip().lower() == "all":
        try:
            table = ClassTable.from_id2label(id2label)
        except ClassTableError as exc:
            raise ModelError(f"{path}: the model's classes: {exc}; choose some of them "
                             "by name") from None
        return "all", table, np.arange(n, dtype=np.uint8), 1, 0.5
    listed = [str(c).strip() for c in (classes.split(",") if isinstance(classes, str)
                                        else classes)]
    for name in listed:
        if name == names[0]:
            raise ModelError(
                f"{path}: {name!r} is the model's background (class 0); list foreground "
                f"classes only: {', '.join(names[1:])}"
            )
        if name and name not in names:
            raise ModelError(
                f"{path}: the model has no class {name!r}; its classes are: "
                f"{', '.join(names[1:])}"
            )
    try:
        wanted = ClassTable.from_spec(",".join(listed))
    except ClassTableError as exc:
        raise ModelError(f"{path}: classes: {exc}") from None
    lut = np.zeros(n, np.uint8)
    for k, name in enumerate(wanted.foreground, start=1):
        lut[names.index(name)] = k
    return "subset", wanted, lut, 1, 0.5
