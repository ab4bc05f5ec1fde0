"""The ``napari-axons`` command: the headless core, from a shell.

Subcommands
-----------
tile    tile images (and optionally segment them) into a seed-compatible export folder
sample  write a synthetic image (axons or myelinated) and its ground truth
train   train a segmentation checkpoint from corrected exports
view    open napari with the napari-axons widget docked
export-geojson  an export's objects as QuPath GeoJSON (whole slide, full-resolution pixels)
export-coco     COCO instance annotations over an export's tiles
export-ome-zarr an export's masks as OME-Zarr (NGFF) labels of its image
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from . import __version__

__all__ = ["main", "build_parser"]


class _CliError(Exception):
    """A user-facing error: printed as one line, exit status 1 (or ``code``)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _UsageError(Exception):
    """A bad command line: one line on stderr, exit status 2."""


# --------------------------------------------------------------------------- the parser


class _Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors and optional values that never swallow a file name.

    * A bad command line raises :class:`_UsageError` (``main`` prints one line,
      ``napari-axons: error: ...`` like every other error, and returns 2) instead of
      printing the usage block.
    * An option declared with ``nargs="?"`` and a numeric ``type`` (``--downsample
      [FACTOR]``) takes the next word as its value only when that word is a number:
      ``--downsample slide.tif`` means ``--downsample`` (its default factor) and then
      the image.
    """

    def error(self, message: str):
        raise _UsageError(f"napari-axons: error: {message}")

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(_bind_optional_numbers(self, args), namespace)


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _bind_optional_numbers(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """Rewrite ``--opt WORD`` to ``--opt=CONST WORD`` when ``WORD`` is not a number.

    Only for this parser's options with ``nargs="?"`` and a numeric type; words after
    ``--`` and after the first subcommand name are left alone.
    """
    optional = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands = set(action.choices)
            break
    else:
        commands = set()
    for action in parser._actions:
        if action.nargs == argparse.OPTIONAL and action.option_strings and \
                getattr(action.type, "numeric", action.type in (int, float)):
            optional.update(dict.fromkeys(action.option_strings, action.const))
    if not optional:
        return args
    out = []
    for k, word in enumerate(args):
        if word == "--" or word in commands:
            return out + args[k:]
        following = args[k + 1] if k + 1 < len(args) else None
        if word in optional and following is not None and not following.startswith("-") \
                and not _NUMBER.fullmatch(following):
            word = f"{word}={optional[word]}"
        out.append(word)
    return out


def _whole_number(minimum: int | None = None, maximum: int | None = None):
    """An argparse ``type``: an integer in ``[minimum, maximum]``, else a one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            if maximum is None:
                bounds = f">= {minimum}"
            elif minimum is None:
                bounds = f"<= {maximum}"
            else:
                bounds = f"{minimum}-{maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    parse.numeric = True
    return parse


def _fraction(text: str) -> float:
    """An argparse ``type``: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value:g}")
    return value


_fraction.numeric = True


def _micrometres(text: str) -> float:
    """An argparse ``type``: a positive, finite number of micrometres."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of micrometres, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of micrometres, got {text}")
    return value


_micrometres.numeric = True


