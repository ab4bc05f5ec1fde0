"""Polygon labels -> masks, exactly as Django-Labeller renders them.

How Django-Labeller renders a polygon label (``image_labelling_tool``,
``PolygonLabel._render_mask``): every region with at least 3 vertices is drawn
with Pillow ``ImageDraw.polygon(points, outline=1, fill=1)``; a label with
several regions is the XOR of its regions; labels are combined by union.
Pillow's filled polygon includes the pixels its edges pass through, so a
polygon whose vertices are the centres of a shape's boundary pixels covers the
shape exactly, as long as every edge is horizontal, vertical or diagonal.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from .labelfile import label_name, validate_document, where_text

__all__ = ["Canvas", "render_label", "labels_to_mask"]


def _polygon_regions(label: Mapping) -> list[list[tuple[float, float]]]:
    regions_js = [label["vertices"]] if "vertices" in label else label["regions"]
    return [[(float(v["x"]), float(v["y"])) for v in region] for region in regions_js]


class Canvas:
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


def render_label(
    label: Mapping, canvas: Canvas, warnings: list[str], index: str
) -> None:
    ltype = label.get("label_type")
    if ltype == "polygon":
        canvas.polygon(label)
    elif ltype == "group":
        for j, comp in enumerate(label.get("component_models", [])):
            render_label(comp, canvas, warnings, f"{index}.{j}")
    else:
        warnings.append(
            f"{label_name(label, index)}: label type {ltype!r} cannot be rasterised "
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
    where = where_text(path)
    doc = validate_document(doc_or_labels, where)
    h, w = (int(s) for s in shape)
    if h < 0 or w < 0:
        raise ValueError(f"shape must be non-negative, got {shape}")
    warnings: list[str] = []
    if h == 0 or w == 0:
        return np.zeros((h, w), np.uint8), warnings
    wanted = None if label_classes is None else set(label_classes)
    canvas = Canvas(h, w)
    for i, label in enumerate(doc["labels"]):
        if wanted is not None and label.get("label_class") not in wanted:
            continue
        render_label(label, canvas, warnings, str(i))
    return canvas.result().astype(np.uint8) * np.uint8(255), warnings
