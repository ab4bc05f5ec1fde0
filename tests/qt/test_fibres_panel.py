"""The Fibres section, walked as a lab uses it: measure, colour, hover, pick, remove, save, export."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qt_helpers import click, press, show_section, wait_idle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "fibres"))
from fibre_helpers import AXON, MYELIN, draw_fibre, make_export  # noqa: E402

pytestmark = pytest.mark.gui

PX = 0.1  # um per pixel
#: Known fibres: (row, column, axon radius, fibre radius) in pixels; the third sits on the
#: corner of four 128-px tiles, the fourth has no myelin.
FIBRES = [(60, 70, 12, 20), (60, 200, 15, 20), (128, 256, 10, 20), (220, 90, 9, 9),
          (220, 330, 16, 24)]


def known_map(shape=(300, 400)):
    cmap = np.zeros(shape, np.uint8)
    for cy, cx, ra, rf in FIBRES:
        draw_fibre(cmap, cy, cx, ra, rf)
    return cmap


def docked(make_napari_viewer, tmp_path, show=False):
    from napari_axons._qt._widget import AxonsWidget

    viewer = make_napari_viewer(show=show)
    widget = AxonsWidget(viewer, cache_dir=tmp_path / "cache")
    viewer.window.add_dock_widget(widget, name="napari-axons")

    def no_dialog(title, text):
        raise AssertionError(f"unexpected question: {title}: {text}")

    widget.confirm = no_dialog
    return viewer, widget


def opened(make_napari_viewer, tmp_path, qtbot, **export):
    """The export of the known fibres opened in napari (File > Open with the plugin)."""
    folder = make_export(tmp_path, known_map(), tile_size=128, **export)
    viewer, w = docked(make_napari_viewer, tmp_path)
    viewer.open(str(folder), plugin="napari-axons")
    wait_idle(qtbot, w)
    show_section(w, "Fibres")
    return viewer, w, folder


def world_of(w, y, x):
    """World position of working pixel ``(y, x)`` (the image is shown in micrometres)."""
    return w.overlays.placement.translate[0] + w.overlays.placement.scale[0] * y, \
        w.overlays.placement.translate[1] + w.overlays.placement.scale[1] * x


def row_at(features, x, y):
    """The features row of the fibre whose axon centroid is nearest ``(x, y)`` (slide px)."""
    k = int(np.argmin(np.hypot(features["x (px)"] - x, features["y (px)"] - y)))
    return features.iloc[k]


def test_measure_colour_hover_pick_remove_save_and_export(make_napari_viewer, tmp_path, qtbot):
    viewer, w, folder = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=PX)
    panel, s = w.fibres_panel, w.session
    assert panel.pixel_size.value == pytest.approx(PX)  # the export's, shown in the section
    assert panel.area.value == "tiles with masks"
    press(qtbot, panel.measure)
    wait_idle(qtbot, w)
    assert w.messages[-1].startswith("Measuring fibres: 5 fibres in the 12 tiles with masks of "
                                     "slide.tif")
    layer = viewer.layers["fibres"]
    assert viewer.layers.selection.active is layer
    names = [la.name for la in viewer.layers]  # over the masks, under the grid
    assert names.index("fibres") == names.index("paint here: axons masks") + 1
    assert names.index("fibres") < names.index("axons tile grid")
    f = layer.features
    assert len(f) == 5 and list(f["index"]) == list(f["fibre_id"])
    assert {"gratio", "axon_diam (um)", "myelin_thickness (um)", "flags"} <= set(f.columns)
    for cy, cx, ra, rf in FIBRES:
        row = row_at(f, cx, cy)
        assert row["x (px)"] == pytest.approx(cx, abs=0.01) and row["y (px)"] == pytest.approx(cy, abs=0.01)
        assert row["axon_diam (um)"] == pytest.approx(2 * ra * PX, abs=PX)  # within a pixel
        if rf > ra:
            assert row["gratio"] == pytest.approx(ra / rf, abs=1 / rf)
        else:
            assert math.isnan(row["gratio"]) and row["flags"] == "no_myelin"
    # each fibre's label covers exactly its axon and myelin pixels
    truth = known_map()
    data = np.asarray(layer.data)
    assert ((data > 0) == (truth > 0)).all()
    first = row_at(f, 70, 60)
    assert set(np.unique(data[truth > 0][np.hypot(*np.nonzero(truth > 0)
                                                  - np.array([[60], [70]])) < 21])) == {first["index"]}

    # colour by axon diameter, then by g-ratio (the default): the colour bar follows
    panel.colour_by.value = "axon_diam"
    assert panel.plot.colour_label == "axon diameter (um)"
    panel.colour_by.value = "gratio"
    assert panel.plot.colour_label == "g-ratio"
    lo, hi = panel.plot.colour_limits
    from matplotlib import colormaps

    want = colormaps["viridis"](np.clip((first["gratio"] - lo) / (hi - lo), 0, 1))
    np.testing.assert_allclose(layer.colormap.map(np.array([first["index"]]))[0], want, atol=0.01)
    no_myelin = row_at(f, 90, 220)["index"]
    np.testing.assert_allclose(layer.colormap.map(np.array([no_myelin]))[0][:3], [0.55] * 3,
                               atol=0.01)

    # hovering the first fibre: napari's status bar shows its row, with units
    status = hover(viewer, world_of(w, 60, 70))
    assert f"fibre_id: {first['fibre_id']}" in status
    assert f"gratio: {first['gratio']:.3g}"[:12] in status
    assert "axon_diam (um): " in status and "myelin_thickness (um): " in status

    # a click on it selects it: its point in the scatter is highlighted, the row shown
    click(layer, world_of(w, 60, 70))
    assert panel.selected == {first["index"]}
    np.testing.assert_allclose(panel.plot.selected_points(),
                               [[first["axon_diam (um)"], first["gratio"]]])
    np.testing.assert_allclose(layer.colormap.map(np.array([first["index"]]))[0], [1, 0.1, 0.1, 1])
    assert panel.selection_info.value.startswith(f"fibre {first['fibre_id']}: g-ratio ")
    click(layer, world_of(w, 5, 5))  # the background: nothing selected
    assert panel.selected == set()

    # the lasso in the plot selects the fibres whose points it encloses
    left = panel.plot.ax.get_xlim()[0] + 0.05  # inside the axes
    lasso(panel.plot, [(left, 0.02), (2.7, 0.02), (2.7, 0.98), (left, 0.98)])
    small = set(f["index"][(f["axon_diam (um)"] < 2.7) & np.isfinite(f["gratio"])])
    assert panel.selected == small and len(small) == 2
    assert len(panel.plot.selected_points()) == 2

    # remove the first fibre (a false detection) with Delete on the layer
    panel.select([first["index"]])
    press_key(viewer, layer, "Delete")
    f = layer.features
    assert len(f) == 4 and first["index"] not in set(f["index"])
    assert first["index"] not in set(np.unique(np.asarray(layer.data)))
    mask = s.store.read(0, 0, 300, 400)
    ring = np.hypot(*np.mgrid[0:300, 0:400] - np.array([60, 70])[:, None, None]) <= 20
    assert (mask[ring] == 0).all()  # its axon and myelin are background now
    assert (mask[~ring] == truth[~ring]).all()  # nothing else changed
    assert s.edited_tiles() == [0]  # recorded as a hand edit in the tile that holds it
    assert s.status[0] == "edited" and s.status[1] == "exported"
    assert w.messages[-1] == (
        f"removed fibre {first['fibre_id']} (g-ratio {first['gratio']:.3g}, axon diameter "
        f"{first['axon_diam (um)']:.3g} um): its {ring.sum()} pixels are background in the masks "
        "now (hand edits in tile(s) 0, written by the next export); 4 fibres left")
    assert panel.summary.value.startswith("4 fibres (1 without myelin) in ")

    # save the table: beside the export folder by default
    press(qtbot, panel.save)
    path = folder.parent / "slide_fibres.csv"
    assert panel.save_to.value == path
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and str(first["fibre_id"]) not in {r["fibre_id"] for r in rows}
    assert float(rows[0]["gratio"]) == pytest.approx(f["gratio"].iloc[0])
    summary = json.loads((folder.parent / "slide_fibres_summary.json").read_text())
    assert summary["summary"]["fibres"] == 4 and summary["pixel_size_um"] == pytest.approx(PX)

    # export: the removed fibre is gone from the tile masks on disk
    show_section(w, "Export")
    w.controls.export_which.value = "all"
    w.confirm = lambda title, text: title == "Write the export again?"  # the test's export options
    press(qtbot, w.controls.export)
    wait_idle(qtbot, w)
    tile0 = np.asarray(Image.open(folder / "masks" / "slide_tile_0000_mask.png"))
    assert (tile0 == 0).all()  # it held that fibre only
    tile1 = np.asarray(Image.open(folder / "masks" / "slide_tile_0001_mask.png"))
    assert (tile1 == truth[:128, 128:256]).all()  # the next fibre stays


def hover(viewer, world):
    """The status bar's text with the pointer over ``world`` (as napari updates it)."""
    viewer.mouse_over_canvas = True
    viewer.cursor.position = world
    viewer.update_status_from_cursor()
    return viewer.status["coordinates"]


