"""Hand edits in slide coordinates: which full-resolution pixels the user painted, and with what.

Tile statuses belong to one grid; a change of tile size, overlap or downsample
factor makes a new grid. Edits must outlive grids, so :class:`EditRecord`
keeps them in **full-resolution (source) pixels**: a sparse uint8 Zarr array of
the source image's size, ``0`` where nothing was painted and ``k + 1`` where the
user last painted class ``k`` (``1``: erased to background), plus the set of
its chunks that hold any edit (so "is anything edited here?" costs nothing for
the rest of the slide). Only touched chunks are ever written.

A stroke painted at downsample ``f`` covers, for each working pixel, the
full-resolution pixels under it (:mod:`.coords`). Read back at any factor, a
working pixel is *edited* when any full-resolution pixel under it is, and its
value is the highest class painted there (so a one-pixel stroke painted at full
resolution still shows at factor 3).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..geometry import full_box, full_span, working_index

__all__ = ["EditRecord"]

CHUNK = 512


class EditRecord:
    """The hand edits of one image, in full-resolution pixels (on disk).

    Parameters
    ----------
    height, width : int
        Full-resolution image size in pixels.
    root : str or Path, optional
        Folder for the temporary Zarr array (default: the system's); deleted by
        :meth:`close`.
    copy_from : str or Path, optional
        A record written by :meth:`save` (its copy is used; the saved one is not
        changed).

    Raises
    ------
    ValueError
        ``copy_from`` holds a record of another shape.
    """

    def __init__(self, height: int, width: int, *, root: str | Path | None = None,
                 copy_from: str | Path | None = None):
        import zarr

        self.height, self.width = int(height), int(width)
        if root is not None:
            Path(root).mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix="napari-axons-edits-", dir=root))
        where = str(self.path / "edits.zarr")
        if copy_from is not None:
            shutil.copytree(copy_from, where)
            self._array = zarr.open_array(where, mode="r+")
            if self._array.shape != (self.height, self.width):
                shape = self._array.shape
                self.close()
                raise ValueError(f"{copy_from}: hand edits of a {shape[1]} x {shape[0]} image, "
                                 f"expected {self.width} x {self.height}")
            meta = Path(where) / "edited_chunks.json"
            self.chunks = {tuple(c) for c in json.loads(meta.read_text())} if meta.exists() else set()
        else:
            self._array = zarr.create_array(where, shape=(self.height, self.width),
                                            chunks=(CHUNK, CHUNK), dtype="uint8", fill_value=0)
            self.chunks: set[tuple[int, int]] = set()

    # -- writing ------------------------------------------------------------
    def record(self, y0: int, x0: int, values: np.ndarray, changed: np.ndarray,
               working_shape: tuple[int, int]) -> None:
        """Record that the working pixels ``changed`` (bool) now hold ``values`` (class maps).

        Parameters
        ----------
        y0, x0 : int
            Working-pixel position of ``values[0, 0]``.
        values : (h, w) uint8
            The class map after the edit.
        changed : (h, w) bool
            The pixels the user changed.
        working_shape : (int, int)
            Size of the working image the edit was made on.
        """
        changed = np.asarray(changed, bool)
        if not changed.any():
            return
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        by0, by1, bx0, bx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        wy0, wx0 = y0 + by0, x0 + bx0
        fy0, fx0, fy1, fx1 = full_box(wy0, wx0, y0 + by1, x0 + bx1, self.shape, working_shape)
        if fy1 <= fy0 or fx1 <= fx0:
            return
        iy = working_index(fy0, fy1, self.height, working_shape[0]) - wy0
        ix = working_index(fx0, fx1, self.width, working_shape[1]) - wx0
        sub_changed = changed[by0:by1, bx0:bx1][np.ix_(iy, ix)]
        sub_values = np.asarray(values, np.uint8)[by0:by1, bx0:bx1][np.ix_(iy, ix)]
        old = self._array[fy0:fy1, fx0:fx1]
        self._array[fy0:fy1, fx0:fx1] = np.where(sub_changed, sub_values + np.uint8(1), old)
        for cy in range(fy0 // CHUNK, -(-fy1 // CHUNK)):
            for cx in range(fx0 // CHUNK, -(-fx1 // CHUNK)):
                self.chunks.add((cy, cx))

    def clear(self, y0: int, x0: int, y1: int, x1: int, working_shape: tuple[int, int],
              where: np.ndarray | None = None) -> None:
        """Forget the edits under working box ``[y0:y1, x0:x1]`` (the user agreed to replace them).

        ``where`` (bool, the box's shape) limits this to some of its pixels.
        """
        cy0, cx0 = max(y0, 0), max(x0, 0)
        cy1, cx1 = min(y1, working_shape[0]), min(x1, working_shape[1])
        fy0, fx0, fy1, fx1 = full_box(cy0, cx0, cy1, cx1, self.shape, working_shape)
        if fy1 <= fy0 or fx1 <= fx0 or not self._touches(fy0, fx0, fy1, fx1):
            return
        if where is None:
            self._array[fy0:fy1, fx0:fx1] = 0
        else:
            iy = working_index(fy0, fy1, self.height, working_shape[0]) - y0
            ix = working_index(fx0, fx1, self.width, working_shape[1]) - x0
            drop = np.asarray(where, bool)[np.ix_(iy, ix)]
            old = self._array[fy0:fy1, fx0:fx1]
            self._array[fy0:fy1, fx0:fx1] = np.where(drop, 0, old).astype(np.uint8)
        for cy in range(fy0 // CHUNK, -(-fy1 // CHUNK)):
            for cx in range(fx0 // CHUNK, -(-fx1 // CHUNK)):
                if (cy, cx) in self.chunks:
                    block = self._array[cy * CHUNK : (cy + 1) * CHUNK, cx * CHUNK : (cx + 1) * CHUNK]
                    if not block.any():
                        self.chunks.discard((cy, cx))

    # -- reading ------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def empty(self) -> bool:
        """True when nothing was ever painted (or every edit was cleared)."""
        return not self.chunks

    def _touches(self, fy0: int, fx0: int, fy1: int, fx1: int) -> bool:
        ys = range(fy0 // CHUNK, -(-fy1 // CHUNK))
        xs = range(fx0 // CHUNK, -(-fx1 // CHUNK))
        return any(cy in ys and cx in xs for cy, cx in self.chunks)

    def project(self, y0: int, x0: int, y1: int, x1: int, working_shape: tuple[int, int]
                ) -> tuple[np.ndarray, np.ndarray]:
        """The edits under working box ``[y0:y1, x0:x1]``, at the working resolution.

        Returns
        -------
        edited : (y1 - y0, x1 - x0) bool
            Working pixels over at least one edited full-resolution pixel
            (False outside the image).
        values : (y1 - y0, x1 - x0) uint8
            The class painted there (the highest, where several were); 0 elsewhere.
        """
        h, w = max(0, y1 - y0), max(0, x1 - x0)
        edited, values = np.zeros((h, w), bool), np.zeros((h, w), np.uint8)
        cy0, cx0 = max(y0, 0), max(x0, 0)
        cy1, cx1 = min(y1, working_shape[0]), min(x1, working_shape[1])
        fy0, fx0, fy1, fx1 = full_box(cy0, cx0, cy1, cx1, self.shape, working_shape)
        if fy1 <= fy0 or fx1 <= fx0 or not self._touches(fy0, fx0, fy1, fx1):
            return edited, values
        block = self._array[fy0:fy1, fx0:fx1]
        if not block.any():
            return edited, values
        ry = [full_span(i, i + 1, self.height, working_shape[0])[0] - fy0 for i in range(cy0, cy1)]
        rx = [full_span(j, j + 1, self.width, working_shape[1])[0] - fx0 for j in range(cx0, cx1)]
        reduced = np.maximum.reduceat(np.maximum.reduceat(block, ry, axis=0), rx, axis=1)
        sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
        edited[sub] = reduced > 0
        values[sub] = np.where(reduced > 0, reduced - 1, 0).astype(np.uint8)
        return edited, values

    def any_in(self, y0: int, x0: int, y1: int, x1: int, working_shape: tuple[int, int]) -> bool:
        """True when a pixel under working box ``[y0:y1, x0:x1]`` was edited."""
        fy0, fx0, fy1, fx1 = full_box(y0, x0, y1, x1, self.shape, working_shape)
        if fy1 <= fy0 or fx1 <= fx0 or not self._touches(fy0, fx0, fy1, fx1):
            return False
        return bool(self._array[fy0:fy1, fx0:fx1].any())

    # -- lifetime -----------------------------------------------------------
    def save(self, dest: str | Path) -> Path:
        """Copy the record to a new folder ``dest`` (reopen with ``copy_from``)."""
        dest = Path(dest)
        shutil.copytree(self.path / "edits.zarr", dest)
        (dest / "edited_chunks.json").write_text(json.dumps(sorted(self.chunks)))
        return dest

    def close(self) -> None:
        """Delete the temporary array."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __del__(self):  # pragma: no cover - best effort cleanup
        try:
            self.close()
        except Exception:
            pass
