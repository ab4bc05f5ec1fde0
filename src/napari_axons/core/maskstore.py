"""Masks on disk: read tile boxes from a slide-sized uint8 Zarr mask store (no Qt).

The napari widget keeps the masks of a whole *working* image (the image as
tiled: downsampled when a factor is set) in a Zarr store on disk (level 0 of
its ``MaskStore``, in working-image pixels, 0 background and anything else
foreground). :class:`ZarrMaskReader` is the ``mask_reader`` an
:class:`~napari_axons.core.pipeline.ExportJob` needs to export those masks.
It holds nothing but the store's path, so it pickles to a few bytes and runs on
``dask.distributed`` workers too
(:func:`~napari_axons.core.distributed.run_distributed`): each worker process
opens the store once, by path.

Shared filesystem: a worker reads the store by path, so it must see it under
the same absolute path as the client: any folder on the same machine for a
local cluster, a shared folder (NFS, a cluster filesystem) for a remote
scheduler. The widget puts the store it exports from inside the export folder,
which the workers must see anyway.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .grid import TileBox

__all__ = ["ZarrMaskReader", "read_padded"]


def read_padded(array, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    """The box ``[y0:y1, x0:x1]`` of a 2-D array as a new uint8 array, zero outside it.

    Parameters
    ----------
    array : array-like
        A 2-D array supporting slicing (a Zarr array, numpy array, ...).
    y0, x0, y1, x1 : int
        The box; it may hang over any border of ``array`` (or lie outside it).

    Returns
    -------
    numpy.ndarray
        ``(y1 - y0, x1 - x0)`` uint8 (empty when the box is empty).
    """
    h, w = array.shape[:2]
    out = np.zeros((max(0, y1 - y0), max(0, x1 - x0)), np.uint8)
    cy0, cx0 = max(y0, 0), max(x0, 0)
    cy1, cx1 = min(y1, h), min(x1, w)
    if cy1 > cy0 and cx1 > cx0:
        out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = array[cy0:cy1, cx0:cx1]
    return out


class ZarrMaskReader:
    """A picklable ``mask_reader(plan, box)`` over a Zarr mask store, by path.

    Parameters
    ----------
    store_path : str or Path
        A 2-D uint8 Zarr array in working-image pixels, or a Zarr group whose
        level ``"0"`` is one (the layout of the widget's mask store).

    Notes
    -----
    Calling it returns the tile's box as a ``(box.height, box.width)`` uint8
    array, 255 where the store is non-zero, 0 elsewhere and outside the store
    (where a tile hangs over the image border). The store is opened lazily,
    once per process; only the path is pickled. Workers must see the path (see
    the module docstring).
    """

    def __init__(self, store_path: str | Path):
        self.store_path = str(Path(store_path).resolve())
        self._array = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"store_path": self.store_path}

    def __setstate__(self, state: dict) -> None:
        self.store_path = state["store_path"]
        self._array = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ZarrMaskReader({self.store_path!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ZarrMaskReader) and other.store_path == self.store_path

    def __hash__(self) -> int:
        return hash(("ZarrMaskReader", self.store_path))

    @property
    def array(self):
        """The level-0 Zarr array (opened read-only on first use)."""
        if self._array is None:
            with self._lock:
                if self._array is None:
                    import zarr

                    node = zarr.open(self.store_path, mode="r")
                    if not hasattr(node, "shape"):  # a group: level 0
                        node = node["0"]
                    if node.ndim != 2:
                        raise ValueError(f"{self.store_path}: a mask store must be 2-D, "
                                         f"got shape {node.shape}")
                    self._array = node
        return self._array

    def read(self, box: TileBox) -> np.ndarray:
        """The raw stored values of ``box`` (uint8, zero outside the store)."""
        return read_padded(self.array, box.y, box.x, box.y1, box.x1)

    def __call__(self, plan, box: TileBox) -> np.ndarray:
        """The mask of tile ``box`` (0/255 uint8); ``plan`` is not needed."""
        return np.where(self.read(box) > 0, 255, 0).astype(np.uint8)