def lasso(plot, points):
    """Drag the mouse around data points ``points`` in the plot (press, moves, release)."""
    from matplotlib.backend_bases import MouseEvent

    canvas = plot.native
    px = plot.ax.transData.transform(points)
    path = [*px, px[0]]
    MouseEvent("button_press_event", canvas, *path[0], button=1)._process()
    for p in path[1:]:
        MouseEvent("motion_notify_event", canvas, *p, button=1)._process()
    MouseEvent("button_release_event", canvas, *path[-1], button=1)._process()


def press_key(viewer, layer, key):
    """Press ``key`` with ``layer`` active, as napari dispatches it."""
    viewer.layers.selection.active = layer
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    handler.press_key(key)
    handler.release_key(key)


def test_no_myelin_class_or_no_pixel_size_is_said_in_one_line(make_napari_viewer, tmp_path, qtbot):
    from napari_axons.core.common import ClassTable

    axons_only = np.where(known_map() == AXON, 1, 0).astype(np.uint8)
    folder = make_export(tmp_path, axons_only, tile_size=128, pixel_size=PX, name="axons",
                         classes=ClassTable(("background", "axon")))
    viewer, w = docked(make_napari_viewer, tmp_path)
    viewer.open(str(folder), plugin="napari-axons")
    wait_idle(qtbot, w)
    show_section(w, "Fibres")
    press(qtbot, w.fibres_panel.measure)
    assert w.messages[-1] == ("Measuring fibres: axons.tif: no class named 'myelin' (its classes: "
                              "axon); fibre morphometrics need classes named 'axon' and 'myelin'")
    assert "fibres" not in viewer.layers and not w.busy


