"""Mask -> Django-Labeller JSON cost per tile, next to PNG encoding cost.

``python -m bench.bench_polygons``: on the 512 x 512 tiles of the synthetic
sample (its ground-truth masks: thin and thick filaments, crossings, blobs),
times napari-axons' exact polygons and the seed's ``find_contours`` JSON, the
PNG encoding of the tile by both, and checks how well each JSON renders back
to its mask (Django-Labeller's rendering, IoU).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time

import numpy as np


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def main() -> int:
    from PIL import Image

    from napari_axons.core.common import encode_png
    from napari_axons.core.image.sample import make_axon_sample
    from napari_axons.core.labels.labelfile import dumps_labels, labels_document, mask_to_labels
    from napari_axons.core.labels.render import labels_to_mask

    from .seed_reference import binary_mask_to_json

    image, truth = make_axon_sample((2048, 2048), seed=3)
    tiles = [(image[y:y + 512, x:x + 512], truth[y:y + 512, x:x + 512])
             for y in range(0, 2048, 512) for x in range(0, 2048, 512)]
    rows = {k: [] for k in ("ours_json", "seed_json", "ours_png", "seed_png", "mask_png")}
    sizes = {"ours": [], "seed": []}
    ious = {"ours": [], "seed": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k, (rgb, mask) in enumerate(tiles):
            t = time.perf_counter()
            doc = dumps_labels(labels_document("t.png", mask_to_labels(mask)))
            rows["ours_json"].append(time.perf_counter() - t)
            path = os.path.join(tmp, f"{k}.json")
            t = time.perf_counter()
            binary_mask_to_json(mask, path, "t.png")
            rows["seed_json"].append(time.perf_counter() - t)
            t = time.perf_counter()
            encode_png(rgb, 1)
            rows["ours_png"].append(time.perf_counter() - t)
            t = time.perf_counter()
            Image.fromarray(rgb).save(io.BytesIO(), format="PNG")  # the seed: Pillow, level 6
            rows["seed_png"].append(time.perf_counter() - t)
            t = time.perf_counter()
            encode_png(mask, 1)
            rows["mask_png"].append(time.perf_counter() - t)
            sizes["ours"].append(len(doc))
            sizes["seed"].append(os.path.getsize(path))
            ious["ours"].append(_iou(labels_to_mask(json.loads(doc), mask.shape)[0], mask))
            with open(path) as fh:
                ious["seed"].append(_iou(labels_to_mask(json.load(fh), mask.shape)[0], mask))
    ms = {k: 1000 * float(np.median(v)) for k, v in rows.items()}
    print(f"{len(tiles)} tiles of 512 x 512, median ms/tile:")
    print(f"  mask -> JSON   napari-axons {ms['ours_json']:6.1f}   seed (find_contours) "
          f"{ms['seed_json']:6.1f}")
    print(f"  tile PNG       napari-axons {ms['ours_png']:6.1f}   seed (Pillow level 6)"
          f" {ms['seed_png']:6.1f}")
    print(f"  mask PNG       napari-axons {ms['mask_png']:6.1f}")
    print(f"  JSON KB/tile   napari-axons {np.mean(sizes['ours']) / 1e3:6.1f}   seed "
          f"{np.mean(sizes['seed']) / 1e3:6.1f}")
    print(f"  render-back IoU (min)  napari-axons {min(ious['ours']):.4f}   seed "
          f"{min(ious['seed']):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
