"""A slide with a pixel size opens in micrometres: the scale bar reads µm, grid and masks line up."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.gui

GRID = "axons tile grid"
PX = 0.5  # micrometres per pixel


@pytest.fixture(scope="module")
def micron_tif(tmp_path_factory):
    import tifffile

    from napari_axons.core.image.sample import make_axon_sample

    image, _ = make_axon_sample((768, 1024), seed=3)
    path = tmp_path_factory.mktemp("px") / "axons.ome.tif"
    tifffile.imwrite(path, image, tile=(256, 256), photometric="rgb", ome=True,
                     metadata={"PhysicalSizeX": PX, "PhysicalSizeY": PX,
                               "PhysicalSizeXUnit": "µm", "PhysicalSizeYUnit": "µm"})
    return path


def test_scale_bar_in_microns_over_the_slide_and_its_grid(make_widget, micron_tif, qtbot):
    from qtpy.QtWidgets import QApplication

    viewer, w = make_widget(micron_tif, show=True)
    image = next(layer for layer in viewer.layers if layer._type_string == "image")
    assert tuple(image.scale) == (PX, PX)
    assert [str(u) for u in image.units] == ["micrometer", "micrometer"]
    w.controls.tile_size.value = 256
    grid = viewer.layers[GRID]
    assert tuple(grid.scale) == (PX, PX)
    # the grid's outer edges sit on the image's outer pixel edges, in micrometres
    corners = np.concatenate([grid.data_to_world(d) for d in grid.data])
    assert corners.min(axis=0) == pytest.approx([-0.5 * PX, -0.5 * PX])
    assert corners.max(axis=0) == pytest.approx([767.5 * PX, 1023.5 * PX])
    viewer.canvas.overlays.scale_bar.visible = True
    viewer.reset_view()
    QApplication.processEvents()
    qtbot.wait(50)
    bar = viewer.window._qt_viewer.canvas._viewer_overlay_to_visual[viewer.canvas.overlays.scale_bar]
    bar = bar[0] if isinstance(bar, list) else bar
    assert bar.node.text.text.endswith("µm")
    shot = viewer.screenshot(canvas_only=False, flash=False)
    rgb = shot[..., :3].astype(int)
    cyan = (rgb[..., 0] < 90) & (rgb[..., 1] > 170) & (rgb[..., 2] > 190)  # the grid
    assert cyan.sum() > 500
    target = os.environ.get("NAPARI_AXONS_SCREENSHOT")  # docs/screenshot_microns.png
    if target:
        from PIL import Image

        Image.fromarray(shot).save(target)
