"""Streaming: exporting a slide never holds it in memory."""

import subprocess
import sys

import numpy as np
import tifffile

SIDE = 10000  # 10000 x 10000 RGB = 300 MB decoded (TIFF tiles of 400 px)
BOUND_MB = 220  # well below the decoded image


def _tiles(side, tile):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (tile, tile, 3), dtype=np.uint8)
    for k in range((side // tile) ** 2):
        yield np.roll(base, k, axis=1)


def test_tile_export_of_a_slide_larger_than_the_memory_bound(tmp_path):
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, _tiles(SIDE, 400), shape=(SIDE, SIDE, 3), dtype=np.uint8,
                     tile=(400, 400), compression="zlib", photometric="rgb")
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "from napari_axons.cli import main\n"
        f"code = main(['tile', {str(path)!r}, '-o', {str(out)!r}, '--threads', '2'])\n"
        "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('PEAK_KB', peak)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.split("PEAK_KB")[1].split()[0]) / 1024
    n_tiles = len(list(out.glob("big_tile_*.png")))
    assert n_tiles == (SIDE // 512 + 1) ** 2
    assert peak_mb < BOUND_MB, f"peak RSS {peak_mb:.0f} MB for a {SIDE}^2 RGB slide (300 MB)"
