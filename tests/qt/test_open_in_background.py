"""Opening a slide without a pyramid: napari shows it at once and stays responsive (issue 14.1)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_axons._qt import _pyramid_worker
from napari_axons.core.image import pyramid

pytestmark = pytest.mark.gui


@pytest.fixture
def flat_slide(tmp_path, monkeypatch):
    """A 2048 x 1536 RGB tiled TIFF without a pyramid, treated as "large" (48 blocks)."""
    import tifffile

    monkeypatch.setenv("NAPARI_AXONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(pyramid, "LARGE_SIDE", 1024)
    monkeypatch.setattr(pyramid, "BLOCK", 256)
    monkeypatch.setattr(pyramid, "TOP_SIDE", 512)
    yy, xx = np.mgrid[0:2048, 0:1536]
    img = np.stack([(xx * 7 + yy * 3) % 251 + 1, (xx ^ yy) % 250 + 1, (yy // 7) % 200 + 20],
                   -1).astype(np.uint8)  # never 0: a built block is told from an empty one
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, img, tile=(256, 256), photometric="rgb")
    return path, img


@pytest.fixture
def gated_build(monkeypatch):
    """Blocks wait for ``gate`` and take 20 ms each, so a build spans many event-loop turns."""
    gate = threading.Event()
    real = pyramid.PyramidBuild._work

    def work(self, origin):
        gate.wait(30)
        time.sleep(0.02)
        return real(self, origin)

    monkeypatch.setattr(pyramid.PyramidBuild, "_work", work)
    return gate


def _top(img, levels):
    out = img
    for _ in range(levels):
        out = pyramid._halve(out)
    return out


def test_open_returns_at_once_and_events_run_while_the_pyramid_builds(
        make_napari_viewer, flat_slide, gated_build, qtbot):
    from qtpy.QtCore import QTimer

    path, img = flat_slide
    viewer = make_napari_viewer()
    builds = pyramid.build_count()
    layer = viewer.open(str(path), plugin="napari-axons")[0]
    # viewer.open came back before a single block was built: the layer is there
    [job] = _pyramid_worker.running_builds()
    assert job.build.done == 0 and job.build.total == 48
    assert layer.multiscale and layer.data[0].shape == img.shape
    assert len(layer.data) == 3 and layer.data[-1].shape == (512, 384, 3)
    np.testing.assert_array_equal(np.asarray(layer.data[-1]), 0)  # nothing built yet
    # full resolution already reads the file
    np.testing.assert_array_equal(np.asarray(layer.data[0][1000:1010, 700:720]),
                                  img[1000:1010, 700:720])

    # the same file opened again meanwhile: the same build, not a second one
    twin = viewer.open(str(path), plugin="napari-axons")[0]
    assert _pyramid_worker.running_builds() == [job] and twin.data[-1] is layer.data[-1]

    seen = []  # (blocks done, fraction of the overview filled) at each timer tick

    said = []  # what the canvas said meanwhile

    def tick():
        top = np.asarray(layer.data[-1])
        seen.append((job.build.done, float((top[..., 2] > 0).mean())))
        said.append(viewer.canvas.overlays.text.text if viewer.canvas.overlays.text.visible else "")

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    gated_build.set()
    qtbot.waitUntil(lambda: job.finished and not _pyramid_worker.running_builds(),
                    timeout=60_000)
    timer.stop()

    # the Qt event loop kept turning while blocks were being built ...
    during = [(d, f) for d, f in seen if 0 < d < 48]
    assert len({d for d, _ in during}) >= 5, seen
    # ... and the overview filled in as they came, not at the end
    assert any(0 < f < 1 for _, f in during), seen
    assert job.refreshes >= 3
    progress = [t for t in said if t.startswith("Building the overview of flat.tif: ")]
    assert any(" of 48 blocks" in t and " 0% " not in t and "100%" not in t
               for t in progress), said  # a share of the blocks, said while they are built
    assert job.build.complete and pyramid.build_count() == builds + 1
    assert not viewer.canvas.overlays.text.visible  # the progress line is gone once it is built
    np.testing.assert_array_equal(np.asarray(layer.data[-1]), _top(img, 2))
    np.testing.assert_array_equal(np.asarray(layer.data[1][100:300, 50:90]),
                                  _top(img, 1)[100:300, 50:90])

    # opened again: the cached pyramid, complete at once, nothing in the background
    again = viewer.open(str(path), plugin="napari-axons")[0]
    assert _pyramid_worker.running_builds() == [] and pyramid.build_count() == builds + 1
    np.testing.assert_array_equal(np.asarray(again.data[-1]), _top(img, 2))


def test_cancelled_build_leaves_nothing_and_says_so(
        make_napari_viewer, flat_slide, gated_build, qtbot, tmp_path, monkeypatch):
    from napari_axons._qt import _pyramid_worker as worker_module

    said = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", said.append)
    path, _ = flat_slide
    viewer = make_napari_viewer()
    layer = viewer.open(str(path), plugin="napari-axons")[0]
    [job] = worker_module.running_builds()
    qtbot.waitUntil(lambda: viewer.canvas.overlays.text.visible, timeout=10_000)
    assert viewer.canvas.overlays.text.text.startswith("Building the overview of flat.tif: 0% ")
    viewer.layers.remove(layer)  # closing the image stops its build
    gated_build.set()
    qtbot.waitUntil(lambda: job.finished and not worker_module.running_builds(), timeout=60_000)
    assert job.cancelled and not job.build.complete and job.build.done < job.build.total
    assert said == ["flat.tif: pyramid build cancelled; the overview stays blank (open the "
                    "image again to build it)"]
    assert list((tmp_path / "cache" / "pyramids").iterdir()) == []  # no cache, no temp folder
    np.testing.assert_array_equal(np.asarray(layer.data[-1]), 0)
    assert not viewer.canvas.overlays.text.visible  # the progress line went with the build


def test_failed_build_says_why_and_keeps_the_image(
        make_napari_viewer, flat_slide, qtbot, tmp_path, monkeypatch):
    said = []
    monkeypatch.setattr("napari.utils.notifications.show_error", said.append)
    real = pyramid.PyramidBuild._work

    def work(self, origin):
        if origin == (512, 512):
            raise OSError(28, "No space left on device")
        return real(self, origin)

    monkeypatch.setattr(pyramid.PyramidBuild, "_work", work)
    path, img = flat_slide
    viewer = make_napari_viewer()
    layer = viewer.open(str(path), plugin="napari-axons")[0]
    qtbot.waitUntil(lambda: not _pyramid_worker.running_builds(), timeout=60_000)
    assert said == ["flat.tif: the pyramid could not be built (OSError: [Errno 28] No space left "
                    "on device); the overview stays blank, full resolution still shows when you "
                    "zoom in"]
    assert list((tmp_path / "cache" / "pyramids").iterdir()) == []
    assert layer in viewer.layers
    np.testing.assert_array_equal(np.asarray(layer.data[0][600:610, 600:610]),
                                  img[600:610, 600:610])
