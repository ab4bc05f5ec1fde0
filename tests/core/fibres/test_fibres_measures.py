"""Fibre instances and their measures on fibres drawn exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fibre_helpers import AXON, MYELIN, TABLE, draw_fibre, touching_pair
from skimage.measure import label, regionprops

from napari_axons.core.fibres import FibreInputError, measure_class_map, summarize
from napari_axons.core.fibres.shape import convex_area, region_moments, region_perimeters
from napari_axons.core.image.sample import make_myelinated_sample

PX = 0.1  # um per pixel


def test_ring_fibres_are_measured_within_a_pixel():
    rings = [(6, 10), (12, 20), (20, 28), (30, 45)]
    cmap = np.zeros((120, 400), np.uint8)
    centres = []
    x = 0
    for r, big in rings:
        x += big + 4
        centres.append((60.0, float(x)))
        draw_fibre(cmap, 60, x, r, big)
        x += big
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX)
    assert len(t) == len(rings)
    c = t.columns
    order = np.argsort(c["x"])
    for k, ((r, big), (cy, cx)) in enumerate(zip(rings, centres, strict=True)):
        i = order[k]
        assert c["x"][i] == pytest.approx(cx, abs=1e-9) and c["y"][i] == pytest.approx(cy, abs=1e-9)
        assert abs(c["axon_diam"][i] - 2 * r * PX) <= PX
        assert abs(c["myelin_thickness"][i] - (big - r) * PX) <= PX
        assert abs(c["gratio"][i] - r / big) <= 1 / big
        assert c["axon_area"][i] == pytest.approx(np.pi * r * r * PX * PX, rel=0.05)
        assert c["axonmyelin_area"][i] == pytest.approx(np.pi * big * big * PX * PX, rel=0.05)
        assert c["eccentricity"][i] < 0.1 and c["solidity"][i] > 0.9
        assert c["flags"][i] == "" and not c["touches_border"][i]


def test_an_axon_without_myelin_is_kept_and_flagged():
    cmap = np.zeros((60, 60), np.uint8)
    draw_fibre(cmap, 30, 30, 8, 8)  # axon only
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX)
    assert len(t) == 1 and t.n_fibres == 1
    row = t.row(0)
    assert row["flags"] == "no_myelin"
    assert math.isnan(row["gratio"]) and row["myelin_area"] == 0 and row["myelin_thickness"] == 0
    assert row["axon_area"] == pytest.approx((cmap == AXON).sum() * PX * PX)
    s = summarize(t)
    assert (s["fibres"], s["myelinated"], s["no_myelin"]) == (1, 0, 1)


def test_myelin_without_an_axon_is_kept_and_flagged():
    cmap = np.zeros((80, 160), np.uint8)
    draw_fibre(cmap, 40, 40, 10, 20)    # a fibre
    draw_fibre(cmap, 40, 120, 0, 18)    # a myelin disc with no axon, apart
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX)
    assert len(t) == 2 and t.n_fibres == 1
    orphan = t.row(1)
    assert orphan["flags"] == "no_axon" and orphan["fibre_id"] == 2
    assert orphan["myelin_area"] == pytest.approx((cmap[:, 80:] == MYELIN).sum() * PX * PX)
    assert math.isnan(orphan["axon_diam"]) and math.isnan(orphan["gratio"])
    assert orphan["x"] == pytest.approx(120) and orphan["y"] == pytest.approx(40)
    s = summarize(t)
    assert (s["fibres"], s["orphan_myelin_pieces"]) == (1, 1)


def test_myelin_across_a_background_gap_is_not_taken():
    """A thick-sheathed fibre next to a myelin disc behind a 1-pixel gap: the disc stays apart."""
    cmap = np.zeros((80, 160), np.uint8)
    draw_fibre(cmap, 40, 40, 10, 25)
    cmap[:, 66] = 0
    cmap[15:65, 67:90] = MYELIN
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX)
    assert [r["flags"] for r in t.rows()] == ["", "no_axon"]
    assert t.row(1)["myelin_area"] == pytest.approx(50 * 23 * PX * PX)


def test_two_touching_fibres_become_two():
    cmap, truth = touching_pair((14, 20), (14, 20), overlap=2)
    assert label(cmap > 0, connectivity=2).max() == 1  # one blob of myelin
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX)
    assert len(t) == 2 and t.n_fibres == 2
    assert np.sum(t.columns["axonmyelin_area"]) == pytest.approx((cmap > 0).sum() * PX * PX)
    np.testing.assert_allclose(t.columns["gratio"], truth, atol=0.005)


@pytest.mark.parametrize(("a", "b"), [((15, 24), (12, 15)), ((10, 22), (10, 13))])
def test_the_sheath_split_keeps_each_g_ratio_where_the_nearest_axon_split_creeps(a, b):
    """Touching sheaths of different thickness: the split where the sheaths meet gives
    each fibre its own g-ratio; half way between the axons gives the thin-sheathed one
    part of the thick sheath (AxonDeepSeg's "boundary creep")."""
    cmap, truth = touching_pair(a, b, overlap=1)
    sheath = measure_class_map(cmap, TABLE, pixel_size_um=PX).columns["gratio"]
    nearest = measure_class_map(cmap, TABLE, pixel_size_um=PX, split="nearest").columns["gratio"]
    err_sheath = np.abs(sheath - truth)
    err_nearest = np.abs(nearest - truth)
    assert err_sheath.max() <= 0.005
    assert err_nearest[1] >= 0.025 and nearest[1] < truth[1]  # the thin one took myelin


def test_region_measures_only_inside_and_flags_fibres_on_its_edge():
    cmap = np.zeros((100, 200), np.uint8)
    for cx in (30, 100, 170):
        draw_fibre(cmap, 50, cx, 8, 14)
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX, region=(0, 60, 100, 150))
    assert len(t) == 1 and not t.row(0)["touches_border"]
    t = measure_class_map(cmap, TABLE, pixel_size_um=PX, region=(0, 60, 100, 105))
    assert len(t) == 1 and t.row(0)["touches_border"]
    assert t.row(0)["bbox_max_x"] == 105
    s = summarize(t)
    assert s["area_mm2"] == pytest.approx(100 * 45 * PX * PX / 1e6)


