"""Per-fibre measures in pixels, from a window's fibres.

Every value depends only on the fibre's own pixels (shape measures of
:mod:`.shape`, which follow scikit-image's ``regionprops``; coordinate sums
relative to the fibre's anchor), so a fibre measured in any window that holds
it whole gives the same numbers to the last bit.

Pixel columns (:data:`PIXEL_COLUMNS`), one row per fibre or orphan myelin piece:

``kind``            0 a fibre (an axon and its myelin), 1 orphan myelin (no axon)
``anchor_y/x``      slide pixel of its first pixel in raster order (its identity)
``cy, cx``          centroid of the axon (orphan: of the piece), slide pixels
``axon_area``       axon pixels
``axon_perimeter``  perimeter of the axon (scikit-image's 4-neighbourhood estimate)
``eccentricity, orientation, solidity``  of the axon (orientation in radians, the
                    angle between the rows axis and the major axis)
``fibre_area``      axon + myelin pixels of the fibre (orphan: the piece)
``fibre_perimeter, fibre_eccentricity, fibre_orientation``  of the fibre
``y0, x0, y1, x1``  the fibre's bounding box, slide pixels (end exclusive)
``sheath_px``       ``t``, the free sheath thickness used by the split (pixels)
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy import ndimage as ndi

from ..labels import class_map_objects
from .shape import convex_area, region_moments, region_perimeters
from .split import WindowSplit

__all__ = ["PIXEL_COLUMNS", "measure_window", "empty_rows"]

PIXEL_COLUMNS = ("kind", "anchor_y", "anchor_x", "cy", "cx", "axon_area", "axon_perimeter",
                 "eccentricity", "orientation", "solidity", "fibre_area", "fibre_perimeter",
                 "fibre_eccentricity", "fibre_orientation", "y0", "x0", "y1", "x1", "sheath_px")
_INT_COLUMNS = {"kind", "anchor_y", "anchor_x", "axon_area", "fibre_area", "y0", "x0", "y1", "x1"}


def empty_rows(n: int = 0) -> dict[str, np.ndarray]:
    """Pixel columns for ``n`` rows (int64 zeros, float64 NaN)."""
    return {c: (np.zeros(n, np.int64) if c in _INT_COLUMNS else np.full(n, np.nan))
            for c in PIXEL_COLUMNS}


def measure_window(ws: WindowSplit, fibres: np.ndarray, orphans: np.ndarray, *,
                   outlines: bool = False):
    """Measure the fibres ``fibres`` and orphan pieces ``orphans`` (local labels) of a window.

    Parameters
    ----------
    ws : WindowSplit
    fibres, orphans : numpy.ndarray
        Local labels of the fibres and orphan pieces to measure.
    outlines : bool
        Also return each row's outline: a shapely Polygon or MultiPolygon whose
        vertices are slide pixel corners (``x`` = column, ``y`` = row), along the
        pixel edges of the fibre (axon + myelin) or piece.

    Returns
    -------
    rows : dict of numpy.ndarray
        :data:`PIXEL_COLUMNS`, fibres first (in the order given), then orphans.
    shapes : list or None
        The outlines, in the same order (None without ``outlines``).
    """
    oy, ox = ws.origin
    fibres = np.asarray(fibres, np.intp)
    orphans = np.asarray(orphans, np.intp)
    nf = len(fibres)
    rows = empty_rows(nf + len(orphans))
    shapes: list | None = [] if outlines else None
    if nf:
        n = ws.n_axons
        keep = np.zeros(n + 1, bool)
        keep[fibres] = True
        cy0, cx0, cy1, cx1 = _union_box(ndi.find_objects(ws.fibres, max_label=n), fibres)
        fb_img = ws.fibres[cy0:cy1, cx0:cx1]
        ax_img = ws.axons[cy0:cy1, cx0:cx1]
        fb_img = np.where(keep[fb_img], fb_img, 0)
        ax_img = np.where(keep[ax_img], ax_img, 0)
        local = ws.anchors - np.array([oy + cy0, ox + cx0])
        am = region_moments(ax_img, n, local)
        fm = region_moments(fb_img, n, local)
        ap = region_perimeters(ax_img, n)
        fp = region_perimeters(fb_img, n)
        ax_slices = ndi.find_objects(ax_img, max_label=n)
        fb_slices = ndi.find_objects(fb_img, max_label=n)
        r = slice(0, nf)
        rows["kind"][r] = 0
        rows["anchor_y"][r], rows["anchor_x"][r] = ws.anchors[fibres, 0], ws.anchors[fibres, 1]
        rows["cy"][r] = ws.anchors[fibres, 0] + am["dy"][fibres]
        rows["cx"][r] = ws.anchors[fibres, 1] + am["dx"][fibres]
        rows["axon_area"][r] = am["area"][fibres]
        rows["axon_perimeter"][r] = ap[fibres]
        rows["eccentricity"][r] = am["eccentricity"][fibres]
        rows["orientation"][r] = am["orientation"][fibres]
        rows["fibre_area"][r] = fm["area"][fibres]
        rows["fibre_perimeter"][r] = fp[fibres]
        rows["fibre_eccentricity"][r] = fm["eccentricity"][fibres]
        rows["fibre_orientation"][r] = fm["orientation"][fibres]
        rows["sheath_px"][r] = ws.thickness[fibres]
        py, px_ = oy + cy0, ox + cx0
        for i, k in enumerate(fibres.tolist()):
            sa, sf = ax_slices[k - 1], fb_slices[k - 1]
            rows["solidity"][i] = am["area"][k] / convex_area(ax_img[sa] == k)
            rows["y0"][i], rows["x0"][i] = sf[0].start + py, sf[1].start + px_
            rows["y1"][i], rows["x1"][i] = sf[0].stop + py, sf[1].stop + px_
            if shapes is not None:
                shapes.append(_outline(fb_img[sf] == k, sf[0].start + py, sf[1].start + px_))
    if len(orphans):
        m = ws.n_orphans
        keep = np.zeros(m + 1, bool)
        keep[orphans] = True
        cy0, cx0, cy1, cx1 = _union_box(ndi.find_objects(ws.orphans, max_label=m), orphans)
        img = ws.orphans[cy0:cy1, cx0:cx1]
        img = np.where(keep[img], img, 0)
        py, px_ = oy + cy0, ox + cx0
        mo = region_moments(img, m, ws.orphan_anchors - np.array([py, px_]))
        per = region_perimeters(img, m)
        slices = ndi.find_objects(img, max_label=m)
        r = slice(nf, nf + len(orphans))
        rows["kind"][r] = 1
        rows["anchor_y"][r] = ws.orphan_anchors[orphans, 0]
        rows["anchor_x"][r] = ws.orphan_anchors[orphans, 1]
        rows["cy"][r] = ws.orphan_anchors[orphans, 0] + mo["dy"][orphans]
        rows["cx"][r] = ws.orphan_anchors[orphans, 1] + mo["dx"][orphans]
        rows["fibre_area"][r] = mo["area"][orphans]
        rows["fibre_perimeter"][r] = per[orphans]
        rows["fibre_eccentricity"][r] = mo["eccentricity"][orphans]
        rows["fibre_orientation"][r] = mo["orientation"][orphans]
        for i, k in enumerate(orphans.tolist(), start=nf):
            sl = slices[k - 1]
            rows["y0"][i], rows["x0"][i] = sl[0].start + py, sl[1].start + px_
            rows["y1"][i], rows["x1"][i] = sl[0].stop + py, sl[1].stop + px_
            if shapes is not None:
                shapes.append(_outline(img[sl] == k, sl[0].start + py, sl[1].start + px_))
    return rows, shapes


def _union_box(slices, labels) -> tuple[int, int, int, int]:
    """The box ``(y0, x0, y1, x1)`` around the regions ``labels`` (1-based slices)."""
    sl = [slices[k - 1] for k in labels.tolist()]
    return (min(s[0].start for s in sl), min(s[1].start for s in sl),
            max(s[0].stop for s in sl), max(s[1].stop for s in sl))


def _outline(mask: np.ndarray, y0: int, x0: int):
    """The pixel-edge outline of a connected ``mask`` placed at slide ``(y0, x0)``."""
    objects = class_map_objects(mask.astype(np.uint8), offset=(y0, x0))
    if len(objects) == 1:
        return objects[0].geometry
    return shapely.union_all([o.geometry for o in objects])
