"""The fibre table as the fibres layer shows it: features with units, colours, rows dropped (no Qt).

* :func:`layer_features` -- the table as a napari Labels layer's ``features``: an
  ``index`` column (the label: the fibre's ``fibre_id``) and every column of the
  table, named with its unit as AxonDeepSeg's saved files and QuPath's
  measurement list name them (``axon_diam (um)``), the measures one reads first
  (g-ratio, diameters, thickness, areas) first: napari's status bar shows them
  in this order when the pointer is over a fibre.
* :func:`measure_colours` -- one RGBA colour per fibre for a measure (matplotlib
  colormap, limits at the 1st and 99th percentiles), grey where undefined.
* :func:`drop_fibres` -- the table without some fibres (a false detection
  removed), its pixel counts lowered so the summary stays right.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..core.fibres import COLUMNS, UNITS, FibreTable

__all__ = ["MEASURES", "FIRST", "column_name", "layer_features", "measure_colours",
           "measure_limits", "measure_label", "drop_fibres", "row_text", "UNDEFINED_COLOUR"]

#: Measures a fibre can be coloured by: ``(column, what the user reads)``.
MEASURES = (
    ("gratio", "g-ratio"),
    ("axon_diam", "axon diameter (um)"),
    ("myelin_thickness", "myelin thickness (um)"),
    ("axonmyelin_area", "fibre area (um^2)"),
    ("axon_area", "axon area (um^2)"),
    ("myelin_area", "myelin area (um^2)"),
    ("eccentricity", "axon eccentricity"),
    ("solidity", "axon solidity"),
)
#: Columns shown first on hover.
FIRST = ("fibre_id", "gratio", "axon_diam", "myelin_thickness", "axonmyelin_area", "axon_area",
         "myelin_area", "flags", "touches_border")
#: Fibres without a value for the measure (no myelin: no g-ratio; orphan myelin).
UNDEFINED_COLOUR = (0.55, 0.55, 0.55, 1.0)


def column_name(column: str) -> str:
    """``axon_diam (um)``: a column with its unit (ratios and flags as they are)."""
    return f"{column} ({UNITS[column]})" if column in UNITS else column


def measure_label(column: str) -> str:
    """What the user reads for a measure: ``axon diameter (um)``."""
    return dict(MEASURES).get(column, column_name(column))


def layer_features(table: FibreTable) -> dict[str, np.ndarray]:
    """The table as a Labels layer's features (one row per fibre, ``index`` = its label)."""
    c = table.columns
    order = [*FIRST, *(k for k in COLUMNS if k not in FIRST)]
    out = {"index": np.asarray(c["fibre_id"], np.int64)}
    for k in order:
        out[column_name(k)] = c[k]
    return out


def measure_limits(values: np.ndarray) -> tuple[float, float]:
    """Colour limits of a measure: its 1st and 99th percentiles over the defined values."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0
    lo, hi = (float(x) for x in np.percentile(v, [1, 99]))
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def measure_colours(values: np.ndarray, limits: tuple[float, float],
                    cmap: str = "viridis") -> np.ndarray:
    """``(N, 4)`` float RGBA per value; :data:`UNDEFINED_COLOUR` where it is NaN."""
    from matplotlib import colormaps

    v = np.asarray(values, np.float64)
    lo, hi = limits
    t = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    rgba = colormaps[cmap](np.where(np.isfinite(t), t, 0.0))
    rgba[~np.isfinite(v)] = UNDEFINED_COLOUR
    return rgba


def drop_fibres(table: FibreTable, ids) -> FibreTable:
    """A copy of ``table`` without the rows whose ``fibre_id`` is in ``ids``.

    The axon and myelin pixel counts (the summary's area fractions) lose the
    removed fibres' pixels, as their pixels become background.
    """
    c = table.columns
    gone = np.isin(c["fibre_id"], np.asarray(sorted(int(i) for i in ids), np.int64))
    px2 = table.pixel_size_um ** 2
    axon = np.nan_to_num(c["axon_area"][gone]).sum() / px2
    myelin = np.nan_to_num(c["myelin_area"][gone]).sum() / px2
    keep = ~gone
    return dataclasses.replace(
        table, columns={k: v[keep] for k, v in c.items()}, anchors=table.anchors[keep],
        kinds=table.kinds[keep], axon_pixels=max(0, table.axon_pixels - round(axon)),
        myelin_pixels=max(0, table.myelin_pixels - round(myelin)), warnings=list(table.warnings))


def _value(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.3g}"
    return str(v)


def row_text(row: dict) -> str:
    """A fibre's main measures in one line: ``fibre 12: g-ratio 0.64, axon diameter 1.84 um, ...``."""
    parts = [f"g-ratio {_value(row['gratio'])}", f"axon diameter {_value(row['axon_diam'])} um",
             f"myelin thickness {_value(row['myelin_thickness'])} um"]
    if row.get("flags"):
        parts.append(str(row["flags"]).replace("_", " "))
    return f"fibre {row['fibre_id']}: " + ", ".join(parts)