def test_no_pixel_size_then_typed_in_the_fibres_section(make_napari_viewer, tmp_path, qtbot):
    viewer, w, _ = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=None)
    panel = w.fibres_panel
    assert w.session.pixel_size is None and panel.pixel_size.value == 0
    press(qtbot, panel.measure)
    assert w.messages[-1] == ("Measuring fibres: slide.tif has no pixel size: type it in Pixel "
                              "size (um) above (micrometres per pixel) and press Enter")
    assert "fibres" not in viewer.layers
    panel.pixel_size.value = 0.25  # typed, Enter
    assert w.session.pixel_size.x == pytest.approx(0.25)
    assert w.controls.pixel_size.value == pytest.approx(0.25)  # the Tiles field says so too
    press(qtbot, panel.measure)
    wait_idle(qtbot, w)
    f = viewer.layers["fibres"].features
    assert row_at(f, 70, 60)["axon_diam (um)"] == pytest.approx(2 * 12 * 0.25, abs=0.25)


def test_drawn_region_on_a_downsampled_export_histogram_and_remove_button(
        make_napari_viewer, tmp_path, qtbot):
    viewer, w, folder = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=PX, downsample=2)
    panel, s = w.fibres_panel, w.session
    assert s.working.factor == 2
    press(qtbot, panel.draw)
    region = viewer.layers["fibres: region to measure"]
    assert viewer.layers.selection.active is region and region.mode == "add_rectangle"
    assert panel.area.value == "drawn region"
    region.add_rectangles(np.array([[0.0, 0.0], [299.0, 499.0]]))  # slide pixels: half the image
    press(qtbot, panel.measure)
    wait_idle(qtbot, w)
    assert w.messages[-1].startswith("Measuring fibres: 3 fibres in the drawn region (250 x 150 px)")
    layer = viewer.layers["fibres"]
    f = layer.features
    cut = row_at(f, 256 * 2 + 0.5, 128 * 2 + 0.5)  # cut by the region's right edge
    assert bool(cut["touches_border"])
    whole = row_at(f, 200 * 2 + 0.5, 60 * 2 + 0.5)
    assert not whole["touches_border"]
    assert whole["x (px)"] == pytest.approx(200 * 2 + 0.5) and whole["y (px)"] == pytest.approx(60 * 2 + 0.5)
    assert whole["axon_diam (um)"] == pytest.approx(2 * 15 * 2 * PX, abs=2 * PX)  # working px: 0.2 um
    assert layer.data.shape == (150, 250)
    # hover and click in world coordinates (micrometres) land on the fibre
    status = hover(viewer, world_of(w, 60, 200))
    assert f"fibre_id: {whole['fibre_id']}" in status
    # the histogram of g-ratios: a click on a bar selects the fibres in it
    panel.plot_kind.value = "histogram"
    assert panel.plot.kind == "histogram"
    g = float(whole["gratio"])
    drag(panel.plot, [(g, 0.5), (g, 0.5)])
    assert whole["index"] in panel.selected
    click(layer, world_of(w, 60, 70), )  # a fibre on the canvas replaces that selection
    click(layer, world_of(w, 60, 200), )
    first = row_at(f, 70 * 2 + 0.5, 60 * 2 + 0.5)
    assert panel.selected == {whole["index"]}
    click_with_shift(layer, world_of(w, 60, 70))
    assert panel.selected == {whole["index"], first["index"]}
    assert panel.selection_info.value.startswith("2 fibres: mean g-ratio ")
    press(qtbot, panel.remove)
    assert len(layer.features) == 1
    working = s.store.read(0, 0, 300, 400)
    truth = known_map()
    gone = np.zeros_like(truth, bool)
    for cy, cx in ((60, 70), (60, 200)):
        gone |= np.hypot(*np.mgrid[0:300, 0:400] - np.array([cy, cx])[:, None, None]) <= 20
    assert (working[gone] == 0).all() and (working[~gone] == truth[~gone]).all()
    assert w.messages[-1].startswith("removed 2 fibres (")
    assert s.edited_tiles() == [0, 1]


