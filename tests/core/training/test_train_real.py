"""Training on a real SEM crop (tests/data), and the budget a run is given.

The fixture is a 384 x 384 crop of an AxonDeepSeg SEM image with its manual
axon/myelin mask (tests/data/README.md), exported by the product in 128 px
tiles at 0.1 um/px, every tile labelled as a user's corrections would be.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
from napari_axons.core.training import TrainOptions, train
from sem_fixture import NAMES, sem_crop
from tiny_models import save_checkpoint, tiny_segformer
from train_data import labelled_export

pytestmark = [pytest.mark.model, pytest.mark.slow]

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def sem_export(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sem") / "export"
    labelled_export(folder, *sem_crop(), NAMES, tile_size=128, pixel_size=0.1)
    return folder


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def test_real_crop_trains_and_held_out_iou_rises(tmp_path, sem_export):
    opts = TrainOptions(steps=40, val_every=8, crop=128, batch_size=4, num_threads=1,
                        device="cpu", seed=0, base="none", plateau=0.0)
    rep = train([sem_export], tmp_path / "model", options=opts, verbose=False).report
    assert rep["model"] == {"base": None, "arch": "upernet-convnext"}
    assert len(rep["data"]["val_tiles"]) == 2 and len(rep["data"]["train_tiles"]) == 7
    recs = rep["validations"]
    assert [r["step"] for r in recs] == [8, 16, 24, 32, 40]
    assert recs[-1]["val_miou"] > recs[0]["val_miou"] + 0.1, [r["val_miou"] for r in recs]
    # the final scores (held-out tiles, their own grid) agree with the last validations
    result = rep["scores"]["result"]["overall"]
    assert result["axon"]["iou"] > 0.3 and result["myelin"]["iou"] > 0.3
    assert rep["pixel_size_um"] == 0.1 and rep["stopped"] == "steps"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("budget")
    image, classes = make_myelinated_sample((192, 320), seed=0)
    labelled_export(root / "export", image, classes, MYELINATED_CLASSES.names, tile_size=64,
                    labelled=range(12))
    return root / "export", save_checkpoint(tiny_segformer(2), root / "base")


@pytest.mark.parametrize("plateau", [0.0, 0.3])
def test_a_time_budget_is_used_unless_the_stopping_rule_fires(tmp_path, synthetic, plateau):
    export, base = synthetic
    minutes = 0.75  # 45 s: its last tenth is wider than the time kept for the final scores
    opts = TrainOptions(max_minutes=minutes, crop=64, num_threads=1, device="cpu",
                        base=str(base), lr=3e-3, plateau=plateau)
    t0 = time.perf_counter()
    rep = train([export], tmp_path / "model", options=opts, verbose=False).report
    seconds = time.perf_counter() - t0
    recs = rep["validations"]
    assert rep["stopped"] in ("budget", "plateau")
    if plateau == 0.0:
        assert rep["stopped"] == "budget"
    if rep["stopped"] == "budget":
        # ends in the last 10 % of the budget: the schedule is fitted to the clock
        assert 0.9 * minutes * 60 <= seconds <= minutes * 60, seconds
        assert recs[-1]["share"] == 1.0 and recs[-1]["lr"] < 1e-5
    else:
        # the rule: no gain of the smoothed curve for 0.3 of the budget, never in the first 0.2
        best, best_at = -1.0, 0.0
        for r in recs:  # the last real gain (> 0.001) of the smoothed curve
            if r["val_smooth"] > best + 1e-3:
                best, best_at = r["val_smooth"], r["share"]
        assert recs[-1]["share"] >= 0.2 and recs[-1]["share"] - best_at >= 0.3 - 1e-6
        assert seconds < minutes * 60
    # validations at regular steps (about 25 over the training time; fewer when reading the
    # data and building the model took much of a budget this small on a busy machine)
    assert 3 <= len(recs) <= 40
    gaps = {b["step"] - a["step"] for a, b in zip(recs[:-2], recs[1:-1], strict=True)}
    assert len(gaps) == 1
