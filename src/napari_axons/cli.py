"""The ``napari-axons`` command: the headless core, from a shell.

Subcommands
-----------
tile    tile images (and optionally segment them) into a seed-compatible export folder
sample  write a synthetic image (axons or myelinated; a tiled TIFF) and its ground truth
view    open napari with the napari-axons widget docked
"""

from __future__ import annotations

import argparse
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-axons",
        description=(
            "Tile huge microscopy images into seed-compatible export folders (tile PNGs, "
            "masks and Django-Labeller __labels.json polygons), segment them with a "
            "Hugging Face checkpoint or the built-in segmenter, and view them in napari."
        ),
    )
    parser.add_argument("--version", action="version", version=f"napari-axons {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tile = sub.add_parser(
        "tile",
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
    tile.add_argument("--tile-size", type=int, default=512, metavar="N",
                      help="side of the square tiles in pixels (default: 512, as the seed)")
    tile.add_argument("--overlap", type=int, default=0, metavar="N",
                      help="pixels shared by neighbouring tiles (default: 0, the seed's grid)")
    tile.add_argument("--downsample", type=int, nargs="?", const=3, default=1, metavar="FACTOR",
                      help="shrink the image by FACTOR (Lanczos, (w // F, h // F)) before tiling; "
                           "without FACTOR: 3, as the seed")
    tile.add_argument("--png-compression", type=int, default=1, metavar="0-9",
                      help="PNG zlib level (default: 1); 0-2 use a fast preset (about 5x faster "
                           "than Pillow's default), 3-9 give smaller files; same pixels at any level")
    tile.add_argument("--threads", type=int, default=None, metavar="N",
                      help="threads for reading, encoding and writing (default: all CPUs)")
    seg = tile.add_argument_group("segmentation (writes masks/ and __labels.json files)")
    seg.add_argument("--model", metavar="PATH|otsu",
                     help="a local Hugging Face checkpoint folder, or 'otsu' for the built-in "
                          "segmenter; without it, only tiles are written")
    seg.add_argument("--class-index", type=int, default=1, metavar="K",
                     help="foreground class of the model (default: 1)")
    seg.add_argument("--threshold", type=float, default=0.5, metavar="T",
                     help="probability threshold for the foreground class (default: 0.5)")
    seg.add_argument("--label-class", default="axon", metavar="NAME",
                     help="label_class written in the JSON files (default: axon)")
    seg.add_argument("--batch-size", type=int, default=None, metavar="B",
                     help="tiles per model call (default: 1 on CPU, 8 on a GPU; batched results "
                          "equal per-tile ones)")
    seg.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                     help="where the model runs (default: auto = cuda, then mps, then cpu)")
    seg.add_argument("--torch-threads", type=int, default=None, metavar="N",
                     help="CPU threads for the model in all (default: all cores; OpenMP threads "
                          "wait passively, so a core busy elsewhere does not stall the model)")
    seg.add_argument("--model-streams", type=int, default=None, metavar="S",
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
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="run on a local dask.distributed cluster of N worker processes")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on an existing dask.distributed cluster (e.g. tcp://host:8786)")
    tile.set_defaults(handler=_cmd_tile)

    sample = sub.add_parser("sample", help="write a synthetic sample image and its truth",
                            description="Write a synthetic image as a tiled TIFF, and its "
                                        "ground truth beside it (OUT_truth.png): 'axons' is "
                                        "fluorescence-like (truth 0/255), 'myelinated' an "
                                        "SEM-like cross-section of myelinated axons (truth a "
                                        "palette PNG of class indices: 0 background, "
                                        "1 myelin, 2 axon).")
    sample.add_argument("output", metavar="OUT.tif", help="where to write the image")
    sample.add_argument("--kind", choices=["axons", "myelinated"], default="axons",
                        help="which sample (default: axons)")
    sample.add_argument("--size", type=int, nargs=2, default=(2048, 3072), metavar=("H", "W"),
                        help="height and width (default: 2048 3072)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sample.set_defaults(handler=_cmd_sample)

    view = sub.add_parser("view", help="open napari with the napari-axons widget",
                          description="Open napari with the napari-axons widget docked, and "
                                      "IMAGE (if given) through the plugin's lazy reader.")
    view.add_argument("image", nargs="?", metavar="IMAGE")
    view.set_defaults(handler=_cmd_view)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
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
        return None
    if args.model == "otsu":
        return "otsu", {}
    options = {"class_index": args.class_index, "threshold": args.threshold,
               "device": args.device, "allow_pickle": args.allow_pickle}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size
    if args.torch_threads is not None:
        options["num_threads"] = args.torch_threads
    if args.model_streams is not None:
        options["streams"] = args.model_streams
    return args.model, options


def _cmd_tile(args) -> int:
    from tqdm import tqdm

    from .core.pipeline import ExportJob, ExportOptions

    try:
        options = ExportOptions(
            tile_size=args.tile_size, overlap=args.overlap, downsample=args.downsample,
            png_compression=args.png_compression, label_class=args.label_class,
            threads=args.threads,
        )
    except ValueError as exc:
        raise _CliError(str(exc), 2) from exc
    if args.resume and args.overwrite:
        raise _CliError("--resume and --overwrite cannot be used together", 2)
    spec = _segmenter_spec(args)
    segmenter = None
    if spec is not None:
        from .core.segment import load_segmenter

        try:
            segmenter = load_segmenter(spec[0], **spec[1])
        except ValueError as exc:  # ModelError: say it in the CLI's words
            raise _CliError(str(exc).replace("allow_pickle=True", "--allow-pickle")) from exc
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
        with tqdm(total=job.total, unit="tile", desc="Tiling" if segmenter is None else "Segmenting",
                  disable=None, file=sys.stderr) as bar:
            if distributed:
                from .core.distributed import run_distributed

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
    summary = f"{written} tiles written to {Path(args.output)} in {seconds:.1f} s ({rate:.1f} tiles/s)"
    if resumed:
        summary += f", {resumed} already done"
    if segmenter is not None:
        summary += f", {objects} objects"
    if written or resumed or not job.errors:
        print(summary)
    return 1 if job.errors else 0


def _cmd_sample(args) -> int:
    import numpy as np
    import tifffile

    from .core.export import atomic_write_bytes, encode_png
    from .core.sample import MYELINATED_CLASSES, make_axon_sample, make_myelinated_sample

    out = Path(args.output)
    if args.kind == "myelinated":
        image, truth = make_myelinated_sample(tuple(args.size), seed=args.seed)
        truth_bytes = _palette_png(truth, MYELINATED_CLASSES.palette())
    else:
        image, truth = make_axon_sample(tuple(args.size), seed=args.seed)
        truth_bytes = encode_png(np.asarray(truth, np.uint8))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tifffile.imwrite(tmp, image, tile=(256, 256), compression="zlib", photometric="rgb")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    truth_path = out.with_name(out.stem + "_truth.png")
    atomic_write_bytes(truth_path, truth_bytes)
    print(f"wrote {out} ({image.shape[1]} x {image.shape[0]}) and {truth_path}")
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
