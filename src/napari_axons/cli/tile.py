"""``napari-axons tile``: tile (and segment) images into a seed-compatible export folder."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

from ..core import segment
from ..core.common import ExportError
from ..core.export import (
    ExportJob,
    ExportOptions,
    WholeMaskReader,
    mask_classes,
    misplaced_mask,
    refuse_occupied,
    run_distributed,
)
from ..core.labels import ClassMaskError, read_mask_image
from .parser import CliError, add_command, fraction, micrometres, one_line, print_failures, whole_number
from .progress import make_progress, plural

__all__ = ["add_parser", "run", "segmenter_spec"]


def add_parser(sub) -> None:
    tile = add_command(
        sub, "tile", run,
        help="tile (and optionally segment) images into an export folder",
        description=(
            "Cut each IMAGE into tiles on the seed's grid (main grid row by row, then the "
            "right-edge column, the bottom-edge row and the corner; edge tiles shifted inward) "
            "and write OUT/{base}_tile_{NNNN}.png plus OUT/manifest.json. With --model (or --masks), also "
            "OUT/masks/{base}_tile_{NNNN}_mask.png and OUT/{base}_tile_{NNNN}__labels.json."
        ),
    )
    tile.add_argument("images", nargs="+", metavar="IMAGE",
                      help="TIFF/BigTIFF/OME-TIFF, Zarr folder, PNG or JPEG")
    tile.add_argument("-o", "--output", required=True, metavar="OUT", help="export folder")
    tile.add_argument("--tile-size", type=whole_number(), default=512, metavar="N",
                      help="side of the square tiles in pixels (default: 512, as the seed)")
    tile.add_argument("--overlap", type=whole_number(), default=0, metavar="N",
                      help="pixels shared by neighbouring tiles (default: 0, the seed's grid)")
    tile.add_argument("--downsample", type=whole_number(), nargs="?", const=3, default=1,
                      metavar="FACTOR",
                      help="shrink the image by FACTOR (Lanczos, (w // F, h // F)) before tiling; "
                           "without FACTOR: 3, as the seed (a word that is not a number after "
                           "--downsample is an IMAGE)")
    tile.add_argument("--pixel-size", type=micrometres, default=None, metavar="UM",
                      help="pixel size of the images in micrometres; overrides the files' own "
                           "(OME, TIFF resolution, ImageJ, SVS MPP, OME-Zarr scale)")
    tile.add_argument("--target-pixel-size", type=micrometres, default=None, metavar="UM",
                      help="resample each image (Lanczos) so a pixel of the export is UM "
                           "micrometres; the working size is round(size x pixel size / UM); not "
                           "with --downsample (a model that states its training pixel size "
                           "gets its tiles resampled to it anyway)")
    tile.add_argument("--series", type=whole_number(0), default=None, metavar="N",
                      help="which image series of a TIFF holding several to tile (default: the "
                           "main image, as OpenSlide picks it; a note lists the series when "
                           "several could be the slide)")
    tile.add_argument("--max-pixels", type=whole_number(0), default=None, metavar="N",
                      help="largest PNG/JPEG accepted, in pixels (default: 4294967296; 0: no "
                           "limit); a guard against decompression bombs")
    tile.add_argument("--png-compression", type=whole_number(), default=1, metavar="0-9",
                      help="PNG zlib level (default: 1); 0-2 use a fast preset (about 5x faster "
                           "than Pillow's default), 3-9 give smaller files; same pixels at any level")
    tile.add_argument("--threads", type=whole_number(1), default=None, metavar="N",
                      help="threads for reading, encoding and writing (default: all CPUs)")
    tile.add_argument("--progress-interval", type=float, default=None, metavar="SECONDS",
                      help="print a progress line at most every SECONDS (and at each further "
                           "10%%) instead of a progress bar; the default when stderr is not a "
                           "terminal (a log, a batch job), every 10 s")
    seg = tile.add_argument_group("segmentation (writes masks/ and __labels.json files)")
    seg.add_argument("--model", metavar="PATH|NAME",
                     help="a local Hugging Face checkpoint folder, 'axon-myelin-sem' (the "
                          "built-in axon/myelin model for electron micrographs) or 'otsu' (the "
                          "built-in threshold segmenter); without it, only tiles are written")
    seg.add_argument("--class-index", type=whole_number(0), default=None, metavar="K",
                     help="foreground class of the model (default: 1)")
    seg.add_argument("--threshold", type=fraction, default=None, metavar="T",
                     help="probability threshold for the foreground class, in [0, 1) "
                          "(default: 0.5)")
    seg.add_argument("--classes", default=None, metavar="all|NAME,...",
                     help="segment several classes: 'all' = the argmax over the model's classes; "
                          "'axon,myelin' = those classes (numbered in that order), others "
                          "become background (default: the threshold rule, one class; all classes for "
                          "models napari-axons made, such as axon-myelin-sem)")
    seg.add_argument("--polarity", default=None, choices=["bright", "dark"],
                     help="otsu only: objects brighter (default) or darker than the background")
    seg.add_argument("--label-class", default="axon", metavar="NAME",
                     help="label_class written in the JSON files (default: axon)")
    seg.add_argument("--axondeepseg", action="store_true",
                     help="also write AxonDeepSeg's {tile}_seg-axon.png, _seg-myelin.png and "
                          "_seg-axonmyelin.png next to each tile (needs classes axon and myelin)")
    seg.add_argument("--masks", nargs="+", default=None, metavar="MASK",
                     help="instead of a model: each IMAGE's whole mask (ground truth), in the "
                          "order of the IMAGEs, cut on the grid as each tile's mask and "
                          "__labels.json (source 'manual'); AxonDeepSeg's 0/127/255 masks are "
                          "myelin and axon, 0/255 masks are --label-class, masks of class indices "
                          "0, 1, 2, ... need --classes NAME,... (class 1 first); the size of the "
                          "image or of the exported image")
    seg.add_argument("--batch-size", type=whole_number(1), default=None, metavar="B",
                     help="tiles per model call (default: 1 on CPU, 8 on a GPU; batched results "
                          "equal per-tile ones)")
    seg.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                     help="where the model runs (default: auto = cuda, then mps, then cpu)")
    seg.add_argument("--torch-threads", type=whole_number(1), default=None, metavar="N",
                     help="CPU threads for the model in all (default: all cores; OpenMP threads "
                          "wait passively, so a core busy elsewhere does not stall the model)")
    seg.add_argument("--model-streams", type=whole_number(1), default=None, metavar="S",
                     help="CPU only: batches the model works on at once, each with "
                          "torch-threads/S threads (default: min(cores, 4))")
    seg.add_argument("--allow-pickle", action="store_true",
                     help="allow pytorch_model.bin weights (unpickling can run code: trust the "
                          "folder first); safetensors need no opt-in")
    scale = tile.add_argument_group("existing folders and scale")
    scale.add_argument("--resume", action="store_true",
                     help="continue an interrupted export in OUT (same inputs and options)")
    scale.add_argument("--overwrite", action="store_true",
                     help="write into a non-empty OUT; files of a previous napari-axons export "
                          "there are replaced, other files are never deleted")
    scale.add_argument("--workers", type=whole_number(1), default=None, metavar="N",
                     help="run on a local dask.distributed cluster of N worker processes")
    scale.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on an existing dask.distributed cluster (e.g. tcp://host:8786)")


def segmenter_spec(args) -> tuple[str, dict] | None:
    """``(model, options)`` for :func:`~napari_axons.core.segment.load_segmenter`."""
    if args.model is None:
        if args.polarity is not None:
            raise CliError("--polarity applies to --model otsu only (no --model given)", 2)
        return None
    if args.model.strip().lower() == "otsu":
        for flag, value in (("--threshold", args.threshold), ("--class-index", args.class_index),
                            ("--classes", args.classes)):
            if value is not None:
                raise CliError(f"{flag} applies to Hugging Face models, not to --model otsu "
                                "(one class; its threshold is computed from the image)", 2)
        return "otsu", {"polarity": args.polarity or "bright", "label_class": args.label_class}
    if args.polarity is not None:
        raise CliError("--polarity applies to --model otsu only", 2)
    options = {"device": args.device, "allow_pickle": args.allow_pickle,
               "label_class": args.label_class, "tile_size": args.tile_size}
    for key, value in (("classes", args.classes), ("class_index", args.class_index),
                       ("threshold", args.threshold)):
        if value is not None:
            options[key] = value
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.torch_threads is not None:
        options["num_threads"] = args.torch_threads
    if args.model_streams is not None:
        options["streams"] = args.model_streams
    return args.model, options


def run(args) -> int:
    try:
        options = ExportOptions(
            tile_size=args.tile_size, overlap=args.overlap, downsample=args.downsample,
            png_compression=args.png_compression, label_class=args.label_class,
            threads=args.threads, pixel_size=args.pixel_size,
            target_pixel_size=args.target_pixel_size, series=args.series,
        )
    except ValueError as exc:
        if args.target_pixel_size is not None and args.downsample != 1:
            raise CliError("--downsample and --target-pixel-size cannot be used together", 2) from exc
        raise CliError(str(exc), 2) from exc
    if args.max_pixels is not None:
        os.environ["NAPARI_AXONS_MAX_PIXELS"] = str(args.max_pixels)  # dask workers inherit it
    if args.resume and args.overwrite:
        raise CliError("--resume and --overwrite cannot be used together", 2)
    if args.workers is not None and args.scheduler is not None:
        raise CliError("--workers and --scheduler cannot be used together", 2)
    if args.progress_interval is not None and not args.progress_interval >= 0:
        raise CliError(f"--progress-interval must be >= 0, got {args.progress_interval:g}", 2)
    if args.masks is not None:
        return _run_masks(args, options)
    spec = segmenter_spec(args)
    if not args.resume and not args.overwrite:
        try:  # before a model loads: a refusal at once, and no note before it
            refuse_occupied(args.output)
        except ExportError as exc:
            raise CliError(str(exc)) from exc
    segmenter = None
    if spec is not None:
        try:
            segmenter = segment.load_segmenter(spec[0], **spec[1])
        except ValueError as exc:  # ModelError: say it in the CLI's words
            raise CliError(str(exc).replace("allow_pickle=True", "--allow-pickle")) from exc
    table = getattr(segmenter, "classes", None)
    # several classes, or one named otherwise than --label-class (--classes myelin)
    differs = table is not None and table != options.class_table()
    if args.axondeepseg or differs:
        if segmenter is None:
            raise CliError("--axondeepseg writes masks: give a --model or --masks", 2)
        try:  # several classes: palette masks, each polygon its class (core/class_masks.py)
            options = dataclasses.replace(options, axondeepseg=args.axondeepseg,
                                          classes=table if differs else None)
        except ValueError as exc:
            raise CliError(str(exc), 2) from exc
    job = ExportJob(args.images, args.output, options, segmenter=segmenter,
                    resume=args.resume, overwrite=args.overwrite)
    return _export(args, job, spec)


def _run_masks(args, options) -> int:
    """``tile --masks``: the labels of each tile cut from its image's whole mask."""
    for flag, value in (("--model", args.model),
                        ("--class-index", args.class_index), ("--threshold", args.threshold),
                        ("--polarity", args.polarity)):
        if value is not None:
            raise CliError(f"--masks gives the labels: {flag} cannot be used with it", 2)
    if len(args.masks) != len(args.images):
        raise CliError(f"--masks: {plural(len(args.masks), 'mask')} for "
                       f"{plural(len(args.images), 'image')}; give one mask per IMAGE, in order", 2)
    names = None
    if args.classes is not None:
        names = [n.strip() for n in args.classes.split(",") if n.strip()]
        if not names or names == ["all"]:
            raise CliError("--classes with --masks: the class names, class 1 first "
                           "(e.g. axon,myelin)", 2)
    if not args.resume and not args.overwrite:
        try:
            refuse_occupied(args.output)
        except ExportError as exc:
            raise CliError(str(exc)) from exc
    errors = misplaced_mask(args.images, args.masks)  # every bad mask is said, then nothing runs
    read = {}
    for k, m in enumerate(args.masks):
        try:
            read[k] = (Path(m), read_mask_image(m))
        except ClassMaskError as exc:
            errors.append(str(exc))
    try:
        table, luts = mask_classes(list(read.values()), names, args.label_class)
    except ClassMaskError as exc:
        return _say_errors([*errors, str(exc)])
    reader = WholeMaskReader({args.images[k]: (args.masks[k], lut)
                              for k, lut in zip(read, luts, strict=True)})
    by_image = {str(Path(args.images[k]).resolve()): m for k, (_, m) in read.items()}
    del read
    try:
        options = dataclasses.replace(options, classes=table, axondeepseg=args.axondeepseg)
    except ValueError as exc:
        raise CliError(str(exc), 2) from exc
    job = ExportJob(args.images, args.output, options, mask_reader=reader, classes=table,
                    label_source="manual", resume=args.resume, overwrite=args.overwrite,
                    segmenter_info=reader.info())
    errors += job.errors
    for plan in job.plans:
        if not reader.has_mask(plan):  # its mask could not be read: said above
            continue
        try:  # the mask read above, kept by the reader on the working grid from here on
            note = reader.fit(plan, by_image.pop(str(Path(plan.path).resolve()), None))
        except ClassMaskError as exc:
            errors.append(str(exc))
            continue
        if note:
            plan.source.notes.append(note)
    if errors:  # a training export with an image missing or mislabelled helps no one
        job.close()
        return _say_errors(errors)
    return _export(args, job, None)


