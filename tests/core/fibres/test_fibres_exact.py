"""A fibre cut by tiles or blocks is measured once, whole, exactly as in the uncut slide."""

from __future__ import annotations

import numpy as np
import pytest
from fibre_helpers import AXON, MYELIN, TABLE, draw_fibre, same_tables, touching_pair

from napari_axons.core.fibres import (
    ArrayTiles,
    SlideFrame,
    composite,
    measure_class_map,
    measure_tiles,
)
from napari_axons.core.fibres.engine import iter_blocks
from napari_axons.core.geometry import TileGrid
from napari_axons.core.image.sample import make_myelinated_sample

PX = 0.1


def whole(cmap, **kw):
    return measure_class_map(cmap, TABLE, pixel_size_um=PX, block=1 << 14, **kw)


def tiled(cmap, *, tile, overlap=0, block=64, halo=8, **kw):
    return measure_tiles(ArrayTiles(cmap, TABLE, tile_size=tile, overlap=overlap),
                         SlideFrame(PX), block=block, halo=halo, **kw)


def test_a_fibre_cut_by_a_tile_border_gives_the_uncut_row():
    cmap = np.zeros((128, 256), np.uint8)
    draw_fibre(cmap, 60, 128, 12, 22)  # across the border at x = 128
    ref = whole(cmap)
    assert len(ref) == 1 and ref.row(0)["flags"] == ""
    for tile, block in ((128, 128), (128, 40), (64, 64)):
        assert same_tables(ref, tiled(cmap, tile=tile, block=block)) == []


def test_a_fibre_on_the_corner_of_four_tiles_gives_the_uncut_row():
    cmap = np.zeros((256, 256), np.uint8)
    draw_fibre(cmap, 128, 128, 14, 24)  # tiles (0,0) (0,128) (128,0) (128,128) meet here
    cmap[100:106, 150:160] = AXON      # a second axon in its sheath's reach, to split with
    ref = whole(cmap)
    assert len(ref) == 2
    for tile, block, halo in ((128, 128, 8), (128, 100, 4), (64, 50, 2)):
        assert same_tables(ref, tiled(cmap, tile=tile, block=block, halo=halo)) == []


def test_a_fibre_under_the_shifted_edge_tiles_gives_the_uncut_row():
    """A 200 x 200 slide on 64-pixel tiles: the right column and bottom row of tiles are
    shifted in to x, y = 136, overlapping the main grid's last tiles."""
    grid = TileGrid.from_shape(200, 200, tile_size=64)
    assert {t.x for t in grid} == {0, 64, 128, 136}
    cmap = np.zeros((200, 200), np.uint8)
    draw_fibre(cmap, 170, 172, 10, 20)   # inside the shifted corner tile and its neighbours
    draw_fibre(cmap, 60, 185, 8, 16)     # cut by the right edge of the slide
    ref = whole(cmap)
    assert len(ref) == 2
    assert [bool(v) for v in ref.columns["touches_border"]] == [True, False]
    for overlap, block in ((0, 64), (16, 64), (0, 37)):
        assert same_tables(ref, tiled(cmap, tile=64, overlap=overlap, block=block)) == []


@pytest.mark.parametrize("split", ["sheath", "nearest"])
def test_a_whole_sample_gives_the_same_table_on_any_tiling(split):
    _, truth = make_myelinated_sample((320, 352), seed=11)
    cmap = np.zeros(truth.shape, np.uint8)  # sample: 1 myelin, 2 axon -> TABLE's 1 axon, 2 myelin
    cmap[truth == 2], cmap[truth == 1] = AXON, MYELIN
    ref = whole(cmap, split=split, max_sheath_um=3.0)
    assert len(ref) > 60
    for tile, overlap, block, halo in ((128, 0, 128, None), (96, 16, 80, 12), (64, 0, 57, 3)):
        got = tiled(cmap, tile=tile, overlap=overlap, block=block, halo=halo, split=split,
                    max_sheath_um=3.0)
        assert same_tables(ref, got) == [], (tile, overlap, block, halo)


