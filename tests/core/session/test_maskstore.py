"""The mask store (class maps, display pyramid, snapshots, save) and ZarrMaskReader (picklable)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import zarr

from napari_axons.core.geometry import TileBox, TileGrid
from napari_axons.core.session.maskstore import MaskStore, ZarrMaskReader, read_padded


def test_reader_reads_boxes_zero_padded(tmp_path):
    group = zarr.open_group(str(tmp_path / "m.zarr"), mode="w")
    level = group.create_array("0", shape=(100, 120), chunks=(64, 64), dtype="uint8",
                               fill_value=0)
    data = np.zeros((100, 120), np.uint8)
    data[10:20, 30:40] = 1
    data[95:, 115:] = 7
    level[...] = data
    reader = ZarrMaskReader(tmp_path / "m.zarr")  # the group: level "0"
    clone = pickle.loads(pickle.dumps(reader))
    assert clone == reader and clone._array is None
    # an image smaller than the tile: the seed grid's one tile hangs over the border
    grid = TileGrid.from_shape(100, 120, tile_size=128)
    box = grid[0]
    got = clone(None, box)
    assert got.shape == (128, 128) and got.dtype == np.uint8
    expected = np.zeros((128, 128), np.uint8)
    expected[:] = read_padded(data, box.y, box.x, box.y1, box.x1)
    np.testing.assert_array_equal(got, expected)  # the class map as stored
    assert got.sum() == 100 + 7 * 25
    # a box partly outside on every side, and the array folder itself as the path
    direct = ZarrMaskReader(tmp_path / "m.zarr" / "0")
    out = direct(None, TileBox(0, 90, 110, 20, 20))
    assert out[5:10, 5:10].tolist() == [[7] * 5] * 5 and out[10:].sum() == 0
    assert out[:, 10:].sum() == 0
    assert not direct(None, TileBox(0, 500, 500, 16, 16)).any()


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


def test_snapshot_is_frozen_and_holds_the_chunks_under_the_boxes(tmp_path):
    store = MaskStore(600, 700, chunk=256, root=tmp_path)
    store.write(0, 0, np.ones((600, 700), np.uint8))
    grid = TileGrid.from_shape(600, 700, tile_size=256)
    snap = store.snapshot(tmp_path / "snap", [grid[0]])  # one chunk
    assert sorted(p.relative_to(snap / "c").as_posix() for p in (snap / "c").rglob("*")
                  if p.is_file()) == ["0/0"]
    store.write(0, 0, np.zeros((10, 10), np.uint8))  # an edit after the snapshot
    reader = ZarrMaskReader(snap)
    assert reader(None, grid[0]).min() == 1  # frozen: the edit is not there
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


def test_saved_store_reopens_with_every_level(tmp_path):
    store = MaskStore(300, 200, chunk=64, root=tmp_path, min_side=64)
    store.write(10, 20, np.full((5, 5), 2, np.uint8), pyramid=False)
    saved = store.save(tmp_path / "saved")
    again = MaskStore(300, 200, root=tmp_path, copy_from=saved)
    assert len(again.levels) == len(store.levels) == 4
    for a, b in zip(again.levels, store.levels, strict=True):
        np.testing.assert_array_equal(a[:], b[:])
    assert again.levels[-1][:].max() == 2  # the deferred pyramid was brought up to date
    again.write(0, 0, np.ones((1, 1), np.uint8))
    assert store.read(0, 0, 1, 1)[0, 0] == 0  # a copy: the saved store is not changed
    with pytest.raises(ValueError, match="a mask store of shape"):
        MaskStore(100, 100, root=tmp_path, copy_from=saved)
