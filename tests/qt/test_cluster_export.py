"""The widget hands an export to a local dask cluster and lets the user keep painting."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from qt_helpers import wait_idle

from napari_axons._qt._export_target import LOCAL_CLUSTER, SCHEDULER, THREADS
from napari_axons.core.labels.render import labels_to_mask

pytestmark = pytest.mark.gui
pytest.importorskip("distributed")

EDIT = "paint here: axons masks"


def folder_bytes(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def free_spot(store_box):
    """The centre of a 15 x 15 window of ``store_box`` holding no mask."""
    view = np.lib.stride_tricks.sliding_window_view(store_box, (15, 15))
    free = np.argwhere(view.max(axis=(2, 3)) == 0)
    return (free[len(free) // 2] + 7).tolist()


def test_export_on_a_local_cluster_equals_threads(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.set_selection([0, 1])
    w.segment_selected()  # otsu
    wait_idle(qtbot, w)
    edit = viewer.layers[EDIT]
    cy, cx = free_spot(w.store.read(0, 0, 256, 256))
    edit.brush_size = 5
    edit.paint((cy, cx), 1)
    qtbot.waitUntil(lambda: w.status.get(0) == "edited")

    w.controls.export_which.value = "selected"
    assert w.controls.target.choice.value == THREADS  # the default: today's behaviour
    w.controls.export_dir.value = tmp_path / "threads"
    w.export()
    wait_idle(qtbot, w)

    w.controls.target.choice.value = LOCAL_CLUSTER
    w.controls.target.workers.value = 2
    assert not w.controls.target.workers.native.isHidden() and w.controls.target.address.native.isHidden()
    w.controls.export_dir.value = out = tmp_path / "cluster"
    worker = w.export()
    assert worker is not None and w.busy
    # the user keeps working: the edit layer stays editable, selection changes work
    assert edit.editable and not w.controls.run.enabled and w.controls.cancel.enabled
    assert list(out.glob(".napari-axons-masks-*"))  # the snapshot the workers read
    dy, dx = free_spot(w.store.read(0, 256, 256, 512))
    edit.paint((dy, dx + 256), 1)  # tile 1, after the snapshot: not in this export
    qtbot.waitUntil(lambda: w.status.get(1) == "edited")
    w.set_selection([0])
    wait_idle(qtbot, w, timeout=120_000)
    assert not any("failed" in m or "error" in m.lower() for m in w.messages), w.messages
    assert w.messages[-1].startswith("Exporting: done, ")
    assert w.status == {0: "exported", 1: "edited"}  # tile 1 changed since its export
    assert not list(out.glob(".napari-axons-masks-*"))  # snapshot removed

    assert folder_bytes(out) == folder_bytes(tmp_path / "threads")
    mask = np.asarray(Image.open(out / "masks" / "axons_tile_0000_mask.png"))
    assert mask[cy, cx] == 255
    doc = json.loads((out / "axons_tile_0000__labels.json").read_text())
    rendered, _ = labels_to_mask(doc, (256, 256))
    assert rendered[cy, cx] == 255
    mask1 = np.asarray(Image.open(out / "masks" / "axons_tile_0001_mask.png"))
    assert mask1[dy, dx] == 0 and w.store.read(dy, dx + 256, dy + 1, dx + 257)[0, 0] == 1


def test_bad_scheduler_address_is_one_notification(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.set_selection([0])
    w.controls.export_dir.value = out = tmp_path / "out"
    w.controls.target.choice.value = SCHEDULER
    w.export()
    assert not w.busy and "scheduler's address" in w.messages[-1]
    w.controls.target.address.value = "not an address"
    w.export()
    wait_idle(qtbot, w)
    assert "cannot connect to a dask scheduler" in w.messages[-1]
    assert "\n" not in w.messages[-1]
    assert w.controls.export.enabled and viewer.layers[EDIT].editable
    assert not list(out.glob(".napari-axons-masks-*"))


def test_cancel_a_cluster_export(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 64  # 192 tiles
    w.controls.target.choice.value = LOCAL_CLUSTER
    w.controls.target.workers.value = 1
    w.controls.export_which.value = "all"
    w.controls.export_dir.value = out = tmp_path / "out"
    w.export()
    w.cancel()  # takes effect after the first finished tile (the cluster starts first)
    assert w.busy and not w.messages
    wait_idle(qtbot, w, timeout=60_000)
    assert w.messages[-1].startswith("Exporting: cancelled after ") and " of 192 tiles" in w.messages[-1]
    assert list(w.status.values()) == ["exported"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    assert not list(out.glob(".napari-axons-masks-*")) and not list(out.rglob(".napari-axons-tmp-*"))
    assert w.controls.export.enabled and w.controls.run.enabled and not w.controls.cancel.enabled
