"""Django-Labeller label files (``{stem}__labels.json``): make, write, read and validate them.

A label file holds one polygon label per connected component of each class
(DESIGN.md §2); the polygons come from :mod:`.trace` and render back to the
mask pixel for pixel (:mod:`.render`).

Coordinate convention everywhere in this module: a vertex is ``(x, y)`` where
``x`` is the column and ``y`` the row, in tile pixels, and the point ``(x, y)``
is the *centre* of that pixel. Masks are indexed ``mask[y, x]``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .trace import mask_to_regions

__all__ = ["LabelFileError", "TracedLabel", "dumps_labels", "encode_traced_labels", "labels_document",
           "mask_to_labels", "read_labels_json", "trace_labels", "validate_document", "where_text",
           "label_name"]


class LabelFileError(ValueError):
    """A label file (or label document) that cannot be used.

    The message is one line: ``"<path>: <problem>"``.
    """


# ---------------------------------------------------------------------------
# mask -> regions
# ---------------------------------------------------------------------------














# ---------------------------------------------------------------------------
# regions -> label documents
# ---------------------------------------------------------------------------


def _region_json(region: np.ndarray) -> list[dict[str, int]]:
    return [{"x": x, "y": y} for x, y in region.tolist()]


def _region_text(region: np.ndarray) -> str:
    """``_region_json(region)`` as compact JSON text, without building the dicts."""
    return "[" + ('{"x":%d,"y":%d},' * len(region) % tuple(region.ravel().tolist()))[:-1] + "]"


def _json_text(value: Any) -> str:
    """Compact, deterministic JSON text: the encoding of every label file (:func:`dumps_labels`)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)






def mask_to_labels(
    mask: Any,
    *,
    label_class: str | None = "axon",
    source: str = "auto:unknown",
    id_prefix: str = "",
    first_id: int = 0,
) -> list[dict]:
    """Convert a mask to Django-Labeller polygon labels, one per component.

    Parameters
    ----------
    mask : array_like, shape (rows, columns)
        Nonzero pixels are foreground.
    label_class : str or None, optional
        ``label_class`` of every label.
    source : str, optional
        ``source`` of every label (``"auto:<model>"`` or ``"manual"``).
    id_prefix : str, optional
        Object ids are ``f"{id_prefix}{k}"`` with ``k`` = ``first_id``,
        ``first_id + 1``, ... in the order of :func:`mask_to_regions`.
    first_id : int, optional
        The first ``k`` (labels of several classes in one file number on).

    Returns
    -------
    list of dict
        ``{"label_type": "polygon", "label_class", "source", "anno_data": {},
        "object_id", "regions": [[{"x": col, "y": row}, ...], ...]}`` with
        integer pixel-centre coordinates (``x`` = column, ``y`` = row, in tile
        pixels). The same mask always gives the same labels.
    """
    return [t.to_dict() for t in trace_labels(mask, label_class=label_class, source=source,
                                              id_prefix=id_prefix, first_id=first_id)]


def labels_document(
    image_filename: str | None, labels: Sequence[Mapping], *, tile: Mapping | None = None
) -> dict:
    """Wrap labels in a Django-Labeller ``__labels.json`` document.

    Parameters
    ----------
    image_filename : str or None
        Name of the tile image the labels annotate.
    labels : sequence of dict
        Labels, e.g. from :func:`mask_to_labels`.
    tile : mapping, optional
        Extra ``"tile"`` block (e.g. the tile's origin in the slide, in
        pixels: ``x`` = column, ``y`` = row). Django-Labeller keeps extra keys.

    Returns
    -------
    dict
        ``{"image_filename", "completed_tasks": [], "labels"[, "tile"]}``.
    """
    doc: dict[str, Any] = {
        "image_filename": image_filename,
        "completed_tasks": [],
        "labels": list(labels),
    }
    if tile is not None:
        doc["tile"] = dict(tile)
    return doc


