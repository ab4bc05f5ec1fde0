"""Pieces of objects cut by tile borders joined by cancelling shared edges (core/coverage.py)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from formats_helpers import noise_mask, tile_pieces
from napari_axons.core.labels.coverage import dissolve_coverage
from napari_axons.core.labels.outlines import class_map_objects, polygons_of, rasterize


@pytest.mark.parametrize("seed", range(40))
def test_random_tilings_join_into_geos_union_valid_and_pixel_exact(seed):
    """Fine noise gives corner-touching parts, holes touching outlines and each other at a
    corner, objects in holes: every case of ring linking."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(12, 80, 2))
    tile = int(rng.integers(4, 33))
    mask = noise_mask((h, w), seed, rng.uniform(0.25, 0.75), [0.5, 1.0, 2.0][seed % 3])
    pieces = tile_pieces(mask, tile)
    lines = (np.arange(0, w + 1, tile), np.arange(0, h + 1, tile)) if seed % 2 else None
    merged = dissolve_coverage(list(pieces), lines)
    assert merged is not None and merged.is_valid, shapely.is_valid_reason(merged)
    assert shapely.equals(merged, shapely.union_all(pieces))
    np.testing.assert_array_equal(rasterize([(1, merged)], np.zeros(mask.shape, np.uint8)), mask)
    for poly in polygons_of(merged):  # RFC 7946 orientation, vertices only at turns
        assert poly.exterior.is_ccw and not any(r.is_ccw for r in poly.interiors)
        for ring in (poly.exterior, *poly.interiors):
            c = np.asarray(ring.coords)[:-1]
            a, b = c - np.roll(c, 1, axis=0), np.roll(c, -1, axis=0) - c
            assert np.all(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0)


def test_a_hole_touching_the_outline_at_a_corner_is_its_own_ring():
    mask = np.ones((6, 6), np.uint8)
    mask[0, 0] = 0  # outside
    mask[1:3, 1:3] = 0  # a hole touching the outside at the corner (1, 1)
    merged = dissolve_coverage(tile_pieces(mask, 3), (np.array([3]), np.array([3])))
    assert merged.geom_type == "Polygon" and merged.is_valid and len(merged.interiors) == 1
    assert shapely.Polygon(merged.interiors[0]).area == 4


def test_parts_touching_at_a_corner_across_tiles_stay_two_polygons():
    mask = np.zeros((4, 4), np.uint8)
    mask[:2, :2] = 1
    mask[2:, 2:] = 1  # the two squares meet at the tile corner (2, 2) only
    merged = dissolve_coverage(tile_pieces(mask, 2), (np.array([2]), np.array([2])))
    assert merged.geom_type == "MultiPolygon" and merged.is_valid and len(merged.geoms) == 2


def test_not_a_coverage_is_refused():
    overlap = [shapely.box(0, 0, 10, 10), shapely.box(5, 0, 15, 10)]
    assert dissolve_coverage(overlap) is None
    assert dissolve_coverage([shapely.box(0, 0, 1.5, 1), shapely.box(2, 0, 3, 1)]) is None
    assert dissolve_coverage([shapely.Polygon([(0, 0), (2, 0), (0, 2)])]) is None  # diagonal


def test_a_hole_touching_the_outline_at_two_corners_cuts_the_object_in_two():
    """The ring of pixels around the hole is only diagonally connected at two corners: GEOS
    wants two polygons (touching at those corners), not one with a hole."""
    mask = np.zeros((7, 7), np.uint8)
    mask[1:6, 1:6] = 1
    mask[2:5, 2:5] = 0  # the hole
    mask[1, 1] = mask[5, 5] = 0  # opened at two opposite corners: touches the outside there
    (obj,) = class_map_objects(mask)
    assert obj.geometry.is_valid and obj.geometry.geom_type == "MultiPolygon"
    assert len(obj.geometry.geoms) == 2
    np.testing.assert_array_equal(rasterize([(1, obj.geometry)], np.zeros(mask.shape, np.uint8)), mask)
    merged = dissolve_coverage(tile_pieces(mask, 4), (np.array([4]), np.array([4])))
    assert merged.is_valid and shapely.equals(merged, obj.geometry)
