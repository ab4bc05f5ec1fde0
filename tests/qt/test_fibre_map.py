"""The fibres layer's data: the instance map of a measured area, in memory or on disk with levels."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "fibres"))
from fibre_helpers import TABLE, draw_fibre  # noqa: E402

from napari_axons._qt import _fibre_map  # noqa: E402
from napari_axons._qt._fibre_work import DONE, PROGRESS, measure_fibres  # noqa: E402


def crowded(shape=(260, 330)):
    cmap = np.zeros(shape, np.uint8)
    for k, (cy, cx) in enumerate([(40, 40), (40, 120), (40, 200), (120, 60), (130, 150),
                                  (140, 250), (220, 40), (215, 130), (220, 290)]):
        draw_fibre(cmap, cy, cx, 10 + k % 4, 22 + k % 3)
    return cmap


def run(cmap, box, **kw):
    items = list(measure_fibres(cmap, TABLE, box=box, scale=(1.0, 1.0), pixel_size_um=0.1, **kw))
    assert all(kind == PROGRESS for kind, *_ in items[:-1]) and items[-1][0] == DONE
    done, total = items[-2][1:]
    assert done == total  # the bar ends full
    return items[-1][1]


def test_a_large_area_is_on_disk_with_subsampled_levels_and_the_same_fibres(tmp_path, monkeypatch):
    cmap = crowded()
    small = run(cmap, (0, 0, 260, 330))
    assert not small.fmap.multiscale and small.fmap.folder is None
    ref = small.fmap.levels[0]
    assert ((ref > 0) == (cmap > 0)).all()  # every axon and myelin pixel, nothing else
    assert set(np.unique(ref)) == {0, *small.table.columns["fibre_id"].tolist()}
    monkeypatch.setattr(_fibre_map, "IN_MEMORY_PIXELS", 1000)
    monkeypatch.setattr(_fibre_map, "OVERVIEW_SIDE", 64)
    monkeypatch.setattr(_fibre_map, "BATCH_PIXELS", 3000)  # a fibre or two per batch
    big = run(cmap, (0, 0, 260, 330), root=tmp_path)
    levels = big.fmap.levels
    assert big.fmap.multiscale and len(levels) == 4 and big.fmap.folder.parent == tmp_path
    np.testing.assert_array_equal(np.asarray(levels[0]), ref)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(np.asarray(levels[k]), ref[::2 ** k, ::2 ** k])
    # removing a fibre clears it on every level, and nothing else
    fid = big.fmap.value_at(130, 150)
    assert fid and fid == small.fmap.value_at(130, 150)
    box = big.working_box(fid)
    y0, x0, mask = big.fmap.pixels(fid, box)
    assert mask.sum() == (ref == fid).sum()
    big.fmap.remove(fid, box)
    want = np.where(ref == fid, 0, ref)
    for k in range(4):
        np.testing.assert_array_equal(np.asarray(levels[k]), want[::2 ** k, ::2 ** k])
    folder = big.fmap.folder
    big.close()
    assert not folder.exists()


def test_a_region_s_map_starts_at_its_corner(tmp_path):
    cmap = crowded()
    r = run(cmap, (100, 50, 200, 300))
    assert r.fmap.box == (100, 50, 200, 300) and r.fmap.levels[0].shape == (100, 250)
    fid = r.fmap.value_at(130, 150)
    assert fid and r.fmap.value_at(0, 0) == 0
    assert r.table.columns["touches_border"][r.index_of(fid)] == np.False_
    inside = cmap[100:200, 50:300] > 0
    assert ((r.fmap.levels[0] > 0) == inside).all()


@pytest.mark.parametrize("scale", [(2.0, 2.0), (3.0, 3.0)])
def test_a_downsampled_map_in_working_pixels(scale):
    cmap = crowded()
    r = list(measure_fibres(cmap, TABLE, box=(0, 0, 260, 330), scale=scale,
                            pixel_size_um=0.2))[-1][1]
    assert ((r.fmap.levels[0] > 0) == (cmap > 0)).all()
    fid = r.fmap.value_at(40, 120)
    assert r.working_box(fid) == (40 - 23, 120 - 23, 40 + 24, 120 + 24)


def test_each_fibre_s_checksum_follows_its_pixels_in_memory_and_on_disk(tmp_path, monkeypatch):
    cmap = crowded()
    small = run(cmap, (0, 0, 260, 330))
    monkeypatch.setattr(_fibre_map, "IN_MEMORY_PIXELS", 1000)
    monkeypatch.setattr(_fibre_map, "BATCH_PIXELS", 3000)  # a fibre or two per batch
    big = run(cmap, (0, 0, 260, 330), root=tmp_path)
    ids = small.table.columns["fibre_id"].tolist()
    assert set(small.fmap.signatures) == set(ids) == set(big.fmap.signatures)
    assert small.fmap.signatures == big.fmap.signatures  # batches do not change them
    assert len(set(small.fmap.signatures.values())) == len(ids)
    for r in (small, big):
        for fid in ids:  # the masks as measured: the same checksum
            y0, x0, mask = r.fmap.pixels(fid, r.working_box(fid))
            crop = cmap[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]]
            assert r.fmap.signature(y0, x0, mask, crop) == r.fmap.signatures[fid]
    fid = small.fmap.value_at(40, 120)
    y0, x0, mask = small.fmap.pixels(fid, small.working_box(fid))
    crop = cmap[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]].copy()
    axon, myelin = np.flatnonzero(crop[mask] == 1), np.flatnonzero(crop[mask] == 2)
    swapped = crop[mask]  # as many axon pixels become myelin as myelin pixels become axon
    swapped[axon[:3]], swapped[myelin[:3]] = 2, 1
    crop[mask] = swapped
    assert small.fmap.signature(y0, x0, mask, crop) != small.fmap.signatures[fid]
