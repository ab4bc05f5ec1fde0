"""The napari side as a user meets it: first view, clicks, redraws and paint strokes.

``python bench/bench_gui.py [--sides 20000 40000] [--only open grid stroke]``
(needs a display: each scenario runs in its own process, under ``xvfb-run -a``
when ``DISPLAY`` is unset).

Inputs (``bench/_data``, gitignored, made once by :func:`bench.inputs.tiled_tiff`):
flat RGB tiled (512 px, zlib) BigTIFFs of 20000^2 and 40000^2 pixels, without a
pyramid. Scenarios:

* ``open`` (per side, cold: empty pyramid cache; cached: the pyramid built by the
  cold run): from ``viewer.open(path, plugin="napari-axons")`` to its return
  ("open"), to the first drawn frame ("first view", a real screenshot), and, when
  a pyramid is built in the background, to its first block refreshed into the
  layer and to the whole overview ("overview"). A 20 ms QTimer ticks all along: "max stall" is the
  longest gap between two ticks, i.e. the longest the window did not respond. Beside it,
  "decode": tifffile decoding every tile of the slide on all cores (``page.segments``), the
  least a complete overview of a slide without a pyramid can cost; the target is an
  overview within 2x that.
* ``grid`` (the 20000^2 slide, cached pyramid, the dock widget; tile size 512 ->
  1600 tiles, 166 -> 14641 tiles): the grid drawn after the tile size changes,
  click-to-selected latency (a click through napari's mouse callbacks until the
  tile is selected and the selection and edit window are drawn; median of 7),
  and the redraw when zooming in to ~100 px tiles (numbers appear) and out again.
* ``stroke``: on the same widget (1600 tiles, one tile selected and
  segmented), a 30-point brush stroke on the edit window through napari's mouse
  callbacks, until the widget has written it into the mask store and the frame is
  drawn (median of 7).

Times include a ``viewer.screenshot`` (a full draw plus reading the frame back,
~20-60 ms here) wherever "drawn" is said. The machine has 2 cores shared with
other jobs: figures vary by tens of percent from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "_out" / "gui"
_WARMUP = [0.0]


def _peak_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _emit(**result) -> None:
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- helpers (Qt side)


def _viewer():
    """A shown viewer; napari's once-per-session costs paid before any timing.

    The first layer of a napari session builds pint's unit registry (~0.6-3 s here,
    whatever the image): it is measured apart (``session_warmup_s``), not in "open".
    """
    from qtpy.QtWidgets import QApplication

    import napari

    viewer = napari.Viewer(show=True)
    viewer.window.resize(1400, 1000)
    for _ in range(5):
        QApplication.processEvents()
    t = time.perf_counter()
    from napari.utils._units import get_unit_registry

    get_unit_registry().pixel  # noqa: B018  (the registry loads on first use)
    _WARMUP[0] = time.perf_counter() - t
    return viewer


def _pump(seconds: float = 0.0) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + seconds
    QApplication.processEvents()
    while time.perf_counter() < end:
        time.sleep(0.005)
        QApplication.processEvents()


def _draw(viewer):
    return viewer.screenshot(canvas_only=True, flash=False)


class _Ticker:
    """A 20 ms QTimer; the longest gap between ticks is how long the window froze."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.ticks = [time.perf_counter()]
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def max_gap(self, since: float) -> float:
        ts = [t for t in self.ticks if t >= since]
        return max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=0.0)


def _mouse(layer, kind: str, world, pos, dragging=False):
    import numpy as np
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    event = read_only_mouse_event(type=f"mouse_{kind}", button=1, position=tuple(world),
                                  pos=np.asarray(pos, float), is_dragging=dragging)
    {"press": mouse_press_callbacks, "move": mouse_move_callbacks,
     "release": mouse_release_callbacks}[kind](layer, event)


def _widget(viewer, path: str, cache: Path):
    from napari_axons._qt._widget import AxonsWidget

    layer = viewer.open(path, plugin="napari-axons")[0]
    widget = AxonsWidget(viewer, cache_dir=cache)
    viewer.window.add_dock_widget(widget, name="napari-axons")
    widget.confirm = lambda title, text: True
    _pump(0.2)
    return layer, widget


