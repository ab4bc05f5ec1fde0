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
table by name. Every image file must exist (one clear error otherwise). Ids
may be integers or strings; a rectangle-only annotation (empty
``segmentation`` plus ``bbox``) is its rectangle.

pycocotools is part of the optional extra ``napari-axons[formats]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import dataclass, field, replace
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
    n_left_out: int = 0


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
        Receives one line per tile left out: its tile image is missing (the
        file must list only images that exist, or COCO loaders refuse it), or
        its masks are missing or cannot be read (an image listed without
        annotations would say it has no objects).
    """
    mask_utils = _pycocotools("COCO export")
    warnings = [] if warnings is None else warnings
    classes = slides[0].classes if slides else ClassTable.from_names(["object"])
    images, annotations = [], []
    total = sum(len(s.tiles) for s in slides)
    done = 0
    for slide in slides:
        slide.classes = classes  # one table for every image; it grows as tiles demand
        present = [t for t in slide.tiles if _tile_listed(t, slide.folder, warnings)]
        done += len(slide.tiles) - len(present)
        slide = replace(slide, tiles=present)
        for t, cmap in slide.iter_class_maps(warnings):
            done += 1
            if cmap is None:
                warnings.append(f"tile {t.index} ({t.name}): left out of the COCO file (its masks "
                                "cannot be read)")
                continue
            image_id = len(images) + 1
            images.append({"id": image_id,
                           "file_name": t.tile.relative_to(slide.folder.resolve()).as_posix(),
                           "width": t.width, "height": t.height})
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


def _tile_listed(t, folder: Path, warnings: list[str]) -> bool:
    """Whether tile ``t`` goes into the COCO file: its image and its masks exist (else a warning)."""
    if t.tile is None:  # an export without tile images: nothing for COCO to point at
        return False
    if not t.tile.is_file():
        warnings.append(f"tile {t.index} ({t.name}): its image {t.tile.relative_to(folder.resolve())} "
                        "is missing; left out of the COCO file")
        return False
    if not any(f is not None and f.is_file() for f in (t.labels, t.mask)):
        warnings.append(f"tile {t.index} ({t.name}): no label file or mask; left out of the COCO file")
        return False
    return True


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
    n_tiles = sum(len(s.tiles) for s in slides)
    return CocoSummary(out, len(doc["images"]), len(doc["annotations"]), n_rle, warnings,
                       n_tiles - len(doc["images"]))


@dataclass
class CocoImage:
    """One image of a COCO file read back.

    Attributes
    ----------
    id : int or str
        As in the file (COCO's ids are integers; pycocotools and CVAT also read strings).
    file_name : str
    path : Path
        The image file (checked to exist).
    class_map : numpy.ndarray
        ``(height, width)`` uint8 class indices of :attr:`CocoDataset.classes`.
    """

    id: int | str
    file_name: str
    path: Path
    class_map: np.ndarray


@dataclass
class CocoDataset:
    """:func:`read_coco`'s result: the class table, the images with their class maps, and one
    note per annotation skipped (no segmentation and no usable bbox)."""

    classes: ClassTable
    images: list[CocoImage]
    notes: list[str] = field(default_factory=list)


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
        Unreadable or malformed JSON, an image or category id that is neither
        an integer nor a string (or used twice; the message names the field),
        an annotation of an unknown image or category, or image files that are
        missing (the message counts them and names the first).

    Notes
    -----
    What pycocotools and CVAT read is read: string ids, and rectangle-only
    annotations (an empty ``segmentation`` and a ``bbox``, as Label Studio
    writes rectangles) as their rectangle. An annotation with neither a
    segmentation nor a usable bbox is skipped with a line in
    :attr:`CocoDataset.notes`.
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
    images = doc["images"]
    image_ids = _ids(images, "images", path)
    cat_ids = _ids(doc["categories"], "categories", path)
    try:
        # categories in id order (numbers, then any string ids in file order)
        order = sorted(range(len(cat_ids)), key=lambda k: (isinstance(cat_ids[k], str),
                                                           0 if isinstance(cat_ids[k], str) else cat_ids[k]))
        cats = [doc["categories"][k] for k in order]
        names = [str(c["name"]) for c in cats]
        colours = [parse_colour(c["color"]) if c.get("color") is not None else None for c in cats]
        classes = ClassTable.from_names(names)
        if all(c is not None for c in colours) and colours:
            classes = ClassTable(classes.names, ((0, 0, 0), *colours))
        cat_index = {cat_ids[k]: i + 1 for i, k in enumerate(order)}
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
    known = set(image_ids)
    for a in doc["annotations"]:
        if not isinstance(a, dict) or not _is_id(a.get("image_id")) or a["image_id"] not in known:
            raise CocoError(f"{path}: annotation {a.get('id') if isinstance(a, dict) else a!r} refers "
                            f"to an image that is not in 'images' (image_id "
                            f"{a.get('image_id') if isinstance(a, dict) else None!r})")
        if not _is_id(a.get("category_id")) or a["category_id"] not in cat_index:
            raise CocoError(f"{path}: annotation {a.get('id')} has category {a.get('category_id')!r}, "
                            "which is not in 'categories'")
    notes: list[str] = []
    annotations = [_with_segmentation(a, path, notes) for a in doc["annotations"]]
    coco = COCO()
    coco.dataset = {**doc, "annotations": [a for a in annotations if a is not None]}
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
        out.append(CocoImage(im["id"], str(im["file_name"]), p, cmap))
    return CocoDataset(classes, out, notes)


def _is_id(value) -> bool:
    """A COCO id: an integer (the format's own), or a string (pycocotools and CVAT read them)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _ids(entries: list, what: str, path: Path) -> list:
    """The ``id`` of each entry of ``images`` or ``categories``, checked (unique, int or str).

    Raises
    ------
    CocoError
        ``"<path>: images[3].id: ..."``: not an object, no id, an id that is
        neither an integer nor a string, or one used twice.
    """
    ids, seen = [], set()
    for k, e in enumerate(entries):
        where = f"{path}: {what}[{k}]"
        if not isinstance(e, dict):
            raise CocoError(f"{where}: expected an object, got {type(e).__name__}")
        if "id" not in e:
            raise CocoError(f"{where}.id: missing")
        v = e["id"]
        if not _is_id(v):
            raise CocoError(f"{where}.id: expected an integer or a string, got {type(v).__name__} {v!r}")
        if v in seen:
            raise CocoError(f"{where}.id: {v!r} is used by an earlier entry too")
        seen.add(v)
        ids.append(v)
    return ids


def _with_segmentation(ann: dict, path: Path, notes: list[str]) -> dict | None:
    """``ann`` with a segmentation pycocotools can render.

    A rectangle-only annotation (``"segmentation": []`` or none, plus a
    ``bbox``, as Label Studio writes rectangles) becomes the rectangle's
    polygon ``[x, y, x, y + h, x + w, y + h, x + w, y]``, as pycocotools'
    ``loadRes`` turns boxes into segmentations (CVAT reads them as
    rectangles): its pixels are columns ``x .. x + w - 1`` and rows
    ``y .. y + h - 1``. Polygons with fewer than 3 points are dropped first.
    None (and a note) when nothing with an area is left.
    """
    seg = ann.get("segmentation")
    if isinstance(seg, list):
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6]
        if polys:
            return ann if len(polys) == len(seg) else {**ann, "segmentation": polys}
    elif seg is not None:
        return ann  # RLE: pycocotools reads it (or says why not)
    box = ann.get("bbox")
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        x = y = w = h = float("nan")
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        notes.append(f"{path}: annotation {ann.get('id')}: no segmentation and no usable bbox "
                     f"({box!r}); skipped")
        return None
    return {**ann, "segmentation": [[x, y, x, y + h, x + w, y + h, x + w, y]]}


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
