"""Predicted class maps against ground truth, read from two exports or two single-image files.

What ``napari-axons score PREDICTED --truth TRUTH`` computes (:func:`compare`).
Each side is

* an **export folder** (or its ``manifest.json``): its tiles with a label file
  or a mask, read by the export's one reader (:mod:`.tilelist`: the label file
  wins over the mask; label files and masks in their conventional places count
  even when the manifest does not list them, as training reads corrections);
  tiles are matched **by name** between the two exports, and the zero padding
  of a tile hanging over its image's border (an image smaller than a tile) is
  not scored; or
* **one image**: a mask image (:func:`~napari_axons.core.labels.read_mask_image`:
  palette or grey PNG, TIFF, AxonDeepSeg's 0/127/255 levels) or a
  Django-Labeller ``__labels.json`` file (sized by the image beside it, its
  ``tile`` block, or else the other side's mask image).

An export against **one image** (the mask of the whole image the export was
tiled from, or the other way round): the image's class map is cut by each
exported tile's box and scored tile by tile, exactly as two exports are
(:mod:`.imagegrid`: which of the export's images the file belongs to, the map
resampled from the source size onto the working grid when the export was
downsampled, the zero padding of a tile hanging over the image's border left
out). The tiles scored are the export's tiles of that image with a label file
or mask; a label file for the whole image is drawn at the source size when
nothing beside it gives its size.

Classes are matched **by name** (index 0 is the background on both sides,
whatever its name): the figures use the truth's class order and names. A
predicted class the truth has no class of that name for is an error; a truth
class the prediction lacks is scored as never predicted (with a note). A mask
image read as plain indices has no names: its indices are those of the other
side's table (two nameless sides: ``class_1``, ...).

Tiles on one side only are left out, with one note per side; no tile in
common is an error. Figures: :mod:`napari_axons.core.labels.scores` (pixel IoU
and Dice per class, objects matched at IoU >= 0.5), per tile and overall.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..common import ClassTable, safe_child
from ..labels import (
    MASK_IMAGE_SUFFIXES,
    LabelFileError,
    Scores,
    labels_to_class_map,
    read_labels_json,
    read_mask_image,
    score_pairs,
)
from ..labels.scores import MATCH_IOU
from .imagegrid import ScoreInputError, match_image, on_working_grid, tile_windows
from .manifest import MANIFEST_NAME, ImageEntry, load_manifest
from .tilelist import LABELS_SUFFIX, ExportedTile, TileClasses, exported_tiles, iter_tile_masks

__all__ = ["Comparison", "ScoreInputError", "compare"]

#: How many tile names a note lists before "...".
_LISTED = 5


@dataclass
class Comparison:
    """The scores of a prediction against its truth.

    Attributes
    ----------
    predicted, truth : Path
        The two inputs as given.
    scores : Scores
        Per tile (in :attr:`tiles` order) and overall; class names are the truth's.
    tiles : list of str
        The names of the tiles scored (a single image: the truth's file name).
    notes : list of str
        Tiles on one side only (one line per side).
    warnings : list of str
        What reading the files noticed (labels that cannot be drawn, classes added).
    """

    predicted: Path
    truth: Path
    scores: Scores
    tiles: list[str]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The comparison as plain JSON types.

        ``{"predicted", "truth", "match_iou", "classes", "overall", "tiles":
        [{"name", "classes"}, ...], "notes", "warnings"}``.
        ``overall`` and each tile's ``classes`` map a class name to its
        ``iou``, ``dice`` (None where the class is in neither map) and, for
        the foreground classes, ``precision``, ``recall``, ``f1`` and
        ``objects`` (``matched``, ``predicted``, ``true``).
        """
        doc = self.scores.to_json()
        return {"predicted": str(self.predicted), "truth": str(self.truth),
                "match_iou": MATCH_IOU, "classes": doc["classes"], "overall": doc["overall"],
                "tiles": [{"name": n, "classes": f} for n, f in
                          zip(self.tiles, doc["tiles"], strict=True)],
                "notes": list(self.notes), "warnings": list(self.warnings)}


def compare(predicted: str | os.PathLike, truth: str | os.PathLike) -> Comparison:
    """Score ``predicted`` against ``truth`` (rules in the module docstring).

    Parameters
    ----------
    predicted, truth : path
        Each an export folder (or its ``manifest.json``), a mask image
        (``.png``, ``.tif``, ``.tiff``) or a ``__labels.json`` file.

    Returns
    -------
    Comparison

    Raises
    ------
    ScoreInputError
        Unknown kind of input, no tile in common, a single image that belongs to
        none (or several) of an export's images, a predicted class the truth
        lacks, a tile or image of another size on the other side, a class index
        the other side has no class for.
    ManifestError, ExportError, LabelFileError, ClassMaskError
        An unreadable or malformed export, label file or mask image (each one
        line naming the file).
    """
    pred, true = Path(predicted), Path(truth)
    kinds = (_kind(pred, "PREDICTED"), _kind(true, "TRUTH"))
    if kinds[0] == "export" and kinds[1] == "export":
        return _compare_exports(pred, true)
    if "export" in kinds:
        return _compare_export_image(pred, true, predicted_is_export=kinds[0] == "export")
    return _compare_images(pred, true)


def _kind(path: Path, role: str) -> str:
    if path.is_dir() or path.name == MANIFEST_NAME:
        return "export"
    if path.name.endswith(LABELS_SUFFIX):
        return "labels"
    if path.suffix.lower() in MASK_IMAGE_SUFFIXES:
        return "image"
    if not path.exists():
        raise ScoreInputError(f"{path}: no such file or folder")
    raise ScoreInputError(f"{path}: {role} is not an export folder, a mask image "
                          f"({', '.join(MASK_IMAGE_SUFFIXES)}) or a {LABELS_SUFFIX} file")


# --------------------------------------------------------------------------- classes by name


def _lut(pred: tuple[str, ...], truth: tuple[str, ...], pred_path: Path,
         truth_path: Path) -> np.ndarray:
    """``lut[k]`` = the truth's index of the predicted class ``k`` (uint8, 256 entries).

    Raises
    ------
    ScoreInputError
        A predicted class the truth has no class of that name for.
    """
    unknown = [n for n in pred[1:] if n not in truth[1:]]
    if unknown:
        raise ScoreInputError(
            f"{pred_path}: class{'es' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"{'are' if len(unknown) > 1 else 'is'} not in the truth's classes "
            f"({', '.join(truth[1:])} in {truth_path}); classes are matched by name")
    lut = np.zeros(256, np.uint8)
    for k, name in enumerate(pred[1:], start=1):
        lut[k] = truth.index(name)
    return lut


def _unpredicted(pred: tuple[str, ...], truth: tuple[str, ...], pred_path: Path) -> list[str]:
    """A note for the truth's classes the prediction does not have (scored as never predicted)."""
    missing = [n for n in truth[1:] if n not in pred[1:]]
    if not missing:
        return []
    return [f"{pred_path} has no class {' or '.join(map(repr, missing))}: scored as never "
            "predicted"]


def _check_indices(cmap: np.ndarray, n: int, path: Path, names: tuple[str, ...]) -> None:
    top = int(cmap.max(initial=0))
    if top >= n:
        raise ScoreInputError(f"{path}: holds class index {top}, but the classes are 0-{n - 1} "
                              f"({', '.join(names)})")


# --------------------------------------------------------------------------- two exports


@dataclass
class _Export:
    path: Path
    tiles: dict[str, ExportedTile]
    classes: TileClasses
    warnings: list[str]
    fallback: tuple[str, ...] | None = None
    entry: ImageEntry | None = None
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # tile -> working image

    @classmethod
    def open(cls, path: Path, image=None) -> _Export:
        """The export at ``path``: all its tiles with a label file or mask, or only those of
        one image (``image``: a callable picking the :class:`ImageEntry` from the manifest)."""
        manifest = load_manifest(path)
        entry: ImageEntry | None = image(manifest) if image is not None else None
        tiles: dict[str, ExportedTile] = {}
        shapes: dict[str, tuple[int, int]] = {}
        for img in exported_tiles(manifest, manifest.folder, beside=True):
            if entry is not None and img.entry is not entry:
                continue
            for t in img.tiles:
                if t.name not in tiles:
                    tiles[t.name], shapes[t.name] = t, tuple(img.shape)
        name = manifest.options.get("label_class")
        fallback = ClassTable.from_names([name]).names if isinstance(name, str) and name else None
        return cls(path, tiles, TileClasses(manifest.classes), [], fallback, entry, shapes)

    def image_part(self, name: str, cmap: np.ndarray) -> np.ndarray:
        """The part of tile ``name``'s class map over image pixels: the zero padding of a tile
        hanging over the working image's border is not scored."""
        windows = tile_windows(self.tiles[name], self.shapes[name])
        return cmap if windows is None else cmap[windows[0]]

    def names(self) -> tuple[str, ...]:
        """The class names so far: the manifest's table, else the label files' classes, else
        the export's one ``label_class``."""
        if not self.classes.known and self.fallback is not None and not self.classes.named:
            return tuple(self.fallback)
        return tuple(self.classes.table.names)

    def read(self, name: str) -> np.ndarray:
        """The class map of tile ``name`` (an error naming the file when it cannot be read)."""
        t = self.tiles[name]
        before = len(self.warnings)
        (_, cmap), = iter_tile_masks([t], self.warnings, self.classes)
        if cmap is None:
            raise ScoreInputError(self.warnings[before].removesuffix("; skipped")
                                  if len(self.warnings) > before else
                                  f"{self.path}: tile {name}: no label file or mask")
        return cmap

    def settle_classes(self, names: list[str]) -> None:
        """Without a class table in the manifest: read the tiles ``names`` once, so that the
        table (built from their label classes in order of first appearance) is whole before
        any tile is scored."""
        if not self.classes.known:
            for n in names:
                self.read(n)


def _compare_exports(pred_path: Path, truth_path: Path) -> Comparison:
    pred, truth = _Export.open(pred_path), _Export.open(truth_path)
    common = [n for n in truth.tiles if n in pred.tiles]
    notes = []
    for side, other in ((pred, truth), (truth, pred)):
        only = [n for n in side.tiles if n not in other.tiles]
        if only:
            listed = ", ".join(only[:_LISTED]) + (", ..." if len(only) > _LISTED else "")
            label = "labelled " if side is truth else "segmented "
            notes.append(f"{side.path}: {len(only)} {label}tile{'s' if len(only) != 1 else ''} "
                         f"not in {other.path} ({listed}); scored over the "
                         f"{len(common)} in common")
    if not common:
        raise ScoreInputError(
            f"no tile in common: {pred_path} has {_count(pred.tiles, 'segmented')}, "
            f"{truth_path} has {_count(truth.tiles, 'labelled')}, none with the same name")
    pred.settle_classes(common)
    truth.settle_classes(common)
    names = truth.names()

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for n in common:
            p, t = pred.read(n), truth.read(n)
            lut = _lut(pred.names(), truth.names(), pred_path, truth_path)
            if truth.names() != names:
                raise ScoreInputError(f"{_file(truth.tiles[n])}: adds class(es) "
                                      f"{', '.join(truth.names()[len(names):])}")
            if p.shape != t.shape:
                raise ScoreInputError(
                    f"tile {n}: {_file(pred.tiles[n])} is {p.shape[1]} x {p.shape[0]} px but "
                    f"{_file(truth.tiles[n])} is {t.shape[1]} x {t.shape[0]} px")
            yield lut[truth.image_part(n, p)], truth.image_part(n, t)

    _lut(pred.names(), names, pred_path, truth_path)  # an error before any tile is scored
    scores = score_pairs(pairs(), names)
    notes += _unpredicted(pred.names(), names, pred_path)
    return Comparison(pred_path, truth_path, scores, common, notes,
                      pred.warnings + truth.warnings)


def _count(tiles: dict, what: str) -> str:
    return f"{len(tiles)} {what} tile{'s' if len(tiles) != 1 else ''}"


def _file(t: ExportedTile) -> Path:
    return t.labels if t.labels is not None and t.labels.is_file() else t.mask


# --------------------------------------------------------------------------- two single images


@dataclass
class _Single:
    path: Path
    cmap: np.ndarray | None
    names: tuple[str, ...] | None
    doc: dict | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path) -> _Single:
        if not path.name.endswith(LABELS_SUFFIX):
            m = read_mask_image(path)
            return cls(path, m.class_map, m.names)
        doc = read_labels_json(path)
        single = cls(path, None, None, doc)
        shape = _labels_shape(path, doc)
        if shape is not None:
            single.render(shape)
        return single

    def render(self, shape: tuple[int, int]) -> None:
        cmap, table, notes = labels_to_class_map(self.doc, shape, None, path=self.path)
        self.cmap, self.notes = cmap, notes
        self.names = tuple(table.names) if self.doc["labels"] else None


