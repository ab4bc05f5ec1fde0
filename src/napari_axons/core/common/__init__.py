"""What every wing shares: the class table, pixel sizes, safe file writes and names, PNG encoding."""

from .classes import DEFAULT_TABLE, MAX_CLASSES, ClassTable, ClassTableError, default_colour, parse_colour
from .files import (
    TMP_PREFIX,
    ExportError,
    atomic_text,
    atomic_write_bytes,
    safe_base_name,
    safe_child,
    sampled_file_hash,
    umask,
    unique_base_names,
)
from .jsondoc import JsonDoc, kind_of
from .pixel_size import (
    PixelSize,
    PixelSizeError,
    from_ome_xml,
    from_ome_zarr,
    from_resolution,
    from_svs_description,
    unit_to_um,
)
from .png import FAST_PNG_MAX_LEVEL, encode_png

__all__ = ["ClassTable", "ClassTableError", "DEFAULT_TABLE", "MAX_CLASSES", "default_colour",
           "parse_colour", "TMP_PREFIX", "ExportError", "atomic_text", "atomic_write_bytes", "safe_base_name",
           "safe_child", "sampled_file_hash", "umask", "unique_base_names", "PixelSize",
           "PixelSizeError", "from_ome_xml", "from_ome_zarr", "from_resolution",
           "from_svs_description", "unit_to_um", "FAST_PNG_MAX_LEVEL", "encode_png", "JsonDoc",
           "kind_of"]
