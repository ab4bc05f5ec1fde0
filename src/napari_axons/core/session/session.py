"""The headless session: one image, its grid, selection, tile statuses, masks and hand edits.

The model of the napari dock widget (which is only its view), usable and
testable without Qt, in the style of napari-animation's model/view split.

* **Image and grid**: the source image, the working image at the downsample
  factor, and the seed's tile grid over it (:meth:`Session.set_grid`).
* **Masks**: one :class:`~.maskstore.MaskStore` of class maps per downsample
  factor (working pixels, class indices of :attr:`Session.classes`).
* **Hand edits**: :meth:`Session.paint` writes class maps into the store and
  records the changed pixels in an :class:`~.edits.EditRecord`, in
  full-resolution pixels, so edits outlive any change of tile size, overlap or
  downsample factor and a save + reload. Switching to another factor's store
  re-applies every edit to it.
* **The overlap rule** (:meth:`Session.protected`): segmenting a tile writes its
  class map into its box except (1) on pixels a *later* tile in the seed's grid
  order already holds a mask for (segmented, edited or exported), so within a
  run the later tile wins shared pixels and re-running an earlier tile never
  changes a later one; and (2) on hand-edited pixels, unless the caller passed
  ``overwrite_edits=True``. Without that flag (or ``keep_edits=True``: segment
  around the edits), segmenting tiles over edited pixels raises
  :class:`EditsInTheWay`, whatever the grid and whether those tiles were
  exported.
* **Export** (:mod:`.exporting`) builds the job from the session's grid, reading
  masks from the store; :mod:`.loading` and :mod:`.foreign` load masks from an
  export, a GeoJSON file or OME-Zarr labels; :mod:`.persist` saves and reloads the
  session to a folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..common import DEFAULT_TABLE, ClassTable, sampled_file_hash, unique_base_names
from ..export import ImagePlan, TilePath, export_classes
from ..geometry import TileBox, TileGrid
from ..image import WorkingImage, array_fingerprint, array_source, open_image
from .classmerge import map_class_map, merge_classes, unknown_values
from .edits import CHUNK, EditRecord
from .exporting import Exporting
from .foreign import ForeignLoading
from .loading import Loading
from .maskstore import MaskStore
from .persist import Persisting
from .rules import HAS_MASK, EditsInTheWay, SessionError, protected_by_later

__all__ = ["Session", "SessionError", "EditsInTheWay", "HAS_MASK", "protected_by_later"]

class Session(Exporting, Loading, Persisting, ForeignLoading):
    """Tiles, masks and hand edits of one image.

    Parameters
    ----------
    path : str or Path
        The image file (its fingerprint identifies exports of it).
    source : SourceImage, optional
        The image already opened (default: ``open_image(path)``); the session closes it.
    cache_dir : str or Path, optional
        Where the mask stores and the edit record live (temporary folders, deleted
        by :meth:`close`).
    classes : ClassTable, optional
        The classes of the class maps. Default: DEFAULT_TABLE, provisionally:
        until a mask is written, the first table adopted (a segmenter's, a
        loaded export's) replaces it; from then on tables are merged into it by
        name (:meth:`adopt_classes`), and it never shrinks.
    tile_size, overlap, downsample : int
        The first grid (see :meth:`set_grid`).
    overview_min_side : int
        The stores' display pyramids stop at this side.
    fingerprint : str, optional
        The image's content fingerprint (default: the file's ``sampled_file_hash``,
        computed when first needed); give it for an image that has no file.
    in_memory : bool
        The image has no file (:meth:`from_array`): ``path`` is only its name.

    Attributes
    ----------
    grid : TileGrid
    working : WorkingImage
    selected : set of int
    status : dict
        ``{tile index: "segmented" | "edited" | "exported"}`` for the current grid;
        others are "not segmented". Statuses are remembered per grid.
    edits : EditRecord
    """

    def __init__(self, path, *, source=None, cache_dir=None, classes: ClassTable | None = None,
                 tile_size: int = 512, overlap: int = 0, downsample: int = 1,
                 overview_min_side: int = 1024, fingerprint: str | None = None,
                 in_memory: bool = False):
        self.path = Path(path)
        self.source = source if source is not None else open_image(self.path)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.classes = classes or DEFAULT_TABLE
        #: False while the table is the provisional default and no mask was written.
        self.classes_fixed = classes is not None
        self.overview_min_side = overview_min_side
        self.edits = EditRecord(self.source.height, self.source.width, root=self.cache_dir)
        self._stores: dict[int, MaskStore] = {}
        self._status_by_grid: dict[tuple, dict[int, str]] = {}
        self._grids: dict[tuple, TileGrid] = {}
        self._made_by_grid: dict[tuple, dict[int, str]] = {}
        #: ``{tile index: segmenter name}``: what wrote each tile's mask (current grid).
        self.made_by: dict[int, str] = {}
        #: ``{segmenter name: its info()}`` of every segmenter used.
        self.segmenters: dict[str, dict] = {}
        self.grid: TileGrid | None = None
        self.working: WorkingImage | None = None
        self.selected: set[int] = set()
        self.status: dict[int, str] = {}
        self._hash: str | None = fingerprint
        self.in_memory = bool(in_memory)
        self.set_grid(tile_size, overlap, downsample)

    # ---------------------------------------------------------------- grid
    @property
    def grid_key(self) -> tuple[int, int, int]:
        """``(tile size, overlap, downsample)`` of the current grid."""
        g = self.grid
        return g.tile_size, g.tile_size - g.stride, self.working.factor

    @property
    def working_shape(self) -> tuple[int, int]:
        return self.working.height, self.working.width

    def set_grid(self, tile_size: int, overlap: int = 0, downsample: int = 1) -> None:
        """Tile the working image at ``1 / downsample`` with this tile size and overlap.

        Masks are kept (one store per factor; switching factor re-applies the
        hand edits to that factor's store). Statuses are remembered per grid; tiles
        over edited pixels show as "edited" unless they were exported since.
        The selection is cleared.

        Raises
        ------
        ValueError, ImageReadError
            Impossible settings (the session is unchanged).
        """
        if self.working is None or self.working.factor != downsample:
            working = WorkingImage(self.source, downsample)
        else:
            working = self.working
        grid = TileGrid.from_shape(working.height, working.width, tile_size=tile_size,
                                   overlap=overlap)
        if self.grid is not None:
            self._status_by_grid[self.grid_key] = self.status
            self._made_by_grid[self.grid_key] = self.made_by
        new_factor = self.working is None or working.factor != self.working.factor
        self.working, self.grid = working, grid
        if new_factor:
            self._switch_store()
        self._grids[self.grid_key] = grid
        self.status = dict(self._status_by_grid.get(self.grid_key, {}))
        self.made_by = dict(self._made_by_grid.get(self.grid_key, {}))
        edited = set(self.edited_tiles())
        for i, st in list(self.status.items()):
            if st == "edited" and i not in edited:  # its edits were replaced since: a mask
                self.status[i] = "segmented"
        for i in edited:
            if self.status.get(i) != "exported":
                self.status[i] = "edited"
        self.selected = set()

    def changed_elsewhere(self, y0: int, x0: int, y1: int, x1: int, *, edited: bool) -> None:
        """Masks changed over working box ``[y0:y1, x0:x1]``: exported tiles of the other
        grids met so far that cover it are no longer as exported.

        They become "edited" (a hand edit) or "segmented". Segmentation only
        changes grids of the current downsample factor (one store per factor);
        hand edits change every grid (they are re-applied to every store).
        """
        sy, sx = self.working.scale_y, self.working.scale_x
        fy0, fx0, fy1, fx1 = y0 * sy, x0 * sx, y1 * sy, x1 * sx
        for key, status in self._status_by_grid.items():
            grid = self._grids.get(key)
            if key == self.grid_key or grid is None or (not edited and key[2] != self.working.factor):
                continue
            gy, gx = self.source.height / grid.height, self.source.width / grid.width
            for i, st in status.items():
                b = grid[i]
                if (st == "exported" and b.y * gy < fy1 and fy0 < b.y1 * gy
                        and b.x * gx < fx1 and fx0 < b.x1 * gx):
                    status[i] = "edited" if edited else "segmented"

    def _switch_store(self) -> None:
        factor = self.working.factor
        store = self._stores.get(factor)
        if store is None:
            store = MaskStore(self.working.height, self.working.width,
                              chunk=self.grid.tile_size, root=self.cache_dir,
                              min_side=self.overview_min_side)
            self._stores[factor] = store
        self.apply_edits(store)

    def apply_edits(self, store: MaskStore | None = None) -> None:
        """Write every recorded edit into ``store`` (default: the current one)."""
        store = store or self.store
        for cy, cx in sorted(self.edits.chunks):
            fy0, fx0 = cy * CHUNK, cx * CHUNK
            h, w = self.working_shape
            y0, x0 = fy0 * h // self.source.height, fx0 * w // self.source.width
            y1 = min(h, -(-(fy0 + CHUNK) * h // self.source.height))
            x1 = min(w, -(-(fx0 + CHUNK) * w // self.source.width))
            edited, values = self.edits.project(y0, x0, y1, x1, self.working_shape)
            if edited.any():
                store.write(y0, x0, values, keep=~edited, pyramid=False)
        store.update_pyramid()

    @property
    def store(self) -> MaskStore:
        """The mask store of the current downsample factor."""
        return self._stores[self.working.factor]

    @property
    def source_hash(self) -> str:
        """The image file's fingerprint (computed once)."""
        if self._hash is None:
            self._hash = sampled_file_hash(self.path)
        return self._hash

    @property
    def plan(self):
        """The :class:`~.pipeline.ImagePlan` of the current grid (the open image, not re-opened)."""
        return ImagePlan(self.path, unique_base_names([self.path])[0], self.source, self.working,
                         self.grid, self.source_hash, in_memory=self.in_memory)

    @classmethod
    def from_array(cls, array, name: str = "image", **kwargs) -> Session:
        """A session over an in-memory ``(y, x)`` or ``(y, x, c)`` numpy or dask array (no file).

        Exports record no path (see :func:`~.pipeline.plan_array`); ``kwargs`` as for
        the constructor.
        """
        return cls(Path(name), source=array_source(array, name),
                   fingerprint=array_fingerprint(array), in_memory=True, **kwargs)

    # ---------------------------------------------------------------- classes
    def adopt_classes(self, table: ClassTable | None) -> np.ndarray | None:
        """Make the session's table know ``table``'s classes; the LUT from ``table`` to it.

        Classes are matched by name; names the session lacks are appended (the
        table never shrinks, indices in use never change). While the table is
        still the provisional default and no mask was written, ``table`` simply
        becomes the session's (so a one-class "myelin" segmenter gives a
        one-class export, as the command line does).

        Returns
        -------
        (256,) int16 ndarray or None
            See :func:`~.classmerge.merge_classes`; None for ``table`` None.
        """
        if table is None:
            return None
        if not self.classes_fixed:
            self.classes = table
        merged, lut, _ = merge_classes(self.classes, table)
        self.classes = merged
        return lut

    def to_session_classes(self, class_map: np.ndarray, table: ClassTable | None,
                           where: str) -> np.ndarray:
        """``class_map`` (indices of ``table``; None: of the session's) in the session's indices.

        Raises
        ------
        SessionError
            A value no class stands for (see :func:`~.classmerge.map_class_map`).
        """
        return map_class_map(class_map, self.adopt_classes(table), self.classes, where)

    def tiles_meeting(self, y0: int, x0: int, where: np.ndarray) -> list[int]:
        """Tiles of the current grid holding a True pixel of ``where`` (placed at ``(y0, x0)``)."""
        rows, cols = np.flatnonzero(where.any(axis=1)), np.flatnonzero(where.any(axis=0))
        if not len(rows):
            return []
        ty0, tx0, ty1, tx1 = y0 + rows[0], x0 + cols[0], y0 + rows[-1] + 1, x0 + cols[-1] + 1
        out = []
        for t in self.grid:
            if t.y < ty1 and ty0 < t.y1 and t.x < tx1 and tx0 < t.x1:
                sub = where[max(t.y - y0, 0): max(t.y1 - y0, 0), max(t.x - x0, 0): max(t.x1 - x0, 0)]
                if sub.any():
                    out.append(t.index)
        return out

    # ---------------------------------------------------------------- pixel size
    @property
    def pixel_size(self):
        """The image's pixel size (:class:`~napari_axons.core.common.PixelSize`, with its
        origin) or None; what exports record and segmenters and fibre measures use."""
        return self.source.pixel_size

    @property
    def working_pixel_size(self):
        """The pixel size of the working (downsampled) image, or None."""
        return self.working.pixel_size

    def set_pixel_size(self, um: float | tuple[float, float] | None,
                       origin: str = "set in the panel") -> None:
        """Set (or, with None, forget) the image's pixel size in micrometres (``(y, x)`` or one).

        Raises
        ------
        PixelSizeError
            Not a positive finite number.
        """
        self.source.set_pixel_size(um, origin)

    # ---------------------------------------------------------------- selection
    def select(self, indices: Iterable[int]) -> set[int]:
        """Select tiles (indices outside the grid are ignored); returns the selection."""
        self.selected = {int(i) for i in indices if 0 <= int(i) < len(self.grid)}
        return self.selected

    def toggle(self, index: int) -> set[int]:
        return self.select(self.selected ^ {int(index)})

    # ---------------------------------------------------------------- edits
    def paint(self, y0: int, x0: int, class_map: np.ndarray) -> list[int]:
        """Hand edit: the working box at ``(y0, x0)`` now holds ``class_map``.

        Pixels that differ from the store are written and recorded as edits (in
        full-resolution pixels); returns the tiles of the current grid they touch,
        now "edited".

        Raises
        ------
        SessionError
            A value outside the class table (one line naming the tiles and the
            values; nothing is written).
        """
        class_map = np.asarray(class_map)
        bad = unknown_values(class_map, len(self.classes))
        if bad:
            tiles = self.tiles_meeting(y0, x0, class_map >= len(self.classes))
            where = (f"tile(s) {', '.join(map(str, tiles[:10]))}" if tiles
                     else f"the box at ({y0}, {x0})")
            map_class_map(class_map, None, self.classes, where)  # raises, naming the values
        h, w = class_map.shape
        old = self.store.read(y0, x0, y0 + h, x0 + w)
        changed = class_map != old
        if not changed.any():
            return []
        self.classes_fixed = True
        self.store.write(y0, x0, class_map.astype(np.uint8))
        self.edits.record(y0, x0, class_map, changed, self.working_shape)
        rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
        ty0, tx0, ty1, tx1 = y0 + rows[0], x0 + cols[0], y0 + rows[-1] + 1, x0 + cols[-1] + 1
        self.changed_elsewhere(ty0, tx0, ty1, tx1, edited=True)
        touched = []
        for t in self.grid:
            if t.y < ty1 and ty0 < t.y1 and t.x < tx1 and tx0 < t.x1:
                sub = changed[max(t.y - y0, 0) : max(t.y1 - y0, 0),
                              max(t.x - x0, 0) : max(t.x1 - x0, 0)]
                if sub.any():
                    touched.append(t.index)
                    self.status[t.index] = "edited"
        return touched

    def edited_tiles(self, indices: Iterable[int] | None = None) -> list[int]:
        """Tiles (of the current grid) over at least one hand-edited pixel, in grid order."""
        if self.edits.empty:
            return []
        boxes = self.grid.tiles if indices is None else [self.grid[i] for i in sorted(set(indices))]
        return [b.index for b in boxes
                if self.edits.any_in(b.y, b.x, b.y1, b.x1, self.working_shape)]

    def label_source(self, index: int) -> str:
        """The polygons' ``source`` for tile ``index`` of the current grid.

        ``"manual"`` if any of its pixels was edited by hand (or its mask came
        from elsewhere: loaded from an export), else ``"auto:<segmenter name>"``.
        """
        b = self.grid[index]
        if self.edits.any_in(b.y, b.x, b.y1, b.x1, self.working_shape):
            return "manual"
        name = self.made_by.get(index)
        return f"auto:{name}" if name else "manual"

    def refresh_edited(self) -> None:
        """Drop the "edited" status of tiles whose edits were all replaced since."""
        for i, st in list(self.status.items()):
            b = self.grid[i]
            if st == "edited" and not self.edits.any_in(b.y, b.x, b.y1, b.x1, self.working_shape):
                del self.status[i]

    # ---------------------------------------------------------------- segmentation
    def check_segment(self, indices: Iterable[int], *, overwrite_edits: bool = False,
                      keep_edits: bool = False) -> list[TileBox]:
        """The boxes to segment, after the edit check; call :meth:`write_segmented` per box.

        Raises
        ------
        EditsInTheWay
            Some tiles lie over hand-edited pixels and neither flag was given.
        """
        indices = sorted({int(i) for i in indices})
        edited = self.edited_tiles(indices)
        if edited and not (overwrite_edits or keep_edits):
            raise EditsInTheWay(edited)
        self._overwrite_edits = bool(overwrite_edits)
        return [self.grid[i] for i in indices]

    def protected(self, box: TileBox, *, overwrite_edits: bool = False) -> np.ndarray | None:
        """Pixels of ``box`` that segmenting it keeps (the overlap rule; see the module doc)."""
        keep = protected_by_later(self.grid, box, self.status)
        if not overwrite_edits:
            edited, _ = self.edits.project(box.y, box.x, box.y1, box.x1, self.working_shape)
            if edited.any():
                keep = edited if keep is None else keep | edited
        return keep

    def write_segmented(self, box: TileBox, class_map: np.ndarray, *,
                        overwrite_edits: bool | None = None, pyramid: bool = False,
                        segmenter=None) -> None:
        """Write a segmented tile's class map into the store, by the overlap rule.

        ``segmenter`` (its ``name`` and ``info()``) is recorded as what made the
        tile (:meth:`label_source`); its ``classes`` are merged into the
        session's table and the class map's values mapped onto it by name
        (:meth:`adopt_classes`): segmenting never removes a class.

        Raises
        ------
        SessionError
            A value that neither the segmenter's table nor the session's knows
            (one line naming the tile and the values; nothing is written).

        With ``overwrite_edits`` (default: the flag given to :meth:`check_segment`),
        the edits under the pixels written are forgotten.
        """
        if overwrite_edits is None:
            overwrite_edits = getattr(self, "_overwrite_edits", False)
        table = None if segmenter is None else export_classes(segmenter)  # none: DEFAULT_TABLE
        class_map = self.to_session_classes(class_map, table, f"tile {box.index}")
        self.classes_fixed = True
        keep = self.protected(box, overwrite_edits=overwrite_edits)
        self.store.write(box.y, box.x, class_map, keep, pyramid=pyramid)
        self.changed_elsewhere(box.y, box.x, box.y1, box.x1, edited=False)
        name = getattr(segmenter, "name", None)
        if name:
            self.made_by[box.index] = str(name)
            if str(name) not in self.segmenters:
                info = getattr(segmenter, "info", None)
                self.segmenters[str(name)] = info() if callable(info) else {"name": str(name)}
        else:
            self.made_by.pop(box.index, None)
        if overwrite_edits:
            self.edits.clear(box.y, box.x, box.y1, box.x1, self.working_shape,
                             where=None if keep is None else ~keep)
        still = not overwrite_edits and self.edits.any_in(box.y, box.x, box.y1, box.x1,
                                                          self.working_shape)
        self.status[box.index] = "edited" if still else "segmented"

    def segment(self, indices: Iterable[int], segmenter, *, overwrite_edits: bool = False,
                keep_edits: bool = False) -> list[int]:
        """Segment tiles now (in this thread); returns the tiles written.

        Raises
        ------
        EditsInTheWay
            See :meth:`check_segment`.
        """
        boxes = self.check_segment(indices, overwrite_edits=overwrite_edits,
                                   keep_edits=keep_edits)
        done = []
        with TilePath(segmenter) as path:
            path.prepare(self.working)
            for box, class_map in path.segment(self.working, boxes):
                self.write_segmented(box, class_map, overwrite_edits=overwrite_edits,
                                     segmenter=segmenter)
                done.append(box.index)
        self.store.update_pyramid()
        return done

    # ---------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Delete the temporary stores and close the image."""
        for store in self._stores.values():
            store.close()
        self._stores.clear()
        self.edits.close()
        self.source.close()
