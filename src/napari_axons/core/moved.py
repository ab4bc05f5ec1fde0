"""The core's module names from before the floor plan, kept for scripts written against them.

Until the core was organised in wings, it was one flat folder: a lab's script
may say ``from napari_axons.core.coco import read_coco`` or ``from
napari_axons.core.io import open_image``. Importing such a name still works: it
gives a module that forwards every attribute to the module (or wing) that holds
those names now, with a ``DeprecationWarning`` naming the new place. No code of
the package imports these names; :data:`MOVED` is the whole table.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED", "install"]

_CORE = "napari_axons.core"

#: Old module (under ``napari_axons.core``) -> where its names live now.
MOVED = {
    "classes": "common.classes", "pixel_size": "common.pixel_size",
    "grid": "geometry.grid", "coords": "geometry.coords",
    "io": "image", "tiff": "image.tiff", "raster": "image.raster", "slides": "image.slides",
    "zarr_image": "image.zarr_image", "working": "image.working", "pyramid": "image.pyramid",
    "arrays": "image.arrays", "sample": "image.sample",
    "polygons": "labels", "class_masks": "labels.class_masks", "vectorize": "labels.outlines",
    "coverage": "labels.coverage",
    "segmenter_base": "segment.base", "threshold": "segment.otsu", "checkpoint": "segment.checkpoint",
    "processor_geometry": "segment.processor_geometry", "pixel_lut": "segment.pixel_lut",
    "manifest": "export", "pipeline": "export", "tiles": "export.tilepath",
    "distributed": "export.cluster", "exportfolder": "export.folder", "readback": "export",
    "exportmaps": "export.classmaps",
    "geojson": "formats", "coco": "formats.coco", "ngff_labels": "formats",
    "maskstore": "session.maskstore", "edits": "session.edits", "session_io": "session",
    "session_formats": "session", "session_rules": "session.rules",
}


class _Forwarding(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``napari_axons.core.<old name>`` and makes it a module forwarding to the new one."""

    def find_spec(self, fullname, path=None, target=None):
        prefix, _, leaf = fullname.rpartition(".")
        if prefix != _CORE or leaf not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        new = f"{_CORE}.{MOVED[module.__name__.rpartition('.')[2]]}"
        warnings.warn(f"{module.__name__} is now {new}; import it from there "
                      "(the old name will go in a later release)", DeprecationWarning, stacklevel=2)
        target = importlib.import_module(new)

        def __getattr__(name: str):
            return getattr(target, name)

        module.__getattr__ = __getattr__
        module.__doc__ = f"Moved: see {new}."
        module.__all__ = list(getattr(target, "__all__", []))


_FINDER = _Forwarding()


def install() -> None:
    """Put the forwarding finder on ``sys.meta_path`` (once)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
