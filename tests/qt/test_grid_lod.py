"""The tile grid by level of detail (issue 14.2): every line at every zoom, numbers only when legible."""

from __future__ import annotations

import numpy as np
import pytest

from napari_axons._qt._grid_layer import (
    LINE_PX,
    MAX_LABELS,
    MIN_LABEL_PX,
    Placement,
    edge_polylines,
    grid_index,
    grid_polylines,
    label_points,
    pick_tile,
)
from napari_axons.core.geometry import TileGrid

pytestmark = pytest.mark.gui


def _overlays(viewer, grid):
    from napari_axons._qt._overlays import Overlays

    overlays = Overlays(viewer, on_click=lambda *a: None, on_paint=lambda *a: None)
    overlays.placement = Placement((1.0, 1.0), (0.0, 0.0), (1.0, 1.0))
    assert overlays.draw_grid(grid) is True
    return overlays, overlays.grid_lod


def _look_at(viewer, lod, qtbot, *, tile_px, center):
    camera = viewer.scene.camera
    before = lod.updates
    camera.zoom = tile_px / lod.grid.tile_size
    camera.center = center
    qtbot.waitUntil(lambda: lod.updates > before, timeout=10_000)  # throttled, on the Qt loop
    qtbot.wait(2 * lod.interval_ms)  # and nothing pending
    return lod


@pytest.mark.parametrize("n", [40, 121])  # 1600 and 14641 tiles
def test_whole_slide_draws_every_line_and_no_numbers(make_napari_viewer, qtbot, n):
    viewer = make_napari_viewer()
    grid = TileGrid.from_shape(n * 512, n * 512, tile_size=512)
    assert len(grid) == n * n
    _, lod = _overlays(viewer, grid)
    lines = viewer.layers["axons tile grid"]
    viewer.fit_to_view()
    qtbot.waitUntil(lambda: lod.updates >= 2, timeout=10_000)
    # two paths whatever the tile count, through every row and column edge
    assert lines.nshapes == 2
    horizontal, vertical = (np.asarray(p) for p in lines.data)
    edges = np.arange(n + 1) * 512 - 0.5
    np.testing.assert_array_equal(np.unique(horizontal[:, 0]), edges)
    np.testing.assert_array_equal(np.unique(vertical[:, 1]), edges)
    assert len(horizontal) == len(vertical) == 2 * (n + 1)
    # lines keep LINE_PX screen pixels: never thinner than a pixel, so none drops out
    assert lines.edge_width[0] * viewer.scene.camera.zoom == pytest.approx(LINE_PX, rel=0.25)
    # a tile is a few screen pixels: no numbers
    assert lod.tile_px() < MIN_LABEL_PX
    assert lod.labels_shown == 0 and len(viewer.layers["axons tile index"].data) == 0


@pytest.mark.parametrize("n", [40, 121])
def test_numbers_only_for_legible_tiles_in_view(make_napari_viewer, qtbot, n):
    viewer = make_napari_viewer()
    viewer.canvas.size = (600, 800)
    grid = TileGrid.from_shape(n * 512, n * 512, tile_size=512)
    _, lod = _overlays(viewer, grid)
    numbers = viewer.layers["axons tile index"]
    lines = viewer.layers["axons tile grid"]
    middle = grid_index(grid).tiles_in(n * 256, n * 256, n * 256 + 1, n * 256 + 1)[0]

    # 100 px tiles around the middle: the tiles on the canvas (about 8 x 6), nothing else
    _look_at(viewer, lod, qtbot, tile_px=100, center=(middle.y + 256, middle.x + 256))
    shown = [int(s) for s in numbers.features["index"]]
    y0, x0, y1, x1 = lod.view_rect()
    expected = sorted(t.index for t in grid if t.y < y1 and t.y1 > y0 and t.x < x1 and t.x1 > x0)
    assert sorted(shown) == expected and middle.index in shown
    assert 6 * 8 <= len(shown) <= 8 * 10 and len(numbers.data) == len(shown)
    assert lines.edge_width[0] * viewer.scene.camera.zoom == pytest.approx(LINE_PX, rel=0.25)

    # just below the legible size: none
    _look_at(viewer, lod, qtbot, tile_px=MIN_LABEL_PX - 8, center=(middle.y, middle.x))
    assert lod.labels_shown == 0 and len(numbers.data) == 0

    # one tile fills the canvas: its number and its neighbours' only
    _look_at(viewer, lod, qtbot, tile_px=700, center=(middle.y + 256, middle.x + 256))
    assert middle.index in [int(s) for s in numbers.features["index"]]
    assert 1 <= lod.labels_shown <= 9


