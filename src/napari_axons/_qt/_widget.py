"""The napari dock widget: tile, select, segment, correct and export.

A thin shell over the core (:mod:`napari_axons.core`). What it shows:

* ``axons tile grid``: the grid as lines (cheap at any tile count), with tile
  indices as text (``axons tile index``) when there are at most
  :data:`~._grid_layer.MAX_TEXT_TILES` tiles;
* ``axons selection`` and ``axons tile status``: rectangles of the selected tiles,
  and of tiles by status (edge colour: white segmented, orange edited, blue
  exported), merged along rows so that even "select all" on a 40000^2 slide
  stays a few dozen shapes;
* ``axons masks (overview)``: a read-only multiscale Labels layer over the whole
  slide's mask store (:class:`~._mask_store.MaskStore`);
* ``axons masks (edit)``: the ONE editable numpy uint8 Labels layer, a window onto
  the store covering the selected tiles' bounding box, placed with ``translate``
  and ``scale``. Edits are written back to the store on every paint event and
  whenever the window moves; a difference between the window and the store (e.g.
  data set from a script) is detected then too. Tiles whose pixels changed become
  "edited".

Clicking on the canvas while one of the overlay layers is the active layer
toggles the tile under the cursor (a drag pans as usual). Segmenting and
exporting run in napari thread workers with a progress bar and a Cancel button.

The layers are drawn by :class:`~._overlays.Overlays`; the edit window and its
write-back are :class:`~._edit_window.EditWindow`.

"Export on" (:mod:`._export_target`) sends a long export to a local dask
cluster or a running scheduler (:func:`~napari_axons.core.distributed.run_distributed`).
Such an export reads a snapshot of the mask store taken when Export is pressed
(after the edit window is written back), kept in the export folder until the
export ends, so the user can keep selecting tiles and painting while it runs;
tiles edited meanwhile stay "edited". Segmenting waits until it has finished.

Changing the tile size or overlap keeps the masks (the store is per image and
downsample factor) and remembers tile statuses per grid; changing the downsample
factor switches to that factor's store.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)

from ..core.grid import TileBox, TileGrid
from ..core.io import ImageReadError, SourceImage, open_image
from ..core.working import WorkingImage
from ._edit_window import EditWindow
from ._export_target import ExportTarget
from ._grid_layer import MAX_TEXT_TILES, Placement, pick_tile
from ._mask_store import MaskStore, protected_pixels
from ._overlays import GRID_LAYER, Overlays
from ._worker import LOADED, drive, load_export_masks, one_line, run_export, segment_tiles

__all__ = ["AxonsWidget"]

#: Results (e.g. tile masks) a worker may have produced that the UI has not handled yet.
RESULTS_IN_FLIGHT = 8
#: Layer data of image layers without a file is saved to the cache up to this size.
MAX_COPY_BYTES = 2 * 2**30
#: The overview pyramid halves the mask until its longer side is at most this.
OVERVIEW_MIN_SIDE = 1024
BATCH_CHOICES = ["auto", "1", "2", "4", "8", "16", "32", "64"]
BUILTIN_SEGMENTER = "otsu (built-in)"
CHECKPOINT_SEGMENTER = "checkpoint folder"


class AxonsWidget(Container):
    """Tile, segment, correct and export huge images in napari.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    cache_dir : str or Path, optional
        Where mask stores (and copies of image layers that have no file) live;
        default: a new folder in the system temporary folder, deleted with the widget.

    Attributes
    ----------
    grid : TileGrid or None
        The current grid (working-image pixels).
    selected : set of int
        Selected tile indices.
    status : dict
        ``{tile index: "segmented" | "edited" | "exported"}``; others are "not segmented".
    confirm : callable
        ``confirm(title, text) -> bool`` asks the user; replace it in tests.
    worker : GeneratorWorker or None
        The running (or last) segmentation or export worker.
    """

    def __init__(self, napari_viewer, *, cache_dir: str | Path | None = None):
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self._tmp = None
        if cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="napari-axons-cache-")
            cache_dir = self._tmp.name
        self.cache_dir = Path(cache_dir)
        self.confirm: Callable[[str, str], bool] = self._ask
        self.messages: list[str] = []  # what the user was told (tests read it)

        # -- controls -------------------------------------------------------
        self._image = ComboBox(label="Image", choices=self._image_choices, nullable=True)
        self._tile_size = SpinBox(label="Tile size", value=512, min=16, max=16384, step=16)
        self._overlap = SpinBox(label="Overlap", value=0, min=0, max=16000)
        self._downsample = SpinBox(label="Downsample", value=1, min=1, max=64,
                                   tooltip="1: none; the seed uses 3 (Lanczos)")
        self._grid_info = Label(label="Grid", value="no image")
        self._select_all = PushButton(text="Select all")
        self._select_none = PushButton(text="Select none")
        self._selection_info = Label(label="Selected", value="0 tiles")
        self._segmenter = ComboBox(label="Segmenter", choices=[BUILTIN_SEGMENTER, CHECKPOINT_SEGMENTER])
        self._model_dir = FileEdit(label="Checkpoint", mode="d", nullable=True,
                                   tooltip="A Hugging Face checkpoint folder (safetensors)")
        self._class_index = SpinBox(label="Class index", value=1, min=0, max=1000)
        self._threshold = FloatSpinBox(label="Threshold", value=0.5, min=0.0, max=0.99, step=0.05)
        self._batch_size = ComboBox(
            label="Batch size", choices=BATCH_CHOICES, value="auto",
            tooltip="Tiles per forward pass; auto: 1 on CPU (several tiles run at once "
                    "on separate threads), 8 on a GPU")
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self._run = PushButton(text="Segment selected")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._import_dir = FileEdit(
            label="Masks from", mode="d", nullable=True,
            tooltip="An earlier export of this image: its polygons become the masks to edit")
        self._import = PushButton(text="Load masks from export")
        self._export_which = ComboBox(label="Export tiles", choices=["selected", "segmented", "all"])
        self._export_dir = FileEdit(label="Export to", mode="d", nullable=True)
        self._overwrite = CheckBox(text="Overwrite an existing export", value=False)
        self._target = ExportTarget()
        self._export = PushButton(text="Export")
        self._message = Label(label="Status", value="")
        self.extend([
            self._image, self._tile_size, self._overlap, self._downsample, self._grid_info,
            Container(widgets=[self._select_all, self._select_none], layout="horizontal",
                      labels=False, label="Tiles"),
            self._selection_info, self._segmenter, self._model_dir, self._class_index,
            self._threshold, self._batch_size, self._device,
            Container(widgets=[self._run, self._cancel], layout="horizontal", labels=False,
                      label="Run"),
            self._import_dir, self._import,
            self._export_which, self._export_dir, self._overwrite, *self._target.widgets,
            self._export, self._message,
        ])

        # -- state ----------------------------------------------------------
        self.grid: TileGrid | None = None
        self.selected: set[int] = set()
        self.status: dict[int, str] = {}
        self.worker = None
        self._layer = None  # the image layer
        self._path: Path | None = None
        self._source: SourceImage | None = None
        self._working: WorkingImage | None = None
        self._stores: dict[tuple[str, int], MaskStore] = {}
        self._status_by_grid: dict[tuple, dict[int, str]] = {}
        self._last_picked: int | None = None
        self._consented: set[int] = set()
        self._gen = None
        self._progress = None
        self.overlays = Overlays(napari_viewer, on_click=self._click_callback,
                                 on_paint=lambda event: self.window.on_paint(event))
        self.window = EditWindow(self.overlays, store=lambda: self.store,
                                 locked=lambda: self._edits_locked, on_edited=self._on_edited,
                                 say=self._say)
        self._background = False  # a cluster export runs: editing stays on
        self._stop = None  # threading.Event that stops a background export
        self._edited_during: set[int] = set()
        self._load_grid_matches = False  # loading an export made on the current grid
        self._done, self._last_progress, self._redrawing = 0, 0.0, False
        self._last_draw = 0.0

        # -- wiring ---------------------------------------------------------
        self._image.changed.connect(self._on_image_changed)
        for w in (self._tile_size, self._overlap, self._downsample):
            w.changed.connect(self._rebuild_grid)
        self._select_all.changed.connect(self.select_all)
        self._select_none.changed.connect(self.select_none)
        self._segmenter.changed.connect(self._update_segmenter_controls)
        self._run.changed.connect(self.segment_selected)
        self._cancel.changed.connect(self.cancel)
        self._import.changed.connect(self.load_masks)
        self._export.changed.connect(self.export)
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        self._update_segmenter_controls()
        self.native.destroyed.connect(_closer(self._stores, self._tmp))
        self._on_layers_changed()

    # ================================================================ helpers
    def _image_choices(self, _widget=None):
        from napari.layers import Image

        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _on_layers_changed(self, event=None):
        self._image.reset_choices()
        if self._layer is not None and self._layer not in self.viewer.layers:
            self._set_image(None)
        if self._image.value is None:
            choices = self._image_choices()
            if choices:
                self._image.value = choices[0][1]  # -> _on_image_changed

    def _say(self, text: str, level: str = "info") -> None:
        from napari.utils import notifications

        self.messages.append(text)
        self._message.value = text if len(text) < 90 else text[:87] + "..."
        {"info": notifications.show_info, "warning": notifications.show_warning,
         "error": notifications.show_error}[level](text)

    def _chosen_folder(self, edit, what: str) -> Path | None:
        """The folder picked in ``edit``, or None after asking the user to pick one."""
        folder = edit.value
        if folder is None or str(folder) in ("", "."):
            self._say(f"choose {what} first", "warning")
            return None
        return Path(folder)

    @staticmethod
    def _ask(title: str, text: str) -> bool:
        from qtpy.QtWidgets import QMessageBox

        answer = QMessageBox.question(None, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    @property
    def store(self) -> MaskStore | None:
        """The mask store of the current image and downsample factor."""
        if self._path is None or self._working is None:
            return None
        key = (str(self._path), self._working.factor)
        store = self._stores.get(key)
        if store is None:
            store = MaskStore(self._working.height, self._working.width,
                              chunk=self._tile_size.value, root=self.cache_dir,
                              min_side=OVERVIEW_MIN_SIDE)
            self._stores[key] = store
        return store

    @property
    def image_path(self) -> Path | None:
        """The file the current image layer is tiled from."""
        return self._path

    @property
    def busy(self) -> bool:
        """True from the start of a segmentation or export until its worker has finished."""
        return self._gen is not None

    @property
    def _edits_locked(self) -> bool:
        """Painting is ignored while a segmentation or a threads export runs."""
        return self.busy and not self._background

    # ================================================================ image & grid
    def _on_image_changed(self, layer) -> None:
        if layer is self._layer:
            return
        self._set_image(layer)

    def _set_image(self, layer) -> None:
        self.window.flush()
        if self._source is not None:
            self._source.close()
        self._layer = self._source = self._working = self.grid = self._path = None
        self.window.reset(None)
        self.selected = set()
        if layer is None:
            self._grid_info.value = "no image"
            self.overlays.clear()
            return
        try:
            path = self._layer_file(layer)
            self._source = open_image(path)
        except (ImageReadError, OSError, ValueError) as exc:
            self._say(one_line(exc), "error")
            self.overlays.clear()
            return
        self._layer, self._path = layer, Path(path)
        for note in self._source.notes:
            self._say(note, "warning")
        self._rebuild_grid()

    def _layer_file(self, layer) -> Path:
        """The file behind an image layer, or a copy of its data saved to the cache."""
        path = getattr(getattr(layer, "source", None), "path", None)
        meta = layer.metadata or {}
        for key in ("napari_axons_path", "path"):
            path = path or meta.get(key)
        if isinstance(meta.get("napari_axons"), dict):
            path = path or meta["napari_axons"].get("path")
        if path and Path(path).exists():
            return Path(path)
        data = layer.data[0] if layer.multiscale else layer.data
        nbytes = int(np.prod(data.shape)) * np.dtype(data.dtype).itemsize
        if nbytes > MAX_COPY_BYTES:
            raise ImageReadError(
                f"layer {layer.name!r} has no file and is too large to copy "
                f"({nbytes / 2**30:.1f} GiB); open the image through napari-axons instead"
            )
        import tifffile

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", layer.name).strip("._") or "image"
        out = self.cache_dir / f"layer-{id(layer):x}" / f"{stem}.tif"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists():
            tmp = out.with_name("." + out.name)
            arr = np.asarray(data)
            tifffile.imwrite(tmp, arr, tile=(256, 256),
                             photometric="rgb" if arr.ndim == 3 and arr.shape[-1] in (3, 4) else None)
            tmp.replace(out)
        return out

    def _rebuild_grid(self, _value=None) -> None:
        """Recompute the working image, grid and overlays from the controls."""
        if self._source is None:
            return
        self.window.flush()
        if self.grid is not None:
            self._status_by_grid[self._grid_key()] = self.status
        tile, overlap, factor = self._tile_size.value, self._overlap.value, self._downsample.value
        try:
            working = WorkingImage(self._source, factor)
            grid = TileGrid.from_shape(working.height, working.width, tile_size=tile, overlap=overlap)
        except (ImageReadError, ValueError) as exc:
            self._say(one_line(exc), "error")
            return
        self._working, self.grid = working, grid
        layer = self._layer
        self.overlays.placement = Placement(
            tuple(float(s) for s in layer.scale[-2:]),
            tuple(float(t) for t in layer.translate[-2:]),
            (working.scale_y, working.scale_x),
        )
        self.status = self._status_by_grid.get(self._grid_key(), {})
        self.selected = set()
        self._last_picked = None
        self.window.reset(grid, working.height, working.width)
        self._grid_info.value = (
            f"{len(grid)} tiles, {working.width} x {working.height} px"
            + (f" (1/{factor})" if factor > 1 else "")
        )
        if not self.overlays.draw_grid(grid):
            self._say(f"{len(grid)} tiles: tile numbers are not drawn above {MAX_TEXT_TILES} tiles")
        self.overlays.show_masks(self.store)
        self._draw_status()
        self._update_selection_view()
        self.viewer.layers.selection.active = self.overlays.get(GRID_LAYER)

    def _grid_key(self) -> tuple:
        return (str(self._path), self._working.factor, self.grid.tile_size,
                self.grid.tile_size - self.grid.stride)

    def _draw_status(self) -> None:
        if self.grid is not None:
            self.overlays.draw_status(self.grid, self.status)

    # ================================================================ selection
    def _click_callback(self, layer, event):
        """Toggle the tile under a click (a drag pans, as usual)."""
        if getattr(event, "button", 1) not in (1, None) or self.grid is None:
            return
        start_world = tuple(event.position)
        start_canvas = np.asarray(getattr(event, "pos", (0, 0)), float)
        yield
        dragged = False
        while event.type == "mouse_move":
            if np.hypot(*(np.asarray(event.pos, float) - start_canvas)) > 4:
                dragged = True
            yield
        if not dragged:
            self.toggle_at(start_world)

    def toggle_at(self, world_position) -> int | None:
        """Toggle the selection of the tile under a world position; returns its index."""
        if self.grid is None:
            return None
        y, x = self.overlays.placement.world_to_working(world_position)
        box = pick_tile(self.grid, y, x)
        if box is None:
            return None
        sel = set(self.selected)
        sel.symmetric_difference_update({box.index})
        self._last_picked = box.index if box.index in sel else None
        self.set_selection(sel)
        return box.index

    def select_all(self, _=None) -> None:
        if self.grid is not None:
            self.set_selection(range(len(self.grid)))

    def select_none(self, _=None) -> None:
        self.set_selection(())

    def set_selection(self, indices: Iterable[int]) -> None:
        """Select tiles; writes pending edits back, then moves the edit window over them."""
        if self.grid is None:
            return
        self.window.flush()
        self.selected = {int(i) for i in indices if 0 <= int(i) < len(self.grid)}
        self._update_selection_view()

    def _update_selection_view(self) -> None:
        if self.grid is None:
            return
        self.overlays.draw_selection(self.grid, self.selected)
        self._selection_info.value = f"{len(self.selected)} of {len(self.grid)} tiles"
        boxes = [self.grid[i] for i in sorted(self.selected)]
        focus = self.grid[self._last_picked] if self._last_picked in self.selected else None
        self.window.move(boxes, focus)

    # ================================================================ edits
    def _on_edited(self, tiles: list[TileBox]) -> None:
        """The user changed these tiles' masks (already in the store)."""
        for t in tiles:
            self.status[t.index] = "edited"
            if self._background:  # its export (if any) holds the earlier mask
                self._edited_during.add(t.index)
        self.overlays.refresh_overview()
        self._draw_status()

    # ================================================================ segmentation
    def _update_segmenter_controls(self, _=None) -> None:
        hf = self._segmenter.value == CHECKPOINT_SEGMENTER
        for w in (self._model_dir, self._class_index, self._threshold, self._device):
            w.visible = hf

    def _make_segmenter(self) -> Callable[[], object]:
        from ..core.segment import ModelError, load_segmenter

        choice = self._batch_size.value
        batch = {} if choice == "auto" else {"batch_size": int(choice)}
        if self._segmenter.value == BUILTIN_SEGMENTER:
            return lambda: load_segmenter("otsu", **batch)
        folder = self._model_dir.value
        if folder is None or str(folder) in ("", "."):
            raise ModelError("choose a checkpoint folder first")
        opts = {"class_index": self._class_index.value, "threshold": self._threshold.value,
                "device": self._device.value, **batch}
        return lambda: load_segmenter(Path(folder), **opts)

    def segment_selected(self, _=None):
        """Segment the selected tiles in a thread worker; returns the worker (or None)."""
        from ..core.segment import ModelError

        if self.busy or self.grid is None:
            return None
        self.window.flush()
        todo = sorted(self.selected)
        if not todo:
            self._say("select tiles first (click them on the canvas, or Select all)", "warning")
            return None
        edited = [i for i in todo if self.status.get(i) == "edited"]
        self._consented = set()
        if edited:
            names = ", ".join(map(str, edited[:10])) + (" ..." if len(edited) > 10 else "")
            if self.confirm("Overwrite edits?",
                            f"{len(edited)} selected tile(s) have hand edits ({names}). "
                            "Segmenting replaces them. Overwrite? (No: skip those tiles)"):
                self._consented = set(edited)
            else:
                todo = [i for i in todo if i not in set(edited)]
                if not todo:
                    return None
        try:
            make = self._make_segmenter()
        except ModelError as exc:
            self._say(one_line(exc), "error")
            return None
        boxes = [self.grid[i] for i in todo]
        gen = segment_tiles(self._working, boxes, make)
        return self._start(gen, len(boxes), "Segmenting", self._on_segmented)

    def _on_segmented(self, value) -> None:
        if value == LOADED:
            self._message.value = "segmenting..."
            return
        box, mask = value
        keep = protected_pixels(self.grid, box, self.status, exclude=self._consented)
        self.store.write(box.y, box.x, (mask > 0).astype(np.uint8), keep, pyramid=False)
        self.status[box.index] = "segmented"
        self.window.copy_from_store(box)
        self._advance_progress()
        self._redraw_now_and_then()

    # ================================================================ masks from an export
    def load_masks(self, _=None):
        """Load the masks of an earlier export of this image; returns the worker (or None).

        The export must be of the same file (its fingerprint in the manifest)
        and the same downsample factor; its tiles' polygons are rendered one
        tile at a time into the mask store (later tiles win where they
        overlap), replacing what is there. With the same tile size and overlap,
        the tiles are marked "exported".
        """
        from ..core.export import ExportError, sampled_file_hash
        from ..core.readback import list_exported_tiles

        if self.busy or self.grid is None:
            return None
        folder = self._chosen_folder(self._import_dir, "an export folder to load masks from")
        if folder is None:
            return None
        self.window.flush()
        try:
            images = list_exported_tiles(folder)
            mine = sampled_file_hash(self._path)
        except (ExportError, OSError) as exc:
            self._say(one_line(exc), "error")
            return None
        matches = [im for im in images if im.source_hash == mine]
        if not matches:
            self._say(f"{folder}: holds no export of {self._path.name} (other images, or the "
                      "file changed since)", "error")
            return None
        exported = next((im for im in matches if im.downsample == self._working.factor), None)
        if exported is None:
            factors = sorted({im.downsample for im in matches})
            self._say(f"{folder}: exported with downsample {', '.join(map(str, factors))}; set "
                      f"Downsample to that to load its masks", "error")
            return None
        if not exported.tiles:
            self._say(f"{folder}: the export has no masks (tiles only)", "warning")
            return None
        edited = sorted(i for i, s in self.status.items() if s == "edited")
        if edited and not self.confirm(
            "Replace edits?", f"{len(edited)} tile(s) have hand edits. Loading the export's "
                              "masks replaces the masks under its tiles. Load?"):
            return None
        grid = self.grid
        self._load_grid_matches = (exported.tile_size, exported.overlap) == (
            grid.tile_size, grid.tile_size - grid.stride)
        if not self._load_grid_matches:
            self._say(f"the export used tile size {exported.tile_size} and overlap "
                      f"{exported.overlap}: its masks are loaded, tiles are not marked exported")
        gen = load_export_masks(exported)
        return self._start(gen, len(exported.tiles), "Loading masks", self._on_mask_loaded)

    def _on_mask_loaded(self, value) -> None:
        tile, mask, notes = value
        for note in notes:
            self._say(note, "warning")
        if mask is not None:
            self.store.write(tile.y, tile.x, mask, pyramid=False)
            box = TileBox(tile.index, tile.y, tile.x, tile.height, tile.width)
            if self._load_grid_matches and tile.index < len(self.grid):
                self.status[tile.index] = "exported"
            self.window.copy_from_store(box)
        self._advance_progress()
        self._redraw_now_and_then()

    def _redraw_now_and_then(self) -> None:
        """Overview and tile status, at most every 0.5 s while a worker runs.

        (Redrawing after each of thousands of tiles would cost more than the
        tiles; everything is redrawn when the worker finishes.)
        """
        now = time.monotonic()
        if now - self._last_draw > 0.5:
            self._last_draw = now
            self.store.update_pyramid()
            self.overlays.refresh_overview()
            self._draw_status()

    # ================================================================ export
    def export(self, _=None):
        """Export tiles, masks and label JSON from the mask store; returns the worker (or None).

        On threads (the default) editing pauses until the export ends. On a dask
        cluster ("Export on"), the export reads a snapshot of the store taken now,
        after the edit window is written back, so selecting and painting go on
        while it runs; the snapshot lives in the export folder (which the
        workers must see) until the export ends.
        """
        from ..core.export import ExportError
        from ..core.pipeline import ExportJob, ExportOptions

        if self.busy or self.grid is None:
            return None
        out = self._chosen_folder(self._export_dir, "an export folder")
        if out is None:
            return None
        self.window.flush()
        which = self._export_which.value
        if which == "selected":
            indices = sorted(self.selected)
        elif which == "segmented":
            indices = sorted(i for i, s in self.status.items() if s in ("segmented", "edited", "exported"))
        else:
            indices = list(range(len(self.grid)))
        if not indices:
            self._say(f"no {which} tiles to export", "warning")
            return None
        store = self.store
        try:
            where = self._target.where()
        except ValueError as exc:
            self._say(one_line(exc), "warning")
            return None
        snapshot = None

        def mask_reader(plan, box):
            return np.where(store.read_box(box) > 0, 255, 0).astype(np.uint8)

        try:
            if where:  # a cluster: a frozen copy the workers read by path
                from ..core.maskstore import ZarrMaskReader

                snapshot = Path(out) / f".napari-axons-masks-{uuid.uuid4().hex[:8]}"
                store.snapshot(snapshot, [self.grid[i] for i in indices])
                mask_reader = ZarrMaskReader(snapshot)
            options = ExportOptions(tile_size=self.grid.tile_size,
                                    overlap=self.grid.tile_size - self.grid.stride,
                                    downsample=self._working.factor)
            job = ExportJob([self._path], Path(out), options, mask_reader=mask_reader,
                            tiles={str(self._path): indices}, overwrite=self._overwrite.value)
        except (ExportError, ValueError, OSError) as exc:
            _remove_tree(snapshot)
            self._say(one_line(exc), "error")
            return None
        if not job.plans:
            _remove_tree(snapshot)
            self._say(one_line(job.errors[0] if job.errors else "nothing to export"), "error")
            job.close()
            return None
        self._export_out = Path(out)
        self._stop = threading.Event() if where else None
        gen = run_export(job, **where, stop=self._stop,
                         on_close=None if snapshot is None else lambda: _remove_tree(snapshot))
        return self._start(gen, job.total, "Exporting", self._on_exported, background=bool(where))

    def _on_exported(self, result) -> None:
        if result.box.index not in self._edited_during:
            self.status[result.box.index] = "exported"
        self._advance_progress()

    # ================================================================ workers
    def _start(self, gen, total: int, desc: str, on_yield, background: bool = False):
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._gen = gen
        self._outcome = "done"
        self._desc = desc
        self._progress = progress(total=total, desc=desc)
        self._done, self._last_progress, self._redrawing = 0, 0.0, False
        self._last_draw = 0.0
        slots = threading.Semaphore(RESULTS_IN_FLIGHT)

        def handle(value):
            try:
                on_yield(value)
            finally:
                slots.release()

        worker = create_worker(drive, gen, slots, _start_thread=False,
                               _connect={"errored": self._on_error})
        worker.yielded.connect(handle)
        worker.finished.connect(self._on_finished)
        worker.aborted.connect(lambda: setattr(self, "_outcome", "cancelled"))
        self.worker = worker
        self._background = background
        self._edited_during = set()
        self._set_running(True)
        edit = self.overlays.edit_layer()
        if edit is not None and not background:
            edit.mode = "pan_zoom"
            edit.editable = False
        self._message.value = f"{desc.lower()} {total} tile(s)..."
        worker.start()
        return worker

    def _advance_progress(self) -> None:
        """One more item done; the bar is redrawn at most every 0.2 s, never re-entrantly.

        (napari's progress bar calls ``QApplication.processEvents()`` when it is
        redrawn, which delivers the worker's next results inside this call: a
        fast worker would otherwise nest one handler in another until Python's
        recursion limit.)
        """
        self._done += 1
        bar = self._progress
        now = time.monotonic()
        if bar is None or self._redrawing or now - self._last_progress < 0.2:
            return
        self._redrawing, self._last_progress = True, now
        try:
            bar.update(self._done - bar.n)
        finally:
            self._redrawing = False

    def _on_error(self, exc) -> None:
        self._outcome = "failed"
        self._say(one_line(exc), "error")

    def _on_finished(self) -> None:
        if self._gen is not None:
            self._gen.close()  # runs the generator's cleanup (closes export jobs)
            self._gen = None
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        edit = self.overlays.edit_layer()
        if edit is not None:
            edit.editable = True
        self._background, self._stop = False, None
        self._edited_during = set()
        self._set_running(False)
        if self.store is not None:
            self.store.update_pyramid()
        self.overlays.refresh_overview()
        self._draw_status()
        if self._outcome != "failed":
            self._say(f"{self._desc}: {self._outcome}")

    def _set_running(self, running: bool) -> None:
        for w in (self._run, self._export, self._import, self._image, self._tile_size,
                  self._overlap, self._downsample):
            w.enabled = not running
        self._target.set_enabled(not running)
        self._cancel.enabled = running

    def cancel(self, _=None) -> None:
        """Stop the running worker at its next tile (finished tiles are kept)."""
        if self.busy and self._stop is not None:  # a cluster export: stopped in its thread
            self._outcome = "cancelled"
            self._stop.set()
            self._message.value = "cancelling after the tile in progress..."
        elif self.busy:
            self.worker.quit()


def _remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def _closer(stores: dict, tmp) -> Callable[[], None]:
    def close(*_):
        for store in stores.values():
            store.close()
        stores.clear()
        if tmp is not None:
            tmp.cleanup()

    return close
