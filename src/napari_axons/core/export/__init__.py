"""Export: the manifest (typed, read one way), the plan, the one tile path, producers, the job.

An export folder is the seed's layout plus ``manifest.json`` (:mod:`.files`,
:mod:`.manifest`). :mod:`.plan` opens and grids each image; :mod:`.tilepath`
is the one path every tile takes (read, model, class map, files);
:mod:`.producers` schedules it on local threads and :mod:`.cluster` on a
dask.distributed cluster; :mod:`.job` owns the folder, the manifest, the
journal and resuming; :mod:`.folder` says what exporting into a folder would
do. Reading back: :mod:`.tilelist` (an export's tiles and their class maps,
one at a time), :mod:`.classmaps` (per image, for the format bridges) and
:mod:`.readback` (the image and its labels, for napari); :mod:`.compare` scores
one export's class maps against another's, one image's against its truth, or an
export against the mask of its whole image (:mod:`.imagegrid`).
"""

from .classmaps import ExportSlide, choose_slide, export_class_table, open_export_slides
from .cluster import ClusterProducer, clear_worker_caches, run_distributed
from .compare import Comparison, ScoreInputError, compare
from .files import MANIFEST_FORMAT, MANIFEST_NAME, ExportFiles, ExportLayout
from .folder import ADD, FOREIGN, NEW, REPLACE, FolderCheck, check_export_folder
from .job import ExportJob, TileSources
from .manifest import (
    GridEntry,
    ImageEntry,
    Intensity,
    Manifest,
    ManifestError,
    SourceBox,
    SourceEntry,
    TileEntry,
    WorkingEntry,
    load_manifest,
    read_manifest,
)
from .plan import ExportOptions, ImagePlan, plan_array, plan_image
from .producers import ThreadProducer, TileProducer
from .readback import ExportContents, ExportedImage, read_export
from .resume import JOURNAL_NAME, refuse_occupied
from .tilelist import (
    LABELS_SUFFIX,
    ExportedTile,
    ExportedTiles,
    TileClasses,
    exported_tiles,
    iter_tile_masks,
    list_exported_tiles,
    read_png,
)
from .tilepath import MaskReader, OutputSpec, TilePath, TileResult, export_classes, overview_rgb
from .wholemask import MASKS_SEGMENTER, WholeMaskReader, binary_class, mask_classes, misplaced_mask

__all__ = ["MASKS_SEGMENTER", "WholeMaskReader", "binary_class", "mask_classes", "misplaced_mask",
           "refuse_occupied", "Comparison", "ScoreInputError", "compare",
           "ExportSlide", "choose_slide", "export_class_table", "open_export_slides",
           "ClusterProducer", "clear_worker_caches", "run_distributed", "MANIFEST_FORMAT",
           "MANIFEST_NAME", "ExportFiles", "ExportLayout", "ADD", "FOREIGN", "NEW", "REPLACE",
           "FolderCheck", "check_export_folder", "JOURNAL_NAME", "ExportJob", "TileSources",
           "GridEntry", "ImageEntry", "Intensity", "Manifest", "ManifestError", "SourceBox",
           "SourceEntry", "TileEntry", "WorkingEntry", "load_manifest", "read_manifest",
           "ExportOptions", "ImagePlan", "plan_array", "plan_image", "ThreadProducer",
           "TileProducer", "ExportContents", "ExportedImage", "read_export", "LABELS_SUFFIX",
           "ExportedTile", "ExportedTiles", "TileClasses", "exported_tiles", "iter_tile_masks",
           "list_exported_tiles", "read_png", "MaskReader", "OutputSpec", "TilePath",
           "TileResult", "export_classes", "overview_rgb"]
