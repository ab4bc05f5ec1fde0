"""Masks from the lab's other tools into a session's mask store: QuPath GeoJSON, OME-Zarr labels,
mask images.

Functions over a :class:`~.session.Session` (its methods :meth:`~.session.Session.load_geojson`
and :meth:`~.session.Session.load_ngff_labels` call these), the siblings of
:func:`.session_io.load_masks` (which loads an export's tiles):

* **QuPath GeoJSON** (:func:`load_geojson`): polygons in full-resolution slide
  pixels (:func:`~.geojson.read_geojson`, checked with shapely; coordinates
  outside the image are an error) are painted into the store of the current
  downsample factor, in working pixels: a working pixel takes an object's class
  when the slide point under its centre is inside the object
  (:func:`~.geojson.rasterize_geojson`). Objects paint over what the store
  holds; pixels outside every object (and inside holes) keep their masks.
* **OME-Zarr labels** (:func:`load_ngff_labels`): a label group of the
  session's own OME-Zarr image (``IMAGE.zarr/labels/NAME``) replaces the whole
  store (labels cover the whole image), each working pixel taking the label
  under its centre (:func:`~.ngff_labels.ngff_labels_into`).
* **A mask image** (:func:`load_mask_image`): a whole-image mask file
  (AxonDeepSeg's ``*_seg-axonmyelin*.png`` levels, grey or palette class
  indices, 0/255; :func:`~napari_axons.core.labels.read_mask_image`) of the
  source image's size (resampled onto the working grid by class shares) or of
  the working image's replaces the whole store. AxonDeepSeg's levels are the
  classes ``myelin`` and ``axon``; index values are the session's class
  indices (values beyond its table become ``class_K``); a 0/255 mask is its
  class 1.
* **Classes** by name, through the session's class table: names it lacks are
  appended with the file's colours (``add_classes=True``, the default; the
  session's table grows, indices already used never change) or refused
  (``add_classes=False``: one line naming the class). An unclassified GeoJSON
  object is the one class of a one-class table, else class ``"object"``; a
  one-class label group loads into a one-class table as that class whatever
  its name.
* **Hand edits**, as :func:`.session_io.load_masks`: tiles over edited pixels
  that the loaded masks would cover raise :class:`~.session_rules.EditsInTheWay`
  (naming the tiles) unless ``overwrite_edits`` (the edits there are replaced
  and forgotten) or ``keep_edits`` (edited pixels keep their values).
* Afterwards the display pyramid is brought up to date and the statuses
  refreshed: each tile that received loaded pixels is "segmented" (or "edited"
  where kept edits remain); its masks' source is "manual" in exports.

Memory: one region of ``chunk`` x ``chunk`` working pixels at a time, plus
the GeoJSON's geometries.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import ClassTable
from ..formats import (
    GeoJSONError,
    geojson_table,
    ngff_labels_into,
    ome_attrs,
    rasterize_geojson,
    read_geojson,
    read_ngff_labels,
)
from ..geometry import class_map_on_grid
from ..labels import read_mask_image
from .rules import EditsInTheWay, SessionError

__all__ = ["ForeignLoading", "LoadSummary"]

#: The value a GeoJSON region starts as: pixels still holding it were not painted.
_UNPAINTED = 255


@dataclass
class LoadSummary:
    """What a load put into the store.

    Attributes
    ----------
    source : Path
        The file or label group loaded.
    objects : int
        GeoJSON: the polygon features painted; labels: the distinct label values met.
    tiles : list of int
        Tiles of the current grid that received loaded pixels.
    added : list of str
        Class names appended to the session's class table.
    notes : list of str
        One line per feature skipped (points, lines).
    """

    source: Path
    objects: int
    tiles: list = field(default_factory=list)
    added: list = field(default_factory=list)
    notes: list = field(default_factory=list)


class _Writer:
    """Writes loaded regions into the session's store, honouring the hand edits.

    Records which tiles of the current grid received pixels, and reports
    ``progress(done, total)`` per region of the ``chunk`` grid.
    """

    def __init__(self, session, *, keep_edits: bool, chunk: int,
                 progress: Callable[[int, int], None] | None):
        self.s, self.keep_edits, self.chunk, self.progress = session, keep_edits, chunk, progress
        self.shape = session.working_shape
        self.nx = max(1, math.ceil(self.shape[1] / chunk))
        self.total = max(1, math.ceil(self.shape[0] / chunk)) * self.nx
        g = session.grid.tiles
        self._boxes = np.array([(t.y, t.x, t.y1, t.x1) for t in g], np.int64).reshape(-1, 4)
        self.touched = np.zeros(len(g), bool)

    def put(self, y0: int, x0: int, values: np.ndarray, painted: np.ndarray) -> None:
        s, (h, w) = self.s, values.shape
        y1, x1 = y0 + h, x0 + w
        if not s.edits.empty:
            if self.keep_edits:
                edited, _ = s.edits.project(y0, x0, y1, x1, self.shape)
                painted = painted & ~edited
            else:  # replaced (the caller checked, or was told to overwrite them)
                s.edits.clear(y0, x0, y1, x1, self.shape, where=painted)
        if painted.any():
            s.store.write(y0, x0, values, keep=None if painted.all() else ~painted, pyramid=False)
            rows, cols = np.flatnonzero(painted.any(axis=1)), np.flatnonzero(painted.any(axis=0))
            py0, px0, py1, px1 = y0 + rows[0], x0 + cols[0], y0 + rows[-1] + 1, x0 + cols[-1] + 1
            s.changed_elsewhere(py0, px0, py1, px1, edited=False)
            b = self._boxes
            near = np.flatnonzero((b[:, 0] < py1) & (py0 < b[:, 2]) & (b[:, 1] < px1) & (px0 < b[:, 3])
                                  & ~self.touched)
            for i in near:
                ty0, tx0, ty1, tx1 = b[i]
                sub = painted[max(ty0 - y0, 0): max(ty1 - y0, 0), max(tx0 - x0, 0): max(tx1 - x0, 0)]
                self.touched[i] = bool(sub.any())
        if self.progress is not None:
            self.progress((y0 // self.chunk) * self.nx + x0 // self.chunk + 1, self.total)

    def finish(self) -> list[int]:
        """Statuses of the tiles written, the pyramid and "edited" marks; returns those tiles."""
        s = self.s
        s.classes_fixed = True
        tiles = [int(i) for i in np.flatnonzero(self.touched)]
        for i in tiles:
            b = s.grid[i]
            s.made_by.pop(i, None)  # a mask from elsewhere: not ours to name
            s.status[i] = "edited" if s.edits.any_in(b.y, b.x, b.y1, b.x1, self.shape) else "segmented"
        s.store.update_pyramid()
        s.refresh_edited()
        if self.progress is not None:
            self.progress(self.total, self.total)
        return tiles


class _PaintTarget:
    """What :func:`~.geojson.rasterize_geojson` paints into: blank regions, painted pixels kept."""

    def __init__(self, writer: _Writer):
        self.writer = writer
        self.shape = writer.shape

    def read(self, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        return np.full((y1 - y0, x1 - x0), _UNPAINTED, np.uint8)

    def write(self, y0: int, x0: int, region: np.ndarray, pyramid: bool = False) -> None:
        self.writer.put(y0, x0, region, region != _UNPAINTED)

    def update_pyramid(self) -> None:  # the writer's finish() does it once
        pass


class _LabelTarget:
    """What :func:`~.ngff_labels.ngff_labels_into` writes into: label values mapped to classes.

    A value the label group's metadata does not name (``class_K``) gets a class
    of that name when first met.
    """

    def __init__(self, writer: _Writer, lut: np.ndarray, known: int, grow: Callable):
        self.writer, self.lut, self.known, self.grow = writer, lut, known, grow
        self.shape = writer.shape
        self.seen = np.zeros(256, bool)

    def __setitem__(self, key, values) -> None:
        ys, xs = key
        values = np.asarray(values)
        present = np.unique(values)
        self.seen[present] = True
        new = [int(v) for v in present if v >= self.known and not self.lut[v]]
        if new:
            self.grow(new)
        self.writer.put(ys.start, xs.start, self.lut[values], np.ones(values.shape, bool))


def _check_edits(session, tiles: list[int], what: str, overwrite_edits: bool,
                 keep_edits: bool) -> None:
    if overwrite_edits or keep_edits or session.edits.empty:
        return
    edited = session.edited_tiles(tiles)
    if edited:
        raise EditsInTheWay(edited, what)


def _add_names(table: ClassTable, names: list[str], colours: dict[str, tuple], where: str,
               add_classes: bool) -> tuple[ClassTable, list[str]]:
    """``table`` plus ``names`` it lacks (with ``colours``), or a refusal naming them."""
    missing = [n for n in dict.fromkeys(names) if n not in table.names]
    if not missing:
        return table, []
    if not add_classes:
        raise SessionError(f"{where}: class(es) {', '.join(missing)} not in the session's class "
                           f"table ({', '.join(table.foreground)})")
    grown = table.with_names(missing)
    cols = [colours.get(n, c) if k >= len(table) else c
            for k, (n, c) in enumerate(zip(grown.names, grown.colours, strict=True))]
    return ClassTable(grown.names, tuple(cols)), missing


def _values_in(level, chunk: int) -> list[int]:
    """The distinct values of a 2-D array, read ``chunk`` x ``chunk`` at a time."""
    seen: set[int] = set()
    h, w = level.shape[:2]
    for y0 in range(0, h, chunk):
        for x0 in range(0, w, chunk):
            seen.update(int(v) for v in np.unique(np.asarray(level[y0:y0 + chunk, x0:x0 + chunk])))
    return sorted(seen)


class ForeignLoading:
    """:class:`~.session.Session`'s loads from GeoJSON, OME-Zarr labels and mask images (a mixin)."""

    def load_geojson(self, path: str | os.PathLike, *, overwrite_edits: bool = False,
                     keep_edits: bool = False, add_classes: bool = True, chunk: int = 2048,
                     progress: Callable[[int, int], None] | None = None) -> LoadSummary:
        """Paint a (QuPath) GeoJSON file's polygons into the session's mask store.

        Parameters
        ----------
        session : Session
        path : path
            A GeoJSON ``FeatureCollection`` (or list of features) in full-resolution
            slide pixels, e.g. QuPath's "Export objects as GeoJSON".
        overwrite_edits, keep_edits : bool
            What to do with hand-edited pixels under the objects (see the module doc).
        add_classes : bool
            Append class names the session's table lacks (True) or refuse them.
        chunk : int
            Side of the regions painted at a time, in working pixels.
        progress : callable, optional
            ``progress(done, total)`` over the regions of the working image.

        Returns
        -------
        LoadSummary

        Raises
        ------
        GeoJSONError
            Unreadable or invalid GeoJSON (one line naming the file and the
            feature), coordinates outside the image, no polygons.
        SessionError
            An unknown class with ``add_classes=False``.
        EditsInTheWay
            Tiles under the objects hold hand edits and neither flag is given
            (nothing is written).
        """
        import shapely

        path = Path(path)
        src = self.source
        notes: list[str] = []
        objects = read_geojson(path, image_size=(src.height, src.width), notes=notes)
        if not objects:
            raise GeoJSONError(f"{path}: no Polygon or MultiPolygon features")
        base = self.classes
        grown = geojson_table(objects, base)
        colours = dict(zip(grown.names, grown.colours, strict=True))
        names = [n for n in grown.names if n not in base.names]
        table, added = _add_names(base, names, colours, str(path), add_classes)
        sy, sx = self.working.scale_y, self.working.scale_x
        tree = shapely.STRtree([o.geometry for o in objects])
        boxes = [shapely.box(t.x * sx, t.y * sy, t.x1 * sx, t.y1 * sy) for t in self.grid]
        hit, _ = tree.query(boxes, predicate="intersects")
        _check_edits(self, sorted({int(i) for i in hit}), "loading the GeoJSON's objects",
                     overwrite_edits, keep_edits)
        self.classes = table
        writer = _Writer(self, keep_edits=keep_edits and not overwrite_edits, chunk=chunk,
                         progress=progress)
        rasterize_geojson(objects, _PaintTarget(writer), table, scale=(sy, sx), chunk=chunk, path=path)
        return LoadSummary(path, len(objects), writer.finish(), added, notes)

    def image_label_names(self) -> list[str]:
        """The label groups of the session's image (``[]``: none, or not an OME-Zarr image)."""
        if self.in_memory or not Path(self.path).is_dir():
            return []
        import zarr

        try:
            names = ome_attrs(dict(zarr.open_group(str(Path(self.path) / "labels"), mode="r").attrs))
        except Exception:
            return []
        return [str(n) for n in names.get("labels", []) if isinstance(n, str)]

    def load_ngff_labels(self, name: str | None = None, *, overwrite_edits: bool = False,
                         keep_edits: bool = False, add_classes: bool = True, chunk: int = 2048,
                         progress: Callable[[int, int], None] | None = None) -> LoadSummary:
        """Replace the session's mask store with a label group of its own OME-Zarr image.

        Parameters
        ----------
        session : Session
            A session over an OME-Zarr image (NGFF 0.4 or 0.5, 2-D).
        name : str, optional
            The label group (``IMAGE.zarr/labels/NAME``); default: ``napari-axons``
            when the image has it, else its first label group.
        overwrite_edits, keep_edits, add_classes, chunk, progress
            As for :func:`load_geojson`.

        Returns
        -------
        LoadSummary
            ``objects`` is the number of distinct label values met (background included).

        Raises
        ------
        SessionError
            The session's image is not an OME-Zarr image, or an unknown class with
            ``add_classes=False`` (values the metadata does not name, ``class_K``,
            are then looked for in the whole of level 0 before anything is written).
        NgffError
            No such label group, or labels that are not class indices (values above 255).
        EditsInTheWay
            The image holds hand edits and neither flag is given (nothing is written).
        """
        image = Path(self.path)
        if self.in_memory or not image.is_dir():
            raise SessionError(f"{image}: not an OME-Zarr image; OME-Zarr labels load only into the "
                               "session of the OME-Zarr image they belong to")
        if name is None:
            names = self.image_label_names()
            name = "napari-axons" if "napari-axons" in names else None
        labels = read_ngff_labels(image, name)
        where = str(image / "labels" / labels.name)
        ltab, base = labels.classes, self.classes
        if ltab.is_binary and base.is_binary:  # one class: that class, whatever its name
            table, added = base, []
            lut_names = [base.names[0], base.names[1]]
        else:
            colours = dict(zip(ltab.names[1:], ltab.colours[1:], strict=True))
            table, added = _add_names(base, list(ltab.foreground), colours, where, add_classes)
            lut_names = list(ltab.names)
        if not add_classes:  # refused before anything is written: every value must be named
            unnamed = [v for v in _values_in(labels.levels[0], chunk) if v >= len(lut_names)]
            _add_names(table, [f"class_{v}" for v in unnamed], {}, where, False)
        lut = np.zeros(256, np.uint8)
        for k, n in enumerate(lut_names[1:], start=1):
            lut[k] = table.index_of(n)
        _check_edits(self, list(range(len(self.grid))), "loading the OME-Zarr labels",
                     overwrite_edits, keep_edits)
        self.classes = table

        def grow(values: list[int]) -> None:  # values the metadata does not name
            grown, more = _add_names(self.classes, [f"class_{v}" for v in values], {}, where,
                                     add_classes)
            self.classes = grown
            added.extend(more)
            for v in values:
                lut[v] = grown.index_of(f"class_{v}")

        writer = _Writer(self, keep_edits=keep_edits and not overwrite_edits, chunk=chunk,
                         progress=progress)
        target = _LabelTarget(writer, lut, len(lut_names), grow)
        ngff_labels_into(labels, target, chunk=chunk)
        return LoadSummary(Path(where), int(target.seen.sum()), writer.finish(), added, [])

    def load_mask_image(self, path: str | os.PathLike, *, overwrite_edits: bool = False,
                        keep_edits: bool = False, add_classes: bool = True, chunk: int = 2048,
                        progress: Callable[[int, int], None] | None = None) -> LoadSummary:
        """Replace the session's mask store with a whole-image mask file (rules in the module doc).

        Parameters
        ----------
        path : path
            A ``.png``, ``.tif`` or ``.tiff`` mask of the whole image: the source
            image's size or the working image's, in pixels.
        overwrite_edits, keep_edits, add_classes, chunk, progress
            As for :func:`load_geojson`.

        Returns
        -------
        LoadSummary
            ``objects`` is the number of classes met (background not counted).

        Raises
        ------
        ClassMaskError
            Not a mask image (a micrograph, colour, too many values; one line).
        SessionError
            Another size than the image's, or a class the table lacks with
            ``add_classes=False``.
        EditsInTheWay
            The image holds hand edits and neither flag is given (nothing is written).
        """
        path = Path(path)
        mask = read_mask_image(path)
        cmap = mask.class_map
        src, working = self.source, tuple(self.working_shape)
        on_grid = class_map_on_grid(cmap, (src.height, src.width), working)
        if on_grid is None:
            sizes = f"{src.width} x {src.height} px" + (
                "" if working == (src.height, src.width)
                else f" ({working[1]} x {working[0]} px as shown)")
            raise SessionError(f"{path}: is {cmap.shape[1]} x {cmap.shape[0]} px but the image "
                               f"is {sizes}")
        cmap = on_grid[0]
        base = self.classes
        lut = np.zeros(256, np.uint8)
        if mask.names is not None:  # AxonDeepSeg's levels: by name
            table, added = _add_names(base, list(mask.names[1:]), {}, str(path), add_classes)
            for k, name in enumerate(mask.names[1:], start=1):
                lut[k] = table.index_of(name)
        elif mask.rule == "binary":
            table, added = base, []
            lut[1] = 1
        else:
            top = int(cmap.max(initial=0))
            extra = [f"class_{v}" for v in range(len(base), top + 1)]
            table, added = _add_names(base, extra, {}, str(path), add_classes)
            lut[: len(table)] = np.arange(len(table), dtype=np.uint8)
        _check_edits(self, list(range(len(self.grid))), "loading the mask image",
                     overwrite_edits, keep_edits)
        self.classes = table
        writer = _Writer(self, keep_edits=keep_edits and not overwrite_edits, chunk=chunk,
                         progress=progress)
        mapped = lut[cmap]
        for y0 in range(0, working[0], chunk):
            for x0 in range(0, working[1], chunk):
                region = mapped[y0:y0 + chunk, x0:x0 + chunk]
                writer.put(y0, x0, region, np.ones(region.shape, bool))
        met = int(np.count_nonzero(np.bincount(mapped.ravel(), minlength=2)[1:]))
        return LoadSummary(path, met, writer.finish(), added, [])
