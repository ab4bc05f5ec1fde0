"""The single source of truth for masks in napari: a slide-sized uint8 Zarr store.

One :class:`MaskStore` per (image, downsample factor) holds the mask of the whole
*working* image (the image as tiled: downsampled when a factor is set) on disk, in a
temporary cache folder, chunked like the tiles. Segmentation writes into it, the
editable Labels window is read from it and written back to it, and export reads each
tile's box from it. A max-pooled pyramid (levels 1, 2, ... at 1/2, 1/4, ... of the
size) is kept up to date on every write, so a read-only multiscale Labels layer can
show the slide-wide overview without reading the full-resolution level (thin axons
stay visible because pooling takes the maximum).

Values: 0 is background, anything else foreground (the widget writes 1; export
writes 0/255 PNGs).

Overlapping tiles (the shifted edge tiles, or ``overlap > 0``) share pixels of the
store. The rule (:func:`protected_pixels`): when a tile is *segmented*, its mask is
written into its box **except** on pixels covered by a tile that comes later in the
seed's grid order and already holds a mask (segmented, edited or exported), and
except on pixels of any other tile the user has edited. So, within one run, the
later tile in grid order wins the shared pixels, re-running an earlier tile never
changes a later one, and hand edits are never overwritten behind the user's back.
Export reads each tile's box from the store, so two exported tiles always agree on
the pixels they share.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..core.grid import TileBox, TileGrid
from ..core.maskstore import read_padded

__all__ = ["MaskStore", "protected_pixels", "HAS_MASK"]

#: Tile statuses whose pixels count as "holding a mask" for the overlap rule.
HAS_MASK = frozenset({"segmented", "edited", "exported"})


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
    ):
        import zarr

        if height < 1 or width < 1:
            raise ValueError(f"mask store must be at least 1 x 1, got {width} x {height}")
        self.height, self.width = int(height), int(width)
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="napari-axons-masks-", dir=root))
        group = zarr.open_group(str(self.path / "masks.zarr"), mode="w")
        self._levels = []
        self._stale: list[tuple[int, int, int, int]] = []  # written, reduced levels not yet
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
        :class:`~napari_axons.core.maskstore.ZarrMaskReader`. Chunks are copied
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


def protected_pixels(
    grid: TileGrid, box: TileBox, status: dict[int, str], exclude: Iterable[int] = ()
) -> np.ndarray | None:
    """Pixels of ``box`` that segmenting it must not overwrite (the overlap rule).

    Parameters
    ----------
    grid : TileGrid
    box : TileBox
        The tile being written.
    status : dict
        ``{tile index: status}``; missing tiles are ``"not segmented"``.
    exclude : iterable of int
        Edited tiles the user agreed to overwrite (they are being re-segmented).

    Returns
    -------
    ndarray of bool or None
        ``box``-shaped; True where a later tile in grid order holds a mask or
        another (not excluded) tile was edited. None when nothing is protected.
    """
    excluded = set(exclude)
    keep = None
    for other in grid.tiles:
        if other.index == box.index:
            continue
        st = status.get(other.index)
        if st is None:
            continue
        later = other.index > box.index and st in HAS_MASK
        edited = st == "edited" and other.index not in excluded
        if not (later or edited):
            continue
        y0, y1 = max(box.y, other.y), min(box.y1, other.y1)
        x0, x1 = max(box.x, other.x), min(box.x1, other.x1)
        if y1 <= y0 or x1 <= x0:
            continue
        if keep is None:
            keep = np.zeros((box.height, box.width), bool)
        keep[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = True
    return keep
