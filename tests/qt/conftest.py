"""Fixtures for the dock-widget tests (napari + pytest-qt, under Xvfb)."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")


@pytest.fixture(scope="session")
def axon_tif(tmp_path_factory):
    """A 768 x 1024 synthetic axon image as a tiled TIFF, and its ground truth."""
    import tifffile

    from napari_axons.core.image.sample import make_axon_sample

    image, truth = make_axon_sample((768, 1024), seed=3)
    path = tmp_path_factory.mktemp("images") / "axons.tif"
    tifffile.imwrite(path, image, tile=(256, 256), photometric="rgb")
    return path


@pytest.fixture
def make_widget(make_napari_viewer, tmp_path):
    """``make_widget(path, show=False) -> (viewer, widget)`` with the image open."""
    from qt_helpers import add_image

    from napari_axons._qt._widget import AxonsWidget

    def make(path, show=False, **kw):
        viewer = make_napari_viewer(show=show)
        add_image(viewer, path)
        widget = AxonsWidget(viewer, cache_dir=tmp_path / "cache", **kw)
        viewer.window.add_dock_widget(widget, name="napari-axons")

        def no_dialog(title, text):  # a test that meets a dialog must set its answer
            raise AssertionError(f"unexpected question: {title}: {text}")

        widget.confirm = no_dialog
        return viewer, widget

    return make


