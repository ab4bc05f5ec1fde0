"""COCO instance annotations over an export's tiles, written and read back with pycocotools.

Writing (:func:`export_coco`): one ``annotations.json`` for every tile PNG
of an export that has masks:

* ``images``: ``{"id", "file_name", "width", "height"}``, ``file_name``
  relative to the export folder (the image root a trainer is given);
* ``categories``: the export's class table, ``id`` = class index (1, 2, ...),
  with its ``name`` and ``color`` (``[r, g, b]``);
* ``annotations``: one per object (an 8-connected component of one class) per
  tile, with ``bbox`` ``[x, y, width, height]``, ``area`` (its pixel count),
  ``iscrowd`` 0, and a ``segmentation``: polygons (one ``[x1, y1, x2, y2,
  ...]`` list per part, pixel-edge outlines in tile pixels) for objects
  without holes; COCO polygons cannot carry holes, so an object with holes is
  written as RLE (pycocotools ``mask.encode``; ``counts`` as a string), which
  is exact.

An object cut by a tile border is an object of each tile it is in (COCO's
images are the tiles). The file is written atomically.

Reading (:func:`read_coco`): pycocotools ``annToMask`` per annotation, painted
into a class map per image in annotation order; categories map to a class
table by name. Every image file must exist (one clear error otherwise).

pycocotools is part of the optional extra ``napari-axons[formats]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import ClassTable, ClassTableError, ExportError, atomic_write_bytes, parse_colour, safe_child
from ..export import open_export_slides
from ..labels import class_map_objects, polygons_of

__all__ = ["CocoError", "CocoSummary", "CocoImage", "CocoDataset", "export_coco", "read_coco",
           "coco_document"]


class CocoError(ValueError):
    """A COCO file that cannot be used: one line, ``"<path>: <problem>"``."""


def _pycocotools(what: str):
    try:
        from pycocotools import mask as mask_utils
    except ImportError:
        raise ExportError(f"{what} needs pycocotools: pip install 'napari-axons[formats]'") from None
    return mask_utils


@dataclass
class CocoSummary:
    """What :func:`export_coco` wrote."""

    path: Path
    n_images: int
    n_annotations: int
    n_rle: int
    warnings: list[str] = field(default_factory=list)


def _object_annotation(obj, labels, mask_utils, ann_id: int, image_id: int) -> dict:
    """A COCO annotation for one object of a tile (pixel-edge polygons, or RLE with holes)."""
    comp = labels[obj.class_index] == obj.label
    ys, xs = np.nonzero(comp)
    y0, x0 = int(ys.min()), int(xs.min())
    bbox = [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0]
    parts = polygons_of(obj.geometry)
    if any(len(p.interiors) for p in parts):
        rle = mask_utils.encode(np.asfortranarray(comp.astype(np.uint8)))
        segmentation = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
    else:
        segmentation = []
        for p in parts:
            c = np.asarray(p.exterior.coords)[:-1]  # COCO rings are not closed
            flat = c.ravel()
            segmentation.append([int(v) if float(v).is_integer() else float(v) for v in flat])
    return {"id": ann_id, "image_id": image_id, "category_id": obj.class_index,
            "segmentation": segmentation, "area": int(comp.sum()), "bbox": bbox, "iscrowd": 0}


def coco_document(slides, *, progress=None, warnings: list[str] | None = None) -> dict:
    """The COCO document of the tiles of ``slides`` (see the module docstring).

    Parameters
    ----------
    slides : list of ExportSlide
        From :func:`~napari_axons.core.export.classmaps.open_export_slides` (one
        class table).
    progress : callable, optional
        ``progress(done, total)`` after each tile.
    warnings : list of str, optional
        Receives one line per tile whose masks cannot be read.
    """
    mask_utils = _pycocotools("COCO export")
    warnings = [] if warnings is None else warnings
    classes = slides[0].classes if slides else ClassTable.from_names(["object"])
    images, annotations = [], []
    total = sum(len(s.tiles) for s in slides)
    done = 0
    for slide in slides:
        slide.classes = classes  # one table for every image; it grows as tiles demand
        for t, cmap in slide.iter_class_maps(warnings):
            done += 1
            if t.tile is None:
                continue
            image_id = len(images) + 1
            images.append({"id": image_id,
                           "file_name": t.tile.relative_to(slide.folder.resolve()).as_posix(),
                           "width": t.width, "height": t.height})
            if cmap is not None:
                objs, labels = class_map_objects(cmap, with_labels=True)
                for obj in objs:
                    annotations.append(_object_annotation(obj, labels, mask_utils,
                                                          len(annotations) + 1, image_id))
            if progress is not None:
                progress(done, total)
        classes = slide.classes
    categories = [{"id": k, "name": n, "supercategory": "object", "color": list(c)}
                  for k, (n, c) in enumerate(zip(classes.names, classes.colours, strict=True)) if k]
    return {"info": {"description": "napari-axons export", "version": "1.0"},
            "licenses": [], "images": images, "annotations": annotations, "categories": categories}


def export_coco(export_dir: str | os.PathLike, out: str | os.PathLike, *, progress=None) -> CocoSummary:
    """Write ``annotations.json`` (COCO instances) for every tile of an export with masks.

    Parameters
    ----------
    export_dir : path
        An export folder or its ``manifest.json``.
    out : path
        The COCO JSON file (replaced atomically).

    Returns
    -------
    CocoSummary

    Raises
    ------
    ExportError
        A missing or malformed manifest, an export without masks, an
        unwritable output, or pycocotools missing.
    """
    slides = [s for s in open_export_slides(export_dir) if s.tiles]
    if not slides:
        raise ExportError(f"{export_dir}: the export has no masks (tiles only); nothing to convert")
    warnings: list[str] = []
    doc = coco_document(slides, progress=progress, warnings=warnings)
    out = Path(out)
    atomic_write_bytes(out, json.dumps(doc, separators=(",", ":")).encode())
    n_rle = sum(isinstance(a["segmentation"], dict) for a in doc["annotations"])
    return CocoSummary(out, len(doc["images"]), len(doc["annotations"]), n_rle, warnings)


@dataclass
class CocoImage:
    """One image of a COCO file read back.

    Attributes
    ----------
    id : int
    file_name : str
    path : Path
        The image file (checked to exist).
    class_map : numpy.ndarray
        ``(height, width)`` uint8 class indices of :attr:`CocoDataset.classes`.
    """

    id: int
    file_name: str
    path: Path
    class_map: np.ndarray


@dataclass
class CocoDataset:
    """:func:`read_coco`'s result: the class table and the images with their class maps."""

    classes: ClassTable
    images: list[CocoImage]


