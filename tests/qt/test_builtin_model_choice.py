"""The Segment tab offers the built-in axon/myelin model; it segments at its own pixel size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from qt_helpers import press, show_section, wait_idle

from napari_axons.core.labels.scores import score_maps
from sem_fixture import sem_crop

pytestmark = [pytest.mark.gui, pytest.mark.model]



def test_the_built_in_model_segments_a_micrograph_at_its_pixel_size(make_widget, tmp_path,
                                                                   qtbot, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    image, truth = sem_crop()
    path = tmp_path / "sem.png"  # 1.5x finer than the model's 0.1 um/px
    Image.fromarray(image).resize((576, 576), Image.BICUBIC).save(path)
    truth = np.array(Image.fromarray(truth).resize((576, 576), Image.NEAREST))

    _, w = make_widget(path)
    c = w.controls
    c.tile_size.value = 576
    qtbot.keyClick(c.tile_size.native.lineEdit(), "\r")  # applied on Enter
    c.pixel_size.value = 0.1 / 1.5  # typed by the user
    show_section(w, "Segment")
    choices = [c.segmenter.native.itemText(i) for i in range(c.segmenter.native.count())]
    assert "axon-myelin-sem (built-in model)" in choices
    c.segmenter.value = "axon-myelin-sem (built-in model)"
    hidden = {name for name in ('model_dir', 'polarity', 'otsu_class', 'device', 'classes')
              if getattr(c, name).native.isHidden()}
    assert hidden == {'model_dir', 'polarity', 'otsu_class', 'classes'}  # the device stays
    press(qtbot, c.select_all)
    assert len(w.session.grid) == 1 and w.selected == {0}
    press(qtbot, c.run)
    wait_idle(qtbot, w, timeout=300_000)
    assert any(m == "image 0.0667 um/px, model 0.1 um/px: tiles resampled x0.67 for the model"
               for m in w.messages)
    assert w.session.classes.names == ("background", "myelin", "axon")
    got = w.store.read(0, 0, 576, 576)
    iou = score_maps([got], [truth], ("background", "myelin", "axon")).to_json()["overall"]
    # the fixture is from the model's training images: this checks the path, not how well
    # the model generalises (bench/bench_real.py measures that)
    assert iou["axon"]["iou"] > 0.6 and iou["myelin"]["iou"] > 0.5, iou
