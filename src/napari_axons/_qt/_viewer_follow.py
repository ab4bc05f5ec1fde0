"""The widget follows the viewer: new images, removed images, layers added above ours.

* A newly opened image becomes the widget's image (its grid is drawn at once).
* Removing the widget's image removes every layer of ours in one go (napari runs
  a full garbage collection per removed layer, 1-2 s each on a large heap: ours
  are removed with one collection at the end), then takes the next image, if any.
  Nothing of ours is left behind, so reopening the image does not make
  ``axons tile grid [1]``.
* Any other layer added (an export opened back, a GeoJSON) goes under our
  overlays, so the grid and selection stay visible.
* The view is refitted when the dock first shows (docking narrows the canvas:
  the outer tile columns were cut off) and when a new image is taken; and again
  when the canvas changes size, as long as the user has not zoomed or panned
  since.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from ._resume import drop_labels_of

__all__ = ["ViewerFollower", "one_collection"]


def _export_folder(layer):
    """The export folder a (labels) layer was read from, resolved, or None."""
    from pathlib import Path

    meta = getattr(layer, "metadata", None) or {}
    ours = meta.get("napari_axons") if isinstance(meta.get("napari_axons"), dict) else {}
    return Path(ours["export"]).resolve() if ours.get("export") else None


@contextmanager
def one_collection():
    """Run napari layer removals with one ``gc.collect()`` at the end instead of one each."""
    real = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        yield
    finally:
        gc.collect = real
    gc.collect()


class ViewerFollower:
    """Connects a widget to its viewer's layer list.

    Parameters
    ----------
    widget : AxonsWidget
        Uses its ``viewer``, ``overlays``, ``controls.image`` (the Image choice),
        ``layer`` (the image in use), ``set_image`` and ``resumed``.
    """

    def __init__(self, widget):
        self.w = widget
        self.clearing = False
        layers = widget.viewer.layers
        layers.events.inserted.connect(self.on_inserted)
        layers.events.removed.connect(self.on_removed)
        # the view napari fitted to the first image counts as ours: docking refits it
        self._fitted_camera = self._camera() if len(layers) else None
        widget.viewer.canvas.events.size.connect(self._on_canvas_size)

    def ours(self, layer) -> bool:
        return self.w.overlays.is_ours(layer)

    def on_inserted(self, event) -> None:
        from napari.layers import Image

        layer = event.value
        if self.clearing or self.ours(layer):
            return
        image = self.w.controls.image
        image.reset_choices()
        if isinstance(layer, Image):
            image.value = layer  # -> the widget's set_image
            self._refit()
            return
        folder = _export_folder(layer)
        if folder is not None and folder in self.w.resumed:  # its masks are in our layers
            from qtpy.QtCore import QTimer


            QTimer.singleShot(0, lambda: drop_labels_of(self.w, folder))
        elif self.w.layer is not None:
            self.w.overlays.order()  # an export or GeoJSON opened: under the grid

    def on_removed(self, event) -> None:
        layer = event.value
        if self.clearing or self.ours(layer):
            return
        if layer is self.w.layer:
            self.w.set_image(None)
        image = self.w.controls.image
        image.reset_choices()
        choices = self.w.image_choices()
        if self.w.layer is None and choices:  # the newest image left
            new = choices[-1][1]
            image.value = new
            if self.w.layer is not new:
                self.w.set_image(new)

    def clear(self, overlays) -> None:
        """Remove our layers (see :func:`one_collection`), ignoring their removal events."""
        self.clearing = True
        try:
            with one_collection():
                overlays.clear()
        finally:
            self.clearing = False

    def _camera(self) -> tuple:
        camera = getattr(self.w.viewer, "scene", self.w.viewer).camera
        return tuple(camera.center), float(camera.zoom)

    def _refit(self) -> None:
        try:
            self.w.viewer.reset_view()
        except RuntimeError:  # the viewer is being closed
            return
        self._fitted_camera = self._camera()

    def _on_canvas_size(self, _event=None) -> None:
        """The canvas changed size (docking, a dock resized): refit, unless the user moved the view."""
        if self._fitted_camera is not None and self._camera() == self._fitted_camera:
            self._refit()
