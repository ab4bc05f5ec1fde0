"""Scores against hand-made truths: pixel IoU/Dice, object matching, overall = summed counts."""

from __future__ import annotations

import numpy as np
import pytest

from napari_axons.core.labels.scores import confusion, match_objects, pixel_figures, score_maps

NAMES = ("background", "myelin", "axon")


def _pair():
    """A 6 x 6 truth and prediction with counts worked out by hand (see the test)."""
    truth = np.zeros((6, 6), np.uint8)
    truth[0:2, 0:2] = 1          # myelin, 4 px
    truth[4:6, 4:6] = 2          # axon, 4 px
    pred = np.zeros((6, 6), np.uint8)
    pred[0:2, 0:3] = 1           # myelin, 6 px: 4 right, 2 too many
    pred[4:6, 5] = 2             # axon, 2 px: half of the true axon
    return pred, truth


def test_pixel_iou_and_dice_by_hand():
    pred, truth = _pair()
    conf = confusion(pred, truth, 3)
    assert conf.tolist() == [[26, 2, 0], [0, 4, 0], [2, 0, 2]]
    iou, dice = pixel_figures(conf)
    assert iou == pytest.approx([26 / 30, 4 / 6, 2 / 4])
    assert dice == pytest.approx([52 / 56, 8 / 10, 4 / 6])
    s = score_maps([pred], [truth], NAMES)
    fig = s.to_json()["overall"]
    assert fig["myelin"]["iou"] == pytest.approx(4 / 6)
    assert fig["axon"]["dice"] == pytest.approx(4 / 6)
    # one object each side, IoU 4/6 and exactly 0.5: both match (>= 0.5)
    assert fig["myelin"]["objects"] == {"matched": 1, "predicted": 1, "true": 1}
    assert fig["axon"]["f1"] == 1.0
    assert "objects" not in fig["background"]


def test_absent_class_is_none_not_zero_or_one():
    truth = np.zeros((4, 4), np.uint8)
    s = score_maps([truth.copy()], [truth], NAMES)
    fig = s.to_json()["overall"]
    assert fig["axon"] == {"iou": None, "dice": None, "precision": None, "recall": None,
                           "f1": None, "objects": {"matched": 0, "predicted": 0, "true": 0}}
    assert fig["background"]["iou"] == 1.0
    assert s.mean_foreground_iou() == 0.0


def test_objects_one_to_one_and_below_threshold():
    true = np.zeros((4, 6), bool)
    true[:, 0:3] = True          # A: 12 px
    true[:, 4] = True            # B: 4 px (a background column between: another object)
    pred = np.zeros((4, 6), bool)
    pred[:, 0:5] = True          # one object over both: IoU 12/20 with A, 4/20 with B
    c = match_objects(pred, true)
    assert (c.matched, c.predicted, c.true) == (1, 1, 2)
    assert (c.precision, c.recall, c.f1) == (1.0, 0.5, pytest.approx(2 / 3))
    # a prediction shifted so that IoU < 0.5: no match at all
    shifted = np.zeros((4, 6), bool)
    shifted[:, 2:5] = True       # 12 px; meets A in 4 px: IoU 4/20
    only_a = np.zeros((4, 6), bool)
    only_a[:, 0:3] = True
    c = match_objects(shifted, only_a)
    assert (c.matched, c.predicted, c.true) == (0, 1, 1)


def test_diagonal_pixels_are_one_object():
    m = np.eye(5, dtype=bool)    # 8-connected: one object, as the exported polygons
    c = match_objects(m, m)
    assert (c.matched, c.predicted, c.true) == (1, 1, 1)


def test_overall_sums_counts_not_means():
    # tile 1: 2 x 2, axon everywhere, predicted right; tile 2: 10 x 10, axon predicted on half
    t1 = np.full((2, 2), 2, np.uint8)
    t2 = np.full((10, 10), 2, np.uint8)
    p2 = t2.copy()
    p2[:, 5:] = 0
    s = score_maps([t1.copy(), p2], [t1, t2], NAMES)
    per_tile = [t.figures(NAMES)["axon"]["iou"] for t in s.tiles]
    assert per_tile == [1.0, 0.5]
    assert s.iou()["axon"] == pytest.approx((4 + 50) / (4 + 100))   # not (1 + 0.5) / 2
    obj = s.to_json()["overall"]["axon"]["objects"]
    assert obj == {"matched": 2, "predicted": 2, "true": 2}  # tile 2's IoU is 0.5: a match


def test_bad_input():
    with pytest.raises(ValueError, match=r"prediction \(2, 2\) and truth \(3, 3\) differ"):
        confusion(np.zeros((2, 2)), np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match="truth holds class 3, outside 0..2"):
        confusion(np.zeros((2, 2), int), np.full((2, 2), 3), 3)
    with pytest.raises(ValueError, match="2 predicted maps but 1 true ones"):
        score_maps([np.zeros((2, 2))] * 2, [np.zeros((2, 2))], NAMES)


def test_ignored_truth_pixels():
    truth = np.array([[2, 2], [255, 0]])
    pred = np.array([[2, 0], [2, 0]])
    conf = confusion(pred, truth, 3, ignore=255)
    assert conf.sum() == 3 and conf[2, 2] == 1 and conf[2, 0] == 1


def test_score_pairs_reads_one_pair_at_a_time():
    """The generator form gives score_maps' figures, tile by tile and overall."""
    pred, truth = _pair()
    seen = []

    def pairs():
        for p, t in ((pred, truth), (truth, truth)):
            seen.append(len(seen))
            yield p, t

    from napari_axons.core.labels.scores import score_pairs

    s = score_pairs(pairs(), NAMES)
    ref = score_maps([pred, truth], [truth, truth], NAMES)
    assert seen == [0, 1]
    assert s.to_json() == ref.to_json()
    assert s.overall.confusion.tolist() == ref.overall.confusion.tolist()
