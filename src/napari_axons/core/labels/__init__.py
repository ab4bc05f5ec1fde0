"""Labels: class maps <-> Django-Labeller label files, mask PNGs, vector outlines; pixel exact.

:mod:`.trace` turns masks into polygon regions through pixel centres,
:mod:`.labelfile` writes, reads and validates label files, :mod:`.render`
renders them back as Django-Labeller does, :mod:`.class_masks` maps class maps
to an export's files and back, :mod:`.outlines` and :mod:`.coverage` give
slide-wide vector outlines (GeoJSON, COCO) with pieces cut by tile borders
joined, :mod:`.mask_image` reads one image's class map from a mask image
(palette, grey, AxonDeepSeg levels), and :mod:`.scores` compares class maps
with ground truth (pixel IoU and Dice, objects matched at IoU >= 0.5).
"""

from .class_masks import (
    AXONDEEPSEG_SUFFIXES,
    ClassMaskError,
    axondeepseg_masks,
    check_axondeepseg_classes,
    check_class_map,
    class_map_to_labels,
    class_map_to_traced,
    decode_class_mask,
    encode_class_mask,
    label_class_names,
    labels_to_class_map,
)
from .coverage import dissolve_coverage
from .labelfile import (
    LabelFileError,
    TracedLabel,
    dumps_labels,
    encode_traced_labels,
    labels_document,
    mask_to_labels,
    read_labels_json,
    trace_labels,
)
from .mask_image import AXONDEEPSEG_NAMES, MASK_IMAGE_SUFFIXES, MaskImage, read_mask_image
from .outlines import MapObject, class_map_objects, dissolve, polygons_of, rasterize
from .render import labels_to_mask
from .scores import ObjectCounts, Scores, TileScores, match_objects, score_maps, score_pairs
from .trace import mask_to_regions

__all__ = ["AXONDEEPSEG_NAMES", "MASK_IMAGE_SUFFIXES", "MaskImage", "read_mask_image",
           "ObjectCounts", "Scores", "TileScores", "match_objects", "score_maps", "score_pairs",
           "AXONDEEPSEG_SUFFIXES", "ClassMaskError", "axondeepseg_masks", "check_axondeepseg_classes",
           "check_class_map", "class_map_to_labels", "class_map_to_traced", "decode_class_mask",
           "encode_class_mask", "label_class_names", "labels_to_class_map", "dissolve_coverage",
           "LabelFileError", "TracedLabel", "dumps_labels", "encode_traced_labels", "labels_document",
           "mask_to_labels", "read_labels_json", "trace_labels", "MapObject", "class_map_objects",
           "dissolve", "polygons_of", "rasterize", "labels_to_mask", "mask_to_regions"]
