"""The ``napari-axons`` command: the parser and ``main``; one module per subcommand.

Subcommands
-----------
tile    tile images (and optionally segment them) into a seed-compatible export folder
sample  write a synthetic image (axons or myelinated) and its ground truth
train   train a segmentation checkpoint from corrected exports
score   score predicted class maps against ground truth (IoU, Dice, object F1)
view    open napari with the napari-axons widget docked
export-geojson  an export's objects as QuPath GeoJSON (whole slide, full-resolution pixels)
export-coco     COCO instance annotations over an export's tiles
export-ome-zarr an export's masks as OME-Zarr (NGFF) labels of its image
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..core.segment import prefer_passive_openmp
from . import formats, morphometrics, sample, score, tile, train, view
from .parser import CliError, Parser, UsageError, one_line

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``napari-axons`` parser; each subcommand's module adds its own (``add_parser``)."""
    parser = Parser(
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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in (tile, sample, train, score, view, formats, morphometrics):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for a bad command line)."""
    prefer_passive_openmp()  # before torch is imported (ENVIRONMENT.md pitfall 4)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
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
    except CliError as exc:
        if args.debug:
            raise
        print(f"napari-axons: error: {one_line(exc)}", file=sys.stderr)
        return exc.code
    except (ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"napari-axons: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for the user (docs/errors.md)
        if args.debug:
            raise
        print(f"napari-axons: error: unexpected {type(exc).__name__}: {one_line(exc)} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


#: The formats ``napari-axons sample`` writes, by suffix.
_SAMPLE_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG", ".jpg": "JPEG",
                   ".jpeg": "JPEG"}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
