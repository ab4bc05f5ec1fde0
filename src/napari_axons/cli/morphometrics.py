"""``napari-axons morphometrics``: every myelinated fibre of an export, measured in micrometres.

Each fibre (an axon and the myelin around it; touching sheaths split where they
meet) is one CSV row with AxonDeepSeg's column names (``axon_diam``,
``myelin_thickness``, ``gratio``, ...); ``--json`` adds the slide's aggregates
(count, density, area fractions, aggregate g-ratio, diameter histogram). The
export's tiles are put back together on disk and measured block by block, so
memory grows with the largest fibre, not the slide (:mod:`napari_axons.core.fibres`).
"""

from __future__ import annotations

import sys
import time

from ..core.fibres import (
    DEFAULT_MAX_SHEATH_UM,
    SPLITS,
    measure_export,
    summarize,
    write_csv,
    write_summary_json,
)
from .parser import add_command, micrometres, positive, whole_number
from .progress import Steps, plural

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    m = add_command(
        sub, "morphometrics", run,
        help="measure every myelinated fibre of an export (CSV, JSON summary)",
        description="Find every myelinated fibre in an export's corrected tiles (classes named "
                    "axon and myelin: a model's, hand-painted, or loaded from another tool) and "
                    "write one CSV row per fibre in micrometres with AxonDeepSeg's column names; "
                    "fibres cut by tile borders are measured once, whole. Axons without myelin "
                    "and myelin without an axon are kept and flagged.")
    m.add_argument("export", metavar="EXPORT_DIR", help="an export folder (or its manifest.json)")
    m.add_argument("-o", "--output", required=True, metavar="FIBRES.csv",
                   help="the per-fibre table (CSV)")
    m.add_argument("--json", default=None, metavar="SUMMARY.json",
                   help="also write the slide's aggregates (count, density per mm^2, area "
                        "fractions, aggregate g-ratio, axon diameter histogram)")
    m.add_argument("--pixel-size", type=micrometres, default=None, metavar="UM",
                   help="the slide's pixel size in micrometres, overriding the export's")
    m.add_argument("--image", default=None, metavar="BASE",
                   help="which image of the export (needed when it has several)")
    m.add_argument("--region", type=whole_number(0), nargs=4, default=None,
                   metavar=("Y0", "X0", "Y1", "X1"),
                   help="measure only this box, in full-resolution slide pixels (fibres cut by "
                        "its edge are flagged touches_border)")
    m.add_argument("--max-sheath", type=positive, default=DEFAULT_MAX_SHEATH_UM, metavar="UM",
                   help=f"thickest myelin sheath looked for, in micrometres (default "
                        f"{DEFAULT_MAX_SHEATH_UM:g}); myelin farther from every axon is a "
                        "'no_axon' piece")
    m.add_argument("--split", choices=SPLITS, default="sheath",
                   help="how touching fibres are split: 'sheath' where their sheaths meet "
                        "(default), 'nearest' halfway between the axons (AxonDeepSeg's)")
    m.add_argument("--units", action="store_true",
                   help="CSV column names with their units, as AxonDeepSeg saves them "
                        "('axon_diam (um)')")
    m.add_argument("--progress-interval", type=float, default=None, metavar="SECONDS",
                   help="print a progress line at most every SECONDS instead of a bar")


def run(args) -> int:
    start = time.perf_counter()
    region = None if args.region is None else tuple(args.region)
    with Steps(args, "measuring", unit="steps") as progress:
        table = measure_export(args.export, pixel_size_um=args.pixel_size, image=args.image,
                               region=region, max_sheath_um=args.max_sheath, split=args.split,
                               progress=progress)
    for line in table.warnings:
        print(f"napari-axons: warning: {' '.join(line.split())}", file=sys.stderr)
    write_csv(table, args.output, units=args.units)
    written = [str(args.output)]
    if args.json:
        write_summary_json(table, args.json, source=str(args.export))
        written.append(str(args.json))
    s = summarize(table)
    g = s.get("aggregate_gratio")
    g_text = "" if g is None else f", aggregate g-ratio {g:.3f}"
    print(f"{plural(s['fibres'], 'fibre')} ({s['myelinated']} myelinated, "
          f"{s['no_myelin']} without myelin, "
          f"{plural(s['orphan_myelin_pieces'], 'myelin piece')} without an axon) over "
          f"{s['area_mm2']:.4g} mm^2{g_text}: {', '.join(written)} in "
          f"{time.perf_counter() - start:.1f} s")
    return 0
