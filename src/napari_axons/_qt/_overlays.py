"""The dock widget's napari layers: grid, tile numbers, selection, status and masks.

:class:`Overlays` makes each layer once, keeps it placed over the working image
(:class:`~._grid_layer.Placement`) and redraws it from the widget's state; the
widget decides *what* to show, this module *how*. The geometry is in
:mod:`._grid_layer` (pure numpy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from ..core.common import DEFAULT_TABLE, ClassTable
from ..core.geometry import TileGrid
from ..core.session import MaskStore
from ._grid_layer import GRID_COLOUR, Placement
from ._grid_lod import GridLevelOfDetail
from ._tile_marks import TILES_LAYER, draw_marks

__all__ = ["Overlays", "class_colours", "GRID_LAYER", "INDEX_LAYER", "TILES_LAYER",
           "OVERVIEW_LAYER", "EDIT_LAYER"]

GRID_LAYER = "axons tile grid"
INDEX_LAYER = "axons tile index"
OVERVIEW_LAYER = "axons masks (read-only)"
#: The one layer the user paints on (named so in the layer list).
EDIT_LAYER = "paint here: axons masks"
#: Bottom to top, all above the image: five layers of ours.
LAYER_ORDER = (OVERVIEW_LAYER, EDIT_LAYER, GRID_LAYER, TILES_LAYER, INDEX_LAYER)


def class_colours(classes: ClassTable):
    """Each class in its table colour, 0 transparent (a napari label colormap)."""
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict=classes.napari_colormap())


def class_features(classes: ClassTable) -> dict:
    """The Labels layer's features: one row per class value, with its name (shown on hover)."""
    return {"index": list(range(len(classes))), "class": list(classes.names)}


