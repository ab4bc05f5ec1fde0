"""The lab's other formats: QuPath GeoJSON, COCO, OME-Zarr (NGFF) labels; written from an export, read back.

Each bridge reads an export through :func:`~napari_axons.core.export.open_export_slides`
(the typed manifest, one tile in memory at a time) and writes in bounded memory.
"""

from .coco import CocoDataset, CocoError, CocoImage, CocoSummary, coco_document, export_coco, read_coco
from .geojson_read import (
    OBJECT_TYPES,
    GeoJSONError,
    GeoObject,
    geojson_class_map,
    geojson_table,
    rasterize_geojson,
    read_geojson,
)
from .geojson_write import GeoJSONSummary, export_geojson, write_feature_collection, write_slide_geojson
from .ngff_labels import export_ngff_labels, write_ngff_labels
from .ngff_read import (
    NgffError,
    NgffImage,
    NgffLabels,
    ngff_labels_into,
    ome_attrs,
    open_ngff_image,
    read_ngff_labels,
    resample_nearest,
)

__all__ = ["CocoDataset", "CocoError", "CocoImage", "CocoSummary", "coco_document", "export_coco",
           "read_coco", "OBJECT_TYPES", "GeoJSONError", "GeoObject", "geojson_class_map",
           "geojson_table", "rasterize_geojson", "read_geojson", "GeoJSONSummary", "export_geojson",
           "write_feature_collection", "write_slide_geojson", "NgffError", "NgffImage", "NgffLabels",
           "export_ngff_labels", "ngff_labels_into", "ome_attrs", "open_ngff_image", "read_ngff_labels",
           "write_ngff_labels", "resample_nearest"]