def _world(widget, y: float, x: float) -> tuple[float, float]:
    """World position of working pixel (y, x)."""
    (ty, tx), (sy, sx) = widget.overlays.placement.translate, widget.overlays.placement.scale
    return ty + sy * y, tx + sx * x


# --------------------------------------------------------------------------- scenarios


def scenario_open(path: str, cache_root: str, cold: bool) -> None:
    if cold:
        shutil.rmtree(cache_root, ignore_errors=True)
    os.environ["NAPARI_AXONS_CACHE"] = cache_root
    import dask.array  # noqa: F401  first-use imports, paid once per session, not counted
    import tifffile  # noqa: F401
    import zarr  # noqa: F401

    import napari_axons._reader  # noqa: F401
    from napari_axons._qt import _pyramid_worker
    from napari_axons.core.image import pyramid

    viewer = _viewer()
    ticker = _Ticker()
    builds = pyramid.build_count()
    t0 = time.perf_counter()
    viewer.open(path, plugin="napari-axons")
    open_s = time.perf_counter() - t0
    shot = _draw(viewer)
    first_view_s = time.perf_counter() - t0
    jobs = _pyramid_worker.running_builds()
    first_block_s = overview_s = None
    if jobs:
        job = jobs[0]
        while _pyramid_worker.running_builds():
            _pump(0.01)
            if first_block_s is None and job.refreshes and job.build.done:
                first_block_s = time.perf_counter() - t0  # refreshed into the layer
        overview_s = time.perf_counter() - t0
    shot2 = _draw(viewer)
    max_stall = ticker.max_gap(t0 + open_s)
    # the full-resolution centre
    layer = viewer.layers[-1]
    h, w = layer.data[0].shape[:2]
    t1 = time.perf_counter()
    camera = viewer.scene.camera
    camera.center = (h / 2, w / 2)
    camera.zoom = 1.0
    _pump()
    _draw(viewer)
    zoom_s = time.perf_counter() - t1
    _emit(scenario=f"open-{'cold' if cold else 'cached'}", side=h, open_s=open_s,
          first_view_s=first_view_s, first_block_s=first_block_s, overview_s=overview_s,
          max_stall_s=max_stall if jobs else None, zoom_1to1_s=zoom_s, peak_rss_mb=_peak_mb(),
          session_warmup_s=_WARMUP[0],
          built=pyramid.build_count() - builds,
          first_view_mean=float(shot[..., :3].mean()), overview_mean=float(shot2[..., :3].mean()))
    viewer.close()


def scenario_decode(path: str) -> None:
    """tifffile decoding every tile of the slide on all cores (flat memory): the yardstick
    for the first view of a slide without a pyramid, which must decode them all too."""
    import tifffile

    t0 = time.perf_counter()
    with tifffile.TiffFile(path) as tf:
        page = tf.pages[0]
        tiles = sum(1 for _ in page.segments(maxworkers=os.cpu_count()))
    _emit(scenario="decode", side=int(page.shape[0]), decode_s=time.perf_counter() - t0,
          tiles=tiles, workers=os.cpu_count(), peak_rss_mb=_peak_mb())


