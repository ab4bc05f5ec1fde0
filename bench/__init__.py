"""Benchmarks of napari-axons against a faithful rebuild of the seed's pipeline."""