def test_cancel_stops_measuring_and_keeps_nothing(make_napari_viewer, tmp_path, qtbot, monkeypatch):
    import threading
    import time

    from napari_axons._qt import _fibre_work

    real = _fibre_work.measure_class_map

    def slow(*args, progress=None, **kwargs):  # many slow blocks
        for k in range(200):
            time.sleep(0.02)
            progress(k, 400)
        return real(*args, progress=progress, **kwargs)

    monkeypatch.setattr(_fibre_work, "measure_class_map", slow)
    viewer, w, _ = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=PX)
    press(qtbot, w.fibres_panel.measure)
    qtbot.waitUntil(lambda: w.runner.done >= 3, timeout=60_000)
    assert not w.fibres_panel.measure.enabled
    press(qtbot, w.controls.cancel)
    wait_idle(qtbot, w)
    assert w.messages[-1].startswith("Measuring fibres: cancelled after ")
    assert w.messages[-1].endswith("(no fibres were measured)")
    assert "fibres" not in viewer.layers and w.fibres_panel.result is None
    qtbot.waitUntil(lambda: not any(t.name == "napari-axons-fibres" for t in threading.enumerate()),
                    timeout=30_000)
    qtbot.waitUntil(lambda: w.fibres_panel.measure.enabled, timeout=30_000)


def test_a_fibre_edited_by_hand_since_measuring_is_left_alone(make_napari_viewer, tmp_path, qtbot):
    viewer, w, _ = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=PX)
    panel, s = w.fibres_panel, w.session
    press(qtbot, panel.measure)
    wait_idle(qtbot, w)
    layer = viewer.layers["fibres"]
    first, second = row_at(layer.features, 70, 60), row_at(layer.features, 200, 60)
    # a hand edit since: some of the second fibre's myelin painted as axon (the pixels still
    # belong to a fibre's classes, only their class changed)
    assert (s.store.read(42, 199, 45, 202) == MYELIN).all()
    s.paint(42, 199, np.full((3, 3), AXON, np.uint8))
    edited = s.store.read(0, 0, 300, 400)
    panel.select([first["index"], second["index"]])
    press(qtbot, panel.remove)
    after = s.store.read(0, 0, 300, 400)
    ring = np.hypot(*np.mgrid[0:300, 0:400] - np.array([60, 70])[:, None, None]) <= 20
    assert (after[ring] == 0).all()  # the first is removed
    assert (after[~ring] == edited[~ring]).all()  # the second, hand edit included, is kept
    assert (after[42:45, 199:202] == AXON).all()
    assert set(layer.features["index"]) == set(range(1, 6)) - {first["index"]}
    assert second["index"] in set(np.unique(np.asarray(layer.data)))
    assert w.messages[-1].endswith(
        f"; fibre(s) {second['fibre_id']} left alone: their masks changed since they were "
        "measured (Measure fibres again)")
    panel.select([second["index"]])  # alone: nothing is removed, and it is said
    press(qtbot, panel.remove)
    assert (s.store.read(0, 0, 300, 400) == after).all()
    assert w.messages[-1].startswith("removed no fibre; fibre(s) ")


