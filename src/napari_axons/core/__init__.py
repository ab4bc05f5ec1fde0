"""The headless core of napari-axons: no Qt, no napari; torch and transformers only inside functions.

The core is a set of wings by job (see the README's "Architecture"), each a
subpackage that names its public API; a wing imports only the wings below it::

    session                      the headless session (image, grid, masks, hand edits)
    formats | training | fibres  QuPath GeoJSON, COCO, OME-Zarr labels | training | fibres
    export                       the typed manifest, plan, tile path, producers, job, read-back
    labels | segment             class maps <-> label files and outlines | the segmenters
    image | geometry             images read lazily, colour and axes rules | the tile grid
    common                       class table, pixel size, safe file writes, JSON documents

Scripts written against the flat core of earlier versions keep working: the
old module names forward to the new places (:mod:`.moved`).

The names most scripts need are reachable from here too (imported on first
use, so ``import napari_axons.core.image`` stays cheap):

>>> from napari_axons.core import Session, open_image
>>> Session.__module__, open_image.__module__
('napari_axons.core.session.session', 'napari_axons.core.image.open')
"""

from __future__ import annotations

import importlib

from . import moved

moved.install()  # the module names from before the wings, for scripts written against them

#: name -> the wing that defines it (imported when the name is first used).
_WHERE = {
    "ClassTable": "common", "PixelSize": "common",
    "open_image": "image", "SourceImage": "image", "ImageReadError": "image",
    "TileGrid": "geometry", "TileBox": "geometry",
    "read_labels_json": "labels", "labels_to_mask": "labels",
    "load_segmenter": "segment", "ModelError": "segment",
    "ExportJob": "export", "ExportOptions": "export", "load_manifest": "export",
    "read_export": "export", "run_distributed": "export",
    "export_geojson": "formats", "export_coco": "formats", "export_ngff_labels": "formats",
    "Session": "session",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    wing = _WHERE.get(name)
    if wing is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{wing}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
