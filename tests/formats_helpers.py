"""Helpers shared by the format-bridge tests (imported as ``formats_helpers``)."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_axons.core.export import ExportJob, ExportOptions


def discs(shape, seed=0, n=25, holes=True):
    """``(H, W)`` uint8 0/1: discs (some with a hole, some touching diagonally), many
    crossing tile borders."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    m = np.zeros(shape, bool)
    for i in range(n):
        cy, cx = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        r = rng.integers(4, 45)
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        m |= d <= r * r
        if holes and i % 3 == 0 and r > 12:
            m &= ~(d <= (r // 3) ** 2)
    # two pixels touching only at a corner, and a one-pixel object
    m[3, 3] = m[4, 4] = True
    m[shape[0] - 2, 1] = True
    # a thin diagonal line across a tile border
    for k in range(min(60, shape[0] - 200, shape[1] - 220)):
        m[200 + k, 220 + k] = True
    return m.astype(np.uint8)


def make_export(tmp_path, truth, *, downsample=1, tile_size=256, name="slide", classes=None,
                source=None):
    """Tile an RGB image of ``truth``'s shape (times ``downsample``) with ``truth`` as masks."""
    h, w = truth.shape
    img = np.zeros((h * downsample, w * downsample, 3), np.uint8)
    img[..., 0] = 90
    src = source
    if src is None:
        src = tmp_path / f"{name}.tif"
        tifffile.imwrite(src, img, photometric="rgb")

    def mask_reader(plan, box):
        m = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(h, w)
        m[ys, xs] = truth[box.y + ys.start : box.y + ys.stop, box.x + xs.start : box.x + xs.stop]
        return m if classes is not None else m * 255

    out = tmp_path / f"{name}_export"
    job = ExportJob([src], out, ExportOptions(tile_size=tile_size, downsample=downsample, threads=2,
                                                        classes=classes),
                    mask_reader=mask_reader)
    try:
        list(job.run())
    finally:
        job.close()
    assert not job.errors
    return out


def noise_mask(shape, seed, q=0.45, sigma=2.0):
    """A blobby 0/1 mask: Gaussian-smoothed noise above its ``q`` quantile."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.random(shape), sigma)
    return (smooth > np.quantile(smooth, q)).astype(np.uint8)


def tile_pieces(mask, tile):
    """The objects of each ``tile`` x ``tile`` block of ``mask``, in its pixels (shapely)."""
    from napari_axons.core.labels.outlines import class_map_objects

    out = []
    for y in range(0, mask.shape[0], tile):
        for x in range(0, mask.shape[1], tile):
            out += [o.geometry for o in class_map_objects(mask[y:y + tile, x:x + tile], offset=(y, x))]
    return out