def _add_command(sub, name: str, handler, **kwargs) -> argparse.ArgumentParser:
    """A subcommand parser with the options every subcommand shares (``--debug``)."""
    parser = sub.add_parser(name, **kwargs)
    # SUPPRESS: when not given after the subcommand, the value from before it stays.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``napari-axons`` parser; each subcommand's options are added by its ``_add_*``."""
    parser = _Parser(
        prog="napari-axons",
        description=(
            "Tile huge microscopy images into seed-compatible export folders (tile PNGs, "
            "masks and Django-Labeller __labels.json polygons), segment them with a "
            "Hugging Face checkpoint or the built-in segmenter, and view them in napari."
        ),
        epilog="Exit status: 0 on success, 1 when an input or the output failed, 2 for a "
               "bad command line.",
    )
    parser.add_argument("--version", action="version", version=f"napari-axons {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_tile(sub)
    _add_sample(sub)
    _add_train(sub)
    _add_view(sub)
    _add_format_commands(sub)
    return parser


def _add_tile(sub) -> None:
    tile = _add_command(
        sub, "tile", _cmd_tile,
        help="tile (and optionally segment) images into an export folder",
        description=(
            "Cut each IMAGE into tiles on the seed's grid (main grid row by row, then the "
            "right-edge column, the bottom-edge row and the corner; edge tiles shifted inward) "
            "and write OUT/{base}_tile_{NNNN}.png plus OUT/manifest.json. With --model, also "
            "OUT/masks/{base}_tile_{NNNN}_mask.png and OUT/{base}_tile_{NNNN}__labels.json."
        ),
    )
    tile.add_argument("images", nargs="+", metavar="IMAGE",
                      help="TIFF/BigTIFF/OME-TIFF, Zarr folder, PNG or JPEG")
    tile.add_argument("-o", "--output", required=True, metavar="OUT", help="export folder")
    tile.add_argument("--tile-size", type=_whole_number(), default=512, metavar="N",
                      help="side of the square tiles in pixels (default: 512, as the seed)")
    tile.add_argument("--overlap", type=_whole_number(), default=0, metavar="N",
                      help="pixels shared by neighbouring tiles (default: 0, the seed's grid)")
    tile.add_argument("--downsample", type=_whole_number(), nargs="?", const=3, default=1,
                      metavar="FACTOR",
                      help="shrink the image by FACTOR (Lanczos, (w // F, h // F)) before tiling; "
                           "without FACTOR: 3, as the seed (a word that is not a number after "
                           "--downsample is an IMAGE)")
    tile.add_argument("--pixel-size", type=_micrometres, default=None, metavar="UM",
                      help="pixel size of the images in micrometres; overrides the files' own "
                           "(OME, TIFF resolution, ImageJ, SVS MPP, OME-Zarr scale)")
    tile.add_argument("--target-pixel-size", type=_micrometres, default=None, metavar="UM",
                      help="resample each image (Lanczos) so a pixel is UM micrometres, the "
                           "resolution the model was trained at; the working size is "
                           "round(size x pixel size / UM); not with --downsample")
    tile.add_argument("--max-pixels", type=_whole_number(0), default=None, metavar="N",
                      help="largest PNG/JPEG accepted, in pixels (default: 4294967296; 0: no "
                           "limit); a guard against decompression bombs")
    tile.add_argument("--png-compression", type=_whole_number(), default=1, metavar="0-9",
                      help="PNG zlib level (default: 1); 0-2 use a fast preset (about 5x faster "
                           "than Pillow's default), 3-9 give smaller files; same pixels at any level")
    tile.add_argument("--threads", type=_whole_number(1), default=None, metavar="N",
                      help="threads for reading, encoding and writing (default: all CPUs)")
    tile.add_argument("--progress-interval", type=float, default=None, metavar="SECONDS",
                      help="print a progress line at most every SECONDS (and at each further "
                           "10%%) instead of a progress bar; the default when stderr is not a "
                           "terminal (a log, a batch job), every 10 s")
    seg = tile.add_argument_group("segmentation (writes masks/ and __labels.json files)")
    seg.add_argument("--model", metavar="PATH|otsu",
                     help="a local Hugging Face checkpoint folder, or 'otsu' for the built-in "
                          "segmenter; without it, only tiles are written")
    seg.add_argument("--class-index", type=_whole_number(0), default=None, metavar="K",
                     help="foreground class of the model (default: 1)")
    seg.add_argument("--threshold", type=_fraction, default=None, metavar="T",
                     help="probability threshold for the foreground class, in [0, 1) "
                          "(default: 0.5)")
    seg.add_argument("--classes", default=None, metavar="all|NAME,...",
                     help="segment several classes: 'all' = the argmax over the model's classes; "
                          "'axon,myelin' = those classes (numbered in that order), others "
                          "become background (default: one class, the threshold rule)")
    seg.add_argument("--polarity", default=None, choices=["bright", "dark"],
                     help="otsu only: objects brighter (default) or darker than the background")
    seg.add_argument("--label-class", default="axon", metavar="NAME",
                     help="label_class written in the JSON files (default: axon)")
    seg.add_argument("--axondeepseg", action="store_true",
                     help="also write AxonDeepSeg's {tile}_seg-axon.png, _seg-myelin.png and "
                          "_seg-axonmyelin.png next to each tile (needs classes axon and myelin)")
    seg.add_argument("--batch-size", type=_whole_number(1), default=None, metavar="B",
                     help="tiles per model call (default: 1 on CPU, 8 on a GPU; batched results "
                          "equal per-tile ones)")
    seg.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                     help="where the model runs (default: auto = cuda, then mps, then cpu)")
    seg.add_argument("--torch-threads", type=_whole_number(1), default=None, metavar="N",
                     help="CPU threads for the model in all (default: all cores; OpenMP threads "
                          "wait passively, so a core busy elsewhere does not stall the model)")
    seg.add_argument("--model-streams", type=_whole_number(1), default=None, metavar="S",
                     help="CPU only: batches the model works on at once, each with "
                          "torch-threads/S threads (default: min(cores, 4))")
    seg.add_argument("--allow-pickle", action="store_true",
                     help="allow pytorch_model.bin weights (unpickling can run code: trust the "
                          "folder first); safetensors need no opt-in")
    run = tile.add_argument_group("existing folders and scale")
    run.add_argument("--resume", action="store_true",
                     help="continue an interrupted export in OUT (same inputs and options)")
    run.add_argument("--overwrite", action="store_true",
                     help="write into a non-empty OUT; files of a previous napari-axons export "
                          "there are replaced, other files are never deleted")
    run.add_argument("--workers", type=_whole_number(1), default=None, metavar="N",
                     help="run on a local dask.distributed cluster of N worker processes")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on an existing dask.distributed cluster (e.g. tcp://host:8786)")


def _add_sample(sub) -> None:
    sample = _add_command(
        sub, "sample", _cmd_sample, help="write a synthetic sample image and its truth",
        description="Write a synthetic image, and its ground truth beside it "
                    "(NAME_truth.png): 'axons' is fluorescence-like (truth 0/255), "
                    "'myelinated' an SEM-like cross-section of myelinated axons (truth a "
                    "palette PNG of class indices: 0 background, 1 myelin, 2 axon). The "
                    "suffix of OUT chooses the format: .tif/.tiff (a tiled, zlib-compressed "
                    "TIFF), .png or .jpg/.jpeg.")
    sample.add_argument("output", metavar="OUT", help="where to write the image "
                                                      "(.tif, .tiff, .png, .jpg or .jpeg)")
    sample.add_argument("--kind", choices=["axons", "myelinated"], default="axons",
                        help="which sample (default: axons)")
    sample.add_argument("--size", type=_whole_number(1), nargs=2, default=(2048, 3072),
                        metavar=("H", "W"), help="height and width in pixels (default: 2048 3072)")
    sample.add_argument("--seed", type=_whole_number(0), default=0,
                        help="random seed (default: 0)")
    sample.add_argument("--overwrite", action="store_true",
                        help="replace OUT and its truth file when they exist")


def _add_train(sub) -> None:
    tr = _add_command(
        sub, "train", _cmd_train, help="train a segmentation checkpoint from corrected exports",
        description="Train a Hugging Face segmentation checkpoint on the labelled tiles of "
                    "EXPORT_DIRs (polygons from __labels.json, else masks/*_mask.png; tiles "
                    "without either are not used) and write it to MODEL_DIR (save_pretrained, "
                    "safetensors, with training.json, training.png and napari_axons.json), "
                    "ready for 'napari-axons tile --model MODEL_DIR'. While it runs, everything "
                    "lives in MODEL_DIR.partial; see docs/training.md.")
    tr.add_argument("exports", nargs="*", metavar="EXPORT_DIR",
                    help="export folders with corrected tiles (not needed with --resume)")
    tr.add_argument("-o", "--output", required=True, metavar="MODEL_DIR",
                    help="where the trained checkpoint goes")
    tr.add_argument("--val", nargs="+", default=None, metavar="EXPORT_DIR",
                    help="validation exports (default: hold out a fifth of the labelled tiles, "
                         "overlapping tiles on one side)")
    tr.add_argument("--base", metavar="CHECKPOINT_DIR",
                    help="fine-tune this local segmentation checkpoint (its classifier is "
                         "replaced when the class count differs); default: a new model")
    tr.add_argument("--arch", default="upernet-convnext", choices=["upernet-convnext", "segformer"],
                    help="architecture of a new model (default: upernet-convnext)")
    tr.add_argument("--classes", metavar="NAMES",
                    help="class names (e.g. axon,myelin) when the exports have only mask PNGs")
    tr.add_argument("--epochs", type=_whole_number(1), default=60,
                    help="most epochs; the learning-rate schedule spans them (default: 60)")
    tr.add_argument("--batch-size", type=_whole_number(1), default=4, metavar="B",
                    help="crops per step (default: 4)")
    tr.add_argument("--lr", type=_positive, default=None,
                    help="peak learning rate (default: 1e-3 new model, 2e-4 with --base)")
    tr.add_argument("--crop", type=_whole_number(32), default=256, metavar="N",
                    help="side of the training crops in pixels (default: 256)")
    tr.add_argument("--patience", type=_whole_number(1), default=12, metavar="N",
                    help="stop after N epochs without a better validation IoU (default: 12)")
    tr.add_argument("--max-minutes", type=_positive, default=None, metavar="M",
                    help="stop after M minutes; the best epoch so far becomes the model")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                    help="where to train (default: auto; mixed precision on a GPU)")
    tr.add_argument("--seed", type=_whole_number(0), default=0, help="random seed (default: 0)")
    tr.add_argument("--torch-threads", type=_whole_number(1), default=None, metavar="N",
                    help="CPU threads (default: all cores)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the interrupted run in MODEL_DIR.partial from its last epoch")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing MODEL_DIR")


