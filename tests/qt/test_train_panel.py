"""The Train section: train from an export in a worker, live curve, Cancel keeps the best, use it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytestmark = [pytest.mark.gui, pytest.mark.model]


@pytest.fixture(scope="module")
def export_and_base(tmp_path_factory):
    from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
    from tiny_models import save_checkpoint, tiny_segformer
    from train_data import labelled_export

    root = tmp_path_factory.mktemp("trainpanel")
    image, classes = make_myelinated_sample((128, 256), seed=2)
    labelled_export(root / "export", image, classes, MYELINATED_CLASSES.names, tile_size=64)
    return root / "export", save_checkpoint(tiny_segformer(2), root / "base")


def _panel(qtbot, **kw):
    from napari_axons._qt._train_panel import TrainPanel

    panel = TrainPanel(**kw)
    qtbot.addWidget(panel.native)
    return panel


def test_train_use_and_curve(qtbot, tmp_path, export_and_base, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    export, base = export_and_base
    used = []
    panel = _panel(qtbot, current_export=lambda: export, on_use=used.append)
    panel.add_current()
    panel.add_current()  # offered once, listed once
    assert panel.exports == [str(export)]
    panel.out.value = tmp_path / "model"
    panel.base.value = base
    panel.steps.value = 6
    panel.device.value = "cpu"
    worker = panel.start()
    assert worker is not None and not panel.train.enabled and panel.cancel_button.enabled
    qtbot.waitUntil(lambda: not panel.busy and panel.train.enabled, timeout=240_000)
    steps = [r["step"] for r in panel.records]  # ~25 validations in 6 steps: every step
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 3
    rep = json.loads((tmp_path / "model" / "training.json").read_text())
    # 6 steps, unless the tiny model's flat curve triggered the stopping rule
    assert (rep["stopped"], len(steps)) == ("steps", 6) or rep["stopped"] == "plateau"
    from napari_axons.core.image.sample import MYELINATED_CLASSES

    ax = panel.curve.figure.axes[0]  # a real plot: axes, every class, the best validation marked
    lines = [line.get_label() for line in ax.get_lines()]
    assert all(f"{n} (validation)" in lines for n in MYELINATED_CLASSES.foreground)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "IoU")
    assert any(t.get_text().startswith("best: step") for t in ax.texts)
    shot = panel.curve.native.grab()
    assert shot.height() >= 180 and shot.width() > 200  # readable, not a thumbnail
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert panel.use.enabled
    panel.use_model()
    assert used == [tmp_path / "model"]
    written = panel.messages[-2]
    assert written.startswith("model written to model in ")
    assert f"{len(steps)} steps (stopped: {rep['stopped']}), held-out IoU myelin" in written
    assert f"; base model {base} on the same tiles: IoU myelin" in written  # both scores


def test_cancel_keeps_the_best_so_far(qtbot, tmp_path, export_and_base, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    export, base = export_and_base
    panel = _panel(qtbot)
    panel.set_exports([export])
    panel.out.value = tmp_path / "model"
    panel.base.value = base
    panel.steps.value = 2000
    panel.device.value = "cpu"
    panel.start()
    qtbot.waitUntil(lambda: len(panel.records) >= 1, timeout=240_000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.busy and panel.train.enabled, timeout=240_000)
    rep = json.loads((tmp_path / "model" / "training.json").read_text())
    assert rep["stopped"] == "cancelled" and rep["steps"] < 2000
    best = max(r["val_miou"] for r in rep["validations"])
    assert rep["best"]["val_miou"] == pytest.approx(best, abs=1e-6)
    assert not (tmp_path / "model.partial").exists()


def test_bad_input_says_one_line(qtbot, tmp_path, monkeypatch):
    panel = _panel(qtbot)
    panel.start()
    assert panel.messages == ["add at least one export folder to train on"]
    empty = tmp_path / "empty"
    empty.mkdir()
    panel.set_exports([empty])
    panel.out.value = tmp_path / "model"
    panel.start()
    qtbot.waitUntil(lambda: not panel.busy and panel.train.enabled, timeout=60_000)
    assert panel.messages[-1] == (f"{empty}: not an export (no manifest.json and no "
                                  "*_tile_NNNN.png tiles)")
    assert not (tmp_path / "model").exists() and not (tmp_path / "model.partial").exists()


def test_in_the_dock_widget(make_widget, axon_tif, tmp_path):
    """The Train section offers the widget's export folder and sets its segmenter."""
    from napari_axons._qt._controls import CHECKPOINT_SEGMENTER

    _, widget = make_widget(axon_tif)
    panel = widget.train_panel
    assert widget.pages["Train"] is panel and widget.tabs.tabText(4) == "Train"
    widget.controls.export_dir.value = tmp_path / "export"
    panel.add_current()
    assert panel.exports == [str(tmp_path / "export")]

    class Done:
        model_dir = tmp_path / "model"
        report = {"best": {"step": 1, "val_iou": {}}}

    panel.result = Done()
    panel.use_model()
    assert widget.controls.segmenter.value == CHECKPOINT_SEGMENTER
    assert widget.controls.model_dir.value == tmp_path / "model"