def _labels_shape(path: Path, doc: dict) -> tuple[int, int] | None:
    """``(height, width)`` of a label file's image: the image beside it, else its ``tile`` block."""
    name = doc.get("image_filename")
    stem = path.name[: -len(LABELS_SUFFIX)]
    candidates = [safe_child(path.parent, name, what="image_filename", error=LabelFileError)] \
        if isinstance(name, str) and name else []
    candidates.append(path.parent / f"{stem}.png")
    for image in candidates:
        if image.is_file():
            try:
                with Image.open(image) as im:
                    return im.height, im.width
            except Exception as exc:
                raise LabelFileError(f"{image}: the image of {path} cannot be read "
                                     f"({type(exc).__name__})") from None
    tile = doc.get("tile")
    if isinstance(tile, dict) and all(isinstance(tile.get(k), int) and tile[k] > 0
                                      for k in ("height", "width")):
        return tile["height"], tile["width"]
    return None


def _compare_images(pred_path: Path, truth_path: Path) -> Comparison:
    pred, truth = _Single.open(pred_path), _Single.open(truth_path)
    for side, other in ((pred, truth), (truth, pred)):
        if side.cmap is None:
            if other.cmap is None:
                raise ScoreInputError(f"{side.path}: cannot tell the image's size (no image "
                                      "beside it, no tile size in it)")
            side.render(other.cmap.shape)
    if pred.cmap.shape != truth.cmap.shape:
        raise ScoreInputError(
            f"{pred_path} is {pred.cmap.shape[1]} x {pred.cmap.shape[0]} px but {truth_path} is "
            f"{truth.cmap.shape[1]} x {truth.cmap.shape[0]} px")
    p, notes = pred.cmap, []
    if truth.names is not None and pred.names is not None:
        names = truth.names
        p = _lut(pred.names, names, pred_path, truth_path)[p]
        notes = _unpredicted(pred.names, names, pred_path)
    else:
        names = truth.names or pred.names
        if names is None:
            top = max(int(pred.cmap.max(initial=0)), int(truth.cmap.max(initial=0)), 1)
            names = ("background", *(f"class_{k}" for k in range(1, top + 1)))
    for side in (pred, truth):
        _check_indices(side.cmap, len(names), side.path, names)
    scores = score_pairs([(p, truth.cmap)], names)
    return Comparison(pred_path, truth_path, scores, [truth_path.name], notes,
                      pred.notes + truth.notes)


