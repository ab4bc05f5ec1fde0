"""The training report: per-epoch history, ``training.json``, the curve PNG, ``napari_axons.json``.

``training.json`` (beside the model)::

    {"epochs": [{"epoch", "step", "train_loss", "val_loss", "train_iou": {class: IoU},
                 "val_iou": {...}, "val_miou", "lr", "seconds"}, ...],
     "best": {"epoch", "val_miou", "val_iou", "train_iou"},
     "stopped": "completed" | "early stopping" | "time limit" | "stopped",
     "data": {"exports", "val_exports", "train_tiles", "val_tiles", "class_pixels",
              "pixel_size_um"},
     "validation": [{"tile", "sha256", "pixels": [per class]}],   # the best model's class maps
     "classes", "options", "model", "minutes", "device", "versions"}

IoU per class = TP / (TP + FP + FN) over all pixels of the split; training
figures are taken on the augmented crops while training (running), validation
ones on whole held-out tiles after each epoch. ``val_miou`` is the mean over
the foreground classes (the early-stopping criterion).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["History", "plot_curves", "write_report"]


class History:
    """Per-epoch records, kept on disk (``history.json``) so a resumed run continues them."""

    def __init__(self, path: Path, classes, *, verbose: bool = True, progress=None):
        self.path = Path(path)
        self.classes = classes
        self.records: list[dict] = []
        self.verbose = verbose
        self.progress = progress
        self._t = time.perf_counter()

    def load(self, upto_step: int) -> None:
        """Records of a resumed run, up to its last saved checkpoint's step."""
        try:
            recs = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recs = []
        self.records = [r for r in recs if r.get("step", 0) <= upto_step]

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.records, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def callback(self, loss, metrics):
        from transformers import TrainerCallback

        outer = self
        names = self.classes.names

        class _CB(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                outer._t = time.perf_counter()
                loss.reset()

            def on_evaluate(self, args, state, control, metrics=None, **kw):
                if outer.records and outer.records[-1]["step"] == int(state.global_step):
                    return  # a stop mid-epoch evaluates, then the epoch's end again: once
                m = metrics or {}
                train_iou = _iou_dict(names, loss.conf.numpy()) if loss.count else {}
                rec = {
                    "epoch": round(float(state.epoch or 0), 3),
                    "step": int(state.global_step),
                    "train_loss": loss.sum / loss.count if loss.count else None,
                    "val_loss": m.get("eval_loss"),
                    "train_iou": train_iou,
                    "val_iou": {n: _nan_none(m.get(f"eval_iou_{n}")) for n in names},
                    "val_miou": m.get("eval_miou"),
                    "lr": _last_lr(state),
                    "seconds": round(time.perf_counter() - outer._t, 2),
                }
                loss.reset()
                outer._t = time.perf_counter()
                outer.records.append(rec)
                # written before the Trainer saves this epoch's checkpoint: a resume
                # trims what lies beyond the checkpoint it continues from
                outer._save()
                if outer.verbose:
                    _write_line(format_epoch(rec, args.num_train_epochs))
                if outer.progress is not None:
                    outer.progress(rec)

        return _CB()


def _nan_none(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def _iou_dict(names, conf) -> dict:
    from .run import _iou

    return dict(zip(names, _iou(conf), strict=True))


def _last_lr(state) -> float | None:
    for entry in reversed(state.log_history):
        if "learning_rate" in entry:
            return float(entry["learning_rate"])
    return None


def _write_line(text: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
    except ImportError:  # pragma: no cover
        print(text, file=sys.stderr)


def _f(v) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def format_epoch(rec: dict, total) -> str:
    """One line per epoch: losses, then per-class IoU on both splits."""
    fg = [n for n in rec["val_iou"] if n != "background"]
    tr = " ".join(f"{n} {_f(rec['train_iou'].get(n))}" for n in fg)
    va = " ".join(f"{n} {_f(rec['val_iou'].get(n))}" for n in fg)
    return (f"epoch {rec['epoch']:g}/{total:g}  loss train {_f(rec['train_loss'])} "
            f"val {_f(rec['val_loss'])}  IoU train [{tr}] val [{va}]  ({rec['seconds']:.0f} s)")


def plot_curves(records: list[dict], names, path: Path, title: str = "") -> None:
    """Loss and per-class IoU per epoch, both splits, as a PNG (matplotlib, else Pillow)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        _plot_pillow(records, names, path)
        return
    ep = [r["epoch"] for r in records]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    a.plot(ep, [r["train_loss"] for r in records], label="train")
    a.plot(ep, [r["val_loss"] for r in records], label="validation")
    a.set_xlabel("epoch")
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
    b.set_xlabel("epoch")
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


def write_report(final: Path, history: History, classes, val_pred, val_set, train_set, data,
                 vdata, counts, opts, lr, minutes, reason, device, *, base=None) -> dict:
    """Write ``training.json``, ``training.png`` and ``napari_axons.json`` into ``final``."""
    from dataclasses import asdict

    import torch
    import transformers

    from ... import __version__
    from .run import _iou, _mean_fg

    recs = history.records
    best = max(recs, key=lambda r: (r["val_miou"] or 0.0)) if recs else None
    n = len(classes)
    conf = np.zeros((n, n), np.int64)
    for p, t in zip(val_pred, val_set.labels, strict=True):
        conf += np.bincount(t.astype(np.int64).ravel() * n + p.ravel(),
                            minlength=n * n).reshape(n, n)
    final_iou = dict(zip(classes.names, _iou(conf), strict=True))
    n_epochs = recs[-1]["epoch"] if recs else 0
    if reason is None:
        reason = "completed" if n_epochs >= opts.epochs - 1e-6 else "early stopping"
    pixel = data.pixel_size_um()
    val_exports = vdata.exports if vdata is not None else []
    report = {
        "epochs": recs,
        "best": {"epoch": best["epoch"] if best else None,
                 "val_miou": _mean_fg(list(final_iou.values())),
                 "val_iou": final_iou,
                 "train_iou": best["train_iou"] if best else {}},
        "stopped": reason,
        "data": {
            "exports": data.exports,
            "val_exports": val_exports,
            "train_tiles": [str(t.tile) for t in train_set.tiles],
            "val_tiles": [str(t.tile) for t in val_set.tiles],
            "class_pixels": {k: dict(zip(classes.names, v, strict=True))
                             for k, v in counts.items()},
            "pixel_size_um": pixel,
        },
        "validation": [{"tile": str(t.tile), "sha256": _sha(p),
                        "pixels": np.bincount(p.ravel(), minlength=n)[:n].tolist()}
                       for t, p in zip(val_set.tiles, val_pred, strict=True)],
        "classes": classes.to_json(),
        "options": {**asdict(opts), "lr": lr},
        "model": {"base": str(base) if base else None,
                  "arch": None if base else opts.arch},
        "minutes": round(minutes, 3),
        "device": device,
        "versions": {"napari_axons": __version__, "torch": torch.__version__,
                     "transformers": transformers.__version__},
    }
    final = Path(final)
    (final / "training.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    if recs:
        plot_curves(recs, classes.names, final / "training.png",
                    title=f"best epoch {report['best']['epoch']:g}: validation mean IoU "
                          f"{report['best']['val_miou']:.3f}")
    (final / "napari_axons.json").write_text(json.dumps({
        "pixel_size_um": pixel,
        "trained_on": [e["folder"] for e in data.exports],
        "validated_on": [e["folder"] for e in val_exports],
        "classes": classes.to_json(),
        "napari_axons": __version__,
    }, indent=1), encoding="utf-8")
    return report
