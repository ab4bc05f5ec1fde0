import numpy as np
import pytest
from bench.seed_reference import seed_boxes, tile_image
from PIL import Image

from napari_axons.core.geometry import TileGrid, axis_positions

SIZES = [(512, 512), (513, 512), (1000, 700), (300, 200), (2048, 2048), (10001, 7003),
         (300, 1000), (1000, 300), (1536, 1024)]


def boxes_of(grid):
    return [(t.x, t.y, t.x1, t.y1) for t in grid]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_grid_equals_the_seed_order_and_boxes(width, height):
    grid = TileGrid.from_shape(height, width, tile_size=512)
    assert boxes_of(grid) == seed_boxes(width, height, 512)
    assert [t.index for t in grid] == list(range(len(grid)))
    assert [t.name("img") for t in grid][:2] == ["img_tile_0000", "img_tile_0001"][: len(grid)]


def test_seed_boxes_helper_matches_the_seed_generator(tmp_path):
    """Guard the guard: our box list is what the seed's own generator crops."""
    for width, height in [(1000, 700), (300, 200), (513, 512)]:
        path = tmp_path / f"{width}x{height}.png"
        Image.new("RGB", (width, height)).save(path)
        seen = []
        list(tile_image(path, tile_size=(512, 512), boxes=seen))
        assert seen == seed_boxes(width, height)


def test_index_widens_past_9999():
    grid = TileGrid.from_shape(512 * 101, 512 * 100, tile_size=512)
    assert len(grid) == 10100
    assert grid[10099].name("s") == "s_tile_10099"
    assert grid[42].name("s") == "s_tile_0042"


def test_known_grid_for_1000x700():
    grid = TileGrid.from_shape(700, 1000)
    assert [(t.y, t.x) for t in grid] == [(0, 0), (0, 488), (188, 0), (188, 488)]


def test_overlap_keeps_the_order_and_the_edge_rule():
    grid = TileGrid.from_shape(700, 1000, tile_size=512, overlap=112)
    assert grid.stride == 400
    # main grid: x in (0, 400) would overflow at 400+512=912 <= 1000 -> x = 0, 400; y = 0
    assert [(t.y, t.x) for t in grid] == [(0, 0), (0, 400), (0, 488), (188, 0), (188, 400), (188, 488)]


@pytest.mark.parametrize(("height", "width", "tile", "overlap"),
                         [(700, 1000, 512, 0), (997, 1203, 256, 64), (300, 200, 512, 0),
                          (64, 5000, 128, 127), (1, 1, 16, 0)])
def test_grid_covers_every_pixel_with_full_size_tiles(height, width, tile, overlap):
    grid = TileGrid.from_shape(height, width, tile_size=tile, overlap=overlap)
    covered = np.zeros((height, width), bool)
    for t in grid:
        assert (t.height, t.width) == (tile, tile)
        assert t.y1 <= max(height, tile) and t.x1 <= max(width, tile)
        covered[max(t.y, 0):t.y1, max(t.x, 0):t.x1] = True
    assert covered.all()
    assert len({(t.y, t.x) for t in grid}) == len(grid)


def test_tiny_image_is_padded_like_the_seed():
    grid = TileGrid.from_shape(200, 300)
    (only,) = grid.tiles
    assert (only.y, only.x) == (-312, -212)
    assert only.padding == (312, 212)
    assert grid.padded
    ys, xs = only.valid_slices(200, 300)
    assert (ys, xs) == (slice(312, 512), slice(212, 512))


def test_bad_arguments():
    with pytest.raises(ValueError, match="overlap"):
        TileGrid.from_shape(100, 100, tile_size=64, overlap=64)
    with pytest.raises(ValueError, match="at least 1 x 1"):
        TileGrid.from_shape(0, 100)
    assert axis_positions(1024, 512, 512) == ([0, 512], None)
