"""The Fibres section of the dock widget: measure myelinated fibres, look at them, correct, save.

Top to bottom: what to measure (the tiles that hold masks, the selected tiles,
or a drawn rectangle) and the pixel size (the Tiles section's field, mirrored
here: fibres need it), *Measure fibres*; the summary; *Colour by* a measure and
*Plot*; the colour bar over the plot (g-ratio against axon diameter, or a
histogram of the colour measure) that follows the selection and makes it; the
selected fibre's row; *Remove selected* (also Delete on the fibres layer); *Save to* and *Save
table*. The buttons' work is in :mod:`._fibre_flow`, the layer in
:mod:`._fibre_layer`, the plots in :mod:`._fibre_plot`.

Selecting: a click on a fibre in the canvas selects it (Shift or Ctrl: adds or
drops it), a click on the background clears the selection; in the plot, a
lasso or a click (scatter), a drag or a click on a bar (histogram).
"""

from __future__ import annotations

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, Label, PushButton

from ..core.fibres import summarize
from . import _fibre_flow
from ._fibre_flow import AREAS, default_table_path
from ._fibre_layer import SELECTED_COLOUR, FibreLayer
from ._fibre_plot import FibrePlot
from ._fibre_table import MEASURES, measure_colours, measure_label, measure_limits, row_text
from ._grid_controls import apply_on_enter
from ._status_line import keep_narrow

__all__ = ["FibresPanel", "attach_fibres_panel", "PLOTS"]

PLOTS = ("g-ratio vs axon diameter", "histogram")


def _row(*widgets, label: str = " ") -> Container:
    row = Container(widgets=list(widgets), layout="horizontal", labels=False, label=label)
    row.margins = (0, 0, 0, 0)
    return row


def _shrinkable(*combos) -> None:
    """Combo boxes that may be narrower than their longest choice (the dock is narrow)."""
    from qtpy.QtWidgets import QComboBox

    for combo in combos:
        combo.native.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.native.setMinimumContentsLength(6)


def _snug(*buttons) -> None:
    """Buttons beside a field as wide as their text, the field taking the rest of the row."""
    from qtpy.QtWidgets import QSizePolicy

    for button in buttons:
        policy = button.native.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Maximum)
        button.native.setSizePolicy(policy)


