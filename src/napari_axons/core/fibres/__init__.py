"""Myelinated fibres: instances and morphometrics over a whole slide, in bounded memory.

A *fibre* is one axon and the myelin around it. From a class map with classes
named ``axon`` and ``myelin`` (a model's, hand-painted masks, an export's
tiles), :func:`measure_export` / :func:`measure_tiles` / :func:`measure_class_map`
find every fibre -- touching sheaths split where they meet (:mod:`.split`),
myelin without an axon and axons without myelin kept and flagged -- and
measure it in micrometres with AxonDeepSeg's column names (:mod:`.table`).
A slide is processed block by block (:mod:`.engine`) and a fibre cut by tile
or block borders comes out once, whole, exactly as in the uncut slide.

Writers: :func:`write_csv`, :func:`write_summary_json`; outlines with their
measurements for QuPath: :func:`fibre_features`.
"""

from .api import (
    DEFAULT_MAX_SHEATH_UM,
    class_indices,
    iter_fibres,
    measure_class_map,
    measure_export,
    measure_tiles,
    open_export_map,
)
from .errors import FibreInputError
from .export_tiles import ExportTiles, open_export
from .features import FibreFeature, fibre_features
from .source import ArrayTiles, CompositeMap, SlideFrame, TileSource, composite
from .split import SPLITS
from .table import COLUMNS, UNITS, FibreTable, summarize
from .writers import summary_document, write_csv, write_summary_json

__all__ = [
    "COLUMNS", "DEFAULT_MAX_SHEATH_UM", "SPLITS", "UNITS", "ArrayTiles", "CompositeMap",
    "ExportTiles", "FibreFeature", "FibreInputError", "FibreTable", "SlideFrame", "TileSource",
    "class_indices", "composite", "fibre_features", "iter_fibres", "measure_class_map",
    "measure_export", "measure_tiles", "open_export", "open_export_map", "summarize",
    "summary_document", "write_csv", "write_summary_json",
]