def test_blocks_widen_their_window_only_where_needed():
    """Touching fibres of a dense sample and small blocks: some blocks need a wider window,
    each fibre is reported once (by the block that holds its axon's first pixel)."""
    cmap, _ = touching_pair((15, 24), (12, 15))
    cmap = np.tile(cmap, (2, 2))
    results = list(iter_blocks(cmap, axon=AXON, myelin=MYELIN, reach=30, block=45, halo=4))
    anchors = np.concatenate([np.stack([r.rows["anchor_y"], r.rows["anchor_x"]], 1)
                              for r in results])
    assert len(anchors) == 8 and len({tuple(a) for a in anchors.tolist()}) == 8
    assert max(r.windows for r in results) > 1
    for r in results:
        y0, x0, y1, x1 = r.box
        assert np.all((r.rows["anchor_y"] >= y0) & (r.rows["anchor_y"] < y1))
        assert np.all((r.rows["anchor_x"] >= x0) & (r.rows["anchor_x"] < x1))


class _Overlapping:
    """Three tiles over a 40 x 60 slide; the later tiles overlap and disagree with the first."""

    shape = (40, 60)
    classes = TABLE
    boxes = [(0, 0, 40, 40), (0, 20, 40, 40), (-10, -10, 20, 20)]

    def class_maps(self):
        yield 0, np.full((40, 40), AXON, np.uint8)
        yield 1, np.full((40, 40), MYELIN, np.uint8)
        yield 2, None  # a tile without masks leaves what is there


def test_the_later_tile_wins_where_tiles_overlap():
    with composite(_Overlapping(), chunk=16) as cmap:
        got = cmap[0:40, 0:60]
    expected = np.zeros((40, 60), np.uint8)
    expected[:, :20] = AXON
    expected[:, 20:] = MYELIN
    np.testing.assert_array_equal(got, expected)


def test_tiles_hanging_over_the_top_left_edge_are_clipped():
    cmap = np.zeros((50, 70), np.uint8)
    draw_fibre(cmap, 25, 30, 8, 15)
    src = ArrayTiles(cmap, TABLE, tile_size=128)  # one tile, larger than the slide
    assert src.boxes == [(-78, -58, 128, 128)]
    with composite(src) as got:
        np.testing.assert_array_equal(got[0:50, 0:70], cmap)


def test_distances_are_scipy_s_whatever_the_window():
    """The distance transform behind the split gives the same float32 values in any window
    (OpenCV's own values move by an ulp with the array's size; they are snapped back)."""
    from scipy import ndimage as ndi

    from napari_axons.core.fibres.split import _edt

    rng = np.random.default_rng(5)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(20, 160, 2))
        mask = np.ones((h, w), bool)
        yy, xx = np.ogrid[:h, :w]
        for _ in range(int(rng.integers(1, 5))):
            y, x, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, 12)
            mask &= (yy - y) ** 2 + (xx - x) ** 2 > r * r
        if mask.all():
            continue
        ref = ndi.distance_transform_edt(mask).astype(np.float32)
        np.testing.assert_array_equal(_edt(mask), ref)
        t, b, left, right = (int(v) for v in rng.integers(0, 30, 4))
        big = np.pad(mask, ((t, b), (left, right)), constant_values=True)
        np.testing.assert_array_equal(_edt(big)[t:t + h, left:left + w], ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orphan_myelin_and_crowded_fibres_give_the_same_table_on_any_blocks(seed):
    """Random overlapping fibres, myelin blobs without axons and sheaths thicker than the
    reach (so orphan pieces form, split and grow with the window): tiny blocks and halos
    give the uncut table."""
    rng = np.random.default_rng(seed)
    cmap = np.zeros((180, 230), np.uint8)
    for _ in range(45):
        cy, cx = rng.uniform(0, 180), rng.uniform(0, 230)
        big = rng.uniform(4, 22)
        draw_fibre(cmap, cy, cx, rng.uniform(0.3, 0.8) * big if rng.random() < 0.7 else 0, big)
    kw = {"max_sheath_um": 0.6}  # 6 pixels: thick sheaths leave orphan rims
    ref = whole(cmap, **kw)
    assert np.count_nonzero(~ref.is_fibre) > 5 and ref.n_fibres > 15
    for block, halo in ((64, 4), (37, 2), (100, 30)):
        got = measure_class_map(cmap, TABLE, pixel_size_um=PX, block=block, halo=halo, **kw)
        assert same_tables(ref, got) == [], (block, halo)
