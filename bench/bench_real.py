"""Leave-one-rat-out on the shared AxonDeepSeg SEM data: out of the box, then fine-tuned.

For each held-out rat (1, 2, 3, 4, 5, 8):

1. **base**: a model trained as the built-in one (``bench/train_builtin.py``:
   same code, architecture and pixel size) on the other rats only, with a
   budget of ``--base-minutes``;
2. **out of the box**: that model segments every image of the held-out rat,
   whole, at the image's own pixel size (resampled to the model's and back,
   as segmenting does), scored against its manual mask; and the RIGHT half of
   each image alone (the fine-tuning's test region);
3. **fine-tuned**: the LEFT half of each image is exported in 256 px tiles by
   the product; ``--ft-tiles`` of those tiles (chosen at random, fixed seed,
   from the regular grid: no two overlap) get their manual labels as
   corrections would (the shifted edge tiles too where the left half holds
   fewer separate tiles: rat 4); ``train`` fine-tunes the base on them (``--base`` the
   fold's model, a budget of ``--ft-minutes``) and the result is scored on
   the RIGHT halves.

Scores: per class pixel IoU (``napari_axons.core.labels.scores``: counts summed over
the rat's images), objects matched at IoU >= 0.5 (F1). Targets (IoU): out of
the box axon >= 0.80, myelin >= 0.70; fine-tuned axon >= 0.85, myelin >= 0.80.

Usage (from the repository root)::

    python bench/bench_real.py [--rats rat1,rat2,...] [--base-minutes 20]
        [--ft-minutes 10] [--clock cpu] [--threads 1] [--stage base|all]
        [--work bench/_data/real] [--data DIR] [--json results.json]

``--clock cpu`` counts this process's CPU time (a machine shared with other
jobs then gives the same number of steps as an idle one); fold models already
in ``--work`` are reused (``--stage base`` only trains them).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.real_data import (  # noqa: E402
    NAMES,
    RATS,
    default_data_dir,
    export_rats,
    labelled_export,
    load_pair,
    segment_image,
)
from bench.train_builtin import train_model  # noqa: E402

TARGETS = {"out of the box": {"axon": 0.80, "myelin": 0.70},
           "fine-tuned": {"axon": 0.85, "myelin": 0.80}}


def _halves(image, class_map):
    w = image.shape[1] // 2
    return (image[:, :w], class_map[:, :w]), (image[:, w:], class_map[:, w:])


def _score(model_dir: Path, pairs, threads: int) -> dict:
    """Pixel IoU and object F1 per class over ``pairs`` = [(image, class map, um)]."""
    from napari_axons.core.labels.scores import score_maps

    preds = [segment_image(model_dir, im, um, threads) for im, _, um in pairs]
    s = score_maps(preds, [cm for _, cm, _ in pairs], NAMES).to_json()["overall"]
    return {n: {"iou": s[n]["iou"], "dice": s[n]["dice"], "f1": s[n]["f1"]} for n in NAMES[1:]}


def base_model(rat: str, a) -> Path:
    """The fold's model, trained on the other rats (made once, reused)."""
    folder = a.work / "folds" / rat / "base"
    if not (folder / "model.safetensors").is_file():
        others = [r for r in RATS if r != rat]
        exports = export_rats(a.data, others, a.work / "exports")
        res = train_model(exports, folder, minutes=a.base_minutes, steps=None, clock=a.clock,
                          threads=a.threads, device=a.device, verbose=a.verbose)
        print(f"{rat}: base model, {res.report['steps']} steps ({res.report['stopped']}, "
              f"{res.report['minutes']:.1f} min {a.clock})", flush=True)
    return folder


