"""Geometry: the seed's tile grid over a working image, working <-> slide pixel coordinates, and
resampling tiles to a model's pixel size and back."""

from .coords import Placement, full_box, full_span, working_index
from .grid import TileBox, TileGrid, axis_positions, full_resolution_box, tile_stem
from .resample import Resampling, class_map_on_grid, resample_class_map, resampling

__all__ = ["TileBox", "TileGrid", "axis_positions", "full_resolution_box", "tile_stem",
           "Placement", "full_box", "full_span", "working_index", "Resampling", "class_map_on_grid",
           "resample_class_map",
           "resampling"]
