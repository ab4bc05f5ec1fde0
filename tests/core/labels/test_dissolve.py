"""Pieces of objects cut by tile borders joined by the edge-matching coverage union."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from formats_helpers import noise_mask, tile_pieces
from napari_axons.core.labels import outlines as vectorize
from napari_axons.core.labels.outlines import class_map_objects, dissolve, rasterize

EIGHT = np.ones((3, 3), bool)


def _no_straight_vertices(geom):
    for poly in vectorize.polygons_of(geom):
        for ring in [poly.exterior, *poly.interiors]:
            c = np.asarray(ring.coords)[:-1]
            a, b = c - np.roll(c, 1, axis=0), np.roll(c, -1, axis=0) - c
            assert np.all(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0)


@pytest.mark.parametrize(("seed", "on_borders"), [(0, False), (1, False), (0, True), (2, True)])
def test_dissolve_joins_tile_pieces_exactly(seed, on_borders, monkeypatch):
    mask = noise_mask((96, 120), seed)
    pieces = tile_pieces(mask, 32)
    assert len(pieces) > 20
    lines = (np.arange(0, 121, 32), np.arange(0, 97, 32)) if on_borders else None
    # The coverage union must do the work: a fallback to the general overlay would fail here.
    monkeypatch.setattr(shapely, "union_all", lambda *a, **k: pytest.fail("union_all fallback used"))
    merged = dissolve(pieces, lines)
    monkeypatch.undo()
    assert merged.is_valid
    assert shapely.equals(merged, shapely.union_all(pieces))
    painted = rasterize([(1, merged)], np.zeros(mask.shape, np.uint8))
    np.testing.assert_array_equal(painted, mask)
    _no_straight_vertices(merged)
    # As many vertices as the whole mask traced at once: only the corners remain.
    whole = shapely.union_all([o.geometry for o in class_map_objects(mask)])
    assert shapely.get_num_coordinates(merged) == shapely.get_num_coordinates(shapely.normalize(whole))


def test_dissolve_keeps_a_hole_across_tile_borders():
    mask = np.ones((40, 40), np.uint8)
    mask[15:25, 15:25] = 0  # a hole cut by the borders of four 20^2 tiles
    merged = dissolve(tile_pieces(mask, 20), (np.array([20]), np.array([20])))
    assert merged.geom_type == "Polygon" and len(merged.interiors) == 1
    assert merged.area == 1600 - 100
    assert shapely.get_num_coordinates(merged) == 10  # two squares, closed


def test_dissolve_falls_back_on_overlapping_pieces():
    a, b = shapely.box(0, 0, 10, 10), shapely.box(5, 0, 15, 10)
    merged = dissolve([a, b])
    assert merged.is_valid and merged.area == 150


def test_dissolve_needs_the_borders_it_is_told():
    """Pieces meeting on a line not in ``lines`` are no coverage: the general overlay joins them."""
    pieces = [shapely.box(0, 0, 3, 4), shapely.box(3, 0, 6, 2), shapely.box(3, 2, 6, 4)]
    merged = dissolve(pieces, (np.array([10]), np.array([10])))
    assert merged.equals(shapely.box(0, 0, 6, 4))


def test_dissolve_puts_back_holes_off_the_borders():
    mask = np.ones((40, 40), np.uint8)
    mask[5:8, 5:8] = 0  # inside one tile: kept out of the union
    mask[15:25, 15:25] = 0  # across four tiles
    merged = dissolve(tile_pieces(mask, 20), (np.array([20]), np.array([20])))
    assert merged.geom_type == "Polygon" and merged.is_valid
    assert sorted(shapely.Polygon(r).area for r in merged.interiors) == [9, 100]
    np.testing.assert_array_equal(rasterize([(1, merged)], np.zeros(mask.shape, np.uint8)), mask)