def scenario_grid(path: str, cache_root: str, tile_size: int) -> None:
    import numpy as np

    os.environ["NAPARI_AXONS_CACHE"] = cache_root
    viewer = _viewer()
    _, widget = _widget(viewer, path, Path(cache_root) / "widget")
    ticker = _Ticker()
    t0 = time.perf_counter()
    widget._tile_size.value = tile_size
    _pump()
    _draw(viewer)
    grid_s = time.perf_counter() - t0
    grid = widget.grid
    n = len(grid)
    viewer.fit_to_view()
    _pump(0.3)
    lod = widget.overlays.grid_lod
    # clicks on tiles spread over the slide
    grid_layer = viewer.layers["axons tile grid"]
    viewer.layers.selection.active = grid_layer
    handled, drawn = [], []
    rng = np.random.default_rng(0)
    for k in rng.choice(n, 7, replace=False):
        tile = grid[int(k)]
        world = _world(widget, tile.y + tile.height / 2, tile.x + tile.width / 2)
        t = time.perf_counter()
        _mouse(grid_layer, "press", world, (0, 0))
        _mouse(grid_layer, "release", world, (0, 0))
        _pump()
        assert int(k) in widget.selected, (k, widget.selected)
        handled.append(time.perf_counter() - t)
        _draw(viewer)
        drawn.append(time.perf_counter() - t)
    # zoom in on the last tile (~100 px tiles: numbers show), then out again
    camera = viewer.scene.camera
    px_per_world = 100 / (grid.tile_size * widget.overlays.placement.scale[0])
    before = lod.updates
    t = time.perf_counter()
    camera.zoom = px_per_world
    camera.center = world
    while lod.updates == before:
        _pump(0.005)
    _draw(viewer)
    zoom_in_s = time.perf_counter() - t
    labels_in = lod.labels_shown
    before = lod.updates
    t = time.perf_counter()
    viewer.fit_to_view()
    while lod.updates == before:
        _pump(0.005)
    _draw(viewer)
    zoom_out_s = time.perf_counter() - t
    _emit(scenario=f"grid-{n}", tiles=n, grid_s=grid_s, click_handled_s=statistics.median(handled),
          click_drawn_s=statistics.median(drawn), zoom_in_s=zoom_in_s, zoom_out_s=zoom_out_s,
          labels_zoomed_in=labels_in, labels_zoomed_out=lod.labels_shown,
          grid_shapes=grid_layer.nshapes, max_stall_s=ticker.max_gap(t0),
          lod_interval_s=lod.interval_ms / 1000, peak_rss_mb=_peak_mb())
    viewer.close()


def scenario_stroke(path: str, cache_root: str) -> None:
    import numpy as np

    from napari_axons.core.segment import load_segmenter

    os.environ["NAPARI_AXONS_CACHE"] = cache_root
    viewer = _viewer()
    _, widget = _widget(viewer, path, Path(cache_root) / "widget-stroke")
    widget._tile_size.value = 512
    _pump()
    grid = widget.grid
    tile = grid[len(grid) // 2 + 20]
    widget.set_selection([tile.index])
    widget._make_segmenter = lambda: (lambda: load_segmenter("otsu"))
    widget.segment_selected()
    while widget.busy:
        _pump(0.02)
    edit = widget.overlays.edit_layer()
    viewer.layers.selection.active = edit
    edit.mode = "paint"
    edit.brush_size = 12
    edit.selected_label = 1
    camera = viewer.scene.camera
    camera.center = _world(widget, tile.y + 256, tile.x + 256)
    camera.zoom = 1.5
    _pump(0.3)
    ticker = _Ticker()
    handled, drawn = [], []
    t_all = time.perf_counter()
    for k in range(7):
        y = tile.y + 40 + 60 * k
        pts = [(y + 10 * np.sin(i / 5), tile.x + 30 + 15 * i) for i in range(30)]
        worlds = [_world(widget, py, px) for py, px in pts]
        edits = len(widget.messages)
        t = time.perf_counter()
        _mouse(edit, "press", worlds[0], (0, 0))
        for i, wp in enumerate(worlds[1:], start=1):
            _mouse(edit, "move", wp, (i * 15, 0), dragging=True)
        _mouse(edit, "release", worlds[-1], (len(worlds) * 15, 0))
        _pump()
        handled.append(time.perf_counter() - t)
        _draw(viewer)
        drawn.append(time.perf_counter() - t)
        del edits
    status = widget.status.get(tile.index)
    stored = widget.store.read(tile.y + 40, tile.x + 30, tile.y + 41, tile.x + 31)
    _emit(scenario="stroke", tiles=len(grid), stroke_handled_s=statistics.median(handled),
          stroke_drawn_s=statistics.median(drawn), status=status, stored=int(stored.max()),
          max_stall_s=ticker.max_gap(t_all), peak_rss_mb=_peak_mb())
    viewer.close()


# --------------------------------------------------------------------------- driver


def _run(args: list[str]) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    if not os.environ.get("DISPLAY"):
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1200x24", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_API="pyqt6")
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{args} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
                       f"{proc.stderr[-3000:]}")