def dumps_labels(doc: Any) -> bytes:
    """Encode a label document as compact, deterministic UTF-8 JSON.

    Parameters
    ----------
    doc : dict or list
        A label document (see :func:`labels_document`).

    Returns
    -------
    bytes
        JSON without whitespace, keys in insertion order, non-ASCII kept as
        UTF-8. NaN / infinity are refused (``ValueError``).
    """
    return _json_text(doc).encode("utf-8")


def encode_traced_labels(image_filename: str | None, labels: Iterable[TracedLabel], *,
                         tile: Mapping | None = None) -> bytes:
    """A label file of traced labels: ``dumps_labels(labels_document(...))``, byte for byte.

    Parameters
    ----------
    image_filename : str or None
        Name of the tile image the labels annotate.
    labels : iterable of TracedLabel
        E.g. from :func:`trace_labels`.
    tile : mapping, optional
        The extra ``"tile"`` block, as in :func:`labels_document`.

    Returns
    -------
    bytes
        Compact UTF-8 JSON, identical to encoding the labels' dicts with
        :func:`dumps_labels`, about four times faster (no per-vertex dicts).
    """
    text = ('{"image_filename":' + _json_text(image_filename) + ',"completed_tasks":[],"labels":['
            + ",".join(t.to_json_text() for t in labels) + "]")
    if tile is not None:
        text += ',"tile":' + _json_text(dict(tile))
    return (text + "}").encode("utf-8")


# ---------------------------------------------------------------------------
# reading and validating label files
# ---------------------------------------------------------------------------


def where_text(path: Any) -> str:
    if path is None:
        return "<labels>"
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)


def label_name(label: Mapping, index: str) -> str:
    oid = label.get("object_id")
    return f"label {index} (object_id {oid!r})" if oid is not None else f"label {index}"


