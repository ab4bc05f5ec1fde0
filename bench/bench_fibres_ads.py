"""Fibre morphometrics against AxonDeepSeg's, on the real SEM masks, fed in as an export.

``python bench/bench_fibres_ads.py ADS_PYTHON [--data DIR] [--tile 256]``

``ADS_PYTHON`` is the Python of a separate venv where AxonDeepSeg is installed
(see :mod:`bench.ads_reference`); napari-axons runs in this one. For each of the
eight rat SEM images of the shared data folder (``DIR``, default
``../shared/data/axondeepseg-sem``; pixel sizes from its README):

1. its manual mask (0 background, 127 myelin, 255 axon; stray anti-aliased
   values to the nearest class: thresholds 64 and 192; grey + alpha: grey) is
   exported with the image by ``napari-axons tile IMAGE --masks MASK`` on
   ``--tile``-pixel tiles (fibres cross tile borders), with the pixel size in
   the manifest;
2. :func:`napari_axons.core.fibres.measure_export` measures the export folder;
3. AxonDeepSeg's ``get_axon_morphometrics`` measures the whole mask;
4. fibres are matched by axon centroid (the same axons: both label the axon
   class 8-connected), and the table prints, per image, the fibre counts, the
   median relative difference of ``axon_diam`` and the median (and 95th
   percentile) absolute difference of ``gratio``.

Then two touching fibres of different sheath thickness, drawn exactly, show
the split where the sheaths meet against AxonDeepSeg's watershed.
Targets (issue 22): counts within 2%, median rel. diff. of axon_diam < 2%,
median abs. diff. of gratio < 0.02.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.ads_reference import run_ads  # noqa: E402


def pixel_sizes(folder: Path) -> dict[str, float]:
    """``{image file name: um per pixel}`` from the data folder's README table."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    out = {}
    for m in re.finditer(r"^\|\s*(\S+\.png)\s*\|[^|]*\|\s*([0-9.]+)\s*\|", text, re.M):
        out[m.group(1)] = float(m.group(2))
    if not out:
        raise SystemExit(f"{folder / 'README.md'}: no table of pixel sizes")
    return out


def read_mask(path: Path) -> np.ndarray:
    """The class map of an AxonDeepSeg mask as AxonDeepSeg's inputs: 0 background, 1 axon, 2 myelin.

    Read by the product's reader (nearest of 0/127/255; grey + alpha as grey).
    """
    from napari_axons.core.labels import read_mask_image

    mask = read_mask_image(path)  # background, myelin, axon
    return np.array([0, 2, 1], np.uint8)[mask.class_map]


def export(image: Path, mask: Path, out: Path, tile: int, pixel_size: float) -> Path:
    """Export ``image`` with its whole ``mask`` as the tiles' (corrected) masks, as a user would:
    ``napari-axons tile IMAGE --masks MASK --tile-size TILE --pixel-size UM``."""
    from napari_axons.cli import main

    argv = ["tile", str(image), "-o", str(out), "--masks", str(mask), "--tile-size", str(tile),
            "--pixel-size", str(pixel_size), "--threads", "1"]
    if main(argv) != 0:
        raise SystemExit(f"{image}: export failed")
    return out


