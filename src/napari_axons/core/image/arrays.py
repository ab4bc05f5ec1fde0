"""An image that lives in memory (a numpy or dask array) as a :class:`~.source.SourceImage`.

For exporting what a napari layer holds without writing it to a file first:
:func:`array_source` wraps the array, and
:func:`napari_axons.core.export.plan_array` turns it into an
:class:`~napari_axons.core.export.ImagePlan`. Regions are sliced from the
array (a dask array computes only the chunks under a region). The manifest of
such an export records ``"path": null`` and a note that there is no source file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .source import SourceImage

__all__ = ["array_source", "array_fingerprint", "IN_MEMORY_NOTE"]

#: The note an in-memory image leaves in the manifest's ``source.notes``.
IN_MEMORY_NOTE = "written from an in-memory napari layer; there is no source file"

#: Pixels sampled by :func:`array_fingerprint` (a strided view).
_SAMPLE_PIXELS = 1 << 20


class _ArrayLevel:
    """One level over a ``(y, x)`` or ``(y, x, c)`` array, as ``SourceImage`` reads levels."""

    def __init__(self, array):
        if array.ndim not in (2, 3):
            raise ValueError(f"an image array must be (y, x) or (y, x, c), got shape {array.shape}")
        if array.shape[0] < 1 or array.shape[1] < 1:
            raise ValueError(f"an image array must be at least 1 x 1, got shape {array.shape}")
        self.array = array
        self.shape = tuple(int(v) for v in array.shape)
        self.dtype = np.dtype(array.dtype)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        return np.asarray(self.array[y0:y1, x0:x1])

    def to_dask(self):
        import dask.array as da

        if isinstance(self.array, da.Array):
            return self.array
        chunks = (1024, 1024) + self.shape[2:]
        return da.from_array(self.array, chunks=chunks)

    def enable_chunk_cache(self, max_bytes: int) -> None:
        """Nothing to cache: the pixels are in memory (or cached by dask)."""


def array_fingerprint(array) -> str:
    """A content fingerprint of an in-memory image (checked when an export is resumed).

    numpy: BLAKE2b of the shape, dtype and a strided sample of about 2**20
    pixels. dask: the graph's name (a deterministic token of its inputs).
    """
    if hasattr(array, "dask") and hasattr(array, "name"):
        return f"dask:{array.name}"
    arr = np.asarray(array)
    step = max(1, int(np.sqrt(arr.shape[0] * arr.shape[1] / _SAMPLE_PIXELS)))
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((arr.shape, str(arr.dtype))).encode())
    h.update(np.ascontiguousarray(arr[::step, ::step]).tobytes())
    return "blake2b-array:" + h.hexdigest()


def array_source(array, name: str = "image") -> SourceImage:
    """Wrap a ``(y, x)`` or ``(y, x, c)`` numpy or dask array as a :class:`SourceImage`.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        The full-resolution pixels (any dtype the file readers accept: uint8,
        uint16, float, ...; converted to RGB by the same rule as files).
    name : str
        Shown where a file name would be (messages, the manifest's ``name``).

    Returns
    -------
    SourceImage
        ``format`` is ``"array"``; ``path`` is ``Path(name)`` (no such file);
        ``notes`` holds :data:`IN_MEMORY_NOTE`.

    Raises
    ------
    ValueError
        Not a 2-D or 3-D array, or an empty one.
    """
    if not hasattr(array, "ndim"):
        array = np.asarray(array)
    return SourceImage(Path(name), "array", [_ArrayLevel(array)], [IN_MEMORY_NOTE])
