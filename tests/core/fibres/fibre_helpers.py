"""Helpers shared by the fibre tests (imported as ``fibre_helpers``)."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_axons.core.common import ClassTable
from napari_axons.core.export import ExportJob, ExportOptions
from napari_axons.core.fibres import COLUMNS

#: background 0, axon 1, myelin 2
TABLE = ClassTable(("background", "axon", "myelin"))
AXON, MYELIN = 1, 2


def draw_fibre(cmap: np.ndarray, cy: float, cx: float, r_axon: float, r_fibre: float) -> None:
    """Draw a fibre exactly: pixel centres within ``r_fibre`` of ``(cy, cx)`` are myelin,
    within ``r_axon`` axon (``r_axon`` 0: myelin only; ``r_fibre <= r_axon``: axon only)."""
    yy, xx = np.mgrid[0:cmap.shape[0], 0:cmap.shape[1]]
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    cmap[d2 <= r_fibre ** 2] = MYELIN
    if r_axon > 0:
        cmap[d2 <= r_axon ** 2] = AXON


def touching_pair(a, b, *, overlap=1, shape=(90, 120)):
    """Two fibres ``(r_axon, r_fibre)`` side by side, sheaths pressed together by
    ``overlap`` pixels; each pixel belongs to the fibre whose outline it lies deepest
    inside. Returns the class map and each fibre's true g-ratio (from its pixels)."""
    (ra, fa), (rb, fb) = a, b
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    cy, ca = shape[0] / 2, 40.0
    cb = ca + fa + fb - overlap
    da, db = np.hypot(yy - cy, xx - ca), np.hypot(yy - cy, xx - cb)
    rho_a, rho_b = da / fa, db / fb
    own = np.where((rho_a <= 1) & ((rho_a <= rho_b) | (rho_b > 1)), 1, np.where(rho_b <= 1, 2, 0))
    cmap = np.zeros(shape, np.uint8)
    cmap[own > 0] = MYELIN
    cmap[((own == 1) & (da <= ra)) | ((own == 2) & (db <= rb))] = AXON
    truth = [float(np.sqrt(((own == k) & (cmap == AXON)).sum() / (own == k).sum()))
             for k in (1, 2)]
    return cmap, truth


def same_tables(a, b) -> list[str]:
    """The columns in which two fibre tables differ (empty: identical, NaN == NaN)."""
    out = []
    if len(a) != len(b):
        return ["length"]
    for c in COLUMNS:
        x, y = a.columns[c], b.columns[c]
        if x.dtype == object:
            if list(x) != list(y):
                out.append(c)
        elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            out.append(c)
    if not np.array_equal(a.anchors, b.anchors):
        out.append("anchors")
    return out


def make_export(tmp_path, truth, *, tile_size=128, overlap=0, downsample=1, pixel_size=0.1,
                classes=TABLE, name="slide"):
    """Export an RGB image with ``truth`` (working-image class map) as its masks, through
    the product's own export job; returns the export folder."""
    h, w = truth.shape
    img = np.full((h * downsample, w * downsample, 3), 90, np.uint8)
    src = tmp_path / f"{name}.tif"
    tifffile.imwrite(src, img, photometric="rgb")

    def mask_reader(plan, box):
        m = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(h, w)
        m[ys, xs] = truth[box.y + ys.start: box.y + ys.stop, box.x + xs.start: box.x + xs.stop]
        return m

    out = tmp_path / f"{name}_export"
    opts = ExportOptions(tile_size=tile_size, overlap=overlap, downsample=downsample, threads=1,
                         classes=classes, pixel_size=pixel_size)
    job = ExportJob([src], out, opts, mask_reader=mask_reader)
    try:
        list(job.run())
    finally:
        job.close()
    assert not job.errors
    return out
