"""The dock widget's layout: the image on top, one tab per task, the running job always in view.

Tabs (Tiles, Segment, Correct, Export, Train; more with :func:`add_section`, e.g.
Fibres) each fit a 1280 x 800 window without scrolling, with the dock at about a
third of the window's width; a page that does not fit a smaller screen scrolls
by itself. Under the tabs, in view from every tab: the progress bar with Cancel,
and the status line (wrapped to at most :data:`STATUS_LINES` lines; the whole
text is its tooltip and napari's notification). Nothing here wires a control.
"""

from __future__ import annotations

from magicgui.widgets import Container

from ._controls import Controls

__all__ = ["build_layout", "add_section", "SECTIONS", "STATUS_LINES", "DOCK_WIDTH"]

SECTIONS = ("Tiles", "Segment", "Correct", "Export", "Train")
#: The status line shows at most this many lines (the tooltip holds the rest).
STATUS_LINES = 3
#: The width the dock asks for, in pixels (a third of a 1280-px window).
DOCK_WIDTH = 400


def _row(*widgets, label: str = "") -> Container:
    return Container(widgets=list(widgets), layout="horizontal", labels=False, label=label)


def section_widgets(c: Controls) -> dict[str, list]:
    """The controls of each section, top to bottom (Train is added by its panel)."""
    return {
        "Tiles": [c.tile_size, c.overlap, c.downsample, c.pixel_size, c.pixel_origin, c.grid_info,
                  _row(c.select_all, c.select_none, label="Tiles"), c.selection_info, c.tile_hint,
                  c.status_legend],
        "Segment": [c.segmenter, c.polarity, c.otsu_class, c.model_dir, c.classes, c.class_index,
                    c.threshold, c.batch_size, c.device, _row(c.run, label=" ")],
        "Correct": [c.paint_class, c.legend, c.import_from, c.import_dir, _row(c.load, label=" "),
                    c.session_dir, _row(c.save_session, c.open_session, label=" ")],
        "Export": [c.export_which, c.export_dir, c.replace, *c.target.widgets, c.also_write,
                   _row(c.export, label=" ")],
    }


def _page(widget):
    """A tab's page: the widget at the top of a scroll area that shows bars only when needed."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    holder = QWidget()  # rows at their natural height, the spare room below them
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(getattr(widget, "native", widget))
    layout.addStretch(1)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(holder)
    return area


def build_layout(w, c: Controls) -> None:
    """Lay out ``c`` in ``w`` (a magicgui Container): image, tabs, then the job footer.

    Sets ``w.tabs`` (a ``QTabWidget``) and ``w.pages`` (``{name: Container}``).
    """
    from qtpy.QtWidgets import QSizePolicy, QTabWidget

    w.extend([Container(widgets=[c.image], labels=True)])
    tabs = QTabWidget()
    tabs.setUsesScrollButtons(True)
    tabs.setDocumentMode(True)
    w.tabs, w.pages = tabs, {}
    for name, widgets in section_widgets(c).items():
        add_section(w, name, Container(widgets=widgets, labels=True))
    layout = w.native.layout()
    layout.addWidget(tabs, 1)
    footer = Container(widgets=[_row(c.progress_bar, c.cancel), c.message], labels=False)
    footer.margins = (0, 0, 0, 0)
    layout.addWidget(footer.native)
    w.footer = footer
    line = c.message.native.fontMetrics().lineSpacing()
    margins = c.message.native.contentsMargins()
    c.message.native.setMaximumHeight(line * STATUS_LINES + margins.top() + margins.bottom() + 6)
    c.message.native.setMinimumHeight(line + 6)
    for widget in (w.native, tabs):
        policy = widget.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Preferred)
        widget.setSizePolicy(policy)
    w.native.setMinimumWidth(280)


def add_section(w, name: str, widget) -> int:
    """Add a task section (a magicgui widget or a QWidget) as a tab; returns its index.

    The place for sections built elsewhere, e.g. ``add_section(widget, "Fibres", panel)``.
    """
    if hasattr(widget, "margins"):
        widget.margins = (6, 6, 6, 6)
    w.pages[name] = widget
    return w.tabs.addTab(_page(widget), name)
