"""Geometry: the seed's tile grid over a working image, and working <-> slide pixel coordinates."""

from .coords import Placement, full_box, full_span, working_index
from .grid import TileBox, TileGrid, axis_positions, full_resolution_box, tile_stem

__all__ = ["TileBox", "TileGrid", "axis_positions", "full_resolution_box", "tile_stem",
           "Placement", "full_box", "full_span", "working_index"]
