"""Exporting into the image's own export: incremental, in place, never losing a tile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.common import DEFAULT_TABLE, ClassTable
from napari_axons.core.export.folder import ADD, REPLACE
from napari_axons.core.session import REFRESH, Session, SessionError


class Constant:
    name, batch_size, classes = "constant", 1, DEFAULT_TABLE

    def __init__(self, value, classes=DEFAULT_TABLE):
        self.value, self.classes = value, classes

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        return np.full(tiles.shape[:3], self.value, np.uint8)

    def info(self):
        return {"name": self.name}


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "slide.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.integers(0, 255, (512, 768, 3), dtype=np.uint8), photometric="rgb")
    return path


def files(out, index):
    stem = f"slide_tile_{index:04d}"
    return [out / f"{stem}.png", out / "masks" / f"{stem}_mask.png", out / f"{stem}__labels.json"]


def snapshot(out, indices):
    return {i: [p.read_bytes() for p in files(out, i)] for i in indices}


def test_changed_tiles_written_again_others_kept(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256)
    s.segment(range(6), Constant(1))
    out = tmp_path / "out"
    s.export(out, range(6))
    before = snapshot(out, range(6))
    s.paint(300, 300, np.zeros((6, 6), np.uint8))  # tile 4 corrected
    s.segment([5], Constant(0))  # tile 5 segmented again, now empty
    assert s.folder_check(out).kind == ADD
    s.export(out, [0])  # only tile 0 asked for: the export is brought up to date
    assert (s.last_export.written, s.last_export.kept) == (2, 4)
    after = snapshot(out, range(6))
    assert all(after[i] == before[i] for i in (0, 1, 2, 3))  # byte for byte
    mask4 = np.asarray(Image.open(files(out, 4)[1]))
    assert not mask4[44:50, 44:50].any() and mask4[:44].all()  # the correction, at tile (256, 256)
    assert not np.asarray(Image.open(files(out, 5)[1])).any()
    labels4 = json.loads(files(out, 4)[2].read_text())["labels"]
    assert {lab["source"] for lab in labels4} == {"manual"}
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["status"] == "complete" and [t["index"] for t in doc["images"][0]["tiles"]] == list(range(6))
    assert not list(out.glob(".napari-axons-journal*"))
    assert set(s.status.values()) == {"exported"}
    s.close()


def test_a_tile_without_masks_here_is_never_overwritten(image, tmp_path):
    """A new session over the image: the export's tiles it never loaded keep their masks."""
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256)
    s.segment(range(6), Constant(1))
    out = tmp_path / "out"
    s.export(out, range(6))
    s.close()
    before = snapshot(out, range(6))
    t = Session(image, cache_dir=tmp_path / "c2", tile_size=256)
    t.segment([2], Constant(0))
    t.export(out, range(6))  # "all": tiles 0, 1, 3-5 hold nothing here
    assert (t.last_export.written, t.last_export.kept) == (1, 5)
    after = snapshot(out, range(6))
    assert all(after[i] == before[i] for i in (0, 1, 3, 4, 5))
    assert not np.asarray(Image.open(files(out, 2)[1])).any()
    # Replace on its own export: every tile with masks here is written again, none deleted
    t.segment([3], Constant(0))
    job, check = t.export_job(out, [3], replace=True)
    job.close()
    assert check.kind == ADD
    t.export(out, [3], replace=True)
    assert (t.last_export.written, t.last_export.kept) == (2, 4)
    assert all(p.exists() for i in range(6) for p in files(out, i))
    assert snapshot(out, [0, 1, 4, 5]) == {i: before[i] for i in (0, 1, 4, 5)}
    t.close()


def test_grown_classes_rewrite_the_export_in_place(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256)
    s.segment(range(6), Constant(1))
    out = tmp_path / "out"
    s.export(out, range(6))
    s.segment([0], Constant(1, ClassTable.from_names(["myelin"])))  # a second class
    check = s.folder_check(out)
    assert check.kind == REFRESH and "written with the classes axon" in check.reason
    s.export(out, [0])
    assert (s.last_export.written, s.last_export.kept) == (6, 0)
    doc = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in doc["classes"]] == ["background", "axon", "myelin"]
    assert np.asarray(Image.open(files(out, 0)[1])).max() == 2  # a palette mask of class indices
    assert np.asarray(Image.open(files(out, 1)[1])).max() == 1
    s.close()
    # a session lacking some of the export's masks cannot write it again whole: it says why
    t = Session(image, cache_dir=tmp_path / "c2", tile_size=256)
    t.segment([0], Constant(1))
    with pytest.raises(SessionError, match=r"tile\(s\) 1, 2, 3, 4, 5 hold no masks here; load "):
        t.export(out, [0])
    t.close()


def test_pixel_size_set_on_the_session_reaches_the_manifest(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256, downsample=2)
    assert s.pixel_size is None
    s.set_pixel_size(0.25)
    assert s.pixel_size.x == 0.25 and s.pixel_size.origin == "set in the panel"
    assert s.working_pixel_size.x == 0.5
    s.segment([0], Constant(1))
    out = tmp_path / "out"
    s.export(out, [0])
    doc = json.loads((out / "manifest.json").read_text())
    image_doc = doc["images"][0]
    assert image_doc["source"]["pixel_size"] == {"x_um": 0.25, "y_um": 0.25,
                                                 "origin": "set in the panel"}
    assert image_doc["working"]["pixel_size"]["x_um"] == 0.5
    s.set_pixel_size(0.3)
    check = s.folder_check(out)
    assert check.kind == REFRESH and "pixel size 0.25 um (set in the panel)" in check.reason
    s.export(out, [0])
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["images"][0]["source"]["pixel_size"]["x_um"] == 0.3
    s.set_grid(128, downsample=2)
    assert s.folder_check(out).kind == REPLACE  # another grid: replaced only when told
    s.close()
