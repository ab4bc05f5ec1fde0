"""What every segmenter shares: the protocol, the error type, tile checks.

Split from :mod:`~napari_axons.core.segment` (which re-exports the public
names) so that the segmenters and the checkpoint loader can each live in a
module of their own.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from ..common import ClassTable, ClassTableError

__all__ = ["ModelError", "Segmenter", "check_tiles", "one_class_table", "one_line"]


class ModelError(ValueError):
    """A segmenter cannot be built or used; the message is one line for the user."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


@runtime_checkable
class Segmenter(Protocol):
    """Everything the rest of napari-axons relies on in a segmenter.

    Required
    --------
    name : str
        Short name, used in label files as ``"auto:<name>"``.
    batch_size : int
        Tiles per :meth:`predict` (or ``predict_prepared``) call; the pipeline
        passes at most this many.
    classes : ClassTable
        What the values of the class maps mean (index 0: background).
    prepare(overview)
        Receive a small ``(h, w, 3)`` uint8 view of the whole image, once per
        image, before any tile of it (an image-wide threshold, ...).
    predict(tiles)
        ``(N, H, W, 3)`` uint8 tiles -> ``(N, H, W)`` uint8 class maps (0 the
        background, ``k`` class ``k`` of :attr:`classes`). Old-style 0/255 masks
        of a one-class model are accepted (any non-zero value is class 1). Must be
        deterministic per tile (not depend on the other tiles of the batch) and
        safe to call from several threads at once. Must not open thread pools:
        the pipeline (:class:`napari_axons.core.export.tilepath.TilePath`) decides how
        model calls are scheduled.
    info()
        A JSON-able description for the export manifest (``weights_sha256``,
        when present, is compared on resume).

    Optional (read with ``getattr``)
    --------------------------------
    streams : int
        Model calls the pipeline may run at once (default 1), each on its own
        thread of :func:`~napari_axons.core.segment.model_executor`.
    stream_threads : int
        Torch threads for each of those threads (default: left alone).
    pixel_size_um : float or None
        The pixel size the segmenter was made for (micrometres), if known. A
        segmenter that states it takes the tiles' own pixel size as a second
        argument of ``predict(tiles, image_pixel_size)`` and ``preprocess``
        (micrometres or a ``PixelSize``; None: unknown) and segments them at
        its own (see ``HFSegmenter.resampling_for``).
    preprocess(tiles) / predict_prepared(prepared)
        Split :meth:`predict` in two, ``predict(t) == predict_prepared(preprocess(t))``,
        so that the pipeline runs the preprocessing on its I/O threads.
    state() / set_state(state)
        What :meth:`prepare` computed, as a JSON-able dict, and adopting it, so that
        dask workers predict exactly as the client's prepared instance.
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