def _positive(text: str) -> float:
    """An argparse ``type``: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value:g}")
    return value


_positive.numeric = True


def _add_view(sub) -> None:
    view = _add_command(
        sub, "view", _cmd_view, help="open napari with the napari-axons widget",
        description="Open napari with the napari-axons widget docked, and IMAGE (if given) "
                    "through the plugin's lazy reader.")
    view.add_argument("image", nargs="?", metavar="IMAGE")


def _add_format_commands(sub) -> None:
    """The format bridges: QuPath GeoJSON, COCO, OME-Zarr labels."""
    geo = _add_command(
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
    coco = _add_command(
        sub, "export-coco", _cmd_export_coco,
        help="write COCO instance annotations over an export's tiles",
        description="Write COCO instance annotations (images = the export's tile PNGs, "
                    "categories = its classes, one annotation per object per tile: polygons, "
                    "or RLE for objects with holes). Needs pycocotools "
                    "(pip install 'napari-axons[formats]').")
    coco.add_argument("export", metavar="EXPORT_DIR", help="an export folder (or its manifest.json)")
    coco.add_argument("-o", "--output", required=True, metavar="OUT.json",
                      help="the COCO file; file_name entries are relative to EXPORT_DIR")
    ngff = _add_command(
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


# --------------------------------------------------------------------------- running


def _cmd_export_ome_zarr(args) -> int:
    from .core.formats.ngff_labels import export_ngff_labels, read_ngff_labels

    start = time.perf_counter()
    path = export_ngff_labels(args.export, args.to, name=args.name, base=args.image)
    labels = read_ngff_labels(path.parent.parent, args.name)
    print(f"labels written to {path} ({len(labels.levels)} levels, "
          f"{labels.levels[0].shape[1]} x {labels.levels[0].shape[0]} pixels) in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def _cmd_export_coco(args) -> int:
    from .core.formats.coco import export_coco

    start = time.perf_counter()
    summary = export_coco(args.export, args.output)
    for line in summary.warnings:
        print(f"napari-axons: warning: {' '.join(line.split())}", file=sys.stderr)
    print(f"{summary.n_annotations} annotations ({summary.n_rle} as RLE: objects with holes) over "
          f"{summary.n_images} tiles written to {summary.path} in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_export_geojson(args) -> int:
    from tqdm import tqdm

    from .core.formats import export_geojson

    start = time.perf_counter()
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a bad command line)."""
    from .core.segment import prefer_passive_openmp

    prefer_passive_openmp()  # before torch is imported (ENVIRONMENT.md pitfall 4)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("napari-axons: interrupted", file=sys.stderr)
        return 130
    except _CliError as exc:
        if args.debug:
            raise
        print(f"napari-axons: error: {_one_line(exc)}", file=sys.stderr)
        return exc.code
    except (ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"napari-axons: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for the user (docs/errors.md)
        if args.debug:
            raise
        print(f"napari-axons: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line; a bare OSError gets its file name."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.strerror and exc.filename is not None and \
            str(exc.filename) not in text.split(": ", 1)[0]:
        text = f"{exc.filename}: {exc.strerror}"
    return " ".join(text.split()) or type(exc).__name__


def _print_failures(job, start: int, debug: bool) -> None:
    """One line per input that failed (with ``--debug``, its traceback first)."""
    import traceback

    for line, (_, exc) in zip(job.errors[start:], job.failures[start:], strict=False):
        if debug:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"napari-axons: error: {' '.join(line.split())}", file=sys.stderr)


def _segmenter_spec(args) -> tuple[str, dict] | None:
    """``(model, options)`` for :func:`~napari_axons.core.segment.load_segmenter`."""
    if args.model is None:
        if args.polarity is not None:
            raise _CliError("--polarity applies to --model otsu only (no --model given)", 2)
        return None
    if args.model.strip().lower() == "otsu":
        for flag, value in (("--threshold", args.threshold), ("--class-index", args.class_index),
                            ("--classes", args.classes)):
            if value is not None:
                raise _CliError(f"{flag} applies to Hugging Face models, not to --model otsu "
                                "(one class; its threshold is computed from the image)", 2)
        return "otsu", {"polarity": args.polarity or "bright", "label_class": args.label_class}
    if args.polarity is not None:
        raise _CliError("--polarity applies to --model otsu only", 2)
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


def _progress(args, total: int, label: str):
    """A tqdm bar on a terminal; :class:`ProgressLines` for a log (or with --progress-interval)."""
    if args.progress_interval is None and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="tile", desc=label.capitalize(), file=sys.stderr)
    from ._progress import ProgressLines

    interval = 10.0 if args.progress_interval is None else args.progress_interval
    return ProgressLines(total, label, stream=sys.stderr, interval=interval)


