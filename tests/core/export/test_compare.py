"""Scoring one export against another: label files beside tiles, classes by name, tables."""

from __future__ import annotations

import numpy as np
import pytest
from tests.train_data import labelled_export

from napari_axons.core.export import ScoreInputError, compare, list_exported_tiles


@pytest.fixture
def exports(tmp_path):
    img = np.zeros((100, 200, 3), np.uint8)
    truth = np.zeros((100, 200), np.uint8)
    truth[10:20, 10:20] = 1      # axon in tile 0
    truth[30:40, 130:140] = 2    # myelin in tile 1 only: the table is built from both files
    pred = np.zeros((100, 200), np.uint8)
    pred[10:20, 10:15] = 2       # half the axon (names: background, myelin, axon)
    pred[30:40, 130:140] = 1
    t, p = tmp_path / "t" / "e", tmp_path / "p" / "e"
    labelled_export(t, img, truth, ("background", "axon", "myelin"), tile_size=100)
    labelled_export(p, img, pred, ("background", "myelin", "axon"), tile_size=100)
    return p, t


def test_label_files_beside_tiles_count_only_when_asked(exports):
    _, t = exports  # the manifest lists tiles only; the label files were added beside them
    assert [len(e.tiles) for e in list_exported_tiles(t)] == [0]
    (img,) = list_exported_tiles(t, beside=True)
    assert [x.labels.name for x in img.tiles] == ["img_tile_0000__labels.json",
                                                  "img_tile_0001__labels.json"]


def test_tables_from_label_files_and_classes_by_name(exports):
    p, t = exports
    c = compare(p, t)
    assert c.scores.names == ("background", "axon", "myelin")
    assert c.tiles == ["img_tile_0000", "img_tile_0001"]
    fig = c.to_json()
    assert fig["overall"]["axon"]["iou"] == pytest.approx(0.5)
    assert fig["overall"]["myelin"]["iou"] == 1.0
    # tile 0 has no myelin on either side: undefined, not 0
    assert fig["tiles"][0]["classes"]["myelin"]["iou"] is None
    assert (c.notes, c.warnings) == ([], [])


def test_a_predicted_class_the_truth_lacks(exports, tmp_path):
    p, _ = exports
    img = np.zeros((100, 200, 3), np.uint8)
    only_axon = np.zeros((100, 200), np.uint8)
    only_axon[10:20, 10:20] = 1
    t2 = tmp_path / "t2" / "e"
    labelled_export(t2, img, only_axon, ("background", "axon"), tile_size=100)
    with pytest.raises(ScoreInputError, match="class 'myelin' is not in the truth's classes"):
        compare(p, t2)
    # the other way round: myelin is scored as never predicted
    c = compare(t2, p)
    assert c.notes == [f"{t2} has no class 'myelin': scored as never predicted"]
    assert c.scores.iou()["myelin"] == 0.0


def test_the_padding_of_a_tile_over_the_border_is_not_scored(tmp_path):
    img = np.zeros((60, 150, 3), np.uint8)  # lower than a tile: 40 rows of padding in each
    truth = np.zeros((60, 150), np.uint8)
    truth[10:20, 10:20] = 1
    pred = truth.copy()
    pred[:, 100:] = 1  # the right half of tile 1 (x 50-149) called axon
    t, p = tmp_path / "t" / "e", tmp_path / "p" / "e"
    labelled_export(t, img, truth, ("background", "axon"), tile_size=100)
    labelled_export(p, img, pred, ("background", "axon"), tile_size=100)
    boxes = [(e.y, e.x, e.height, e.width) for e in list_exported_tiles(t, beside=True)[0].tiles]
    assert boxes == [(-40, 0, 100, 100), (-40, 50, 100, 100)]  # 40 rows of padding above
    fig = compare(p, t).to_json()
    second = fig["tiles"][1]["classes"]
    # over the 60 x 100 image pixels only (the 4000 padding pixels would make it 0.7)
    assert second["background"]["iou"] == pytest.approx(3000 / 6000)
    assert second["axon"]["iou"] == 0.0  # predicted 3000 px, none true
    assert fig["overall"]["background"]["iou"] == pytest.approx((5900 + 3000) / (5900 + 6000))
