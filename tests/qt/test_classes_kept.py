"""One class table per image, never shrunk behind the user's back (issue 24, 1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from qt_helpers import click, paint_stroke, press, show_section, wait_idle

pytestmark = pytest.mark.gui

EDIT = "paint here: axons masks"


@pytest.fixture
def myelinated(tmp_path):
    """A 512 x 768 SEM-like image and a 3-class export of its truth (background, myelin, axon)."""
    from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
    from napari_axons.core.session import Session

    image, truth = make_myelinated_sample((512, 768), seed=1)
    path = tmp_path / "nerve.tif"
    tifffile.imwrite(path, image, photometric="rgb")

    class Truth:
        name, classes = "truth", MYELINATED_CLASSES

        def info(self):
            return {"name": "truth"}

    s = Session(path, cache_dir=tmp_path / "c0", tile_size=256)
    for box in s.grid:
        s.write_segmented(box, truth[box.y:box.y1, box.x:box.x1], segmenter=Truth())
    s.export(tmp_path / "truth", range(len(s.grid)))
    s.close()
    return path, truth, tmp_path / "truth"


def test_segmenting_a_tile_keeps_the_loaded_classes(make_widget, myelinated, tmp_path, qtbot):
    path, truth, export = myelinated
    viewer, w = make_widget(path)
    c = w.controls
    c.tile_size.value = 256
    show_section(w, "Correct")
    c.import_from.value = "export folder"
    c.import_dir.value = export
    press(qtbot, c.load)
    wait_idle(qtbot, w)
    assert w.session.classes.names == ("background", "myelin", "axon")
    assert "1 myelin" in c.legend.value and "2 axon" in c.legend.value
    combo = c.paint_class.native
    assert [combo.itemText(i) for i in range(combo.count())] == ["myelin", "axon",
                                                                   "background (erase)"]

    # pick tile 1 on the canvas, paint an axon stroke in it, segment it with Otsu, keep the edits
    click(w.layer, (100.0, 300.0))
    assert w.selected == {1}
    c.paint_class.value = 2  # axon
    paint_stroke(viewer.layers[EDIT], [(40, 270), (40, 290)], brush=5)
    qtbot.waitUntil(lambda: w.status.get(1) == "edited")
    stroke = w.store.read(38, 268, 43, 293) == 2
    asked = []
    w.confirm = lambda title, text: asked.append(title) or False  # "No": keep the edits
    show_section(w, "Segment")
    assert c.segmenter.value == "otsu (built-in)" and c.otsu_class.value == "axon"
    press(qtbot, c.run)
    wait_idle(qtbot, w)
    assert asked == ["Replace hand edits?"]
    assert w.session.classes.names == ("background", "myelin", "axon")  # myelin is still there
    assert "1 myelin" in c.legend.value

    show_section(w, "Export")
    out = tmp_path / "out"
    c.export_dir.value = out
    c.export_which.value = "all"
    press(qtbot, c.export)
    wait_idle(qtbot, w)
    doc = json.loads((out / "manifest.json").read_text())
    assert [k["name"] for k in doc["classes"]] == ["background", "myelin", "axon"]
    for i in (0, 2, 3, 4, 5):  # tiles loaded, not segmented again: the truth, class for class
        box = doc["images"][0]["tiles"][i]["box"]
        mask = np.asarray(Image.open(out / "masks" / f"nerve_tile_{i:04d}_mask.png"))
        sub = truth[box["y"]:box["y"] + 256, box["x"]:box["x"] + 256]
        np.testing.assert_array_equal(mask, sub)
        labels = json.loads((out / f"nerve_tile_{i:04d}__labels.json").read_text())["labels"]
        assert {lab["label_class"] for lab in labels} == {"myelin", "axon"}
    mask1 = np.asarray(Image.open(out / "masks" / "nerve_tile_0001_mask.png"))
    assert (mask1[38:43, 12:37][stroke] == 2).all()  # the stroke kept, as axon
    assert set(np.unique(mask1)) <= {0, 1, 2} and (mask1 == 2).sum() > stroke.sum()

    # a segmenter value no class stands for is refused, naming the tile, never folded into a class
    class Bad:
        name, batch_size = "bad", 1

        def prepare(self, overview):
            pass

        def predict(self, tiles):
            return np.full(tiles.shape[:3], 7, np.uint8)

        def info(self):
            return {"name": "bad"}

    w.make_segmenter = lambda: (lambda: Bad())
    show_section(w, "Tiles")
    press(qtbot, c.select_none)
    click(w.layer, (400.0, 100.0))
    assert w.selected == {3}
    before = w.store.read(256, 0, 512, 256).copy()
    press(qtbot, c.run)
    wait_idle(qtbot, w)
    assert w.messages[-1] == ("Segmenting: failed: tile 3: value 7 is not in the class table "
                              "(background, myelin, axon); nothing was written")
    np.testing.assert_array_equal(w.store.read(256, 0, 512, 256), before)


def test_use_this_model_picks_all_its_classes(make_widget, myelinated, tmp_path, qtbot):
    from napari_axons._qt._controls import ALL_CLASSES, CHECKPOINT_SEGMENTER

    path, _, _ = myelinated
    _, w = make_widget(path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(
        {"id2label": {"0": "background", "1": "myelin", "2": "axon"}}))

    class Done:
        model_dir = model
        report = {"best": {"step": 3, "val_iou": {"myelin": 0.8, "axon": 0.7}}}

    panel = w.train_panel
    panel.result = Done()
    panel.use.enabled = True
    show_section(w, "Train")
    press(qtbot, panel.use)
    c = w.controls
    assert c.segmenter.value == CHECKPOINT_SEGMENTER and c.model_dir.value == model
    assert c.classes.value == ALL_CLASSES
    assert w.messages[-1] == f"segmenter: {model} (all its classes: myelin, axon)"
