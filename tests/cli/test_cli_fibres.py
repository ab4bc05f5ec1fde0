"""``napari-axons morphometrics`` and ``export-geojson --fibres``: what a lab runs on an export."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "fibres"))
from fibre_helpers import draw_fibre, make_export  # noqa: E402

from napari_axons.cli import main  # noqa: E402
from napari_axons.core.common import ClassTable  # noqa: E402

PX = 0.1  # um


@pytest.fixture
def fibres_export(tmp_path):
    """Three fibres of known size (one cut by a tile border), one axon without myelin."""
    truth = np.zeros((300, 400), np.uint8)
    for cy, cx, ra, rf in ((60, 60, 10, 16), (150, 128, 14, 20), (220, 300, 8, 15)):
        draw_fibre(truth, cy, cx, ra, rf)
    yy, xx = np.mgrid[:300, :400]
    truth[(yy - 250) ** 2 + (xx - 60) ** 2 <= 64] = 1  # an axon alone
    return make_export(tmp_path, truth, tile_size=128, pixel_size=PX), tmp_path


def test_morphometrics_writes_one_row_per_fibre_in_micrometres(fibres_export, capsys):
    out, tmp = fibres_export
    assert main(["morphometrics", str(out), "-o", str(tmp / "f.csv"), "--json",
                 str(tmp / "s.json"), "--progress-interval", "60"]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("4 fibres (3 myelinated, 1 without myelin, 0 myelin pieces without an axon)")
    with open(tmp / "f.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert {"fibre_id", "x", "y", "axon_diam", "myelin_thickness", "gratio", "touches_border"} <= set(rows[0])
    cut = min(rows, key=lambda r: (float(r["y"]) - 150) ** 2 + (float(r["x"]) - 128) ** 2)
    area = np.pi * 14 ** 2  # pixels, drawn exactly: the diameter within a pixel's worth
    assert float(cut["axon_diam"]) == pytest.approx(2 * np.sqrt(area / np.pi) * PX, abs=PX)
    assert float(cut["gratio"]) == pytest.approx(14 / 20, abs=0.03)
    alone = [r for r in rows if "no_myelin" in r["flags"]]
    assert len(alone) == 1 and alone[0]["gratio"] == ""
    summary = json.loads((tmp / "s.json").read_text())
    assert summary["summary"]["fibres"] == 4 and summary["summary"]["myelinated"] == 3


def test_morphometrics_refuses_an_export_without_axon_and_myelin(tmp_path, capsys):
    out = make_export(tmp_path, np.ones((128, 128), np.uint8), classes=ClassTable.from_names(["axon"]))
    assert main(["morphometrics", str(out), "-o", str(tmp_path / "f.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("napari-axons: error: ") and "myelin" in err[0]
    assert not (tmp_path / "f.csv").exists()


def test_export_geojson_fibres_are_qupath_detections_with_measurements(fibres_export, capsys):
    out, tmp = fibres_export
    assert main(["export-geojson", str(out), "-o", str(tmp / "f.geojson"), "--fibres",
                 "--progress-interval", "60"]) == 0
    doc = json.loads((tmp / "f.geojson").read_text())
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 4
    for f in doc["features"]:
        props = f["properties"]
        assert props["objectType"] == "detection"
        assert shapely.geometry.shape(f["geometry"]).is_valid
        assert isinstance(props["measurements"], dict) and props["measurements"]
    myelinated = [f for f in doc["features"]
                  if any(k.startswith("gratio") for k in f["properties"]["measurements"])]
    assert len(myelinated) == 3
    assert "4 fibres written to" in capsys.readouterr().out
