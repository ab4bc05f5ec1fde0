"""The widget's mask store and overlap rule (no display needed)."""

from __future__ import annotations

import numpy as np

from napari_axons._qt._grid_layer import Placement, grid_lines, merge_rectangles, pick_tile
from napari_axons._qt._mask_store import MaskStore, protected_pixels
from napari_axons.core.grid import TileGrid


def test_store_round_trip_and_pyramid(tmp_path):
    store = MaskStore(1000, 700, chunk=256, root=tmp_path, min_side=200)
    assert [lv.shape for lv in store.levels] == [(1000, 700), (500, 350), (250, 175), (125, 88)]
    stroke = np.zeros((40, 40), np.uint8)
    stroke[10, 3] = 1  # one pixel at (990, 693): max pooling keeps it at every level
    stroke[30, 3] = 1  # (1010, 693): outside the store, dropped
    store.write(980, 690, stroke)  # hangs over the bottom border
    assert store.read(980, 690, 1020, 730).sum() == 1
    assert store.read(990, 690, 991, 694).tolist() == [[0, 0, 0, 1]]
    for k, level in enumerate(store.levels):
        assert level[990 >> k, 693 >> k] == 1
        assert np.asarray(level).sum() == 1
    store.write(980, 690, np.zeros((40, 40), np.uint8), keep=np.ones((40, 40), bool))
    assert store.read(990, 693, 991, 694)[0, 0] == 1  # every pixel kept
    store.write(980, 690, np.zeros((40, 40), np.uint8))
    assert all(not np.asarray(level).any() for level in store.levels)  # pyramid follows
    store.close()
    assert not store.path.exists()


def test_overlap_rule_protects_later_and_edited_tiles():
    grid = TileGrid.from_shape(700, 1000, tile_size=512)  # 0:(0,0) 1:(0,488) 2:(188,0) 3:(188,488)
    assert protected_pixels(grid, grid[0], {}) is None
    keep = protected_pixels(grid, grid[0], {1: "segmented", 2: "not segmented"})
    assert keep[:, 488:].all() and not keep[:, :488].any()
    assert protected_pixels(grid, grid[1], {0: "segmented"}) is None  # earlier tiles lose
    keep = protected_pixels(grid, grid[1], {0: "edited"})  # ... unless edited by hand
    assert keep[:, :24].all() and not keep[:, 24:].any()
    assert protected_pixels(grid, grid[1], {0: "edited"}, exclude=[0]) is None


def test_placement_and_picking():
    p = Placement((1.0, 1.0), (0.0, 0.0), (3.0, 3.0))
    assert p.world_to_working((-0.49, -0.49)) == (0, 0)  # image pixel 0 -> working pixel 0
    assert p.world_to_working((2.49, 2.49)) == (0, 0)
    assert p.world_to_working((2.51, 2.51)) == (1, 1)
    grid = TileGrid.from_shape(700, 1000, tile_size=512)
    assert pick_tile(grid, 450, 505).index == 3  # in all four tiles: the nearest centre
    assert len(grid_lines(grid)) == 4 + 4  # edges y: 0, 188, 512, 700; x: 0, 488, 512, 1000


def test_merged_rectangles_cover_exactly_the_tiles():
    grid = TileGrid.from_shape(2048, 2048, tile_size=512)  # 4 x 4 tiles
    chosen = [0, 1, 2, 5, 7, 15]
    rects = merge_rectangles(grid[i] for i in chosen)
    assert len(rects) == 4  # row 0: tiles 0-2 merged; row 1: 5 and 7 apart; row 3: 15
    covered = np.zeros((2048, 2048), int)
    for r in rects:
        (y0, x0), (y1, x1) = r.min(axis=0) + 0.5, r.max(axis=0) + 0.5
        covered[int(y0) : int(y1), int(x0) : int(x1)] += 1
    expected = np.zeros_like(covered)
    for i in chosen:
        b = grid[i]
        expected[b.y : b.y1, b.x : b.x1] = 1
    np.testing.assert_array_equal(covered, expected)  # every chosen pixel once, nothing else
    assert merge_rectangles([]) == []


def test_snapshot_is_frozen_and_holds_the_chunks_under_the_boxes(tmp_path):
    from napari_axons.core.maskstore import ZarrMaskReader

    store = MaskStore(600, 700, chunk=256, root=tmp_path)
    store.write(0, 0, np.ones((600, 700), np.uint8))
    grid = TileGrid.from_shape(600, 700, tile_size=256)
    snap = store.snapshot(tmp_path / "snap", [grid[0]])  # one chunk
    assert sorted(p.relative_to(snap / "c").as_posix() for p in (snap / "c").rglob("*")
                  if p.is_file()) == ["0/0"]
    store.write(0, 0, np.zeros((10, 10), np.uint8))  # an edit after the snapshot
    reader = ZarrMaskReader(snap)
    assert reader(None, grid[0]).min() == 255  # frozen: the edit is not there
    assert store.read(0, 0, 10, 10).max() == 0
    full = store.snapshot(tmp_path / "all")
    assert len([p for p in (full / "c").rglob("*") if p.is_file()]) == 9
    store.close()


def _max_pyramid(level0, n):
    levels = [level0]
    for _ in range(n - 1):
        lv = levels[-1]
        ph, pw = -(-lv.shape[0] // 2) * 2, -(-lv.shape[1] // 2) * 2
        lv = np.pad(lv, ((0, ph - lv.shape[0]), (0, pw - lv.shape[1])))
        levels.append(lv.reshape(ph // 2, 2, pw // 2, 2).max(axis=(1, 3)))
    return levels


def test_pyramid_exact_after_immediate_and_deferred_writes(tmp_path):
    for deferred in (False, True):
        store = MaskStore(1000, 1300, chunk=128, root=tmp_path, min_side=100)
        rng = np.random.default_rng(0)
        truth = np.zeros((1000, 1300), np.uint8)
        for i in range(40):  # boxes of any size, some over the edges, unaligned
            y, x = int(rng.integers(-50, 1000)), int(rng.integers(-50, 1300))
            h, w = (int(v) for v in rng.integers(1, 300, 2))
            data = (rng.random((h, w)) > 0.7).astype(np.uint8)
            store.write(y, x, data, pyramid=not deferred)
            if deferred and i % 7 == 0:
                store.update_pyramid(max_pixels=50_000)  # groups split by size, too
            ys, xs = slice(max(y, 0), min(y + h, 1000)), slice(max(x, 0), min(x + w, 1300))
            if ys.stop > ys.start and xs.stop > xs.start:
                truth[ys, xs] = data[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x]
        store.update_pyramid(max_pixels=50_000)
        assert len(store.levels) == 5
        for k, (level, expected) in enumerate(zip(store.levels, _max_pyramid(truth, 5),
                                                  strict=True)):
            np.testing.assert_array_equal(level[:], expected, err_msg=f"level {k}")
        store.close()