class FibresPanel(Container):
    """The Fibres section of :class:`~._widget.AxonsWidget` ``w``.

    Attributes
    ----------
    result : FibreResult or None
        The fibres measured last (their table, instance map).
    session : Session or None
        The session they were measured in.
    selected : set of int
        Selected fibre ids.
    layer : FibreLayer
    plot : FibrePlot
        The plot and, on top of it, the colour bar.
    """

    def __init__(self, w):
        super().__init__(labels=True, label="Fibres")
        self.w = w
        self.result = self.session = None
        self.selected: set[int] = set()
        self._proposed = None
        self.area = ComboBox(label="Measure", choices=list(AREAS),
                             tooltip="The tiles that hold masks (segmented, edited, exported), "
                                     "the selected tiles, or a rectangle drawn on the image")
        self.draw = PushButton(text="Draw region",
                               tooltip="Draw the rectangle to measure on the image")
        self.pixel_size = FloatSpinBox(
            label="Pixel size (um)", value=0.0, min=0.0, max=10000.0, step=0.01,
            tooltip="Micrometres per full-resolution pixel (the Tiles section's field): type it "
                    "and press Enter")
        self.pixel_size.native.setDecimals(4)
        apply_on_enter(self.pixel_size)
        self.measure = PushButton(text="Measure fibres")
        self.summary = Label(label="Fibres", value="none measured yet")
        self.colour_by = ComboBox(label="Colour by", choices=[(t, c) for c, t in MEASURES],
                                  tooltip="The measure the fibres (canvas and plot) are "
                                          "coloured by")
        self.plot_kind = ComboBox(label="Plot", choices=list(PLOTS),
                                  tooltip="g-ratio against axon diameter, or a histogram of the "
                                          "colour measure")
        self.plot = FibrePlot(self.select, height_px=230)  # the section fits a 1280 x 800 window
        self.selection_info = Label(label="Selected", value="")
        self.remove = PushButton(text="Remove selected (Delete)",
                                 tooltip="False detections: their rows leave the table, their "
                                         "axon and myelin pixels become background in the masks "
                                         "(a hand edit, exported next time)")
        self.save_to = FileEdit(label="Save to", mode="w", filter="*.csv", nullable=True,
                                tooltip="The table (CSV); the summary goes beside it as "
                                        "*_summary.json")
        self.save = PushButton(text="Save table")
        self.extend([_row(self.area, self.draw, label="Measure"),
                     _row(self.pixel_size, self.measure, label="Pixel size (um)"), self.summary,
                     self.colour_by, self.plot_kind])
        self.native.layout().addWidget(self.plot.native)
        more = Container(widgets=[self.selection_info, self.save_to,
                                  _row(self.remove, self.save, label=" ")], labels=True)
        more.margins = (0, 0, 0, 0)
        self.native.layout().addWidget(more.native)
        self._more = more
        keep_narrow(self.summary, self.selection_info)
        _shrinkable(self.area, self.colour_by, self.plot_kind)
        _snug(self.draw, self.measure)
        self.layer = FibreLayer(w.viewer, w.overlays, on_click=self.click_at, on_delete=self.remove_selected)
        self._wire()

    def _wire(self) -> None:
        w, c = self.w, self.w.controls
        self.draw.changed.connect(lambda _=None: _fibre_flow.draw_region(self))
        self.measure.changed.connect(lambda _=None: _fibre_flow.measure(self))
        self.remove.changed.connect(self.remove_selected)
        self.save.changed.connect(lambda _=None: _fibre_flow.save_table(self))
        self.colour_by.changed.connect(self.redraw)
        self.plot_kind.changed.connect(self.redraw)
        self.pixel_size.changed.connect(self._pixel_size_typed)
        c.pixel_size.changed.connect(self._pixel_size_set)
        c.image.changed.connect(self._image_changed)
        for control in (c.tile_size, c.overlap, c.downsample):
            control.changed.connect(self._grid_changed)
        w.tabs.currentChanged.connect(lambda _=None: self.show_pixel_size())
        w.viewer.layers.events.removed.connect(self._layer_removed)

    # ---------------------------------------------------------------- pixel size
    def show_pixel_size(self) -> None:
        s = self.w.session
        px = None if s is None else s.pixel_size
        with self.pixel_size.changed.blocked():
            self.pixel_size.value = 0.0 if px is None else round(float(px.x), 4)

    def _pixel_size_typed(self, value: float) -> None:
        self.w.controls.pixel_size.value = value  # the Tiles field: the session has it

    def _pixel_size_set(self, _=None) -> None:
        self.show_pixel_size()
        if self.result is not None and self.w.overlays.placement is not None:
            self.layer.place(self.result, self.w.overlays.placement)

    # ---------------------------------------------------------------- following the widget
    def _image_changed(self, _=None) -> None:
        self.show_pixel_size()
        if self.result is not None and self.session is not self.w.session:
            self.clear()

    def _grid_changed(self, _=None) -> None:
        s, r = self.w.session, self.result
        if r is None or s is None:
            return
        if r.working_key != (s.working.factor, *s.working_shape):
            self.clear()
            self.w.say("the fibres layer was removed: it was measured at another downsample "
                       "factor (Measure fibres again)")
        else:
            self.layer.place(r, self.w.overlays.placement)

    def _layer_removed(self, event) -> None:
        if self.result is not None and self.layer.layer is None and not self._clearing:
            self.clear()

    _clearing = False

    def clear(self) -> None:
        """Forget the fibres: their layer, plot, selection."""
        self._clearing = True
        try:
            self.layer.remove()
        finally:
            self._clearing = False
        if self.result is not None:
            self.result.close()
        self.result = self.session = None
        self.selected = set()
        self.summary.value = "none measured yet"
        self.selection_info.value = ""
        self.plot.empty("measure fibres to see g-ratio against axon diameter")

    # ---------------------------------------------------------------- showing
    def show_result(self, result, session) -> str:
        """Show freshly measured fibres (layer, summary, plot); returns the line to say."""
        self.clear()
        self.result, self.session, self.selected = result, session, set()
        self.layer.show(result, self.w.overlays.placement, self._colours())
        self.redraw()
        path = self.save_to.value
        if path is None or str(path) in ("", ".") or path == self._proposed:
            self._proposed = default_table_path(self.w)
            self.save_to.value = self._proposed
        t = result.table
        return (f"Measuring fibres: {t.n_fibres} fibres in {result.what} of {session.path.name}"
                + (f", {len(t) - t.n_fibres} myelin piece(s) without axon" if len(t) > t.n_fibres
                   else "") + "; hover a fibre for its measures, click to select")

    def _values(self) -> np.ndarray:
        return self.result.table.columns[self.colour_by.value]

    def _colours(self) -> dict:
        """``{fibre id: RGBA}`` by the colour measure, the selected fibres highlighted."""
        t = self.result.table
        values = self._values()
        self._limits = measure_limits(values[t.is_fibre])
        self._rgba = measure_colours(values, self._limits)
        ids = t.columns["fibre_id"]
        colours = {int(i): c for i, c in zip(ids.tolist(), self._rgba, strict=True)}
        for i in self.selected:
            colours[int(i)] = SELECTED_COLOUR
        return colours

    def redraw(self, _=None) -> None:
        """Colours, colour bar, summary, plot and selection text from the current table."""
        if self.result is None:
            return
        colours = self._colours()
        self.layer.set_colours(colours)
        self.plot.set_colour(measure_label(self.colour_by.value), self._limits)
        self.summary.value = summary_text(self.result.table)
        self._draw_plot()
        self._show_selection()

    def _draw_plot(self) -> None:
        c, ids = self.result.table.columns, self.result.table.columns["fibre_id"]
        if not len(ids):
            self.plot.empty("no fibres")
        elif self.plot_kind.value == PLOTS[0]:
            self.plot.scatter(ids, c["axon_diam"], c["gratio"], self._rgba,
                              measure_label("axon_diam"), "g-ratio", self.selected)
        else:
            self.plot.histogram(ids, self._values(), measure_label(self.colour_by.value),
                                self.selected)

    def _show_selection(self) -> None:
        sel, t = sorted(self.selected), self.result.table
        if not sel:
            text = "none: click a fibre on the canvas, or lasso points in the plot"
        elif len(sel) == 1:
            text = row_text(t.row(self.result.index_of(sel[0])))
        else:
            rows = np.isin(t.columns["fibre_id"], sel)
            g, d = t.columns["gratio"][rows], t.columns["axon_diam"][rows]
            text = (f"{len(sel)} fibres: mean g-ratio {np.nanmean(g):.3g}, mean axon diameter "
                    f"{np.nanmean(d):.3g} um" if np.isfinite(g).any() else f"{len(sel)} fibres")
        self.selection_info.value = text

    # ---------------------------------------------------------------- selecting
    def select(self, ids, add: bool = False) -> None:
        """Select fibres by id (``add``: to the selection; one id already selected: drop it)."""
        if self.result is None:
            return
        ids = {int(i) for i in np.atleast_1d(ids) if int(i) > 0}
        if add and len(ids) == 1 and ids <= self.selected:
            new = self.selected - ids
        else:
            new = (self.selected | ids) if add else ids
        known = set(self.result.table.columns["fibre_id"].tolist())
        self.selected = new & known
        self.layer.set_colours(self._colours())
        self.plot.show_selected(self.selected)
        self._show_selection()

    def click_at(self, world, add: bool = False) -> int:
        """A click on the fibres layer: select the fibre under it (0: none, clears)."""
        if self.result is None or self.w.overlays.placement is None:
            return 0
        fid = self.result.fmap.value_at(*self.w.overlays.placement.world_to_working(world))
        if fid or not add:
            self.select([fid] if fid else [], add)
        return fid

    def remove_selected(self, _=None) -> list[int]:
        return _fibre_flow.remove_selected(self)

    def after_removal(self, removed) -> None:
        """Fibres were removed: layer, plot, summary follow the table."""
        self.selected -= set(removed)
        if removed:
            self.layer.update(self.result, self._colours())
            self.redraw()