def test_a_failure_while_measuring_is_said_in_one_line(make_napari_viewer, tmp_path, qtbot,
                                                       monkeypatch):
    from napari_axons._qt import _fibre_work

    def unreadable(*args, **kwargs):
        raise OSError("masks.zarr: chunk 0.1 cannot be read\n(a second line)")

    monkeypatch.setattr(_fibre_work, "measure_class_map", unreadable)
    viewer, w, _ = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=PX)
    press(qtbot, w.fibres_panel.measure)
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Measuring fibres: failed: masks.zarr: chunk 0.1 cannot be read"
    assert "fibres" not in viewer.layers and w.fibres_panel.result is None
    assert w.fibres_panel.measure.enabled


def test_save_asks_before_replacing_a_table(make_napari_viewer, tmp_path, qtbot):
    viewer, w, folder = opened(make_napari_viewer, tmp_path, qtbot, pixel_size=PX)
    panel = w.fibres_panel
    press(qtbot, panel.save)
    assert w.messages[-1] == "measure fibres first"
    press(qtbot, panel.measure)
    wait_idle(qtbot, w)
    target = tmp_path / "mine.csv"
    target.write_text("keep me\n")
    panel.save_to.value = target
    asked = []
    w.confirm = lambda title, text: asked.append(text) or False
    press(qtbot, panel.save)
    assert target.read_text() == "keep me\n"
    assert asked == [f"mine.csv already exist(s) in {tmp_path}. Replace?"]
    w.confirm = lambda title, text: True
    press(qtbot, panel.save)
    assert target.read_text().startswith("fibre_id,x,y,axon_diam,")
    assert (tmp_path / "mine_summary.json").exists()


def drag(plot, points):
    """Press at the first data point, move through the others, release at the last."""
    lasso(plot, points[:-1] + [points[-1]]) if len(points) > 2 else _press_release(plot, points)


def _press_release(plot, points):
    from matplotlib.backend_bases import MouseEvent

    canvas = plot.native
    px = plot.ax.transData.transform(points)
    MouseEvent("button_press_event", canvas, *px[0], button=1)._process()
    MouseEvent("motion_notify_event", canvas, *px[-1], button=1)._process()
    MouseEvent("button_release_event", canvas, *px[-1], button=1)._process()


def click_with_shift(layer, world):
    """A click with Shift held (adds a fibre to the selection)."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    for kind in ("mouse_press", "mouse_release"):
        event = read_only_mouse_event(type=kind, button=1, position=world, pos=np.zeros(2),
                                      modifiers=("Shift",))
        (mouse_press_callbacks if kind == "mouse_press" else mouse_release_callbacks)(layer, event)


def test_the_section_fits_a_1280x800_window_without_scrolling(make_napari_viewer, tmp_path, qtbot):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QDockWidget

    from napari_axons._qt._sections import DOCK_WIDTH

    folder = make_export(tmp_path, known_map(), tile_size=128, pixel_size=PX)
    viewer, w = docked(make_napari_viewer, tmp_path, show=True)
    viewer.window.resize(1280, 800)
    dock = w.native.parentWidget()
    while not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    viewer.window._qt_window.resizeDocks([dock], [max(DOCK_WIDTH, 1280 // 3)],
                                         Qt.Orientation.Horizontal)
    viewer.open(str(folder), plugin="napari-axons")
    wait_idle(qtbot, w)
    show_section(w, "Fibres")
    press(qtbot, w.fibres_panel.measure)
    wait_idle(qtbot, w)
    qtbot.wait(200)  # laid out
    page = w.tabs.currentWidget()
    assert page.verticalScrollBar().maximum() == 0, "the Fibres section needs scrolling"
    panel = w.fibres_panel
    for combo in (panel.area, panel.colour_by, panel.plot_kind):  # no choice cut off
        native = combo.native
        assert native.width() >= native.fontMetrics().horizontalAdvance(native.currentText()) + 24
