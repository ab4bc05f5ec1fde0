"""``napari-axons export-geojson | export-coco | export-ome-zarr``: an export in the lab's other formats."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from ..core.fibres import DEFAULT_MAX_SHEATH_UM, fibre_features, measure_class_map, open_export_map
from ..core.formats import (
    export_coco,
    export_geojson,
    export_ngff_labels,
    read_ngff_labels,
    write_feature_collection,
)
from .parser import add_command, micrometres, positive
from .progress import Steps, plural

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    """The format bridges: QuPath GeoJSON, COCO, OME-Zarr labels."""
    geo = add_command(
        sub, "export-geojson", _cmd_export_geojson,
        help="write an export's objects as QuPath GeoJSON (whole slide)",
        description="Write the objects of an export folder as one GeoJSON FeatureCollection in "
                    "full-resolution slide pixels, as QuPath reads it: one feature per object, "
                    "holes as interior rings, objects cut by tile borders merged.")
    geo.add_argument("export", metavar="EXPORT_DIR", help="an export folder (or its manifest.json)")
    geo.add_argument("-o", "--output", required=True, metavar="OUT.geojson")
    geo.add_argument("--object-type", choices=("annotation", "detection"), default="annotation",
                     help="QuPath object type of every feature (default: annotation)")
    geo.add_argument("--image", default=None, metavar="BASE",
                     help="which image of the export (needed when it has several)")
    geo.add_argument("--fibres", action="store_true",
                     help="write the myelinated fibres instead (axon + its myelin, touching "
                          "sheaths split): one QuPath detection each, its measurements "
                          "(axon diameter, myelin thickness, g-ratio, ...) in its measurements "
                          "table; needs classes named axon and myelin")
    geo.add_argument("--pixel-size", type=micrometres, default=None, metavar="UM",
                     help="with --fibres: the slide's pixel size in micrometres, overriding "
                          "the export's")
    geo.add_argument("--max-sheath", type=positive, default=DEFAULT_MAX_SHEATH_UM, metavar="UM",
                     help=f"with --fibres: thickest sheath looked for (default "
                          f"{DEFAULT_MAX_SHEATH_UM:g} um)")
    geo.add_argument("--progress-interval", type=float, default=None, metavar="SECONDS",
                     help="with --fibres: print a progress line at most every SECONDS instead of "
                          "a bar")
    coco = add_command(
        sub, "export-coco", _cmd_export_coco,
        help="write COCO instance annotations over an export's tiles",
        description="Write COCO instance annotations (images = the export's tile PNGs, "
                    "categories = its classes, one annotation per object per tile: polygons, "
                    "or RLE for objects with holes). Needs pycocotools "
                    "(pip install 'napari-axons[formats]').")
    coco.add_argument("export", metavar="EXPORT_DIR", help="an export folder (or its manifest.json)")
    coco.add_argument("-o", "--output", required=True, metavar="OUT.json",
                      help="the COCO file; file_name entries are relative to EXPORT_DIR")
    ngff = add_command(
        sub, "export-ome-zarr", _cmd_export_ome_zarr,
        help="write an export's masks as OME-Zarr labels of its image",
        description="Write the masks of an export as an NGFF image-label group IMAGE/labels/NAME "
                    "of an OME-Zarr image (by default the export's source): one level per image "
                    "level, the image's pixel size, colours and class names from the class "
                    "table. napari-ome-zarr shows them. Needs ome-zarr "
                    "(pip install 'napari-axons[formats]').")
    ngff.add_argument("export", metavar="EXPORT_DIR", help="an export folder (or its manifest.json)")
    ngff.add_argument("--to", default=None, metavar="IMAGE.zarr",
                      help="the OME-Zarr image (default: the export's source image)")
    ngff.add_argument("--name", default="napari-axons", help="label group name (default: napari-axons)")
    ngff.add_argument("--image", default=None, metavar="BASE",
                      help="which image of the export (needed when it has several)")


def _cmd_export_ome_zarr(args) -> int:
    start = time.perf_counter()
    path = export_ngff_labels(args.export, args.to, name=args.name, base=args.image)
    labels = read_ngff_labels(path.parent.parent, args.name)
    print(f"labels written to {path} ({len(labels.levels)} levels, "
          f"{labels.levels[0].shape[1]} x {labels.levels[0].shape[0]} pixels) in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def _cmd_export_coco(args) -> int:
    start = time.perf_counter()
    summary = export_coco(args.export, args.output)
    for line in summary.warnings:
        print(f"napari-axons: warning: {' '.join(line.split())}", file=sys.stderr)
    left = f" ({summary.n_left_out} left out: see the warnings)" if summary.n_left_out else ""
    print(f"{summary.n_annotations} annotations ({summary.n_rle} as RLE: objects with holes) over "
          f"{summary.n_images} tiles{left} written to {summary.path} in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_export_geojson(args) -> int:
    start = time.perf_counter()
    if args.fibres:
        return _fibres_geojson(args, start)
    with tqdm(unit="tile", desc="GeoJSON", disable=None, file=sys.stderr) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        summary = export_geojson(args.export, args.output, base=args.image,
                                 object_type=args.object_type, progress=progress)
    for line in summary.warnings:
        print(f"napari-axons: warning: {' '.join(line.split())}", file=sys.stderr)
    print(f"{summary.n_features} objects written to {summary.path} "
          f"({summary.n_merged} pieces joined across tile borders) in {time.perf_counter() - start:.1f} s")
    return 0


def _fibres_geojson(args, start: float) -> int:
    """Each fibre as a QuPath detection with its measurements (fibres measured, then outlined)."""
    with Steps(args, "reading tiles", unit="tiles") as progress:
        cmap, classes, frame, warnings = open_export_map(args.export, pixel_size_um=args.pixel_size,
                                                         image=args.image, progress=progress)
    with cmap:
        with Steps(args, "measuring", unit="blocks") as progress:
            table = measure_class_map(cmap, classes, pixel_size_um=frame.pixel_size_um,
                                      scale=frame.scale, max_sheath_um=args.max_sheath,
                                      name=frame.name, progress=progress)
        with Steps(args, "outlining", unit="blocks") as progress:
            n = write_feature_collection(
                (f.to_geojson(seed=frame.name) for f in
                 fibre_features(cmap, classes, table, progress=progress)), args.output)
    for line in warnings:
        print(f"napari-axons: warning: {' '.join(line.split())}", file=sys.stderr)
    fibres = table.n_fibres
    orphans = f" and {plural(n - fibres, 'myelin piece')} without an axon" if n > fibres else ""
    print(f"{plural(fibres, 'fibre')}{orphans} written to {args.output} as QuPath detections "
          f"with their measurements in {time.perf_counter() - start:.1f} s")
    return 0
