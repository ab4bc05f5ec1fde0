"""The coordinate rule: working pixels <-> full-resolution (slide) pixels <-> napari's world.

Three spaces, all ``(y, x)`` (row, column):

* **full resolution**: pixels of the source image (level 0 of its pyramid);
* **working**: pixels of the image as tiled, ``(height // f, width // f)`` for a
  downsample factor ``f`` (the seed's rule). The tile grid and the mask store
  live here;
* **world**: napari's coordinates, given by the image layer's ``scale`` and
  ``translate``.

A working pixel ``i`` covers full-resolution pixels ``[i * s, (i + 1) * s)`` with
``s = full size / working size`` (``s >= f``, not always an integer), so the
full-resolution pixel ``r`` belongs to working pixel ``floor(r / s)``; the last
``full size - working size * s`` rows (fewer than ``f``) belong to none, as in
the seed's ``resize``. All mappings here use integer arithmetic on
``(full size, working size)``, so they are exact at any size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Placement", "full_span", "working_index", "full_box"]


def full_span(i0: int, i1: int, full: int, working: int) -> tuple[int, int]:
    """Full-resolution rows ``[r0, r1)`` covered by working rows ``[i0, i1)`` along one axis.

    Examples
    --------
    >>> full_span(0, 1, 10, 3)  # s = 10 / 3: working 0 covers rows 0, 1, 2, 3
    (0, 4)
    >>> full_span(1, 3, 10, 3)
    (4, 10)
    """
    i0, i1 = max(0, i0), min(working, i1)
    if i1 <= i0:
        return 0, 0
    return -(-i0 * full // working), -(-i1 * full // working)


def working_index(r0: int, r1: int, full: int, working: int) -> np.ndarray:
    """For full-resolution rows ``r0 .. r1 - 1``, the working row each belongs to (int64)."""
    return (np.arange(r0, r1, dtype=np.int64) * working) // full


def full_box(y0: int, x0: int, y1: int, x1: int, full_shape, working_shape):
    """The full-resolution ``(y0, x0, y1, x1)`` covered by a working box (clipped to the images)."""
    fy0, fy1 = full_span(y0, y1, full_shape[0], working_shape[0])
    fx0, fx1 = full_span(x0, x1, full_shape[1], working_shape[1])
    return fy0, fx0, fy1, fx1


@dataclass(frozen=True)
class Placement:
    """Where working-image pixels sit in napari's world.

    A working pixel ``i`` covers source pixels ``[i * s, (i + 1) * s)``
    (``s = source size / working size``), so its centre is at source data
    coordinate ``s * i + (s - 1) / 2`` (napari puts pixel centres on integers).
    With the image layer's own ``scale`` and ``translate`` this gives the mask
    and overlay layers' ``scale = image_scale * s`` and
    ``translate = image_translate + image_scale * (s - 1) / 2``.

    Examples
    --------
    >>> p = Placement((1.0, 1.0), (0.0, 0.0), (3.0, 3.0))
    >>> p.scale, p.translate
    ((3.0, 3.0), (1.0, 1.0))
    >>> p.world_to_working((4.0, 0.0))
    (1, 0)
    """

    image_scale: tuple[float, float]
    image_translate: tuple[float, float]
    factor: tuple[float, float]
    #: The image layer's world units (e.g. ``("micrometer", "micrometer")``), given to the
    #: overlay and mask layers too so that napari's scale bar keeps them; None: napari's default.
    units: tuple[str, str] | None = None

    @property
    def scale(self) -> tuple[float, float]:
        return tuple(float(a * f) for a, f in zip(self.image_scale, self.factor, strict=True))

    @property
    def translate(self) -> tuple[float, float]:
        return tuple(
            float(t + a * (f - 1) / 2)
            for t, a, f in zip(self.image_translate, self.image_scale, self.factor, strict=True)
        )

    def offset(self, y: float, x: float) -> tuple[float, float]:
        """``translate`` of a layer whose pixel (0, 0) is working pixel ``(y, x)``."""
        (ty, tx), (sy, sx) = self.translate, self.scale
        return ty + sy * y, tx + sx * x

    def world_to_working(self, position) -> tuple[int, int]:
        """The working pixel ``(row, column)`` under a world position (last two axes)."""
        (ty, tx), (sy, sx) = self.translate, self.scale
        wy, wx = float(position[-2]), float(position[-1])
        return math.floor((wy - ty) / sy + 0.5), math.floor((wx - tx) / sx + 0.5)
