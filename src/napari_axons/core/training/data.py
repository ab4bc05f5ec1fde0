"""Training data: labelled tiles of one or more exports, their class table, the split.

A *labelled tile* is a tile PNG with a label file (``{stem}__labels.json``,
polygons) or, failing that, a mask PNG (``masks/{stem}_mask.png``). A tile with
neither is unlabelled and not used; a label file with an empty ``labels`` list
means "all background" (a corrected tile with nothing on it is still a lesson).

Where the class table comes from, per export: the manifest's top-level
``"classes"`` list when it has one; else the ``label_class`` names of its label
files (in order of first appearance); else ``--classes``; else the seed's
table (background + ``axon``). Tables given by manifests must agree between
exports (same names, same indices); names found only in label files are added
after them.

Exports without a manifest (the seed's folders) are read too: every
``*_tile_NNNN.png`` with its label file or mask beside it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import DEFAULT_TABLE, ClassTable, ClassTableError, ExportError, safe_child
from ..labels.class_masks import decode_class_mask, label_class_names, labels_to_class_map
from ..labels.labelfile import LabelFileError, read_labels_json

__all__ = ["LabelledTile", "TrainingData", "TrainingDataError", "collect", "load_tile",
           "overlap_groups", "split_tiles"]

LABELS_SUFFIX = "__labels.json"
_TILE_RE = re.compile(r"^(?P<base>.+)_tile_(?P<index>\d{4,})\.png$")


class TrainingDataError(ValueError):
    """The training data cannot be used (one line for the user, naming the file)."""


@dataclass(frozen=True)
class LabelledTile:
    """One tile with labels.

    Attributes
    ----------
    export : Path
        The export folder.
    image : str
        The image's base name in the export.
    index : int
        Tile index in the export's grid order.
    box : tuple of int
        ``(y, x, height, width)`` in working-image pixels (``(0, 0, h, w)``
        and ``None`` size when unknown: an export without manifest).
    tile, labels, mask : Path or None
        The tile PNG, its label file, its mask PNG (labels win when both exist).
    """

    export: Path
    image: str
    index: int
    box: tuple[int, int, int, int] | None
    tile: Path
    labels: Path | None
    mask: Path | None

    @property
    def name(self) -> str:
        return self.tile.name

    @property
    def group_key(self) -> tuple[str, str]:
        """Tiles of one image of one export can overlap; others never do."""
        return (str(self.export), self.image)


@dataclass
class TrainingData:
    """What :func:`collect` found.

    Attributes
    ----------
    classes : ClassTable
    tiles : list of LabelledTile
        Labelled tiles, by export then grid order.
    exports : list of dict
        Per export: ``folder``, ``tiles`` (all), ``labelled``, ``pixel_size_um``
        (working-image pixels; None when unknown).
    """

    classes: ClassTable
    tiles: list[LabelledTile]
    exports: list[dict] = field(default_factory=list)

    def pixel_size_um(self) -> float | None:
        """The exports' common pixel size in micrometres (None: unknown or mixed)."""
        sizes = {e["pixel_size_um"] for e in self.exports if e["labelled"]}
        if len(sizes) == 1:
            (s,) = sizes
            return s
        return None


# --------------------------------------------------------------------------- reading exports


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as exc:
        raise TrainingDataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise TrainingDataError(f"{path}: not a UTF-8 text file") from None
    if not isinstance(doc, dict):
        raise TrainingDataError(f"{path}: expected a JSON object")
    return doc


def _inside(folder: Path, rel: str, what: str) -> Path:
    try:
        return safe_child(folder, rel, what=what)
    except ExportError as exc:
        raise TrainingDataError(str(exc)) from None


def _beside(folder: Path, stem: str) -> tuple[Path | None, Path | None]:
    """The label file and mask of a tile named by convention, when they exist."""
    labels = folder / f"{stem}{LABELS_SUFFIX}"
    mask = folder / "masks" / f"{stem}_mask.png"
    return (labels if labels.is_file() else None), (mask if mask.is_file() else None)