def _s(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[20000, 40000])
    parser.add_argument("--only", nargs="*", default=None, choices=["open", "grid", "stroke"])
    parser.add_argument("--cold-only", action="store_true",
                        help="open: only the first (cold) open of each slide")
    parser.add_argument("_mode", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._mode:
        mode, *rest = args._mode
        if mode == "_decode":
            scenario_decode(rest[0])
        elif mode == "_open":
            scenario_open(rest[0], rest[1], rest[2] == "cold")
        elif mode == "_grid":
            scenario_grid(rest[0], rest[1], int(rest[2]))
        elif mode == "_stroke":
            scenario_stroke(rest[0], rest[1])
        return 0

    from bench import inputs

    wanted = args.only or ["open", "grid", "stroke"]
    OUT.mkdir(parents=True, exist_ok=True)
    slides = {side: inputs.tiled_tiff(side) for side in args.sides}
    results = []

    def run(argv_):
        print(f"running {' '.join(argv_[:1] + argv_[3:])} ...", flush=True)
        res = _run(argv_)
        print("  " + json.dumps(res), flush=True)
        results.append(res)

    for side, path in slides.items():
        cache = str(OUT / f"cache-{side}")
        if "open" in wanted:
            run(["_decode", str(path)])
            run(["_open", str(path), cache, "cold"])
            if not args.cold_only:
                run(["_open", str(path), cache, "cached"])
    small = min(slides)
    cache = str(OUT / f"cache-{small}")
    if "grid" in wanted:
        for tile_size in (512, 166):  # 1600 and 14641 tiles on 20000^2
            run(["_grid", str(slides[small]), cache, str(tile_size)])
    if "stroke" in wanted:
        run(["_stroke", str(slides[small]), cache])

    print(f"\nnapari-axons GUI benchmark, {os.cpu_count()} CPUs (shared), "
          f"{time.strftime('%Y-%m-%d')}")
    opens = [r for r in results if r["scenario"].startswith("open")]
    decode = {r["side"]: r["decode_s"] for r in results if r["scenario"] == "decode"}
    if opens:
        print(f"\n{'slide':<16} {'open s':>7} {'first view s':>12} {'1st block s':>11} "
              f"{'overview s':>10} {'decode s':>8} {'ratio':>5} {'max stall s':>11} "
              f"{'zoom 1:1 s':>10} {'peak RSS MB':>11}")
        for r in opens:
            name = f"{r['side']}^2 {r['scenario'][5:]}"
            dec = decode.get(r["side"])
            ratio = (f"{r['overview_s'] / dec:.2f}" if dec and r["overview_s"] is not None
                     else "-")
            print(f"{name:<16} {r['open_s']:>7.2f} {r['first_view_s']:>12.2f} "
                  f"{_s(r['first_block_s']):>11} {_s(r['overview_s']):>10} {_s(dec):>8} "
                  f"{ratio:>5} {_s(r['max_stall_s']):>11} {r['zoom_1to1_s']:>10.2f} "
                  f"{r['peak_rss_mb']:>11.0f}")
        print("(decode: tifffile decoding every tile on all cores, the least a first complete "
              "overview of a slide without a pyramid costs; ratio: overview / decode)")
        print("(not in 'open': napari's unit registry, built for the first layer of a session: "
              f"{opens[0]['session_warmup_s']:.1f} s in this run)")
    grids = [r for r in results if r["scenario"].startswith("grid")]
    if grids:
        print(f"\n{'tiles':>6} {'grid drawn s':>12} {'click s':>8} {'click drawn s':>13} "
              f"{'zoom in s':>9} {'zoom out s':>10} {'numbers in/out':>14} {'max stall s':>11}")
        for r in grids:
            print(f"{r['tiles']:>6} {r['grid_s']:>12.2f} {r['click_handled_s']:>8.3f} "
                  f"{r['click_drawn_s']:>13.3f} {r['zoom_in_s']:>9.2f} {r['zoom_out_s']:>10.2f} "
                  f"{str(r['labels_zoomed_in']) + '/' + str(r['labels_zoomed_out']):>14} "
                  f"{r['max_stall_s']:>11.2f}")
        print("(zoom in/out include the grid's throttle interval, "
              f"{grids[0]['lod_interval_s'] * 1000:.0f} ms)")
    strokes = [r for r in results if r["scenario"] == "stroke"]
    for r in strokes:
        print(f"\nstroke (30 points, brush 12, {r['tiles']} tiles): handled "
              f"{r['stroke_handled_s'] * 1000:.0f} ms, drawn {r['stroke_drawn_s'] * 1000:.0f} ms, "
              f"tile status {r['status']!r}, in the store: {bool(r['stored'])}")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
