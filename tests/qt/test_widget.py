"""The dock widget, driven as a user would: open, tile, click, segment, paint, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from qt_helpers import FakeSegmenter, click, wait_idle

from napari_axons.core.labels.render import labels_to_mask

pytestmark = pytest.mark.gui

GRID, INDEX, MARKS = "axons tile grid", "axons tile index", "axons tiles (selected, status)"
OVERVIEW, EDIT = "axons masks (read-only)", "paint here: axons masks"


def use(widget, segmenter):
    """Make "Segment selected" use ``segmenter`` (the widget builds it in the worker)."""
    widget.make_segmenter = lambda: (lambda: segmenter)


def test_grid_follows_settings(make_widget, axon_tif):
    viewer, w = make_widget(axon_tif)
    assert w.image_path is not None and w.grid is not None
    assert len(w.grid) == 4  # 768 x 1024 at 512: 1 main + right column... the seed's order
    assert len(viewer.layers[INDEX].data) == 4
    assert list(viewer.layers[INDEX].features["index"]) == ["0", "1", "2", "3"]

    w.controls.tile_size.value = 256
    assert len(w.grid) == 12
    assert len(viewer.layers[INDEX].data) == 12
    # row and column edges: two paths (one along the 3 + 1 row edges, one along the 4 + 1 columns)
    assert [len(p) for p in viewer.layers[GRID].data] == [2 * (3 + 1), 2 * (4 + 1)]

    w.controls.downsample.value = 2  # working image 384 x 512: tiles cover the same image
    assert (w.grid.height, w.grid.width) == (384, 512)
    assert len(w.grid) == 4
    grid = viewer.layers[GRID]
    assert tuple(grid.scale) == (2.0, 2.0)
    # the grid's outer edges sit on the image's outer pixel edges, in world coordinates
    corners = np.concatenate([grid.data_to_world(d) for d in grid.data])
    assert corners.min(axis=0) == pytest.approx([-0.5, -0.5])
    assert corners.max(axis=0) == pytest.approx([767.5, 1023.5])


def test_click_selects_tiles(make_widget, axon_tif):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    grid = viewer.layers.selection.active  # the image: no drawing tools, clicks pick tiles
    assert grid is w.layer and grid.mode == "pan_zoom"
    click(grid, (10.0, 10.0))
    click(grid, (300.0, 600.0))  # row 1, column 2 -> index 4 + 2
    assert w.selected == {0, 6}
    assert viewer.layers[MARKS].metadata["kinds"] == ["selected", "selected"]
    click(grid, (300.0, 600.0))
    assert w.selected == {0}
    click(grid, (300.0, 600.0), drag=True)  # a drag pans, it does not select
    assert w.selected == {0}
    # the edit window covers the selection's bounding box, placed over the image
    edit = viewer.layers[EDIT]
    assert edit.data.shape == (256, 256) and edit.data.dtype == np.uint8
    w.controls.downsample.value = 2  # working pixels are 2 x 2 image pixels
    click(viewer.layers[GRID], (700.0, 10.0))  # working (350, 5): second row of 256-px tiles
    assert w.selected == {2}
    edit = viewer.layers[EDIT]
    assert edit.data.shape == (256, 256)
    assert tuple(edit.scale) == (2.0, 2.0)
    assert edit.data_to_world((0, 0)) == pytest.approx((128 * 2 + 0.5, 0.5))
    w.select_all()
    assert w.selected == set(range(len(w.grid)))
    w.select_none()
    assert w.selected == set()


def test_segment_paint_export(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.set_selection([0, 1])
    assert w.controls.run.enabled
    worker = w.segment_selected()  # the default segmenter: load_segmenter("otsu")
    assert not w.controls.run.enabled and w.controls.cancel.enabled
    wait_idle(qtbot, w)
    assert worker is not None and w.controls.run.enabled and not w.controls.cancel.enabled
    assert w.status == {0: "segmented", 1: "segmented"}
    store = w.store.read(0, 0, 256, 512)
    assert store.any() and set(np.unique(store)) <= {0, 1}
    edit = viewer.layers[EDIT]
    np.testing.assert_array_equal(edit.data, store)  # each tile appears in the Labels layer
    assert not w.store.read(256, 0, 768, 1024).any()  # other tiles untouched

    # paint a stroke where the segmentation found nothing
    free = np.argwhere(np.lib.stride_tricks.sliding_window_view(store[:, :256], (15, 15))
                       .max(axis=(2, 3)) == 0)
    cy, cx = (free[len(free) // 2] + 7).tolist()
    edit.brush_size = 5
    edit.paint((cy, cx), 1)
    qtbot.waitUntil(lambda: w.status.get(0) == "edited")
    assert w.status[1] == "segmented"
    assert w.store.read(cy, cx, cy + 1, cx + 1)[0, 0] == 1

    out = tmp_path / "export"
    w.controls.export_dir.value = out
    w.controls.export_which.value = "selected"
    w.export()
    wait_idle(qtbot, w)
    assert w.status == {0: "exported", 1: "exported"}
    mask = np.asarray(Image.open(out / "masks" / "axons_tile_0000_mask.png"))
    assert mask[cy, cx] == 255 and set(np.unique(mask)) <= {0, 255}
    np.testing.assert_array_equal(mask > 0, w.store.read(0, 0, 256, 256) > 0)
    doc = json.loads((out / "axons_tile_0000__labels.json").read_text())
    rendered, _ = labels_to_mask(doc, (256, 256))
    assert rendered[cy, cx] == 255
    assert ((rendered > 0) == (mask > 0)).mean() > 0.99
    assert not list(out.rglob(".napari-axons-tmp-*"))
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def _export_masks(image, out, truth, tiles, tile_size=256, downsample=1):
    """Export ``tiles`` of ``image`` with masks cut from ``truth`` (0/1, working pixels)."""
    from napari_axons.core.export import ExportJob, ExportOptions

    def mask_reader(plan, box):
        m = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(*truth.shape)
        m[ys, xs] = truth[box.y + ys.start : box.y + ys.stop, box.x + xs.start : box.x + xs.stop]
        return m * 255

    job = ExportJob([image], out, ExportOptions(tile_size=tile_size, downsample=downsample),
                    mask_reader=mask_reader, tiles={str(image): tiles})
    try:
        list(job.run())
    finally:
        job.close()


def test_load_masks_from_an_export(make_widget, axon_tif, tmp_path, qtbot):
    rng = np.random.default_rng(5)
    truth = np.zeros((768, 1024), np.uint8)
    for _ in range(40):  # rectangles, some across tile borders
        y, x = rng.integers(0, 740), rng.integers(0, 1000)
        truth[y : y + rng.integers(5, 60), x : x + rng.integers(5, 60)] = 1
    out = tmp_path / "earlier"
    _export_masks(axon_tif, out, truth, [1, 5, 6])

    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    use(w, FakeSegmenter(value=255))
    w.set_selection([0, 5])
    w.segment_selected()  # masks already there: replaced under the export's tiles only
    wait_idle(qtbot, w)
    w.controls.import_dir.value = out
    assert w.load_masks() is not None
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Loading masks: done, 3 of 3 tiles"
    for i in (1, 5, 6):
        b = w.grid[i]
        np.testing.assert_array_equal(w.store.read_box(b), truth[b.y : b.y1, b.x : b.x1])
    assert w.store.read_box(w.grid[0]).all()  # not in the export: kept
    assert w.status == {0: "segmented", 1: "exported", 5: "exported", 6: "exported"}
    np.testing.assert_array_equal(viewer.layers[EDIT].data, w.store.read(0, 0, 512, 512))

    # hand edits are only replaced after asking
    edit = viewer.layers[EDIT].data
    edit[300:310, 300:310] = 1 - edit[300:310, 300:310]  # inside tile 5
    w.set_selection([5])
    assert w.status[5] == "edited"
    painted = w.store.read(300, 300, 310, 310)
    np.testing.assert_array_equal(painted, 1 - truth[300:310, 300:310])
    asked = []
    w.confirm = lambda title, text: asked.append(title) or False
    assert w.load_masks() is None and asked == ["Replace edits?"]
    np.testing.assert_array_equal(w.store.read(300, 300, 310, 310), painted)

    # an export of another image, or at another downsample factor: one clear message
    other = tmp_path / "other.tif"
    import tifffile

    tifffile.imwrite(other, np.zeros((300, 300, 3), np.uint8), photometric="rgb")
    _export_masks(other, tmp_path / "of-other", np.ones((300, 300), np.uint8), [0])
    w.controls.import_dir.value = tmp_path / "of-other"
    assert w.load_masks() is None
    assert "holds no export of axons.tif" in w.messages[-1]
    _export_masks(axon_tif, tmp_path / "small", np.ones((256, 341), np.uint8), [0],
                  downsample=3)
    w.controls.import_dir.value = tmp_path / "small"
    assert w.load_masks() is None
    assert "exported with downsample 3; set Downsample" in w.messages[-1]
    # another grid over the same pixels: the edit is still there (edits outlive grids),
    # so it asks again; "Yes": masks loaded, no tile marked
    w.controls.tile_size.value = 128
    assert w.status == {w.grid.tiles_at(305, 305)[0].index: "edited"}
    w.controls.import_dir.value = out
    w.confirm = lambda title, text: asked.append(title) or True
    assert w.load_masks() is not None and asked == ["Replace edits?"] * 2
    wait_idle(qtbot, w)
    assert "tile size 256 and overlap 0" in " ".join(w.messages[-3:]) and w.status == {}
    np.testing.assert_array_equal(w.store.read(256, 256, 512, 512), truth[256:512, 256:512])
    from napari_axons.core.export import ExportJob, ExportOptions

    job = ExportJob([axon_tif], tmp_path / "tiles-only", ExportOptions(tile_size=256),
                    tiles={str(axon_tif): [0]})
    list(job.run())
    job.close()
    w.controls.import_dir.value = tmp_path / "tiles-only"
    assert w.load_masks() is None and "the export has no masks (tiles only)" in w.messages[-1]
    w.controls.import_dir.value = tmp_path / "nothing-here"
    assert w.load_masks() is None
    assert "nothing-here" in w.messages[-1] and "manifest" in w.messages[-1]


def test_many_fast_results_neither_nest_nor_pile_up(make_widget, axon_tif, qtbot):
    """768 tiles segmented faster than the UI draws: every one lands, no error.

    (napari's progress bar runs the event loop when it redraws; handling a result
    per redraw used to nest handlers until Python's recursion limit.)
    """
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 32
    assert len(w.grid) == 768
    w.select_all()
    use(w, FakeSegmenter(value=255))
    w.segment_selected()
    wait_idle(qtbot, w, timeout=120_000)
    assert w.messages[-1] == "Segmenting: done, 768 of 768 tiles"
    assert len(w.status) == 768 and set(w.status.values()) == {"segmented"}
    assert w.store.read(0, 0, 768, 1024).all()
    overview = w.store.levels[-1][:]
    assert overview.all()  # the reduced levels were brought up to date at the end


def test_resegmenting_edited_tile_asks(make_widget, axon_tif, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    use(w, FakeSegmenter(value=255))
    w.set_selection([5])
    w.segment_selected()
    wait_idle(qtbot, w)
    edit = viewer.layers[EDIT]
    edit.data[10:20, 10:20] = 0  # an edit made without a paint event (a script): erased
    edit.refresh()
    w.set_selection([5, 6])  # moving the window writes edits back and detects them
    assert w.status == {5: "edited"}
    questions = []
    w.confirm = lambda title, text: questions.append(text) or False  # "No": keep the edits
    w.segment_selected()
    wait_idle(qtbot, w)
    assert len(questions) == 1 and "Tile(s) 5 hold hand edits" in questions[0]
    assert w.messages[-1] == "Segmenting: done, 2 of 2 tiles; hand edits kept in tile(s) 5"
    assert w.status == {5: "edited", 6: "segmented"}
    box5 = w.grid[5]
    assert w.store.read_box(box5).sum() == 256 * 256 - 100  # segmented around the edit
    assert not w.store.read(256 + 10, 256 + 10, 256 + 20, 256 + 20).any()
    w.confirm = lambda title, text: True  # "Yes": replace the edited pixels
    w.segment_selected()
    wait_idle(qtbot, w)
    assert w.status == {5: "segmented", 6: "segmented"}
    assert w.store.read_box(box5).all() and w.session.edits.empty


def test_overlapping_tiles_later_tile_wins(make_widget, tmp_path, qtbot):
    """Shifted edge tiles share pixels: the later tile in grid order wins them."""
    import tifffile

    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, np.full((700, 1000, 3), 40, np.uint8), photometric="rgb")
    viewer, w = make_widget(path)
    assert [(t.y, t.x) for t in w.grid] == [(0, 0), (0, 488), (188, 0), (188, 488)]
    shared = (slice(0, 512), slice(488, 512))  # tiles 0 and 1

    w.set_selection([1])
    use(w, FakeSegmenter(value=255))
    w.segment_selected()
    wait_idle(qtbot, w)
    w.set_selection([0])
    use(w, FakeSegmenter(value=0))
    w.segment_selected()
    wait_idle(qtbot, w)
    assert w.store.read(0, 0, 512, 1000)[shared].all()  # tile 1 (later) kept them
    assert not w.store.read(0, 0, 512, 488).any()

    # both in one run: the later tile is written last and wins
    w.set_selection([0, 1])
    use(w, FakeSegmenter(value=0))
    w.segment_selected()
    wait_idle(qtbot, w)
    assert not w.store.read(0, 0, 512, 1000).any()

    # export reads each tile's box from the store: the shared pixels agree
    w.set_selection([1])
    w.window.move([w.grid[1]])
    viewer.layers[EDIT].data[:, 0:24] = 1
    w.set_selection([0, 1])
    assert w.status[1] == "edited" and w.status[0] == "edited"
    w.controls.export_dir.value = tmp_path / "out"
    w.export()
    wait_idle(qtbot, w)
    m0 = np.asarray(Image.open(tmp_path / "out/masks/odd_tile_0000_mask.png"))
    m1 = np.asarray(Image.open(tmp_path / "out/masks/odd_tile_0001_mask.png"))
    np.testing.assert_array_equal(m0[:, 488:], m1[:, :24])
    assert m0[:, 488:].all() and not m0[:, :488].any()


@pytest.mark.model
def test_segment_with_tiny_checkpoint(make_widget, axon_tif, tmp_path, qtbot):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_models import push_bias, save_checkpoint, tiny_segformer

    # every pixel: class 1
    folder = save_checkpoint(push_bias(tiny_segformer(), 1), tmp_path / "tiny-segformer",
                             processor_size=64)

    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.controls.segmenter.value = "checkpoint folder"
    assert not w.controls.model_dir.native.isHidden()
    w.controls.model_dir.value = folder
    w.controls.device.value = "cpu"
    w.controls.batch_size.value = "2"
    w.set_selection([3, 7])
    w.segment_selected()
    wait_idle(qtbot, w)
    assert w.status == {3: "segmented", 7: "segmented"}, w.messages
    assert w.store.read_box(w.grid[3]).all() and w.store.read_box(w.grid[7]).all()
    assert not w.store.read_box(w.grid[2]).any()

    w.controls.class_index.value = 0  # background class: now nothing is foreground
    w.controls.batch_size.value = "auto"  # the core's CPU default, tiles in parallel streams
    seg = w.make_segmenter()()
    assert seg.batch_size == 1 and seg.streams >= 1 and seg.class_index == 0
    w.set_selection([3, 7])
    w.segment_selected()
    wait_idle(qtbot, w)
    assert not w.store.read_box(w.grid[3]).any() and not w.store.read_box(w.grid[7]).any()


def test_cancel_keeps_finished_tiles(make_widget, axon_tif, tmp_path, qtbot, monkeypatch):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.select_all()
    use(w, FakeSegmenter(value=255, delay=0.15))
    w.segment_selected()
    qtbot.waitUntil(lambda: len(w.status) >= 2, timeout=30_000)
    w.controls.cancel.native.click()  # the Cancel button
    wait_idle(qtbot, w)
    done = sorted(w.status)
    assert 2 <= len(done) < 12 and "cancelled" in w.messages[-1]
    for t in w.grid:
        assert w.store.read_box(t).all() == (t.index in done)
    assert w.controls.run.enabled

    # an export cancelled mid-run leaves whole files only, and resumes
    store = w.store
    slow_read = store.read_box

    def read_box(box):
        import time

        time.sleep(0.1)
        return slow_read(box)

    monkeypatch.setattr(store, "read_box", read_box)
    out = tmp_path / "export"
    w.controls.export_dir.value = out
    w.controls.export_which.value = "all"
    w.export()
    qtbot.waitUntil(lambda: "exported" in w.status.values(), timeout=30_000)
    w.cancel()
    wait_idle(qtbot, w)
    assert not list(out.rglob(".napari-axons-tmp-*"))
    pngs = sorted(out.glob("axons_tile_*.png"))
    assert 1 <= len(pngs) < 12
    for p in pngs + sorted((out / "masks").glob("*.png")):
        Image.open(p).load()  # complete files only
    for p in out.glob("*__labels.json"):
        json.loads(p.read_text())


def test_errors_become_notifications(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    w.set_selection([0])
    out = tmp_path / "busy"
    out.mkdir()
    (out / "something.txt").write_text("not an export")
    w.controls.export_dir.value = out
    w.export()
    wait_idle(qtbot, w)
    assert w.messages[-1] == (f"{out}: is not empty and holds no napari-axons export; "
                              "choose an empty folder or an earlier export")
    assert (out / "something.txt").exists()

    empty_model = tmp_path / "no-weights"
    empty_model.mkdir()
    (empty_model / "config.json").write_text("{}")
    w.controls.segmenter.value = "checkpoint folder"
    w.controls.model_dir.value = empty_model
    w.segment_selected()
    wait_idle(qtbot, w)
    assert str(empty_model.name) in w.messages[-1]
    assert w.status == {} and w.controls.run.enabled


def test_plugin_dock_widget_and_cli_view(make_napari_viewer, axon_tif, monkeypatch):
    """What ``napari-axons view IMAGE`` does, with napari's event loop stubbed out."""
    import napari
    from napari_axons import cli
    from napari_axons._qt._widget import AxonsWidget

    viewers = []
    monkeypatch.setattr(napari, "Viewer", lambda *a, **k: viewers.append(make_napari_viewer()) or viewers[-1])
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    assert cli.main(["view", str(axon_tif)]) == 0
    (viewer,) = viewers
    _, widget = viewer.window.add_plugin_dock_widget("napari-axons")  # the one already there
    assert isinstance(widget, AxonsWidget)
    assert len([n for n in viewer.window.dock_widgets if "napari-axons" in n]) == 1
    assert widget.image_path is not None and len(widget.grid) == 4


def test_screenshot_shows_grid_and_masks(make_widget, axon_tif, qtbot, monkeypatch):
    from qtpy.QtWidgets import QApplication

    from napari_axons._qt import _widget

    monkeypatch.setattr(_widget, "OVERVIEW_MIN_SIDE", 256)  # a 3-level overview pyramid

    viewer, w = make_widget(axon_tif, show=True)
    w.controls.tile_size.value = 256
    w.set_selection([0, 1, 4, 5])
    w.segment_selected()
    wait_idle(qtbot, w)
    w.set_selection([0])  # tiles 1, 4 and 5 now show through the read-only overview only
    viewer.window._qt_window.resize(1400, 1000)  # the dock scrolls: the window sets the size
    QApplication.processEvents()
    viewer.reset_view()
    QApplication.processEvents()
    qtbot.wait(50)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    rgb = shot[..., :3].astype(int)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    cyan = (r < 90) & (g > 170) & (b > 190)  # the grid (#00e5ff)
    red = (r > 150) & (g < 110) & (b < 110)  # masks: class 1 "axon" (255, 64, 64), blended
    assert cyan.sum() > 500, cyan.sum()
    assert red.sum() > 200, red.sum()
    overview = viewer.layers[OVERVIEW]
    assert overview.multiscale and len(overview.data) == 3 and not overview.editable
    assert overview._slice.image.raw.max() == 1  # not a stale cached level
    assert Path(w.image_path).exists()
