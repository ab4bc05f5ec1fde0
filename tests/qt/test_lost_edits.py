"""The three ways hand edits used to be lost in the widget (issue 10): each now asks, and "No" keeps them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from qt_helpers import FakeSegmenter, wait_idle

pytestmark = pytest.mark.gui

EDIT = "paint here: axons masks"


def use(widget, segmenter):
    widget.make_segmenter = lambda: (lambda: segmenter)


def folder_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_three_lost_edit_stories_now_ask(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    use(w, FakeSegmenter(value=0))  # segmentation finds nothing: the stroke is all there is
    assert w.controls.tile_size.value == 512
    w.set_selection([0])
    w.segment_selected()
    wait_idle(qtbot, w)
    edit = viewer.layers[EDIT]
    edit.brush_size = 5
    edit.paint((100, 100), 1)  # a real paint stroke, at tile size 512
    qtbot.waitUntil(lambda: w.status.get(0) == "edited")
    stroke = w.store.read(96, 96, 105, 105).copy()
    assert stroke[4, 4] == 1 and 9 < stroke.sum() < 81
    questions = []
    w.confirm = lambda title, text: questions.append((title, text)) or False  # "No"

    # story 1: another tile size, then segment the tile under the stroke
    w.controls.tile_size.value = 256
    assert w.status == {0: "edited"}  # the new grid's tile 0 holds the stroke
    w.set_selection([0])
    w.segment_selected()
    wait_idle(qtbot, w)
    assert questions[-1][0] == "Replace hand edits?" and "Tile(s) 0 hold hand edits" in questions[-1][1]
    np.testing.assert_array_equal(w.store.read(96, 96, 105, 105), stroke)
    assert w.messages[-1] == "Segmenting: done, 1 of 1 tiles; hand edits kept in tile(s) 0"
    assert w.controls.message.value.startswith("Segmenting: done, 1 of 1 tiles; hand edits kept")

    # story 2: export the edited tile, then segment it again (and Select all + Segment)
    out = tmp_path / "export"
    w.controls.export_dir.value = out
    w.export()
    wait_idle(qtbot, w)
    assert w.status[0] == "exported"
    mask = np.asarray(Image.open(out / "masks" / "axons_tile_0000_mask.png"))
    assert mask[100, 100] == 255 and mask.sum() == 255 * int(stroke.sum())
    labels = json.loads((out / "axons_tile_0000__labels.json").read_text())["labels"]
    assert [lab["label_class"] for lab in labels] == ["axon"]
    w.segment_selected()
    wait_idle(qtbot, w)
    assert len(questions) == 2 and "Tile(s) 0 hold hand edits" in questions[-1][1]
    np.testing.assert_array_equal(w.store.read(96, 96, 105, 105), stroke)
    assert w.messages[-1] == "Segmenting: done, 1 of 1 tiles; hand edits kept in tile(s) 0"
    w.select_all()
    w.segment_selected()
    wait_idle(qtbot, w)
    assert len(questions) == 3 and "Tile(s) 0 hold" in questions[-1][1]
    np.testing.assert_array_equal(w.store.read(96, 96, 105, 105), stroke)
    assert w.status[0] == "edited" and w.status[1] == "segmented"

    # story 3: "Write the whole export again" asks, with the count; "No" keeps the export
    before = folder_bytes(out)
    w.set_selection([0])
    w.controls.replace.value = True
    assert w.export() is None
    title, text = questions[-1]
    assert title == "Write the whole export again?"
    assert text.startswith(f"1 of the 1 tile(s) of the export in {out} hold masks here")
    assert "Nothing is deleted" in text
    assert w.messages[-1] == f"export cancelled: the export in {out} is kept as it is"
    assert folder_bytes(out) == before
    assert w.controls.replace.value is False  # not armed for the next export
    assert not any("--" in m for m in w.messages)

    # the same image and grid: tiles are added, the earlier ones kept byte for byte
    w.set_selection([0, 1])
    w.export()
    wait_idle(qtbot, w)
    assert len(questions) == 4  # nothing asked
    after = folder_bytes(out)
    assert all(after[k] == v for k, v in before.items() if k != "manifest.json")
    doc = json.loads((out / "manifest.json").read_text())
    assert [t["index"] for t in doc["images"][0]["tiles"]] == [0, 1]
    assert w.messages[-1] == "Exporting: done, 2 of 2 tiles (1 written, 1 kept as they were)"

    # another grid: asks first, "No" keeps it
    w.controls.tile_size.value = 128
    w.set_selection([0])
    assert w.export() is None
    assert "tile size 256, overlap 0, downsample 1 (now 128, 0, 1)" in questions[-1][1]
    assert folder_bytes(out) == after


def test_edits_survive_saving_and_opening_the_session(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    use(w, FakeSegmenter(value=0))
    w.set_selection([5])
    w.segment_selected()
    wait_idle(qtbot, w)
    edit = viewer.layers[EDIT]
    edit.brush_size = 5
    edit.paint((40, 40), 1)  # window over tile 5: slide pixel (296, 296)
    qtbot.waitUntil(lambda: w.status.get(5) == "edited")
    stroke = w.store.read(290, 290, 303, 303).copy()
    assert stroke.any()
    w.controls.session_dir.value = saved = tmp_path / "my-session"
    w.controls.save_session.native.click()
    assert w.messages[-1] == f"session saved in {saved}"
    assert (saved / "session.json").exists() and (saved / "edits.zarr").is_dir()
    asked = []
    w.confirm = lambda title, text: asked.append(title) or False
    w.controls.save_session.native.click()  # a session is already there: asks, "No" keeps it
    assert asked == ["Replace the saved session?"]
    assert w.messages[-1] == f"not saved: the session in {saved} is kept"

    # napari closed and opened again: a new widget on the same image
    viewer2, w2 = make_widget(axon_tif)
    assert w2.controls.tile_size.value == 512 and not w2.store.read(290, 290, 303, 303).any()
    w2.controls.session_dir.value = saved
    w2.controls.open_session.native.click()
    assert w2.messages[-1] == f"session opened from {saved}"
    assert w2.controls.tile_size.value == 256 and w2.grid.tile_size == 256
    assert w2.status == {5: "edited"}
    np.testing.assert_array_equal(w2.store.read(290, 290, 303, 303), stroke)
    questions = []
    w2.confirm = lambda title, text: questions.append(text) or False
    use(w2, FakeSegmenter(value=0))
    w2.set_selection([5])
    w2.segment_selected()
    wait_idle(qtbot, w2)
    assert "Tile(s) 5 hold hand edits" in questions[0]
    np.testing.assert_array_equal(w2.store.read(290, 290, 303, 303), stroke)
