"""Whole-slide fibre morphometrics from an export's tiles: peak memory, fibres/s; AxonDeepSeg beside.

``python bench/bench_fibres.py [--side 20000] [--ads-python PY] [--ads-sides 1000 2000 4000]``

Input: the ground truth of ``napari-axons sample big.tif --kind myelinated --size SIDE SIDE``
(seed 0: 0 background, 1 myelin, 2 axon, AxonDeepSeg's order), exported with the product's
own export job (512-pixel tiles, label files and palette masks, pixel size 0.05 um, the
sample's nominal one) as a user's corrected tiles would be; kept in ``bench/_data``.

The sample command holds the whole slide in memory several times over to make the image
(measured: 0.91 GB peak at 5000^2, so about 15 GB at 20000^2, more than this shared
machine can spare). Its truth, though, depends only on where the fibres are placed
(``napari_axons.core.image.sample._place_fibres``) and on the drawing rule, so this script
draws the same truth tile by tile on demand (:class:`SampleTruth`), checked equal to
``make_myelinated_sample``'s on a smaller slide first; the exported image is a flat grey
TIFF (the fibre engine reads only the masks).

Measured, each in a fresh process (peak resident memory ``VmHWM``, wall time):

* ``measure_export`` on the export (tiles put back together on disk, then block by block),
  plus the CSV and JSON summary written;
* with ``--ads-python``: AxonDeepSeg's ``get_axon_morphometrics`` on square crops of the
  same truth held whole (``--ads-sides``), and napari-axons' ``measure_class_map`` on the
  same crops; AxonDeepSeg at the full side is extrapolated from them (its time grows with
  the square of the fibre count: a pandas ``concat`` per fibre; its memory with the pixels).

Run it under ``nice``; the CPU is shared with other work, so times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ads_reference import run_ads  # noqa: E402

DATA = ROOT / "bench" / "_data"
PIXEL_SIZE = 0.05  # um: the sample's nominal pixel size
LIMIT_MB = 1024


class SampleTruth:
    """The truth class map of ``make_myelinated_sample(shape, seed)``, drawn box by box."""

    def __init__(self, shape: tuple[int, int], seed: int = 0, cell: int = 256):
        from napari_axons.core.image.sample import _place_fibres

        self.shape = (int(shape[0]), int(shape[1]))
        h, w = self.shape
        fibres = _place_fibres(np.random.default_rng([seed, 2]), h, w)
        self.fibres = fibres
        self.g = np.array([f[3] for f in fibres], np.float32)
        boxes = []
        for cy, cx, r, _g, ecc, *_ in fibres:
            reach = 1.3 * r * np.sqrt(ecc)
            boxes.append((max(int(cy - reach), 0), max(int(cx - reach), 0),
                          min(int(cy + reach) + 2, h), min(int(cx + reach) + 2, w)))
        self.boxes = np.array(boxes, np.int64).reshape(-1, 4)
        self.cell = cell
        self.grid: dict[tuple[int, int], list[int]] = {}
        for k, (y0, x0, y1, x1) in enumerate(self.boxes.tolist()):
            if y1 <= y0 or x1 <= x0:
                continue
            for gy in range(y0 // cell, (y1 - 1) // cell + 1):
                for gx in range(x0 // cell, (x1 - 1) // cell + 1):
                    self.grid.setdefault((gy, gx), []).append(k)

    def read(self, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        """``(y1 - y0, x1 - x0)`` uint8: 0 background, 1 myelin, 2 axon (the sample's rule)."""
        c = self.cell
        ks = sorted({k for gy in range(y0 // c, (y1 - 1) // c + 1)
                     for gx in range(x0 // c, (x1 - 1) // c + 1) for k in self.grid.get((gy, gx), ())})
        depth = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
        owner = np.full((y1 - y0, x1 - x0), -1, np.int64)
        for k in ks:
            cy, cx, r, _g, ecc, ang, harm = self.fibres[k]
            fy0, fx0, fy1, fx1 = self.boxes[k].tolist()
            by0, bx0, by1, bx1 = max(fy0, y0), max(fx0, x0), min(fy1, y1), min(fx1, x1)
            if by1 <= by0 or bx1 <= bx0:
                continue
            dy = np.arange(by0, by1, dtype=np.float32)[:, None] - np.float32(cy)
            dx = np.arange(bx0, bx1, dtype=np.float32)[None, :] - np.float32(cx)
            ca, sa = np.float32(np.cos(ang)), np.float32(np.sin(ang))
            u = (dy * ca + dx * sa) * np.float32(np.sqrt(ecc))
            v = (-dy * sa + dx * ca) / np.float32(np.sqrt(ecc))
            theta = np.arctan2(v, u)
            wob = np.float32(1.0)
            for m, (a, b) in enumerate(harm, start=2):
                wob = wob + np.float32(a) * np.cos(m * theta) + np.float32(b) * np.sin(m * theta)
            rho = np.sqrt(u * u + v * v) / (np.float32(r) * wob)
            sub_d = depth[by0 - y0: by1 - y0, bx0 - x0: bx1 - x0]
            sub_o = owner[by0 - y0: by1 - y0, bx0 - x0: bx1 - x0]
            better = (rho <= 1.0) & (rho < sub_d)
            sub_d[better] = rho[better]
            sub_o[better] = k
        out = np.zeros(depth.shape, np.uint8)
        inside = owner >= 0
        out[inside] = 1
        g = np.append(self.g, np.float32(0.0))
        out[inside & (depth <= g[owner])] = 2
        return out


def check_truth(side: int = 1536) -> None:
    """The box-by-box truth equals ``make_myelinated_sample``'s (the sample command's)."""
    from napari_axons.core.image.sample import make_myelinated_sample

    _, ref = make_myelinated_sample((side, side), seed=0)
    truth = SampleTruth((side, side))
    got = np.zeros_like(ref)
    for y in range(0, side, 500):
        for x in range(0, side, 700):
            got[y:y + 500, x:x + 700] = truth.read(y, x, min(y + 500, side), min(x + 700, side))
    if not np.array_equal(got, ref):
        raise SystemExit("the tile-by-tile truth differs from make_myelinated_sample's")


def export_folder(side: int) -> Path:
    """The export of the ``side``-square sample's truth (made once, kept in bench/_data)."""
    import tifffile

    from napari_axons.core.export import ExportJob, ExportOptions
    from napari_axons.core.image.sample import MYELINATED_CLASSES

    out = DATA / f"fibres_export_{side}"
    manifest = out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("status") == "complete":
        return out
    DATA.mkdir(parents=True, exist_ok=True)
    image = DATA / f"fibres_grey_{side}.tif"
    if not image.exists():
        tile = np.full((512, 512, 3), 120, np.uint8)
        n = (-(-side // 512)) ** 2
        tmp = image.with_suffix(".tmp")
        with tifffile.TiffWriter(tmp, bigtiff=True) as tw:
            tw.write((tile for _ in range(n)), shape=(side, side, 3), dtype=np.uint8,
                     tile=(512, 512), compression="zlib", photometric="rgb")
        tmp.replace(image)
    truth = SampleTruth((side, side))

    def masks(plan, box):
        m = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(side, side)
        m[ys, xs] = truth.read(box.y + ys.start, box.x + xs.start, box.y + ys.stop, box.x + xs.stop)
        return m

    print(f"exporting the {side}^2 truth (once) ...", file=sys.stderr, flush=True)
    opts = ExportOptions(tile_size=512, threads=2, classes=MYELINATED_CLASSES, pixel_size=PIXEL_SIZE)
    job = ExportJob([image], out, opts, mask_reader=masks)
    try:
        list(job.run())
    finally:
        job.close()
    if job.errors:
        raise SystemExit(f"export failed: {job.errors}")
    return out


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_child(code: str) -> dict:
    """Run ``code`` in a fresh Python; it prints one JSON line, to which the peak RSS is added."""
    code += ("\nimport json as _j, resource as _r\n"
             "_peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
             "_u = _r.getrusage(_r.RUSAGE_SELF)\n"
             "print(_j.dumps(dict(RESULT, peak_mb=int(_peak.split()[1]) / 1024,\n"
             "                    cpu_seconds=_u.ru_utime + _u.ru_stime)))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    if run.returncode != 0:
        raise SystemExit(f"child failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure_export_child(export: Path, out: Path) -> dict:
    return run_child(
        "import time\n"
        "from napari_axons.core.fibres import measure_export, write_csv, write_summary_json\n"
        "t = time.perf_counter()\n"
        f"table = measure_export({str(export)!r})\n"
        "measured = time.perf_counter() - t\n"
        f"write_csv(table, {str(out / 'fibres.csv')!r})\n"
        f"write_summary_json(table, {str(out / 'summary.json')!r})\n"
        "RESULT = dict(seconds=time.perf_counter() - t, measure_seconds=measured,\n"
        "              fibres=table.n_fibres, rows=len(table))\n")


def measure_crop_child(crop: Path) -> dict:
    return run_child(
        "import time, numpy as np\n"
        "from napari_axons.core.fibres import measure_class_map\n"
        "from napari_axons.core.image.sample import MYELINATED_CLASSES\n"
        f"cmap = np.load({str(crop)!r})\n"
        "t = time.perf_counter()\n"
        f"table = measure_class_map(cmap, MYELINATED_CLASSES, pixel_size_um={PIXEL_SIZE})\n"
        "RESULT = dict(seconds=time.perf_counter() - t, fibres=table.n_fibres)\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=20000)
    ap.add_argument("--ads-python", help="the Python of a venv with AxonDeepSeg installed")
    ap.add_argument("--ads-sides", type=int, nargs="*", default=[1000, 2000, 4000])
    ap.add_argument("--slide-fibres", type=int,
                    help="skip the whole-slide run; extrapolate AxonDeepSeg to this many fibres")
    args = ap.parse_args(argv)
    check_truth()
    export = export_folder(args.side)
    n_tiles = len(json.loads((export / "manifest.json").read_text())["images"][0]["tiles"])
    lines = [f"{args.side}^2 myelinated sample (truth exported on {n_tiles} tiles of 512^2, "
             f"{PIXEL_SIZE} um/px); CPU shared with other work: times are upper bounds", "",
             "| run | pixels | fibres | wall s | CPU s | fibres/s (wall) | peak RSS MB |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory(prefix="bench-fibres-") as tmp:
        tmp = Path(tmp)
        if args.slide_fibres:
            r, ok = {"fibres": args.slide_fibres}, True
        else:
            r = measure_export_child(export, tmp)
            ok = r["peak_mb"] < LIMIT_MB
        if "seconds" in r:
            lines.append(f"| napari-axons measure_export + CSV + JSON | {args.side}^2 | "
                         f"{r['fibres']} | {r['seconds']:.0f} | {r['cpu_seconds']:.0f} | "
                         f"{r['fibres'] / r['seconds']:.0f} | {r['peak_mb']:.0f} |")
        if args.ads_python:
            truth = SampleTruth((args.side, args.side))
            fits = []
            for side in args.ads_sides:
                crop = truth.read(0, 0, side, side)
                np.save(tmp / "crop.npy", crop)
                ours = measure_crop_child(tmp / "crop.npy")
                ads = run_ads(args.ads_python, crop == 2, crop == 1, PIXEL_SIZE)
                n = len(ads["rows"])
                fits.append((side, n, ads["seconds"], ads["peak_rss"] / 2**20))
                lines.append(f"| napari-axons measure_class_map (held whole) | {side}^2 | "
                             f"{ours['fibres']} | {ours['seconds']:.1f} | {ours['cpu_seconds']:.1f} | "
                             f"{ours['fibres'] / ours['seconds']:.0f} | {ours['peak_mb']:.0f} |")
                lines.append(f"| AxonDeepSeg get_axon_morphometrics (held whole) | {side}^2 | {n} | "
                             f"{ads['seconds']:.1f} | | {n / ads['seconds']:.0f} | "
                             f"{ads['peak_rss'] / 2**20:.0f} |")
            if len(fits) >= 2:
                (s0, n0, t0, _m0), (s1, n1, t1, m1) = fits[-2], fits[-1]
                k = np.log(t1 / t0) / np.log(n1 / n0)
                n_full = r["fibres"]
                t_full = t1 * (n_full / n1) ** k
                m_full = m1 * (args.side / s1) ** 2
                lines += ["", f"AxonDeepSeg at {args.side}^2, extrapolated from {s0}^2 and {s1}^2 "
                              f"(time ~ fibres^{k:.2f}, memory ~ pixels): about {t_full / 3600:.0f} h "
                              f"and {m_full / 1024:.0f} GB for {n_full} fibres."]
    lines += ["", f"peak RSS of the whole-slide run under {LIMIT_MB} MB: {'yes' if ok else 'NO'}"]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
