"""Shape measures of every region of a label image at once, as scikit-image defines them.

``regionprops`` computes moments, perimeters and convex hulls one region at a
time (about 2 ms per fibre); here the same quantities are computed for all the
regions of a window with a few array passes. Definitions follow
:mod:`skimage.measure` (tested against ``regionprops``):

* ``area``: pixels; centroid: mean pixel ``(row, col)``;
* ``eccentricity`` and ``orientation`` from the inertia tensor of the central
  moments (``orientation``: radians between the rows axis and the major axis,
  in ``[-pi/2, pi/2]``);
* ``perimeter``: :func:`skimage.measure.perimeter` with a 4-neighbourhood (boundary
  pixels weighted 1, sqrt(2) or (1 + sqrt(2)) / 2 by their boundary neighbours);
* ``area_convex``: pixel centres inside (or on) the convex hull of the pixels'
  edge midpoints, as ``convex_hull_image``; ``solidity = area / area_convex``.

Coordinate sums are taken relative to a reference pixel per region (its
anchor), as integers, so every value is the same whichever window the region
is measured in.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["region_moments", "region_perimeters", "convex_area"]

_PERIMETER_WEIGHTS = np.zeros(50)
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1.0
_PERIMETER_WEIGHTS[[21, 33]] = math.sqrt(2)
_PERIMETER_WEIGHTS[[13, 23]] = (1 + math.sqrt(2)) / 2


def region_moments(labels: np.ndarray, n: int, ref: np.ndarray):
    """Area, centroid, eccentricity and orientation of regions ``1..n``.

    Parameters
    ----------
    labels : numpy.ndarray
        ``(H, W)`` int label image, 0 background.
    n : int
        Highest label.
    ref : numpy.ndarray
        ``(n + 1, 2)`` int64 reference ``(row, col)`` per label, in the
        coordinates of ``labels`` (row 0 unused).

    Returns
    -------
    dict of numpy.ndarray
        ``area`` (int64), ``dy``, ``dx`` (the centroid minus ``ref``: add the
        reference's slide coordinates to place it, the same in every window),
        ``eccentricity``, ``orientation`` (float64), each ``(n + 1,)``.
    """
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs].astype(np.intp)
    dy = (ys - ref[lab, 0]).astype(np.float64)
    dx = (xs - ref[lab, 1]).astype(np.float64)
    m = n + 1
    cnt = np.bincount(lab, minlength=m).astype(np.float64)
    safe = np.maximum(cnt, 1)
    sy, sx = np.bincount(lab, dy, m), np.bincount(lab, dx, m)
    syy, sxx, sxy = np.bincount(lab, dy * dy, m), np.bincount(lab, dx * dx, m), np.bincount(lab, dx * dy, m)
    mu20 = syy - sy * sy / safe
    mu02 = sxx - sx * sx / safe
    mu11 = sxy - sx * sy / safe
    a, b, c = mu02 / safe, -mu11 / safe, mu20 / safe
    half = np.sqrt(((a - c) / 2) ** 2 + b * b)
    l1 = np.maximum((a + c) / 2 + half, 0)
    l2 = np.maximum((a + c) / 2 - half, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ecc = np.where(l1 > 0, np.sqrt(np.clip(1 - l2 / np.where(l1 > 0, l1, 1), 0, 1)), 0.0)
    orient = np.where(a - c == 0, np.where(b < 0, math.pi / 4, -math.pi / 4),
                      0.5 * np.arctan2(-2 * b, c - a))
    return {"area": cnt.astype(np.int64), "dy": sy / safe, "dx": sx / safe,
            "eccentricity": ecc, "orientation": orient}


def region_perimeters(labels: np.ndarray, n: int) -> np.ndarray:
    """``(n + 1,)`` float64: :func:`skimage.measure.perimeter` (4-neighbourhood) of each region.

    A region's boundary pixels are those with a 4-neighbour outside it (another
    label, the background, or beyond the array); each is weighted by how its
    boundary neighbours of the same region lie around it.
    """
    h, w = labels.shape
    pad = np.pad(labels, 1)
    centre = pad[1:-1, 1:-1]
    inner = pad[:-2, 1:-1] == centre
    inner &= pad[2:, 1:-1] == centre
    inner &= pad[1:-1, :-2] == centre
    inner &= pad[1:-1, 2:] == centre
    border = (centre > 0) & ~inner
    del inner
    bl = np.pad(np.where(border, labels, 0), 1)
    code = border.astype(np.uint8)
    for dy, dx, weight in ((-1, 0, 2), (1, 0, 2), (0, -1, 2), (0, 1, 2),
                           (-1, -1, 10), (-1, 1, 10), (1, -1, 10), (1, 1, 10)):
        hit = bl[1 + dy: h + 1 + dy, 1 + dx: w + 1 + dx] == centre
        hit &= border
        code += np.uint8(weight) * hit.view(np.uint8)
    return np.bincount(labels[border], _PERIMETER_WEIGHTS[code[border]], n + 1)


def convex_area(mask: np.ndarray) -> int:
    """Pixel centres inside or on the convex hull of a mask's pixel edge midpoints.

    ``skimage.morphology.convex_hull_image(mask).sum()`` for a 2-D mask, from
    the hull's outline row by row (no per-pixel test).
    """
    import cv2  # here, not at the top: importing cv2 sets LD_LIBRARY_PATH

    ys, xs = np.nonzero(mask)
    if len(ys) < 3:
        return int(len(ys))
    # the hull of a pixel set is the hull of each row's first and last pixels; their edge
    # midpoints in doubled coordinates: pixel (r, c) -> (2r +- 1, 2c), (2r, 2c +- 1)
    first = np.empty(len(ys), bool)
    first[0] = True
    np.not_equal(ys[1:], ys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = len(ys) - 1
    m = 2 * len(starts)
    ry = np.concatenate((ys[starts], ys[ends])) * 2
    rx = np.concatenate((xs[starts], xs[ends])) * 2
    pts = np.empty((4 * m, 2), np.int32)
    pts[:2 * m, 0] = np.tile(rx, 2)
    pts[:m, 1], pts[m:2 * m, 1] = ry - 1, ry + 1
    pts[2 * m:3 * m, 0], pts[3 * m:, 0] = rx - 1, rx + 1
    pts[2 * m:, 1] = np.tile(ry, 2)
    hull = cv2.convexHull(pts)[:, 0, :].astype(np.float64)  # (k, 2) x, y
    k = len(hull)
    if k < 3:
        return int(len(ys))
    x1, y1 = hull[:, 0], hull[:, 1]
    nxt = np.roll(np.arange(k), -1)
    x2, y2 = x1[nxt], y1[nxt]
    yy = 2.0 * np.arange(int(ys[0]), int(ys[-1]) + 1)[:, None]
    spans = (yy >= np.minimum(y1, y2)) & (yy <= np.maximum(y1, y2))
    dy = y2 - y1
    flat = dy == 0
    t = (yy - y1) / np.where(flat, 1.0, dy)
    xa = np.where(flat, np.minimum(x1, x2), x1 + t * (x2 - x1))
    xb = np.where(flat, np.maximum(x1, x2), xa)
    left = np.where(spans, xa, np.inf).min(axis=1)
    right = np.where(spans, xb, -np.inf).max(axis=1)
    counts = np.floor(right / 2 + 1e-9) - np.ceil(left / 2 - 1e-9) + 1
    return int(np.maximum(counts, 0).sum())
