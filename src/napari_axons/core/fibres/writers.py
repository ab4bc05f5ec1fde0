"""Writing a fibre table: CSV (one row per fibre) and a JSON summary.

Both files are written to a temporary name beside the target and renamed into
place at the end, so a failed write leaves nothing half-written; they get the
permissions a plain ``open(path, "w")`` gives.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from ... import __version__
from ..common import atomic_text
from .table import COLUMNS, UNITS, FibreTable, summarize

__all__ = ["summary_document", "write_csv", "write_summary_json"]

_CHUNK = 4096


def _cell(value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return format(value, ".10g")
    return str(value)


def write_csv(table: FibreTable, path: str | os.PathLike, *, units: bool = False) -> Path:
    """Write one row per fibre (and orphan myelin piece) to a CSV file.

    Parameters
    ----------
    table : FibreTable
    path : path
    units : bool
        Column names with their units as AxonDeepSeg's saved files have them
        (``axon_diam (um)``, ``axon_area (um^2)``); default the bare names.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ExportError
        The file cannot be written (one line naming it); nothing is left behind.
    """
    path = Path(path)
    header = [f"{c} ({UNITS[c]})" if units and c in UNITS else c for c in COLUMNS]
    with atomic_text(path, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for start in range(0, len(table), _CHUNK):  # a few thousand rows as Python objects
            cols = [table.columns[c][start:start + _CHUNK].tolist() for c in COLUMNS]
            writer.writerows([_cell(v) for v in row] for row in zip(*cols, strict=True))
    return path


def summary_document(table: FibreTable, *, bin_um: float = 0.5, source: str | None = None) -> dict:
    """The JSON summary: what was measured, how, and :func:`~.table.summarize`'s aggregates."""
    y0, x0, y1, x1 = table.area_box
    sy, sx = table.frame.scale
    return {
        "format": "napari-axons-fibres/1",
        "software": {"name": "napari-axons", "version": __version__},
        "source": source if source is not None else table.frame.name,
        "pixel_size_um": table.pixel_size_um,
        "slide_pixels_per_class_map_pixel": [sy, sx],
        "area_slide_px": {"y0": y0 * sy, "x0": x0 * sx, "y1": y1 * sy, "x1": x1 * sx},
        "split": table.split,
        "max_sheath_um": table.reach_um,
        "units": dict(UNITS),
        "summary": summarize(table, bin_um=bin_um),
        "warnings": list(table.warnings),
    }


def write_summary_json(table: FibreTable, path: str | os.PathLike, *, bin_um: float = 0.5,
                       source: str | None = None) -> Path:
    """Write :func:`summary_document` as JSON (2-space indent).

    Raises
    ------
    ExportError
        The file cannot be written (one line naming it).
    """
    path = Path(path)
    doc = summary_document(table, bin_um=bin_um, source=source)
    with atomic_text(path, newline="") as fh:
        json.dump(doc, fh, indent=2, allow_nan=False)
        fh.write("\n")
    return path
