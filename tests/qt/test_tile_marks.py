"""Tile marks, painting beyond the edit window, picking boxes of tiles, the layer list (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import FakeSegmenter, click, wait_idle

pytestmark = pytest.mark.gui

EDIT = "paint here: axons masks"
MARKS = "axons tiles (selected, status)"


def use(widget, segmenter):
    widget.make_segmenter = lambda: (lambda: segmenter)


def press(layer, world, modifiers=(), drag_to=None):
    """A left-button press (and release) on ``layer`` at a world position, as the canvas sends it."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    common = {"button": 1, "modifiers": list(modifiers), "view_direction": None,
              "dims_displayed": [0, 1]}
    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", position=world,
                                                       pos=np.zeros(2), **common))
    end, pos = world, np.zeros(2)
    if drag_to is not None:
        end, pos = drag_to, np.array([80.0, 80.0])
        mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move", is_dragging=True,
                                                          position=end, pos=pos, **common))
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release", position=end,
                                                         pos=pos, **common))


def rect(marks, kind):
    """``(y0, x0, y1, x1)`` and edge width of the one mark of ``kind``."""
    layer, kinds = marks, marks.metadata["kinds"]
    (i,) = [k for k, name in enumerate(kinds) if name == kind]
    corners = layer.data[i]
    return (*corners.min(axis=0), *corners.max(axis=0)), layer.edge_width[i]


def test_status_marks_distinct_legend_and_never_stale(make_widget, axon_tif, qtbot):
    from qtpy.QtWidgets import QApplication

    viewer, w = make_widget(axon_tif, show=True)
    for name in ("selected", "segmented", "edited", "exported"):
        assert name in w.controls.status_legend.value  # the legend in the widget
    w.controls.tile_size.value = 256
    use(w, FakeSegmenter(value=0))
    w.set_selection([5, 6])
    w.segment_selected()
    wait_idle(qtbot, w)
    viewer.layers[EDIT].data[40:44, 40:44] = 1  # inside tile 5 (window origin 256, 256)
    w.set_selection([5])
    assert w.status == {5: "edited", 6: "segmented"}

    # the "edited" outline lies inside the selection's, not under it, and is thicker
    marks = viewer.layers[MARKS]
    (sy0, sx0, sy1, sx1), sel_w = rect(marks, "selected")
    (ey0, ex0, ey1, ex1), edit_w = rect(marks, "edited")
    assert ey0 - edit_w / 2 >= sy0 + sel_w / 2 and ex1 + edit_w / 2 <= sx1 - sel_w / 2
    assert edit_w > sel_w
    QApplication.processEvents()
    qtbot.wait(100)
    shot = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    magenta = (shot[..., 0] > 200) & (shot[..., 1] < 120) & (shot[..., 2] > 200)
    px = w.overlays._px_per_pixel(marks)  # screen pixels per image pixel
    assert magenta.sum() > 4 * 256 * px * 2  # the whole outline shows, >= 2 px wide

    # statuses stay true across grids: export, edit on another grid, come back
    w.controls.export_dir.value = w.cache_dir.parent / "export"
    w.set_selection([5, 6])
    w.export()
    wait_idle(qtbot, w)
    assert w.status == {5: "exported", 6: "exported"}
    w.controls.tile_size.value = 128
    w.set_selection([w.grid.tiles_at(300, 300)[0].index])
    viewer.layers[EDIT].data[:4, :4] = 1  # at (256, 256): tile 5 of the 256 grid, edited again
    w.set_selection([])
    w.controls.tile_size.value = 256
    assert w.status == {5: "edited", 6: "exported"}  # not a stale "exported"
    # edits replaced on another grid: no stale "edited" either
    w.controls.tile_size.value = 128
    w.set_selection([w.grid.tiles_at(300, 300)[0].index])
    w.confirm = lambda title, text: True
    w.segment_selected()
    wait_idle(qtbot, w)
    w.controls.tile_size.value = 256
    assert w.status == {5: "segmented", 6: "exported"} and w.session.edits.empty
    kinds = viewer.layers[MARKS].metadata["kinds"]
    assert sorted(kinds) == ["exported", "segmented"]


def test_painting_a_selected_tile_outside_the_window(make_widget, axon_tif, qtbot, monkeypatch):
    from napari_axons._qt import _edit_window

    monkeypatch.setattr(_edit_window, "MAX_WINDOW_PIXELS", 2 * 256 * 256)
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.set_selection([0, 11])  # too far apart for one window: it covers tile 11
    assert w.window.box == (512, 768, 768, 1024)
    assert "too large to edit at once" in w.messages[-1]
    edit = viewer.layers[EDIT]
    edit.mode = "paint"
    edit.brush_size = 3
    press(edit, (100.0, 100.0))  # tile 0: selected, outside the window
    assert w.window.box == (0, 0, 256, 256)
    qtbot.waitUntil(lambda: w.status.get(0) == "edited")
    assert w.store.read(100, 100, 101, 101)[0, 0] == 1  # the stroke landed
    assert "around tile 0" in w.messages[-1]

    press(edit, (300.0, 300.0))  # tile 5: not selected
    assert w.messages[-1].startswith("tile 5 is not selected: nothing painted")
    assert not w.store.read(256, 256, 512, 512).any() and w.window.box == (0, 0, 256, 256)


def test_first_screen_box_picking_and_few_layers(make_widget, axon_tif):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    ours = [la.name for la in viewer.layers if la is not w.layer]
    assert len(ours) == 5 and EDIT in ours  # one layer to paint on, named so
    assert "Click a tile" in w.controls.tile_hint.value and "Shift+drag" in w.controls.tile_hint.value
    grid = viewer.layers["axons tile grid"]
    press(grid, (10.0, 10.0), modifiers=["Shift"], drag_to=(300.0, 300.0))
    assert w.selected == {0, 1, 4, 5}
    click(grid, (10.0, 10.0))  # a click still toggles one tile
    assert w.selected == {1, 4, 5}
    press(grid, (10.0, 10.0), drag_to=(300.0, 600.0))  # a plain drag pans: nothing picked
    assert w.selected == {1, 4, 5}
