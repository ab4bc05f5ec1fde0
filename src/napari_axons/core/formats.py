"""Whole-slide and vendor formats read through optional libraries (``napari-axons[formats]``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["slide_reader_for"]


def slide_reader_for(path: Path):
    """A function opening ``path`` as a :class:`~napari_axons.core.io.SourceImage`, or None."""
    return None