def _pixel_size(entry: dict) -> float | None:
    """Working-image pixel size (um) of a manifest image entry (``working.pixel_size``).

    ``{"x_um", "y_um", "origin"}`` as :meth:`~napari_axons.core.common.PixelSize.to_json`
    writes it; the mean of x and y when they differ; None when not recorded.
    """
    ps = (entry.get("working") or {}).get("pixel_size")
    if not isinstance(ps, dict):
        return None
    x, y = ps.get("x_um"), ps.get("y_um", ps.get("x_um"))
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (x, y))
    return round((float(x) + float(y)) / 2, 12) if ok else None


def _export_tiles(folder: Path) -> tuple[list[LabelledTile], int, ClassTable | None, float | None]:
    """``(labelled tiles, number of tiles, manifest table, pixel size)`` of one export."""
    if not folder.exists():
        raise TrainingDataError(f"{folder}: no such export folder")
    if not folder.is_dir():
        raise TrainingDataError(f"{folder}: not a folder (expected an export folder)")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return _seed_folder_tiles(folder)
    manifest = _read_json(manifest_path)
    table = None
    if manifest.get("classes") is not None:
        try:
            table = ClassTable.from_json(manifest["classes"], where=str(manifest_path))
        except ClassTableError as exc:
            raise TrainingDataError(str(exc)) from None
    images = manifest.get("images")
    if not isinstance(images, list):
        raise TrainingDataError(f"{manifest_path}: malformed manifest: 'images' is not a list")
    out, n_tiles, sizes = [], 0, set()
    for k, entry in enumerate(images):
        try:
            base = str(entry["base"])
            for t in entry["tiles"]:
                n_tiles += 1
                files = t.get("files") or {}
                tile = _inside(folder, files["tile"], "tile file")
                stem = tile.name[: -len(".png")]
                labels, mask = _beside(folder, stem)
                if files.get("labels") and labels is None:
                    p = _inside(folder, files["labels"], "labels file")
                    labels = p if p.is_file() else None
                if files.get("mask") and mask is None:
                    p = _inside(folder, files["mask"], "mask file")
                    mask = p if p.is_file() else None
                if labels is None and mask is None:
                    continue
                box = t["box"]
                out.append(LabelledTile(folder, base, int(t["index"]),
                                        (int(box["y"]), int(box["x"]),
                                         int(box["height"]), int(box["width"])),
                                        tile, labels, mask))
            sizes.add(_pixel_size(entry))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, TrainingDataError):
                raise
            raise TrainingDataError(f"{manifest_path}: malformed manifest: image {k}: "
                                    f"{type(exc).__name__}: {exc}") from None
    pixel = sizes.pop() if len(sizes) == 1 else None
    return out, n_tiles, table, pixel


def _seed_folder_tiles(folder: Path):
    out, n_tiles = [], 0
    for p in sorted(folder.iterdir()):
        m = _TILE_RE.match(p.name)
        if not m or not p.is_file():
            continue
        n_tiles += 1
        labels, mask = _beside(folder, p.name[: -len(".png")])
        if labels is None and mask is None:
            continue
        out.append(LabelledTile(folder, m["base"], int(m["index"]), None, p, labels, mask))
    if n_tiles == 0:
        raise TrainingDataError(f"{folder}: not an export (no manifest.json and no "
                                "*_tile_NNNN.png tiles)")
    return out, n_tiles, None, None


def _label_names(path: Path) -> list[str]:
    try:
        doc = read_labels_json(path)
    except LabelFileError as exc:
        raise TrainingDataError(str(exc)) from None
    return label_class_names(doc["labels"])


