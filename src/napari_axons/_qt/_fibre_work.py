"""Measuring fibres off the UI thread, as a plain generator for the widget's runner (no Qt here).

:func:`measure_fibres` measures the fibres of an area of the session's mask
store with :func:`~napari_axons.core.fibres.measure_class_map` (the table), then
streams each fibre's outline with :func:`~napari_axons.core.fibres.fibre_features`
into a :class:`~._fibre_map.FibreMap` (the layer's data). Both run block by
block on a thread of their own, whose progress the generator yields; closing the
generator (Cancel) stops them at the next block.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import shapely

from ..core.common import ClassTable
from ..core.fibres import FibreTable, fibre_features, measure_class_map
from ._fibre_map import FibreMap
from ._worker import stream_from_thread

__all__ = ["FibreResult", "measure_fibres", "PROGRESS", "DONE"]

#: Kinds of the items :func:`measure_fibres` yields.
PROGRESS, DONE = "progress", "done"


class _Stopped(Exception):
    """The generator was closed: the measuring thread stops at its next block."""


@dataclass
class FibreResult:
    """The fibres of a measured area.

    Attributes
    ----------
    table : FibreTable
        One row per fibre (and orphan myelin piece), micrometres.
    fmap : FibreMap
        Which fibre each working pixel of the area belongs to.
    scale : tuple of float
        Full-resolution slide pixels per working pixel ``(sy, sx)``.
    working_key : tuple
        ``(downsample factor, working height, working width)`` it was measured at.
    what : str
        What was measured, for messages (``"the 12 tiles with masks"``).
    removed : list of int
        Fibre ids removed since (false detections).
    """

    table: FibreTable
    fmap: FibreMap
    scale: tuple[float, float]
    working_key: tuple[int, int, int]
    what: str = ""
    removed: list = field(default_factory=list)

    def index_of(self, fid: int) -> int | None:
        """The table row of fibre ``fid`` (None if it is not in the table)."""
        hit = np.flatnonzero(self.table.columns["fibre_id"] == int(fid))
        return int(hit[0]) if len(hit) else None

    def working_box(self, fid: int) -> tuple[int, int, int, int] | None:
        """Fibre ``fid``'s bounding box in working pixels ``(y0, x0, y1, x1)``."""
        i = self.index_of(fid)
        if i is None:
            return None
        c, (sy, sx) = self.table.columns, self.scale
        return (int(np.floor(c["bbox_min_y"][i] / sy)), int(np.floor(c["bbox_min_x"][i] / sx)),
                int(np.ceil(c["bbox_max_y"][i] / sy)), int(np.ceil(c["bbox_max_x"][i] / sx)))

    def close(self) -> None:
        self.fmap.close()


def measure_fibres(class_map, classes: ClassTable, *, box: tuple[int, int, int, int],
                   scale: tuple[float, float], pixel_size_um: float, working_key=(1, 0, 0),
                   name: str = "", what: str = "", root=None) -> Generator[tuple, None, object]:
    """Measure the fibres of ``box`` (working pixels) of a class map, off the UI thread.

    Parameters
    ----------
    class_map : array-like
        The working image's ``(H, W)`` class map (the session's mask store level 0).
    classes : ClassTable
        Must name ``axon`` and ``myelin``.
    box : tuple of int
        ``(y0, x0, y1, x1)`` working pixels.
    scale : tuple of float
        Full-resolution slide pixels per working pixel.
    pixel_size_um : float
        Side of a working pixel in micrometres.
    working_key, name, what, root
        Recorded in the result / for messages / where a large instance map goes.

    Yields
    ------
    ``(PROGRESS, done, total)`` per block measured (twice over: the table, then the
    outlines) and once the layer's levels are built; finally ``(DONE, FibreResult)``.

    Raises
    ------
    FibreInputError
        No axon or myelin class, a bad pixel size or box (one line).
    """
    def run(report, stop):
        return _measure(class_map, classes, box, scale, pixel_size_um, working_key, name, what,
                        root, report, stop)

    result = yield from stream_from_thread(run, threading.Event(), "napari-axons-fibres")
    yield DONE, result
    return result


def _measure(class_map, classes, box, scale, px, working_key, name, what, root, report,
             stop) -> FibreResult:
    sy, sx = (float(v) for v in scale)
    y0, x0, y1, x1 = box
    stages = {}

    def progress(stage: int):
        def step(done: int, total: int) -> None:
            if stop.is_set():
                raise _Stopped
            stages["total"] = 2 * total + 1
            report((PROGRESS, stage * total + done, 2 * total + 1))
        return step

    table = measure_class_map(class_map, classes, pixel_size_um=px, scale=(sy, sx),
                              region=(y0 * sy, x0 * sx, y1 * sy, x1 * sx), name=name,
                              progress=progress(0))
    fmap = FibreMap(table.area_box, root)
    try:
        feats = fibre_features(class_map, classes, table, progress=progress(1))
        if (sy, sx) == (1.0, 1.0):
            fmap.paint(((f.fibre_id, f.geometry) for f in feats), class_map)
        else:  # the outlines come in slide pixels: back to working pixels
            back = np.array([1 / sx, 1 / sy])
            fmap.paint(((f.fibre_id, shapely.transform(f.geometry, lambda p: p * back))
                        for f in feats), class_map)
        if stop.is_set():
            raise _Stopped
        fmap.finish()
    except BaseException:
        fmap.close()
        raise
    total = stages.get("total", 1)
    report((PROGRESS, total, total))
    return FibreResult(table, fmap, (sy, sx), tuple(working_key), what)