def _cmd_tile(args) -> int:
    from ._progress import plural
    from .core.export import ExportJob, ExportOptions

    try:
        options = ExportOptions(
            tile_size=args.tile_size, overlap=args.overlap, downsample=args.downsample,
            png_compression=args.png_compression, label_class=args.label_class,
            threads=args.threads, pixel_size=args.pixel_size,
            target_pixel_size=args.target_pixel_size,
        )
    except ValueError as exc:
        if args.target_pixel_size is not None and args.downsample != 1:
            raise _CliError("--downsample and --target-pixel-size cannot be used together", 2) from exc
        raise _CliError(str(exc), 2) from exc
    if args.max_pixels is not None:
        os.environ["NAPARI_AXONS_MAX_PIXELS"] = str(args.max_pixels)  # dask workers inherit it
    if args.resume and args.overwrite:
        raise _CliError("--resume and --overwrite cannot be used together", 2)
    if args.workers is not None and args.scheduler is not None:
        raise _CliError("--workers and --scheduler cannot be used together", 2)
    if args.progress_interval is not None and not args.progress_interval >= 0:
        raise _CliError(f"--progress-interval must be >= 0, got {args.progress_interval:g}", 2)
    spec = _segmenter_spec(args)
    segmenter = None
    if spec is not None:
        from .core.segment import load_segmenter

        try:
            segmenter = load_segmenter(spec[0], **spec[1])
        except ValueError as exc:  # ModelError: say it in the CLI's words
            raise _CliError(str(exc).replace("allow_pickle=True", "--allow-pickle")) from exc
    table = getattr(segmenter, "classes", None)
    # several classes, or one named otherwise than --label-class (--classes myelin)
    differs = table is not None and table != options.class_table()
    if args.axondeepseg or differs:
        if segmenter is None:
            raise _CliError("--axondeepseg writes masks: give a --model", 2)
        import dataclasses

        try:  # several classes: palette masks, each polygon its class (core/class_masks.py)
            options = dataclasses.replace(options, axondeepseg=args.axondeepseg,
                                          classes=table if differs else None)
        except ValueError as exc:
            raise _CliError(str(exc), 2) from exc
    distributed = args.workers is not None or args.scheduler is not None
    start = time.perf_counter()
    job = ExportJob(args.images, args.output, options, segmenter=segmenter,
                    resume=args.resume, overwrite=args.overwrite)
    _print_failures(job, 0, args.debug)
    n_errors = len(job.errors)
    for plan in job.plans:
        for note in plan.source.notes:
            print(f"napari-axons: note: {note}", file=sys.stderr)
    if not job.plans:
        return 1
    written = resumed = objects = 0
    try:
        with _progress(args, job.total, "tiling" if segmenter is None else "segmenting") as bar:
            if distributed:
                from .core.export.cluster import run_distributed

                gen = run_distributed(job, segmenter_spec=spec, workers=args.workers,
                                      scheduler=args.scheduler)
            else:
                gen = job.run()
            for result in gen:
                resumed += result.resumed
                written += not result.resumed
                objects += result.n_objects or 0
                bar.update(1)
    except OSError as exc:
        if written or resumed:  # the manifest and journal are there: it can be continued
            raise _CliError(f"{_one_line(exc)}; after fixing this, run the same command "
                            "with --resume to continue") from exc
        raise
    finally:
        job.close()
    _print_failures(job, n_errors, args.debug)
    seconds = time.perf_counter() - start
    rate = written / seconds if seconds > 0 else 0.0
    summary = (f"{plural(written, 'tile')} written to {Path(args.output)} in {seconds:.1f} s "
               f"({rate:.1f} tiles/s)")
    if resumed:
        summary += f", {resumed} already done"
    if segmenter is not None and written:
        summary += f", {plural(objects, 'object')}"
    if written or resumed or not job.errors:
        print(summary)
    return 1 if job.errors else 0


