"""Measuring an export folder's tiles; writing the table, the summary and QuPath features."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import shapely
from fibre_helpers import AXON, MYELIN, TABLE, draw_fibre, make_export, same_tables

from napari_axons.core.common import ClassTable, ExportError
from napari_axons.core.export import ManifestError
from napari_axons.core.fibres import (
    COLUMNS,
    FibreInputError,
    fibre_features,
    measure_class_map,
    measure_export,
    open_export_map,
    write_csv,
    write_summary_json,
)
from napari_axons.core.image.sample import make_myelinated_sample


@pytest.fixture(scope="module")
def sample():
    _, truth = make_myelinated_sample((300, 420), seed=2)
    cmap = np.zeros(truth.shape, np.uint8)
    cmap[truth == 2], cmap[truth == 1] = AXON, MYELIN
    return cmap


def test_an_export_s_tiles_give_the_table_of_the_uncut_class_map(tmp_path, sample):
    folder = make_export(tmp_path, sample, tile_size=128, overlap=16, pixel_size=0.05)
    got = measure_export(folder, block=100)
    ref = measure_class_map(sample, TABLE, pixel_size_um=0.05)
    assert same_tables(ref, got) == []
    assert got.pixel_size_um == pytest.approx(0.05)
    # the pixel size given instead of the manifest's
    other = measure_export(folder, pixel_size_um=0.1)
    assert other.row(0)["axon_diam"] == pytest.approx(2 * got.row(0)["axon_diam"])


def test_a_downsampled_export_reports_slide_pixels_and_its_own_pixel_size(tmp_path):
    cmap = np.zeros((100, 150), np.uint8)
    draw_fibre(cmap, 40, 60, 10, 18)
    folder = make_export(tmp_path, cmap, tile_size=64, downsample=2, pixel_size=0.1)
    t = measure_export(folder)
    row = t.row(0)
    assert t.pixel_size_um == pytest.approx(0.2)  # a working pixel is two slide pixels
    assert (row["x"], row["y"]) == (pytest.approx(60 * 2 + 0.5), pytest.approx(40 * 2 + 0.5))
    assert row["axon_diam"] == pytest.approx(2 * math.sqrt((cmap == AXON).sum() / math.pi) * 0.2)
    assert (row["bbox_min_y"], row["bbox_max_y"]) == (22 * 2, 59 * 2)


def test_exports_that_cannot_be_measured_say_why_in_one_line(tmp_path):
    cmap = np.zeros((64, 64), np.uint8)
    draw_fibre(cmap, 30, 30, 8, 14)
    no_size = make_export(tmp_path, cmap, tile_size=32, pixel_size=None, name="nosize")
    with pytest.raises(FibreInputError, match=r"records no pixel size.*--pixel-size") as err:
        measure_export(no_size)
    assert "\n" not in str(err.value)
    assert len(measure_export(no_size, pixel_size_um=0.2)) == 1
    one = make_export(tmp_path, (cmap == AXON).astype(np.uint8), tile_size=32,
                      classes=ClassTable.from_names(["axon"]), name="axons")
    with pytest.raises(FibreInputError, match=r"no class named 'myelin' \(its classes: axon\)"):
        measure_export(one)
    with pytest.raises(ManifestError, match="no such export folder"):
        measure_export(tmp_path / "nowhere")
    with pytest.raises(FibreInputError, match="no image 'x' in this export"):
        measure_export(one, image="x")


def test_the_csv_has_axondeepseg_s_names_and_one_row_per_fibre(tmp_path):
    cmap = np.zeros((60, 160), np.uint8)
    draw_fibre(cmap, 30, 30, 8, 14)
    draw_fibre(cmap, 30, 80, 8, 8)     # no myelin
    draw_fibre(cmap, 30, 130, 0, 12)   # no axon
    t = measure_class_map(cmap, TABLE, pixel_size_um=0.1)
    path = write_csv(t, tmp_path / "fibres.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["flags"] for r in rows] == ["", "no_myelin", "no_axon"]
    assert [r["fibre_id"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["gratio"] == "" and rows[2]["axon_diam"] == ""
    assert float(rows[0]["gratio"]) == pytest.approx(t.row(0)["gratio"], rel=1e-9)
    assert rows[0]["touches_border"] == "False"
    write_csv(t, tmp_path / "units.csv", units=True)
    header = (tmp_path / "units.csv").read_text().splitlines()[0].split(",")
    assert "axon_diam (um)" in header and "axon_area (um^2)" in header and "gratio" in header


def test_the_summary_counts_density_and_aggregate_g_ratio(tmp_path):
    cmap = np.zeros((100, 100), np.uint8)
    draw_fibre(cmap, 30, 30, 10, 18)
    draw_fibre(cmap, 70, 70, 6, 12)
    t = measure_class_map(cmap, TABLE, pixel_size_um=0.2)
    doc = json.loads(write_summary_json(t, tmp_path / "s.json").read_text())
    s = doc["summary"]
    assert s["area_mm2"] == pytest.approx(100 * 100 * 0.04 / 1e6)
    assert s["fibres"] == 2 and s["density_per_mm2"] == pytest.approx(2 / s["area_mm2"])
    assert s["axon_area_fraction"] == pytest.approx((cmap == AXON).sum() / 1e4)
    assert s["myelin_area_fraction"] == pytest.approx((cmap == MYELIN).sum() / 1e4)
    assert s["aggregate_gratio"] == pytest.approx(
        math.sqrt((cmap == AXON).sum() / (cmap > 0).sum()))
    assert sum(s["axon_diam_histogram"]["counts"]) == 2
    assert doc["pixel_size_um"] == 0.2 and doc["split"] == "sheath"


def test_a_write_that_fails_leaves_nothing(tmp_path):
    t = measure_class_map(np.zeros((8, 8), np.uint8), TABLE, pixel_size_um=0.1)
    with pytest.raises(ExportError, match="cannot write"):
        write_csv(t, tmp_path / "missing" / "f.csv")
    assert not (tmp_path / "missing").exists()
    assert list(tmp_path.iterdir()) == []


def test_fibre_features_are_qupath_detections_with_measurements(tmp_path, sample):
    folder = make_export(tmp_path, sample, tile_size=128, downsample=1, pixel_size=0.05)
    cmap, classes, frame, warnings = open_export_map(folder)
    with cmap:
        table = measure_class_map(cmap, classes, pixel_size_um=frame.pixel_size_um,
                                  scale=frame.scale)
        feats = list(fibre_features(cmap, classes, table, block=150))
    assert sorted(f.fibre_id for f in feats) == list(range(1, len(table) + 1))
    fibres = {f.fibre_id: f for f in feats}
    for i in range(len(table)):
        row, f = table.row(i), fibres[table.row(i)["fibre_id"]]
        assert f.geometry.is_valid
        px = f.geometry.area * 0.05 ** 2   # pixel-edge outline: its area is its pixels'
        area = row["axonmyelin_area"] if row["flags"] != "no_axon" else row["myelin_area"]
        assert px == pytest.approx(area)
    doc = feats[0].to_geojson()
    assert doc["properties"]["objectType"] == "detection"
    assert doc["properties"]["classification"]["name"] in ("Fibre", "Myelin without axon")
    m = doc["properties"]["measurements"]
    assert "axon_diam (um)" in m and all(math.isfinite(v) for v in m.values())
    assert shapely.geometry.shape(doc["geometry"]).equals(
        shapely.remove_repeated_points(feats[0].geometry))
    json.dumps(doc, allow_nan=False)


def test_progress_counts_tiles_then_blocks(tmp_path):
    cmap = np.zeros((100, 140), np.uint8)
    draw_fibre(cmap, 50, 70, 10, 18)
    folder = make_export(tmp_path, cmap, tile_size=64, pixel_size=0.1)
    seen = []
    t = measure_export(folder, block=64, progress=lambda done, total: seen.append((done, total)))
    assert len(t) == 1
    totals = {total for _, total in seen}
    assert totals == {6 + 6}  # 6 tiles of 64 (3 x 2, shifted edges), then 6 blocks of 64
    assert [d for d, _ in seen] == list(range(1, 13))