def match(ours, ads_rows) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i_ours, i_ads)`` of fibres whose axon centroids agree within 0.5 px."""
    from scipy.spatial import cKDTree

    fib = np.flatnonzero(ours.is_fibre)
    if not len(fib) or not ads_rows:
        return np.zeros(0, int), np.zeros(0, int)
    tree = cKDTree(np.stack([ours.columns["x"][fib], ours.columns["y"][fib]], 1))
    pts = np.array([[r["x0"], r["y0"]] for r in ads_rows], float)
    d, j = tree.query(pts)
    ok = d < 0.5
    return fib[j[ok]], np.flatnonzero(ok)


def compare(name, ours, ads) -> dict:
    rows = ads["rows"]
    i, k = match(ours, rows)
    ad = np.array([rows[q]["axon_diam"] for q in k], float)
    ag = np.array([np.nan if rows[q]["gratio"] is None else rows[q]["gratio"] for q in k], float)
    od, og = ours.columns["axon_diam"][i], ours.columns["gratio"][i]
    both = np.isfinite(ag) & np.isfinite(og)
    dg = np.abs(og[both] - ag[both])
    n_ours, n_ads = ours.n_fibres, len(rows)
    return {"image": name, "ads": n_ads, "ours": n_ours,
            "count_diff": (n_ours - n_ads) / n_ads if n_ads else float("nan"),
            "matched": len(i), "rel_diam": float(np.median(np.abs(od - ad) / ad)) if len(i) else np.nan,
            "abs_g": float(np.median(dg)) if len(dg) else np.nan,
            "p95_g": float(np.percentile(dg, 95)) if len(dg) else np.nan,
            "over_005": int((dg > 0.05).sum()), "g_only_ads": int((np.isfinite(ag) & ~np.isfinite(og)).sum()),
            "orphans": int(len(ours) - n_ours), "ads_s": ads["seconds"]}


def touching_demo(python: str) -> list[str]:
    """Two touching fibres, sheaths 9 and 3 px: true g-ratios against both splits."""
    from napari_axons.core.common import ClassTable
    from napari_axons.core.fibres import measure_class_map

    shape = (90, 120)
    (ra, fa), (rb, fb) = (15, 24), (12, 15)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    da, db = np.hypot(yy - 45, xx - 40), np.hypot(yy - 45, xx - (40 + fa + fb - 1))
    own = np.where((da / fa <= 1) & ((da / fa <= db / fb) | (db / fb > 1)), 1,
                   np.where(db / fb <= 1, 2, 0))
    cmap = np.zeros(shape, np.uint8)
    cmap[own > 0] = 2
    cmap[((own == 1) & (da <= ra)) | ((own == 2) & (db <= rb))] = 1
    truth = [np.sqrt(((own == k) & (cmap == 1)).sum() / (own == k).sum()) for k in (1, 2)]
    table = ClassTable(("background", "axon", "myelin"))
    ours = measure_class_map(cmap, table, pixel_size_um=0.1).columns["gratio"]
    ads = run_ads(python, cmap == 1, cmap == 2, 0.1)["rows"]
    ads_g = [r["gratio"] for r in sorted(ads, key=lambda r: r["x0"])]
    return ["", "Two touching fibres drawn exactly (sheaths 9 and 3 px, pressed 1 px together):",
            "| fibre | true g-ratio | napari-axons | AxonDeepSeg |", "| --- | --- | --- | --- |",
            *(f"| {n} | {t:.3f} | {o:.3f} | {a:.3f} |"
              for n, t, o, a in zip(("thick sheath", "thin sheath"), truth, ours, ads_g,
                                    strict=True))]


#: Fibres where the two splits differ most (image, axon centroid x, y): for ``--figure``.
FIGURE_CASES = (("sub-rat1_sample-data1_SEM.png", 575, 395), ("sub-rat5_sample-data14_SEM.png", 408, 782))


def figure(python: str, data: Path, sizes: dict, path: Path, r: int = 40) -> None:
    """Crops around :data:`FIGURE_CASES`: AxonDeepSeg's fibres (left) and ours (right),
    fibre borders in yellow over the class map (myelin blue, axon red)."""
    from PIL import Image, ImageDraw

    from napari_axons.core.fibres.split import split_window

    def render(c, lab):
        e = np.zeros(lab.shape, bool)
        e[:-1] |= lab[:-1] != lab[1:]
        e[:, :-1] |= lab[:, :-1] != lab[:, 1:]
        rgb = np.zeros(c.shape + (3,), np.uint8)
        rgb[c == 2], rgb[c == 1], rgb[e & (lab > 0)] = (90, 140, 255), (255, 120, 120), (255, 255, 0)
        return Image.fromarray(np.kron(rgb, np.ones((3, 3, 1), np.uint8)))

    rows = []
    for name, x, y in FIGURE_CASES:
        cmap = read_mask(data / name.replace(".png", "_seg-axonmyelin-manual.png"))
        ads = run_ads(python, cmap == 1, cmap == 2, sizes[name], labels=True)["labels"]
        ours = split_window(cmap, axon=1, myelin=2, reach=4.0 / sizes[name]).fibres
        sl = (slice(max(0, y - r), y + r), slice(max(0, x - r), x + r))
        rows.append((render(cmap[sl], ads[sl]), render(cmap[sl], ours[sl])))
    w, h = rows[0][0].size
    canvas = Image.new("RGB", (2 * w + 12, 20 + len(rows) * (h + 6)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 4), "AxonDeepSeg (watershed)", fill="black")
    draw.text((w + 16, 4), "napari-axons (sheath split)", fill="black")
    for k, (a, b) in enumerate(rows):
        canvas.paste(a, (0, 20 + k * (h + 6)))
        canvas.paste(b, (w + 12, 20 + k * (h + 6)))
    canvas.save(path, optimize=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ads_python", help="the Python of a venv with AxonDeepSeg installed")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/axondeepseg-sem"))
    ap.add_argument("--tile", type=int, default=256, help="export tile size (default 256)")
    ap.add_argument("--figure", type=Path, help="also draw both splits where they differ most "
                                                "(bench/fibres_split.png)")
    args = ap.parse_args(argv)
    from napari_axons.core.fibres import measure_export

    sizes = pixel_sizes(args.data)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fibres-ads-") as tmp:
        for image_name, px in sorted(sizes.items()):
            image = args.data / image_name
            mask = args.data / image_name.replace(".png", "_seg-axonmyelin-manual.png")
            cmap = read_mask(mask)
            folder = export(image, mask, Path(tmp) / image.stem, args.tile, px)
            start = time.perf_counter()
            ours = measure_export(folder)
            ours_s = time.perf_counter() - start
            ads = run_ads(args.ads_python, cmap == 1, cmap == 2, px)
            r = compare(image.stem.replace("_SEM", ""), ours, ads)
            r["ours_s"] = ours_s
            results.append(r)
            print(f"{r['image']}: {r['ours']} fibres ({ours_s:.1f} s), AxonDeepSeg "
                  f"{r['ads']} ({r['ads_s']:.1f} s)", file=sys.stderr, flush=True)
    lines = [f"Export tiles {args.tile} x {args.tile} px; fibres matched by axon centroid.", "",
             "| image | AxonDeepSeg fibres | napari-axons fibres | count diff | matched | "
             "median rel. diff. axon_diam | median abs. diff. gratio | 95th pct abs. diff. gratio "
             "| abs. diff. gratio > 0.05 | orphan myelin pieces (ours) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['image']} | {r['ads']} | {r['ours']} | {r['count_diff']:+.2%} | "
                     f"{r['matched']} | {r['rel_diam']:.2e} | {r['abs_g']:.4f} | {r['p95_g']:.4f} "
                     f"| {r['over_005']} | {r['orphans']} |")
    ok = all(abs(r["count_diff"]) <= 0.02 and r["rel_diam"] < 0.02 and r["abs_g"] < 0.02
             for r in results)
    lines += touching_demo(args.ads_python)
    if args.figure:
        figure(args.ads_python, args.data, sizes, args.figure)
    lines += ["", f"targets (count within 2%, median rel. diff. axon_diam < 2%, median abs. "
                  f"diff. gratio < 0.02): {'met' if ok else 'NOT met'}"]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
