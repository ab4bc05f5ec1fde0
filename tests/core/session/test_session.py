"""The headless session: hand edits survive every grid change, export, reload; never overwritten silently."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.common import DEFAULT_TABLE
from napari_axons.core.labels.render import labels_to_mask
from napari_axons.core.session import (
    EditsInTheWay,
    ExportWouldReplace,
    Session,
    SessionError,
    protected_by_later,
)
from napari_axons.core.session.edits import EditRecord


class Constant:
    """A segmenter whose class map is one value everywhere."""

    name = "constant"
    batch_size = 1
    classes = DEFAULT_TABLE

    def __init__(self, value):
        self.value = value

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        return np.full(tiles.shape[:3], self.value, np.uint8)

    def info(self):
        return {"name": self.name}


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, rng.integers(0, 255, (600, 900, 3), dtype=np.uint8), photometric="rgb")
    return path


def stroke_at(session):
    """The stroke's pixels in the current store (working pixels)."""
    f = session.working.factor
    return session.store.read(300 // f, 300 // f, 310 // f, 314 // f)


def test_edits_survive_grid_changes_export_and_reload(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "cache", tile_size=256)
    s.segment(range(len(s.grid)), Constant(0))
    assert set(s.status.values()) == {"segmented"}
    touched = s.paint(300, 300, np.ones((10, 14), np.uint8))
    assert touched == [4] and s.status[4] == "edited"  # row 1, column 1 of 256-px tiles

    # another tile size and overlap: the stroke's tiles are edited in the new grid too
    s.set_grid(128, overlap=16)
    under = s.edited_tiles()
    assert under and all(s.status[i] == "edited" for i in under)
    with pytest.raises(EditsInTheWay, match="hand edits") as refused:
        s.segment(under, Constant(1))
    assert refused.value.tiles == under
    assert str(under[0]) in str(refused.value)
    assert stroke_at(s).all()
    others = [i for i in range(len(s.grid)) if i not in under][:3]
    assert s.segment(others, Constant(1)) == others  # tiles without edits: no question

    # downsample 3: the stroke is carried into that factor's store
    s.set_grid(256, downsample=3)
    assert s.edited_tiles() == [0, 1]  # both tiles of this grid hold the stroke
    edited, values = s.edits.project(0, 0, 200, 300, s.working_shape)
    assert edited[100:104, 100:105].all() and edited.sum() == 20
    assert values[edited].tolist() == [1] * 20
    assert stroke_at(s).all()
    with pytest.raises(EditsInTheWay):
        s.segment([0], Constant(0))
    s.segment([0, 1], Constant(0), keep_edits=True)  # around the edits
    assert stroke_at(s).all() and s.status == {0: "edited", 1: "edited"}
    assert s.store.read(0, 0, 50, 50).sum() == 0

    # back at full resolution: export, the stroke is in the mask PNG and the labels
    s.set_grid(256)
    assert s.status[4] == "edited"
    out = tmp_path / "export"
    manifest = s.export(out, [4])
    assert manifest["status"] == "complete" and s.status[4] == "exported"
    mask = np.asarray(Image.open(out / "masks" / "slide_tile_0004_mask.png"))
    box = s.grid[4]
    local = (slice(300 - box.y, 310 - box.y), slice(300 - box.x, 314 - box.x))
    assert (mask[local] == 255).all() and mask.sum() == 255 * 140
    doc = json.loads((out / "slide_tile_0004__labels.json").read_text())
    rendered, _ = labels_to_mask(doc, mask.shape)
    np.testing.assert_array_equal(rendered, mask)
    # exported does not make the edit overwritable
    with pytest.raises(EditsInTheWay):
        s.segment([4], Constant(0))

    # re-segment around it, save, reload: the stroke and the question are back
    s.segment([4], Constant(0), keep_edits=True)
    before = s.store.read(0, 0, 600, 900)
    s.save(tmp_path / "saved")
    s.close()
    r = Session.load(tmp_path / "saved", cache_dir=tmp_path / "cache2")
    assert r.grid_key == (256, 0, 1) and r.status[4] == "edited"
    assert stroke_at(r).all()
    np.testing.assert_array_equal(r.store.read(0, 0, 600, 900), before)
    with pytest.raises(EditsInTheWay):
        r.segment([4], Constant(0))
    r.set_grid(256, downsample=3)
    assert stroke_at(r).all()  # the factor-3 store was saved too
    r.set_grid(256)
    r.segment([4], Constant(0), overwrite_edits=True)  # the explicit flag
    assert r.edits.empty and r.status[4] == "segmented" and not stroke_at(r).any()
    r.close()


def test_export_adds_tiles_or_asks_to_replace(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "cache", tile_size=256)
    plan = s.plan  # the open image and grid, for the export (nothing re-opened)
    assert plan.source is s.source and plan.grid is s.grid and plan.base == "slide"
    assert plan.fingerprint == s.source_hash and len(s.source_hash) > 8
    s.segment([0, 1], Constant(1))
    out = tmp_path / "out"
    s.export(out, [0])
    first = (out / "slide_tile_0000.png").read_bytes(), (out / "masks/slide_tile_0000_mask.png").read_bytes()
    s.paint(0, 0, np.zeros((5, 5), np.uint8))  # tile 0 changes after its export
    manifest = s.export(out, [1])  # same image and grid: added, and tile 0 written again
    assert [t["index"] for t in manifest["images"][0]["tiles"]] == [0, 1]
    assert (s.last_export.written, s.last_export.kept) == (2, 0)
    assert (out / "slide_tile_0000.png").read_bytes() == first[0]  # the same tile image
    mask = np.asarray(Image.open(out / "masks/slide_tile_0000_mask.png"))
    assert not mask[:5, :5].any() and mask[5:, 5:].all()  # the correction is in the export
    assert s.status == {0: "exported", 1: "exported"}
    s.export(out, [0, 1])  # nothing changed since: both kept, byte for byte
    assert (s.last_export.written, s.last_export.kept) == (0, 2)

    s.set_grid(128)
    s.segment([0], Constant(1), keep_edits=True)
    with pytest.raises(ExportWouldReplace) as asked:
        s.export(out, [0])
    text = str(asked.value)
    assert "tile size 256" in text and "2 tile(s) of slide.tif" in text and "deleted" in text
    assert "--" not in text
    assert (out / "slide_tile_0001.png").exists()  # nothing deleted yet
    s.export(out, [0], replace=True)
    assert not (out / "slide_tile_0001.png").exists()
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["images"][0]["grid"]["tile_size"] == 128

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SessionError, match="holds no napari-axons export"):
        s.export(foreign, [0], replace=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    s.close()


def test_load_masks_from_an_export_asks_before_replacing_edits(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "cache", tile_size=256)
    s.segment([0], Constant(1))
    s.export(tmp_path / "out", [0])
    s.paint(10, 10, np.zeros((4, 4), np.uint8))
    with pytest.raises(EditsInTheWay, match="loading the export's masks"):
        s.load_masks(tmp_path / "out")
    assert not s.store.read(10, 10, 14, 14).any()
    s.load_masks(tmp_path / "out", overwrite_edits=True)
    assert s.store.read(10, 10, 14, 14).all() and s.edits.empty
    assert s.status[0] == "exported"
    with pytest.raises(SessionError, match="exported with downsample 1"):
        s.set_grid(256, downsample=2)
        s.load_masks(tmp_path / "out")
    s.close()


def test_edit_record_maps_full_resolution_exactly(tmp_path):
    rec = EditRecord(10, 10, root=tmp_path)
    working = (3, 3)  # s = 10 / 3: working pixels cover rows 0-3, 4-6, 7-9
    changed = np.zeros((3, 3), bool)
    changed[1, 2] = True
    rec.record(0, 0, np.full((3, 3), 2, np.uint8), changed, working)
    full = np.asarray(rec._array[:])
    assert (full[4:7, 7:10] == 3).all() and full.sum() == 3 * 9
    edited, values = rec.project(0, 0, 3, 3, working)
    assert edited.tolist() == changed.tolist() and values[1, 2] == 2
    # a one-pixel edit at full resolution shows at the coarse factor
    rec.record(0, 0, np.ones((1, 1), np.uint8), np.ones((1, 1), bool), (10, 10))
    edited, values = rec.project(0, 0, 3, 3, working)
    assert edited[0, 0] and values[0, 0] == 1
    rec.clear(0, 0, 3, 3, working, where=changed)
    assert rec.any_in(0, 0, 1, 1, working) and not rec.any_in(1, 2, 2, 3, working)
    rec.save(tmp_path / "saved")
    again = EditRecord(10, 10, root=tmp_path, copy_from=tmp_path / "saved")
    assert again.chunks == rec.chunks and again.any_in(0, 0, 1, 1, working)
    with pytest.raises(ValueError, match="hand edits of a 10 x 10 image"):
        EditRecord(5, 5, root=tmp_path, copy_from=tmp_path / "saved")


def test_overlap_rule_later_tiles_and_edited_pixels(tmp_path):
    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, np.full((700, 1000, 3), 40, np.uint8), photometric="rgb")
    s = Session(path, cache_dir=tmp_path / "cache")  # 0:(0,0) 1:(0,488) 2:(188,0) 3:(188,488)
    grid = s.grid
    assert protected_by_later(grid, grid[0], {}) is None
    keep = protected_by_later(grid, grid[0], {1: "segmented", 2: "not segmented"})
    assert keep[:, 488:].all() and not keep[:, :488].any()
    assert protected_by_later(grid, grid[1], {0: "exported"}) is None  # earlier tiles lose
    s.segment([1], Constant(1))
    s.segment([0], Constant(0))
    assert s.store.read(0, 488, 512, 512).all() and not s.store.read(0, 0, 512, 488).any()
    s.paint(100, 100, np.ones((3, 3), np.uint8))  # an edit in tile 0 only
    keep = s.protected(grid[1])
    assert keep is None  # tile 1 does not reach the edit
    keep = s.protected(grid[0])
    assert keep[100:103, 100:103].all() and keep.sum() == 512 * 24 + 9
    assert s.protected(grid[0], overwrite_edits=True).sum() == 512 * 24
    s.close()


