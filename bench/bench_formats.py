"""Whole-slide format bridges: a 20000^2 export to QuPath GeoJSON (and COCO), bounded memory.

``python bench/bench_formats.py [--side 20000] [--coco] [--kind axons|myelinated]``

Input: the benchmark's 20000 x 20000 RGB tiled TIFF (:func:`bench.inputs.tiled_tiff`: the
fluorescence-like sample mirrored, whose Otsu mask is one slide-wide network, or with
``--kind myelinated`` the SEM-like sample of separate fibres), tiled once with
``napari-axons tile IMAGE -o bench/_data/formats_export... --model otsu`` (1600 tiles of
512^2, kept between runs). Then, each in a fresh process,
``napari-axons export-geojson`` (and with ``--coco``, ``export-coco``); the figures are the
process's wall time and peak resident memory (``VmHWM``), with the number of features and
the output size. The CPU of the machine may be shared with other work: the time is an upper
bound, not a property of the code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import inputs  # noqa: E402

DATA = ROOT / "bench" / "_data"
LIMIT_MB = 1024


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def export_folder(side: int, kind: str = "axons") -> Path:
    """The otsu export of the ``side``-square mosaic of the ``kind`` sample (made once)."""
    out = DATA / (f"formats_export_{side}" if kind == "axons" else f"formats_export_{kind}_{side}")
    manifest = out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete":
        return out
    image = inputs.tiled_tiff(side, kind=kind)
    run = subprocess.run([sys.executable, "-m", "napari_axons", "tile", str(image), "-o", str(out),
                          "--model", "otsu", "--overwrite", "--threads", "2"],
                         capture_output=True, text=True, env=_env())
    if run.returncode != 0:
        raise SystemExit(f"tiling {image} failed:\n{run.stderr}")
    return out


def measure(args: list[str]) -> tuple[float, float, str]:
    """(peak RSS MB, seconds, stdout) of ``napari-axons ARGS`` in a fresh process."""
    code = (
        "import sys\n"
        "from napari_axons.cli import main\n"
        f"code = main({args!r})\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('PEAK_KB', peak)\n"
        "sys.exit(code)\n"
    )
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise SystemExit(f"napari-axons {' '.join(args)} failed:\n{run.stderr}")
    out, peak = run.stdout.split("PEAK_KB")
    return int(peak.split()[0]) / 1024, seconds, out.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=20000)
    parser.add_argument("--coco", action="store_true", help="also measure export-coco")
    parser.add_argument("--kind", choices=("axons", "myelinated"), default="axons",
                        help="the sample mirrored into the slide: 'axons' (Otsu's mask is one "
                             "slide-wide network: the worst case) or 'myelinated' (many "
                             "separate fibres: the usual case)")
    args = parser.parse_args(argv)
    export = export_folder(args.side, args.kind)
    n_tiles = len(json.loads((export / "manifest.json").read_text())["images"][0]["tiles"])
    rows = []
    geo = DATA / f"formats_{args.kind}_{args.side}.geojson"
    rows.append(("export-geojson", *measure(["export-geojson", str(export), "-o", str(geo)]), geo))
    if args.coco:
        coco = DATA / f"formats_{args.kind}_{args.side}_coco.json"
        rows.append(("export-coco", *measure(["export-coco", str(export), "-o", str(coco)]), coco))
    print(f"{args.side}^2 {args.kind} slide, {n_tiles} tiles (otsu), CPU shared with other work")
    print(f"{'command':16s} {'peak RSS MB':>12s} {'s':>7s} {'tiles/s':>8s} {'output MB':>10s}  result")
    ok = True
    for name, peak, seconds, out, path in rows:
        ok &= peak < LIMIT_MB
        print(f"{name:16s} {peak:12.0f} {seconds:7.1f} {n_tiles / seconds:8.1f} "
              f"{path.stat().st_size / 2**20:10.1f}  {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
