"""Where a tile's pixels end up in the model's input, and how logits get back to them.

Hugging Face image processors were written for whole photographs: besides the
per-pixel rescale/normalise, they may *resize* (to a fixed size, or the
shortest edge to a length, keeping the aspect ratio or rounding to a multiple),
*centre-crop* (MobileViT, MobileNetV2, BEiT and ConvNeXt's ``crop_pct``), and
*pad* (DPT's ``size_divisor``, the generic ``pad_size``). A crop discards the
tile's border: its logits cannot be stretched back over the whole tile (a
resize 544 + crop 512 shifted masks by up to 15 px and lost every object near
the edges).

The rule, for every processor:

1. **Crops are skipped**: the processor is called with its centre crop off
   (``do_center_crop=False``; for ConvNeXt's ``crop_pct``, the shortest edge
   is resized to ``shortest_edge / crop_pct`` as it would have been before the
   crop, and nothing is cut). The model sees every pixel of the tile, at the
   scale the processor's resize gives it: semantic-segmentation models are
   fully convolutional, and the crop is a training-time convention.
2. **Resizes are kept** (they set the scale the model was trained at) and
   undone by resizing the logits to the tile (bilinear, ``align_corners=False``).
3. **Padding is kept** (a model may need a multiple of its patch size) and
   undone by cutting the padded margins off the logits before that resize.

Nothing here trusts the processor's options to say what it does: the geometry
is *measured* once per tile size, by running the processor on probe tiles
(white, black, and a ramp along each axis): the tile's footprint in the model
input is where white and black differ; the ramps must then show the whole tile
stretched over that footprint, edge to edge (within one tile pixel). A
processor that still crops, shifts or flips the tile fails that check and is
refused with one line, rather than giving shifted masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GeometryError", "TileGeometry", "crop_overrides", "measure_geometry"]


class GeometryError(ValueError):
    """The processor maps tiles in a way that cannot be undone (one line)."""


def _size_get(size: Any, key: str) -> Any:
    if size is None:
        return None
    if isinstance(size, dict):
        return size.get(key)
    return getattr(size, key, None)


def crop_overrides(processor: Any) -> dict:
    """Keyword arguments that turn the processor's crops off (rule 1 above).

    Parameters
    ----------
    processor : transformers image processor
        Any; only its ``do_center_crop``, ``do_resize``, ``size`` and
        ``crop_pct`` attributes are read.

    Returns
    -------
    dict
        Empty when the processor does not crop.
    """
    out: dict = {}
    if getattr(processor, "do_center_crop", False):
        out["do_center_crop"] = False
    crop_pct = getattr(processor, "crop_pct", None)
    if crop_pct is not None and getattr(processor, "do_resize", False):
        shortest = _size_get(getattr(processor, "size", None), "shortest_edge")
        # ConvNeXt: below 384 it resizes the shortest edge to shortest/crop_pct and
        # crops (shortest, shortest); at or above 384 it warps without cropping
        if shortest and shortest < 384 and float(crop_pct) < 1.0:
            out["size"] = {"shortest_edge": int(shortest / float(crop_pct))}
            out["crop_pct"] = 1.0
    return out


@dataclass(frozen=True)
class TileGeometry:
    """How a ``height x width`` tile sits in the model input.

    Attributes
    ----------
    overrides : dict
        Keyword arguments passed to the processor for every tile (crops off).
    tile : (int, int)
        ``(height, width)`` of the tile, px.
    frame : (int, int)
        ``(H, W)`` of the processor's ``pixel_values``, px.
    box : (int, int, int, int)
        ``(top, left, bottom, right)``: the tile's footprint in the frame, in
        frame px (the rest is padding).
    """

    overrides: dict = field(default_factory=dict)
    tile: tuple[int, int] = (0, 0)
    frame: tuple[int, int] = (0, 0)
    box: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def padded(self) -> bool:
        """Whether the frame holds padding around the tile."""
        return self.box != (0, 0, *self.frame)

    def to_tile(self, logits: Any) -> Any:
        """Logits ``(n, C, h, w)`` over the frame -> ``(n, C, height, width)`` over the tile.

        Without padding this is one bilinear resize (``align_corners=False``),
        as transformers' own ``post_process_semantic_segmentation`` does.
        With padding, the logits are first resized to the frame, the padding
        is cut off, and the rest is resized to the tile.
        """
        import torch.nn.functional as F

        th, tw = self.tile
        if self.padded:
            if tuple(logits.shape[-2:]) != self.frame:
                logits = F.interpolate(logits, size=self.frame, mode="bilinear",
                                       align_corners=False)
            top, left, bottom, right = self.box
            logits = logits[..., top:bottom, left:right]
        if tuple(logits.shape[-2:]) != (th, tw):
            logits = F.interpolate(logits, size=(th, tw), mode="bilinear", align_corners=False)
        return logits


def _run(processor: Any, tile: np.ndarray, overrides: dict) -> np.ndarray:
    out = processor(images=[tile], return_tensors="pt", input_data_format="channels_last",
                    **overrides)["pixel_values"]
    return np.asarray(out.float().numpy(), np.float64)[0]


def _edges(values: np.ndarray, length: int, span: int) -> tuple[float, float]:
    """Tile coordinate (px) the footprint's first and last sample stand for, by a line fit."""
    n = values.size
    # skip samples whose resampling kernel reaches past the tile edge
    margin = min(n // 4, int(np.ceil(2 * n / length)) + 2)
    j = np.arange(n, dtype=np.float64)
    sl = slice(margin, n - margin)
    slope, intercept = np.polyfit(j[sl], values[sl], 1)
    return intercept, slope * (n - 1) + intercept


def measure_geometry(processor: Any, height: int, width: int,
                     overrides: dict | None = None) -> TileGeometry:
    """Measure where a ``height x width`` tile lands in the processor's output.

    Parameters
    ----------
    processor : callable
        A Hugging Face image processor.
    height, width : int
        Tile size, px.
    overrides : dict, optional
        Keyword arguments for the processor (default: :func:`crop_overrides`).

    Returns
    -------
    TileGeometry

    Raises
    ------
    GeometryError
        If the processor's output does not show the whole tile, edge to edge,
        in one rectangle (it crops, shifts or flips it), or fails on the probes.
    """
    if overrides is None:
        overrides = crop_overrides(processor)
    h, w = int(height), int(width)
    white = np.full((h, w, 3), 255, np.uint8)
    black = np.zeros((h, w, 3), np.uint8)
    ramp_x = np.repeat(np.round(np.linspace(0, 255, w))[None, :, None], h, 0)
    ramp_x = np.repeat(ramp_x, 3, 2).astype(np.uint8)
    ramp_y = np.ascontiguousarray(np.swapaxes(
        np.repeat(np.repeat(np.round(np.linspace(0, 255, h))[None, :, None], w, 0), 3, 2), 0, 1
    )).astype(np.uint8)
    try:
        hi, lo = _run(processor, white, overrides), _run(processor, black, overrides)
        rx, ry = _run(processor, ramp_x, overrides), _run(processor, ramp_y, overrides)
    except Exception as exc:  # the processor's own error, in one line
        msg = " ".join(str(exc).split())[:160]
        raise GeometryError(f"the image processor fails on a {h} x {w} tile "
                            f"({type(exc).__name__}: {msg})") from exc
    if hi.ndim != 3:
        raise GeometryError(f"the image processor gives pixel_values of shape {hi.shape}, "
                            "expected (channels, height, width)")
    frame = tuple(int(s) for s in hi.shape[1:])
    gain = hi - lo  # per pixel and channel: output per 255 input levels
    inside = (np.abs(gain) > 1e-3 * max(1e-12, float(np.abs(gain).max()))).all(axis=0)
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    if rows.size == 0:
        raise GeometryError("the image processor's output does not depend on the tile")
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if not inside[top:bottom, left:right].all():
        raise GeometryError("the image processor does not keep the tile as one rectangle")
    box = (top, left, bottom, right)
    safe = np.where(np.abs(gain) > 0, gain, 1.0)
    for ramp, axis, length, name in ((rx, 0, w, "width"), (ry, 1, h, "height")):
        level = ((ramp - lo) / safe)[:, top:bottom, left:right].mean(axis=0)  # 0..1
        profile = level.mean(axis=axis) * (length - 1)  # tile px along this axis
        span = profile.size
        first, last = _edges(profile, length, span)
        # a resize of the whole tile onto the footprint samples tile px (j + .5) * L / n - .5
        want_first = 0.5 * length / span - 0.5
        want_last = (span - 0.5) * length / span - 0.5
        tol = 1.0 + 0.5 * length / span
        if abs(first - want_first) > tol or abs(last - want_last) > tol:
            raise GeometryError(
                f"the image processor crops or shifts the tile along its {name}: the model "
                f"input shows tile px {max(0.0, first):.0f}-{min(length - 1.0, last):.0f} "
                f"of 0-{length - 1}, which napari-axons cannot map back to the tile"
            )
    return TileGeometry(overrides=dict(overrides), tile=(h, w), frame=frame, box=box)
