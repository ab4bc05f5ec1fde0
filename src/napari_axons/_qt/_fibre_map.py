"""Which fibre each pixel of a measured area belongs to: the fibres layer's data (no Qt here).

A :class:`FibreMap` is the instance map of the area the Fibres section measured,
in working pixels: 0 where no fibre is, else the fibre's ``fibre_id`` (its row in
the fibre table). It is painted from the fibres' outlines
(:func:`~napari_axons.core.fibres.fibre_features`, pixel edges) with the pixel-centre
rule of :func:`~napari_axons.core.labels.rasterize`, so a fibre's pixels are
exactly the axon and myelin pixels the engine gave it.

Each fibre also gets a checksum of the class-map pixels under it when it is
painted (:attr:`FibreMap.signatures`, from their positions and class values):
removing a fibre later first checks that its pixels in the masks are still what
was measured, so a hand edit made since is never erased by a removal.

Small areas (at most :data:`IN_MEMORY_PIXELS`) are one NumPy array, shown as a
single-scale Labels layer. Larger ones (a whole slide) live in a Zarr array on
disk with levels subsampled by 2, 4, ... until the longest side is at most
:data:`OVERVIEW_SIDE`, shown as a multiscale Labels layer (napari reads only the
chunks in view). Painting goes through a buffer of at most
:data:`BATCH_PIXELS`, so memory is bounded by the buffer, not the area.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import zarr

from ..core.labels import rasterize

__all__ = ["FibreMap", "IN_MEMORY_PIXELS", "OVERVIEW_SIDE", "BATCH_PIXELS"]

#: Areas up to this many pixels are one NumPy array (int32: 64 MiB) and one layer level.
IN_MEMORY_PIXELS = 4096 * 4096
#: Larger areas get reduced levels until the longest side is at most this.
OVERVIEW_SIDE = 2048
#: Outlines are painted through a buffer of at most this many pixels.
BATCH_PIXELS = 4096 * 2048
_CHUNK = 512


class FibreMap:
    """The instance map of a measured area.

    Parameters
    ----------
    box : tuple of int
        ``(y0, x0, y1, x1)`` of the area in working pixels.
    root : path, optional
        Where the Zarr folder of a large area goes (default: the system's
        temporary folder); deleted by :meth:`close`.

    Attributes
    ----------
    levels : list of array
        ``int32`` level 0 (the area) and the reduced levels, full size first.
    signatures : dict
        ``{fibre id: checksum}`` of the class-map pixels under each fibre when it
        was painted (see :meth:`signature`); empty when painted without a class map.
    """

    def __init__(self, box: tuple[int, int, int, int], root: str | Path | None = None):
        self.box = tuple(int(v) for v in box)
        h, w = self.shape
        self.folder: Path | None = None
        self.signatures: dict[int, int] = {}
        if h * w <= IN_MEMORY_PIXELS:
            self.levels = [np.zeros((h, w), np.int32)]
            return
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="napari-axons-fibre-map-", dir=root))
        group = zarr.open_group(str(self.folder / "fibres.zarr"), mode="w")
        self.levels, k = [], 0
        while True:
            self.levels.append(group.create_array(
                str(k), shape=(h, w), chunks=(min(_CHUNK, h), min(_CHUNK, w)), dtype="int32",
                fill_value=0))
            if max(h, w) <= OVERVIEW_SIDE:
                break
            h, w, k = -(-h // 2), -(-w // 2), k + 1

    @property
    def shape(self) -> tuple[int, int]:
        y0, x0, y1, x1 = self.box
        return y1 - y0, x1 - x0

    @property
    def multiscale(self) -> bool:
        return len(self.levels) > 1

    # ---------------------------------------------------------------- painting
    def paint(self, items: Iterable[tuple[int, object]], class_map=None) -> int:
        """Paint ``(fibre_id, outline)`` items (outlines in working pixels of the whole
        image, pixel edges); returns how many. Call :meth:`finish` once all are painted.

        With ``class_map`` (the working image's ``(H, W)`` class map, array-like),
        each fibre's :attr:`signatures` entry is taken from the pixels under it."""
        batch, bounds, n = [], None, 0
        for fid, geom in items:
            if geom is None or geom.is_empty:
                continue
            gx0, gy0, gx1, gy1 = geom.bounds
            grown = (gy0, gx0, gy1, gx1) if bounds is None else (
                min(bounds[0], gy0), min(bounds[1], gx0), max(bounds[2], gy1), max(bounds[3], gx1))
            if batch and (grown[2] - grown[0]) * (grown[3] - grown[1]) > BATCH_PIXELS:
                self._paint_batch(batch, bounds, class_map)
                batch, grown = [], (gy0, gx0, gy1, gx1)
            batch.append((int(fid), geom))
            bounds = grown
            n += 1
        if batch:
            self._paint_batch(batch, bounds, class_map)
        return n

    def _paint_batch(self, batch, bounds, class_map) -> None:
        ay0, ax0 = self.box[:2]
        h, w = self.shape
        y0, x0 = max(int(np.floor(bounds[0])) - ay0, 0), max(int(np.floor(bounds[1])) - ax0, 0)
        y1, x1 = min(int(np.ceil(bounds[2])) - ay0, h), min(int(np.ceil(bounds[3])) - ax0, w)
        if y1 <= y0 or x1 <= x0:
            return
        buf = rasterize(batch, np.zeros((y1 - y0, x1 - x0), np.int32),
                        origin=(float(ay0 + y0), float(ax0 + x0)))
        inside = buf != 0
        level = self.levels[0]
        current = np.asarray(level[y0:y1, x0:x1])
        current[inside] = buf[inside]
        level[y0:y1, x0:x1] = current
        if class_map is None:
            return
        ys, xs = np.nonzero(inside)
        ids = buf[ys, xs]
        values = np.asarray(class_map[ay0 + y0:ay0 + y1, ax0 + x0:ax0 + x1])[ys, xs]
        terms = _pixel_terms(ys + ay0 + y0, xs + ax0 + x0, values)
        order = np.argsort(ids, kind="stable")
        fids, starts = np.unique(ids[order], return_index=True)
        sums = np.add.reduceat(terms[order], starts) if len(order) else []
        self.signatures.update(zip(fids.tolist(), (int(v) for v in sums), strict=True))

    def signature(self, y0: int, x0: int, mask: np.ndarray, class_map: np.ndarray) -> int:
        """The checksum of ``class_map``'s pixels under ``mask`` (both with ``[0, 0]`` at
        working pixel ``(y0, x0)``), as :attr:`signatures` holds it for a fibre."""
        ys, xs = np.nonzero(mask)
        terms = _pixel_terms(ys + y0, xs + x0, np.asarray(class_map)[ys, xs])
        return int(terms.sum(dtype=np.uint64)) if len(terms) else 0

    def finish(self) -> None:
        """Build the reduced levels from level 0 (strip by strip)."""
        if not self.multiscale:
            return
        h, w = self.shape
        step = 2 ** (len(self.levels) - 1)
        rows = max(step, (4 * _CHUNK // step) * step)
        for r0 in range(0, h, rows):
            strip = np.asarray(self.levels[0][r0:min(r0 + rows, h)])
            for k in range(1, len(self.levels)):
                f = 2 ** k
                sub = strip[::f, ::f]
                self.levels[k][r0 // f: r0 // f + sub.shape[0], :sub.shape[1]] = sub

    # ---------------------------------------------------------------- reading, removing
    def value_at(self, y: int, x: int) -> int:
        """The fibre id at working pixel ``(y, x)`` (0 outside the area or on no fibre)."""
        y0, x0 = self.box[:2]
        h, w = self.shape
        if not (0 <= y - y0 < h and 0 <= x - x0 < w):
            return 0
        return int(self.levels[0][y - y0, x - x0])

    def _clip(self, box) -> tuple[int, int, int, int]:
        ay0, ax0 = self.box[:2]
        h, w = self.shape
        y0, x0, y1, x1 = box
        return (max(int(y0) - ay0, 0), max(int(x0) - ax0, 0),
                min(int(y1) - ay0, h), min(int(x1) - ax0, w))

    def pixels(self, fid: int, box: tuple[int, int, int, int]) -> tuple[int, int, np.ndarray]:
        """Fibre ``fid``'s pixels within ``box`` (working pixels of the image, its bounding box):
        ``(y0, x0, mask)`` with ``mask`` a bool array whose ``[0, 0]`` is working pixel ``(y0, x0)``."""
        y0, x0, y1, x1 = self._clip(box)
        if y1 <= y0 or x1 <= x0:
            return self.box[0] + y0, self.box[1] + x0, np.zeros((0, 0), bool)
        mask = np.asarray(self.levels[0][y0:y1, x0:x1]) == fid
        return self.box[0] + y0, self.box[1] + x0, mask

    def remove(self, fid: int, box: tuple[int, int, int, int]) -> None:
        """Set fibre ``fid``'s pixels (within ``box``, working pixels) to 0 on every level."""
        y0, x0, y1, x1 = self._clip(box)
        for k, level in enumerate(self.levels):
            f = 2 ** k
            ky0, kx0 = -(-y0 // f), -(-x0 // f)  # the level-k pixels sampled inside the box
            ky1, kx1 = -(-y1 // f), -(-x1 // f)
            if ky1 <= ky0 or kx1 <= kx0:
                continue
            part = np.asarray(level[ky0:ky1, kx0:kx1])
            hit = part == fid
            if hit.any():
                part[hit] = 0
                level[ky0:ky1, kx0:kx1] = part

    def close(self) -> None:
        """Delete the on-disk levels (if any)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _pixel_terms(ys: np.ndarray, xs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """One ``uint64`` per pixel from its working position and class value; their sum
    (modulo 2**64) is a fibre's checksum, whatever order the pixels come in."""
    with np.errstate(over="ignore"):
        h = (ys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ (
            xs.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
        h ^= (values.astype(np.uint64) + np.uint64(1)) * np.uint64(0x165667B19E3779F9)
        h ^= h >> np.uint64(31)
        return h * np.uint64(0xBF58476D1CE4E5B9)
