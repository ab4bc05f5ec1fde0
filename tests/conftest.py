"""Shared fixtures. Core tests need no display; GUI tests are marked ``gui``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):  # `bench.seed_reference`, `tiny_models`
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

os.environ.setdefault("OMP_NUM_THREADS", "1")  # ENVIRONMENT.md pitfall 4


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def rgb_image(rng):
    """A deterministic RGB uint8 image with structure (not pure noise)."""
    def make(height, width):
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack([(xx * 7 + yy * 3) % 256, (xx * 2 + yy * 5) % 256, (xx ^ yy) % 256], -1)
        noise = rng.integers(0, 20, (height, width, 3))
        return np.clip(base + noise, 0, 255).astype(np.uint8)
    return make