def test_missing_classes_and_bad_numbers_are_one_line():
    from napari_axons.core.common import ClassTable

    cmap = np.zeros((10, 10), np.uint8)
    with pytest.raises(FibreInputError, match=r"no class named 'myelin' \(its classes: axon\)"):
        measure_class_map(cmap, ClassTable.from_names(["axon"]), pixel_size_um=PX, name="x.png")
    for bad in (0, -1, float("nan"), "1"):
        with pytest.raises(FibreInputError, match="pixel size must be a positive number"):
            measure_class_map(cmap, TABLE, pixel_size_um=bad)
    with pytest.raises(FibreInputError, match="split must be one of"):
        measure_class_map(cmap, TABLE, pixel_size_um=PX, split="watershed")
    with pytest.raises(FibreInputError, match="holds no pixel"):
        measure_class_map(cmap, TABLE, pixel_size_um=PX, region=(20, 20, 30, 30))


def test_shape_measures_are_scikit_image_s():
    _, cmap = make_myelinated_sample((256, 256), seed=4)
    for img in (label(cmap == 2, connectivity=2), label(cmap > 0, connectivity=2)):
        n = int(img.max())
        props = regionprops(img)
        ref = np.zeros((n + 1, 2), np.int64)
        for p in props:
            ref[p.label] = p.coords[0]
        mo, per = region_moments(img, n, ref), region_perimeters(img, n)
        for p in props:
            k = p.label
            assert mo["area"][k] == p.area
            assert ref[k, 0] + mo["dy"][k] == pytest.approx(p.centroid[0], abs=1e-9)
            assert ref[k, 1] + mo["dx"][k] == pytest.approx(p.centroid[1], abs=1e-9)
            assert mo["eccentricity"][k] == pytest.approx(p.eccentricity, abs=1e-9)
            if p.area > 1:
                assert mo["orientation"][k] == pytest.approx(p.orientation, abs=1e-9)
            assert per[k] == pytest.approx(p.perimeter, abs=1e-9)
            assert convex_area(p.image) == p.area_convex
