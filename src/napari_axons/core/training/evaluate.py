"""Scoring a model on held-out tiles, on the tiles' own pixel grid.

The model sees each tile at the training pixel size (resampled as segmenting
does, :mod:`..resample`) and its logits come back on the tile's own pixels
before the argmax; the class maps are then compared with the tile's own labels
by :func:`..scores.score_maps`. The base model and the trained one are scored
this way on the same tiles.

torch is imported inside the functions only.
"""

from __future__ import annotations

import numpy as np

from ..geometry.resample import Resampling
from ..labels.scores import Scores, score_maps

__all__ = ["predict_tiles", "score_model"]


def predict_tiles(model, processor, images, factors, device: str) -> list[np.ndarray]:
    """Class maps ``(H, W)`` uint8 of ``images`` (``(H, W, 3)`` uint8), one at a time.

    ``factors[i]`` is the model's pixels per pixel of ``images[i]`` (1.0: none).
    """
    import torch

    out = []
    model.eval()
    with torch.inference_mode():
        for im, f in zip(images, factors, strict=True):
            r = Resampling(float(f))
            seen = r.to_model(im[None])[0] if f != 1.0 else im
            pv = processor(images=[seen], return_tensors="pt",
                           input_data_format="channels_last")["pixel_values"].to(device)
            logits = model(pixel_values=pv).logits.float()
            logits = r.to_tile(logits, im.shape[:2])
            out.append(logits.argmax(1)[0].to("cpu").numpy().astype(np.uint8))
    return out


def score_model(model, processor, tiles, names, device: str) -> tuple[Scores, list[np.ndarray]]:
    """``(scores, class maps)`` of ``model`` on :class:`~.samples.Tiles` kept with ``native``."""
    images = [im for im, _ in tiles.native]
    truths = [lab for _, lab in tiles.native]
    preds = predict_tiles(model, processor, images, tiles.factors, device)
    return score_maps(preds, truths, names), preds
