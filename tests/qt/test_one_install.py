"""One install for the whole panel: the README's napari install makes every button work (issue 24, 6)."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from qt_helpers import press, show_section, wait_idle

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "core"))


def extra(name: str, extras: dict) -> set[str]:
    """The distributions an extra installs, its own extras resolved (``napari-axons[train]``)."""
    out = set()
    for req in extras[name]:
        dist = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].strip().lower()
        if dist == "napari-axons":
            for inner in re.search(r"\[(.*)\]", req).group(1).split(","):
                out |= extra(inner.strip(), extras)
        else:
            out.add(dist)
    return out


def test_the_napari_extra_holds_what_every_button_needs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {"napari", "magicgui", "npe2",
              "accelerate", "matplotlib",  # Train (transformers' Trainer), the training curve
              "pycocotools", "ome-zarr"}  # Also write: COCO, OME-Zarr labels
    assert wanted <= extra("napari", project["optional-dependencies"])
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## In napari"):]
    assert '.venv/bin/pip install -e ".[napari]"' in readme
    assert "[train]" not in section.split("\n\n")[1]  # one install, nothing else to add


@pytest.mark.gui
@pytest.mark.model
def test_every_button_after_the_napari_install(make_widget, tmp_path, qtbot, monkeypatch):
    """Train and Also write COCO from the dock widget, with nothing installed beyond the extra."""
    from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
    from tiny_models import save_checkpoint, tiny_segformer
    from train_data import labelled_export

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    image, classes = make_myelinated_sample((128, 256), seed=2)
    labelled_export(tmp_path / "labelled", image, classes, MYELINATED_CLASSES.names, tile_size=64)
    base = save_checkpoint(tiny_segformer(2), tmp_path / "base")
    _, w = make_widget(tmp_path / "img.tif")  # the image labelled_export wrote
    c = w.controls

    show_section(w, "Export")  # Export + Also write COCO
    c.tile_size.value = 64
    press(qtbot, c.select_all)
    show_section(w, "Segment")
    press(qtbot, c.run)
    wait_idle(qtbot, w)
    show_section(w, "Export")
    c.export_dir.value = tmp_path / "out"
    c.also_write.value = "COCO"
    press(qtbot, c.export)
    qtbot.waitUntil(lambda: not w.busy and w.messages[-1].startswith("COCO:"), timeout=120_000)
    coco = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert len(coco["images"]) == 8 and coco["annotations"]

    show_section(w, "Train")  # Train, on the labelled export
    panel = w.train_panel
    panel.pick.value = tmp_path / "labelled"
    press(qtbot, panel.add)
    panel.out.value = tmp_path / "model"
    panel.base.value = base
    panel.steps.value = 1
    panel.device.value = "cpu"
    press(qtbot, panel.train)
    assert not c.progress_bar.native.isHidden()  # the job is in view from every section
    qtbot.waitUntil(lambda: not panel.busy and panel.train.enabled, timeout=240_000)
    assert (tmp_path / "model" / "model.safetensors").is_file()
    assert not any("accelerate" in m or "matplotlib" in m for m in w.messages)
    assert w.messages[-1].startswith("model written to model in ")
    assert c.progress_bar.native.isHidden()
