"""Deterministic synthetic micrographs with their ground truth.

* :func:`make_axon_sample`: a fluorescence-like image of axons (one class).
* :func:`make_myelinated_sample`: an electron-micrograph-like cross-section of
  myelinated axons with a 3-class truth (:data:`MYELINATED_CLASSES`).

Used for the napari sample data, for tests and for benchmarks: no download, any size.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..common import ClassTable

__all__ = ["MYELINATED_CLASSES", "make_axon_sample", "make_myelinated_sample"]

# Radii are stored in an uint8 centre-line map, quantised to 1/_RQ px.
_RQ = 16
_BLOCK = 1024  # rendering block (bounds memory for huge images)
_HALO = 12  # > max radius + blur reach


def _smooth_noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Unit-variance, smoothly varying 1-D noise of length ``n``."""
    pad = int(3 * sigma) + 1
    x = ndi.gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma, mode="wrap")[pad:-pad]
    s = x.std()
    return x / s if s > 0 else x


def _curve(
    rng: np.random.Generator,
    start: np.ndarray,
    heading: float,
    length: float,
    r_min: float,
    r_max: float,
    step: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2) as (y, x) and radii (n,) of one smooth random filament."""
    n = max(int(length / step), 2)
    curvature = _smooth_noise(rng, n, sigma=60 / step) * (0.004 * step)
    theta = heading + np.cumsum(curvature)
    pts = np.empty((n, 2))
    pts[:, 0] = start[0] + np.cumsum(np.sin(theta) * step)
    pts[:, 1] = start[1] + np.cumsum(np.cos(theta) * step)
    u = ndi.gaussian_filter1d(rng.uniform(0, 1, n), 150 / step, mode="nearest")
    u = (u - u.min()) / max(np.ptp(u), 1e-9)
    lo, hi = sorted(rng.uniform(r_min, r_max, 2))
    radii = lo + (hi - lo) * u
    return pts, radii


def make_axon_sample(
    shape: tuple[int, int] = (2048, 2048), *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Make a synthetic fluorescence-like image of axons and its ground-truth mask.

    Smooth random filaments (2-8 px wide, some branching, many crossing) and a few
    bright cell bodies, in green to whitish fluorescence, over a dark, noisy
    background with slightly uneven illumination. The same ``shape`` and ``seed``
    always give the same arrays.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(height, width)`` of the image in pixels, by default ``(2048, 2048)``.
        The number of filaments grows with the area.
    seed : int, optional
        Seed of the random generator, by default 0.

    Returns
    -------
    image : numpy.ndarray
        RGB image, shape ``(height, width, 3)``, dtype uint8.
    mask : numpy.ndarray
        Ground truth, shape ``(height, width)``, dtype uint8, 255 on filaments and
        cell bodies, 0 elsewhere.

    Raises
    ------
    ValueError
        If ``shape`` is not two positive integers.

    Examples
    --------
    >>> image, mask = make_axon_sample((600, 900), seed=1)
    >>> image.shape, mask.shape, image.dtype
    ((600, 900, 3), (600, 900), dtype('uint8'))
    """
    if len(shape) != 2 or min(int(shape[0]), int(shape[1])) < 1:
        raise ValueError(f"shape must be two positive integers (height, width), got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(seed)
    scale = np.sqrt(h * w) / 2048.0

    # --- geometry: filaments (points, radius, amplitude, colour) and cell bodies
    pts_all, rad_all, fil_all = [], [], []
    fil_amp, fil_col = [], []
    n_fil = max(2, int(round(22 * scale * scale)))
    n_soma = max(1, int(round(5 * scale * scale)))
    diag = np.hypot(h, w)

    def add(pts: np.ndarray, radii: np.ndarray) -> None:
        fil_all.append(np.full(len(radii), len(fil_amp), np.int32))
        pts_all.append(pts)
        rad_all.append(radii)
        fil_amp.append(rng.uniform(140, 240))
        whiteness = rng.uniform(0.0, 0.6)
        fil_col.append(
            np.array([0.25 + 0.75 * whiteness, 1.0, 0.3 + 0.65 * whiteness])
            * rng.uniform(0.9, 1.0, 3)
        )

    somas = []
    for i in range(n_fil):
        start = rng.uniform([0, 0], [h, w])
        length = rng.uniform(0.3, 1.0) * diag
        heading = rng.uniform(0, 2 * np.pi)
        pts, radii = _curve(rng, start, heading, length, 1.0, 4.0)
        # continue backwards too so the filament runs through its start point
        back, back_r = _curve(rng, start, heading + np.pi, 0.5 * length, 1.0, 4.0)
        add(np.concatenate([back[::-1], pts]), np.concatenate([back_r[::-1], radii]))
        if i < n_soma:  # a soma sits at the start of some filaments
            somas.append((start[0], start[1]))
        for _ in range(rng.integers(0, 3)):  # branches
            k = rng.integers(0, len(pts))
            heading = np.arctan2(*(pts[min(k + 1, len(pts) - 1)] - pts[max(k - 1, 0)]))
            heading += rng.choice([-1, 1]) * rng.uniform(0.3, 1.2)
            bp, br = _curve(rng, pts[k], heading, rng.uniform(0.1, 0.4) * diag, 1.0, 2.5)
            add(bp, br)

    pts = np.concatenate(pts_all)
    radii = np.concatenate(rad_all)
    fil = np.concatenate(fil_all)
    amp = np.asarray(fil_amp, np.float32)
    col = np.asarray(fil_col, np.float32)

    iy = np.rint(pts[:, 0]).astype(np.int64)
    ix = np.rint(pts[:, 1]).astype(np.int64)
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    iy, ix, radii, fil = iy[inside], ix[inside], radii[inside], fil[inside]
    # centre-line map: quantised radius (0 = no filament) and filament id of the widest
    rq = np.clip(np.rint(radii * _RQ), 1, 255).astype(np.uint8)
    order = np.argsort(rq, kind="stable")  # later writes win: the widest stays
    flat = iy[order] * w + ix[order]
    rmap = np.zeros(h * w, np.uint8)
    fmap = np.zeros(h * w, np.int32)
    rmap[flat] = rq[order]
    fmap[flat] = fil[order]
    rmap = rmap.reshape(h, w)
    fmap = fmap.reshape(h, w)

    soma_par = []
    for cy, cx in somas:
        a, b = rng.uniform(9, 22, 2)
        soma_par.append((cy, cx, a, b, rng.uniform(0, np.pi), rng.uniform(200, 250)))

    # --- illumination, background level (low-frequency, analytic)
    gy, gx = rng.uniform(-0.5, 0.5, 2)
    cy0, cx0 = rng.uniform(0.3, 0.7, 2)
    bg_level = rng.uniform(14, 22)

    image = np.empty((h, w, 3), np.uint8)
    mask = np.empty((h, w), np.uint8)
    for by in range(0, h, _BLOCK):
        for bx in range(0, w, _BLOCK):
            y0, y1 = max(by - _HALO, 0), min(by + _BLOCK + _HALO, h)
            x0, x1 = max(bx - _HALO, 0), min(bx + _BLOCK + _HALO, w)
            sub_r = rmap[y0:y1, x0:x1]
            yy = np.arange(y0, y1, dtype=np.float32)[:, None]
            xx = np.arange(x0, x1, dtype=np.float32)[None, :]
            if sub_r.any():
                dist, (ny, nx) = ndi.distance_transform_edt(sub_r == 0, return_indices=True)
                r_near = sub_r[ny, nx].astype(np.float32) / _RQ
                f_near = fmap[y0:y1, x0:x1][ny, nx]
                dist = dist.astype(np.float32)
                fg = dist <= r_near
                # bright core with a slight fall-off, anti-aliased edge: the mask edge
                # (dist == radius) sits at about half the core brightness
                t = dist / r_near
                prof = (1.0 - 0.2 * np.minimum(t * t, 1.0)) * np.clip(r_near + 0.5 - dist, 0, 1)
                a = amp[f_near] * prof
                rgb = a[..., None] * col[f_near]
            else:
                fg = np.zeros(sub_r.shape, bool)
                rgb = np.zeros(sub_r.shape + (3,), np.float32)
            for cy, cx, sa, sb, ang, samp in soma_par:
                if cy + 30 < y0 or cy - 30 > y1 or cx + 30 < x0 or cx - 30 > x1:
                    continue
                dy, dx = yy - cy, xx - cx
                u = (dy * np.cos(ang) + dx * np.sin(ang)) / sa
                v = (-dy * np.sin(ang) + dx * np.cos(ang)) / sb
                q = u * u + v * v
                in_soma = q <= 1.0
                fg |= in_soma
                s = np.where(in_soma, samp * (1.0 - 0.2 * q), 0.0).astype(np.float32)
                soma_rgb = s[..., None] * np.array([0.75, 1.0, 0.7], np.float32)
                np.maximum(rgb, soma_rgb, out=rgb)
            # optics: a little blur
            rgb = ndi.gaussian_filter(rgb, sigma=(0.6, 0.6, 0), truncate=3.0)
            # uneven illumination and background
            ny_, nx_ = yy / h - cy0, xx / w - cx0
            illum = 1.0 - 0.35 * (ny_ * ny_ + nx_ * nx_) + 0.1 * (gy * ny_ + gx * nx_)
            bg = bg_level * (1.0 + gy * ny_ + gx * nx_)
            rgb *= illum[..., None]
            rgb += bg[..., None] * np.array([0.8, 1.0, 0.9], np.float32)
            # noise: read noise + shot noise, reproducible per block
            brng = np.random.default_rng([seed, by, bx])
            noise = brng.standard_normal(rgb.shape, dtype=np.float32)
            noise *= np.sqrt(16.0 + 0.6 * rgb)
            rgb += noise
            sy, sx = by - y0, bx - x0
            ey, ex = sy + min(_BLOCK, h - by), sx + min(_BLOCK, w - bx)
            image[by : by + _BLOCK, bx : bx + _BLOCK] = np.clip(rgb[sy:ey, sx:ex], 0, 255).astype(
                np.uint8
            )
            mask[by : by + _BLOCK, bx : bx + _BLOCK] = fg[sy:ey, sx:ex].astype(np.uint8) * 255
    return image, mask


# --------------------------------------------------------------------------- myelinated axons

def _myelinated_table():
    # AxonDeepSeg's 3-class order (its nnU-Net dataset.json): background 0, myelin 1, axon 2
    return ClassTable(("background", "myelin", "axon"),
                      ((0, 0, 0), (64, 160, 255), (255, 64, 64)))


#: The classes of :func:`make_myelinated_sample`'s truth: 0 background, 1 myelin, 2 axon
#: (AxonDeepSeg's order).
MYELINATED_CLASSES = _myelinated_table()

_R_MIN, _R_MAX = 11.0, 42.0  # fibre (outer myelin) radius in pixels


def _place_fibres(rng: np.random.Generator, h: int, w: int) -> list[tuple]:
    """Non-overlapping (allowed to touch) fibres: (cy, cx, R, g, ecc, angle, harmonics)."""
    area = float(h) * float(w)
    n_try = max(4, int(area / 90.0))
    cell = 2 * _R_MAX
    grid: dict[tuple[int, int], list[int]] = {}
    fibres: list[tuple] = []
    cys = rng.uniform(-_R_MAX, h + _R_MAX, n_try)
    cxs = rng.uniform(-_R_MAX, w + _R_MAX, n_try)
    # fibre radii: many small, a few large (log-normal, clipped)
    rs = np.clip(np.exp(rng.normal(np.log(19.0), 0.35, n_try)), _R_MIN, _R_MAX)
    gs = rng.uniform(0.5, 0.75, n_try)  # g-ratio: axon radius / fibre radius
    eccs = rng.uniform(1.0, 1.45, n_try)  # major / minor axis
    angs = rng.uniform(0, np.pi, n_try)
    harm = rng.normal(0, 0.035, (n_try, 3, 2))  # wobble of the outline (harmonics 2-4)
    for k in range(n_try):
        cy, cx, r = cys[k], cxs[k], rs[k]
        gy, gx = int(cy // cell), int(cx // cell)
        ok = True
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                for j in grid.get((gy + dy, gx + dx), ()):
                    oy, ox, orr = fibres[j][:3]
                    # ellipticity and wobble make a fibre reach up to ~1.25 R: a little
                    # overlap is allowed, resolved pixel by pixel (touching fibres)
                    if np.hypot(cy - oy, cx - ox) < 0.95 * (r + orr):
                        ok = False
                        break
                if not ok:
                    break
            if not ok:
                break
        if ok:
            grid.setdefault((gy, gx), []).append(len(fibres))
            fibres.append((cy, cx, r, gs[k], eccs[k], angs[k], harm[k]))
    return fibres


def make_myelinated_sample(
    shape: tuple[int, int] = (2048, 2048), *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Make a synthetic SEM-like cross-section of myelinated axons and its class map.

    Fibres (a bright axon inside a dark myelin ring) of varied size
    (outer radius 11-42 px, log-normal), g-ratio (axon / fibre radius 0.5-0.75),
    ellipticity (up to 1.45) and slightly wobbly outlines, packed densely on a
    grey, textured background; neighbours may touch (each pixel belongs to the
    fibre whose outline it lies deepest inside). Axons hold a few darker
    organelles, every fibre has its own grey levels; the image is blurred
    (sigma 0.9 px), with uneven illumination and noise, grey in three equal
    channels. The same ``shape`` and ``seed`` always give the same arrays.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(height, width)`` in pixels, by default ``(2048, 2048)``. Nominally
        about 0.05 um per pixel (fibres 1-4 um across).
    seed : int, optional
        Seed of the random generator, by default 0.

    Returns
    -------
    image : numpy.ndarray
        ``(height, width, 3)`` uint8, grey.
    classes : numpy.ndarray
        ``(height, width)`` uint8 class map: 0 background, 1 myelin, 2 axon
        (:data:`MYELINATED_CLASSES`, AxonDeepSeg's order).

    Raises
    ------
    ValueError
        If ``shape`` is not two positive integers.

    Examples
    --------
    >>> image, classes = make_myelinated_sample((256, 384), seed=1)
    >>> image.shape, classes.shape, sorted(set(classes.ravel().tolist()))
    ((256, 384, 3), (256, 384), [0, 1, 2])
    """
    if len(shape) != 2 or min(int(shape[0]), int(shape[1])) < 1:
        raise ValueError(f"shape must be two positive integers (height, width), got {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    rng = np.random.default_rng([seed, 2])
    fibres = _place_fibres(rng, h, w)

    depth = np.full((h, w), np.inf, np.float32)  # outline-relative radius of the owning fibre
    owner = np.full((h, w), -1, np.int32)
    for k, (cy, cx, r, _g, ecc, ang, harm) in enumerate(fibres):
        reach = 1.3 * r * np.sqrt(ecc)
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, h)
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, w)
        if y1 <= y0 or x1 <= x0:
            continue
        dy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(cy)
        dx = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(cx)
        ca, sa = np.float32(np.cos(ang)), np.float32(np.sin(ang))
        u = (dy * ca + dx * sa) * np.float32(np.sqrt(ecc))  # major axis stretched by sqrt(ecc)
        v = (-dy * sa + dx * ca) / np.float32(np.sqrt(ecc))
        theta = np.arctan2(v, u)
        wob = np.float32(1.0)
        for m, (a, b) in enumerate(harm, start=2):
            wob = wob + np.float32(a) * np.cos(m * theta) + np.float32(b) * np.sin(m * theta)
        rho = np.sqrt(u * u + v * v) / (np.float32(r) * wob)
        sub_d, sub_o = depth[y0:y1, x0:x1], owner[y0:y1, x0:x1]
        better = (rho <= 1.0) & (rho < sub_d)
        sub_d[better] = rho[better]
        sub_o[better] = k

    classes = np.zeros((h, w), np.uint8)
    g_of = np.array([f[3] for f in fibres] + [0.0], np.float32)  # owner -1 -> last entry
    inside = owner >= 0
    classes[inside] = 1
    classes[inside & (depth <= g_of[owner])] = 2

    # --- grey levels: background texture, per-fibre myelin and axoplasm levels
    from scipy import ndimage as ndi

    n = len(fibres)
    my_level = np.append(rng.uniform(28, 58, n), 0).astype(np.float32)
    ax_level = np.append(rng.uniform(165, 215, n), 0).astype(np.float32)
    tex = ndi.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), 4.0)
    tex *= np.float32(1.0 / max(float(tex.std()), 1e-6))
    fine = ndi.gaussian_filter(rng.standard_normal((h, w)).astype(np.float32), 1.2)
    fine *= np.float32(1.0 / max(float(fine.std()), 1e-6))
    img = np.float32(118.0) + np.float32(14.0) * tex  # extracellular matrix
    img[classes == 1] = my_level[owner[classes == 1]] + np.float32(4.0) * fine[classes == 1]
    ax = classes == 2
    img[ax] = ax_level[owner[ax]] + np.float32(9.0) * fine[ax]
    # organelles: a few darker blobs inside the larger axons (still axon in the truth)
    for cy, cx, r, g, *_ in fibres:
        if r * g < 9:
            continue
        for _ in range(rng.integers(0, 4)):
            ry, rx = rng.uniform(-0.5, 0.5, 2) * r * g
            oy, ox, rad = int(cy + ry), int(cx + rx), rng.uniform(1.5, 3.5)
            y0, y1 = max(oy - 4, 0), min(oy + 5, h)
            x0, x1 = max(ox - 4, 0), min(ox + 5, w)
            if y1 <= y0 or x1 <= x0:
                continue
            yy = np.arange(y0, y1)[:, None] - oy
            xx = np.arange(x0, x1)[None, :] - ox
            blob = (yy * yy + xx * xx <= rad * rad) & ax[y0:y1, x0:x1]
            img[y0:y1, x0:x1][blob] -= np.float32(rng.uniform(35, 60))
    img = ndi.gaussian_filter(img, 0.9)
    # uneven illumination (detector gain across the field), then noise
    cy0, cx0 = rng.uniform(0.2, 0.8, 2)
    yy = (np.arange(h, dtype=np.float32)[:, None] / max(h, 1) - np.float32(cy0))
    xx = (np.arange(w, dtype=np.float32)[None, :] / max(w, 1) - np.float32(cx0))
    img *= np.float32(1.0) - np.float32(0.18) * (yy * yy + xx * xx)
    img += rng.standard_normal((h, w), dtype=np.float32) * np.float32(11.0)
    grey = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), classes