def corrected_by_hand(tiles) -> tuple[int, int]:
    """``(corrected, auto)``: label-file tiles holding a hand-made label, and those holding only
    a model's (every label's ``source`` is ``auto:...``: the draft, never corrected).

    Tiles with a mask PNG only, or a label file with no labels, count in neither.
    """
    corrected = auto = 0
    for t in tiles:
        if t.labels is None:
            continue
        try:
            sources = {str(lab.get("source", "")) for lab in read_labels_json(t.labels)["labels"]}
        except LabelFileError:
            continue
        if not sources:
            continue
        if all(src.startswith("auto:") for src in sources):
            auto += 1
        else:
            corrected += 1
    return corrected, auto


def collect(exports, *, classes: ClassTable | None = None) -> TrainingData:
    """Find the labelled tiles and the class table of one or more exports.

    Parameters
    ----------
    exports : sequence of path
        Export folders (with ``manifest.json``, or the seed's flat folders).
    classes : ClassTable, optional
        The table to use when neither manifests nor label files name the
        classes (mask PNGs only); with names in label files it must hold them.

    Returns
    -------
    TrainingData

    Raises
    ------
    TrainingDataError
        A missing or malformed export, an export with no labelled tile, class
        tables that disagree between manifests, a label class outside the
        given table.
    """
    if not exports:
        raise TrainingDataError("no export folder given")
    tiles: list[LabelledTile] = []
    table: ClassTable | None = None
    table_from: Path | None = None
    summaries = []
    per_export = []
    for e in exports:
        folder = Path(e).expanduser()
        found, n_tiles, mtable, pixel = _export_tiles(folder)
        if not found:
            raise TrainingDataError(
                f"{folder}: no labelled tile ({n_tiles} tiles, none with a __labels.json "
                "or masks/*_mask.png beside it)")
        if mtable is not None:
            if table is None:
                table, table_from = mtable, folder
            elif mtable.names != table.names:
                raise TrainingDataError(
                    f"{folder}: its classes ({', '.join(mtable.names)}) disagree with those of "
                    f"{table_from} ({', '.join(table.names)}); train on exports of one class table")
        per_export.append(found)
        summaries.append({"folder": str(folder.resolve()), "tiles": n_tiles,
                          "labelled": len(found), "pixel_size_um": pixel})
        tiles.extend(found)
    # names used in label files, in order of first appearance
    names: list[str] = []
    for t in tiles:
        if t.labels is not None:
            for n in _label_names(t.labels):
                if n not in names:
                    names.append(n)
    if table is not None:
        unknown = [n for n in names if n not in table.names]
        if unknown:
            # a manifest table is the truth of its export: names beyond it are a mismatch
            where = next(t.labels for t in tiles if t.labels is not None
                         and any(n in unknown for n in _label_names(t.labels)))
            raise TrainingDataError(
                f"{where}: label class {unknown[0]!r} is not in the class table of "
                f"{table_from} ({', '.join(table.foreground)})")
    elif classes is not None:
        unknown = [n for n in names if n not in classes.names]
        if unknown:
            raise TrainingDataError(f"label class {unknown[0]!r} is not among the given classes "
                                    f"({', '.join(classes.foreground)})")
        table = classes
    elif names:
        table = ClassTable.from_names(names)
    else:
        table = DEFAULT_TABLE
    return TrainingData(table, tiles, summaries)


# --------------------------------------------------------------------------- pixels


