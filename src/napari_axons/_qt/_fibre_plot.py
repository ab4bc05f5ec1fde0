"""The Fibres section's plots: g-ratio against axon diameter (or a histogram) and the colour bar.

One matplotlib figure on a Qt canvas (``FigureCanvasQTAgg``), readable in a
narrow dock. On top, the colour bar of the measure the fibres are coloured by
(on the canvas and in the plot), with its limits and unit. Under it, either the
field's standard plot, the g-ratio of each myelinated fibre against its axon
diameter, its points in the fibres' colours, or a histogram of the colour
measure. The selected fibres are drawn on top (red rings; in the histogram,
their own red bars). Selecting in the plot: in the scatter a lasso selects the
points inside it and a click the nearest point (within :data:`CLICK_PX`); in the
histogram a horizontal drag selects a range and a click the bar under it. Either
calls ``on_select(ids, add)`` (``add``: Shift or Ctrl held).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.path import Path as MplPath
from matplotlib.widgets import LassoSelector, SpanSelector

__all__ = ["FibrePlot", "CLICK_PX", "HIGHLIGHT"]

#: A click in the scatter selects the nearest point within this many screen pixels.
CLICK_PX = 8.0
HIGHLIGHT = "#ff1a1a"


def _modifiers_held() -> bool:
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QApplication

    mods = QApplication.keyboardModifiers()
    return bool(mods & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))


class FibrePlot:
    """A scatter or histogram of the fibres that follows and makes the selection.

    Parameters
    ----------
    on_select : callable
        ``on_select(ids, add)`` with the fibre ids the user picked in the plot.
    height_px : int

    Attributes
    ----------
    native : QWidget
        The canvas.
    figure : matplotlib.figure.Figure
    ids : numpy.ndarray
        The fibre id of each point (scatter) or value (histogram) drawn.
    colour_label : str
        The measure of the colour bar ("" before :meth:`set_colour`).
    colour_limits : tuple of float
        Its limits (the ends of the colormap).
    """

    def __init__(self, on_select: Callable[[np.ndarray, bool], None], height_px: int = 250):
        self.figure = Figure(figsize=(4, height_px / 80), dpi=80, layout="constrained")
        self.native = FigureCanvasQTAgg(self.figure)
        self.native.setMinimumHeight(height_px)
        self._on_select = on_select
        self.colour_label, self.colour_limits, self.cmap = "", (0.0, 1.0), "viridis"
        self.kind = "empty"
        self.ids = np.zeros(0, np.int64)
        self._xy = np.zeros((0, 2))
        self._selector = None
        self._sel_artist = None
        self._hist = None
        self.empty("measure fibres to see g-ratio against axon diameter")

    def set_colour(self, label: str, limits: tuple[float, float], cmap: str = "viridis") -> None:
        """The colour bar drawn with the next plot: ``label`` from ``limits[0]`` to ``[1]``."""
        self.colour_label, self.colour_limits = label, tuple(float(v) for v in limits)
        self.cmap = cmap

    def _axes(self):
        self.figure.clear()
        ax = self.figure.add_subplot(1, 1, 1)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        self.ax = ax
        if self.colour_label:
            bar = self.figure.colorbar(
                ScalarMappable(Normalize(*self.colour_limits), colormaps[self.cmap]), ax=ax,
                location="top", fraction=0.07, pad=0.02, aspect=45)
            bar.ax.tick_params(labelsize=7)
            bar.set_label(f"fibre colour: {self.colour_label} (grey: undefined, red: selected)",
                          fontsize=8)
        return ax

    def empty(self, text: str) -> None:
        self.colour_label = ""
        ax = self._axes()
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True,
                transform=ax.transAxes)
        self.kind, self.ids, self._selector = "empty", np.zeros(0, np.int64), None
        self.native.draw_idle()

    # ---------------------------------------------------------------- scatter
    def scatter(self, ids, x, y, colours, xlabel: str, ylabel: str, selected=()) -> None:
        """One point per fibre at ``(x, y)`` (NaN left out), in ``colours`` (``(N, 4)`` RGBA)."""
        ids, x, y = np.asarray(ids), np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        ax = self._axes()
        self.kind, self.ids = "scatter", ids[ok]
        self._xy = np.column_stack([x[ok], y[ok]])
        size = 9 if ok.sum() < 2000 else 3
        ax.scatter(x[ok], y[ok], s=size, c=np.asarray(colours)[ok], linewidths=0,
                   rasterized=True)
        self._sel_artist = ax.scatter([], [], s=40, facecolors="none", edgecolors=HIGHLIGHT,
                                      linewidths=1.4, zorder=3)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        if ylabel.startswith("g-ratio"):
            ax.set_ylim(0, 1)
        self._selector = LassoSelector(ax, self._lasso, useblit=False,
                                       props={"color": HIGHLIGHT, "linewidth": 1})
        self.show_selected(selected)

    def _lasso(self, verts) -> None:
        verts = np.asarray(verts, float)
        if not len(self.ids):
            return
        px = self.ax.transData.transform(verts)
        if len(verts) < 3 or np.ptp(px, axis=0).max() < 3:  # a click: the nearest point
            pts = self.ax.transData.transform(self._xy)
            d = np.hypot(*(pts - px[0]).T)
            k = int(np.argmin(d))
            picked = self.ids[[k]] if d[k] <= CLICK_PX else self.ids[:0]
        else:
            picked = self.ids[MplPath(verts).contains_points(self._xy)]
        self._on_select(picked, _modifiers_held())

    # ---------------------------------------------------------------- histogram
    def histogram(self, ids, values, xlabel: str, selected=()) -> None:
        """A histogram of ``values`` (one per fibre; NaN left out); the selected fibres in red."""
        ids, values = np.asarray(ids), np.asarray(values, float)
        ok = np.isfinite(values)
        ax = self._axes()
        self.kind, self.ids, self._values = "histogram", ids[ok], values[ok]
        v = values[ok]
        self._edges = np.histogram_bin_edges(v, bins=min(40, max(5, int(np.sqrt(max(len(v), 1))))))
        ax.hist(v, bins=self._edges, color="0.6")
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("fibres", fontsize=8)
        self._selector = SpanSelector(ax, self._span, "horizontal", useblit=False,
                                      props={"facecolor": HIGHLIGHT, "alpha": 0.2})
        self._hist = None
        self.show_selected(selected)

    def _span(self, lo: float, hi: float) -> None:
        if not len(self.ids):
            return
        if hi - lo <= 0 or np.diff(self.ax.transData.transform([[lo, 0], [hi, 0]])[:, 0])[0] < 3:
            k = int(np.clip(np.searchsorted(self._edges, lo, "right") - 1, 0,
                            len(self._edges) - 2))
            lo, hi = self._edges[k], self._edges[k + 1]
        picked = self.ids[(self._values >= lo) & (self._values <= hi)]
        self._on_select(picked, _modifiers_held())

    # ---------------------------------------------------------------- selection
    def show_selected(self, selected) -> None:
        """Draw the fibres whose ids are in ``selected`` on top (red)."""
        sel = np.isin(self.ids, np.fromiter(selected, np.int64)) if len(self.ids) else None
        if self.kind == "scatter":
            self._sel_artist.set_offsets(self._xy[sel] if sel is not None else np.zeros((0, 2)))
        elif self.kind == "histogram":
            if self._hist is not None:
                for patch in self._hist:
                    patch.remove()
                self._hist = None
            if sel is not None and sel.any():
                _, _, self._hist = self.ax.hist(self._values[sel], bins=self._edges,
                                                color=HIGHLIGHT)
        self.native.draw_idle()

    def selected_points(self) -> np.ndarray:
        """The highlighted points' ``(x, y)`` (scatter), for tests and scripts."""
        if self.kind != "scatter":
            return np.zeros((0, 2))
        return np.asarray(self._sel_artist.get_offsets())

