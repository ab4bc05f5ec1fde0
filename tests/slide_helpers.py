"""Test helpers shared by the tile-path tests (test_tiles.py, test_distributed.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile


def filament_tif(path: Path, height: int, width: int, n_lines: int, seed: int) -> Path:
    """An RGB tiled (256^2) TIFF of ``n_lines`` bright filaments on a dark, noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    img = rng.integers(0, 40, (height, width, 3)).astype(np.uint8)
    for k in range(n_lines):
        a, b = rng.uniform(-0.8, 0.8), rng.uniform(0, height)
        img[np.abs(yy - (a * xx + b)) < 2 + k % 3] = (200, 180 + k, 90)
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb")
    return path


def drain(gen):
    """All items of a generator, and its return value: ``(items, value)``."""
    results = []
    while True:
        try:
            results.append(next(gen))
        except StopIteration as stop:
            return results, stop.value