def _say_errors(errors: list[str]) -> int:
    for line in errors:
        print(f"napari-axons: error: {line}", file=sys.stderr)
    return 1


def _export(args, job: ExportJob, spec) -> int:
    """Run ``job`` (locally or on a cluster) with progress; print the summary line."""
    segmenter = job.segmenter
    distributed = args.workers is not None or args.scheduler is not None
    start = time.perf_counter()
    print_failures(job, 0, args.debug)
    n_errors = len(job.errors)
    for note in dict.fromkeys(n for plan in job.plans for n in plan.source.notes):
        print(f"napari-axons: note: {note}", file=sys.stderr)  # each once (the model's for all)
    if not job.plans:
        return 1
    written = resumed = objects = 0
    try:
        what = "segmenting" if segmenter is not None else "tiling"
        with make_progress(args, job.total, what) as bar:
            if distributed:
                gen = run_distributed(job, segmenter_spec=spec, workers=args.workers,
                                      scheduler=args.scheduler)
            else:
                gen = job.run()
            for result in gen:
                resumed += result.resumed
                written += not result.resumed
                objects += result.n_objects or 0
                if result.resumed and hasattr(bar, "skip"):
                    bar.skip(1)  # done by the interrupted run: not in the rate
                else:
                    bar.update(1)
    except OSError as exc:
        if written or resumed:  # the manifest and journal are there: it can be continued
            raise CliError(f"{one_line(exc)}; after fixing this, run the same command "
                            "with --resume to continue") from exc
        raise
    finally:
        job.close()
    print_failures(job, n_errors, args.debug)
    seconds = time.perf_counter() - start
    rate = written / seconds if seconds > 0 else 0.0
    summary = (f"{plural(written, 'tile')} written to {Path(args.output)} in {seconds:.1f} s "
               f"({rate:.1f} tiles/s)")
    if resumed:
        summary += f", {resumed} already done"
    if job.with_masks and written:
        summary += f", {plural(objects, 'object')}"
    if written or resumed or not job.errors:
        print(summary)
    return 1 if job.errors else 0
