"""Valid inputs print nothing but the result: no libpng, numpy or tifffile warnings on stderr."""

import os
import subprocess
import sys

import numpy as np
import tifffile
from PIL import Image


def _inputs(tmp_path, rng):
    rgb = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    paths = []
    # a PNG with a colour profile libpng complains about ("iCCP: too short")
    Image.fromarray(rgb).save(p := tmp_path / "icc.png", icc_profile=b"x" * 200)
    paths.append(p)
    # float data with NaN and +-inf (numpy would warn on the cast)
    f = rng.random((200, 300)).astype(np.float32) * 1000
    f[0, :10] = np.nan
    f[1, :10] = np.inf
    f[2, :10] = -np.inf
    tifffile.imwrite(p := tmp_path / "nan.tif", f)
    paths.append(p)
    # float64 beyond float32's range
    tifffile.imwrite(p := tmp_path / "huge.tif", np.full((200, 300), 1e300) * rng.random((200, 300)))
    paths.append(p)
    # an OME-TIFF whose OME-XML tifffile cannot parse: it logs, then reads the pages
    tifffile.imwrite(p := tmp_path / "badome.ome.tif", rgb, photometric="rgb",
                     description='<?xml version="1.0"?><OME><Image broken')
    paths.append(p)
    # a 1-bit TIFF and a MinIsWhite one
    tifffile.imwrite(p := tmp_path / "bilevel.tif", rgb[..., 0] > 100, photometric="miniswhite")
    paths.append(p)
    return paths


def test_valid_inputs_leave_stderr_empty(tmp_path, rng):
    paths = _inputs(tmp_path, rng)
    out = tmp_path / "out"
    code = ("import sys; from napari_axons.cli import main; "
            f"sys.exit(main(['tile', *{[str(p) for p in paths]!r}, '-o', {str(out)!r}, "
            "'--progress-interval', '1000']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "NAPARI_AXONS_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    noise = [line for line in run.stderr.splitlines() if not line.startswith("tiling: ")]
    assert noise == []
    assert len(list(out.glob("*_tile_0000.png"))) == len(paths)
