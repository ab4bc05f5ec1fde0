"""Masks on disk: the slide-sized uint8 Zarr mask store, and reading tile boxes from it (no Qt).

:class:`MaskStore` is the single source of truth for masks: one per (image,
downsample factor) holds the class map of the whole *working* image (the image
as tiled: downsampled when a factor is set), in working-image pixels, 0
background and ``k`` class ``k`` of the session's class table, chunked like the
tiles, with a max-pooled pyramid for a slide-wide overview (thin objects stay
visible because pooling takes the maximum; where classes meet, the higher
index shows in the reduced levels). Segmentation writes into it, edits are
written back to it, and export reads each tile's box from it.

The napari widget keeps the masks of a whole *working* image (the image as
tiled: downsampled when a factor is set) in a Zarr store on disk (level 0 of
its ``MaskStore``, in working-image pixels, 0 background and anything else
foreground). :class:`ZarrMaskReader` is the ``mask_reader`` an
:class:`~napari_axons.core.export.ExportJob` needs to export those masks.
It holds nothing but the store's path, so it pickles to a few bytes and runs on
``dask.distributed`` workers too
(:func:`~napari_axons.core.export.cluster.run_distributed`): each worker process
opens the store once, by path.

Shared filesystem: a worker reads the store by path, so it must see it under
the same absolute path as the client: any folder on the same machine for a
local cluster, a shared folder (NFS, a cluster filesystem) for a remote
scheduler. The widget puts the store it exports from inside the export folder,
which the workers must see anyway.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..geometry import TileBox

__all__ = ["MaskStore", "ZarrMaskReader", "read_padded"]


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
    class map, the stored values, 0 outside the store (where a tile hangs over
    the image border); the export's writer turns it into file bytes (0/255 with
    one class). The store is opened lazily,
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
        """The class map of tile ``box`` (uint8); ``plan`` is not needed."""
        return self.read(box)


class MaskStore:
    """A ``height`` x ``width`` uint8 mask on disk, with a max-pooled display pyramid.

    Parameters
    ----------
    height, width : int
        Working-image size in pixels.
    chunk : int
        Chunk side of level 0 (the tile size).
    root : str or Path, optional
        Folder under which the temporary store is created (default: the system
        temporary folder). The store is deleted by :meth:`close`.
    min_side : int
        Pyramid levels are added (halving each time) until the longer side is
        at most this.
    """

    def __init__(
        self,
        height: int,
        width: int,
        *,
        chunk: int = 512,
        root: str | Path | None = None,
        min_side: int = 1024,
        copy_from: str | Path | None = None,
    ):
        import zarr

        if height < 1 or width < 1:
            raise ValueError(f"mask store must be at least 1 x 1, got {width} x {height}")
        self.height, self.width = int(height), int(width)
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="napari-axons-masks-", dir=root))
        self._levels = []
        self._stale: list[tuple[int, int, int, int]] = []  # written, reduced levels not yet
        if copy_from is not None:  # a saved store (see save): same shape, its pyramid
            shutil.copytree(copy_from, self.path / "masks.zarr")
            group = zarr.open_group(str(self.path / "masks.zarr"), mode="r+")
            self._levels = [group[k] for k in sorted(group.array_keys(), key=int)]
            if not self._levels or self._levels[0].shape != (self.height, self.width):
                shape = self._levels[0].shape if self._levels else None
                self.close()
                raise ValueError(f"{copy_from}: a mask store of shape {shape}, "
                                 f"expected {(self.height, self.width)}")
            return
        group = zarr.open_group(str(self.path / "masks.zarr"), mode="w")
        h, w, k = self.height, self.width, 0
        while True:
            c = max(64, min(chunk, 512))
            self._levels.append(
                group.create_array(str(k), shape=(h, w), chunks=(min(c, h), min(c, w)),
                                   dtype="uint8", fill_value=0)
            )
            if max(h, w) <= min_side:
                break
            h, w, k = -(-h // 2), -(-w // 2), k + 1

    def save(self, dest: str | Path) -> Path:
        """Copy the whole store (every level) to a new folder ``dest``; reopen with ``copy_from``."""
        self.update_pyramid()
        dest = Path(dest)
        shutil.copytree(self.path / "masks.zarr", dest)
        return dest

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def levels(self) -> list:
        """The pyramid as Zarr arrays, full size first (for a multiscale Labels layer)."""
        return list(self._levels)

    def read(self, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
        """The box ``[y0:y1, x0:x1]`` as a new uint8 array; zero outside the store."""
        return read_padded(self._levels[0], y0, x0, y1, x1)

    def read_box(self, box: TileBox) -> np.ndarray:
        """A tile's box (zero where the tile hangs over the image border)."""
        return self.read(box.y, box.x, box.y1, box.x1)

    def write(self, y0: int, x0: int, data: np.ndarray, keep: np.ndarray | None = None,
              *, pyramid: bool = True) -> None:
        """Write ``data`` with its top-left corner at ``(y0, x0)``.

        Parts outside the store are dropped. Where ``keep`` (a boolean array of
        ``data``'s shape) is True, the stored pixels are left unchanged. With
        ``pyramid=False`` the reduced levels are brought up to date later, by
        :meth:`update_pyramid` (many writes in a row: far fewer Zarr writes).
        """
        data = np.asarray(data)
        h, w = data.shape
        cy0, cx0 = max(y0, 0), max(x0, 0)
        cy1, cx1 = min(y0 + h, self.height), min(x0 + w, self.width)
        if cy1 <= cy0 or cx1 <= cx0:
            return
        part = data[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0].astype(np.uint8, copy=False)
        if keep is not None:
            keep = keep[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
            if keep.any():
                old = self._levels[0][cy0:cy1, cx0:cx1]
                part = np.where(keep, old, part)
        self._levels[0][cy0:cy1, cx0:cx1] = part
        if pyramid:
            self._update_pyramid(cy0, cx0, cy1, cx1, part)
        else:
            self._stale.append((cy0, cx0, cy1, cx1))

    def update_pyramid(self, max_pixels: int = 64 * 2**20) -> None:
        """Bring the reduced levels up to date after writes made with ``pyramid=False``.

        Consecutive boxes are handled together (one read of level 0, one write
        per level) while their bounding box stays under ``max_pixels``.
        """
        stale, self._stale = self._stale, []
        group = None
        for box in stale:
            if group is not None:
                merged = (min(group[0], box[0]), min(group[1], box[1]),
                          max(group[2], box[2]), max(group[3], box[3]))
                if (merged[2] - merged[0]) * (merged[3] - merged[1]) <= max_pixels:
                    group = merged
                    continue
                self._update_pyramid(*group)
            group = box
        if group is not None:
            self._update_pyramid(*group)

    def _update_pyramid(self, y0: int, x0: int, y1: int, x1: int,
                        written: np.ndarray | None = None) -> None:
        """Recompute the reduced levels over the box just written to level 0.

        Level ``k`` is the maximum over ``2^k x 2^k`` blocks. The box is widened to
        the coarsest level's blocks and read once (not at all when it is already
        aligned: ``written`` is that block), then halved level by level in memory.
        """
        n = len(self._levels)
        if n == 1:
            return
        f = 2 ** (n - 1)
        ay0, ax0 = (y0 // f) * f, (x0 // f) * f
        ay1, ax1 = min(self.height, -(-y1 // f) * f), min(self.width, -(-x1 // f) * f)
        if written is not None and (ay0, ax0, ay1, ax1) == (y0, x0, y1, x1):
            block = written
        else:
            block = self._levels[0][ay0:ay1, ax0:ax1]
        for k in range(1, n):
            ph, pw = -(-block.shape[0] // 2) * 2, -(-block.shape[1] // 2) * 2
            if (ph, pw) != block.shape:  # the image's ragged edge: zeros never win a max
                block = np.pad(block, ((0, ph - block.shape[0]), (0, pw - block.shape[1])))
            block = np.maximum(np.maximum(block[0::2, 0::2], block[1::2, 0::2]),
                               np.maximum(block[0::2, 1::2], block[1::2, 1::2]))
            ky0, kx0 = ay0 >> k, ax0 >> k
            self._levels[k][ky0 : ky0 + block.shape[0], kx0 : kx0 + block.shape[1]] = block

    @property
    def level0_path(self) -> Path:
        """The folder of the full-size Zarr array (what a ``ZarrMaskReader`` can read)."""
        return self.path / "masks.zarr" / "0"

    def snapshot(self, dest: str | Path, boxes: Iterable[TileBox] | None = None) -> Path:
        """Copy level 0 (only the chunks under ``boxes``, or all) to a new array at ``dest``.

        The copy is a frozen view of the store for an export that runs while the
        user keeps editing: read it with
        :class:`~napari_axons.core.session.maskstore.ZarrMaskReader`. Chunks are copied
        as files (no decoding), so the cost is that of the masks' compressed bytes.

        Returns
        -------
        Path
            ``dest``, a Zarr array of the store's shape and chunks.
        """
        src, dest = self.level0_path, Path(dest)
        if dest.exists():
            raise FileExistsError(f"{dest}: already exists")
        cy, cx = self._levels[0].chunks
        wanted = None
        if boxes is not None:
            wanted = set()
            for b in boxes:
                for i in range(max(b.y, 0) // cy, -(-min(b.y1, self.height) // cy)):
                    for j in range(max(b.x, 0) // cx, -(-min(b.x1, self.width) // cx)):
                        wanted.add((i, j))
        dest.mkdir(parents=True)
        shutil.copy2(src / "zarr.json", dest / "zarr.json")
        for chunk in (src / "c").glob("*/*") if (src / "c").is_dir() else ():
            try:
                key = (int(chunk.parent.name), int(chunk.name))
            except ValueError:
                continue
            if wanted is None or key in wanted:
                target = dest / "c" / chunk.parent.name / chunk.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(chunk, target)
        return dest

    def clear(self) -> None:
        """Set every pixel to 0 (on every level)."""
        for level in self._levels:
            level[...] = 0

    def close(self) -> None:
        """Delete the store from disk."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __del__(self):  # pragma: no cover - best effort cleanup
        try:
            self.close()
        except Exception:
            pass