def summary_text(table) -> str:
    """``"412 fibres (2 without myelin) in 0.044 mm² (9,364/mm²); g-ratio 0.62 ± 0.07 ..."``."""
    s = summarize(table)
    text = f"{s['fibres']} fibres"
    if s["no_myelin"]:
        text += f" ({s['no_myelin']} without myelin)"
    text += f" in {s['area_mm2']:.3g} mm²"
    if s["density_per_mm2"]:
        text += f" ({s['density_per_mm2']:,.0f}/mm²)"
    g, d = s["gratio"], s["axon_diam_um"]
    if g["mean"] is not None:
        text += (f"; g-ratio {g['mean']:.2f} ± {g['std']:.2f} (aggregate "
                 f"{s['aggregate_gratio']:.2f}); axon diameter {d['mean']:.2f} ± {d['std']:.2f} um")
    if s["orphan_myelin_pieces"]:
        text += f"; {s['orphan_myelin_pieces']} myelin piece(s) without axon"
    return text


def attach_fibres_panel(widget) -> FibresPanel:
    """Add the Fibres section to the dock widget (``widget.fibres_panel``)."""
    panel = FibresPanel(widget)
    widget.add_section("Fibres", panel)
    widget.fibres_panel = panel
    panel.show_pixel_size()
    return panel
