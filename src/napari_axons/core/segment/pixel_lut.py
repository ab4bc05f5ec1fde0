"""An image processor's per-pixel mapping as a lookup table, where it is one.

Hugging Face image processors turn a uint8 RGB tile into float pixel values by
resizing it to the model's input size, then rescaling and normalising each
channel. When the tile already has the input size the resize is the identity,
and what is left maps each channel's 256 possible values to 256 floats: a
lookup table does the same work in a fraction of the time (on 512 x 512 tiles
about 1.8 ms against 6.5 ms for SegFormer's processor).

:class:`PixelLUT` is only ever built by asking the processor itself, and only
kept when it reproduces the processor's output *bit for bit* on two probe tiles
of the tile's size with different statistics (so a processor that resizes,
crops or normalises per image is never replaced). Otherwise
:func:`build_pixel_lut` returns None and the processor is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PixelLUT", "build_pixel_lut"]


class PixelLUT:
    """Per-channel lookup table from uint8 values to the processor's pixel values.

    Parameters
    ----------
    table : numpy.ndarray
        ``(3, 256)`` floats: ``table[c, v]`` is the processor's output for
        value ``v`` of channel ``c``.
    """

    def __init__(self, table: np.ndarray):
        self.table = np.ascontiguousarray(table)

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 tiles -> ``(N, 3, H, W)`` pixel values."""
        n, h, w, _ = tiles.shape
        out = np.empty((n, 3, h, w), self.table.dtype)
        for c in range(3):
            out[:, c] = self.table[c][tiles[..., c]]
        return out


def _probes(height: int, width: int) -> list[np.ndarray]:
    """Two tiles holding every value on every channel: noise, and a nearly black one."""
    rng = np.random.default_rng(20261124)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    dark = np.zeros((height, width, 3), np.uint8)
    dark[::7, ::5] = rng.integers(0, 256, dark[::7, ::5].shape, dtype=np.uint8)
    ramp = np.arange(256, dtype=np.uint8)[:, None]
    for probe in (noise, dark):
        probe.reshape(-1, 3)[:256] = ramp
        probe.reshape(-1, 3)[-256:] = ramp[::-1]
    return [noise, dark]


def build_pixel_lut(processor: Any, height: int, width: int) -> PixelLUT | None:
    """The processor's mapping for ``height x width`` tiles as a table, if it is one.

    Parameters
    ----------
    processor : callable
        A Hugging Face image processor (``processor(images=..., return_tensors="pt",
        input_data_format="channels_last")["pixel_values"]``).
    height, width : int
        Tile size. Tiles of at least 512 pixels only (smaller ones cannot hold
        a probe's two runs of the 256 values).

    Returns
    -------
    PixelLUT or None
        None when the processor changes the size, or does anything a per-channel
        table cannot reproduce exactly, or fails on the probes.
    """
    if height * width < 512:
        return None
    table = None
    for probe in _probes(height, width):
        try:
            ref = processor(images=[probe], return_tensors="pt",
                            input_data_format="channels_last")["pixel_values"]
            ref = ref.numpy()
        except Exception:
            return None
        if ref.shape != (1, 3, height, width) or ref.dtype.kind != "f":
            return None
        if table is None:
            flat = ref[0].reshape(3, -1)
            table = flat[:, :256].copy()
            if not np.array_equal(flat[:, -256:], table[:, ::-1]):
                return None
        lut = PixelLUT(table)
        mine = lut(probe[None])
        if mine.dtype != ref.dtype or mine.tobytes() != np.ascontiguousarray(ref).tobytes():
            return None  # compared bit for bit (0.0 and -0.0 differ)
    return lut
