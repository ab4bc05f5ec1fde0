"""The training report: ``training.json``, the curve PNG, ``napari_axons.json``.

``training.json`` (beside the model)::

    {"validations": [{"step", "share", "elapsed", "train_loss", "val_loss",
                      "train_iou": {class: IoU}, "val_iou": {...}, "val_miou", "val_smooth",
                      "lr", "seconds"}, ...],
     "stopped": "steps" | "budget" | "plateau" | "cancelled",
     "steps", "best": {"step", "val_miou", "val_iou", "train_iou"},
     "scores": {"result": SCORES, "base": SCORES or null},
     "comparison": {"base_miou", "result_miou", "better", "note"} or null,
     "data": {"exports", "val_exports", "train_tiles", "val_tiles", "class_pixels",
              "pixel_size_um"},
     "validation": [{"tile", "sha256", "pixels": [per class]}],   # the model's class maps
     "classes", "options", "model", "pixel_size_um", "minutes", "device", "versions"}

``stopped``: ``steps`` (the step budget ran out), ``budget`` (the time
budget), ``plateau`` (the smoothed validation curve stopped improving, see
:class:`.schedule.Plateau`), ``cancelled`` (the caller's ``should_stop``).
SCORES is :meth:`napari_axons.core.labels.scores.Scores.to_json` of the final model
(and of the base model before training) on the held-out tiles, on their own
pixel grid: pixel IoU and Dice, object precision / recall / F1 per class, per
tile and overall. Training figures in the records are taken on the augmented
crops while training (running), validation ones on whole held-out tiles at the
training pixel size; ``val_miou`` is the mean over the foreground classes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ... import __version__

__all__ = ["plot_curves", "prepare_plotting", "training_summary", "write_report"]


def prepare_plotting() -> None:
    """Import matplotlib now (1-3 s), so that the report at the end of a timed run is quick."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        pass


