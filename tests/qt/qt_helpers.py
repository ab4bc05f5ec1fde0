"""Helpers for the dock-widget tests."""

from __future__ import annotations

import time

import numpy as np


class FakeSegmenter:
    """Constant masks, optionally slow: lets tests control what and when."""

    name = "fake"

    def __init__(self, value=255, batch_size=1, delay=0.0):
        self.value, self.batch_size, self.delay = value, batch_size, delay

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        time.sleep(self.delay)
        return np.full(tiles.shape[:3], self.value, np.uint8)

    def info(self):
        return {"name": self.name}


def add_image(viewer, path):
    """Open ``path`` the way a user does: through the plugin's reader when it exists."""
    try:
        import napari_axons._reader  # noqa: F401
    except ImportError:
        from napari_axons.core.image.open import open_image

        src = open_image(path)
        levels = src.levels()
        return viewer.add_image(levels if len(levels) > 1 else levels[0], name=path.stem,
                                rgb=True, metadata={"path": str(path)})
    layers = viewer.open(str(path), plugin="napari-axons")
    return next(layer for layer in layers if layer._type_string == "image")


def wait_idle(qtbot, widget, timeout=60_000):
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def click(layer, world, drag=False):
    """Press and release the left button at a world position on ``layer``."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    press = read_only_mouse_event(type="mouse_press", button=1, position=world, pos=np.zeros(2))
    mouse_press_callbacks(layer, press)
    if drag:
        move = read_only_mouse_event(type="mouse_move", button=1, is_dragging=True,
                                     position=world, pos=np.array([50.0, 50.0]))
        mouse_move_callbacks(layer, move)
    release = read_only_mouse_event(type="mouse_release", button=1, position=world,
                                    pos=np.array([50.0, 50.0]) if drag else np.zeros(2))
    mouse_release_callbacks(layer, release)


def press(qtbot, button):
    """Click a magicgui push button (or check box) with the mouse, as the user does."""
    from qtpy.QtCore import Qt

    qtbot.mouseClick(button.native, Qt.MouseButton.LeftButton)


def show_section(widget, name):
    """Bring a task section (tab) to the front, as clicking its tab does."""
    tabs = widget.tabs
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index(name))


def paint_stroke(layer, world_points, label=None, brush=5):
    """Paint along ``world_points`` on a Labels layer with napari's own mouse bindings.

    As napari's tests drive them (``test_labels_mouse_bindings``): press at the first
    point, drag through the others, release at the last, with the layer in paint mode.
    """
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    layer.mode = "paint"
    layer.brush_size = brush
    if label is not None:
        layer.selected_label = label
    points = [tuple(float(v) for v in p) for p in world_points]
    common = {"view_direction": None, "dims_displayed": [0, 1], "button": 1}
    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", is_dragging=False,
                                                       position=points[0], pos=np.zeros(2), **common))
    for p in points[1:]:
        mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move", is_dragging=True,
                                                          position=p, pos=np.zeros(2), **common))
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release", is_dragging=False,
                                                         position=points[-1], pos=np.zeros(2),
                                                         **common))
    layer.mode = "pan_zoom"
