"""Acceptance benchmark of ``napari-axons train`` on the synthetic myelinated sample.

Training data: a 1536 x 1536 synthetic SEM cross-section (seed 0), exported in
512 x 512 tiles by the product (9 tiles); 8 of them get their true labels
(``__labels.json``, one polygon per component per class, as corrections would
be). Held out: another 1024 x 1024 sample (seed 1), 4 labelled tiles, given as
``--val``. The model trains from config (no download) under ``--max-minutes``,
then is loaded through the normal loader (``load_segmenter``) and scored on
the held-out tiles, per class (IoU = TP / (TP + FP + FN) over all pixels);
the built-in Otsu segmenter is scored on the same tiles, as generously as it
allows (its bright objects taken as axon, the rest as myelin and background
split by its own threshold inverted: dark objects as myelin).

Usage::

    OMP_NUM_THREADS=2 python bench/bench_train.py [--arch upernet-convnext] [--minutes 9.5]
        [--steps N] [--threads 2] [--work /tmp/bench-train] [--png bench/train_curve.png]

Prints the per-class IoU of the model and of Otsu, the minutes spent and the
conditions (load average), and copies the curve PNG to ``--png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "core"))


def _iou(pred: np.ndarray, truth: np.ndarray) -> float:
    inter = np.logical_and(pred, truth).sum()
    union = np.logical_or(pred, truth).sum()
    return float(inter / union) if union else float("nan")


def _held_out(val_dir: Path):
    """(tiles (N, H, W, 3), truth class maps (N, H, W)) of the validation export."""
    from napari_axons.core.common import ClassTable
    from napari_axons.core.training.data import collect, load_tile

    data = collect([val_dir])
    table = ClassTable(("background", "myelin", "axon"))
    pairs = [load_tile(t, table) for t in data.tiles]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _model_class_maps(model_dir: Path, tiles: np.ndarray) -> np.ndarray:
    """Class maps through the normal loader: the argmax over all classes (``--classes all``)."""
    from napari_axons.core.segment import load_segmenter

    seg = load_segmenter(str(model_dir), classes="all", num_threads=2)
    return np.asarray(seg.predict(tiles))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="upernet-convnext")
    ap.add_argument("--minutes", type=float, default=9.5)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--work", default="/tmp/bench-train")
    ap.add_argument("--png", default=str(HERE / "train_curve.png"))
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)

    from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
    from napari_axons.core.segment import load_segmenter
    from napari_axons.core.training import TrainOptions, train
    from train_data import labelled_export

    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    names = MYELINATED_CLASSES.names
    im, cm = make_myelinated_sample((1536, 1536), seed=0)
    labelled = labelled_export(work / "train" / "export", im, cm, names, tile_size=512,
                               labelled=range(8), base="nerve")
    vim, vcm = make_myelinated_sample((1024, 1024), seed=1)
    labelled_export(work / "val" / "export", vim, vcm, names, tile_size=512, base="heldout")
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    result = train([work / "train" / "export"], work / "model",
                   val_exports=[work / "val" / "export"],
                   options=TrainOptions(arch=a.arch, steps=a.steps, max_minutes=a.minutes,
                                        num_threads=a.threads, crop=a.crop, lr=a.lr,
                                        device=a.device, base="none", plateau=0.0))
    minutes = (time.perf_counter() - t0) / 60
    load1 = os.getloadavg()

    tiles, truth = _held_out(work / "val" / "export")
    pred = _model_class_maps(work / "model", tiles)
    model_iou = {n: _iou(pred == k, truth == k) for k, n in enumerate(names)}
    otsu = np.asarray(load_segmenter("otsu").predict(tiles)) > 0
    otsu_iou = {"background": float("nan"), "myelin": _iou(~otsu, truth == 1),
                "axon": _iou(otsu, truth == 2)}
    rep = result.report
    print(f"training: {len(labelled)} labelled tiles (512 x 512), {a.arch}, "
          f"{rep['minutes']:.2f} min of training ({minutes:.2f} min with data loading and "
          f"saving), {rep['steps']} steps, best validation at step {rep['best']['step']}, "
          f"stopped: {rep['stopped']}")
    print(f"conditions: {a.threads} torch threads; load average before {load0[0]:.2f}, "
          f"after {load1[0]:.2f} (1 min)")
    print(f"{'class':<12}{'model IoU':>10}{'otsu IoU':>10}")
    for n in names:
        print(f"{n:<12}{model_iou[n]:>10.3f}{otsu_iou[n]:>10.3f}")
    same = all(abs(model_iou[n] - rep["best"]["val_iou"][n]) < 5e-3 for n in names)
    print(f"loader agrees with the training report: {same}")
    if a.png:
        shutil.copyfile(work / "model" / "training.png", a.png)
    print(json.dumps({"model": model_iou, "otsu": otsu_iou, "minutes": minutes,
                      "steps": rep["steps"], "arch": a.arch}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
