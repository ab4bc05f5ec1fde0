"""Class maps <-> exact pixel-edge polygons (shapely), for GeoJSON, COCO and merging.

Coordinate convention of this module (the one QuPath, GeoJSON-in-pixels and
COCO use): a polygon vertex ``(x, y)`` is a point of the pixel *grid*; pixel
``[row, col]`` is the unit square ``[col, col + 1] x [row, row + 1]`` and its
centre is ``(col + 0.5, row + 0.5)``. (Django-Labeller files put vertices at
pixel *centres* instead: :mod:`~napari_axons.core.polygons`.)

* :func:`class_map_objects` turns a class map into one shapely geometry per
  object (an 8-connected component of one class): its outline traced by
  OpenCV on the mask upsampled 2x (:func:`_outlines`), so the polygon follows
  the pixel edges and covers exactly the object's pixels. Holes become
  interior rings; parts that touch only at a corner make a ``MultiPolygon``.
  Geometries are valid (OGC).
* :func:`rasterize` is the inverse: a pixel belongs to a polygon when its
  centre is inside (scikit-image's point-in-polygon on the pixel centres), so
  ``rasterize(class_map_objects(m)) == m`` pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["MapObject", "class_map_objects", "rasterize", "polygons_of", "dissolve"]

_EIGHT = np.ones((3, 3), bool)


@dataclass(frozen=True)
class MapObject:
    """One object of a class map.

    Attributes
    ----------
    class_index : int
        Its class (1..255).
    geometry : shapely.Polygon or shapely.MultiPolygon
        Pixel-edge outline in the class map's pixels, shifted by the
        ``offset`` given to :func:`class_map_objects`.
    label : int
        Its component number in the ``labels`` array of :func:`class_map_objects`
        (1-based, per class).
    """

    class_index: int
    geometry: object
    label: int


def class_map_objects(class_map: np.ndarray, *, offset: tuple[int, int] = (0, 0),
                      with_labels: bool = False):
    """The objects of a class map as exact pixel-edge polygons.

    Parameters
    ----------
    class_map : numpy.ndarray
        ``(H, W)`` integer array; 0 is background, ``k > 0`` class ``k``.
    offset : tuple of int
        ``(y, x)`` added to every vertex (the map's origin in a larger image).
    with_labels : bool
        Also return, per class, the ``(H, W)`` int32 component labels.

    Returns
    -------
    list of MapObject
        Sorted by class, then by the object's first pixel in row-major order.
    dict, only with ``with_labels``
        ``{class_index: labels}``.
    """
    from scipy import ndimage

    arr = np.asarray(class_map)
    if arr.ndim != 2:
        raise ValueError(f"a class map must be 2-D (rows, columns), got shape {arr.shape}")
    oy, ox = int(offset[0]), int(offset[1])
    objects: list[MapObject] = []
    all_labels = {}
    for k in np.unique(arr):
        if k == 0:
            continue
        fg = arr == k
        labels, _ = ndimage.label(fg, structure=_EIGHT)
        if with_labels:
            all_labels[int(k)] = labels
        for lab, geom in sorted(_outlines(fg, labels, ox, oy).items()):
            objects.append(MapObject(int(k), geom, int(lab)))
    if with_labels:
        return objects, all_labels
    return objects


def _outlines(fg: np.ndarray, labels: np.ndarray, ox: int, oy: int) -> dict:
    """``{component label: Polygon or MultiPolygon}``: exact pixel-edge outlines.

    OpenCV ``findContours`` (``RETR_CCOMP``: outer boundaries and their holes)
    runs on the mask upsampled 2x: a pixel ``c`` becomes columns ``2c`` and
    ``2c + 1``, so a boundary pixel ``i`` of the upsampled mask lies on the grid
    line ``(i + 1) // 2`` of the original (the left or top edge for ``i = 2c``,
    the right or bottom edge for ``i = 2c + 1``), for outer boundaries and holes
    alike. A ring that touches itself at a corner is made valid by shapely
    (``make_valid``: the parts become a MultiPolygon).
    """
    import cv2
    import shapely

    h, w = fg.shape
    up = np.zeros((2 * h + 2, 2 * w + 2), np.uint8)
    up[1:-1, 1:-1] = np.repeat(np.repeat(fg.view(np.uint8), 2, axis=0), 2, axis=1)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return {}
    hierarchy = hierarchy[0]
    shift = np.array([ox, oy])
    rings = [c[:, 0, :] // 2 + shift for c in contours]  # ((i - 1) + 1) // 2: the padding undone
    parts: dict[int, list] = {}
    for i, (_, _, child, parent) in enumerate(hierarchy):
        if parent != -1:
            continue
        x, y = contours[i][0, 0] - 1
        holes = []
        j = child
        while j != -1:
            holes.append(rings[j])
            j = hierarchy[j][0]
        parts.setdefault(int(labels[y // 2, x // 2]), []).append(shapely.Polygon(rings[i], holes))
    out = {}
    for lab, polys in parts.items():
        geom = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
        out[lab] = geom if geom.is_valid else shapely.make_valid(geom)
    return out


def dissolve(geometries, lines: tuple | None = None) -> object:
    """The union of pixel-edge polygons that do not overlap (pieces of one object).

    Pieces of an object cut by tile borders cover disjoint pixels and meet
    along pixel edges. Every edge on a line where pieces can meet is split at
    each grid point it passes (exact on integer vertices), so pieces that share
    an edge share its vertices, and the edge-matching
    ``shapely.coverage_union_all`` joins them: about a third of the time of a
    general overlay (``union_all``), with less memory. With ``lines``, holes
    that touch no border line are kept out of the union and put back after. The extra
    vertices are then removed again (:func:`_drop_collinear`). Inputs that are
    not such a coverage fall back to ``union_all``.

    Parameters
    ----------
    geometries : sequence of shapely.Polygon or shapely.MultiPolygon
        Integer vertices, no two overlapping.
    lines : tuple of (array of int, array of int), optional
        ``(xs, ys)``: the only vertical lines ``x = xs[i]`` and horizontal lines
        ``y = ys[j]`` along which two pieces can meet (the tile borders); only
        edges on them are split (fewer vertices, less memory). Default: all edges.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Valid; vertices only where the outline turns.
    """
    import shapely

    geoms = np.asarray(geometries, dtype=object)
    del geometries
    if len(geoms) == 1:
        return geoms[0]
    geoms = (shapely.segmentize(geoms, 1.0) if lines is None
             else np.array([_split_on_lines(g, *lines) for g in geoms], dtype=object))
    full, inner = geoms, []
    if lines is not None:  # holes off the borders stay as they are: kept out of the union
        geoms = np.array([_strip_inner_holes(g, lines, inner) for g in geoms], dtype=object)
    try:
        merged = shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        merged = None
    if merged is not None and inner:
        merged = _put_back_holes(merged, inner)
    if merged is not None:
        merged = _drop_collinear(merged)
    if merged is None or not merged.is_valid:
        return shapely.union_all(full)
    return merged


def _strip_inner_holes(geom, lines, inner: list):
    """``geom`` without its holes that touch none of ``lines`` (appended to ``inner`` as rings)."""
    import shapely

    xs, ys = lines
    polys = []
    for poly in polygons_of(geom):
        keep = []
        for ring in poly.interiors:
            c = np.asarray(ring.coords)
            (keep if np.isin(c[:, 0], xs).any() or np.isin(c[:, 1], ys).any() else inner).append(c)
        polys.append(shapely.Polygon(poly.exterior.coords, keep))
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _put_back_holes(geom, inner: list):
    """``geom`` with each ring of ``inner`` made a hole of the polygon whose area holds it."""
    import shapely

    parts = polygons_of(geom)
    where = [[] for _ in parts]
    tree = shapely.STRtree(np.array(parts, dtype=object))
    points = np.array([shapely.Polygon(c).representative_point() for c in inner], dtype=object)
    q, t = tree.query(points, predicate="within")
    for i, j in zip(q.tolist(), t.tolist(), strict=True):
        where[j].append(inner[i])
    if len(q) != len(inner):
        return None
    polys = [shapely.Polygon(p.exterior.coords, [*(r.coords for r in p.interiors), *w])
             for p, w in zip(parts, where, strict=True)]
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _split_on_lines(geom, xs, ys):
    """``geom`` with a vertex at every grid point of its edges that lie on a line of ``xs`` / ``ys``."""
    import shapely

    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    kind, coords, offsets = shapely.to_ragged_array([geom])
    ring_off = offsets[0]
    d = np.diff(coords, axis=0)
    on = (((d[:, 0] == 0) & np.isin(coords[:-1, 0], xs)) | ((d[:, 1] == 0) & np.isin(coords[:-1, 1], ys)))
    on[ring_off[1:-1] - 1] = False  # no segment from one ring's end to the next ring's start
    steps = np.where(on, np.abs(d).sum(axis=1), 1).astype(np.int64)
    steps = np.append(steps, 1)  # the last closing point
    if not (steps > 1).any():
        return geom
    start = np.repeat(np.arange(len(coords)), steps)
    within = np.arange(len(start)) - np.repeat(np.cumsum(steps) - steps, steps)
    unit = np.zeros_like(coords)
    unit[:-1] = np.sign(d)
    out = coords[start] + unit[start] * within[:, None]
    new_off = np.cumsum(np.concatenate([[0], steps]))[ring_off]
    return shapely.from_ragged_array(kind, out, (new_off, *offsets[1:]))[0]


def _drop_collinear(geom):
    """``geom`` (Polygon or MultiPolygon) without the ring vertices where the ring goes straight on."""
    import shapely

    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        return geom
    kind, coords, offsets = shapely.to_ragged_array([shapely.remove_repeated_points(geom)])
    ring_off = offsets[0]
    starts, lengths = ring_off[:-1], np.diff(ring_off) - 1  # the closing point excluded
    ring = np.repeat(np.arange(len(starts)), lengths + 1)
    idx = np.arange(len(coords))
    pos = idx - starts[ring]
    prev = np.where(pos == 0, starts[ring] + lengths[ring] - 1, idx - 1)
    nxt = np.where(pos + 1 >= lengths[ring], starts[ring], idx + 1)
    a, b = coords - coords[prev], coords[nxt] - coords
    keep = ((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]) != 0) & (pos < lengths[ring])
    kept = np.bincount(ring[keep], minlength=len(starts))
    new_off = np.zeros(len(starts) + 1, np.int64)
    new_off[1:] = np.cumsum(kept + 1)
    out = np.empty((new_off[-1], 2))
    src = np.flatnonzero(keep)
    out[np.arange(len(src)) + ring[src]] = coords[src]  # one closing slot per earlier ring
    out[new_off[1:] - 1] = out[new_off[:-1]]
    return shapely.from_ragged_array(kind, out, (new_off, *offsets[1:]))[0]


def polygons_of(geometry) -> list:
    """The polygons of a Polygon or MultiPolygon (empty geometries give none)."""
    if geometry is None or geometry.is_empty:
        return []
    if geometry.geom_type == "Polygon":
        return [geometry]
    if geometry.geom_type in ("MultiPolygon", "GeometryCollection"):
        return [p for g in geometry.geoms for p in polygons_of(g)]
    return []


def rasterize(items: Iterable[tuple[int, object]], out: np.ndarray, *,
              origin: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Paint geometries into a class map: a pixel is inside when its centre is.

    Parameters
    ----------
    items : iterable of (int, geometry)
        ``(class_index, Polygon or MultiPolygon)`` in the pixel-edge
        convention of this module; later items paint over earlier ones. Holes
        (interior rings) are left unpainted.
    out : numpy.ndarray
        ``(H, W)`` uint8 class map, painted in place.
    origin : tuple of float
        ``(y, x)`` of ``out[0, 0]``'s top-left corner in the geometries'
        coordinates.

    Returns
    -------
    numpy.ndarray
        ``out``.
    """
    from skimage.draw import polygon as draw_polygon

    h, w = out.shape
    oy, ox = origin
    for k, geom in items:
        for poly in polygons_of(geom):
            minx, miny, maxx, maxy = poly.bounds
            # The pixels whose centres may be inside: rows r with miny <= r + 0.5 <= maxy.
            r0 = max(int(np.floor(miny - oy - 0.5)), 0)
            c0 = max(int(np.floor(minx - ox - 0.5)), 0)
            r1 = min(int(np.ceil(maxy - oy - 0.5)) + 1, h)
            c1 = min(int(np.ceil(maxx - ox - 0.5)) + 1, w)
            if r1 <= r0 or c1 <= c0:
                continue
            inside = _fill(draw_polygon, poly.exterior.coords, (oy + r0, ox + c0), (r1 - r0, c1 - c0))
            for ring in poly.interiors:
                inside &= ~_fill(draw_polygon, ring.coords, (oy + r0, ox + c0), (r1 - r0, c1 - c0))
            out[r0:r1, c0:c1][inside] = k
    return out


def _fill(draw_polygon, coords, origin, shape) -> np.ndarray:
    c = np.asarray(coords, dtype=np.float64)
    # skimage tests integer points (r, c); pixel (r, c)'s centre is (r + 0.5, c + 0.5).
    rr, cc = draw_polygon(c[:, 1] - origin[0] - 0.5, c[:, 0] - origin[1] - 0.5, shape)
    mask = np.zeros(shape, bool)
    mask[rr, cc] = True
    return mask
