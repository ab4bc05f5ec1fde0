"""Opening a 40000 x 40000 slide in napari: pyramid build, time to first view, peak memory.

``python bench/bench_open.py [--side 40000]`` (needs a display: it runs the
viewer scenarios under ``xvfb-run -a`` when ``DISPLAY`` is unset).

Inputs (``bench/_data``, gitignored, generated once tile by tile with bounded
memory by :func:`bench.inputs.tiled_tiff`): an RGB tiled (512 px, zlib) BigTIFF
without a pyramid, and the same with a pyramid (SubIFDs).

Scenarios, each in its own process so that peak RSS is its own:

1. ``build``: headless ``open_image`` + ``pyramid_levels`` into an empty cache
   (the one-off cost of a file without a pyramid).
2. ``view-flat-cold``: napari, the flat file through the plugin's reader with an
   empty cache: build (with napari's progress bar) + first frame.
3. ``view-flat-cached``: the same file again: the cached pyramid is reused.
4. ``view-pyramid``: the file with its own pyramid.

"first view" is measured (after importing dask, zarr and tifffile, a once-per-session
cost reported apart) from ``viewer.open(path, plugin="napari-axons")`` to
the end of the first ``viewer.screenshot()`` (a real draw, checked to be not
blank); "zoom 1:1" is the time to draw the centre at full resolution afterwards.
Peak RSS is the scenario process's own high-water mark (``VmHWM``; napari
and Qt included); "viewer RSS" is the resident size before opening.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "_out" / "open"


def _peak_mb() -> float:
    """This process's peak resident size (VmHWM).

    ``getrusage().ru_maxrss`` is not used on Linux: it keeps the peak of the
    process image before ``execve``, i.e. of the forked parent.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _emit(**result) -> None:
    print("RESULT " + json.dumps(result), flush=True)


def scenario_build(path: str, cache: str) -> None:
    from napari_axons.core.image.open import open_image
    from napari_axons.core.image.pyramid import pyramid_levels

    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(done, total):
        now = time.perf_counter()
        if now - last[0] > 10 or done == total:
            last[0] = now
            print(f"  build {done}/{total} blocks, {now - t0:.0f} s", file=sys.stderr, flush=True)

    with open_image(path) as src:
        levels = pyramid_levels(src, cache_dir=cache, progress=progress)
    elapsed = time.perf_counter() - t0
    size = sum(f.stat().st_size for f in Path(cache).rglob("*") if f.is_file())
    _emit(scenario="build", seconds=elapsed, peak_rss_mb=_peak_mb(), levels=len(levels),
          cache_mb=size / 2**20, shapes=[list(a.shape) for a in levels])


def scenario_view(path: str, cache: str, name: str, cold: bool) -> None:
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    os.environ["NAPARI_AXONS_CACHE"] = str(Path(cache).parent)  # reader: <this>/pyramids
    import numpy as np
    from qtpy.QtWidgets import QApplication

    import napari
    from napari_axons.core.image import pyramid

    t_start = time.perf_counter()
    t_imp = time.perf_counter()
    import dask.array  # noqa: F401  first-use imports, paid once per napari session
    import tifffile  # noqa: F401
    import zarr  # noqa: F401

    import napari_axons._reader  # noqa: F401
    imports_s = time.perf_counter() - t_imp
    t_start = time.perf_counter()
    viewer = napari.Viewer(show=True)
    viewer.window.resize(1200, 900)
    QApplication.processEvents()
    viewer_s = time.perf_counter() - t_start
    rss_viewer = _rss_mb()
    builds = pyramid.build_count()
    t0 = time.perf_counter()
    layers = viewer.open(path, plugin="napari-axons")
    t_open = time.perf_counter() - t0
    QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=True, flash=False)
    first_view = time.perf_counter() - t0
    layer = layers[0]
    # zoom to full resolution at the centre
    h, w = layer.data[0].shape[:2] if layer.multiscale else layer.data.shape[:2]
    t1 = time.perf_counter()
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    camera.center = (h / 2, w / 2)
    camera.zoom = 1.0
    QApplication.processEvents()
    shot2 = viewer.screenshot(canvas_only=True, flash=False)
    zoom_s = time.perf_counter() - t1
    _emit(scenario=name, imports_s=imports_s, viewer_start_s=viewer_s, open_s=t_open,
          first_view_s=first_view,
          zoom_1to1_s=zoom_s, peak_rss_mb=_peak_mb(), viewer_rss_mb=rss_viewer,
          built=pyramid.build_count() - builds, levels=len(layer.data) if layer.multiscale else 1,
          first_view_mean=float(np.asarray(shot)[..., :3].mean()),
          zoom_view_mean=float(np.asarray(shot2)[..., :3].mean()))
    viewer.close()


def _run(args: list[str], *, display: bool) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    if display and not os.environ.get("DISPLAY"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1200x24", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_API="pyqt6")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env,
                          cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{args[0]} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=40000)
    parser.add_argument("--only", nargs="*", default=None,
                        help="scenarios to run: build view-flat-cold view-flat-cached "
                             "view-pyramid")
    parser.add_argument("_mode", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._mode:
        mode, *rest = args._mode
        if mode == "_build":
            scenario_build(*rest)
        elif mode == "_view":
            path, cache, name, cold = rest
            scenario_view(path, cache, name, cold == "cold")
        return 0

    from bench import inputs

    t0 = time.perf_counter()
    flat = inputs.tiled_tiff(args.side)
    pyr = inputs.tiled_tiff(args.side, pyramid=True)
    print(f"inputs ready ({time.perf_counter() - t0:.0f} s): {flat.name} "
          f"{flat.stat().st_size / 2**30:.2f} GB, {pyr.name} {pyr.stat().st_size / 2**30:.2f} GB",
          flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    cache = str(OUT / "cache" / "pyramids")
    wanted = args.only or ["build", "view-flat-cold", "view-flat-cached", "view-pyramid"]
    plan = {
        "build": (["_build", str(flat), str(OUT / "cache-headless")], False),
        "view-flat-cold": (["_view", str(flat), cache, "view-flat-cold", "cold"], True),
        "view-flat-cached": (["_view", str(flat), cache, "view-flat-cached", "warm"], True),
        "view-pyramid": (["_view", str(pyr), cache, "view-pyramid", "warm"], True),
    }
    results = []
    for name in wanted:
        argv_, display = plan[name]
        print(f"running {name} ...", flush=True)
        res = _run(argv_, display=display)
        print("  " + json.dumps(res), flush=True)
        results.append(res)
    print(f"\n{args.side} x {args.side} RGB tiled TIFF, {os.cpu_count()} CPUs")
    print(f"{'scenario':<18} {'build/open s':>12} {'first view s':>12} {'zoom 1:1 s':>10} "
          f"{'peak RSS MB':>11} {'viewer RSS MB':>13} {'levels':>6}")
    for r in results:
        if r["scenario"] == "build":
            print(f"{'build (headless)':<18} {r['seconds']:>12.1f} {'-':>12} {'-':>10} "
                  f"{r['peak_rss_mb']:>11.0f} {'-':>13} {r['levels']:>6}   "
                  f"cache {r['cache_mb']:.0f} MB")
        else:
            print(f"{r['scenario']:<18} {r['open_s']:>12.2f} {r['first_view_s']:>12.2f} "
                  f"{r['zoom_1to1_s']:>10.2f} {r['peak_rss_mb']:>11.0f} "
                  f"{r['viewer_rss_mb']:>13.0f} "
                  f"{r['levels']:>6}   built={r['built']}")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