def test_export_uses_the_open_image_and_grid(image, tmp_path, monkeypatch):
    import napari_axons.core.export.plan as pipeline
    import napari_axons.core.session.session as export_mod

    s = Session(image, cache_dir=tmp_path / "cache", tile_size=256)
    s.segment([0], Constant(1))
    fingerprint = s.source_hash

    def refuse(*args, **kwargs):
        raise AssertionError("the export opened or hashed the image again")

    monkeypatch.setattr(pipeline, "open_image", refuse)
    monkeypatch.setattr(export_mod, "sampled_file_hash", refuse)
    monkeypatch.setattr(pipeline, "sampled_file_hash", refuse, raising=False)
    manifest = s.export(tmp_path / "out", [0])
    assert manifest["images"][0]["source"]["hash"] == fingerprint
    assert np.asarray(Image.open(tmp_path / "out" / "masks" / "slide_tile_0000_mask.png")).all()
    s.close()


def test_a_session_over_an_array_exports_it_without_a_file(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (300, 280, 3), dtype=np.uint8)
    s = Session.from_array(pixels, "pasted", cache_dir=tmp_path / "cache", tile_size=256)
    s.segment([0], Constant(1))
    s.paint(5, 5, np.zeros((3, 3), np.uint8))
    manifest = s.export(tmp_path / "out", [0])
    assert manifest["images"][0]["source"]["path"] is None
    tile = np.asarray(Image.open(tmp_path / "out" / "pasted_tile_0000.png"))
    np.testing.assert_array_equal(tile, pixels[:256, :256])
    s.save(tmp_path / "saved")
    again = Session.load(tmp_path / "saved", array=pixels, cache_dir=tmp_path / "cache2")
    assert again.in_memory and again.edited_tiles() == [0]
    with pytest.raises(SessionError, match="saved for another image"):
        Session.load(tmp_path / "saved", array=pixels[::-1].copy(), cache_dir=tmp_path / "c3")
    again.close()
    s.close()
