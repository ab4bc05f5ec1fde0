"""Fibre instances in one window of a class map: axons, their myelin, and the split
between touching sheaths.

A *fibre* is one axon (an 8-connected component of the axon class) and the
myelin that belongs to it. Which myelin pixel belongs to which axon is decided
by a rule that only looks a bounded distance around the pixel, so that a slide
can be cut into windows and every fibre still comes out exactly as if the slide
were whole (:mod:`.engine` runs the windows). With ``L`` the reach (the
thickest sheath expected, in pixels) and ``d_c(p)`` the Euclidean distance from
pixel ``p`` to the nearest pixel of axon ``c``:

1. *Candidates.* Axon ``c`` is a candidate for myelin pixel ``p`` when
   ``d_c(p) <= L`` and ``p`` is 8-connected to ``c`` through myelin pixels
   within ``L`` of ``c``. (Myelin across a background gap, or reachable only
   around through far myelin, is not ``c``'s.) A myelin pixel without
   candidates belongs to no fibre.
2. *Cells.* The cell of ``c``: the pixels whose nearest candidate is ``c``
   (smallest ``d``, ties to the axon that comes first in raster order).
3. *Free sheath thickness* ``t_c``: the median of ``d_c`` over the pixels of
   its cell that touch the background (4-neighbours); for a fibre enclosed by
   others, over the pixels of its cell that touch another cell. At least 1.
4. *Owner.* A myelin pixel goes to the candidate ``c`` with the smallest
   ``d_c(p) / t_c`` -- how far the pixel lies through ``c``'s own sheath --
   ties to the first in raster order. With ``split="nearest"`` the owner is
   the cell (the nearest connected axon: AxonDeepSeg's watershed, seeded by
   the axons, gives nearly that split).
5. *Fibre.* Its axon and the myelin it owns (each owned pixel is connected to
   the axon through myelin, though maybe through a neighbour's: a fibre can
   be in several pieces). Myelin without candidates is *orphan myelin*.

Why the ratio: where two fibres press together, the line where their sheaths
meet passes through the points at which each sheath has its own free
thickness (``d_c = t_c`` for both), and at those points both ratios are 1.
The nearest-axon split puts the line half way between the axons instead, so a
thin-sheathed fibre next to a thick one takes part of the thick sheath: the
"boundary creep" AxonDeepSeg's users report. Near its own axon a fibre always
wins (``d / t`` goes to 0), so a thick neighbour never takes a small fibre's
inner sheath.

Exactness in a window. Everything is computed in a window of the slide whose
*open* edges (those that are not the slide's) hide what lies beyond. Each step
says where its result is exact, from the axons whose whole neighbourhood
``bbox +- (L + 1)`` is in view (*seen* axons):

* the candidates and the cell of ``p`` are exact when every axon within ``L``
  of ``p`` is seen and ``p`` is more than ``L`` from the open edges;
* ``t_c`` is exact when ``c`` is seen and its candidate pixels and their
  neighbours have exact cells;
* the owner of ``p`` is exact when its cell is, and ``t`` of each of its candidates;
* a fibre is exact (``valid``) when the owner of each of its candidate pixels is.

The engine reports only valid fibres and widens the window for the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["SPLITS", "WindowSplit", "split_window"]

#: The split rules: ``"sheath"`` (thickness-normalised, the default), ``"nearest"`` (nearest axon).
SPLITS = ("sheath", "nearest")

_EIGHT = np.ones((3, 3), bool)
_HALF_EIGHT = ((0, 1), (1, 0), (1, 1), (1, -1))  # (dy, dx), each neighbour pair once
_FOUR = ((0, 1), (1, 0), (0, -1), (-1, 0))
#: Raster-order key of a pixel: ``y * KEY_STRIDE + x`` (slides up to 2**32 pixels wide).
KEY_STRIDE = 1 << 32


@dataclass
class WindowSplit:
    """The fibres of one window (local labels are the window's axon components).

    Attributes
    ----------
    origin : tuple of int
        Slide ``(y, x)`` of the window's top-left pixel.
    axons : numpy.ndarray
        ``(H, W)`` int32: local label ``1..n`` of each axon pixel, 0 elsewhere.
    fibres : numpy.ndarray
        ``(H, W)`` int32: the local label of the fibre each pixel belongs to
        (axon and myelin pixels), 0 elsewhere.
    orphans : numpy.ndarray
        ``(H, W)`` int32: 8-connected pieces of orphan myelin, labelled ``1..m``.
    n_axons, n_orphans : int
    anchors, orphan_anchors : numpy.ndarray
        ``(n + 1, 2)`` / ``(m + 1, 2)`` int64 slide ``(y, x)`` of each axon's /
        piece's first pixel in raster order (row 0 unused): its identity,
        wherever the window lies.
    boxes, orphan_boxes : numpy.ndarray
        ``(n + 1, 4)`` / ``(m + 1, 4)`` int64 window ``y0, x0, y1, x1``.
    thickness : numpy.ndarray
        ``(n + 1,)`` float64 ``t`` of each fibre in pixels.
    valid, orphan_valid : numpy.ndarray
        Bool per fibre / piece: computed exactly as in the whole slide.
    cut, orphan_cut : numpy.ndarray
        Bool: touches an open edge (it may be larger than it looks).
    """

    origin: tuple[int, int]
    axons: np.ndarray
    fibres: np.ndarray
    orphans: np.ndarray
    n_axons: int
    n_orphans: int
    anchors: np.ndarray
    orphan_anchors: np.ndarray
    boxes: np.ndarray
    orphan_boxes: np.ndarray
    thickness: np.ndarray
    valid: np.ndarray
    orphan_valid: np.ndarray
    cut: np.ndarray
    orphan_cut: np.ndarray


def split_window(class_map: np.ndarray, *, axon: int, myelin: int, reach: float,
                 origin: tuple[int, int] = (0, 0),
                 open_edges: tuple[bool, bool, bool, bool] = (False, False, False, False),
                 split: str = "sheath") -> WindowSplit:
    """Find the fibres of a window of a class map (the rule in the module docstring).

    Parameters
    ----------
    class_map : numpy.ndarray
        ``(H, W)`` integer class map; ``axon`` and ``myelin`` are the class
        indices of those classes, every other value is background.
    axon, myelin : int
        Class indices.
    reach : float
        ``L``, in pixels.
    origin : tuple of int
        Slide ``(y, x)`` of ``class_map[0, 0]``.
    open_edges : tuple of bool
        ``(top, bottom, left, right)``: True where the window edge is not the
        slide's (what lies beyond is unknown).
    split : str
        ``"sheath"`` or ``"nearest"`` (see :data:`SPLITS`).

    Returns
    -------
    WindowSplit

    Raises
    ------
    ValueError
        ``split`` unknown, ``reach`` not positive, or ``class_map`` not 2-D.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if not reach > 0:
        raise ValueError(f"reach must be a positive number of pixels, got {reach!r}")
    cmap = np.asarray(class_map)
    if cmap.ndim != 2:
        raise ValueError(f"a class map must be 2-D (rows, columns), got shape {cmap.shape}")
    h, w = cmap.shape
    oy, ox = int(origin[0]), int(origin[1])
    is_axon = cmap == axon
    is_myelin = cmap == myelin
    axons, n = ndi.label(is_axon, _EIGHT)
    axons = axons.astype(np.int32, copy=False)
    anchors = _anchors(axons, n, oy, ox)
    rank = np.empty(n + 1, np.int32)  # order of the anchors: the same in every window
    rank[np.lexsort((anchors[:, 1], anchors[:, 0]))] = np.arange(n + 1, dtype=np.int32)
    boxes = _boxes(axons, n)
    cut = _near_open_edge(boxes, open_edges, h, w, 0)
    seen = ~_near_open_edge(boxes, open_edges, h, w, int(math.ceil(reach)) + 1)
    seen[0] = False

    # 1-2: candidates of each axon (flat window indices, distances) and the cells; an
    # axon's candidates lie in its box grown by the reach and in its blob of axon + myelin
    blobs, n_blobs = ndi.label(is_axon | is_myelin, _EIGHT)
    blob_boxes = _boxes(blobs, n_blobs)
    blob_of = np.zeros(n + 1, np.intp)
    if n:
        blob_of[1:] = blobs.ravel()[_first_pixels(axons, n)]
    del blobs
    cand = [_candidates(c, boxes[c], blob_boxes[blob_of[c]], axons, is_myelin, reach, w)
            for c in range(1, n + 1)]
    cells, cell_d = _argmin_over(cand, rank, cmap.shape, lambda c, d: d)
    # where cells are exact: no unseen axon within reach, far from the open edges
    cell_known = _cell_known(axons, seen, open_edges, reach)
    border = _cell_border(cells)
    if split == "sheath" and n:
        thickness = _thickness(cells, cell_d, border, cmap, axon, myelin, n)
        owners, _ = _argmin_over(cand, rank, cmap.shape, lambda c, d: d / thickness[c])
    else:
        thickness = np.ones(n + 1)
        owners = cells
    del cell_d, border

    # exactness: t_c (its cell and the cells next to it), the owners, the fibres
    around_known = ndi.binary_erosion(cell_known, _EIGHT, border_value=1)
    t_known = seen.copy()
    for c, (idx, _) in enumerate(cand, start=1):
        if t_known[c] and not around_known.flat[idx].all():
            t_known[c] = False
    del around_known
    owner_known = cell_known
    for c, (idx, _) in enumerate(cand, start=1):
        if not t_known[c]:
            owner_known.flat[idx] = False
    valid = np.zeros(n + 1, bool)
    for c, (idx, _) in enumerate(cand, start=1):
        valid[c] = seen[c] and bool(owner_known.flat[idx].all())
    del cand

    # 5: the fibre is its axon and the myelin it owns
    fibres = np.where(is_axon, axons, owners).astype(np.int32, copy=False)

    # orphan myelin: its status is exact where the owner is, and the owner's fibre
    orphan_mask = is_myelin & (fibres == 0)
    orphans, m = ndi.label(orphan_mask, _EIGHT)
    orphans = orphans.astype(np.int32, copy=False)
    orphan_anchors = _anchors(orphans, m, oy, ox)
    known = owner_known & is_myelin
    owned = known & (owners > 0)
    known[owned] = valid[owners[owned]]
    unknown = is_myelin & ~known
    _mark_open_edges(unknown, open_edges)
    unknown = ndi.binary_dilation(unknown, _EIGHT)
    orphan_boxes = _boxes(orphans, m)
    orphan_cut = _near_open_edge(orphan_boxes, open_edges, h, w, 0)
    bad = np.bincount(orphans[unknown & orphan_mask], minlength=m + 1) > 0
    orphan_valid = ~bad & ~orphan_cut
    orphan_valid[0] = False
    return WindowSplit((oy, ox), axons, fibres, orphans, n, m, anchors, orphan_anchors, boxes,
                       orphan_boxes, thickness, valid, orphan_valid, cut, orphan_cut)


# --------------------------------------------------------------------------- the rule

def _candidates(c: int, box, blob_box, axons, is_myelin, reach: float, w: int):
    """Axon ``c``'s candidate pixels: flat window indices and ``d_c`` (float32).

    Myelin within ``reach`` of the axon, 8-connected to it through such myelin:
    looked for in the axon's box grown by ``ceil(reach)``, within the box of its
    blob (its connected axon + myelin), clipped to the window.
    """
    import cv2  # here, not at the top: importing cv2 sets LD_LIBRARY_PATH (tests/test_layering.py)

    r = int(math.ceil(reach))
    y0, x0 = max(int(blob_box[0]), int(box[0]) - r), max(int(blob_box[1]), int(box[1]) - r)
    y1, x1 = min(int(blob_box[2]), int(box[2]) + r), min(int(blob_box[3]), int(box[3]) + r)
    own = axons[y0:y1, x0:x1] == c
    d = _edt_raw(~own)
    near = is_myelin[y0:y1, x0:x1] & (d <= reach + _SNAP)
    k, comps = cv2.connectedComponents((near | own).view(np.uint8), connectivity=8)
    if k > 2:
        keep = np.zeros(k, bool)
        keep[comps[own]] = True
        keep[0] = False
        near &= keep[comps]
    ys, xs = np.nonzero(near)
    dist = _snap(d[ys, xs])
    inside = dist <= reach
    if not inside.all():  # at the reach itself: decided on the exact value
        ys, xs, dist = ys[inside], xs[inside], dist[inside]
    return (ys + y0) * w + (xs + x0), dist


#: OpenCV's distances are within this of the exact ones (an ulp of float32 at most).
_SNAP = 1e-3


def _edt_raw(mask: np.ndarray) -> np.ndarray:
    """OpenCV's precise L2 distance of each True pixel to the nearest False one (float32).

    Several times faster than SciPy's ``distance_transform_edt`` on small crops,
    but its values move by an ulp with the array's size and offset: use
    :func:`_snap` on the values that matter (pixels beyond the array are not False).
    """
    import cv2  # here, not at the top: importing cv2 sets LD_LIBRARY_PATH

    return cv2.distanceTransform(np.ascontiguousarray(mask).view(np.uint8), cv2.DIST_L2,
                                 cv2.DIST_MASK_PRECISE)


def _snap(d: np.ndarray) -> np.ndarray:
    """Exact float32 distances from OpenCV's: the squared distance between two pixels is
    an integer, so rounding it gives the exact value back (SciPy's, as float32), the same
    in every window."""
    return np.sqrt(np.rint(np.square(d, dtype=np.float64))).astype(np.float32)


def _edt(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance transform (float32), the same values in every window."""
    return _snap(_edt_raw(mask))


def _edt_above(mask: np.ndarray, limit: float) -> np.ndarray:
    """``_edt(mask) > limit``, snapping only the values near ``limit``."""
    d = _edt_raw(mask)
    out = d > limit
    close = np.abs(d - np.float32(limit)) <= _SNAP
    if close.any():
        out[close] = _snap(d[close]) > limit
    return out


def _argmin_over(cand, rank, shape, value):
    """Per pixel, the candidate ``c`` with the smallest ``(value(c, d), rank[c])``.

    Returns the ``(H, W)`` int32 labels (0: no candidate) and the float32 values.
    """
    best = np.full(shape, np.inf, np.float32)
    who = np.zeros(shape, np.int32)
    flat_best, flat_who = best.reshape(-1), who.reshape(-1)
    for c, (idx, d) in enumerate(cand, start=1):
        if not len(idx):
            continue
        v = np.asarray(value(c, d), np.float32)
        cur, cw = flat_best[idx], flat_who[idx]
        win = (v < cur) | ((v == cur) & (rank[c] < rank[cw]))
        flat_best[idx[win]] = v[win]
        flat_who[idx[win]] = c
    return who, best


def _cell_border(cells: np.ndarray) -> np.ndarray:
    """Pixels of a cell 8-adjacent to a pixel of another cell."""
    border = np.zeros(cells.shape, bool)
    for dy, dx in _HALF_EIGHT:
        s, t = _shifted(cells.shape, dy, dx)
        a, b = cells[s], cells[t]
        hit = (a > 0) & (b > 0) & (a != b)
        border[s] |= hit
        border[t] |= hit
    return border


def _thickness(cells, cell_d, border, cmap, axon, myelin, n) -> np.ndarray:
    """``t`` per fibre: median ``d`` over the cell's free boundary, else over its border."""
    background = (cmap != axon) & (cmap != myelin)
    free = np.zeros(cells.shape, bool)
    for dy, dx in _FOUR:
        s, t = _shifted(cells.shape, dy, dx)
        free[s] |= background[t]
    has = cells > 0
    free &= has
    t_free, c_free = _group_median(cells[free], cell_d[free], n)
    edge = border & has
    t_border, c_border = _group_median(cells[edge], cell_d[edge], n)
    t = np.where(c_free > 0, t_free, np.where(c_border > 0, t_border, 1.0))
    t = np.maximum(t, 1.0)
    t[0] = 1.0
    return t


# --------------------------------------------------------------------------- exactness

def _cell_known(axons, seen, open_edges, reach) -> np.ndarray:
    """Pixels more than ``reach`` from every open edge and every axon not seen whole."""
    blind = (axons > 0) & ~seen[axons]
    _mark_open_edges(blind, open_edges)
    if not blind.any():
        return np.ones(axons.shape, bool)
    return _edt_above(~blind, reach)


def _near_open_edge(boxes: np.ndarray, open_edges, h: int, w: int, margin: int) -> np.ndarray:
    """Per box: within ``margin`` pixels of an open edge (0: touching it)."""
    top, bottom, left, right = open_edges
    out = np.zeros(len(boxes), bool)
    if top:
        out |= boxes[:, 0] - margin <= 0
    if bottom:
        out |= boxes[:, 2] + margin >= h
    if left:
        out |= boxes[:, 1] - margin <= 0
    if right:
        out |= boxes[:, 3] + margin >= w
    return out


def _mark_open_edges(mask: np.ndarray, open_edges) -> None:
    top, bottom, left, right = open_edges
    if top:
        mask[0, :] = True
    if bottom:
        mask[-1, :] = True
    if left:
        mask[:, 0] = True
    if right:
        mask[:, -1] = True


# --------------------------------------------------------------------------- helpers

def _first_pixels(labels: np.ndarray, n: int) -> np.ndarray:
    """Flat index of the first pixel (raster order) of each label ``1..n``."""
    flat = labels.ravel()
    nz = np.flatnonzero(flat)
    _, first = np.unique(flat[nz], return_index=True)
    return nz[first]


def _anchors(labels: np.ndarray, n: int, oy: int, ox: int) -> np.ndarray:
    """``(n + 1, 2)`` int64 slide ``(y, x)`` of each label's first pixel (row 0: -1)."""
    out = np.full((n + 1, 2), -1, np.int64)
    if n:
        fy, fx = np.divmod(_first_pixels(labels, n), labels.shape[1])
        out[1:, 0] = fy + oy
        out[1:, 1] = fx + ox
    return out


def _boxes(labels: np.ndarray, n: int) -> np.ndarray:
    """``(n + 1, 4)`` int64 ``y0, x0, y1, x1`` of each label (row 0 zeros)."""
    out = np.zeros((n + 1, 4), np.int64)
    for k, sl in enumerate(ndi.find_objects(labels, max_label=n), start=1):
        if sl is not None:
            out[k] = sl[0].start, sl[1].start, sl[0].stop, sl[1].stop
    return out


def _shifted(shape, dy: int, dx: int):
    """Index pairs ``(p, p + (dy, dx))`` over the pixels where both exist."""
    h, w = shape
    ys, yt = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xt = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    return (ys, xs), (yt, xt)


def _group_median(labels: np.ndarray, values: np.ndarray, n: int):
    """Median of ``values`` per label ``0..n`` and the counts (NaN where empty)."""
    order = np.lexsort((values, labels))
    lab, val = labels[order], values[order].astype(np.float64)
    counts = np.bincount(lab, minlength=n + 1)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    med = np.full(n + 1, np.nan)
    has = counts > 0
    lo = start[has] + (counts[has] - 1) // 2
    hi = start[has] + counts[has] // 2
    med[has] = (val[lo] + val[hi]) / 2
    return med, counts
