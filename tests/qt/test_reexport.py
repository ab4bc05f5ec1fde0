"""Corrections are always re-exported: the panel's buttons, napari's mouse, the files (issue 24, 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from qt_helpers import click, paint_stroke, press, show_section, wait_idle

pytestmark = pytest.mark.gui

EDIT = "paint here: axons masks"


def folder_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def tile_files(out, i):
    stem = f"axons_tile_{i:04d}"
    return [f"{stem}.png", f"masks/{stem}_mask.png", f"{stem}__labels.json"]


def test_paint_then_export_again_writes_the_tile(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    c = w.controls
    assert c.export_dir.value == axon_tif.parent / "axons_export"  # proposed beside the image
    c.tile_size.value = 256  # 3 x 4 tiles
    press(qtbot, c.select_all)
    show_section(w, "Segment")
    press(qtbot, c.run)  # otsu, bright objects: axon
    wait_idle(qtbot, w)
    assert len(w.status) == 12
    show_section(w, "Export")
    out = tmp_path / "A"
    c.export_which.value = "all"
    c.export_dir.value = out
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    before = folder_bytes(out)
    assert len([k for k in before if k.endswith("_mask.png")]) == 12

    # pick tile 4 (row 1, column 0) with the mouse, erase a stroke across an axon in it
    show_section(w, "Tiles")
    press(qtbot, c.select_none)
    click(w.layer, (300.0, 100.0))
    assert w.selected == {4}
    store = w.store.read(256, 0, 512, 256)
    ys, xs = np.nonzero(store)
    y0, x0 = int(ys[len(ys) // 2]) + 256, int(xs[len(xs) // 2])  # a pixel of an object
    show_section(w, "Correct")
    c.paint_class.value = 0  # "background (erase)"
    paint_stroke(viewer.layers[EDIT], [(y0, x0 - 6), (y0, x0 + 6)], brush=7)
    qtbot.waitUntil(lambda: w.status.get(4) == "edited")
    erased = w.store.read(256, 0, 512, 256)
    assert erased[y0 - 256, x0] == 0 and (erased != store).sum() > 20
    assert not (erased > store).any()  # erasing only

    # Export again into the same folder: the corrected tile is written, the others kept
    show_section(w, "Export")
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Exporting: done, 12 of 12 tiles (1 written, 11 kept as they were)"
    after = folder_bytes(out)
    for i in set(range(12)) - {4}:
        assert all(after[f] == before[f] for f in tile_files(out, i)), i
    mask = np.asarray(Image.open(out / tile_files(out, 4)[1]))
    np.testing.assert_array_equal(mask > 0, erased > 0)  # the re-exported tile's pixels
    labels = json.loads((out / tile_files(out, 4)[2]).read_text())["labels"]
    assert {lab["source"] for lab in labels} == {"manual"}
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["status"] == "complete" and len(doc["images"][0]["tiles"]) == 12
    assert w.status[4] == "exported"

    # "Write the whole export again" with only tile 4 selected: asks with the count, deletes nothing
    asked = []
    w.confirm = lambda title, text: asked.append((title, text)) or True
    c.export_which.value = "selected"
    c.replace.value = True
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    title, text = asked[-1]
    assert title == "Write the whole export again?"
    assert text.startswith(f"12 of the 12 tile(s) of the export in {out} hold masks here")
    assert "Nothing is deleted" in text
    assert w.messages[-1] == "Exporting: done, 12 of 12 tiles (12 written, 0 kept as they were)"
    again = folder_bytes(out)
    assert set(again) == set(after)  # every tile still there
    assert all(again[k] == after[k] for k in after if k != "manifest.json")  # same masks, same bytes
    assert c.replace.value is False

    # another grid: replacing asks with what it deletes; "No" keeps every file
    w.confirm = lambda title, text: asked.append((title, text)) or False
    c.tile_size.value = 128
    press(qtbot, c.select_all)
    c.export_which.value = "all"
    press(qtbot, c.export)
    title, text = asked[-1]
    assert title == "Replace the export?"
    assert f"the export in {out} (12 tile(s) of axons.tif: 36 files" in text
    assert w.messages[-1] == f"export cancelled: the export in {out} is kept as it is"
    assert folder_bytes(out) == again
