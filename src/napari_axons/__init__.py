"""napari-axons."""

__version__ = "0.1.0"
