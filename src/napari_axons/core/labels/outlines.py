"""Class maps <-> exact pixel-edge polygons (shapely), for GeoJSON, COCO and merging.

Coordinate convention of this module (the one QuPath, GeoJSON-in-pixels and
COCO use): a polygon vertex ``(x, y)`` is a point of the pixel *grid*; pixel
``[row, col]`` is the unit square ``[col, col + 1] x [row, row + 1]`` and its
centre is ``(col + 0.5, row + 0.5)``. (Django-Labeller files put vertices at
pixel *centres* instead: :mod:`~napari_axons.core.labels.labelfile`.)

* :func:`class_map_objects` turns a class map into one shapely geometry per
  object (an 8-connected component of one class): its outline traced by
  OpenCV on the mask upsampled 2x (:func:`_outlines`), so the polygon follows
  the pixel edges and covers exactly the object's pixels. Holes become
  interior rings; parts that touch only at a corner make a ``MultiPolygon``.
  Geometries are valid (OGC).
* :func:`rasterize` is the inverse: a pixel belongs to a polygon when its
  centre is inside (an even-odd scanline fill over the pixel centres, holes
  included: time in proportion to pixels plus edge crossings; a centre exactly
  on an edge counts for top and left edges, as Java2D and so QuPath fill), so
  ``rasterize(class_map_objects(m)) == m`` pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .coverage import dissolve_coverage

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
        out[lab] = geom if geom.is_valid else _made_valid(geom)
    return out


def _made_valid(geom):
    """A pixel-edge outline whose rings touch at corners, as valid polygons: re-linked by
    :func:`~napari_axons.core.labels.coverage.dissolve_coverage` (one piece, nothing to cancel;
    about six times faster than ``shapely.make_valid``, the fallback)."""
    import shapely

    no_lines = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    fixed = dissolve_coverage([geom], no_lines)
    return fixed if fixed is not None and fixed.is_valid else shapely.make_valid(geom)


def dissolve(geometries, lines: tuple | None = None) -> object:
    """The union of pixel-edge polygons that do not overlap (pieces of one object).

    Pieces of an object cut by tile borders cover disjoint pixels and meet
    along pixel edges: their shared edges cancel and the rest is linked back
    into rings (:func:`~napari_axons.core.labels.coverage.dissolve_coverage`: NumPy,
    a few arrays the size of the pieces' vertices; GEOS' coverage union of a
    slide-wide object took 2 GB). Up to ``_CHECKED_PIECES`` pieces, the result is
    checked with GEOS, and inputs that are not such a coverage fall back to
    shapely's general overlay (``union_all``).

    Parameters
    ----------
    geometries : sequence of shapely.Polygon or shapely.MultiPolygon
        Integer vertices, no two overlapping.
    lines : tuple of (array of int, array of int), optional
        ``(xs, ys)``: the only vertical lines ``x = xs[i]`` and horizontal lines
        ``y = ys[j]`` along which two pieces can meet (the tile borders); only
        edges on them are compared (fewer vertices, less memory). Default: all edges.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        Valid; exteriors counter-clockwise, holes clockwise; vertices only
        where the outline turns.

    Raises
    ------
    ValueError
        More than ``_CHECKED_PIECES`` pieces that are found not to be such a
        coverage: they are not kept for a general overlay (the GeoJSON
        writer's pieces always are one).
    """
    import shapely

    pieces = list(geometries)
    del geometries
    if len(pieces) == 1:
        return shapely.orient_polygons(pieces[0])
    kept = list(pieces) if len(pieces) <= _CHECKED_PIECES else None
    merged = dissolve_coverage(pieces, lines)  # empties ``pieces``
    if kept is not None and merged is not None and not merged.is_valid:
        merged = None  # e.g. pieces meeting off ``lines``
    if merged is None:
        if kept is None:
            raise ValueError("pieces to join are not a coverage of pixel-edge polygons")
        return shapely.orient_polygons(shapely.union_all(kept))
    return merged


#: Up to this many pieces, :func:`dissolve` checks its result with GEOS (cheap) and falls
#: back to ``union_all``; larger groups (a slide-wide object) come from the GeoJSON
#: writer, whose pieces are a coverage by construction.
_CHECKED_PIECES = 64


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
            rings = [poly.exterior.coords, *(ring.coords for ring in poly.interiors)]
            inside = _fill(rings, (oy + r0, ox + c0), (r1 - r0, c1 - c0))
            out[r0:r1, c0:c1][inside] = k
    return out


def _fill(rings, origin, shape) -> np.ndarray:
    """The pixels of ``shape`` whose centres are inside ``rings`` (even-odd: holes are
    rings too), by scanlines: O(pixels + crossings), not O(pixels x vertices)."""
    h, w = shape
    rows, xs = [], []
    for coords in rings:
        c = np.asarray(coords, dtype=np.float64)
        if len(c) < 3:
            continue
        # pixel (r, c)'s centre is (r + 0.5, c + 0.5): shift so that centres are integers
        x = c[:, 0] - origin[1] - 0.5
        y = c[:, 1] - origin[0] - 0.5
        xa, ya, xb, yb = x[:-1], y[:-1], x[1:], y[1:]
        # an edge crosses the rows r with min(ya, yb) <= r < max(ya, yb) (half-open, so a
        # vertex is counted once and horizontal edges never)
        lo = np.clip(np.ceil(np.minimum(ya, yb)), 0, h).astype(np.int64)
        hi = np.clip(np.ceil(np.maximum(ya, yb)), 0, h).astype(np.int64)
        n = hi - lo
        e = np.nonzero(n > 0)[0]
        if not len(e):
            continue
        counts = n[e]
        edge = np.repeat(e, counts)
        first = np.cumsum(counts) - counts
        r = lo[edge] + (np.arange(len(edge)) - np.repeat(first, counts))
        xs.append(xa[edge] + (r - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge]))
        rows.append(r)
    mask = np.zeros(shape, bool)
    if not rows:
        return mask
    r, x = np.concatenate(rows), np.concatenate(xs)
    order = np.lexsort((x, r))
    r, x = r[order], x[order]
    # each row has an even number of crossings: pixels between crossings 2i and 2i + 1
    start = np.clip(np.ceil(x[0::2]), 0, w).astype(np.int64)
    stop = np.clip(np.ceil(x[1::2]), 0, w).astype(np.int64)
    row = r[0::2]
    spans = np.zeros((h, w + 1), np.int8)
    np.add.at(spans, (row, start), 1)
    np.add.at(spans, (row, stop), -1)
    return np.cumsum(spans, axis=1, dtype=np.int8)[:, :w] > 0