def read_coco(path: str | os.PathLike, *, images_root: str | os.PathLike | None = None) -> CocoDataset:
    """Read COCO instance annotations into a class map per image (pycocotools ``annToMask``).

    Parameters
    ----------
    path : path
        A COCO JSON file.
    images_root : path, optional
        The folder ``file_name`` is relative to (default: the JSON file's folder).

    Returns
    -------
    CocoDataset
        Categories in id order become classes 1, 2, ... by name; where
        annotations overlap, the later one wins.

    Raises
    ------
    CocoError
        Unreadable or malformed JSON, an annotation of an unknown image or
        category, or image files that are missing (the message counts them and
        names the first).
    """
    _pycocotools("reading COCO")
    from pycocotools.coco import COCO

    path = Path(path)
    root = Path(images_root) if images_root is not None else path.parent
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CocoError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CocoError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list)
                                            for k in ("images", "annotations", "categories")):
        raise CocoError(f"{path}: not a COCO instances file (needs lists 'images', 'annotations' "
                        "and 'categories')")
    try:
        cats = sorted(doc["categories"], key=lambda c: int(c["id"]))
        names = [str(c["name"]) for c in cats]
        colours = [parse_colour(c["color"]) if c.get("color") is not None else None for c in cats]
        classes = ClassTable.from_names(names)
        if all(c is not None for c in colours) and colours:
            classes = ClassTable(classes.names, ((0, 0, 0), *colours))
        cat_index = {int(c["id"]): k + 1 for k, c in enumerate(cats)}
        images = doc["images"]
        paths, missing = [], []
        for im in images:
            p = safe_child(root, im["file_name"], what="image file", error=CocoError)
            paths.append(p)
            if not p.is_file():
                missing.append(im["file_name"])
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, CocoError):
            raise
        if isinstance(exc, ClassTableError):
            raise CocoError(f"{path}: categories: {exc}") from None
        raise CocoError(f"{path}: malformed COCO file ({type(exc).__name__}: {exc})") from None
    if missing:
        raise CocoError(f"{path}: {len(missing)} of {len(images)} images are missing under {root} "
                        f"(first: {missing[0]!r})")
    image_ids = {int(im["id"]) for im in images}
    for a in doc["annotations"]:
        if not isinstance(a, dict) or a.get("image_id") not in image_ids:
            raise CocoError(f"{path}: annotation {a.get('id') if isinstance(a, dict) else a!r} refers "
                            "to an image that is not in 'images'")
        if a.get("category_id") not in cat_index:
            raise CocoError(f"{path}: annotation {a.get('id')} has category {a.get('category_id')!r}, "
                            "which is not in 'categories'")
    coco = COCO()
    coco.dataset = doc
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco.createIndex()
    out = []
    for im, p in zip(images, paths, strict=True):
        h, w = _image_size(im, p, path)
        cmap = np.zeros((h, w), np.uint8)
        for ann in coco.imgToAnns.get(im["id"], []):
            try:
                m = coco.annToMask(ann)
            except Exception as exc:
                raise CocoError(f"{path}: annotation {ann.get('id')}: malformed segmentation "
                                f"({type(exc).__name__}: {exc})") from None
            cmap[m > 0] = cat_index[ann["category_id"]]
        out.append(CocoImage(int(im["id"]), str(im["file_name"]), p, cmap))
    return CocoDataset(classes, out)


def _image_size(im: dict, p: Path, path: Path) -> tuple[int, int]:
    """``(height, width)`` of a COCO image entry, from the file when the entry lacks it."""
    if isinstance(im.get("height"), int) and isinstance(im.get("width"), int):
        return im["height"], im["width"]
    from PIL import Image

    try:
        with Image.open(p) as img:
            return img.height, img.width
    except Exception as exc:
        raise CocoError(f"{path}: image {im.get('file_name')!r} has no size and cannot be read "
                        f"({type(exc).__name__})") from None
