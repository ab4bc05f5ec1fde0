"""What every segmenter shares: the protocol, the error type, tile checks.

Split from :mod:`~napari_axons.core.segment` (which re-exports the public
names) so that the segmenters and the checkpoint loader can each live in a
module of their own.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .classes import ClassTable, ClassTableError

__all__ = ["ModelError", "Segmenter", "check_tiles", "one_class_table", "one_line"]


class ModelError(ValueError):
    """A segmenter cannot be built or used; the message is one line for the user."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


@runtime_checkable
class Segmenter(Protocol):
    """What the pipeline needs from a segmenter.

    Attributes
    ----------
    name : str
        Short name, used in label files as ``"auto:<name>"``.
    batch_size : int
        How many tiles the caller should pass to :meth:`predict` at once.
    classes : ClassTable
        What the values of the class maps mean (index 0: background).
    pixel_size_um : float or None
        The pixel size the segmenter was made for (micrometres), if known.
    """

    name: str
    batch_size: int
    classes: ClassTable

    def prepare(self, overview: np.ndarray) -> None:
        """Receive a small RGB uint8 view of the whole image, once, before tiling."""
        ...

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        """Class maps (N, H, W) uint8 (values index ``classes``) for tiles (N, H, W, 3) uint8."""
        ...

    def info(self) -> dict:
        """A JSON-able description for the export manifest."""
        ...


def one_class_table(label_class: object, who: str) -> ClassTable:
    """Background + one class named ``label_class`` (the seed's one-class table)."""
    try:
        return ClassTable.from_names([str(label_class)])
    except ClassTableError as exc:
        raise ModelError(f"{who}: label_class {label_class!r}: {exc}") from None


def check_tiles(tiles: np.ndarray) -> np.ndarray:
    """``tiles`` as an array, or ValueError unless it is ``(N, H, W, 3)`` uint8."""
    tiles = np.asarray(tiles)
    if tiles.ndim != 4 or tiles.shape[-1] != 3 or tiles.dtype != np.uint8:
        raise ValueError(
            f"tiles must be a (N, H, W, 3) uint8 array, got shape {tiles.shape} dtype {tiles.dtype}"
        )
    return tiles
