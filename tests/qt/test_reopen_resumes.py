"""Reopening an export resumes it in the widget, ready to paint and export again (issue 24, 3)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image
from qt_helpers import click, paint_stroke, press, show_section, wait_idle

pytestmark = pytest.mark.gui

EDIT = "paint here: axons masks"


@pytest.fixture
def exported(axon_tif, tmp_path):
    """``napari-axons tile IMAGE -o EXPORT --model otsu --tile-size 256``: a 12-tile export."""
    from napari_axons.cli import main

    image = tmp_path / "axons.tif"
    shutil.copy(axon_tif, image)
    out = tmp_path / "export"
    assert main(["tile", str(image), "-o", str(out), "--model", "otsu", "--tile-size", "256"]) == 0
    return image, out


def folder_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def docked(make_napari_viewer, tmp_path):
    from napari_axons._qt._widget import AxonsWidget

    viewer = make_napari_viewer()
    widget = AxonsWidget(viewer, cache_dir=tmp_path / "cache")
    viewer.window.add_dock_widget(widget, name="napari-axons")
    return viewer, widget


def test_open_an_export_paint_and_export_it_again(make_napari_viewer, exported, tmp_path, qtbot):
    image, out = exported
    before = folder_bytes(out)
    viewer, w = docked(make_napari_viewer, tmp_path)
    viewer.open(str(out), plugin="napari-axons")  # File > Open (or a drop) with the plugin
    wait_idle(qtbot, w)
    s, c = w.session, w.controls
    assert s is not None and s.path == image and s.grid_key == (256, 0, 1)
    assert (c.tile_size.value, c.overlap.value, c.downsample.value) == (256, 0, 1)
    assert s.status == dict.fromkeys(range(12), "exported")
    assert s.classes.names == ("background", "axon")
    assert c.export_dir.value == out
    assert w.messages[-1].startswith("resumed export: the masks of its 12 tile(s) are in "
                                     "'paint here: axons masks'")
    labels = [la for la in viewer.layers if la._type_string == "labels"]
    assert [la.name for la in labels] == ["axons masks (read-only)", EDIT]  # one editable layer

    # the masks are the export's: pick tile 5 on the canvas and look at the editable layer
    click(w.layer, (300.0, 300.0))
    assert w.selected == {5}
    edit = viewer.layers[EDIT]
    saved = np.asarray(Image.open(out / "masks" / "axons_tile_0005_mask.png")) > 0
    np.testing.assert_array_equal(edit.data > 0, saved)

    # paint an axon with the mouse where there was none, and export again
    show_section(w, "Correct")
    free = np.argwhere(~np.lib.stride_tricks.sliding_window_view(saved, (15, 15)).any(axis=(2, 3)))
    cy, cx = (free[len(free) // 2] + 7).tolist()
    paint_stroke(edit, [(256 + cy, 256 + cx - 3), (256 + cy, 256 + cx + 3)], label=1, brush=5)
    qtbot.waitUntil(lambda: w.status.get(5) == "edited")
    show_section(w, "Export")
    c.export_which.value = "all"
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Exporting: done, 12 of 12 tiles (1 written, 11 kept as they were)"
    after = folder_bytes(out)
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {"manifest.json", "masks/axons_tile_0005_mask.png",
                       "axons_tile_0005__labels.json"}
    mask = np.asarray(Image.open(out / "masks" / "axons_tile_0005_mask.png")) > 0
    assert mask[cy, cx] and (mask & ~saved).sum() > 20 and not (saved & ~mask).any()
    doc = json.loads((out / "manifest.json").read_text())
    sources = {t["index"]: t.get("label_source") for t in doc["images"][0]["tiles"]}
    assert sources[5] == "manual" and sources[0] == "auto:otsu"


def test_napari_axons_view_export_resumes(make_napari_viewer, exported, tmp_path, qtbot,
                                          monkeypatch):
    """``napari-axons view EXPORT``: the command's own viewer, widget and reader."""
    import napari
    from napari_axons.cli import main

    image, out = exported
    viewers = []

    def viewer_factory(*args, **kwargs):
        viewers.append(make_napari_viewer())
        return viewers[-1]

    monkeypatch.setattr(napari, "Viewer", viewer_factory)
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    assert main(["view", str(out)]) == 0
    w = next(iter(viewers[0].window.dock_widgets.values()))
    wait_idle(qtbot, w)
    assert w.session.path == image and set(w.session.status.values()) == {"exported"}
    assert len(w.session.status) == 12


def test_an_export_whose_image_is_gone_resumes_on_its_tiles(make_napari_viewer, exported,
                                                           tmp_path, qtbot):
    image, out = exported
    image.rename(tmp_path / "moved.tif")
    viewer, w = docked(make_napari_viewer, tmp_path)
    viewer.open(str(out), plugin="napari-axons")
    wait_idle(qtbot, w)
    s = w.session
    assert s.in_memory and s.status == dict.fromkeys(range(12), "exported")
    assert w.controls.export_dir.value == tmp_path / "export_corrected"  # never over the export
    assert "its source image is gone" in w.messages[-1]
    press(qtbot, w.controls.select_all)
    saved = np.asarray(Image.open(out / "masks" / "axons_tile_0000_mask.png")) > 0
    np.testing.assert_array_equal(viewer.layers[EDIT].data[:256, :256] > 0, saved)


def test_the_pixel_size_the_export_recorded_comes_back(make_napari_viewer, axon_tif, tmp_path,
                                                       qtbot):
    """Set in the panel (the file has none), recorded by the export, there again on reopening:
    exporting back keeps every tile instead of asking to write the export again."""
    from napari_axons.core.segment import load_segmenter
    from napari_axons.core.session import Session

    image = tmp_path / "axons.tif"
    shutil.copy(axon_tif, image)
    s = Session(image, cache_dir=tmp_path / "c0", tile_size=256)
    s.set_pixel_size(0.18)
    s.segment(range(12), load_segmenter("otsu"))
    out = tmp_path / "export"
    s.export(out, range(12))
    s.close()
    viewer, w = docked(make_napari_viewer, tmp_path)
    w.confirm = lambda title, text: pytest.fail(f"unexpected question: {title}: {text}")
    viewer.open(str(out), plugin="napari-axons")
    wait_idle(qtbot, w)
    px = w.session.pixel_size
    assert (px.x, px.origin) == (0.18, "set in the panel")
    assert w.controls.pixel_size.value == 0.18
    w.controls.export_which.value = "all"
    press(qtbot, w.controls.export)
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Exporting: done, 12 of 12 tiles (0 written, 12 kept as they were)"
