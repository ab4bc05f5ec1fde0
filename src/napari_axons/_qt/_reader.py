"""The napari reader contribution: :mod:`napari_axons._reader`, with missing pyramids built in the background.

Inside a running napari (a Qt application and a viewer), a large image without
a pyramid shows at once: its levels are returned straight away, level 0 reads
the file, and the overview fills in block by block while
:mod:`._pyramid_worker` builds the pyramid (how far it is, in the canvas overlay). Without
a viewer (``npe2.read`` in a script) the pyramid is built before returning, as
the headless reader does.
"""

from __future__ import annotations

import sys

from qtpy.QtWidgets import QApplication

from .. import _reader
from ..core.image import PyramidBuild
from ._pyramid_worker import build_in_background, running_build_for

__all__ = ["napari_get_reader", "reader_function", "background_levels"]


def napari_get_reader(path):
    """The npe2 reader: :func:`napari_axons._reader.napari_get_reader` with :func:`reader_function`."""
    return _reader.napari_get_reader(path, reader=reader_function)


def reader_function(path) -> list[tuple]:
    """Read ``path`` (or a list of paths); missing pyramids build in the background in napari."""
    return _reader.reader_function(path, levels_for=background_levels)


def background_levels(build: PyramidBuild, name: str) -> list:
    """The levels of a pyramid being built in the background (inside napari), else built here."""
    if not _viewer_running():
        return _reader.build_here(build, name)
    same = running_build_for(build.folder)  # opened again while it is being built
    if same is not None:
        return same.build.levels
    build_in_background(build, name)
    return build.levels


def _viewer_running() -> bool:
    """True inside a napari session with a Qt application and a viewer."""
    if "napari" not in sys.modules:
        return False
    from napari import current_viewer

    return QApplication.instance() is not None and current_viewer() is not None
