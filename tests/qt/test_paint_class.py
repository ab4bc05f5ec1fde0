"""Classes in the widget: the layers show the class table, "Paint class" paints it, export keeps it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from qt_helpers import FakeSegmenter, wait_idle

from napari_axons.core.common import ClassTable

pytestmark = pytest.mark.gui

OVERVIEW, EDIT = "axons masks (read-only)", "paint here: axons masks"


class ThreeClasses(FakeSegmenter):
    """Background everywhere, from a model that knows myelin and axon."""

    classes = ClassTable(("background", "myelin", "axon"))


def test_choose_a_class_paint_it_export_it(make_widget, axon_tif, tmp_path, qtbot):
    viewer, w = make_widget(axon_tif)
    edit = viewer.layers[EDIT]
    # before any model: the seed's one class, in its colour, named on the layers
    assert w.controls.paint_class.choices == (1, 0)
    assert list(edit.features["class"]) == ["background", "axon"]
    assert edit.selected_label == 1 and edit.data.dtype == np.uint8
    assert "axon" in w.controls.legend.value

    w.controls.tile_size.value = 256
    w.make_segmenter = lambda: (lambda: ThreeClasses(value=0))
    w.set_selection([0])
    w.segment_selected()
    wait_idle(qtbot, w)
    assert w.session.classes.names == ("background", "myelin", "axon")
    assert w.controls.paint_class.choices == (1, 2, 0)
    for layer in (viewer.layers[EDIT], viewer.layers[OVERVIEW]):
        assert list(layer.features["class"]) == ["background", "myelin", "axon"]
        # axon red and myelin blue whatever their index (as after a session that began with axon)
        assert layer.colormap.map(2)[:3] == pytest.approx(np.array([255, 64, 64]) / 255)
        assert layer.colormap.map(1)[:3] == pytest.approx(np.array([64, 160, 255]) / 255)
    assert "myelin" in w.controls.legend.value and "axon" in w.controls.legend.value

    w.controls.paint_class.value = 2  # "axon"
    assert viewer.layers[EDIT].selected_label == 2
    edit = viewer.layers[EDIT]
    edit.brush_size = 5
    edit.paint((40, 40), edit.selected_label)
    qtbot.waitUntil(lambda: w.status.get(0) == "edited")
    w.controls.paint_class.value = 1  # "myelin"
    edit.paint((120, 200), edit.selected_label)
    qtbot.waitUntil(lambda: w.store.read(120, 200, 121, 201)[0, 0] == 1)
    assert w.store.read(40, 40, 41, 41)[0, 0] == 2

    out = tmp_path / "export"
    w.controls.export_dir.value = out
    w.export()
    wait_idle(qtbot, w)
    png = Image.open(out / "masks" / "axons_tile_0000_mask.png")
    assert png.mode == "P"  # class indices, viewable as colours
    mask = np.asarray(png)
    assert mask[40, 40] == 2 and mask[120, 200] == 1 and set(np.unique(mask)) == {0, 1, 2}
    labels = json.loads((out / "axons_tile_0000__labels.json").read_text())["labels"]
    assert sorted(lab["label_class"] for lab in labels) == ["axon", "myelin"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["name"] for c in manifest["classes"]] == ["background", "myelin", "axon"]


def _shown(control) -> bool:
    """Not hidden by the widget (the dock itself may not be on screen in a test)."""
    return not control.native.isHidden()


@pytest.mark.model
def test_segment_into_all_classes_of_a_checkpoint(make_widget, axon_tif, tmp_path, qtbot):
    """Classes "all (argmax)": the model's table reaches the session and its argmax the store."""
    from tiny_models import push_bias, save_checkpoint, tiny_segformer

    model = push_bias(tiny_segformer(3), towards=2)
    model.config.id2label = {0: "background", 1: "myelin", 2: "axon"}
    ckpt = save_checkpoint(model, tmp_path / "three")
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.controls.segmenter.value = "checkpoint folder"
    w.controls.model_dir.value = ckpt
    assert _shown(w.controls.class_index) and not _shown(w.controls.polarity)
    w.controls.classes.value = "all (argmax)"
    assert not _shown(w.controls.class_index) and not _shown(w.controls.threshold)  # the one-class rule's
    w.set_selection([0])
    w.segment_selected()
    wait_idle(qtbot, w, timeout=60_000)
    assert w.session.classes.names == ("background", "myelin", "axon")
    assert np.unique(w.store.read(0, 0, 256, 256)).tolist() == [2]


def test_otsu_objects_dark_or_bright(make_widget, axon_tif):
    viewer, w = make_widget(axon_tif)
    assert _shown(w.controls.polarity) and not _shown(w.controls.classes)
    assert w.controls.otsu_class.value == "axon"
    w.controls.polarity.value = "dark"  # SEM myelin: dark objects, named so
    assert w.controls.otsu_class.value == "myelin"
    from napari_axons._qt._segmenter_choice import segmenter_factory

    otsu = segmenter_factory(w.controls)()
    assert otsu.polarity == "dark" and otsu.classes.names == ("background", "myelin")
    w.controls.otsu_class.value = "sheath"  # a name the user typed stays when Objects changes
    w.controls.polarity.value = "bright"
    assert w.controls.otsu_class.value == "sheath"


def test_a_one_logit_checkpoint_segments_from_the_panel(make_widget, axon_tif, tmp_path):
    """num_labels=1 (a sigmoid): the panel's one-class rule takes its only logit, not index 1."""
    from napari_axons._qt._controls import CHECKPOINT_SEGMENTER, ONE_CLASS
    from napari_axons._qt._segmenter_choice import segmenter_factory
    from tiny_models import save_checkpoint, set_classes, tiny_segformer

    folder = save_checkpoint(set_classes(tiny_segformer(1), ["axon"]), tmp_path / "m",
                             processor_size=64)
    _, w = make_widget(axon_tif)
    c = w.controls
    c.segmenter.value = CHECKPOINT_SEGMENTER
    c.model_dir.value = folder
    c.classes.value = ONE_CLASS
    assert c.class_index.value == 1  # the panel's default
    seg = segmenter_factory(c)()
    assert seg.class_index == 0 and seg.sigmoid and seg.classes.names == ("background", "axon")
