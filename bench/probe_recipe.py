"""A probe of the training recipe on the real SEM data, outside the product's trainer.

``python bench/probe_recipe.py --arch cur --steps 348 --hold rat1,rat4 [--lr 1e-3] [--tag T]``

Trains one architecture for a fixed number of optimiser steps (or ``--minutes``)
on the shared images of every rat but ``--hold`` (resampled to ``--px`` um/px,
random augmented crops by the product's ``Augment``, cross-entropy with class
weights + Dice, as the product's loss), then scores each held-out image on its
own pixel grid (pixel IoU of myelin and axon), prints one JSON line and appends
it to ``--results``. A plain loop on purpose: it compares architectures and step
counts quickly; the product's ``train`` (transformers' Trainer) is what ships.

Architectures: ``cur`` (the built-in model's UperNet over a small ConvNeXt),
``fr`` (the same plus a full-resolution refinement head: a two-layer stem on the
input and three convolutions over it and the upsampled logits), ``segf``
(SegFormer-b0's shape). Figures: docs/training.md ("What limits them").
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.real_data import RATS, default_data_dir, load_pair  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resample(image, class_map, factor):
    """Both at ``factor`` x their size (bilinear image, nearest class map)."""
    h, w = image.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    out = np.array(Image.fromarray(image).resize(size, Image.BILINEAR))
    cm = None if class_map is None else np.array(Image.fromarray(class_map).resize(size, Image.NEAREST))
    return out, cm


def build(arch: str):
    import torch
    from transformers import (
        ConvNextConfig,
        SegformerConfig,
        SegformerForSemanticSegmentation,
        UperNetConfig,
        UperNetForSemanticSegmentation,
    )

    def upernet():
        backbone = ConvNextConfig(hidden_sizes=[32, 64, 128, 256], depths=[2, 2, 4, 2],
                                  out_features=["stage1", "stage2", "stage3", "stage4"])
        return UperNetForSemanticSegmentation(UperNetConfig(
            backbone_config=backbone, hidden_size=64, use_auxiliary_head=False, num_labels=3))

    class FullRes(torch.nn.Module):
        """UperNet at 1/4 plus a full-resolution refinement of its upsampled logits."""

        def __init__(self, base, ch=16):
            super().__init__()
            nn = torch.nn
            self.base = base
            self.stem = nn.Sequential(
                nn.Conv2d(3, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU(),
                nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU())
            self.head = nn.Sequential(
                nn.Conv2d(ch + 3, 2 * ch, 3, padding=1), nn.BatchNorm2d(2 * ch), nn.ReLU(),
                nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.BatchNorm2d(2 * ch), nn.ReLU(),
                nn.Conv2d(2 * ch, 3, 1))

        def forward(self, pixel_values):
            import torch.nn.functional as F

            lg = self.base(pixel_values=pixel_values).logits
            lg = F.interpolate(lg, size=pixel_values.shape[-2:], mode="bilinear",
                               align_corners=False)
            return lg + self.head(torch.cat([lg, self.stem(pixel_values)], 1))

    if arch == "cur":
        return upernet()
    if arch == "fr":
        return FullRes(upernet())
    if arch == "segf":
        return SegformerForSemanticSegmentation(SegformerConfig(
            depths=[2, 2, 2, 2], hidden_sizes=[32, 64, 160, 256], num_attention_heads=[1, 2, 5, 8],
            decoder_hidden_size=256, num_labels=3))
    raise SystemExit(f"unknown --arch {arch!r}: cur, fr or segf")


def logits_of(model, x):
    out = model(pixel_values=x)
    return out if not hasattr(out, "logits") else out.logits


def main(argv=None) -> int:
    import torch
    import torch.nn.functional as F

    from napari_axons.core.training.augment import Augment

    a = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    a.add_argument("--data", type=Path, default=default_data_dir())
    a.add_argument("--arch", default="cur")
    a.add_argument("--px", type=float, default=0.1, help="training pixel size, um (default 0.1)")
    a.add_argument("--crop", type=int, default=256)
    a.add_argument("--batch", type=int, default=4)
    a.add_argument("--steps", type=int, default=0, help="optimiser steps (0: --minutes)")
    a.add_argument("--minutes", type=float, default=8)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--warm", type=float, default=0.05, help="warm-up share of the run")
    a.add_argument("--hold", default="rat1,rat4", help="held-out rats")
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--tag", default="")
    a.add_argument("--results", type=Path,
                   default=Path(__file__).resolve().parent / "_data" / "probe_recipe.jsonl")
    o = a.parse_args(argv)
    torch.set_num_threads(o.threads)
    torch.manual_seed(o.seed)
    np.random.seed(o.seed)  # noqa: NPY002 (the augmentation draws from the global state)
    mean, std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)

    def norm(x):
        return (x / 255.0 - mean) / std

    hold = o.hold.split(",")
    train = [pair for rat, pairs in RATS.items() if rat not in hold for pair in pairs]
    data = [resample(*load_pair(o.data, stem), um / o.px) for stem, um in train]
    images = [torch.from_numpy(i).float()[None].expand(3, *i.shape).contiguous() for i, _ in data]
    labels = [torch.from_numpy(c).long() for _, c in data]
    area = np.array([c.numel() for c in labels], float)
    area /= area.sum()
    counts = np.bincount(np.concatenate([c.ravel() for _, c in data]), minlength=3).astype(float)
    freq = counts / counts.sum()
    weight = torch.tensor(np.clip(np.median(freq) / freq, 0.25, 4), dtype=torch.float32)
    augment = Augment(crop=o.crop, scale=(0.8, 1.25))
    model = build(o.arch)
    opt = torch.optim.AdamW(model.parameters(), o.lr, weight_decay=0.01)
    rng = np.random.default_rng(o.seed)
    t0, step = time.perf_counter(), 0
    while True:
        share = step / o.steps if o.steps else (time.perf_counter() - t0) / (60 * o.minutes)
        if share >= 1:
            break
        lr = o.lr * (share / o.warm if share < o.warm else
                     0.5 * (1 + math.cos(math.pi * (share - o.warm) / (1 - o.warm))))
        for g in opt.param_groups:
            g["lr"] = lr
        xs, ys = [], []
        for k in rng.choice(len(images), o.batch, p=area):
            x, y = augment(images[k], labels[k])
            xs.append(norm(x))
            ys.append(y)
        x, y = torch.stack(xs), torch.stack(ys)
        lg = F.interpolate(logits_of(model, x), size=y.shape[-2:], mode="bilinear",
                           align_corners=False)
        ce = F.cross_entropy(lg, y, weight=weight, ignore_index=-100)
        valid = (y >= 0).unsqueeze(1)
        pr = lg.softmax(1) * valid
        oh = F.one_hot(y.clamp(min=0), 3).permute(0, 3, 1, 2).float() * valid
        inter, den = (pr * oh).sum((0, 2, 3)), pr.sum((0, 2, 3)) + oh.sum((0, 2, 3))
        loss = ce + (1 - (2 * inter + 1) / (den + 1))[1:].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
    elapsed = time.perf_counter() - t0

    model.eval()
    scores = {}
    with torch.inference_mode():
        for rat in hold:
            for stem, um in RATS[rat]:
                image, truth = load_pair(o.data, stem)
                small, _ = resample(image, None, um / o.px)
                h, w = small.shape
                ph, pw = (-h) % 32, (-w) % 32
                x = torch.from_numpy(small).float()[None].expand(3, h, w)
                x = F.pad(x[None], (0, pw, 0, ph), mode="reflect")
                lg = logits_of(model, norm(x[0])[None])
                lg = F.interpolate(lg, size=(h + ph, w + pw), mode="bilinear",
                                   align_corners=False)[..., :h, :w]
                pred = F.interpolate(lg, size=image.shape, mode="bilinear",
                                     align_corners=False).argmax(1)[0].numpy()
                scores[stem] = {n: round(float(((pred == c) & (truth == c)).sum()
                                               / max(1, ((pred == c) | (truth == c)).sum())), 4)
                                for c, n in ((1, "myelin"), (2, "axon"))}
    line = {"tag": o.tag, "arch": o.arch, "steps": step, "lr": o.lr, "hold": hold,
            "crops_per_s": round(step * o.batch / elapsed, 2), "iou": scores}
    print(json.dumps(line), flush=True)
    o.results.parent.mkdir(parents=True, exist_ok=True)
    with open(o.results, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
