"""The fibres layer: one napari Labels layer of fibre instances, the table as its ``features``.

Why Labels: each fibre is drawn with its own pixels (axon and myelin, exactly as
measured) from one texture, so thousands of fibres cost one layer redraw, and a
colour per fibre is a lookup (napari's ``DirectLabelColormap``); recolouring by
another measure or a new selection never rebuilds geometry. (A Shapes layer of
the outlines took seconds to add for a few thousand polygons, ENVIRONMENT.md
item 12; Points would show a dot, not the fibre.) napari's status bar shows a
Labels layer's ``features`` row of the label under the pointer: the fibre's
measures, named with their units (:func:`~._fibre_table.layer_features`).

The layer is read-only (painting would corrupt fibre ids: fibres are removed
from the Fibres section, which also clears their pixels in the masks). A click
(no drag) on it calls ``on_click(world_position, add)`` (``add``: Shift or Ctrl
held); Delete or Backspace with the layer active calls ``on_delete()``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._fibre_table import layer_features

__all__ = ["FibreLayer", "FIBRES_LAYER", "SELECTED_COLOUR"]

FIBRES_LAYER = "fibres"
#: Selected fibres are drawn in this colour (not in viridis, nor grey).
SELECTED_COLOUR = (1.0, 0.1, 0.1, 1.0)


class FibreLayer:
    """The fibres layer of one viewer (made on the first :meth:`show`).

    Parameters
    ----------
    viewer : napari.Viewer
    overlays : Overlays
        The widget's layers: the fibres layer is kept above its masks.
    on_click : callable
        ``on_click(world_position, add)`` after a click on the layer.
    on_delete : callable
        ``on_delete()`` on Delete / Backspace.
    """

    def __init__(self, viewer, overlays, *, on_click: Callable, on_delete: Callable):
        self.viewer, self.overlays = viewer, overlays
        self._on_click, self._on_delete = on_click, on_delete
        self._layer = None

    @property
    def layer(self):
        """The napari layer, or None when it is not in the viewer."""
        layer = self._layer
        return layer if layer is not None and layer in self.viewer.layers else None

    def show(self, result, placement, colours: dict) -> object:
        """Show ``result``'s fibres (a new layer, replacing any earlier one), placed over
        the working image by ``placement``; returns the layer, made active."""
        from napari.utils.colormaps import DirectLabelColormap

        self.remove()
        levels = result.fmap.levels
        y0, x0 = result.fmap.box[:2]
        layer = self.viewer.add_labels(
            levels if len(levels) > 1 else levels[0], name=FIBRES_LAYER,
            multiscale=len(levels) > 1, opacity=0.75, features=layer_features(result.table),
            colormap=DirectLabelColormap(color_dict=_with_background(colours)),
            scale=placement.scale, translate=placement.offset(y0, x0),
            **({"units": placement.units} if placement.units is not None else {}))
        layer.editable = False
        layer.mouse_drag_callbacks.append(self._click_callback())
        for key in ("Delete", "Backspace"):
            layer.bind_key(key, lambda _layer: self._on_delete(), overwrite=True)
        self._layer = layer
        self.overlays.above_masks = [layer]  # over the masks, under the grid and tile marks
        self.overlays.order()
        self.viewer.layers.selection.active = layer  # hover shows its rows, clicks pick
        return layer

    def place(self, result, placement) -> None:
        """Place the layer again (the image's pixel size or grid changed)."""
        layer = self.layer
        if layer is not None:
            layer.scale = placement.scale
            layer.translate = placement.offset(*result.fmap.box[:2])
            if placement.units is not None:
                layer.units = placement.units

    def set_colours(self, colours: dict) -> None:
        """Colour each fibre id as ``colours`` says (missing ids transparent)."""
        from napari.utils.colormaps import DirectLabelColormap

        layer = self.layer
        if layer is not None:
            layer.colormap = DirectLabelColormap(color_dict=_with_background(colours))

    def update(self, result, colours: dict) -> None:
        """After fibres were removed: features, colours and the changed pixels."""
        layer = self.layer
        if layer is None:
            return
        layer.features = layer_features(result.table)
        self.set_colours(colours)
        if layer.multiscale:
            layer.data = result.fmap.levels  # napari caches the coarsest level until replaced
        else:
            layer.refresh()

    def remove(self) -> None:
        layer, self._layer = self.layer, None
        self.overlays.above_masks = []
        if layer is not None:
            self.viewer.layers.remove(layer)

    def _click_callback(self):
        def callback(layer, event):
            if getattr(event, "button", 1) not in (1, None):
                return
            mods = {str(getattr(m, "name", m)) for m in getattr(event, "modifiers", ())}
            start_world = tuple(event.position)
            start = np.asarray(getattr(event, "pos", (0, 0)), float)
            yield
            dragged = False
            while event.type == "mouse_move":
                if np.hypot(*(np.asarray(event.pos, float) - start)) > 4:
                    dragged = True  # a drag pans the view
                yield
            if not dragged:
                self._on_click(start_world, bool(mods & {"Shift", "Control", "Meta"}))

        return callback


def _with_background(colours: dict) -> dict:
    return {None: (0.0, 0.0, 0.0, 0.0), 0: (0.0, 0.0, 0.0, 0.0), **colours}
