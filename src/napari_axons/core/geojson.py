"""QuPath GeoJSON: a whole slide's objects written and read, in full-resolution pixels.

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

Reading (:func:`read_geojson`, :func:`rasterize_geojson`): Polygons and
MultiPolygons (other geometry types are skipped with a note), checked with
shapely (an invalid or self-intersecting polygon is an error naming the
feature), classes looked up in a class table, painted region by region into
any 2-D array (a NumPy array, or a Zarr mask store in working-image pixels).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .common import TMP_PREFIX, ClassTable, ClassTableError, ExportError, parse_colour, umask
from .export.classmaps import ExportSlide
from .labels.outlines import class_map_objects, dissolve, polygons_of, rasterize

__all__ = ["GeoJSONError", "GeoObject", "GeoJSONSummary", "export_geojson", "write_slide_geojson",
           "read_geojson", "rasterize_geojson", "geojson_table", "geojson_class_map", "OBJECT_TYPES"]

#: Object types QuPath reads from GeoJSON that napari-axons writes.
OBJECT_TYPES = ("annotation", "detection")
_NAMESPACE = uuid.UUID("6d1c2f3e-49a1-4b8e-9a55-0a7e0a2b4c10")


class GeoJSONError(ValueError):
    """A GeoJSON file that cannot be used: one line, ``"<path>: <problem>"``."""


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


class _AtomicText:
    """A text file written to a hidden temporary name and renamed into place on success."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.tmp: str | None = None
        self.fh = None

    def __enter__(self):
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=self.path.parent)
            if hasattr(os, "fchmod"):  # a plain open()'s mode, not mkstemp's owner-only 0600
                os.fchmod(fd, 0o666 & ~umask())
        except OSError as exc:
            raise ExportError(f"{self.path}: cannot write ({exc.strerror or exc})") from exc
        self.fh = os.fdopen(fd, "w", encoding="utf-8")
        return self.fh

    def __exit__(self, exc_type, exc, tb):
        try:
            self.fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
                return False
        except OSError as err:
            exc_type = type(err)
            raise ExportError(f"{self.path}: cannot write ({err.strerror or err})") from err
        finally:
            if exc_type is not None and self.tmp is not None:
                try:
                    os.unlink(self.tmp)
                except OSError:
                    pass
        return False


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
    classes = slide.classes
    h, w = slide.working_shape
    warnings: list[str] = []
    # Pieces of one object meet only on tile borders: the lines their edges are split on.
    lines = (np.unique([v for u in slide.tiles for v in (u.x, u.x + u.width)]),
             np.unique([v for u in slide.tiles for v in (u.y, u.y + u.height)]))
    held = _HeldPieces(lines)
    boxes = np.array([(u.y, u.x, u.y + u.height, u.x + u.width) for u in slide.tiles],
                     np.int64).reshape(-1, 4)
    positions = np.arange(len(slide.tiles))
    counts = dict.fromkeys(classes.foreground, 0)
    n = merged = 0
    total = len(slide.tiles)
    with _AtomicText(out) as fh:
        fh.write('{"type": "FeatureCollection", "features": [\n')

        def emit(k: int, geom, oriented: bool = False) -> None:
            nonlocal n
            fid = str(uuid.uuid5(_NAMESPACE, f"{slide.base}/{k}/{n}"))
            fh.write(",\n" if n else "")
            _write_feature(fh, geom, k, classes, object_type, fid, slide.scale, oriented=oriented)
            n += 1
            counts[classes.names[k]] += 1

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
    from .export.classmaps import choose_slide, open_export_slides

    slides = open_export_slides(export_dir)
    slide = choose_slide(slides, base, export_dir)
    if not slide.tiles:
        raise ExportError(f"{export_dir}: the export has no masks (tiles only); nothing to convert")
    return write_slide_geojson(slide, out, object_type=object_type, progress=progress)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoObject:
    """One polygon feature of a GeoJSON file.

    Attributes
    ----------
    index : int
        Its position in the file's feature list.
    class_name : str or None
        ``classification.name`` (None: unclassified).
    colour : tuple of int or None
        ``classification.color`` as RGB, when given.
    geometry : shapely.Polygon or shapely.MultiPolygon
        In the file's coordinates (full-resolution slide pixels).
    object_type : str or None
    """

    index: int
    class_name: str | None
    colour: tuple[int, int, int] | None
    geometry: object
    object_type: str | None