class Overlays:
    """The widget's layers in one viewer.

    Parameters
    ----------
    viewer : napari.Viewer
    on_click : callable
        Mouse-drag callback added to every layer but the edit window (selects tiles).
    on_paint : callable
        Connected to the edit window's ``paint`` event.

    Attributes
    ----------
    placement : Placement or None
        Where working pixels sit in the world; set by the widget for each grid.
    above_masks : list
        Layers of other sections kept right above the mask layers, under the grid
        (the fibres layer): :meth:`order` keeps them there.
    """

    def __init__(self, viewer, *, on_click: Callable, on_paint: Callable):
        self.viewer = viewer
        self.placement: Placement | None = None
        self._on_click, self._on_paint = on_click, on_paint
        self.on_edit_press: Callable | None = None  # set by the widget (see _paint_follow)
        self._layers: dict[str, object] = {}
        self._overview_store: MaskStore | None = None
        self.above_masks: list = []
        self.classes: ClassTable = DEFAULT_TABLE

    # -- layers -------------------------------------------------------------
    def get(self, name: str):
        """The layer ``name`` if it is in the viewer, else None."""
        layer = self._layers.get(name)
        return layer if layer is not None and layer in self.viewer.layers else None

    def is_ours(self, layer) -> bool:
        """True for one of the widget's own layers."""
        return any(layer is mine for mine in self._layers.values())

    def hand_clicks_to(self, image) -> None:
        """Tile picking on the image layer too, and make it the active layer.

        With our grid (a Shapes layer) active, napari showed its drawing tools and
        their key hints; the image's controls have none, and a click on it picks
        tiles as a click on our layers does.
        """
        old = getattr(self, "_image", None)
        if old is not None and old is not image and self._on_click in old.mouse_drag_callbacks:
            old.mouse_drag_callbacks.remove(self._on_click)
        self._image = image
        if image is None:
            return
        if self._on_click not in image.mouse_drag_callbacks:
            image.mouse_drag_callbacks.append(self._on_click)
        if image in self.viewer.layers:
            self.viewer.layers.selection.active = image

    def edit_layer(self):
        """The editable mask window (a Labels layer), or None."""
        return self.get(EDIT_LAYER)

    def _get_or_make(self, name: str, make: Callable[[], object]):
        layer = self.get(name)
        if layer is None:
            for stale in [la for la in self.viewer.layers if la.name == name]:
                self.viewer.layers.remove(stale)  # an orphan of ours: never "name [1]"
            layer = make()
            self._layers[name] = layer
            if name == EDIT_LAYER:
                layer.events.paint.connect(self._on_paint)
                if self.on_edit_press is not None:  # before napari's painting
                    layer.mouse_drag_callbacks.insert(0, self.on_edit_press)
            else:  # clicking on any overlay (or the overview) selects tiles
                layer.mouse_drag_callbacks.append(self._on_click)
        return layer

    def place(self, layer) -> None:
        """Give ``layer`` the placement's scale and translate (data = working pixels)."""
        scale, translate = self.placement.scale, self.placement.translate
        if tuple(layer.scale) != scale or tuple(layer.translate) != translate:
            layer.scale = scale
            layer.translate = translate
        units = getattr(self.placement, "units", None)
        if units is not None and tuple(str(u) for u in layer.units) != units:
            layer.units = units  # the image's micrometres: one scale bar unit for all layers

    def clear(self) -> None:
        """Remove every layer of ours from the viewer."""
        for name in list(self._layers):
            layer = self.get(name)
            if layer is not None:
                self.viewer.layers.remove(layer)
            self._layers.pop(name, None)

    def order(self) -> None:
        """Masks above the image, :attr:`above_masks` above them, overlays on top."""
        layers = self.viewer.layers
        ours = [la for la in map(self.get, LAYER_ORDER) if la is not None]
        above = [la for la in self.above_masks if la in layers]
        if above:  # after the overview and the edit window
            at = sum(self.get(name) is not None for name in (OVERVIEW_LAYER, EDIT_LAYER))
            ours[at:at] = above
        if [la for la in layers if la in ours] == ours and all(
            layers.index(la) >= len(layers) - len(ours) for la in ours
        ):
            return  # already in order, on top
        for layer in ours:
            layers.move(layers.index(layer), len(layers))

    # -- drawing --------------------------------------------------------------
    def draw_grid(self, grid: TileGrid) -> bool:
        """Grid lines and tile numbers by level of detail (:mod:`._grid_lod`); returns True."""
        lines = self._get_or_make(GRID_LAYER, lambda: self.viewer.add_shapes(
            name=GRID_LAYER, edge_color=GRID_COLOUR, opacity=0.8))
        self.place(lines)
        points = self._get_or_make(INDEX_LAYER, lambda: self.viewer.add_points(
            np.empty((0, 2)), name=INDEX_LAYER, size=1, face_color="transparent",
            border_color="transparent", border_width=0, features={"index": np.empty(0, object)},
            text={"string": "{index}", "color": GRID_COLOUR, "size": 10, "anchor": "upper_left"}))
        self.place(points)
        if getattr(self, "grid_lod", None) is None:

            self.grid_lod = GridLevelOfDetail(self.viewer)
        self.grid_lod.set_grid(grid, lines, points)
        return True  # numbers show wherever a tile is large enough on screen

    def show_masks(self, store: MaskStore) -> None:
        """The read-only overview of ``store`` and an empty edit window above it."""
        overview = self.get(OVERVIEW_LAYER)
        if overview is not None and self._overview_store is not store:
            self.viewer.layers.remove(overview)  # another image or factor: other levels
            self._layers.pop(OVERVIEW_LAYER, None)
        self._overview_store = store
        levels = store.levels
        overview = self._get_or_make(OVERVIEW_LAYER, lambda: self.viewer.add_labels(
            levels if len(levels) > 1 else levels[0], name=OVERVIEW_LAYER, opacity=0.5,
            multiscale=len(levels) > 1, colormap=class_colours(self.classes)))
        overview.editable = False
        self.place(overview)
        edit = self._get_or_make(EDIT_LAYER, lambda: self.viewer.add_labels(
            np.zeros((1, 1), np.uint8), name=EDIT_LAYER, opacity=0.7,
            colormap=class_colours(self.classes)))
        edit.data = np.zeros((1, 1), np.uint8)
        self.place(edit)
        self.set_classes(self.classes)
        self.order()

    def set_classes(self, classes: ClassTable) -> None:
        """Show class maps of ``classes``: colours and the features (names) of both mask layers."""
        self.classes = classes
        for layer in (self.get(OVERVIEW_LAYER), self.get(EDIT_LAYER)):
            if layer is not None:
                layer.colormap = class_colours(classes)
                layer.features = class_features(classes)

    def refresh_overview(self) -> None:
        """Show the mask store's current content in the overview."""
        layer = self.get(OVERVIEW_LAYER)
        if layer is None:
            return
        if layer.multiscale:
            # napari 0.9 caches the lowest pyramid level (the thumbnail level) until
            # the data is replaced: re-set it, or a zoomed-out view stays stale.
            layer.data = self._overview_store.levels
        else:
            layer.refresh()

    def draw_marks(self, grid: TileGrid | None = None, status: dict[int, str] | None = None,
                   selected: Iterable[int] | None = None) -> None:
        """Selected tiles and tile statuses (:mod:`._tile_marks`); no arguments: redraw the last."""
        if grid is not None:
            self._marks = (grid, dict(status or {}), set(selected or ()))
        if getattr(self, "_marks", None) is None:
            return
        grid, status, selected = self._marks
        layer = self._get_or_make(TILES_LAYER, lambda: self.viewer.add_shapes(
            name=TILES_LAYER, face_color="transparent", opacity=1.0))
        self.place(layer)
        draw_marks(self.viewer, layer, grid, status, selected, self._px_per_pixel(layer))
        self._marks_zoom = self._camera().zoom
        self.order()

    def _camera(self):
        return getattr(self.viewer, "scene", self.viewer).camera

    def _px_per_pixel(self, layer) -> float:
        """Screen pixels per working pixel at the current zoom."""
        return float(self._camera().zoom) * float(np.mean(np.abs(np.asarray(layer.scale)[-2:])))

    def follow_zoom(self) -> None:
        """Redraw the marks (their outline widths) when the zoom changes by a quarter or more."""
        from qtpy.QtCore import QTimer

        def check():
            self._zoom_pending = False
            zoom, last = self._camera().zoom, getattr(self, "_marks_zoom", None)
            if last and not 0.8 < zoom / last < 1.25 and self.get(TILES_LAYER) is not None:
                self.draw_marks()

        def schedule(_event=None):
            if not getattr(self, "_zoom_pending", False):
                self._zoom_pending = True
                QTimer.singleShot(150, check)

        self._camera().events.zoom.connect(schedule)
