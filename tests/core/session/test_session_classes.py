"""One class table per image: tables merged by name, never shrunk, unknown values refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.common import DEFAULT_TABLE, ClassTable
from napari_axons.core.session import Session, SessionError, merge_classes

AXON_MYELIN = ClassTable(("background", "axon", "myelin"))
MYELIN_AXON = ClassTable(("background", "myelin", "axon"))  # a model numbering them the other way


class Halves:
    """A segmenter of ``classes`` whose class map is ``left`` on the left half, ``right`` on the right."""

    batch_size = 1

    def __init__(self, classes, left, right, name="halves"):
        self.classes, self.left, self.right, self.name = classes, left, right, name

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        n, h, w = tiles.shape[:3]
        out = np.full((n, h, w), self.left, np.uint8)
        out[:, :, w // 2:] = self.right
        return out

    def info(self):
        return {"name": self.name}


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "slide.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(path, rng.integers(0, 255, (512, 768, 3), dtype=np.uint8), photometric="rgb")
    return path


def test_merge_by_name_appends_and_maps():
    table, lut, added = merge_classes(AXON_MYELIN, ClassTable(("bg", "myelin", "fibre")))
    assert table.names == ("background", "axon", "myelin", "fibre") and added == ["fibre"]
    assert lut[:4].tolist() == [0, 2, 3, -1]
    same, lut, added = merge_classes(AXON_MYELIN, DEFAULT_TABLE)
    assert same is AXON_MYELIN and added == [] and lut[255] == 1  # an old 0/255 mask is class 1


def test_segmenting_never_removes_a_class(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256)
    assert not s.classes_fixed  # the default table is provisional until a mask is written
    s.segment([0], Halves(MYELIN_AXON, 1, 2))  # the model's own numbering
    assert s.classes == MYELIN_AXON
    np.testing.assert_array_equal(s.store.read(0, 0, 1, 256)[0], [1] * 128 + [2] * 128)
    s.segment([1], Halves(AXON_MYELIN, 1, 2))  # axon, myelin: mapped by name
    assert s.classes == MYELIN_AXON
    np.testing.assert_array_equal(s.store.read(0, 256, 1, 512)[0], [2] * 128 + [1] * 128)
    s.segment([2], Halves(DEFAULT_TABLE, 0, 1, name="otsu"))  # a one-class "axon" segmenter
    assert s.classes == MYELIN_AXON  # myelin, which tiles 0 and 1 use, is still there
    assert s.store.read(0, 767, 1, 768)[0, 0] == 2
    s.segment([3], Halves(ClassTable.from_names(["fibre"]), 0, 1))
    assert s.classes.names == ("background", "myelin", "axon", "fibre")
    assert s.store.read(256, 255, 257, 256)[0, 0] == 3  # tile 3: row 1, column 0
    s.close()


def test_a_value_no_class_stands_for_is_refused(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256)
    s.segment([0], Halves(AXON_MYELIN, 0, 1))
    with pytest.raises(SessionError) as err:
        s.segment([4], Halves(AXON_MYELIN, 3, 7))
    assert str(err.value) == ("tile 4: values 3, 7 are not in the class table (background, axon, "
                              "myelin); nothing was written")
    assert not s.store.read(256, 256, 512, 512).any() and 4 not in s.status
    window = np.zeros((10, 300), np.uint8)
    window[5, 290] = 9  # in tile 1
    with pytest.raises(SessionError, match=r"^tile\(s\) 1: value 9 is not in the class table"):
        s.paint(0, 0, window)
    assert s.edits.empty
    s.close()


def test_one_class_export_refuses_a_second_class_value(image, tmp_path):
    """The export never folds a value into 255: a store value without a class is one error line."""
    s = Session(image, cache_dir=tmp_path / "c", tile_size=256)
    s.segment([0], Halves(DEFAULT_TABLE, 0, 1))
    s.store.write(0, 0, np.full((4, 4), 2, np.uint8))  # written behind the session's back
    with pytest.raises(Exception, match="slide_tile_0000: mask: holds value"):
        s.export(tmp_path / "out", [0])
    assert not (tmp_path / "out" / "masks" / "slide_tile_0000_mask.png").exists()
    s.close()


def _three_class_export(image, tmp_path):
    s = Session(image, cache_dir=tmp_path / "c1", tile_size=256)
    s.segment([0, 1], Halves(MYELIN_AXON, 1, 2, name="model"))
    out = tmp_path / "three"
    s.export(out, [0, 1])
    s.close()
    return out


def test_loading_an_export_adopts_its_classes(image, tmp_path):
    out = _three_class_export(image, tmp_path)
    s = Session(image, cache_dir=tmp_path / "c2", tile_size=256)
    s.segment([4], Halves(DEFAULT_TABLE, 1, 1, name="otsu"))  # axon here first: axon is class 1
    assert s.classes == DEFAULT_TABLE
    s.load_masks(out)
    assert s.classes.names == ("background", "axon", "myelin")  # myelin added, axon kept at 1
    np.testing.assert_array_equal(s.store.read(0, 0, 1, 256)[0], [2] * 128 + [1] * 128)
    assert s.status[0] == s.status[1] == "exported" and s.status[4] == "segmented"
    # tiles loaded unchanged stay as they are when exported back; the otsu tile is added
    before = (out / "masks" / "slide_tile_0000_mask.png").read_bytes()
    s.export(out, [4])
    assert (s.last_export.written, s.last_export.kept) == (3, 0)  # the classes' numbering changed
    doc = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in doc["classes"]] == ["background", "axon", "myelin"]
    assert (out / "masks" / "slide_tile_0000_mask.png").read_bytes() != before
    mask = np.asarray(Image.open(out / "masks" / "slide_tile_0000_mask.png"))
    np.testing.assert_array_equal(mask[0], [2] * 128 + [1] * 128)  # myelin left, axon right
    labels = json.loads((out / "slide_tile_0004__labels.json").read_text())["labels"]
    assert {lab["label_class"] for lab in labels} == {"axon"}
    s.export(out, [0, 1, 4])
    assert (s.last_export.written, s.last_export.kept) == (0, 3)
    s.close()
