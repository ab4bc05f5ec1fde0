"""Masks <-> Django-Labeller polygon labels, pixel exact.

Coordinate convention everywhere in this module: a vertex is ``(x, y)`` where
``x`` is the column and ``y`` the row, in tile pixels, and the point ``(x, y)``
is the *centre* of that pixel. Masks are indexed ``mask[y, x]``.

How Django-Labeller renders a polygon label (``image_labelling_tool``,
``PolygonLabel._render_mask``): every region with at least 3 vertices is drawn
with Pillow ``ImageDraw.polygon(points, outline=1, fill=1)``; a label with
several regions is the XOR of its regions; labels are combined by union.
Pillow's filled polygon includes the pixels its edges pass through, so a
polygon whose vertices are the centres of a shape's boundary pixels covers the
shape exactly, as long as every edge is horizontal, vertical or diagonal.

The converter (:func:`mask_to_regions`) therefore writes, per 8-connected
component:

* the outer boundary: an 8-connected trace through the centres of the
  component's boundary pixels (OpenCV ``findContours``, Suzuki-Abe, whose
  collinear-run compression keeps only the corners);
* one region per hole (a 4-connected background area enclosed by the
  component), traced with 4-connectivity through the centres of the *hole's*
  boundary pixels, so that the XOR removes exactly the hole. A hole that
  touches the component only diagonally is traced correctly: the trace runs on
  a 2x "plus-skeleton" of the hole in which 8-adjacency means 4-adjacency of
  the original pixels.

Regions with fewer than 3 distinct vertices (a single pixel, a straight 1-px
line) are padded to 3 vertices because Django-Labeller skips shorter regions.
Objects that sit inside a hole are separate components, hence separate labels,
and the union of labels restores them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw

__all__ = [
    "LabelFileError",
    "TracedLabel",
    "dumps_labels",
    "encode_traced_labels",
    "labels_document",
    "labels_to_mask",
    "mask_to_labels",
    "mask_to_regions",
    "read_labels_json",
    "trace_labels",
]


class LabelFileError(ValueError):
    """A label file (or label document) that cannot be used.

    The message is one line: ``"<path>: <problem>"``.
    """


# ---------------------------------------------------------------------------
# mask -> regions
# ---------------------------------------------------------------------------


def _as_binary(mask: Any) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D (rows, columns), got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return arr.view(np.uint8) if arr.flags.c_contiguous else arr.astype(np.uint8)
    return (arr != 0).astype(np.uint8)


def _pad_region(pts: np.ndarray) -> np.ndarray:
    """Give a region at least 3 vertices (Django-Labeller skips shorter ones)."""
    n = len(pts)
    if n == 1:
        return np.repeat(pts, 3, axis=0)
    if n == 2:
        return pts[[0, 1, 0]]
    return pts


def _cyclic_neighbours(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the previous / next vertex in concatenated closed paths."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    idx = np.arange(int(ends[-1]) if len(ends) else 0)
    nxt = idx + 1
    nxt[ends - 1] = starts
    prv = idx - 1
    prv[starts] = ends - 1
    return prv, nxt


def _split(points: np.ndarray, keep: np.ndarray, lengths: np.ndarray):
    """Apply ``keep`` to concatenated paths; return the new points and lengths."""
    cid = np.repeat(np.arange(len(lengths)), lengths)
    new_lengths = np.bincount(cid[keep], minlength=len(lengths))
    return points[keep], new_lengths


def _trace_holes_4(holes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outer boundaries of the 4-connected components of ``holes``.

    Returns the boundaries concatenated (an (N, 2) int32 array of (x, y) pixel
    centres in the coordinates of ``holes``) and their lengths. Each is a
    4-connected trace, with the corners that a
    diagonal edge may cut (the corner pixel stays inside the polygon) cut and
    straight runs compressed.
    """
    rows = np.flatnonzero(holes.any(axis=1))  # the bounding box, without np.nonzero's copy
    cols = np.flatnonzero(holes.any(axis=0))
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    h = holes[y0:y1, x0:x1].astype(bool)
    hh, ww = h.shape
    # Plus-skeleton at twice the resolution: pixel (x, y) -> (2x+1, 2y+1); two
    # 4-neighbours joined by the point between them. 8-adjacency in the skeleton
    # is 4-adjacency in ``h`` (two hole pixels that touch only diagonally stay
    # two points apart). The zero frame keeps every trace off the array edge.
    sk = np.zeros((2 * hh + 1, 2 * ww + 1), np.uint8)
    sk[1:-1:2, 1:-1:2] = h
    hp = h[:, :-1] & h[:, 1:]
    sk[1:-1:2, 2:-2:2] = hp
    sk[2:-2:2, 1:-1:2] = h[:-1, :] & h[1:, :]
    # Fill the point between four hole pixels, so that a solid area stays
    # solid (no inner borders for OpenCV to follow).
    sk[2:-2:2, 2:-2:2] = hp[:-1, :] & hp[1:, :]
    import cv2  # here, not at import: importing cv2 sets LD_LIBRARY_PATH

    contours, hierarchy = cv2.findContours(sk, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    # Top level of RETR_CCOMP = every outer border, also those of holes that
    # lie inside objects inside other holes.
    contours = [c for c, hi in zip(contours, hierarchy[0], strict=True) if hi[3] == -1]
    lengths = np.array([len(c) for c in contours])
    pts = np.concatenate(contours).reshape(-1, 2)
    # Keep the pixel centres only.
    keep = ((pts[:, 0] % 2) == 1) & ((pts[:, 1] % 2) == 1)
    pts, lengths = _split(pts, keep, lengths)
    pts = (pts - 1) // 2
    # Cut reflex corners between two unit axis steps: p -> c -> q becomes the
    # diagonal p -> q, and c lies on the inner side of it (OpenCV's outer
    # borders turn with a positive cross product at reflex corners).
    prv, nxt = _cyclic_neighbours(lengths)
    d_in = pts - pts[prv]
    d_out = pts[nxt] - pts
    unit_in = np.abs(d_in).sum(axis=1) == 1
    unit_out = np.abs(d_out).sum(axis=1) == 1
    cross = d_in[:, 0] * d_out[:, 1] - d_in[:, 1] * d_out[:, 0]
    cut = unit_in & unit_out & (cross > 0)
    cut &= ~cut[prv]  # never two neighbouring corners
    pts, lengths = _split(pts, ~cut, lengths)
    # Compress straight runs.
    prv, nxt = _cyclic_neighbours(lengths)
    d_in = pts - pts[prv]
    d_out = pts[nxt] - pts
    keep = np.any(d_in != d_out, axis=1)
    keep |= np.repeat(lengths <= 2, lengths)
    pts, lengths = _split(pts, keep, lengths)
    pts = pts.astype(np.int32)
    pts[:, 0] += x0
    pts[:, 1] += y0
    return pts, lengths


def mask_to_regions(mask: Any) -> list[list[np.ndarray]]:
    """Trace a mask into Django-Labeller polygon regions, pixel exact.

    Parameters
    ----------
    mask : array_like, shape (rows, columns)
        Nonzero pixels are foreground.

    Returns
    -------
    list of list of numpy.ndarray
        One entry per 8-connected foreground component, ordered by the
        component's first pixel in raster order (top row first, then
        leftmost). Each entry is a list of regions; each region is an
        ``(N, 2)`` int32 array of ``(x, y)`` vertices (``x`` = column,
        ``y`` = row, in tile pixels; a vertex is a pixel centre), N >= 3.
        The first region is the component's outer boundary, the others are
        its holes (background areas it encloses), ordered by their first
        pixel in raster order.

    Notes
    -----
    Rendering each region with Pillow ``ImageDraw.polygon(region, outline=1,
    fill=1)``, XOR-ing the regions of one component and taking the union
    over components (what Django-Labeller does) reproduces the mask pixel
    for pixel.
    """
    fg = _as_binary(mask)
    if not fg.any():
        return []
    import cv2  # here, not at import: importing cv2 sets LD_LIBRARY_PATH

    contours, hierarchy = cv2.findContours(fg, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    hier = hierarchy[0]
    outers = []
    has_holes = False
    for i, c in enumerate(contours):
        if hier[i, 3] == -1:
            p = c.reshape(-1, 2)
            outers.append(p)
        else:
            has_holes = True
    # Start point of an outer contour is the component's first raster pixel.
    outers.sort(key=lambda p: (int(p[0, 1]), int(p[0, 0])))
    comps: list[list[np.ndarray]] = [[_pad_region(p.astype(np.int32))] for p in outers]
    if not has_holes:
        return comps

    # Holes: 4-connected background components that do not touch the border.
    n_bg, bg_lab = cv2.connectedComponents(1 - fg, connectivity=4, ltype=cv2.CV_32S)
    border = np.zeros(n_bg, bool)
    border[bg_lab[0, :]] = True
    border[bg_lab[-1, :]] = True
    border[bg_lab[:, 0]] = True
    border[bg_lab[:, -1]] = True
    border[0] = True  # label 0 is foreground
    holes = np.take(~border, bg_lab)  # np.take: about twice as fast as indexing here
    if not holes.any():  # pragma: no cover - hierarchy said there are holes
        return comps
    _, fg_lab = cv2.connectedComponents(fg, connectivity=8, ltype=cv2.CV_32S)
    lut = np.full(int(fg_lab.max()) + 1, -1, np.int64)
    for k, p in enumerate(outers):
        lut[fg_lab[p[0, 1], p[0, 0]]] = k
    pts, lengths = _trace_holes_4(holes)
    # A hole's first raster pixel (smallest y * w + x) is a vertex of its
    # trace; the pixel above it belongs to the enclosing component.
    w = fg.shape[1]
    starts = np.cumsum(lengths) - lengths
    first = np.minimum.reduceat(pts[:, 1].astype(np.int64) * w + pts[:, 0], starts)
    parent = lut[fg_lab.ravel()[first - w]]
    holes_list = np.split(pts, starts[1:])
    for i in np.lexsort((first, parent)):
        comps[parent[i]].append(_pad_region(holes_list[i]))
    return comps


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


def _where(path: Any) -> str:
    if path is None:
        return "<labels>"
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)


def _label_name(label: Mapping, index: str) -> str:
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
    what = _label_name(label, index)
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


def _validate_document(js: Any, where: str) -> dict:
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
    where = _where(path)
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
    return _validate_document(js, where)


# ---------------------------------------------------------------------------
# labels -> mask (Django-Labeller's rendering)
# ---------------------------------------------------------------------------


def _polygon_regions(label: Mapping) -> list[list[tuple[float, float]]]:
    regions_js = [label["vertices"]] if "vertices" in label else label["regions"]
    return [[(float(v["x"]), float(v["y"])) for v in region] for region in regions_js]


class _Canvas:
    """Union of rendered labels, drawn as Django-Labeller draws them."""

    def __init__(self, h: int, w: int) -> None:
        self.h, self.w = h, w
        # Single-region labels are drawn straight into one image (union).
        self.union = Image.new("L", (w, h), 0)
        self.draw = ImageDraw.Draw(self.union)
        self.acc = np.zeros((h, w), bool)

    def polygon(self, label: Mapping) -> None:
        regions = [r for r in _polygon_regions(label) if len(r) >= 3]
        if len(regions) == 1:
            self.draw.polygon(regions[0], outline=1, fill=1)
        elif regions:
            self._xor(regions)

    def _xor(self, regions: list[list[tuple[float, float]]]) -> None:
        allv = np.array([v for r in regions for v in r])
        if np.all(allv == np.round(allv)):
            # Integer vertices: rendering is translation invariant, so render
            # in the label's bounding box (clipped to the image) only.
            x0 = max(int(allv[:, 0].min()), 0)
            y0 = max(int(allv[:, 1].min()), 0)
            x1 = min(int(allv[:, 0].max()) + 1, self.w)
            y1 = min(int(allv[:, 1].max()) + 1, self.h)
            if x0 >= x1 or y0 >= y1:
                return
            regions = [[(x - x0, y - y0) for x, y in r] for r in regions]
        else:
            x0, y0, x1, y1 = 0, 0, self.w, self.h
        size = (x1 - x0, y1 - y0)
        xor = None  # 1-bit images, XOR-ed by Pillow: one conversion to numpy per label
        for region in regions:
            img = Image.new("1", size, 0)
            ImageDraw.Draw(img).polygon(region, outline=1, fill=1)
            xor = img if xor is None else ImageChops.logical_xor(xor, img)
        self.acc[y0:y1, x0:x1] |= np.asarray(xor, dtype=bool)

    def result(self) -> np.ndarray:
        return self.acc | np.asarray(self.union, dtype=bool)


def _render_label(
    label: Mapping, canvas: _Canvas, warnings: list[str], index: str
) -> None:
    ltype = label.get("label_type")
    if ltype == "polygon":
        canvas.polygon(label)
    elif ltype == "group":
        for j, comp in enumerate(label.get("component_models", [])):
            _render_label(comp, canvas, warnings, f"{index}.{j}")
    else:
        warnings.append(
            f"{_label_name(label, index)}: label type {ltype!r} cannot be rasterised "
            "(only polygons and groups of polygons); skipped"
        )


def labels_to_mask(
    doc_or_labels: Any,
    shape: tuple[int, int],
    *,
    label_classes: Iterable[str | None] | None = None,
    path: str | os.PathLike | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Rasterise polygon labels exactly as Django-Labeller does.

    Parameters
    ----------
    doc_or_labels : dict or list
        A label document (``{"labels": [...], ...}``) or a list of labels.
        Polygons may use ``regions`` or the legacy ``vertices``; vertices are
        ``{"x": column, "y": row}`` in tile pixels (pixel centres).
    shape : tuple of int
        ``(rows, columns)`` of the mask. Vertices outside are clipped by the
        rendering.
    label_classes : iterable of str or None, optional
        If given, only top-level labels whose ``label_class`` is in it count
        (as Django-Labeller's ``render_label_classes``, a group's own class
        decides for all its members).
    path : str or os.PathLike, optional
        File the labels came from, used in error messages.

    Returns
    -------
    mask : numpy.ndarray
        ``uint8`` array of ``shape``, 255 inside a label, else 0. Each region
        is drawn with Pillow ``polygon(outline=1, fill=1)``; regions with fewer
        than 3 vertices are ignored; regions of one label are XOR-ed; labels
        are united.
    warnings : list of str
        One message per label that was skipped because its type (``point``,
        ``box``, ``oriented_ellipse``, ``composite``, unknown, ...) cannot be
        rasterised; it names the label type and object id.

    Raises
    ------
    LabelFileError
        If the document or a polygon is malformed (message
        ``"<path>: <problem>"``).
    """
    where = _where(path)
    doc = _validate_document(doc_or_labels, where)
    h, w = (int(s) for s in shape)
    if h < 0 or w < 0:
        raise ValueError(f"shape must be non-negative, got {shape}")
    warnings: list[str] = []
    if h == 0 or w == 0:
        return np.zeros((h, w), np.uint8), warnings
    wanted = None if label_classes is None else set(label_classes)
    canvas = _Canvas(h, w)
    for i, label in enumerate(doc["labels"]):
        if wanted is not None and label.get("label_class") not in wanted:
            continue
        _render_label(label, canvas, warnings, str(i))
    return canvas.result().astype(np.uint8) * np.uint8(255), warnings
