"""Class maps <-> mask PNGs and Django-Labeller labels, one class table throughout.

A *class map* is a ``(H, W)`` uint8 array: 0 is background, ``k`` is class
``k`` of a :class:`~napari_axons.core.common.ClassTable`. This module turns
class maps into the files of an export and back:

Mask PNG (``masks/{tile}_mask.png``), :func:`encode_class_mask` /
:func:`decode_class_mask`
    * one foreground class (the seed's case): a greyscale PNG, 0 or 255, byte
      for byte what the seed contract prescribes (any non-zero value of the
      class map is the class);
    * several: a palette PNG (mode ``P``) whose pixel values *are* the class
      indices and whose ``PLTE`` holds the table's colours (the PASCAL VOC
      convention): ``numpy.asarray(PIL.Image.open(path))`` gives the class map,
      an image viewer shows the colours. (Decoders that expand palettes to RGB,
      such as ``imagecodecs.png_decode``, give the colours instead.)
    * reading: a palette PNG gives its indices; a greyscale or RGB mask (an old
      export, 0/255) gives 1 wherever it is non-zero.

Polygon labels (``{tile}__labels.json``), :func:`class_map_to_labels` /
:func:`labels_to_class_map`
    One label per 8-connected component per class, ``label_class`` = the
    class's name, traced by :func:`~napari_axons.core.labels.labelfile.mask_to_labels`
    so that Django-Labeller's ``render_label_classes`` gives the class map back
    pixel for pixel. Reading renders each class as Django-Labeller does; label
    classes the table does not know are *added* to it (never merged).

AxonDeepSeg masks, :func:`axondeepseg_masks`
    With classes named ``axon`` and ``myelin``, the three files AxonDeepSeg's
    morphometrics read next to an image ``{stem}.png``: ``{stem}_seg-axon.png``
    and ``{stem}_seg-myelin.png`` (0/255 each) and ``{stem}_seg-axonmyelin.png``
    (0 background, 127 myelin, 255 axon: AxonDeepSeg's 3-level convention).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..common import DEFAULT_TABLE, ClassTable, ClassTableError, encode_png
from .labelfile import LabelFileError, TracedLabel, trace_labels, validate_document, where_text
from .render import Canvas, render_label

__all__ = [
    "AXONDEEPSEG_SUFFIXES",
    "ClassMaskError",
    "axondeepseg_masks",
    "check_axondeepseg_classes",
    "check_class_map",
    "class_map_to_labels",
    "class_map_to_traced",
    "decode_class_mask",
    "encode_class_mask",
    "label_class_names",
    "labels_to_class_map",
]

#: File name suffixes AxonDeepSeg expects next to an image ``{stem}.png``.
AXONDEEPSEG_SUFFIXES = {
    "axon": "_seg-axon.png",
    "myelin": "_seg-myelin.png",
    "axonmyelin": "_seg-axonmyelin.png",
}

#: AxonDeepSeg's grey levels in ``_seg-axonmyelin.png``.
AXONDEEPSEG_AXON, AXONDEEPSEG_MYELIN = 255, 127


class ClassMaskError(ValueError):
    """A class map that does not fit its class table (one line for the user)."""


def check_class_map(class_map: Any, classes: ClassTable, *, where: str = "class map") -> np.ndarray:
    """The class map as a 2-D uint8 array, checked against ``classes``.

    Parameters
    ----------
    class_map : array_like, shape (H, W)
        Integer class indices.
    classes : ClassTable
        The table the indices refer to.
    where : str
        Named in the error message (a file or a layer).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` uint8. With a one-class table, 1 and 255 are the class (a
        seed-style 0/255 mask is a valid one-class map), returned unchanged.

    Raises
    ------
    ClassMaskError
        If the array is not 2-D, or holds a value the table has no class for
        (negative, above its last class; for a one-class table anything but 0,
        1 and 255). Never folded into another class: the rule of
        :mod:`napari_axons.core.common.classes`.
    """
    arr = np.asarray(class_map)
    if arr.ndim != 2:
        raise ClassMaskError(f"{where}: a class map is 2-D (rows, columns), got shape {arr.shape}")
    if classes.is_binary:
        if arr.size and not np.isin(arr, (0, 1, 255)).all():
            bad = sorted({int(v) for v in np.unique(arr)} - {0, 1, 255})
            raise ClassMaskError(
                f"{where}: holds value(s) {', '.join(map(str, bad[:5]))}, but the class table has "
                f"one class ({classes.foreground[0]}: 1, or 255 in a 0/255 mask)")
        return arr.astype(np.uint8, copy=False)
    if arr.size:
        hi, lo = int(arr.max()), int(arr.min())
        if lo < 0 or hi > classes.n_foreground:
            bad = lo if lo < 0 else hi
            raise ClassMaskError(
                f"{where}: holds value {bad}, but the class table has classes 1-"
                f"{classes.n_foreground} ({', '.join(classes.foreground)})")
    return arr.astype(np.uint8, copy=False)


# ---------------------------------------------------------------------------
# mask PNGs
# ---------------------------------------------------------------------------


def encode_class_mask(class_map: Any, classes: ClassTable, compress_level: int = 1, *,
                      where: str = "class map") -> bytes:
    """A class map as the bytes of an export's mask PNG.

    Parameters
    ----------
    class_map : array_like, shape (H, W)
        Class indices (uint8).
    classes : ClassTable
        With one foreground class the PNG is greyscale 0/255 (the seed's
        masks; identical bytes to
        ``encode_png(np.where(class_map > 0, 255, 0), compress_level)``); with
        several, a palette PNG of the class indices, ``PLTE`` =
        :meth:`ClassTable.palette`.
    compress_level : int
        zlib level, 0-9.
    where : str
        Named in error messages.

    Returns
    -------
    bytes

    Raises
    ------
    ClassMaskError
        A value the table has no class for (see :func:`check_class_map`).
    """
    from PIL import Image

    arr = check_class_map(class_map, classes, where=where)
    if classes.is_binary:
        return encode_png(np.where(arr > 0, 255, 0).astype(np.uint8), compress_level)
    arr = np.ascontiguousarray(arr)
    im = Image.frombuffer("P", (arr.shape[1], arr.shape[0]), arr.tobytes(), "raw", "P", 0, 1)
    im.putpalette(classes.palette())
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=int(compress_level))
    return buf.getvalue()


#: A greyscale mask whose largest value is under this holds class indices, not a 0/255
#: mask (:func:`decode_class_mask`, and :mod:`.mask_image` for whole-image masks).
GREY_INDEX_LIMIT = 64


def decode_class_mask(data: bytes | str | os.PathLike) -> tuple[np.ndarray, bool]:
    """Read a mask PNG (bytes or a path) as a class map.

    Parameters
    ----------
    data : bytes or path
        The PNG.

    Returns
    -------
    class_map : numpy.ndarray
        ``(H, W)`` uint8. A palette PNG gives its pixel values (the class
        indices), and so does a greyscale PNG whose values are small class
        indices (its largest value from 2 to 63: a class map saved as grey by
        another tool); any other (greyscale 0/255 as the seed writes, RGB, ...)
        gives 1 where the mask is non-zero, 0 elsewhere.
    indexed : bool
        True for class indices (several classes).

    Raises
    ------
    OSError, ValueError
        As Pillow raises them for a file that is not a readable image.
    """
    from PIL import Image

    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    with Image.open(src) as im:
        if im.mode == "P":
            return np.array(im, dtype=np.uint8), True
        if im.mode in ("RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr"):
            arr = np.asarray(im.convert("RGB")).any(axis=2)
        else:
            values = np.asarray(im)
            top = int(values.max()) if values.size else 0
            if 2 <= top < GREY_INDEX_LIMIT and values.min() >= 0:  # grey class indices
                return values.astype(np.uint8), True
            arr = values != 0
    return arr.astype(np.uint8), False


# ---------------------------------------------------------------------------
# polygons
# ---------------------------------------------------------------------------


def class_map_to_labels(class_map: Any, classes: ClassTable, *, source: str = "auto:unknown",
                        id_prefix: str = "", where: str = "class map") -> list[dict]:
    """Django-Labeller polygon labels of a class map: one per component per class.

    Parameters
    ----------
    class_map : array_like, shape (H, W)
        Class indices (with a one-class table, non-zero is the class).
    classes : ClassTable
        ``label_class`` of a label is the name of its class.
    source : str
        ``source`` of every label.
    id_prefix : str
        Object ids are ``f"{id_prefix}{k}"``, ``k`` = 0, 1, ... running over the
        classes in index order, then the components of each class in
        :func:`~napari_axons.core.labels.trace.mask_to_regions` order (with one
        class: exactly :func:`~napari_axons.core.labels.labelfile.mask_to_labels`).
    where : str
        Named in error messages.

    Returns
    -------
    list of dict
        Polygon labels (``x`` = column, ``y`` = row, pixel centres, tile
        pixels). Rendered by Django-Labeller's ``render_label_classes`` with
        the mapping ``{name: index}`` they give the class map back exactly.

    Raises
    ------
    ClassMaskError
        A value the table has no class for.
    """
    return [t.to_dict() for t in class_map_to_traced(class_map, classes, source=source,
                                                     id_prefix=id_prefix, where=where)]


def class_map_to_traced(class_map: Any, classes: ClassTable, *, source: str = "auto:unknown",
                        id_prefix: str = "", where: str = "class map") -> list[TracedLabel]:
    """:func:`class_map_to_labels` with the regions left as arrays.

    Same parameters, order and errors; write them with
    :func:`~napari_axons.core.labels.labelfile.encode_traced_labels`.
    """
    arr = check_class_map(class_map, classes, where=where)
    if classes.is_binary:
        return trace_labels(arr, label_class=classes.names[1], source=source,
                            id_prefix=id_prefix)
    labels: list[TracedLabel] = []
    present = np.flatnonzero(np.bincount(arr.ravel(), minlength=len(classes)))
    for k in present:
        if k == 0:
            continue
        labels.extend(trace_labels(arr == k, label_class=classes.names[k], source=source,
                                   id_prefix=id_prefix, first_id=len(labels)))
    return labels


def _class_name(label: Mapping) -> str:
    name = label.get("label_class")
    return "object" if name is None else str(name)


def label_class_names(labels: Iterable[Mapping]) -> list[str]:
    """The distinct ``label_class`` values of top-level labels, in order of first appearance.

    ``null`` is ``"object"`` (as :meth:`ClassTable.from_names`). Only labels
    that are objects count; a group's own class stands for its members (as in
    Django-Labeller's rendering).
    """
    seen: dict[str, None] = {}
    for label in labels:
        if isinstance(label, Mapping):
            seen.setdefault(_class_name(label), None)
    return list(seen)


def labels_to_class_map(
    doc_or_labels: Any,
    shape: tuple[int, int],
    classes: ClassTable | None = None,
    *,
    path: str | os.PathLike | None = None,
    warn_added: bool = True,
) -> tuple[np.ndarray, ClassTable, list[str]]:
    """Render polygon labels into a class map, as Django-Labeller's ``render_label_classes``.

    Parameters
    ----------
    doc_or_labels : dict or list
        A label document or a list of labels (vertices ``x`` = column,
        ``y`` = row, tile pixels).
    shape : tuple of int
        ``(rows, columns)`` of the class map.
    classes : ClassTable, optional
        The table to use (an export's). Label classes it lacks are appended to
        it (never merged into another class), each with a warning. Without a
        table, one is made from the label classes in order of first appearance
        (an empty file gives :data:`~napari_axons.core.common.DEFAULT_TABLE`).
    path : path, optional
        The file, named in messages.
    warn_added : bool
        Warn about each class added to ``classes`` (False: a table being built
        from the files themselves, in order of first appearance).

    Returns
    -------
    class_map : numpy.ndarray
        ``(rows, columns)`` uint8. Each label is drawn with its class's index;
        where labels of different classes overlap, the later label in the file
        wins (Django-Labeller's rule).
    table : ClassTable
        ``classes`` (or the new table) with any added classes.
    warnings : list of str
        Labels that cannot be rasterised (their type and object id), and the
        classes added to a given table.

    Raises
    ------
    LabelFileError
        A malformed document, or more classes than a class map holds (255),
        as one line naming the file.
    """
    where = where_text(path)
    doc = validate_document(doc_or_labels, where)
    names = label_class_names(doc["labels"])
    warnings: list[str] = []
    try:
        if classes is None:
            table = ClassTable.from_names(names) if names else DEFAULT_TABLE
        else:
            table = classes.with_names(names)
            for k in range(len(classes), len(table) if warn_added else 0):
                warnings.append(f"{where}: label class {table.names[k]!r} is not in the export's "
                                f"class table; added as class {k}")
    except ClassTableError as exc:
        raise LabelFileError(f"{where}: {exc}") from None
    h, w = (int(s) for s in shape)
    out = np.zeros((max(h, 0), max(w, 0)), np.uint8)
    if h <= 0 or w <= 0:
        return out, table, warnings
    groups: dict[int, list[tuple[int, Mapping]]] = {}
    for i, label in enumerate(doc["labels"]):
        groups.setdefault(table.index_of(_class_name(label)), []).append((i, label))
    masks = {}
    for k, members in groups.items():
        masks[k] = _render(members, h, w, warnings)
    if len(masks) > 1 and int(sum(m.astype(np.uint8) for m in masks.values()).max()) > 1:
        # labels of different classes overlap: draw label by label in file order
        for i, label in enumerate(doc["labels"]):
            m = _render([(i, label)], h, w, [])
            out[m] = table.index_of(_class_name(label))
        return out, table, warnings
    for k, m in masks.items():
        out[m] = k
    return out, table, warnings


def _render(members: Sequence[tuple[int, Mapping]], h: int, w: int,
            warnings: list[str]) -> np.ndarray:
    canvas = Canvas(h, w)
    for i, label in members:
        render_label(label, canvas, warnings, str(i))
    return canvas.result()


# ---------------------------------------------------------------------------
# AxonDeepSeg
# ---------------------------------------------------------------------------


def check_axondeepseg_classes(classes: ClassTable) -> tuple[int, int]:
    """The indices of the ``axon`` and ``myelin`` classes (AxonDeepSeg's two classes).

    Raises
    ------
    ClassMaskError
        When the table lacks either name (the message lists its classes).
    """
    missing = [n for n in ("axon", "myelin") if n not in classes.names[1:]]
    if missing:
        raise ClassMaskError(
            "--axondeepseg needs classes named 'axon' and 'myelin'; the class table has "
            f"{', '.join(classes.foreground)} (no {' or '.join(map(repr, missing))})")
    return classes.index_of("axon"), classes.index_of("myelin")


def axondeepseg_masks(class_map: Any, classes: ClassTable) -> dict[str, np.ndarray]:
    """The three masks AxonDeepSeg reads, from a class map.

    Parameters
    ----------
    class_map : array_like, shape (H, W)
        Class indices.
    classes : ClassTable
        Must name ``axon`` and ``myelin`` (other classes count as background).

    Returns
    -------
    dict
        ``{"axon": 0/255, "myelin": 0/255, "axonmyelin": 0/127/255}``, each
        ``(H, W)`` uint8 (keys as in :data:`AXONDEEPSEG_SUFFIXES`).

    Raises
    ------
    ClassMaskError
        The table lacks ``axon`` or ``myelin``, or the map holds a value the
        table has no class for.
    """
    ai, mi = check_axondeepseg_classes(classes)
    arr = check_class_map(class_map, classes)
    axon, myelin = arr == ai, arr == mi
    both = np.zeros(arr.shape, np.uint8)
    both[myelin] = AXONDEEPSEG_MYELIN
    both[axon] = AXONDEEPSEG_AXON
    return {
        "axon": axon.astype(np.uint8) * np.uint8(255),
        "myelin": myelin.astype(np.uint8) * np.uint8(255),
        "axonmyelin": both,
    }
