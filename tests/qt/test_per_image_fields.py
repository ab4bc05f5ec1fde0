"""Fields that belong to an image follow the selected image (issue 24, 6 and 7).

Switching images used to leave the first image's export folder in *Export to*:
one "Yes" then replaced the first image's export with the second image's.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tifffile
from qt_helpers import add_image, click, press, show_section, wait_idle

pytestmark = pytest.mark.gui


def folder_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_export_folder_status_and_pixel_size_follow_the_image(make_widget, axon_tif, tmp_path,
                                                              qtbot):
    a = tmp_path / "a" / "first.tif"
    a.parent.mkdir()
    shutil.copy(axon_tif, a)
    b = tmp_path / "b" / "second.tif"
    b.parent.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(b, rng.integers(0, 255, (600, 700, 3), dtype=np.uint8), photometric="rgb",
                     resolution=(40000, 40000), resolutionunit="CENTIMETER")  # 0.25 um
    viewer, w = make_widget(a)
    c = w.controls
    assert c.export_dir.value == a.parent / "first_export"  # proposed beside the image
    assert c.pixel_size.value == 0 and c.pixel_origin.value.startswith("unknown")
    c.pixel_size.value = 0.5  # typed by the user (Enter)
    assert w.session.pixel_size.x == 0.5 and "set in the panel" in c.pixel_origin.value

    # export a tile of the first image into a folder of the user's choice
    mine = tmp_path / "first-image-export"
    click(w.layer, (10.0, 10.0))
    show_section(w, "Segment")
    press(qtbot, c.run)
    wait_idle(qtbot, w)
    show_section(w, "Export")
    c.export_dir.value = mine
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    first_message = w.messages[-1]
    assert first_message == "Exporting: done, 1 of 1 tiles"
    kept = folder_bytes(mine)

    # the second image: its own folder, no stale status, its own pixel size
    layer_b = add_image(viewer, b)
    assert w.layer is layer_b
    assert c.export_dir.value == b.parent / "second_export"
    assert c.message.value == ""
    assert c.pixel_size.value == 0.25 and "um" in c.pixel_origin.value
    asked = []
    w.confirm = lambda title, text: asked.append(title) or True  # a "Yes" would replace
    press(qtbot, c.select_all)
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    assert asked == []  # a new folder: nothing to ask
    assert folder_bytes(mine) == kept  # the first image's export untouched
    assert (b.parent / "second_export" / "manifest.json").is_file()

    # back to the first image: its folder, its last status line, its pixel size
    c.image.value = viewer.layers["first.tif"]
    assert w.layer.name == "first.tif"
    assert c.export_dir.value == mine
    assert c.message.value == first_message
    assert c.pixel_size.value == 0.5
