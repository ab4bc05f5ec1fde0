"""Peak memory of tiling layouts that cannot be read by tile: one-strip TIFF, large PNG.

``python bench/bench_memory.py [--side 20000] [--png 12000 8000]``

Inputs (generated once under ``bench/_data``, gitignored, with bounded memory):

* an uncompressed RGB TIFF of ``side`` x ``side`` stored as **one strip** (as
  ImageJ writes them; 1.2 GB at 20000^2), written row band by row band;
* an RGB PNG of 12000 x 8000 (96 megapixels: above Pillow's 89.5-megapixel
  decompression-bomb guard), written by Pillow.

Each is tiled by ``napari-axons tile IMAGE -o OUT --threads 2`` in its own
process, with an empty decoded-image cache; the figure is that process's peak
resident memory (``VmHWM``), which must stay under 1 GB. The decoded size of
each image is printed beside it for scale.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "_data"
LIMIT_MB = 1024


def one_strip_tiff(side: int) -> Path:
    """An uncompressed RGB TIFF, one strip, written in bands (never whole in memory)."""
    import tifffile

    path = DATA / f"onestrip_{side}.tif"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # rowsperstrip = side: a single strip, as ImageJ writes uncompressed images; filled band
    # by band through a memory map of the file
    out = tifffile.memmap(tmp, shape=(side, side, 3), dtype=np.uint8, photometric="rgb",
                          rowsperstrip=side, bigtiff=True)
    x = np.arange(side, dtype=np.uint32)[None, :]
    for y0 in range(0, side, 512):
        y = np.arange(y0, min(side, y0 + 512), dtype=np.uint32)[:, None]
        out[y0 : y0 + y.shape[0], :, 0] = (x + y) % 256
        out[y0 : y0 + y.shape[0], :, 1] = (x * 3 + y) % 251
        out[y0 : y0 + y.shape[0], :, 2] = (y * 5) % 241
        out.flush()
    del out
    tmp.replace(path)
    return path


def large_png(width: int, height: int) -> Path:
    from PIL import Image

    path = DATA / f"large_{width}x{height}.png"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.uint16)  # ~400 MB while writing, once
    image = np.dstack([(xx + yy) % 256, (xx // 7) % 256, (yy // 5) % 256]).astype(np.uint8)
    del yy, xx
    tmp = path.with_suffix(".tmp")
    Image.fromarray(image).save(tmp, format="PNG", compress_level=1)
    tmp.replace(path)
    return path


def run_tile(image: Path) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, tiles) of tiling ``image`` in a fresh process."""
    out = Path(tempfile.mkdtemp(prefix="napari-axons-bench-"))
    cache = Path(tempfile.mkdtemp(prefix="napari-axons-cache-"))
    code = (
        "import sys\n"
        "from napari_axons.cli import main\n"
        f"code = main(['tile', {str(image)!r}, '-o', {str(out / 'o')!r}, '--threads', '2'])\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('PEAK_KB', peak)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "NAPARI_AXONS_CACHE": str(cache),
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            raise SystemExit(f"tiling {image} failed:\n{run.stderr}")
        peak = int(run.stdout.split("PEAK_KB")[1].split()[0]) / 1024
        tiles = len(list((out / "o").glob("*_tile_*.png")))
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return peak, seconds, tiles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=20000, help="one-strip TIFF side (20000)")
    parser.add_argument("--png", type=int, nargs=2, default=(12000, 8000), metavar=("W", "H"))
    args = parser.parse_args(argv)
    rows = []
    tiff = one_strip_tiff(args.side)
    png = large_png(*args.png)
    for label, path, decoded in [
        (f"{args.side}^2 RGB TIFF, uncompressed, one strip", tiff, args.side**2 * 3),
        (f"{args.png[0]} x {args.png[1]} RGB PNG", png, args.png[0] * args.png[1] * 3),
    ]:
        peak, seconds, tiles = run_tile(path)
        rows.append((label, decoded / 2**20, peak, seconds, tiles))
    print(f"{'input':45s} {'decoded MB':>10s} {'peak RSS MB':>12s} {'s':>7s} {'tiles':>6s}  < 1 GB")
    ok = True
    for label, decoded, peak, seconds, tiles in rows:
        ok &= peak < LIMIT_MB
        print(f"{label:45s} {decoded:10.0f} {peak:12.0f} {seconds:7.1f} {tiles:6d}  "
              f"{'yes' if peak < LIMIT_MB else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
