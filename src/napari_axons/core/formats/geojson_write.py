"""QuPath GeoJSON write: a whole slide's objects, in full-resolution pixels, in bounded memory.

What QuPath writes and reads (File > Export objects as GeoJSON / drag and
drop): a ``FeatureCollection`` (older versions: a plain list of features)
whose coordinates are pixels of the full-resolution image, origin at its
top-left corner, x to the right, y down. Each feature has ``properties`` with
``objectType`` (``"annotation"``, ``"detection"``, ``"cell"``...) and an
optional ``classification`` ``{"name": str, "color": [r, g, b]}`` (QuPath
before 0.4: ``"colorRGB"``, a packed int).

Writing (:func:`export_geojson`): one feature per object (an 8-connected
component of one class) of the slide's class map, whose pixel-edge outline
(:mod:`~napari_axons.core.labels.outlines`) covers exactly the object's pixels,
holes as interior rings. The slide's class map is the export's tiles with the
later tile winning where tiles overlap (:class:`~napari_axons.core.export.classmaps.ExportSlide`);
each tile contributes only the pixels it owns, so no pixel is written twice.
Objects that touch the border of their tile's owned area are held back and
merged with their neighbours across the border (shared edges cancelled and
rings re-linked, :func:`~napari_axons.core.labels.outlines.dissolve` and
:mod:`~napari_axons.core.labels.coverage`) as soon as no later tile can touch them, so
an object cut by tile borders is one feature. Memory: one tile, the objects
still open on tile borders, and the largest object (an object as large as the
slide, such as a connected network of filaments, is held whole: 620 MB at the
peak for one of 8 million vertices in 4019 pieces); each feature's coordinates
are streamed in chunks to a temporary file renamed into place at the end
(nothing half-written).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common import ClassTable, ExportError, atomic_text
from ..export import ExportSlide, choose_slide, open_export_slides
from ..labels import class_map_objects, dissolve
from .geojson_read import OBJECT_TYPES

__all__ = ["GeoJSONSummary", "export_geojson", "write_slide_geojson", "write_feature_collection"]

_NAMESPACE = uuid.UUID("6d1c2f3e-49a1-4b8e-9a55-0a7e0a2b4c10")




@dataclass
class GeoJSONSummary:
    """What :func:`export_geojson` wrote."""

    path: Path
    n_features: int
    n_merged: int
    per_class: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------


def _write_feature(fh, geom, class_index: int, classes: ClassTable, object_type: str, fid: str,
                   scale: tuple[float, float], *, oriented: bool = False,
                   chunk: int = 1 << 16) -> None:
    """Write one feature: with GEOS' GeoJSON writer below ``chunk`` vertices, else its
    coordinates ``chunk`` vertices at a time (no text of the whole geometry at once: a
    slide-wide object has millions of vertices, and GEOS' writer needed 760 MB for 5.9
    million). RFC 7946 rings: exteriors counter-clockwise, holes clockwise (``oriented``:
    ``geom`` already is)."""
    import shapely

    if not oriented:
        geom = shapely.orient_polygons(geom)
    props = {
        "objectType": object_type,
        "classification": {"name": classes.names[class_index],
                           "color": list(classes.colours[class_index])},
    }
    head = '{"type": "Feature", "id": ' + json.dumps(fid) + ', "geometry": '
    tail = ', "properties": ' + json.dumps(props) + "}"
    sy, sx = scale
    integer = (sy, sx) == (1.0, 1.0)  # pixel-edge vertices are integers
    if shapely.get_num_coordinates(geom) < chunk:  # GEOS' own writer: fast, and small here
        if not integer:
            geom = shapely.transform(geom, lambda c: c * np.array([sx, sy]))
        fh.write(head + shapely.to_geojson(geom) + tail)
        return
    kind, coords, offsets = shapely.to_ragged_array([geom])
    del geom
    if not integer:
        coords *= np.array([sx, sy])
    pair = "[%d, %d]" if integer else "[%r, %r]"
    ring_off, poly_off = offsets[0], offsets[1]
    multi = kind == shapely.GeometryType.MULTIPOLYGON
    polygons = range(len(poly_off) - 1) if multi else range(1)
    fh.write(head + '{"type": "' + ("MultiPolygon" if multi else "Polygon") + '", "coordinates": '
             + ("[" if multi else ""))
    for p in polygons:
        rings = range(poly_off[p], poly_off[p + 1]) if multi else range(len(ring_off) - 1)
        fh.write(", [" if p else "[")
        for r in rings:
            fh.write("[" if r == rings.start else ", [")
            for a in range(int(ring_off[r]), int(ring_off[r + 1]), chunk):
                part = coords[a: min(a + chunk, int(ring_off[r + 1]))]
                if integer:
                    part = part.astype(np.int64)
                fh.write(("" if a == ring_off[r] else ", ")
                         + ", ".join([pair] * len(part)) % tuple(part.ravel().tolist()))
            fh.write("]")
        fh.write("]")
    fh.write(("]" if multi else "") + "}" + tail)


def write_slide_geojson(slide: ExportSlide, out: str | os.PathLike, *,
                        object_type: str = "annotation",
                        progress: Callable[[int, int], None] | None = None,
                        flush_every: int = 64) -> GeoJSONSummary:
    """Write one slide of an export as a QuPath GeoJSON FeatureCollection.

    Parameters
    ----------
    slide : ExportSlide
        From :func:`~napari_axons.core.export.classmaps.open_export_slides`.
    out : path
        The ``.geojson`` file (replaced atomically).
    object_type : {"annotation", "detection"}
        QuPath's ``objectType`` of every feature.
    progress : callable, optional
        ``progress(done, total)`` after each tile.
    flush_every : int
        Every this many tiles, held-back objects that no later tile can touch
        are merged and written (memory: the tiles' open border objects, not
        the slide's).

    Returns
    -------
    GeoJSONSummary

    Raises
    ------
    ValueError
        An unknown ``object_type``.
    ExportError
        The output cannot be written (nothing is left behind).
    """
    from scipy import ndimage

    if object_type not in OBJECT_TYPES:
        raise ValueError(f"object type {object_type!r}: choose one of {', '.join(OBJECT_TYPES)}")
    out = Path(out)
    h, w = slide.working_shape
    warnings: list[str] = []
    # Pieces of one object meet only on tile borders: the lines their edges are split on.
    lines = (np.unique([v for u in slide.tiles for v in (u.x, u.x + u.width)]),
             np.unique([v for u in slide.tiles for v in (u.y, u.y + u.height)]))
    held = _HeldPieces(lines)
    boxes = np.array([(u.y, u.x, u.y + u.height, u.x + u.width) for u in slide.tiles],
                     np.int64).reshape(-1, 4)
    positions = np.arange(len(slide.tiles))
    counts = dict.fromkeys(slide.classes.foreground, 0)
    n = merged = 0
    total = len(slide.tiles)
    with atomic_text(out) as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')

        def emit(k: int, geom, oriented: bool = False) -> None:
            nonlocal n
            fid = str(uuid.uuid5(_NAMESPACE, f"{slide.base}/{k}/{n}"))
            fh.write(",\n" if n else "")
            classes = slide.classes  # grows when a tile holds a class the export lacks
            _write_feature(fh, geom, k, classes, object_type, fid, slide.scale, oriented=oriented)
            n += 1
            counts[classes.names[k]] = counts.get(classes.names[k], 0) + 1

        for i, (t, cmap) in enumerate(slide.iter_class_maps(warnings)):
            if cmap is not None:
                owned = slide.owned(i)
                cmap = np.where(owned, cmap, 0).astype(np.uint8)
                # Owned pixels next to a pixel of the image that another tile owns.
                inside = np.zeros((t.height + 2, t.width + 2), bool)
                ys0, xs0 = max(0, -t.y + 1), max(0, -t.x + 1)
                inside[ys0: max(ys0, min(t.height + 2, h - t.y + 1)),
                       xs0: max(xs0, min(t.width + 2, w - t.x + 1))] = True
                other = inside.copy()
                other[1:-1, 1:-1] &= ~owned
                frontier = owned & ndimage.binary_dilation(other, structure=np.ones((3, 3), bool))[1:-1, 1:-1]
                objs, labels = class_map_objects(cmap, offset=(t.y, t.x), with_labels=True)
                touching = {k: set(np.unique(lab[frontier]).tolist()) for k, lab in labels.items()}
                for obj in objs:
                    if obj.label in touching[obj.class_index]:
                        x0, y0, x1, y1 = obj.geometry.bounds
                        near = ((boxes[:, 0] <= y1) & (boxes[:, 2] >= y0)
                                & (boxes[:, 1] <= x1) & (boxes[:, 3] >= x0))
                        held.add(obj.class_index, obj.geometry, int(positions[near].max()))
                    else:
                        emit(obj.class_index, obj.geometry)
            if held and (i + 1 == total or (i + 1) % flush_every == 0):
                for k, geom, parts in held.flush(i if i + 1 < total else total):
                    emit(k, geom, oriented=True)  # dissolve orients its result
                    merged += parts - 1
            if progress is not None:
                progress(i + 1, total)
        fh.write("\n]}\n")
    return GeoJSONSummary(out, n, merged, {c: v for c, v in counts.items() if v}, warnings)


class _HeldPieces:
    """Pieces of objects on owned tile borders, grouped with the pieces they touch.

    Each piece is ``(class, geometry in working pixels, position of the last
    tile that can touch it)``; a group of touching pieces (an edge or a
    corner) is final once that tile is done. Which pieces touch is found once
    per piece, when it is new (its tile's pieces against all held ones), and
    kept as links between piece numbers, so a flush costs the new pieces, not
    all the held ones again.
    """

    def __init__(self, lines: tuple):
        self.lines = lines
        self.pieces: dict[int, tuple[int, object, int]] = {}
        self.links = np.zeros((0, 2), np.int64)
        self.new: list[int] = []
        self.next_id = 0

    def __bool__(self) -> bool:
        return bool(self.pieces)

    def add(self, class_index: int, geometry, last: int) -> None:
        self.pieces[self.next_id] = (class_index, geometry, last)
        self.new.append(self.next_id)
        self.next_id += 1

    def flush(self, done_through: int) -> list[tuple[int, object, int]]:
        """Remove and return the final groups as ``(class, union, number of pieces)``."""
        import shapely
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        ids = np.fromiter(self.pieces, np.int64, len(self.pieces))  # ascending
        cls = np.array([self.pieces[j][0] for j in ids])
        last = np.array([self.pieces[j][2] for j in ids])
        is_new = np.isin(ids, np.asarray(self.new, np.int64))
        links = [self.links]
        for k in np.unique(cls[is_new]):
            mine = np.flatnonzero(cls == k)
            geoms = np.array([self.pieces[j][1] for j in ids[mine]], dtype=object)
            asked = np.flatnonzero(is_new[mine])
            a, b = shapely.STRtree(geoms).query(geoms[asked], predicate="intersects")
            links.append(np.stack([ids[mine[asked[a]]], ids[mine[b]]], axis=1))
        self.links = np.concatenate(links)
        self.new = []
        pos = np.searchsorted(ids, self.links)  # every link joins two held pieces of one class
        graph = coo_matrix((np.ones(len(pos), np.int8), (pos[:, 0], pos[:, 1])), shape=(len(ids),) * 2)
        _, group = connected_components(graph, directed=False)
        order = np.argsort(group, kind="stable")
        final = []
        gone = np.zeros(len(ids), bool)
        for members in np.split(order, np.flatnonzero(np.diff(group[order])) + 1):
            if last[members].max() > done_through:
                continue
            # A list only dissolve holds: the pieces are freed as soon as they are split.
            final.append((int(cls[members[0]]),
                          dissolve([self.pieces.pop(int(j))[1] for j in ids[members]], self.lines),
                          len(members)))
            gone[members] = True
        self.links = self.links[~gone[pos[:, 0]]]
        return final


def export_geojson(export_dir: str | os.PathLike, out: str | os.PathLike, *, base: str | None = None,
                   object_type: str = "annotation", progress=None) -> GeoJSONSummary:
    """Write an export's slide as QuPath GeoJSON (see :func:`write_slide_geojson`).

    Parameters
    ----------
    export_dir : path
        An export folder or its ``manifest.json``.
    out : path
        The ``.geojson`` file.
    base : str, optional
        Which image of the export (needed when it has several).

    Raises
    ------
    ExportError
        A missing or malformed manifest, several images and no ``base``, or an
        unwritable output.
    """
    slides = open_export_slides(export_dir)
    slide = choose_slide(slides, base, export_dir)
    if not slide.tiles:
        raise ExportError(f"{export_dir}: the export has no masks (tiles only); nothing to convert")
    return write_slide_geojson(slide, out, object_type=object_type, progress=progress)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


def write_feature_collection(features, out: str | os.PathLike) -> int:
    """Stream GeoJSON features (plain dicts, e.g. QuPath detections) into one FeatureCollection.

    Written to a temporary file renamed into place at the end (nothing
    half-written); one feature in memory at a time.

    Parameters
    ----------
    features : iterable of dict
        ``{"type": "Feature", "geometry": ..., "properties": ...}`` each.
    out : path
        The ``.geojson`` file.

    Returns
    -------
    int
        The number of features written.

    Raises
    ------
    ExportError
        The file cannot be written (one line naming it).
    """
    n = 0
    with atomic_text(Path(out)) as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')
        for feature in features:
            fh.write(",\n" if n else "")
            json.dump(feature, fh, separators=(",", ":"), allow_nan=False)
            n += 1
        fh.write("\n]}\n")
    return n
