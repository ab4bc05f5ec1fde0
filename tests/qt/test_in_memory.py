"""An image layer without a file: the session works on its pixels, nothing is copied to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from qt_helpers import FakeSegmenter, wait_idle

pytestmark = pytest.mark.gui


def test_layer_without_a_file_exports_its_own_pixels(make_napari_viewer, tmp_path, qtbot):
    from napari_axons._qt._widget import AxonsWidget
    from napari_axons.core.image.sample import make_axon_sample

    image, _ = make_axon_sample((300, 400), seed=1)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="pasted", rgb=True)
    w = AxonsWidget(viewer, cache_dir=tmp_path / "cache")
    viewer.window.add_dock_widget(w, name="napari-axons")
    assert w.session is not None and w.session.in_memory and w.image_path is None
    w.controls.tile_size.value = 256  # 4 tiles, the edge ones shifted inward
    w.make_segmenter = lambda: (lambda: FakeSegmenter(value=255))
    w.select_all()
    w.segment_selected()
    wait_idle(qtbot, w)
    out = tmp_path / "export"
    w.controls.export_dir.value = out
    w.export()
    wait_idle(qtbot, w)
    assert w.messages[-1] == "Exporting: done, 4 of 4 tiles", w.messages
    tile = np.asarray(Image.open(out / "pasted_tile_0000.png"))
    np.testing.assert_array_equal(tile, image[:256, :256])  # the layer's own pixels
    assert np.asarray(Image.open(out / "masks" / "pasted_tile_0003_mask.png")).all()
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["images"][0]["source"]["path"] is None
    assert not list((tmp_path / "cache").rglob("*.tif"))  # no temporary copy of the image
    # exporting more tiles later adds them to that export (same pixels, same grid)
    assert w.session.source_hash == doc["images"][0]["source"]["hash"]
