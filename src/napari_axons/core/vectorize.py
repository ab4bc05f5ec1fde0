"""Class maps <-> exact pixel-edge polygons (shapely), for GeoJSON, COCO and merging.

Coordinate convention of this module (the one QuPath, GeoJSON-in-pixels and
COCO use): a polygon vertex ``(x, y)`` is a point of the pixel *grid*; pixel
``[row, col]`` is the unit square ``[col, col + 1] x [row, row + 1]`` and its
centre is ``(col + 0.5, row + 0.5)``. (Django-Labeller files put vertices at
pixel *centres* instead: :mod:`~napari_axons.core.polygons`.)

* :func:`class_map_objects` turns a class map into one shapely geometry per
  object (an 8-connected component of one class): the union of the object's
  row runs, so the polygon follows the pixel edges and covers exactly the
  object's pixels. Holes become interior rings; parts that touch only at a
  corner make a ``MultiPolygon``. Geometries are valid (OGC).
* :func:`rasterize` is the inverse: a pixel belongs to a polygon when its
  centre is inside (scikit-image's point-in-polygon on the pixel centres), so
  ``rasterize(class_map_objects(m)) == m`` pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["MapObject", "class_map_objects", "rasterize", "polygons_of"]

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
    import shapely
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
        labels, n = ndimage.label(fg, structure=_EIGHT)
        if with_labels:
            all_labels[int(k)] = labels
        # Row runs: starts where the padded row steps 0 -> 1, ends where it steps 1 -> 0.
        pad = np.zeros((fg.shape[0], fg.shape[1] + 2), np.int8)
        pad[:, 1:-1] = fg
        step = np.diff(pad, axis=1)
        ys, x0 = np.nonzero(step == 1)
        _, x1 = np.nonzero(step == -1)
        comp = labels[ys, x0]
        order = np.argsort(comp, kind="stable")
        comp, ys, x0, x1 = comp[order], ys[order], x0[order], x1[order]
        boxes = shapely.box(x0 + ox, ys + oy, x1 + ox, ys + 1 + oy)
        cuts = np.flatnonzero(np.diff(comp)) + 1
        for lab, group in zip(comp[np.r_[0, cuts]], np.split(boxes, cuts), strict=True):
            geom = shapely.union_all(group) if len(group) > 1 else group[0]
            objects.append(MapObject(int(k), geom, int(lab)))
    if with_labels:
        return objects, all_labels
    return objects


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
