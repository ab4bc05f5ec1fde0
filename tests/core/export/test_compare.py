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
