"""Headless core of napari-axons: no Qt, no napari."""