# --------------------------------------------------------------------------- an export and one image


def _compare_export_image(pred_path: Path, truth_path: Path, *,
                          predicted_is_export: bool) -> Comparison:
    """An export against the class map of one whole image, cut by the export's tile boxes."""
    ex_path, one_path = (pred_path, truth_path) if predicted_is_export else (truth_path, pred_path)
    ex = _Export.open(ex_path, lambda manifest: match_image(manifest, ex_path, one_path))
    entry = ex.entry
    if not ex.tiles:
        raise ScoreInputError(f"{ex_path}: image {entry.base} has no tile with a label file or "
                              "mask")
    one = _Single.open(one_path)
    if one.cmap is None:  # a label file with nothing to size it: the source image's size
        one.render((entry.source.height, entry.source.width))
    grid, resampled = on_working_grid(one.cmap, entry, ex_path, one_path)
    notes = [resampled] if resampled else []
    missing = len(entry.tiles) - len(ex.tiles)
    if missing:
        notes.append(f"{ex_path}: {missing} of the {len(entry.tiles)} tiles of {entry.base} "
                     f"{'have' if missing > 1 else 'has'} no label file or mask; scored over "
                     f"the {len(ex.tiles)} with one")
    windows = {n: w for n, t in ex.tiles.items()
               if (w := tile_windows(t, grid.shape)) is not None}
    order = list(windows)
    ex.settle_classes(order)
    ex_names = ex.names()
    lut_ex = lut_one = None  # each side's indices -> the figures' (the truth's) class indices
    if one.names is None:  # plain indices: the export's classes
        names = ex_names
        _check_indices(one.cmap, len(names), one_path, names)
    elif predicted_is_export:
        names = one.names
        lut_ex = _lut(ex_names, names, pred_path, truth_path)
        notes += _unpredicted(ex_names, names, pred_path)
    else:
        names = ex_names
        lut_one = _lut(one.names, names, pred_path, truth_path)
        notes += _unpredicted(one.names, names, pred_path)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for n in order:
            cmap = ex.read(n)
            if ex.names() != ex_names:
                raise ScoreInputError(f"{_file(ex.tiles[n])}: adds class(es) "
                                      f"{', '.join(ex.names()[len(ex_names):])}")
            tile_win, image_win = windows[n]
            a, b = cmap[tile_win], grid[image_win]
            if lut_ex is not None:
                a = lut_ex[a]
            if lut_one is not None:
                b = lut_one[b]
            yield (a, b) if predicted_is_export else (b, a)

    scores = score_pairs(pairs(), names)
    return Comparison(pred_path, truth_path, scores, order, notes, ex.warnings + one.notes)
