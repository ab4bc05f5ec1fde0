"""``napari-axons score PREDICTED --truth TRUTH``: class maps against ground truth.

Per class pixel IoU and Dice, and object precision, recall and F1 (objects
matched one-to-one at IoU >= 0.5), per tile and overall, as an aligned table on
stdout; ``--json FILE`` writes the same figures as JSON (``--json -``: JSON on
stdout instead of the table). The reading rules (export folders matched tile
by tile by name, an export against the mask of the whole image cut by its tile
boxes, classes matched by name, mask images, label files) are
:mod:`napari_axons.core.export.compare`'s.
"""

from __future__ import annotations

import json
import sys

from ..core.common import atomic_text
from ..core.export import Comparison, compare
from .parser import add_command

__all__ = ["add_parser", "format_table", "run"]


def add_parser(sub) -> None:
    s = add_command(
        sub, "score", run,
        help="score predicted class maps against ground truth (IoU, Dice, object F1)",
        description="Compare a prediction with its ground truth: two export folders (tiles "
                    "matched by name; a tile on one side only is left out with a note), two "
                    "single images (mask images: palette or grey PNG, TIFF, AxonDeepSeg's "
                    "0/127/255 masks; or Django-Labeller __labels.json files), or an export "
                    "and the mask of the whole image it was tiled from (cut by each tile's "
                    "box; a mask at the source size is mapped onto a downsampled export's "
                    "grid; with several images in the export, the one whose name begins the "
                    "mask's file name). Classes are matched by name. Prints per class pixel "
                    "IoU and Dice and object precision, recall and F1 (objects matched at "
                    "IoU >= 0.5), per tile and overall.")
    s.add_argument("predicted", metavar="PREDICTED",
                   help="the prediction: an export folder, a mask image or a __labels.json file")
    s.add_argument("--truth", required=True, metavar="TRUTH",
                   help="the ground truth: an export folder, a mask image or a "
                        "__labels.json file (one image against an export: the whole image's)")
    s.add_argument("--json", default=None, metavar="FILE",
                   help="also write the figures as JSON to FILE; '-' writes the JSON to stdout "
                        "instead of the table")


def run(args) -> int:
    result = compare(args.predicted, args.truth)
    for kind, lines in (("note", result.notes), ("warning", result.warnings)):
        for line in lines:
            print(f"napari-axons: {kind}: {' '.join(line.split())}", file=sys.stderr)
    doc = json.dumps(result.to_json(), indent=1)
    if args.json == "-":
        print(doc)
        return 0
    if args.json is not None:
        with atomic_text(args.json) as fh:
            fh.write(doc + "\n")
    print(format_table(result))
    return 0


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def format_table(result: Comparison) -> str:
    """The figures as an aligned text table: one row per foreground class per tile, then overall.

    Columns: tile, class, IoU, Dice, precision, recall, F1 and the object
    counts ``matched/predicted/true``; ``-`` where a figure is undefined (the
    class in neither map, no object on a side).
    """
    names = result.scores.names
    header = ("tile", "class", "IoU", "Dice", "precision", "recall", "F1", "objects m/p/t")
    rows = []
    parts = [*zip(result.tiles, result.scores.tiles, strict=True), ("overall", result.scores.overall)]
    for tile, scores in parts:
        figures = scores.figures(names)
        for name in names[1:]:
            f = figures[name]
            o = f["objects"]
            rows.append((tile, name, _num(f["iou"]), _num(f["dice"]), _num(f["precision"]),
                         _num(f["recall"]), _num(f["f1"]),
                         f"{o['matched']}/{o['predicted']}/{o['true']}"))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(r) -> str:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                 enumerate(zip(r, widths, strict=True))]
        return "  ".join(cells).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])