def _check_point(pt: Any, where: str, what: str) -> None:
    if not isinstance(pt, Mapping) or "x" not in pt or "y" not in pt:
        raise LabelFileError(f"{where}: {what}: a vertex is not an object with 'x' and 'y'")
    for key in ("x", "y"):
        v = pt[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise LabelFileError(f"{where}: {what}: vertex {key}={v!r} is not a finite number")


_NUMBER_TYPES = frozenset({int, float})


def _check_points(points: Any, where: str, what: str) -> None:
    if not isinstance(points, list):
        raise LabelFileError(f"{where}: {what}: a region is not a list of vertices")
    # the common, valid case in a few C-level passes; anything odd takes the
    # vertex-by-vertex path, which names the problem
    try:
        if not all(type(pt) is dict for pt in points):
            raise TypeError
        coords = [pt["x"] for pt in points] + [pt["y"] for pt in points]
        types = set(map(type, coords))
        if not types <= _NUMBER_TYPES:
            raise TypeError
        if float in types and not np.isfinite(np.array(coords, float)).all():
            raise TypeError
    except (TypeError, KeyError, OverflowError):
        for pt in points:
            _check_point(pt, where, what)


def _check_label(label: Any, where: str, index: str) -> None:
    if not isinstance(label, Mapping):
        raise LabelFileError(f"{where}: label {index} is not an object")
    ltype = label.get("label_type")
    if not isinstance(ltype, str):
        raise LabelFileError(f"{where}: label {index} has no string 'label_type'")
    what = label_name(label, index)
    cls = label.get("label_class")
    if cls is not None and not isinstance(cls, str):
        raise LabelFileError(f"{where}: {what}: 'label_class' is not a string or null")
    if ltype == "polygon":
        if "regions" in label:
            regions = label["regions"]
            if not isinstance(regions, list):
                raise LabelFileError(f"{where}: {what}: 'regions' is not a list")
            for region in regions:
                _check_points(region, where, what)
        elif "vertices" in label:
            _check_points(label["vertices"], where, what)
        else:
            raise LabelFileError(f"{where}: {what}: polygon has neither 'regions' nor 'vertices'")
    elif ltype == "group":
        comps = label.get("component_models", [])
        if not isinstance(comps, list):
            raise LabelFileError(f"{where}: {what}: 'component_models' is not a list")
        for j, comp in enumerate(comps):
            _check_label(comp, where, f"{index}.{j}")


def validate_document(js: Any, where: str) -> dict:
    if isinstance(js, list):  # oldest format: a bare list of labels
        doc: dict[str, Any] = {"image_filename": None, "completed_tasks": [], "labels": js}
    elif isinstance(js, dict):
        if "labels" not in js:
            raise LabelFileError(f"{where}: no 'labels' list (not a Django-Labeller label file?)")
        doc = dict(js)
        if "completed_tasks" not in doc:
            doc["completed_tasks"] = ["finished"] if doc.pop("complete", False) is True else []
        doc.setdefault("image_filename", None)
    else:
        raise LabelFileError(
            f"{where}: expected a JSON object with a 'labels' list, got {type(js).__name__}"
        )
    if not isinstance(doc["labels"], list):
        raise LabelFileError(f"{where}: 'labels' is a {type(doc['labels']).__name__}, not a list")
    if doc["image_filename"] is not None and not isinstance(doc["image_filename"], str):
        raise LabelFileError(f"{where}: 'image_filename' is not a string")
    if not isinstance(doc["completed_tasks"], list):
        raise LabelFileError(f"{where}: 'completed_tasks' is not a list")
    for i, label in enumerate(doc["labels"]):
        _check_label(label, where, str(i))
    return doc


def read_labels_json(path: str | os.PathLike) -> dict:
    """Read and validate a Django-Labeller ``__labels.json`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    dict
        The document, always with ``image_filename`` (str or None),
        ``completed_tasks`` (list) and ``labels`` (list); other top-level keys
        are kept. The old formats are accepted: a bare list of labels, the
        ``complete`` flag, and polygons with ``vertices`` (one region) instead
        of ``regions`` (labels themselves are returned unchanged). Vertex
        coordinates are ``x`` = column, ``y`` = row, in tile pixels.

    Raises
    ------
    LabelFileError
        If the file cannot be read, is not UTF-8 JSON, or is not a label
        document (message: ``"<path>: <problem>"``).
    """
    where = where_text(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise LabelFileError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{where}: not UTF-8 text (not a JSON label file?)") from exc
    if not text.strip():
        raise LabelFileError(f"{where}: empty file")
    try:
        js = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelFileError(
            f"{where}: malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise LabelFileError(f"{where}: malformed JSON: nested too deeply") from exc
    return validate_document(js, where)


# ---------------------------------------------------------------------------
# labels -> mask (Django-Labeller's rendering)
# ---------------------------------------------------------------------------


class TracedLabel(NamedTuple):
    """One polygon label as traced: its regions still ``(N, 2)`` int32 arrays.

    :meth:`to_dict` is the Django-Labeller label; :func:`encode_traced_labels`
    writes a whole label file from traced labels without building those dicts
    (the export's hot path).
    """

    label_class: str | None
    source: str
    object_id: str
    #: outer boundary first, then the holes; ``(x, y)`` pixel centres, tile pixels
    regions: list[np.ndarray]

    def to_dict(self) -> dict:
        """The label as Django-Labeller stores it (see :func:`mask_to_labels`)."""
        return {
            "label_type": "polygon",
            "label_class": self.label_class,
            "source": self.source,
            "anno_data": {},
            "object_id": self.object_id,
            "regions": [_region_json(r) for r in self.regions],
        }

    def to_json_text(self) -> str:
        """``dumps_labels(self.to_dict())`` as text, byte for byte."""
        return ('{"label_type":"polygon","label_class":' + _json_text(self.label_class)
                + ',"source":' + _json_text(self.source) + ',"anno_data":{},"object_id":'
                + _json_text(self.object_id) + ',"regions":['
                + ",".join(map(_region_text, self.regions)) + "]}")


def trace_labels(
    mask: Any,
    *,
    label_class: str | None = "axon",
    source: str = "auto:unknown",
    id_prefix: str = "",
    first_id: int = 0,
) -> list[TracedLabel]:
    """:func:`mask_to_labels` with each label's regions left as arrays.

    Same parameters and order as :func:`mask_to_labels`.
    """
    return [TracedLabel(label_class, source, f"{id_prefix}{k}", regions)
            for k, regions in enumerate(mask_to_regions(mask), start=first_id)]