def read_geojson(path: str | os.PathLike, *, image_size: tuple[int, int] | None = None,
                 notes: list[str] | None = None) -> list[GeoObject]:
    """Read the polygon features of a (QuPath) GeoJSON file.

    Parameters
    ----------
    path : path
        A ``FeatureCollection``, a list of features, or one ``Feature``.
    image_size : tuple of int, optional
        ``(height, width)`` of the full-resolution image: coordinates outside
        ``[0, width] x [0, height]`` are an error.
    notes : list of str, optional
        Receives one line per feature skipped because its geometry is not a
        Polygon or MultiPolygon (points, lines).

    Returns
    -------
    list of GeoObject

    Raises
    ------
    GeoJSONError
        Unreadable JSON, not GeoJSON features, a malformed or invalid
        (e.g. self-intersecting) polygon, or coordinates outside the image;
        the message names the file and the feature.
    """
    import shapely

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise GeoJSONError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeoJSONError(f"{path}: not readable JSON ({exc})") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        features = doc.get("features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        features = [doc]
    elif isinstance(doc, list):
        features = doc
    else:
        raise GeoJSONError(f"{path}: not GeoJSON (expected a FeatureCollection, a Feature or a "
                           "list of features)")
    if not isinstance(features, list):
        raise GeoJSONError(f"{path}: 'features' is not a list")
    out = []
    for i, feat in enumerate(features):
        where = f"{path}: feature {i}"
        if not isinstance(feat, dict) or not isinstance(feat.get("geometry"), dict):
            raise GeoJSONError(f"{where}: not a GeoJSON Feature with a geometry")
        if feat.get("id") is not None:
            where += f" (id {feat['id']})"
        gtype = feat["geometry"].get("type")
        if gtype not in ("Polygon", "MultiPolygon"):
            if notes is not None:
                notes.append(f"{where}: {gtype} geometry skipped (only polygons become labels)")
            continue
        try:
            geom = shapely.from_geojson(json.dumps(feat["geometry"]))
        except Exception as exc:
            raise GeoJSONError(f"{where}: malformed {gtype} ({' '.join(str(exc).split())})") from None
        if geom.is_empty:
            continue
        if not np.isfinite(shapely.get_coordinates(geom)).all():
            raise GeoJSONError(f"{where}: coordinates that are not finite numbers")
        if not geom.is_valid:
            raise GeoJSONError(f"{where}: invalid {gtype}: {shapely.is_valid_reason(geom)} "
                               "(fix it in QuPath, e.g. Objects > Annotations > Simplify or "
                               "make it non-self-intersecting)")
        if image_size is not None:
            ih, iw = image_size
            minx, miny, maxx, maxy = geom.bounds
            if minx < 0 or miny < 0 or maxx > iw or maxy > ih:
                raise GeoJSONError(f"{where}: coordinates outside the image (bounds x {minx:g}..{maxx:g}, "
                                   f"y {miny:g}..{maxy:g}; the image is {iw} x {ih} pixels)")
        props = feat.get("properties") if isinstance(feat.get("properties"), dict) else {}
        name, colour = _classification(props, where)
        otype = props.get("objectType") if isinstance(props.get("objectType"), str) else None
        out.append(GeoObject(i, name, colour, geom, otype))
    return out


def _classification(props: dict, where: str) -> tuple[str | None, tuple[int, int, int] | None]:
    c = props.get("classification")
    if c is None:
        return None, None
    if isinstance(c, str):
        return c, None
    if not isinstance(c, dict):
        raise GeoJSONError(f"{where}: 'classification' is not an object")
    name = c.get("name")
    if name is None and isinstance(c.get("names"), list):  # QuPath derived classes
        name = ": ".join(str(v) for v in c["names"])
    if name is not None and not isinstance(name, str):
        raise GeoJSONError(f"{where}: classification name {name!r} is not a string")
    raw = c.get("color", c.get("colorRGB"))
    colour = None
    if raw is not None:
        try:
            colour = parse_colour(raw, where=where)
        except ClassTableError as exc:
            raise GeoJSONError(str(exc)) from None
    return name, colour


def geojson_table(objects: list[GeoObject], base: ClassTable | None = None) -> ClassTable:
    """A class table for ``objects``: ``base`` plus the names it lacks (with the
    colours the file gives them), unclassified objects being class ``"object"``
    unless ``base`` has exactly one class."""
    names: list[str] = []
    colours: dict[str, tuple[int, int, int]] = {}
    for o in objects:
        n = o.class_name
        if n is None:
            if base is not None and base.is_binary:
                continue
            n = "object"
        if n not in names:
            names.append(n)
        if o.colour is not None:
            colours.setdefault(n, o.colour)
    if base is None:
        if not names:
            names = ["object"]
        table = ClassTable.from_names(names)
    else:
        table = base.with_names(names)
    if any(n in colours and n not in (base.names if base else ()) for n in table.names):
        cols = [colours.get(n, c) if base is None or n not in base.names else c
                for n, c in zip(table.names, table.colours, strict=True)]
        table = ClassTable(table.names, tuple(cols))
    return table


def _class_index(o: GeoObject, classes: ClassTable, path, strict: bool) -> int:
    if o.class_name is None:
        if classes.is_binary or not strict:
            return 1 if classes.is_binary else classes.index_of("object")
        raise GeoJSONError(f"{path}: feature {o.index}: no classification, and the class table has "
                           f"several classes ({', '.join(classes.foreground)})")
    try:
        k = classes.index_of(o.class_name)
    except ClassTableError as exc:
        raise GeoJSONError(f"{path}: feature {o.index}: {exc}") from None
    if k == 0:
        raise GeoJSONError(f"{path}: feature {o.index}: class {o.class_name!r} is the background")
    return k


def rasterize_geojson(objects: list[GeoObject], target, classes: ClassTable, *,
                      scale: tuple[float, float] = (1.0, 1.0), chunk: int = 2048,
                      path: str | os.PathLike = "GeoJSON", strict: bool = True,
                      origin: tuple[int, int] = (0, 0)) -> int:
    """Paint GeoJSON objects into a class map, region by region.

    Parameters
    ----------
    objects : list of GeoObject
        From :func:`read_geojson`, in full-resolution slide pixels. Later
        features paint over earlier ones.
    target : array-like or MaskStore
        ``(H, W)`` uint8, in working-image pixels (a NumPy array, a Zarr
        array, or a :class:`~napari_axons.core.session.maskstore.MaskStore`, whose
        display pyramid is brought up to date); written ``chunk`` x ``chunk``
        at a time, only where objects are (other pixels are left as they are,
        except that pixels inside an object's holes keep their value).
    classes : ClassTable
        Class names -> indices.
    scale : tuple of float
        Full-resolution pixels per working pixel ``(sy, sx)`` (the export's
        downsample): working pixel ``[r, c]`` is painted when the slide point
        ``((c + 0.5) * sx, (r + 0.5) * sy)`` is inside an object.
    strict : bool
        True: an unknown class name is an error; False: it must already be in
        ``classes`` (see :func:`geojson_table`).
    origin : tuple of int
        Working-pixel ``(y, x)`` of ``target[0, 0]``.

    Returns
    -------
    int
        The number of regions written.

    Raises
    ------
    GeoJSONError
        A class not in ``classes`` (checked for every object before anything
        is written).
    """
    import shapely

    indices = [_class_index(o, classes, path, strict) for o in objects]
    if not objects:
        return 0
    sy, sx = scale
    oy, ox = origin
    geoms = np.array([shapely.transform(o.geometry, lambda c: c / np.array([sx, sy]))
                      for o in objects], dtype=object)
    tree = shapely.STRtree(geoms)
    store = hasattr(target, "update_pyramid")  # a MaskStore: its display pyramid follows
    h, w = target.shape[:2]
    written = 0
    for y0 in range(0, h, chunk):
        for x0 in range(0, w, chunk):
            y1, x1 = min(y0 + chunk, h), min(x0 + chunk, w)
            box = shapely.box(ox + x0, oy + y0, ox + x1, oy + y1)
            hits = np.sort(tree.query(box, predicate="intersects"))
            if not len(hits):
                continue
            region = (target.read(y0, x0, y1, x1) if store else np.asarray(target[y0:y1, x0:x1]).copy())
            items = []
            for j in hits:
                g = geoms[j]
                if not box.contains(g):
                    g = shapely.intersection(g, box)
                    g = shapely.union_all(polygons_of(g)) if not g.is_empty else g
                items.append((indices[j], g))
            rasterize(items, region, origin=(oy + y0, ox + x0))
            if store:
                target.write(y0, x0, region, pyramid=False)
            else:
                target[y0:y1, x0:x1] = region
            written += 1
    if store:
        target.update_pyramid()
    return written


def geojson_class_map(path: str | os.PathLike, *, max_pixels: int = 2**30,
                      notes: list[str] | None = None) -> tuple[np.ndarray, tuple[int, int], ClassTable]:
    """A GeoJSON file's polygons as one class map over their bounding box (for a viewer).

    Parameters
    ----------
    path : path
        A (QuPath) GeoJSON file, in full-resolution slide pixels.
    max_pixels : int
        Refuse a bounding box larger than this.

    Returns
    -------
    class_map : numpy.ndarray
        ``(H, W)`` uint8 over the objects' bounding box (pixel-edge bounds
        rounded outward).
    origin : tuple of int
        Slide ``(y, x)`` of ``class_map[0, 0]``.
    classes : ClassTable
        From the file's classifications (:func:`geojson_table`).

    Raises
    ------
    GeoJSONError
        As :func:`read_geojson`; also a file without polygons, or a bounding box
        over ``max_pixels``.
    """
    import shapely

    objects = read_geojson(path, notes=notes)
    if not objects:
        raise GeoJSONError(f"{path}: no Polygon or MultiPolygon features")
    minx, miny, maxx, maxy = shapely.total_bounds([o.geometry for o in objects])
    y0, x0 = max(int(np.floor(miny)), 0), max(int(np.floor(minx)), 0)
    y1, x1 = int(np.ceil(maxy)), int(np.ceil(maxx))
    if y1 <= y0 or x1 <= x0:
        raise GeoJSONError(f"{path}: the polygons lie outside the image (negative coordinates)")
    if (y1 - y0) * (x1 - x0) > max_pixels:
        raise GeoJSONError(f"{path}: the polygons span {x1 - x0} x {y1 - y0} pixels, more than "
                           f"{max_pixels} pixels in memory; paint them into a mask store instead")
    table = geojson_table(objects)
    out = np.zeros((y1 - y0, x1 - x0), np.uint8)
    rasterize_geojson(objects, out, table, path=path, strict=False, origin=(y0, x0))
    return out, (y0, x0), table
