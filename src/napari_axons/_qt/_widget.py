"""The napari dock widget: a view of a :class:`~napari_axons.core.session.Session`.

The session (headless) holds the image, grid, selection, tile statuses, the
mask store of class maps, the class table and the hand edits (in
full-resolution pixels). This widget only shows it and calls its public methods:

* controls (:mod:`._controls`) laid out in task sections (:mod:`._sections`:
  Tiles, Segment, Correct, Export, Train, Fibres of :mod:`._fibres_panel`;
  :meth:`AxonsWidget.add_section` for more), the running job's progress and status
  under them in every tab;
* fields that belong to one image (export folder, status, pixel size) follow
  the selected image (:mod:`._image_state`);
* five layers (:mod:`._overlays`: grid lines, tile numbers, tile marks of
  :mod:`._tile_marks`, the read-only overview and the editable window of
  :mod:`._edit_window`, which follows the tile painted on, :mod:`._paint_follow`),
  a worker runner (:mod:`._runner`) and what shows while it runs (:mod:`._run_view`);
* Segment (:mod:`._segment_flow`), Export (:mod:`._export_flow`), Load masks and
  sessions (:mod:`._masks_flow`) ask first wherever hand edits or an export
  would be lost; the format bridges (:mod:`._bridges`);
* an export opened in napari resumes where it was left (:mod:`._resume`);
* the viewer's layer list is followed (:mod:`._viewer_follow`).

Clicking on the canvas (on the image or any of our layers) toggles the tile
under the cursor, Shift+drag adds a box of tiles (:mod:`._picking`,
:mod:`._selecting`; a drag pans as usual). Changing the tile size, overlap or
downsample factor keeps the masks and the edits (one session per image).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import Container

from ..core.geometry import Placement
from ..core.image import ImageReadError, open_image
from ..core.session import Session
from . import _bridges, _export_flow, _masks_flow, _resume, _segment_flow
from ._controls import Controls, ask, legend_html
from ._edit_window import EditWindow
from ._fibres_panel import attach_fibres_panel
from ._grid_controls import apply_on_enter, grid_refusal
from ._grid_layer import MAX_TEXT_TILES
from ._image_file import layer_path, layer_pixels, session_key
from ._image_state import ImageFields, set_pixel_size
from ._overlays import Overlays
from ._paint_follow import paint_guard
from ._picking import pick_callback
from ._run_view import RunView
from ._runner import Runner
from ._sections import DOCK_WIDTH, add_section, build_layout
from ._segmenter_choice import segmenter_factory
from ._selecting import Selecting
from ._status_line import keep_narrow, short
from ._tile_marks import status_legend_html
from ._train_panel import attach_train_panel
from ._viewer_follow import ViewerFollower
from ._worker import one_line

__all__ = ["AxonsWidget"]

#: The overview pyramid halves the mask until its longer side is at most this.
OVERVIEW_MIN_SIDE = 1024


class AxonsWidget(RunView, Selecting, Container):
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
    controls : Controls
        Every control, by name (``controls.tile_size``, ``controls.export``, ...).
    confirm : callable
        ``confirm(title, text) -> bool`` asks the user; replace it in tests.
    messages : list of str
        Everything the user was told, in order.
    layer : napari Image layer or None
        The image the session is of.
    """

    def __init__(self, napari_viewer, *, cache_dir: str | Path | None = None):
        super().__init__(labels=False)
        self.viewer = napari_viewer
        self._tmp = None
        if cache_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="napari-axons-cache-")
            cache_dir = self._tmp.name
        self.cache_dir = Path(cache_dir)
        self.confirm: Callable[[str, str], bool] = ask
        self.messages: list[str] = []
        self.session: Session | None = None
        self.layer = None
        self.sessions: dict[str, Session] = {}
        #: Export folders resumed here (their reader's labels layers are dropped).
        self.resumed: set[Path] = set()
        self.last_picked: int | None = None
        self.edited_during: set[int] = set()
        self.note, self._last_draw = "", 0.0
        self.controls = c = Controls(self.image_choices, lambda: getattr(self.session, "classes", None))
        build_layout(self, c)
        self.fields = ImageFields(c)
        self.overlays = Overlays(napari_viewer,
                                 on_click=pick_callback(self.toggle_at, self.add_box),
                                 on_paint=lambda event: self.window.on_paint(event))
        self.overlays.on_edit_press = paint_guard(self)
        self.window = EditWindow(self.overlays, session=lambda: self.session,
                                 locked=lambda: self.busy and not self.runner.background,
                                 on_edited=self._on_edited, say=self.say)
        self.runner = Runner(say=self.say, on_start=self._on_run_start,
                             on_finish=self._on_run_finish, on_progress=self._show_progress)
        self._wire(c)
        self.follower = ViewerFollower(self)
        self.overlays.follow_zoom()
        c.status_legend.value = status_legend_html()
        self.native.destroyed.connect(_closer(self.sessions, self._tmp))
        attach_train_panel(self)  # the Train section (self.train_panel)
        attach_fibres_panel(self)  # the Fibres section (self.fibres_panel)
        self.native.resize(DOCK_WIDTH, self.native.sizeHint().height())
        choices = self.image_choices()
        if choices:
            c.image.value = choices[-1][1]  # the newest image

    def _wire(self, c: Controls) -> None:
        c.image.changed.connect(self._on_image_changed)
        apply_on_enter(c.tile_size, c.overlap, c.downsample, c.pixel_size)
        keep_narrow(c.message, c.grid_info, c.selection_info, c.tile_hint, c.legend,
                    c.status_legend, c.pixel_origin)
        for control in (c.tile_size, c.overlap, c.downsample):
            control.changed.connect(self.rebuild_grid)
        c.pixel_size.changed.connect(self._on_pixel_size)
        c.select_all.changed.connect(self.select_all)
        c.select_none.changed.connect(self.select_none)
        c.run.changed.connect(self.segment_selected)
        c.cancel.changed.connect(self.cancel)
        c.load.changed.connect(self.load_masks)
        c.save_session.changed.connect(lambda _=None: _masks_flow.save_session(self))
        c.open_session.changed.connect(lambda _=None: _masks_flow.open_session(self))
        c.export.changed.connect(self.export)
        c.paint_class.changed.connect(self._on_paint_class)
        c.import_from.changed.connect(lambda _=None: _bridges.show_load_from(self))
        c.also_write.changed.connect(lambda _=None: _bridges.check_also_write(self))
        c.segmenter.changed.connect(c.show_segmenter_options)
        c.classes.changed.connect(c.show_segmenter_options)
        c.polarity.changed.connect(lambda v: c.follow_polarity(
            "dark" if v == "bright" else "bright", v))
        c.show_segmenter_options()

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
    def image_choices(self, _widget=None):
        """The viewer's image layers, as ``(name, layer)`` choices."""
        from napari.layers import Image

        return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, Image)]

    def say(self, text: str, level: str = "info") -> None:
        """Tell the user: the status line (under every section) and napari's notification."""
        from napari.utils import notifications

        self.messages.append(text)
        self.controls.message.value = short(text)  # wrapped: the dock keeps its width
        self.controls.message.tooltip = text
        {"info": notifications.show_info, "warning": notifications.show_warning,
         "error": notifications.show_error}[level](text)

    def chosen_folder(self, edit, what: str) -> Path | None:
        """The folder picked in ``edit``, or None after asking the user to pick one."""
        folder = edit.value
        if folder is None or str(folder) in ("", "."):
            self.say(f"choose {what} first", "warning")
            return None
        return Path(folder)

    def add_section(self, name: str, widget) -> int:
        """Add a task section (tab), e.g. ``add_section("Fibres", panel)``; returns its index."""
        return add_section(self, name, widget)

    def make_segmenter(self) -> Callable[[], object]:
        """A function that loads the chosen segmenter (called in the worker)."""
        return segmenter_factory(self.controls)

    # ================================================================ image & grid
    def _on_image_changed(self, layer) -> None:
        if layer is not self.layer:
            self.set_image(layer)

    def set_image(self, layer) -> None:
        """Make ``layer`` the widget's image: its session (made, or resumed from its export)."""
        self.window.flush()
        self.fields.leave()
        self.layer = self.session = None
        self.window.reset()
        if layer is None:
            self.controls.grid_info.value = "no image"
            self.fields.enter(None, None)
            self.follower.clear(self.overlays)
            return
        key = session_key(layer)
        export = _resume.export_of(layer)
        session = self.sessions.get(key)
        fresh = session is None
        try:
            if fresh and export is not None:
                session = _resume.open_session(self, layer, export)
            elif fresh:
                session = self._new_session(layer)
            self.sessions[key] = session
        except (ImageReadError, OSError, ValueError) as exc:
            self.say(one_line(exc), "error")
            self.follower.clear(self.overlays)
            return
        self.layer, self.session = layer, session
        self.fields.enter(key, session, export_dir=_resume.export_folder(export, session))
        self.show_classes()
        self.rebuild_grid()
        if export is not None and fresh:
            self.resumed.add(export.folder.resolve())
            _resume.load(self, export)  # the export's masks, classes and statuses

    def _new_session(self, layer) -> Session:
        c = self.controls
        path = layer_path(layer)
        kwargs = {"cache_dir": self.cache_dir, "tile_size": c.tile_size.value,
                  "overlap": c.overlap.value, "downsample": c.downsample.value,
                  "overview_min_side": OVERVIEW_MIN_SIDE}
        if path is None:  # no file: the layer's own pixels, no copy on disk
            session = Session.from_array(layer_pixels(layer), layer.name, **kwargs)
        else:
            session = Session(path, source=open_image(path), **kwargs)
        for note in () if session.in_memory else session.source.notes:
            self.say(note, "warning")
        _bridges.tell_labels(self, session)
        return session

    def set_grid_controls(self, tile_size: int, overlap: int, downsample: int) -> None:
        """Show a grid in the controls without applying it (the session has it already)."""
        c = self.controls
        for control, value in ((c.tile_size, tile_size), (c.overlap, overlap),
                               (c.downsample, downsample)):
            with control.changed.blocked():
                control.value = value

    def rebuild_grid(self, _value=None) -> None:
        """Apply the grid controls to the session and redraw the overlays."""
        s, c = self.session, self.controls
        if s is None:
            return
        tile, overlap, factor = c.tile_size.value, c.overlap.value, c.downsample.value
        refused = grid_refusal(s.source.height // factor, s.source.width // factor, tile, overlap)
        if refused:  # the typed value stays in its box, the grid as it was
            self.say(refused, "warning")
            return
        self.window.flush()
        try:
            s.set_grid(tile, overlap, factor)
        except (ImageReadError, ValueError) as exc:
            self.say(one_line(exc), "error")
            return
        grid, working, layer = s.grid, s.working, self.layer
        self.overlays.placement = Placement(
            tuple(float(v) for v in layer.scale[-2:]), tuple(float(v) for v in layer.translate[-2:]),
            (working.scale_y, working.scale_x), tuple(str(u) for u in layer.units[-2:]))
        self.last_picked = None
        self.window.reset(working.height, working.width)
        c.grid_info.value = (f"{len(grid)} tiles, {working.width} x {working.height} px"
                             + (f" (1/{working.factor})" if working.factor > 1 else ""))
        if not self.overlays.draw_grid(grid):
            self.say(f"{len(grid)} tiles: tile numbers are not drawn above {MAX_TEXT_TILES} tiles")
        self.overlays.show_masks(s.store)
        self._on_paint_class()
        self.draw_status()
        self.update_selection_view()
        self.overlays.hand_clicks_to(layer)  # the image is active: no drawing tools in the way

    def _on_pixel_size(self, value: float) -> None:
        set_pixel_size(self, value)

    def draw_status(self) -> None:
        s = self.session
        if s is not None:
            self.overlays.draw_marks(s.grid, s.status, s.selected)

    # ================================================================ classes
    def show_classes(self) -> None:
        """Show the session's classes: layer colours and names, the legend, the Paint class."""
        classes, c = self.session.classes, self.controls
        self.overlays.set_classes(classes)
        c.legend.value = legend_html(classes)
        current = c.paint_class.value
        c.paint_class.choices = []  # then in the table's order
        c.paint_class.reset_choices()
        c.paint_class.value = current if current is not None and current < len(classes) else 1

    def _on_paint_class(self, _=None) -> None:
        edit = self.overlays.edit_layer()
        if edit is not None and self.controls.paint_class.value is not None:
            edit.selected_label = int(self.controls.paint_class.value)

    # ================================================================ edits
    def _on_edited(self, tiles: list[int]) -> None:
        """The user changed these tiles' masks (stored and recorded by the session)."""
        if self.runner.background:  # its export (if any) holds the earlier mask
            self.edited_during.update(tiles)
        self.overlays.refresh_overview()
        self.draw_status()

    # ================================================================ the buttons
    def segment_selected(self, _=None):
        """Segment the selected tiles in a worker; see :func:`._segment_flow.segment`."""
        return _segment_flow.segment(self)

    def export(self, _=None):
        """Export tiles, masks and label JSON from the session; see :func:`._export_flow.export`."""
        return _export_flow.export(self)

    def load_masks(self, _=None):
        """Load the masks of an earlier export; see :func:`._masks_flow.load_masks`."""
        return _masks_flow.load_masks(self)


def _closer(sessions: dict, tmp) -> Callable[[], None]:
    def close(*_):
        for session in sessions.values():
            session.close()
        sessions.clear()
        if tmp is not None:
            tmp.cleanup()

    return close