def plot_curves(records: list[dict], names, path: Path, title: str = "") -> None:
    """Loss and per-class IoU per validation (by step), both splits, as a PNG.

    matplotlib draws it; without matplotlib, a plainer Pillow drawing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        _plot_pillow(records, names, path)
        return
    ep = [r["step"] for r in records]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    a.plot(ep, [r["train_loss"] for r in records], label="train")
    a.plot(ep, [r["val_loss"] for r in records], label="validation")
    a.set_xlabel("step")
    a.set_ylabel("loss (CE + Dice)")
    a.legend()
    for k, n in enumerate(names):
        if n == "background":
            continue
        colour = f"C{k}"
        b.plot(ep, [r["train_iou"].get(n) for r in records], "--", color=colour,
               label=f"{n} train")
        b.plot(ep, [r["val_iou"].get(n) for r in records], "-", color=colour,
               label=f"{n} validation")
    if any(r.get("val_smooth") is not None for r in records):
        b.plot(ep, [r.get("val_smooth") for r in records], ":", color="black", lw=1,
               label="mean, smoothed (stopping rule)")
    b.set_xlabel("step")
    b.set_ylabel("IoU")
    b.set_ylim(0, 1)
    b.grid(alpha=0.3)
    b.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _plot_pillow(records, names, path: Path) -> None:
    from PIL import Image, ImageDraw

    w, h, m = 640, 320, 30
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    d.rectangle([m, m, w - m, h - m], outline="black")
    n = max(len(records) - 1, 1)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
    for k, name in enumerate(x for x in names if x != "background"):
        for key, dash in (("val_iou", False), ("train_iou", True)):
            pts = [(m + i * (w - 2 * m) / n, h - m - (r[key].get(name) or 0) * (h - 2 * m))
                   for i, r in enumerate(records)]
            if len(pts) > 1:
                d.line(pts, fill=colours[k % len(colours)], width=1 if dash else 2)
        d.text((m + 5, m + 5 + 12 * k), name, fill=colours[k % len(colours)])
    tmp = path.with_name(f".{path.name}.tmp.png")
    im.save(tmp)
    os.replace(tmp, path)


def _sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, np.uint8).tobytes()).hexdigest()


def _mean_fg(overall: dict, names) -> float | None:
    vals = [overall[n]["iou"] for n in names[1:] if overall[n]["iou"] is not None]
    return float(np.mean(vals)) if vals else None


def comparison(base: dict | None, result: dict, names) -> dict | None:
    """Base vs result on the same held-out tiles: mean foreground IoU each and a plain note."""
    if base is None:
        return None
    b, r = _mean_fg(base["overall"], names), _mean_fg(result["overall"], names)
    per = ", ".join(f"{n} {_f(base['overall'][n]['iou'])} -> {_f(result['overall'][n]['iou'])}"
                    for n in names[1:])
    better = b is not None and r is not None and r > b
    if better:
        note = f"better than the base model on the held-out tiles (IoU {per})"
    else:
        note = (f"NOT better than the base model on the held-out tiles (IoU {per}); "
                "the base model may serve as well")
    return {"base_miou": b, "result_miou": r, "better": better, "note": note}


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def write_report(final: Path, *, history, classes, scores, base_scores, val_pred, val_set,
                 train_set, data, vdata, counts, opts, lr, reason, device, base, pixel_size_um,
                 seconds, steps) -> dict:
    """Write ``training.json``, ``training.png`` and ``napari_axons.json`` into ``final``."""
    from dataclasses import asdict

    import torch
    import transformers

    recs = history.records
    names = classes.names
    best = max(recs, key=lambda r: (r["val_miou"] or 0.0)) if recs else None
    result = scores.to_json()
    final_iou = {n: result["overall"][n]["iou"] for n in names}
    val_exports = vdata.exports if vdata is not None else []
    n = len(classes)
    report = {
        "validations": recs,
        "stopped": reason,
        "steps": steps,
        "best": {"step": best["step"] if best else None,
                 "val_miou": _mean_fg(result["overall"], names) or 0.0,
                 "val_iou": final_iou,
                 "train_iou": best["train_iou"] if best else {}},
        "scores": {"result": result, "base": base_scores},
        "comparison": comparison(base_scores, result, names),
        "data": {
            "exports": data.exports,
            "val_exports": val_exports,
            "train_tiles": [str(t.tile) for t in train_set.tiles],
            "val_tiles": [str(t.tile) for t in val_set.tiles],
            "class_pixels": {k: dict(zip(names, v, strict=True)) for k, v in counts.items()},
            "pixel_size_um": data.pixel_size_um(),
        },
        "validation": [{"tile": str(t.tile), "sha256": _sha(p),
                        "pixels": np.bincount(p.ravel(), minlength=n)[:n].tolist()}
                       for t, p in zip(val_set.tiles, val_pred, strict=True)],
        "classes": classes.to_json(),
        "options": {**asdict(opts), "lr": lr},
        "model": {"base": base, "arch": None if base else opts.arch},
        "pixel_size_um": pixel_size_um,
        "minutes": round(seconds / 60, 3),
        "device": device,
        "versions": {"napari_axons": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
    final = Path(final)
    _write(final / "training.json", report)
    if recs:
        plot_curves(recs, names, final / "training.png",
                    title=f"{steps} steps, stopped: {reason}; held-out mean IoU "
                          f"{report['best']['val_miou']:.3f}")
    _write(final / "napari_axons.json", {
        "pixel_size_um": pixel_size_um,
        "trained_on": [e["folder"] for e in data.exports],
        "validated_on": [e["folder"] for e in val_exports],
        "base": base,
        "classes": classes.to_json(),
        "validation": {k: {"iou": v["iou"], "dice": v["dice"]}
                       for k, v in result["overall"].items()},
        "napari_axons": __version__,
    })
    return report


def _write(path: Path, doc) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def training_summary(model_dir, report: dict) -> str:
    """What ``napari-axons train`` prints: the run, the held-out scores, base vs result."""
    names = [n for n in report["best"]["val_iou"] if n != "background"]
    result = report["scores"]["result"]["overall"]
    figs = ", ".join(f"{n} {_f(result[n]['iou'])}" for n in names)
    lines = [f"trained {model_dir} in {report['minutes']:.1f} min: {report['steps']} steps "
             f"(stopped: {report['stopped']}), held-out IoU {figs}"]
    data, best = report.get("data") or {}, report.get("best") or {}
    if "train_tiles" in data and "val_tiles" in data:
        n_train, n_val = len(data["train_tiles"]), len(data["val_tiles"])
        where = ("--val" if data.get("val_exports") else
                 "held out at random; tiles that overlap stay on one side")
        kept = (f"; kept the model of step {best['step']} (its best validation)"
                if best.get("step") is not None else "")
        lines.append(f"{n_train} training tile{'s' if n_train != 1 else ''}, {n_val} "
                     f"validation tile{'s' if n_val != 1 else ''} ({where}){kept}")
    cmp = report.get("comparison")
    if cmp is not None:
        base = report["scores"]["base"]["overall"]
        bfigs = ", ".join(f"{n} {_f(base[n]['iou'])}" for n in names)
        lines.append(f"base model {report['model']['base']} on the same tiles: IoU {bfigs}")
        if not cmp["better"]:
            lines.append(f"the result is NOT better than the base model "
                         f"{report['model']['base']} on the held-out tiles")
    return "\n".join(lines)
