"""Fibre outlines with their measurements, for QuPath (``export-geojson --fibres``).

:func:`fibre_features` streams one :class:`FibreFeature` per row of a fibre
table: the fibre's outline (axon and myelin together) along its pixel edges in
full-resolution slide pixels, and its row's measurements. :meth:`FibreFeature.to_geojson`
gives the feature as QuPath writes a detection (QuPath 0.4 and later):
``properties.objectType`` ``"detection"``, ``classification`` ``{"name", "color"}``,
and ``measurements`` an object ``{name: value}`` whose names carry their units
(``axon_diam (um)``); undefined values (NaN) are left out, as JSON has no NaN.
QuPath's measurement table lists them.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely

from ..common import ClassTable
from .api import DEFAULT_MAX_SHEATH_UM, iter_fibres
from .table import COLUMNS, UNITS, FibreTable

__all__ = ["FIBRE_CLASS", "ORPHAN_CLASS", "FibreFeature", "fibre_features"]

#: QuPath classification of fibres and of orphan myelin: ``(name, [r, g, b])``.
FIBRE_CLASS = ("Fibre", [64, 160, 255])
ORPHAN_CLASS = ("Myelin without axon", [255, 160, 0])
_NAMESPACE = uuid.UUID("0b7c6a52-3c2f-4b8e-8f0a-5e3c1d2a9f11")
_NOT_MEASURES = {"fibre_id", "flags"}


@dataclass
class FibreFeature:
    """One fibre (or orphan myelin piece) as an outline and its measurements.

    Attributes
    ----------
    fibre_id : int
        Its row's ``fibre_id``.
    geometry : shapely.Polygon or shapely.MultiPolygon
        Pixel-edge outline in full-resolution slide pixels (``x`` column, ``y`` row).
    row : dict
        Its row of the table (:data:`~.table.COLUMNS`).
    """

    fibre_id: int
    geometry: object
    row: dict

    @property
    def measurements(self) -> dict:
        """``{"name (unit)": value}`` of the numeric columns, NaN left out."""
        out = {}
        for c in COLUMNS:
            if c in _NOT_MEASURES:
                continue
            v = self.row[c]
            if isinstance(v, bool):
                v = float(v)
            if isinstance(v, (int, float)) and math.isfinite(v):
                out[f"{c} ({UNITS[c]})" if c in UNITS else c] = float(v)
        return out

    def to_geojson(self, *, seed: str = "") -> dict:
        """The QuPath detection feature (a plain dict for ``json.dump``)."""
        name, colour = ORPHAN_CLASS if "no_axon" in self.row["flags"] else FIBRE_CLASS
        geom = shapely.orient_polygons(shapely.remove_repeated_points(self.geometry))
        return {
            "type": "Feature",
            "id": str(uuid.uuid5(_NAMESPACE, f"{seed}:{self.fibre_id}")),
            "geometry": shapely.geometry.mapping(geom),
            "properties": {
                "objectType": "detection",
                "name": f"fibre {self.fibre_id}",
                "classification": {"name": name, "color": list(colour)},
                "measurements": self.measurements,
            },
        }


def fibre_features(class_map, classes: ClassTable, table: FibreTable, *,
                   max_sheath_um: float | None = None, block: int = 2048,
                   progress=None) -> Iterator[FibreFeature]:
    """Stream each row of ``table`` with its outline, block by block.

    Parameters
    ----------
    class_map : array-like
        The class map ``table`` was measured from (e.g. an export's, from
        :func:`~.api.open_export_map`).
    classes : ClassTable
    table : FibreTable
        The table (its pixel size, region, split and reach are reused, so the
        fibres found again are the same ones).
    max_sheath_um : float, optional
        Default: the table's.
    block : int
    progress : callable, optional
        ``progress(done, total)`` per block.

    Yields
    ------
    FibreFeature
        In block order (not ``fibre_id`` order); one per row of ``table``.
    """
    reach = table.reach_um if max_sheath_um is None else max_sheath_um
    if not (isinstance(reach, (int, float)) and math.isfinite(reach)):
        reach = DEFAULT_MAX_SHEATH_UM
    keys = table.anchors[:, 0] * (1 << 32) + table.anchors[:, 1]
    kinds = table.kinds.astype(np.int64)
    order = np.lexsort((keys, kinds))
    sorted_kind, sorted_key = kinds[order], keys[order]
    sy, sx = table.frame.scale
    scale = np.array([sx, sy])
    for res in iter_fibres(class_map, classes, pixel_size_um=table.pixel_size_um,
                           box=table.area_box, max_sheath_um=reach, split=table.split,
                           block=block, outlines=True, progress=progress,
                           where=table.frame.name or "input"):
        r = res.rows
        for kind, ay, ax, geom in zip(r["kind"].tolist(), r["anchor_y"].tolist(),
                                      r["anchor_x"].tolist(), res.outlines, strict=True):
            key = ay * (1 << 32) + ax
            lo = np.searchsorted(sorted_kind, kind, "left")
            hi = np.searchsorted(sorted_kind, kind, "right")
            j = lo + int(np.searchsorted(sorted_key[lo:hi], key))
            if j >= hi or sorted_key[j] != key:
                continue  # not in the table (measured with other settings)
            i = int(order[j])
            if (sy, sx) != (1.0, 1.0):
                geom = shapely.transform(geom, lambda p: p * scale)
            yield FibreFeature(int(table.columns["fibre_id"][i]), geom, table.row(i))
