"""The napari dock widget: a view of a :class:`~napari_axons.core.session.Session`.

The session (headless) holds the image, grid, selection, tile statuses, the
mask store of class maps and the hand edits (in full-resolution pixels). This
widget only shows it and calls it:

* controls (:mod:`._controls`; the grid's applied on Enter, :mod:`._grid_controls`),
  five layers (:mod:`._overlays`: grid lines, tile numbers, tile marks of
  :mod:`._tile_marks`, the read-only overview and the editable window of
  :mod:`._edit_window`, which follows the tile painted on, :mod:`._paint_follow`),
  a worker runner (:mod:`._runner`) and what shows while it runs (:mod:`._run_view`,
  :mod:`._status_line`);
* Segment, Export and Load masks (:mod:`._flows`) ask first wherever hand
  edits or an earlier export would be lost; "No" keeps them and the status
  line says so;
* the format bridges (:mod:`._bridges`): "Also write" QuPath GeoJSON, COCO or
  OME-Zarr labels after an export, "Load from" a GeoJSON file or the image's
  OME-Zarr labels;
* the viewer's layer list is followed (:mod:`._viewer_follow`).

Clicking on the canvas while one of the overlay layers is active toggles the
tile under the cursor, Shift+drag adds a box of tiles (:mod:`._picking`; a drag
pans as usual). Changing the tile size, overlap or downsample factor keeps the
masks and the edits (one session per image).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from magicgui.widgets import Container

from ..core.common import ClassTable
from ..core.geometry import Placement
from ..core.image import ImageReadError, open_image
from ..core.session import Session
from . import _bridges, _flows
from ._controls import add_controls, ask, legend_html, segmenter_factory
from ._edit_window import EditWindow
from ._grid_controls import apply_on_enter, grid_refusal
from ._grid_layer import MAX_TEXT_TILES, pick_tile
from ._image_file import layer_path, layer_pixels, session_key
from ._overlays import GRID_LAYER, Overlays
from ._paint_follow import paint_guard
from ._picking import pick_callback, tiles_in_box
from ._run_view import RunView
from ._runner import Runner
from ._status_line import keep_narrow, short
from ._tile_marks import status_legend_html
from ._train_panel import attach_train_panel
from ._viewer_follow import ViewerFollower
from ._worker import one_line

__all__ = ["AxonsWidget"]

#: The overview pyramid halves the mask until its longer side is at most this.
OVERVIEW_MIN_SIDE = 1024


class AxonsWidget(RunView, Container):
    """Tile, segment, correct and export huge images in napari.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    cache_dir : str or Path, optional
        Where mask stores, edits (and copies of image layers that have no file)
        live; default: a new temporary folder, deleted with the widget.

    Attributes
    ----------
    session : Session or None
        The model: the current image's grid, selection, statuses, masks, edits.
    confirm : callable
        ``confirm(title, text) -> bool`` asks the user; replace it in tests.
    messages : list of str
        Everything the user was told, in order.
    """

    @property
    def native(self):
        """The scroll area around the controls: what napari docks (napari takes ``.native``,
        not magicgui's ``root_native_widget``), so that the window fits a 1080p screen."""
        return self.root_native_widget

    def __init__(self, napari_viewer, *, cache_dir: str | Path | None = None):
        super().__init__(labels=True, scrollable=True)  # a scroll area: fits 1080p screens
        self.viewer = napari_viewer
        self._tmp = None
        if cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="napari-axons-cache-")
            cache_dir = self._tmp.name
        self.cache_dir = Path(cache_dir)
        self.confirm: Callable[[str, str], bool] = ask
        self.messages: list[str] = []
        self.session: Session | None = None
        add_controls(self, self._image_choices)
        self._sessions: dict[str, Session] = {}
        self._layer = None
        self._last_picked: int | None = None
        self._edited_during: set[int] = set()
        self._note, self._last_draw = "", 0.0
        self.overlays = Overlays(napari_viewer,
                                 on_click=pick_callback(self.toggle_at, self.add_box),
                                 on_paint=lambda event: self.window.on_paint(event))
        self.overlays.on_edit_press = paint_guard(self)
        self.window = EditWindow(self.overlays, session=lambda: self.session,
                                 locked=lambda: self.busy and not self.runner.background,
                                 on_edited=self._on_edited, say=self._say)
        self.runner = Runner(say=self._say, on_start=self._on_run_start,
                             on_finish=self._on_run_finish, on_progress=self._show_progress)
        self._image.changed.connect(self._on_image_changed)
        apply_on_enter(self._tile_size, self._overlap, self._downsample)
        keep_narrow(self._message, self._grid_info, self._selection_info, self._tile_hint,
                    self._legend, self._status_legend)
        for c in (self._tile_size, self._overlap, self._downsample):
            c.changed.connect(self._rebuild_grid)
        self._select_all.changed.connect(self.select_all)
        self._select_none.changed.connect(self.select_none)
        self._run.changed.connect(self.segment_selected)
        self._cancel.changed.connect(self.cancel)
        self._import.changed.connect(self.load_masks)
        self._save_session.changed.connect(lambda _=None: _flows.save_session(self))
        self._open_session.changed.connect(lambda _=None: _flows.open_session(self))
        self._export.changed.connect(self.export)
        self._paint_class.changed.connect(self._on_paint_class)
        self._import_from.changed.connect(lambda _=None: _bridges.show_load_from(self))
        self._also_write.changed.connect(lambda _=None: _bridges.check_also_write(self))
        self.follower = ViewerFollower(self)
        self.overlays.follow_zoom()
        self._status_legend.value = status_legend_html()
        self.native.destroyed.connect(_closer(self._sessions, self._tmp))
        attach_train_panel(self)  # the Train section (self.train_panel)
        choices = self._image_choices()
        if choices:
            self._image.value = choices[-1][1]  # the newest image

    # ================================================================ the model, seen
    grid = property(lambda self: None if self.session is None else self.session.grid)
    selected = property(lambda self: set() if self.session is None else self.session.selected)
    status = property(lambda self: {} if self.session is None else self.session.status)
    store = property(lambda self: None if self.session is None else self.session.store)
    image_path = property(lambda self: None if self.session is None or self.session.in_memory
                          else self.session.path)
    busy = property(lambda self: self.runner.busy)
    worker = property(lambda self: self.runner.worker)

    # ================================================================ helpers
    def _image_choices(self, _widget=None):
        from napari.layers import Image

        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def _say(self, text: str, level: str = "info") -> None:
        from napari.utils import notifications

        self.messages.append(text)
        self._message.value = short(text)  # wrapped: the dock keeps its width
        self._message.tooltip = text
        {"info": notifications.show_info, "warning": notifications.show_warning,
         "error": notifications.show_error}[level](text)

    def _chosen_folder(self, edit, what: str) -> Path | None:
        """The folder picked in ``edit``, or None after asking the user to pick one."""
        folder = edit.value
        if folder is None or str(folder) in ("", "."):
            self._say(f"choose {what} first", "warning")
            return None
        return Path(folder)

    # ================================================================ image & grid
    def _on_image_changed(self, layer) -> None:
        if layer is not self._layer:
            self._set_image(layer)

    def _set_image(self, layer) -> None:
        self.window.flush()
        self._layer = self.session = None
        self.window.reset()
        if layer is None:
            self._grid_info.value = "no image"
            self.follower.clear(self.overlays)
            return
        try:
            session = self._sessions.get(session_key(layer))
            if session is None:
                path = layer_path(layer)
                kwargs = {"cache_dir": self.cache_dir, "tile_size": self._tile_size.value,
                          "overlap": self._overlap.value, "downsample": self._downsample.value,
                          "overview_min_side": OVERVIEW_MIN_SIDE}
                if path is None:  # no file: the layer's own pixels, no copy on disk
                    session = Session.from_array(layer_pixels(layer), layer.name, **kwargs)
                else:
                    session = Session(path, source=open_image(path), **kwargs)
                self._sessions[session_key(layer)] = session
                for note in () if session.in_memory else session.source.notes:
                    self._say(note, "warning")
                _bridges.tell_labels(self, session)
        except (ImageReadError, OSError, ValueError) as exc:
            self._say(one_line(exc), "error")
            self.follower.clear(self.overlays)
            return
        self._layer, self.session = layer, session
        self._set_classes(session.classes)
        self._rebuild_grid()

    def _rebuild_grid(self, _value=None) -> None:
        """Apply the grid controls to the session and redraw the overlays."""
        s = self.session
        if s is None:
            return
        tile, overlap, factor = self._tile_size.value, self._overlap.value, self._downsample.value
        refused = grid_refusal(s.source.height // factor, s.source.width // factor, tile, overlap)
        if refused:  # the typed value stays in its box, the grid as it was
            self._say(refused, "warning")
            return
        self.window.flush()
        try:
            s.set_grid(self._tile_size.value, self._overlap.value, self._downsample.value)
        except (ImageReadError, ValueError) as exc:
            self._say(one_line(exc), "error")
            return
        grid, working, layer = s.grid, s.working, self._layer
        self.overlays.placement = Placement(
            tuple(float(v) for v in layer.scale[-2:]), tuple(float(v) for v in layer.translate[-2:]),
            (working.scale_y, working.scale_x), tuple(str(u) for u in layer.units[-2:]))
        self._last_picked = None
        self.window.reset(working.height, working.width)
        factor = working.factor
        self._grid_info.value = (f"{len(grid)} tiles, {working.width} x {working.height} px"
                                 + (f" (1/{factor})" if factor > 1 else ""))
        if not self.overlays.draw_grid(grid):
            self._say(f"{len(grid)} tiles: tile numbers are not drawn above {MAX_TEXT_TILES} tiles")
        self.overlays.show_masks(s.store)
        self._on_paint_class()
        self._draw_status()
        self._update_selection_view()
        self.viewer.layers.selection.active = self.overlays.get(GRID_LAYER)

    def _draw_status(self) -> None:
        s = self.session
        if s is not None:
            self.overlays.draw_marks(s.grid, s.status, s.selected)

    # ================================================================ classes
    def _set_classes(self, classes: ClassTable) -> None:
        """Show ``classes``: layer colours and names, the legend, the Paint class choice."""
        self.session.classes = classes
        self.overlays.set_classes(classes)
        self._legend.value = legend_html(classes)
        current = self._paint_class.value
        self._paint_class.choices = []  # then in the table's order
        self._paint_class.reset_choices()
        self._paint_class.value = current if current is not None and current < len(classes) else 1

    def _on_paint_class(self, _=None) -> None:
        edit = self.overlays.edit_layer()
        if edit is not None and self._paint_class.value is not None:
            edit.selected_label = int(self._paint_class.value)

    # ================================================================ selection
    def toggle_at(self, world_position) -> int | None:
        """Toggle the selection of the tile under a world position; returns its index."""
        if self.session is None:
            return None
        box = pick_tile(self.grid, *self.overlays.placement.world_to_working(world_position))
        if box is None:
            return None
        sel = self.selected ^ {box.index}
        self._last_picked = box.index if box.index in sel else None
        self.set_selection(sel)
        return box.index

    def add_box(self, world0, world1) -> list[int]:
        """Add the tiles meeting the box between two world positions (Shift+drag)."""
        if self.session is None:
            return []
        to_working = self.overlays.placement.world_to_working
        tiles = tiles_in_box(self.grid, to_working(world0), to_working(world1))
        self.set_selection(self.selected | set(tiles))
        return tiles

    def select_all(self, _=None) -> None:
        if self.session is not None:
            self.set_selection(range(len(self.grid)))

    def select_none(self, _=None) -> None:
        self.set_selection(())

    def set_selection(self, indices: Iterable[int]) -> None:
        """Select tiles; writes pending edits back, then moves the edit window over them."""
        if self.session is not None:
            self.window.flush()
            self.session.select(indices)
            self._update_selection_view()

    def _update_selection_view(self) -> None:
        grid, sel = self.grid, self.selected
        self.overlays.draw_marks(grid, self.status, sel)
        self._selection_info.value = f"{len(sel)} of {len(grid)} tiles"
        focus = grid[self._last_picked] if self._last_picked in sel else None
        self.window.move([grid[i] for i in sorted(sel)], focus)

    # ================================================================ edits
    def _on_edited(self, tiles: list[int]) -> None:
        """The user changed these tiles' masks (stored and recorded by the session)."""
        if self.runner.background:  # its export (if any) holds the earlier mask
            self._edited_during.update(tiles)
        self.overlays.refresh_overview()
        self._draw_status()

    # ================================================================ segmentation
    def _make_segmenter(self) -> Callable[[], object]:
        return segmenter_factory(self)

    def segment_selected(self, _=None):
        """Segment the selected tiles in a worker; see :func:`._flows.segment`."""
        return _flows.segment(self)

    # ================================================================ export, masks
    def export(self, _=None):
        """Export tiles, masks and label JSON from the session; see :func:`._flows.export`."""
        return _flows.export(self)

    def load_masks(self, _=None):
        """Load the masks of an earlier export; see :func:`._flows.load_masks`."""
        return _flows.load_masks(self)


def _closer(sessions: dict, tmp) -> Callable[[], None]:
    def close(*_):
        for session in sessions.values():
            session.close()
        sessions.clear()
        if tmp is not None:
            tmp.cleanup()

    return close
