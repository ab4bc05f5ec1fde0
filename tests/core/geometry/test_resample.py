"""Segmenting at the model's pixel size: the same scene at two pixel sizes gives the same objects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_axons.core.geometry.resample import Resampling, resampling

# a scene in micrometres: (y, x, outer radius, inner radius) of myelinated fibres
FIBRES = [(5.0, 6.0, 3.0, 2.0), (14.0, 5.0, 2.2, 1.4), (8.0, 17.0, 3.6, 2.5),
          (19.0, 15.0, 1.8, 1.1), (20.5, 4.0, 1.5, 0.9)]
FIELD_UM = 25.6


def render(um_per_px: float, supersample: int = 4) -> np.ndarray:
    """The scene at ``um_per_px`` as an RGB uint8 tile (bright rings, dark axons, grey ground)."""
    n = int(round(FIELD_UM / um_per_px)) * supersample
    c = (np.arange(n) + 0.5) * um_per_px / supersample
    yy, xx = np.meshgrid(c, c, indexing="ij")
    im = np.full((n, n), 120.0)
    for y, x, ro, ri in FIBRES:
        r = np.hypot(yy - y, xx - x)
        im[r < ro] = 230.0
        im[r < ri] = 30.0
    im = im.reshape(n // supersample, supersample, n // supersample, supersample).mean((1, 3))
    return np.repeat(im[..., None], 3, -1).round().astype(np.uint8)


def fake_model(tiles: np.ndarray):
    """A pixel-size dependent 'model': axon logit = darkness after a 3-pixel box blur,
    minus a penalty for being over 20 model pixels (in x or y) away from a bright ring."""
    import torch

    g = tiles[..., 0].astype(np.float32)
    dark = ndimage.uniform_filter(255 - g, size=(1, 3, 3))
    ring = ndimage.maximum_filter(g, size=(1, 41, 41)) > 200  # near a ring, in model pixels
    axon = (dark - 150) / 10 + np.where(ring, 0, -50)
    return torch.from_numpy(np.stack([np.zeros_like(axon), axon], 1))


def objects_um(class_map: np.ndarray, um: float) -> list[tuple[float, float, float]]:
    lab, n = ndimage.label(class_map == 1, structure=np.ones((3, 3)))
    out = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(lab == k)
        out.append(((ys.mean() + 0.5) * um, (xs.mean() + 0.5) * um, ys.size * um * um))
    return sorted(out)


def segment(tile: np.ndarray, image_um: float, model_um: float) -> np.ndarray:
    r = resampling(image_um, model_um)
    model_in = tile[None] if r is None else r.to_model(tile[None])
    logits = fake_model(model_in)
    if r is not None:
        logits = r.to_tile(logits, tile.shape[:2])
    assert tuple(logits.shape[-2:]) == tile.shape[:2]
    return logits.argmax(1)[0].numpy()


def test_same_scene_at_two_pixel_sizes_gives_the_same_objects():
    model_um = 0.1
    fine, coarse = render(0.05), render(0.1)
    assert fine.shape == (512, 512, 3) and coarse.shape == (256, 256, 3)
    at_fine = objects_um(segment(fine, 0.05, model_um), 0.05)
    at_coarse = objects_um(segment(coarse, 0.1, model_um), 0.1)
    assert len(at_fine) == len(at_coarse) == len(FIBRES)
    for (y1, x1, a1), (y2, x2, a2), in zip(at_fine, at_coarse, strict=True):
        assert abs(y1 - y2) < 0.05 and abs(x1 - x2) < 0.05  # um: under a model pixel / 2
        # areas agree within one coarse pixel (0.1 um) along the outline: the coarse map's
        # outline is quantised to its pixels, the fine one's to half of them
        assert abs(a1 - a2) <= 2 * np.sqrt(np.pi * a2) * 0.1
    truth = sorted((y, x, np.pi * ri * ri) for y, x, _, ri in FIBRES)
    for (y1, x1, a1), (y, x, a) in zip(at_fine, truth, strict=True):
        assert abs(y1 - y) < 0.1 and abs(x1 - x) < 0.1 and a1 == pytest.approx(a, rel=0.2)
    # without resampling, the model sees the fine image at the wrong scale: other objects
    wrong = objects_um(segment(fine, model_um, model_um), 0.05)
    assert len(wrong) != len(FIBRES) or any(
        abs(a - b[2]) > 2 * np.sqrt(np.pi * b[2]) * 0.1
        for (_, _, a), b in zip(wrong, at_coarse, strict=True))


def test_logits_come_back_on_the_tile_grid_without_shift():
    import torch

    # a linear ramp survives the round trip (bilinear reproduces linear functions): no
    # half-pixel shift, whatever the rounding of the model's size (100 * 0.7, 61 * 0.7 = 42.7)
    r = Resampling(0.7)
    assert r.model_size(100, 61) == (70, 43)
    yy, xx = np.mgrid[0:100, 0:61].astype(np.float64)
    ramp = (yy * 2 + xx).astype(np.float32)
    model_grid = r.model_size(100, 61)
    # the ramp as the model grid sees it: pixel centres at (i + 0.5) / f - 0.5 in tile pixels
    cy = (np.arange(model_grid[0]) + 0.5) * 100 / model_grid[0] - 0.5
    cx = (np.arange(model_grid[1]) + 0.5) * 61 / model_grid[1] - 0.5
    small = (cy[:, None] * 2 + cx[None, :]).astype(np.float32)
    back = r.to_tile(torch.from_numpy(small)[None, None], (100, 61))[0, 0].numpy()
    inner = (slice(2, -2), slice(2, -2))  # the outermost pixels clamp at the edge
    np.testing.assert_allclose(back[inner], ramp[inner], atol=1e-3)
    # and the tiles the model sees: the same ramp, within rounding to uint8
    tile = np.repeat((ramp[..., None] / ramp.max() * 255).round().astype(np.uint8), 3, -1)[None]
    seen = r.to_model(tile)[0, ..., 0].astype(np.float64)
    expect = small / ramp.max() * 255
    assert np.abs(seen[inner] - expect[inner]).max() <= 1.0


def test_resampling_rules():
    assert resampling(None, 0.1) is None and resampling(0.1, None) is None
    assert resampling(0.101, 0.1) is None  # within 2 %
    assert resampling(0.07, 0.1).factor == pytest.approx(0.7)
    assert resampling(0.18, 0.1).model_size(256, 256) == (461, 461)
    with pytest.raises(ValueError, match="image pixel size must be a positive number"):
        resampling(0.0, 0.1)
    with pytest.raises(ValueError, match="resampling factor must be a positive number"):
        Resampling(float("nan"))
    tiles = np.zeros((2, 8, 8, 3), np.uint8)
    assert Resampling(1.0).to_model(tiles) is tiles
