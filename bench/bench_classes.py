"""The segmenter's own cost of ``--classes all`` against the one-class rule.

``python -m bench.bench_classes``: the tiny 3-class SegFormer of the benchmark
(:func:`bench.inputs.tiny_checkpoint`) segments the same 512 x 512 tiles of the
sample with ``classes=None`` (softmax, ``prob[1] > 0.5``) and ``classes="all"``
(softmax, argmax, and the near-tie check of batched runs), the two taking turns
so that a busy machine slows both alike. Prints ms per tile for each and the
extra cost of the argmax; the whole-pipeline figure is the ``seg-3class-*``
scenarios of ``python -m bench``.
"""

from __future__ import annotations

import time

import numpy as np

from . import inputs


def main(rounds: int = 5, n_tiles: int = 8) -> int:
    from napari_axons.core.segment import load_segmenter

    folder = inputs.tiny_checkpoint("segformer-3class")
    block = inputs._sample_block()
    tiles = np.stack([block[y : y + 512, x : x + 512]
                      for y in range(0, 2048, 512) for x in range(0, 2048, 512)][:n_tiles])
    segs = {mode: load_segmenter(folder, classes=None if mode == "binary" else "all",
                                 batch_size=n_tiles // 2)
            for mode in ("binary", "all")}
    best = dict.fromkeys(segs, float("inf"))
    for _ in range(rounds):
        for mode, seg in segs.items():
            start = time.perf_counter()
            seg.predict(tiles)
            best[mode] = min(best[mode], (time.perf_counter() - start) / len(tiles))
    extra = best["all"] / best["binary"] - 1.0
    print(f"segmenter only, tiny 3-class SegFormer, 512 x 512 tiles, batches of {n_tiles // 2}: "
          f"one class {best['binary'] * 1e3:.1f} ms/tile, --classes all "
          f"{best['all'] * 1e3:.1f} ms/tile ({extra:+.1%}; limit +15%)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
