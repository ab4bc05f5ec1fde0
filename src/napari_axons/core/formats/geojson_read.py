"""QuPath GeoJSON read: polygons in full-resolution pixels, classes by name, painted into any 2-D array.

What QuPath writes and reads (File > Export objects as GeoJSON / drag and
drop): a ``FeatureCollection`` (older versions: a plain list of features)
whose coordinates are pixels of the full-resolution image, origin at its
top-left corner, x to the right, y down. Each feature has ``properties`` with
``objectType`` (``"annotation"``, ``"detection"``, ``"cell"``...) and an
optional ``classification`` ``{"name": str, "color": [r, g, b]}`` (QuPath
before 0.4: ``"colorRGB"``, a packed int).

Reading (:func:`read_geojson`, :func:`rasterize_geojson`): Polygons and
MultiPolygons, checked with shapely (an invalid or self-intersecting polygon
is an error naming the feature); a feature without a geometry (``"geometry":
null``), of another geometry type (points, lines), empty, or of zero area
(collapsed to a point or a line) is skipped with a note naming it, and the
rest loads. Classes looked up in a class table, painted region by region into
any 2-D array (a NumPy array, or a Zarr mask store in working-image pixels).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import ClassTable, ClassTableError, parse_colour
from ..labels import polygons_of, rasterize

__all__ = ["GeoJSONError", "GeoObject", "OBJECT_TYPES", "read_geojson", "geojson_table",
           "rasterize_geojson", "geojson_class_map"]


#: Object types QuPath reads from GeoJSON that napari-axons writes.
OBJECT_TYPES = ("annotation", "detection")


class GeoJSONError(ValueError):
    """A GeoJSON file that cannot be used: one line, ``"<path>: <problem>"``."""


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
        Receives one line per feature skipped, naming it: no geometry
        (``"geometry": null``, valid per RFC 7946 section 3.2), a geometry that
        is not a Polygon or MultiPolygon (points, lines), an empty one, or a
        polygon of zero area (collapsed to a point or a line, as QuPath writes
        some detections); and one per zero-area ring dropped from a polygon.

    Returns
    -------
    list of GeoObject

    Raises
    ------
    GeoJSONError
        Unreadable JSON, not GeoJSON features, a malformed or invalid
        (e.g. self-intersecting) polygon with an area, or coordinates outside
        the image; the message names the file and the feature.
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
    notes = [] if notes is None else notes
    for i, feat in enumerate(features):
        where = f"{path}: feature {i}"
        if not isinstance(feat, dict) or feat.get("type", "Feature") != "Feature":
            raise GeoJSONError(f"{where}: not a GeoJSON Feature")
        if feat.get("id") is not None:
            where += f" (id {feat['id']})"
        geometry = feat.get("geometry")
        if geometry is None:  # an unlocated feature (RFC 7946 section 3.2)
            what = '"geometry": null' if "geometry" in feat else "no 'geometry' member"
            notes.append(f"{where}: no geometry ({what}); skipped")
            continue
        if not isinstance(geometry, dict):
            raise GeoJSONError(f"{where}: 'geometry' is not a GeoJSON geometry object")
        gtype = geometry.get("type")
        if gtype not in ("Polygon", "MultiPolygon"):
            notes.append(f"{where}: {gtype} geometry skipped (only polygons become labels)")
            continue
        geometry, dropped = _without_flat_rings(geometry)
        if geometry is None:
            notes.append(f"{where}: zero-area {gtype} (collapsed to a point or a line); skipped")
            continue
        if dropped:
            notes.append(f"{where}: {dropped} zero-area ring(s) of the {gtype} (collapsed to a point "
                         "or a line) dropped")
        try:
            geom = shapely.from_geojson(json.dumps(geometry))
        except Exception as exc:
            raise GeoJSONError(f"{where}: malformed {gtype} ({' '.join(str(exc).split())})") from None
        if geom.is_empty:
            notes.append(f"{where}: empty {gtype}; skipped")
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


def _flat(ring) -> bool:
    """True when a ring's vertices span no area (one point, or all on one line)."""
    try:
        pts = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        return False  # malformed: shapely says how
    if pts.ndim != 2 or pts.shape[1] < 2 or not np.isfinite(pts).all():
        return False
    d = pts[:, :2] - pts[0, :2]
    if len(d) < 3:
        return True
    sv = np.linalg.svd(d, compute_uv=False)
    return bool(sv[1] <= 1e-9 * max(sv[0], 1.0))


def _without_flat_rings(geometry: dict) -> tuple[dict | None, int]:
    """A Polygon/MultiPolygon GeoJSON geometry without its zero-area rings.

    QuPath writes detections whose outline collapsed to one point or a line
    (zero area; shapely finds them invalid or cannot build them). A polygon
    whose exterior is flat is dropped, a flat hole is dropped.

    Returns
    -------
    geometry : dict or None
        None when nothing with an area is left; ``geometry`` itself when
        nothing was dropped or the coordinates are malformed (left to shapely).
    dropped : int
        How many rings (polygons and holes) were dropped.
    """
    coords = geometry.get("coordinates")
    multi = geometry.get("type") == "MultiPolygon"
    polys = coords if multi else [coords]
    if not isinstance(polys, list) or not all(isinstance(p, list) and p for p in polys):
        return geometry, 0
    kept, dropped = [], 0
    for rings in polys:
        if _flat(rings[0]):
            dropped += len(rings)
            continue
        holes = [r for r in rings[1:] if not _flat(r)]
        dropped += len(rings) - 1 - len(holes)
        kept.append([rings[0], *holes])
    if not dropped:
        return geometry, 0
    if not kept:
        return None, dropped
    return {**geometry, "coordinates": kept if multi else kept[0]}, dropped


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
