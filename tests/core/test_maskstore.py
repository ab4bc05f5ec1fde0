"""ZarrMaskReader: a tile's box from a Zarr mask store, by path (picklable)."""

from __future__ import annotations

import pickle

import numpy as np
import zarr

from napari_axons.core.grid import TileBox, TileGrid
from napari_axons.core.maskstore import ZarrMaskReader, read_padded


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
    inside = np.where(read_padded(data, box.y, box.x, box.y1, box.x1) > 0, 255, 0)
    expected[:] = inside
    np.testing.assert_array_equal(got, expected)
    assert got.sum() == 255 * (100 + 25)
    # a box partly outside on every side, and the array folder itself as the path
    direct = ZarrMaskReader(tmp_path / "m.zarr" / "0")
    out = direct(None, TileBox(0, 90, 110, 20, 20))
    assert out[5:10, 5:10].tolist() == [[255] * 5] * 5 and out[10:].sum() == 0
    assert out[:, 10:].sum() == 0
    assert not direct(None, TileBox(0, 500, 500, 16, 16)).any()