#: The formats ``napari-axons sample`` writes, by suffix.
_SAMPLE_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG",
                   ".jpeg": "JPEG"}


def _cmd_sample(args) -> int:
    import numpy as np

    from .core.common import atomic_write_bytes, encode_png
    from .core.image.sample import MYELINATED_CLASSES, make_axon_sample, make_myelinated_sample

    out = Path(args.output)
    kind = _SAMPLE_FORMATS.get(out.suffix.lower())
    if kind is None:
        raise _CliError(f"{out}: unknown image suffix {out.suffix or '(none)'!r}; use .tif, "
                        ".tiff, .png, .jpg or .jpeg", 2)
    truth_path = out.with_name(out.stem + "_truth.png")
    if not args.overwrite:
        for path in (out, truth_path):
            if path.exists():
                raise _CliError(f"{path}: already exists; use --overwrite to replace it")
    height, width = args.size
    if args.kind == "myelinated":
        image, truth = make_myelinated_sample((height, width), seed=args.seed)
        truth_bytes = _palette_png(truth, MYELINATED_CLASSES.palette())
    else:
        image, truth = make_axon_sample((height, width), seed=args.seed)
        truth_bytes = encode_png(np.asarray(truth, np.uint8))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _CliError(f"{out.parent}: cannot create folder ({exc.strerror})") from exc
    atomic_write_bytes(out, _encode_sample(image, kind))
    atomic_write_bytes(truth_path, truth_bytes)
    print(f"wrote {out} ({kind}, {height} x {width} pixels, height x width) and {truth_path}")
    return 0


