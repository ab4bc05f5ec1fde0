"""The built-in ``axon-myelin-sem`` model: by name, offline, at its pixel size, as a base.

The fixture is a crop of a real SEM image the model was trained on
(tests/data/README.md): these tests check that the shipped model loads and
works through the product's paths, not how well it generalises
(``bench/bench_real.py`` measures that, leave-one-rat-out).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from napari_axons.core.geometry.resample import resample_class_map
from napari_axons.core.labels.scores import match_objects, score_maps
from napari_axons.core.segment import ModelError, load_segmenter
from napari_axons.core.segment.builtin_models import builtin_model_path
from sem_fixture import NAMES, sem_crop

pytestmark = pytest.mark.model

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_the_folder_ships_what_it_must():
    folder = builtin_model_path("axon-myelin-sem")
    assert builtin_model_path("Axon-Myelin-SEM ") == folder
    assert builtin_model_path("otsu") is None and builtin_model_path("./axon-myelin-sem") is None
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", "model.safetensors", "napari_axons.json",
                     "preprocessor_config.json"]
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    meta = json.loads((folder / "napari_axons.json").read_text())
    assert meta["pixel_size_um"] == 0.1 and meta["licence"] == "MIT"
    assert meta["doi"] == "10.5281/zenodo.5498378" and "AxonDeepSeg" in meta["credit"]
    assert meta["command"].startswith("python bench/train_builtin.py")
    assert set(meta["validation"]) == set(NAMES)
    assert "/work/" not in json.dumps(meta)  # no machine paths


def test_loads_by_name_offline_and_segments_the_fixture():
    seg = load_segmenter("axon-myelin-sem", classes="all", num_threads=1, image_pixel_size=0.1)
    assert seg.classes.names == NAMES and seg.pixel_size_um == 0.1 and seg.resampling is None
    image, truth = sem_crop()
    pred = seg.predict(image[None])[0]
    iou = score_maps([pred], [truth], NAMES).iou()
    # a floor under what the shipped model gives (0.756 / 0.643): it loaded and works; how well
    # it generalises is bench/bench_real.py's question (the fixture is from its training data)
    assert iou["axon"] > 0.7 and iou["myelin"] > 0.6, iou


def test_an_image_at_another_pixel_size_gives_the_same_objects():
    """The fixture upsampled 1.5x (as if imaged at 0.0667 um/px), segmented with its pixel
    size known: tiles are resampled to the model's 0.1 um/px and the class map comes back
    on the fine grid; on the coarse grid it finds the same fibres."""
    image, _ = sem_crop()
    coarse = load_segmenter("axon-myelin-sem", classes="all", num_threads=1,
                            image_pixel_size=0.1).predict(image[None])[0]
    fine_image = np.array(Image.fromarray(image).resize((576, 576), Image.BICUBIC))
    seg = load_segmenter("axon-myelin-sem", classes="all", num_threads=1,
                         image_pixel_size=0.1 / 1.5)
    assert seg.resampling.factor == pytest.approx(2 / 3)
    fine = seg.predict(fine_image[None])[0]
    assert fine.shape == (576, 576)  # on the tile's own grid
    back = resample_class_map(fine, coarse.shape)
    # the same fibres: axons one by one; myelin rings that touch join into one object, so
    # a ring's small change of shape can split or join two of them (measured: 0.93 / 0.87)
    for k, floor in ((2, 0.9), (1, 0.8)):
        c = match_objects(back == k, coarse == k)
        assert c.f1 > floor, (k, c)
    assert (back == coarse).mean() > 0.95


def test_unknown_name_and_a_folder_of_that_name(tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="'axon-myelin-sem' \\(built-in models\\)"):
        load_segmenter("no-such-model")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "axon-myelin-sem").mkdir()  # the name wins; ./NAME is the folder
    with pytest.raises(ModelError, match="no config.json"):
        load_segmenter("./axon-myelin-sem")


@pytest.mark.slow
def test_train_starts_from_it_for_axon_and_myelin_in_any_order(tmp_path):
    """Exports of axon and myelin fine-tune the built-in model by default; its classifier
    rows follow the class names (here background, axon, myelin: another order)."""
    from napari_axons.core.training import TrainOptions, train
    from train_data import labelled_export

    image, truth = sem_crop()
    swapped = np.choose(truth, [0, 2, 1]).astype(np.uint8)  # myelin 2, axon 1
    labelled_export(tmp_path / "export", image, swapped, ("background", "axon", "myelin"),
                    tile_size=128, pixel_size=0.1)
    opts = TrainOptions(steps=4, crop=128, num_threads=1, device="cpu")
    rep = train([tmp_path / "export"], tmp_path / "model", options=opts, verbose=False).report
    assert rep["model"]["base"] == "axon-myelin-sem" and rep["pixel_size_um"] == 0.1
    base = rep["scores"]["base"]["overall"]
    assert base["axon"]["iou"] > 0.7 and base["myelin"]["iou"] > 0.6  # rows mapped by name
    assert rep["comparison"]["note"].split(" on the held-out tiles")[0] in (
        "better than the base model", "NOT better than the base model")
    cfg = json.loads((tmp_path / "model" / "config.json").read_text())
    assert cfg["id2label"] == {"0": "background", "1": "axon", "2": "myelin"}
    new = train([tmp_path / "export"], tmp_path / "new",
                options=TrainOptions(steps=2, crop=128, num_threads=1, device="cpu",
                                     base="none"), verbose=False).report
    assert new["model"] == {"base": None, "arch": "upernet-convnext"}
    assert new["scores"]["base"] is None and new["comparison"] is None


def test_by_name_it_segments_all_its_classes_unless_told_otherwise():
    """Not the seed's one-class rule (class 1 named axon would be its myelin)."""
    assert load_segmenter("axon-myelin-sem", num_threads=1).classes.names == NAMES
    one = load_segmenter("axon-myelin-sem", class_index=2, label_class="axon", num_threads=1)
    assert one.classes.names == ("background", "axon") and one.mode == "binary"
