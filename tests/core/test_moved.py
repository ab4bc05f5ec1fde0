"""Scripts written against the flat core of earlier versions still import what they used.

``OLD_NAMES`` is each old module's ``__all__`` as it was before the floor plan
(napari-axons' own history); every name must still be there, from the module's
old name, with a DeprecationWarning naming the new place. (The session's
``session_io``/``session_formats`` functions are methods of ``Session`` now.)
"""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from napari_axons.core.moved import MOVED

OLD_NAMES = {'classes': ['ClassTable', 'ClassTableError', 'DEFAULT_TABLE', 'MAX_CLASSES', 'default_colour'],
 'pixel_size': ['PixelSize', 'unit_to_um', 'from_resolution', 'from_ome_xml',
                'from_svs_description', 'from_ome_zarr', 'PixelSizeError'],
 'grid': ['TileBox', 'TileGrid', 'axis_positions'],
 'coords': ['Placement', 'full_span', 'working_index', 'full_box'],
 'io': ['ImageReadError', 'SourceImage', 'open_image', 'to_rgb8', 'IntensityRange', 'reduce_axes'],
 'tiff': ['open_tiff', 'colour_convert', 'tiff_pixel_size', 'StripPlane'],
 'raster': ['open_raster', 'png_bands', 'WHOLE_DECODE_MAX_BYTES', 'DEFAULT_MAX_PIXELS',
            'decoded_cache_dir'],
 'slides': ['slide_reader_for', 'open_openslide', 'open_bioio', 'OPENSLIDE_SUFFIXES',
            'BIOIO_SUFFIXES'],
 'zarr_image': ['open_zarr', 'ome_zarr_axes'],
 'working': ['WorkingImage', 'LANCZOS_SUPPORT', 'target_size'],
 'pyramid': ['BuildingLevel', 'PyramidBuild', 'open_pyramid', 'LARGE_SIDE', 'TOP_SIDE',
             'default_cache_dir', 'pyramid_fingerprint', 'pyramid_levels', 'build_count'],
 'arrays': ['array_source', 'array_fingerprint', 'IN_MEMORY_NOTE'],
 'sample': ['MYELINATED_CLASSES', 'make_axon_sample', 'make_myelinated_sample'],
 'polygons': ['LabelFileError', 'TracedLabel', 'dumps_labels', 'encode_traced_labels',
              'labels_document', 'labels_to_mask', 'mask_to_labels', 'mask_to_regions',
              'read_labels_json', 'trace_labels'],
 'class_masks': ['AXONDEEPSEG_SUFFIXES', 'ClassMaskError', 'axondeepseg_masks',
                 'check_axondeepseg_classes', 'check_class_map', 'class_map_to_labels',
                 'class_map_to_traced', 'decode_class_mask', 'encode_class_mask',
                 'label_class_names', 'labels_to_class_map'],
 'vectorize': ['MapObject', 'class_map_objects', 'rasterize', 'polygons_of', 'dissolve'],
 'coverage': ['dissolve_coverage'],
 'segmenter_base': ['ModelError', 'Segmenter', 'check_tiles', 'one_class_table', 'one_line'],
 'threshold': ['ThresholdSegmenter'],
 'checkpoint': ['SIDECAR', 'clear_model_cache', 'get_checkpoint'],
 'processor_geometry': ['GeometryError', 'TileGeometry', 'crop_overrides', 'measure_geometry'],
 'pixel_lut': ['PixelLUT', 'build_pixel_lut'],
 'manifest': ['MANIFEST_FORMAT', 'MANIFEST_NAME', 'ExportFiles', 'GridEntry', 'ImageEntry',
              'Intensity', 'Manifest', 'ManifestError', 'SourceBox', 'SourceEntry', 'TileEntry',
              'WorkingEntry', 'load_manifest'],
 'pipeline': ['ExportOptions', 'ExportJob', 'ImagePlan', 'TileResult', 'JOURNAL_NAME',
              'TileProducer', 'ThreadProducer', 'TileSources', 'plan_array', 'plan_image'],
 'tiles': ['OutputSpec', 'TileBatch', 'TilePath', 'TileResult', 'TileSource', 'as_class_map',
           'export_classes', 'overview_rgb', 'predict_batch', 'read_batch', 'write_tile_outputs',
           'zero_padding'],
 'distributed': ['run_distributed', 'ClusterProducer', 'clear_worker_caches'],
 'exportfolder': ['FolderCheck', 'check_export_folder', 'NEW', 'ADD', 'REPLACE', 'FOREIGN'],
 'readback': ['ExportContents', 'ExportedImage', 'ExportedTiles', 'TileClasses', 'TileEntry',
              'iter_tile_masks', 'list_exported_tiles', 'read_export'],
 'exportmaps': ['ExportSlide', 'export_class_table', 'open_export_slides', 'choose_slide'],
 'geojson': ['GeoJSONError', 'GeoObject', 'GeoJSONSummary', 'export_geojson', 'write_slide_geojson',
             'read_geojson', 'rasterize_geojson', 'geojson_table', 'geojson_class_map',
             'OBJECT_TYPES'],
 'coco': ['CocoError', 'CocoSummary', 'CocoImage', 'export_coco', 'read_coco', 'coco_document'],
 'ngff_labels': ['NgffError', 'NgffImage', 'NgffLabels', 'open_ngff_image', 'write_ngff_labels',
                 'read_ngff_labels', 'ngff_labels_into', 'export_ngff_labels', 'resample_nearest'],
 'maskstore': ['MaskStore', 'ZarrMaskReader', 'read_padded'],
 'edits': ['EditRecord'],
 'session_rules': ['HAS_MASK', 'SessionError', 'EditsInTheWay', 'protected_by_later']}


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_the_old_module_names_still_give_their_names(old):
    module = importlib.import_module(f"napari_axons.core.{old}")
    missing = [n for n in OLD_NAMES[old] if not hasattr(module, n)]
    assert not missing, f"napari_axons.core.{old} lost {missing}"
    new = importlib.import_module(f"napari_axons.core.{MOVED[old]}")
    assert all(getattr(module, n) is getattr(new, n) for n in OLD_NAMES[old])


def test_an_old_name_warns_where_it_moved():
    code = ("import warnings; warnings.simplefilter('error'); "
            "from napari_axons.core.coco import read_coco")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    assert ("DeprecationWarning: napari_axons.core.coco is now napari_axons.core.formats.coco"
            in run.stderr)