def _palette_png(class_map, palette: list[int]) -> bytes:
    """A palette PNG whose pixel values are the class indices of ``class_map``."""
    import io

    import numpy as np
    from PIL import Image

    class_map = np.ascontiguousarray(class_map, np.uint8)
    im = Image.frombytes("P", (class_map.shape[1], class_map.shape[0]), class_map.tobytes())
    im.putpalette(palette)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _encode_sample(image, kind: str) -> bytes:
    """``image`` (H, W, 3) uint8 as the bytes of a ``kind`` file (TIFF, PNG or JPEG)."""
    import io

    if kind == "TIFF":
        import tifffile

        buffer = io.BytesIO()
        tifffile.imwrite(buffer, image, tile=(256, 256), compression="zlib", photometric="rgb")
        return buffer.getvalue()
    from PIL import Image

    buffer = io.BytesIO()
    if kind == "PNG":
        Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    else:
        Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _cmd_train(args) -> int:
    from .core.common import ClassTable
    from .core.training import TrainOptions, train

    if not args.exports and not args.resume:
        raise _CliError("give at least one EXPORT_DIR (or --resume)", 2)
    classes = ClassTable.from_spec(args.classes) if args.classes else None
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        max_minutes=args.max_minutes, device=args.device, seed=args.seed,
                        arch=args.arch, base=args.base, crop=args.crop, patience=args.patience,
                        num_threads=args.torch_threads)
    result = train(args.exports, args.output, val_exports=args.val, options=opts,
                   classes=classes, resume=args.resume, overwrite=args.overwrite)
    best = result.report["best"]
    figs = ", ".join(f"{k} {v:.3f}" for k, v in best["val_iou"].items() if k != "background")
    print(f"trained {result.model_dir} in {result.report['minutes']:.1f} min: best epoch "
          f"{best['epoch']:g}, validation IoU {figs}")
    return 0


def _cmd_view(args) -> int:
    try:
        import napari
    except ImportError as exc:
        raise _CliError("napari is not installed: pip install 'napari-axons[napari]'") from exc
    viewer = napari.Viewer()
    viewer.window.add_plugin_dock_widget("napari-axons")
    if args.image:
        viewer.open(args.image, plugin="napari-axons")
    napari.run()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
