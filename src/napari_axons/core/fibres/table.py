"""The fibre table: one row per fibre (and per piece of orphan myelin), in micrometres.

Column names are AxonDeepSeg's where it has the same quantity
(``get_axon_morphometrics``), so scripts written for its morphometrics files
keep working:

=====================  =====  ====================================================
column                 unit   meaning
=====================  =====  ====================================================
fibre_id                      1, 2, ... fibres in raster order of their axon's first
                              pixel, then the orphan myelin pieces
x, y                   px     axon centroid, full-resolution slide pixels (pixel
                              centres at integers; AxonDeepSeg's ``x0, y0``)
axon_diam              um     diameter of the circle of the axon's area
axon_area              um^2
axon_perimeter         um     scikit-image's perimeter estimate of the axon
myelin_thickness       um     ``(fibre diameter - axon diameter) / 2``, both
                              equivalent-circle diameters (AxonDeepSeg's)
myelin_area            um^2   the fibre's myelin (orphan piece: the piece)
axonmyelin_area        um^2   axon + myelin
axonmyelin_perimeter   um     of the fibre (axon + myelin)
gratio                        axon diameter / fibre diameter (empty without myelin)
eccentricity                  of the axon (0 a circle, towards 1 elongated)
orientation            rad    of the axon: angle between the rows axis and the major axis
solidity                      axon area / area of its convex hull
fiber_eccentricity            of the fibre (AxonDeepSeg's spelling)
fiber_orientation      rad    of the fibre
touches_border                the fibre touches the edge of the slide or region
bbox_min_y ... max_x   px     the fibre's bounding box, full-resolution slide pixels
                              (pixel edges; max exclusive)
flags                         ``no_myelin``: an axon without myelin; ``no_axon``:
                              myelin that belongs to no axon (orphan)
=====================  =====  ====================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .source import SlideFrame

__all__ = ["COLUMNS", "FLAG_NO_AXON", "FLAG_NO_MYELIN", "UNITS", "FibreTable", "summarize"]

COLUMNS = ("fibre_id", "x", "y", "axon_diam", "axon_area", "axon_perimeter", "myelin_thickness",
           "myelin_area", "axonmyelin_area", "axonmyelin_perimeter", "gratio", "eccentricity",
           "orientation", "solidity", "fiber_eccentricity", "fiber_orientation", "touches_border",
           "bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x", "flags")
#: Unit of each measured column ("" for ratios and counts).
UNITS = {"x": "px", "y": "px", "axon_diam": "um", "axon_area": "um^2", "axon_perimeter": "um",
         "myelin_thickness": "um", "myelin_area": "um^2", "axonmyelin_area": "um^2",
         "axonmyelin_perimeter": "um", "orientation": "rad", "fiber_orientation": "rad",
         "bbox_min_y": "px", "bbox_min_x": "px", "bbox_max_y": "px", "bbox_max_x": "px"}
FLAG_NO_MYELIN = "no_myelin"
FLAG_NO_AXON = "no_axon"


@dataclass
class FibreTable:
    """The fibres of a slide or region and how they were measured.

    Attributes
    ----------
    columns : dict of numpy.ndarray
        :data:`COLUMNS`, one entry per row; ``touches_border`` bool, ``flags``
        str (object), ``fibre_id`` int64, the others float64 (NaN: not defined).
    anchors : numpy.ndarray
        ``(N, 2)`` int64 class-map ``(y, x)`` of each row's first pixel (its identity).
    kinds : numpy.ndarray
        ``(N,)`` int8: 0 a fibre, 1 orphan myelin.
    pixel_size_um : float
        Side of a class-map pixel in micrometres.
    frame : SlideFrame
    area_box : tuple of int
        The measured area (slide or region), class-map ``(y0, x0, y1, x1)``.
    axon_pixels, myelin_pixels : int
        Pixels of each class in the measured area.
    reach_um : float
        The thickest sheath the split looked for.
    split : str
        The split rule (:data:`~.split.SPLITS`).
    warnings : list of str
        Lines about the input (tiles without masks, classes added, ...).
    """

    columns: dict
    anchors: np.ndarray
    kinds: np.ndarray
    pixel_size_um: float
    frame: SlideFrame
    area_box: tuple[int, int, int, int]
    axon_pixels: int = 0
    myelin_pixels: int = 0
    reach_um: float = float("nan")
    split: str = "sheath"
    warnings: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.columns["fibre_id"])

    @property
    def is_fibre(self) -> np.ndarray:
        """Bool per row: a fibre (has an axon), not orphan myelin."""
        return self.kinds == 0

    @property
    def n_fibres(self) -> int:
        return int(self.is_fibre.sum())

    def row(self, i: int) -> dict:
        """Row ``i`` as ``{column: value}`` (Python scalars; NaN for undefined)."""
        return {c: self.columns[c][i].item() if hasattr(self.columns[c][i], "item")
                else self.columns[c][i] for c in COLUMNS}

    def rows(self) -> Iterator[dict]:
        for i in range(len(self)):
            yield self.row(i)

    @classmethod
    def from_pixel_rows(cls, rows: dict, *, pixel_size_um: float, frame: SlideFrame,
                        area_box: tuple[int, int, int, int], **kwargs) -> FibreTable:
        """Build the table from the engine's pixel columns (:data:`~.measure.PIXEL_COLUMNS`),
        in class-map pixels of the whole slide, sorted by kind then anchor."""
        order = np.lexsort((rows["anchor_x"], rows["anchor_y"], rows["kind"]))
        r = {c: np.asarray(v)[order] for c, v in rows.items()}
        n = len(order)
        px = float(pixel_size_um)
        sy, sx = (float(v) for v in frame.scale)
        fibre = r["kind"] == 0
        a = r["axon_area"].astype(np.float64)
        f = r["fibre_area"].astype(np.float64)
        myelinated = fibre & (f > a)
        eq_a = 2 * np.sqrt(a / math.pi)
        eq_f = 2 * np.sqrt(f / math.pi)
        nan = np.full(n, np.nan)
        cols = {
            "fibre_id": np.arange(1, n + 1, dtype=np.int64),
            "x": (r["cx"] + 0.5) * sx - 0.5,
            "y": (r["cy"] + 0.5) * sy - 0.5,
            "axon_diam": np.where(fibre, eq_a * px, nan),
            "axon_area": np.where(fibre, a * px * px, nan),
            "axon_perimeter": np.where(fibre, r["axon_perimeter"] * px, nan),
            "myelin_thickness": np.where(fibre, (eq_f - eq_a) / 2 * px, nan),
            "myelin_area": np.where(fibre, (f - a), f) * px * px,
            "axonmyelin_area": np.where(fibre, f * px * px, nan),
            "axonmyelin_perimeter": np.where(fibre, r["fibre_perimeter"] * px, nan),
            "gratio": np.where(myelinated, eq_a / np.where(myelinated, eq_f, 1), nan),
            "eccentricity": np.where(fibre, r["eccentricity"], nan),
            "orientation": np.where(fibre, r["orientation"], nan),
            "solidity": np.where(fibre, r["solidity"], nan),
            "fiber_eccentricity": r["fibre_eccentricity"].astype(np.float64),
            "fiber_orientation": r["fibre_orientation"].astype(np.float64),
            "touches_border": ((r["y0"] <= area_box[0]) | (r["x0"] <= area_box[1])
                               | (r["y1"] >= area_box[2]) | (r["x1"] >= area_box[3])),
            "bbox_min_y": r["y0"] * sy, "bbox_min_x": r["x0"] * sx,
            "bbox_max_y": r["y1"] * sy, "bbox_max_x": r["x1"] * sx,
            "flags": np.array([FLAG_NO_AXON if not fb else ("" if my else FLAG_NO_MYELIN)
                               for fb, my in zip(fibre.tolist(), myelinated.tolist(),
                                                 strict=True)], dtype=object),
        }
        anchors = np.stack([r["anchor_y"], r["anchor_x"]], axis=1).astype(np.int64)
        return cls(cols, anchors, r["kind"].astype(np.int8), px, frame,
                   tuple(int(v) for v in area_box), **kwargs)


def summarize(table: FibreTable, *, bin_um: float = 0.5) -> dict:
    """Aggregates of a fibre table: counts, density, area fractions, g-ratio, histogram.

    Parameters
    ----------
    table : FibreTable
    bin_um : float
        Width of the axon-diameter histogram's bins in micrometres.

    Returns
    -------
    dict
        JSON-able: ``area_mm2``, ``fibres`` (with an axon), ``myelinated``,
        ``no_myelin``, ``orphan_myelin_pieces``, ``density_per_mm2`` (fibres) and
        ``myelinated_density_per_mm2``, ``axon_area_fraction`` and
        ``myelin_area_fraction`` (class pixels over the area), ``aggregate_gratio``
        (``sqrt(sum of axon areas / sum of fibre areas)`` over the myelinated
        fibres), ``mean``/``median``/``std`` of ``axon_diam``, ``gratio`` and
        ``myelin_thickness`` over the myelinated fibres, and
        ``axon_diam_histogram`` (``edges_um``, ``counts``; every fibre).

    Raises
    ------
    ValueError
        ``bin_um`` not positive.
    """
    if not bin_um > 0:
        raise ValueError(f"bin width must be a positive number of micrometres, got {bin_um!r}")
    c = table.columns
    px = table.pixel_size_um
    y0, x0, y1, x1 = table.area_box
    area_px = max(0, y1 - y0) * max(0, x1 - x0)
    area_mm2 = area_px * px * px / 1e6
    fibre = table.is_fibre
    myelinated = fibre & np.isfinite(c["gratio"])
    n_f, n_m = int(fibre.sum()), int(myelinated.sum())

    def stats(name: str) -> dict:
        v = c[name][myelinated]
        if not len(v):
            return {"mean": None, "median": None, "std": None}
        return {"mean": float(np.mean(v)), "median": float(np.median(v)), "std": float(np.std(v))}

    diam = c["axon_diam"][fibre]
    top = float(np.max(diam)) if len(diam) else 0.0
    n_bins = max(1, int(math.ceil(top / bin_um + 1e-9)))
    edges = np.arange(n_bins + 1) * bin_um
    counts, _ = np.histogram(diam, bins=edges)
    sum_a = float(np.sum(c["axon_area"][myelinated]))
    sum_f = float(np.sum(c["axonmyelin_area"][myelinated]))
    return {
        "area_mm2": area_mm2,
        "fibres": n_f,
        "myelinated": n_m,
        "no_myelin": n_f - n_m,
        "orphan_myelin_pieces": int(len(table) - n_f),
        "orphan_myelin_area_um2": float(np.sum(c["myelin_area"][~fibre])),
        "density_per_mm2": n_f / area_mm2 if area_mm2 else None,
        "myelinated_density_per_mm2": n_m / area_mm2 if area_mm2 else None,
        "axon_area_fraction": table.axon_pixels / area_px if area_px else None,
        "myelin_area_fraction": table.myelin_pixels / area_px if area_px else None,
        "aggregate_gratio": math.sqrt(sum_a / sum_f) if sum_f else None,
        "axon_diam_um": stats("axon_diam"),
        "gratio": stats("gratio"),
        "myelin_thickness_um": stats("myelin_thickness"),
        "axon_diam_histogram": {"bin_um": float(bin_um), "edges_um": edges.tolist(),
                                "counts": counts.astype(int).tolist()},
    }