def fine_tune(rat: str, base: Path, a, *, out: Path | None = None, **options) -> tuple[Path, dict]:
    """Export the left halves, label ``ft_tiles`` tiles, fine-tune ``base`` on them.

    ``options`` override the fine-tuning's :class:`TrainOptions` (experiments).
    """
    rng = np.random.default_rng(a.seed)
    root = a.work / "folds" / rat / "left"
    exports, main_grid, others = [], [], []
    for stem, um in RATS[rat]:
        image, class_map = load_pair(a.data, stem)
        (left_im, left_cm), _ = _halves(image, class_map)
        folder = root / stem / "export"
        if not (folder / "manifest.json").is_file():
            labelled_export(folder, left_im, left_cm, um, tile_size=256, base=f"{stem}-left")
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        for t in manifest["images"][0]["tiles"]:
            on_grid = t["box"]["x"] % 256 == 0 and t["box"]["y"] % 256 == 0
            (main_grid if on_grid else others).append((len(exports), t["index"]))
        exports.append((folder, left_im, left_cm, um, stem))
    # tiles of the regular grid first (no two overlap), then the shifted edge tiles
    # (a small image's left half holds fewer than ft_tiles separate tiles)
    order = [main_grid[i] for i in rng.permutation(len(main_grid))]
    order += [others[i] for i in rng.permutation(len(others))]
    picks = order[: a.ft_tiles]
    used = []
    for k, (folder, _, _, _, stem) in enumerate(exports):
        chosen = sorted(i for j, i in picks if j == k)
        if not chosen:
            continue
        # the corrected tiles: a folder of links to the full export's tile, label file
        # and manifest, holding only the chosen tiles' label files (a user's corrections)
        corrected = root / stem / f"corrected-{a.ft_tiles}-seed{a.seed}"
        _corrected_export(folder, corrected, chosen)
        used.append(corrected)
    out = out or a.work / "folds" / rat / "fine-tuned"
    from napari_axons.core.training import TrainOptions, train

    opts = TrainOptions(**{"max_minutes": a.ft_minutes, "clock": a.clock,
                           "num_threads": a.threads, "device": a.device, "seed": a.seed,
                           "base": str(base), **options})
    res = train(used, out, options=opts, overwrite=True, verbose=a.verbose)
    return out, res.report


def _corrected_export(full: Path, out: Path, chosen) -> None:
    """``out``: ``full`` (every tile labelled) with the label files of ``chosen`` tiles only."""
    import shutil

    if (out / "manifest.json").is_file():
        return
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    manifest = json.loads((full / "manifest.json").read_text(encoding="utf-8"))
    for t in manifest["images"][0]["tiles"]:
        shutil.copy2(full / t["files"]["tile"], tmp / t["files"]["tile"])
        if t["index"] in chosen:
            name = t["files"]["tile"].replace(".png", "__labels.json")
            shutil.copy2(full / name, tmp / name)
    shutil.copy2(full / "manifest.json", tmp / "manifest.json")
    tmp.rename(out)


def run_fold(rat: str, a) -> dict:
    base = base_model(rat, a)
    whole, right = [], []
    for stem, um in RATS[rat]:
        image, class_map = load_pair(a.data, stem)
        whole.append((image, class_map, um))
        _, (r_im, r_cm) = _halves(image, class_map)
        right.append((r_im, r_cm, um))
    row = {"rat": rat, "out of the box (whole)": _score(base, whole, a.threads),
           "out of the box (right)": _score(base, right, a.threads)}
    ft, rep = fine_tune(rat, base, a)
    row["fine-tuned (right)"] = _score(ft, right, a.threads)
    row["fine-tuning"] = {"steps": rep["steps"], "stopped": rep["stopped"],
                          "minutes": rep["minutes"], "comparison": rep["comparison"],
                          "train_tiles": len(rep["data"]["train_tiles"]),
                          "val_tiles": len(rep["data"]["val_tiles"])}
    return row


def table(rows) -> str:
    cols = ["out of the box (whole)", "out of the box (right)", "fine-tuned (right)"]
    lines = ["| rat | " + " | ".join(f"{c}: axon / myelin IoU" for c in cols) + " | FT steps |",
             "| --- |" + " --- |" * (len(cols) + 1)]
    for r in rows:
        cells = [f"{r[c]['axon']['iou']:.3f} / {r[c]['myelin']['iou']:.3f}" for c in cols]
        lines.append(f"| {r['rat']} | " + " | ".join(cells)
                     + f" | {r['fine-tuning']['steps']} |")
    for c in cols:
        ax = np.mean([r[c]["axon"]["iou"] for r in rows])
        my = np.mean([r[c]["myelin"]["iou"] for r in rows])
        lines.append(f"mean {c}: axon {ax:.3f}, myelin {my:.3f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("--data", type=Path, default=default_data_dir())
    a.add_argument("--work", type=Path, default=Path("bench/_data/real"))
    a.add_argument("--rats", default=",".join(RATS))
    a.add_argument("--base-minutes", type=float, default=20.0)
    a.add_argument("--ft-minutes", type=float, default=10.0)
    a.add_argument("--ft-tiles", type=int, default=6)
    a.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--device", default="cpu")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--stage", choices=["base", "all"], default="all")
    a.add_argument("--json", type=Path, default=None)
    a.add_argument("--quiet", dest="verbose", action="store_false")
    a = a.parse_args(argv)
    rats = a.rats.split(",")
    rows = []
    for rat in rats:
        t0 = time.perf_counter()
        if a.stage == "base":
            base_model(rat, a)
            continue
        row = run_fold(rat, a)
        rows.append(row)
        print(json.dumps(row), flush=True)
        print(f"{rat}: {(time.perf_counter() - t0) / 60:.1f} min wall", flush=True)
        if a.json:
            a.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    if rows:
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