def _read_png(path: Path, mode: str | None = None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if mode == "RGB" and im.mode != "RGB":
                im = im.convert("RGB")
            return np.array(im)
    except (OSError, UnidentifiedImageError, SyntaxError) as exc:
        raise TrainingDataError(f"{path}: cannot read the image ({exc})") from None


def load_tile(tile: LabelledTile, classes: ClassTable) -> tuple[np.ndarray, np.ndarray]:
    """The tile's pixels and its class map.

    Returns
    -------
    image : numpy.ndarray
        ``(H, W, 3)`` uint8.
    class_map : numpy.ndarray
        ``(H, W)`` uint8 class indices of ``classes``. From polygons:
        :func:`~napari_axons.core.labels.class_masks.labels_to_class_map` (Django-Labeller's
        rendering). From a mask PNG:
        :func:`~napari_axons.core.labels.class_masks.decode_class_mask` (a palette PNG's
        indices; a 0/255 mask is class 1 where non-zero).

    Raises
    ------
    TrainingDataError
        An unreadable file, a mask of another size, a mask value outside the table.
    """
    image = _read_png(tile.tile, "RGB")
    h, w = image.shape[:2]
    if tile.labels is not None:
        try:
            doc = read_labels_json(tile.labels)
            class_map, _, _ = labels_to_class_map(doc, (h, w), classes, path=tile.labels)
        except LabelFileError as exc:
            raise TrainingDataError(str(exc)) from None
        return image, class_map
    try:
        mask, _ = decode_class_mask(tile.mask)
    except (OSError, ValueError) as exc:
        raise TrainingDataError(f"{tile.mask}: cannot read the mask ({exc})") from None
    if mask.shape != (h, w):
        raise TrainingDataError(f"{tile.mask}: mask is {mask.shape[1]} x {mask.shape[0]}, its tile "
                                f"{w} x {h}")
    if int(mask.max()) >= len(classes):
        raise TrainingDataError(f"{tile.mask}: mask value {int(mask.max())} is not a class "
                                f"(the table has {len(classes)} classes)")
    return image, mask


# --------------------------------------------------------------------------- the split


def overlap_groups(tiles: list[LabelledTile]) -> list[list[int]]:
    """Indices of ``tiles`` grouped so that overlapping tiles share a group.

    Tiles overlap when their boxes in the same image intersect (shifted edge
    tiles, tiles with overlap). Groups are in order of their first tile.
    """
    parent = list(range(len(tiles)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_image: dict = {}
    for i, t in enumerate(tiles):
        by_image.setdefault(t.group_key, []).append(i)
    for idx in by_image.values():
        for a_pos, a in enumerate(idx):
            ba = tiles[a].box
            if ba is None:
                continue
            for b in idx[a_pos + 1:]:
                bb = tiles[b].box
                if bb is None:
                    continue
                if (ba[0] < bb[0] + bb[2] and bb[0] < ba[0] + ba[2]
                        and ba[1] < bb[1] + bb[3] and bb[1] < ba[1] + ba[3]):
                    parent[find(a)] = find(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(tiles)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def split_tiles(tiles: list[LabelledTile], *, val_fraction: float = 0.2,
                seed: int = 0) -> tuple[list[LabelledTile], list[LabelledTile]]:
    """Split labelled tiles into training and validation tiles, by overlap group.

    Overlapping tiles always land on the same side, so no validation pixel is
    also a training pixel. At least one group goes to each side when there are
    two or more; the choice is random but fixed by ``seed``, smaller groups
    first (so the held-out share stays near ``val_fraction``).

    Raises
    ------
    TrainingDataError
        With a single group (nothing to validate on): use ``--val``.
    """
    groups = overlap_groups(tiles)
    if len(groups) < 2:
        raise TrainingDataError(
            f"only {len(tiles)} labelled tile(s), all overlapping: nothing to hold out for "
            "validation; label more tiles or give --val EXPORT_DIR")
    rng = np.random.default_rng([seed, 7])
    target = max(1, round(val_fraction * len(tiles)))
    val_idx: list[int] = []
    # random order, smaller groups first: a few tiles that overlap in big groups (shifted
    # edge tiles of a small image) do not send most of them to validation
    order = sorted(rng.permutation(len(groups)).tolist(), key=lambda g: len(groups[g]))
    for n_taken, g in enumerate(order):
        if len(val_idx) >= target or n_taken == len(groups) - 1:
            break  # enough held out; the last group always trains
        val_idx.extend(groups[g])
    val_set = set(val_idx)
    return ([t for i, t in enumerate(tiles) if i not in val_set],
            [t for i, t in enumerate(tiles) if i in val_set])
