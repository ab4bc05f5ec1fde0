"""The widget as a lab uses it all afternoon (issue 14): typing, messages, progress, outcomes."""

from __future__ import annotations

import re

import pytest
from qt_helpers import FakeSegmenter, wait_idle

pytestmark = pytest.mark.gui


def use(widget, segmenter):
    widget.make_segmenter = lambda: (lambda: segmenter)


def type_into(qtbot, spin, text, enter=True):
    """Select a spin box's text and type ``text`` key by key (then Enter)."""
    from qtpy.QtCore import Qt

    edit = spin.native.lineEdit()
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    if enter:
        qtbot.keyClick(edit, Qt.Key.Key_Return)


def test_tile_size_applies_on_enter_and_refuses_absurd_grids(make_widget, axon_tif, qtbot,
                                                             monkeypatch):
    from napari_axons._qt import _grid_controls

    viewer, w = make_widget(axon_tif, show=True)
    grids = []
    set_grid = w.session.set_grid
    monkeypatch.setattr(w.session, "set_grid", lambda *a: grids.append(a) or set_grid(*a))
    type_into(qtbot, w.controls.tile_size, "256", enter=False)
    assert grids == [] and len(w.grid) == 4  # no grid per keystroke (2, 25, ...)
    qtbot.keyClick(w.controls.tile_size.native.lineEdit(), "\r")
    assert grids == [(256, 0, 1)] and len(w.grid) == 12

    monkeypatch.setattr(_grid_controls, "MAX_TILES", 500)
    type_into(qtbot, w.controls.tile_size, "32")  # 768 tiles: refused, said, kept as typed
    assert len(grids) == 1 and len(w.grid) == 12
    assert w.messages[-1] == ("tile size 32 (overlap 0) would make 768 tiles over 1024 x 768 px, "
                              "more than 500: not applied, choose a larger tile size")
    assert w.controls.tile_size.value == 32 and w.controls.grid_info.value.startswith("12 tiles")


def test_long_messages_wrap_and_the_dock_keeps_its_width(make_widget, axon_tif, qtbot):
    from qtpy.QtWidgets import QApplication

    viewer, w = make_widget(axon_tif, show=True)
    qtbot.wait(100)
    width, canvas = w.native.width(), viewer.window._qt_viewer.canvas.native.width()
    long = "a long status message about tiles 1, 2, 3 and many more " * 6
    w.say(long.strip())
    QApplication.processEvents()
    qtbot.wait(100)
    assert w.native.width() == width
    assert viewer.window._qt_viewer.canvas.native.width() == canvas
    label = w.controls.message.native
    assert label.wordWrap() and label.height() > 2 * label.fontMetrics().height()


def test_progress_n_of_total_and_true_outcomes(make_widget, axon_tif, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.select_all()
    use(w, FakeSegmenter(value=255, delay=0.25))
    w.segment_selected()
    assert not w.controls.progress_bar.native.isHidden()
    qtbot.waitUntil(lambda: re.fullmatch(r"Segmenting: [2-9] of 12 tiles, [\d.]+ tiles/s",
                                         w.controls.message.value) is not None, timeout=30_000)
    assert w.controls.progress_bar.max == 12 and 2 <= w.controls.progress_bar.value < 12
    w.controls.cancel.native.click()
    wait_idle(qtbot, w)
    n = len(w.status)
    assert w.messages[-1] == (f"Segmenting: cancelled after {n} of 12 tiles "
                              f"(the {n} tile(s) done are kept)")
    assert w.controls.progress_bar.native.isHidden()

    # "No" to replacing edits: the status says what happened, not a bare "done"
    w.set_selection([0])
    w.window.flush()
    viewer.layers[w.overlays.edit_layer().name].data[5:9, 5:9] = 0
    w.set_selection([0, 1])
    w.confirm = lambda title, text: False
    use(w, FakeSegmenter(value=255))
    w.segment_selected()
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Segmenting: done, 2 of 2 tiles; hand edits kept in tile(s) 0"


def test_the_view_is_refitted_after_docking(make_widget, axon_tif, qtbot):
    viewer, w = make_widget(axon_tif, show=True)
    qtbot.wait(200)
    y0, x0, y1, x1 = w.overlays.grid_lod.view_rect()  # the canvas, in image pixels
    assert y0 <= -0.5 and x0 <= -0.5 and y1 >= 767.5 and x1 >= 1023.5  # every tile column shows


def test_the_widget_follows_the_viewer(make_widget, axon_tif, tmp_path, qtbot):
    import numpy as np
    import tifffile
    from qt_helpers import add_image

    from napari_axons.core.common import DEFAULT_TABLE

    viewer, w = make_widget(axon_tif)
    first = w.layer
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.full((300, 600, 3), 90, np.uint8), photometric="rgb")
    second = add_image(viewer, other)
    assert w.layer is second and w.image_path == other  # a new image is the one in use
    assert len(w.grid) == 2

    def names():
        return [layer.name for layer in viewer.layers]

    viewer.layers.remove(second)  # back to the image left, nothing of the other behind
    assert w.layer is first and len(w.grid) == 4
    assert sorted(names()) == sorted(set(names()))
    viewer.layers.remove(first)
    assert names() == [] and w.session is None and w.controls.grid_info.value == "no image"
    again = add_image(viewer, axon_tif)
    assert w.layer is again and not any("[" in n for n in names())

    # an export opened back: its image is the one in use, the grid stays above its labels
    w.controls.tile_size.value = 256
    w.set_selection([0, 1])
    use(w, FakeSegmenter(value=255))
    w.segment_selected()
    wait_idle(qtbot, w)
    w.controls.export_dir.value = out = tmp_path / "export"
    w.export()
    wait_idle(qtbot, w)
    viewer.open(str(out), plugin="napari-axons")
    labels = next(la for la in viewer.layers if la._type_string == "labels"
                  and la is not w.overlays.edit_layer() and "overview" not in la.name)
    grid = viewer.layers["axons tile grid"]
    assert viewer.layers.index(grid) > viewer.layers.index(labels)
    assert w.layer is not again and w.layer._type_string == "image" and len(w.grid) == 12
    expected = np.array([*DEFAULT_TABLE.colours[1], 255]) / 255
    np.testing.assert_allclose(labels.colormap.map(1), expected, atol=1e-3)
    assert labels.data.max() == 1


def test_widget_export_names_what_made_each_tile(make_widget, axon_tif, tmp_path, qtbot):
    import json

    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.set_selection([0, 1])
    w.segment_selected()  # the built-in otsu
    wait_idle(qtbot, w)
    w.set_selection([1])
    w.overlays.edit_layer().data[100:104, 100:104] = 1 - w.overlays.edit_layer().data[100:104,
                                                                                        100:104]
    w.set_selection([0, 1])
    assert w.status == {0: "segmented", 1: "edited"}
    w.controls.export_dir.value = out = tmp_path / "export"
    w.export()
    wait_idle(qtbot, w)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["segmenter"]["name"] == "otsu"
    assert [t["label_source"] for t in manifest["images"][0]["tiles"]] == ["auto:otsu", "manual"]
    for index, source in ((0, "auto:otsu"), (1, "manual")):
        labels = json.loads((out / f"axons_tile_{index:04d}__labels.json").read_text())["labels"]
        assert labels and {lab["source"] for lab in labels} == {source}