def test_label_count_is_flat_in_the_tile_count(make_napari_viewer, qtbot):
    counts = []
    for n in (40, 121, 200):
        viewer = make_napari_viewer()
        viewer.canvas.size = (600, 800)
        grid = TileGrid.from_shape(n * 512, n * 512, tile_size=512)
        _, lod = _overlays(viewer, grid)
        _look_at(viewer, lod, qtbot, tile_px=MIN_LABEL_PX + 2, center=(20 * 512, 20 * 512))
        counts.append(lod.labels_shown)
        assert viewer.layers["axons tile grid"].nshapes == 2
    assert counts[0] == counts[1] == counts[2] <= MAX_LABELS and counts[0] > 50


def test_screenshot_shows_every_column_of_a_14641_tile_grid(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    grid = TileGrid.from_shape(121 * 512, 121 * 512, tile_size=512)
    _, lod = _overlays(viewer, grid)
    viewer.fit_to_view()
    qtbot.waitUntil(lambda: lod.updates >= 2, timeout=10_000)
    qtbot.wait(200)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    h, w = shot.shape[:2]
    rgb = shot[..., :3].astype(int)
    cyan = (rgb[..., 1] > 90) & (rgb[..., 2] > 90) & (rgb[..., 0] < 90)
    assert 0.2 < cyan.mean() < 0.7  # a dense grid, neither a few lines nor a blot
    # along a row (a column) between two edges: one run of line pixels per column (row) edge
    band = slice(h // 2 - 10, h // 2 + 10)
    row = cyan[band][np.argmin(cyan[band].sum(axis=1))]
    column = cyan[:, band][:, np.argmin(cyan[:, band].sum(axis=0))]
    for line in (row, column):
        runs = int(np.count_nonzero(line[1:] & ~line[:-1]) + line[0])
        assert runs == 122, runs


def test_pick_tile_by_arithmetic_matches_a_scan():
    grid = TileGrid.from_shape(3000, 2100, tile_size=512, overlap=100)
    rng = np.random.default_rng(0)
    for y, x in rng.integers(0, [3000, 2100], (300, 2)):
        hits = grid.tiles_at(y, x)
        expected = min(hits, key=lambda t: ((t.y + t.y1) / 2 - y) ** 2 + ((t.x + t.x1) / 2 - x) ** 2)
        assert pick_tile(grid, int(y), int(x)) == expected
    assert pick_tile(grid, 3000, 5) is None and pick_tile(grid, -1, 5) is None


def test_polylines_cover_the_shifted_edge_tiles():
    """4 tiles look like 4 cells: the shifted edge tiles' inner edges are drawn apart, faint."""
    grid = TileGrid.from_shape(700, 1000, tile_size=512)  # edges y: 0, 188, 512, 700
    horizontal, vertical = grid_polylines(grid)
    assert sorted(set(horizontal[:, 0] + 0.5)) == [0, 512, 700]
    assert sorted(set(vertical[:, 1] + 0.5)) == [0, 512, 1000]
    faint_h, faint_v = edge_polylines(grid)
    assert sorted(set(faint_h[:, 0] + 0.5)) == [188] and sorted(set(faint_v[:, 1] + 0.5)) == [488]
    assert faint_h[:, 1].min() == -0.5 and faint_h[:, 1].max() == 999.5  # across the image
    pts, texts = label_points(list(grid.tiles), grid)  # each number in the cell its tile shows in
    assert dict(zip(texts, map(tuple, pts + 0.5), strict=True)) == {
        "0": (0, 0), "1": (0, 512), "2": (512, 0), "3": (512, 512)}
    assert edge_polylines(TileGrid.from_shape(1024, 1024, tile_size=512)) == []
