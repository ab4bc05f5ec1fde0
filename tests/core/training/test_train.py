"""``napari-axons train``: data, a tiny fine-tune that learns, the saved folder, resume, bad input.

Models are the tiny checkpoints of ``tests/tiny_models.py`` given as ``--base``
(fast: seconds); the exports are made by the product from the synthetic
myelinated sample, with ``__labels.json`` written for the labelled tiles.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_axons.cli import main
from napari_axons.core.common import ClassTable
from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
from napari_axons.core.training import TrainOptions, collect, split_tiles, train
from napari_axons.core.training.data import load_tile, overlap_groups

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_models import save_checkpoint, tiny_segformer  # noqa: E402
from train_data import labelled_export  # noqa: E402

pytestmark = pytest.mark.model

NAMES = MYELINATED_CLASSES.names
SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def nerve():
    return make_myelinated_sample((192, 320), seed=0)


@pytest.fixture(scope="module")
def export3(tmp_path_factory, nerve):
    """A 3-class export of 64 px tiles (15 tiles; 12 labelled)."""
    folder = tmp_path_factory.mktemp("exp3") / "export"
    labelled_export(folder, *nerve, NAMES, tile_size=64, labelled=range(12), pixel_size=0.05)
    return folder


@pytest.fixture(scope="module")
def base2(tmp_path_factory):
    """A tiny 2-class SegFormer checkpoint (background, axon)."""
    return save_checkpoint(tiny_segformer(2), tmp_path_factory.mktemp("base2") / "tiny")


def _opts(**kw):
    base = {"steps": 12, "batch_size": 4, "crop": 64, "num_threads": 1, "seed": 0,
            "device": "cpu", "plateau": 0.0, "scale_jitter": (1.0, 1.0), "base": "none"}
    base.update(kw)
    return TrainOptions(**base)


# --------------------------------------------------------------------------- data


def test_collect_labelled_tiles_and_classes(export3, nerve):
    data = collect([export3])
    assert data.classes.names == ("background", "myelin", "axon")
    assert [t.index for t in data.tiles] == list(range(12))  # unlabelled tiles unused
    assert data.exports[0]["tiles"] == 15 and data.exports[0]["labelled"] == 12
    assert data.exports[0]["pixel_size_um"] == data.pixel_size_um() == 0.05
    t = data.tiles[5]
    image, class_map = load_tile(t, data.classes)
    y, x, h, w = t.box
    np.testing.assert_array_equal(image, nerve[0][y : y + h, x : x + w])
    # polygons render back to the truth (Django-Labeller's rule: outline pixels inside)
    assert (class_map == nerve[1][y : y + h, x : x + w]).mean() > 0.97


def test_empty_label_file_is_all_background(tmp_path, nerve):
    folder = tmp_path / "export"
    labelled_export(folder, *nerve, NAMES, tile_size=64, labelled=[0, 1])
    lab = folder / "img_tile_0001__labels.json"
    doc = json.loads(lab.read_text())
    doc["labels"] = []
    lab.write_text(json.dumps(doc))
    data = collect([folder])
    assert [t.index for t in data.tiles] == [0, 1]
    _, cm = load_tile(data.tiles[1], data.classes)
    assert cm.shape == (64, 64) and not cm.any()


def test_mask_png_when_no_label_file(tmp_path, nerve):
    from PIL import Image

    folder = tmp_path / "export"
    labelled_export(folder, *nerve, NAMES, tile_size=64, labelled=[])
    (folder / "masks").mkdir()
    truth = nerve[1][:64, :64]
    Image.fromarray(((truth == 2) * 255).astype(np.uint8)).save(folder / "masks" /
                                                                "img_tile_0000_mask.png")
    data = collect([folder])
    assert data.classes.names == ("background", "axon")  # the seed's default table
    _, cm = load_tile(data.tiles[0], data.classes)
    np.testing.assert_array_equal(cm, (truth == 2).astype(np.uint8))
    named = collect([folder], classes=ClassTable.from_spec("fibre"))
    assert named.classes.names == ("background", "fibre")


def test_split_keeps_overlapping_edge_tiles_together(export3):
    data = collect([export3])
    # 192 x 320 in 64 px tiles: no shifted edge tiles; add overlap by hand through boxes
    groups = overlap_groups(data.tiles)
    assert all(len(g) == 1 for g in groups)
    from dataclasses import replace

    tiles = [replace(t, box=(0, 40, 64, 64)) if t.index == 1 else t for t in data.tiles]
    groups = overlap_groups(tiles)
    together = next(g for g in groups if 0 in g)
    assert sorted(together) == [0, 1]  # box x 40..104 meets tile 0 (0..64) and not tile 2
    for seed in range(6):
        tr, va = split_tiles(tiles, val_fraction=0.25, seed=seed)
        sides = {t.index: ("v" if t in va else "t") for t in tiles}
        assert sides[0] == sides[1]
        assert 2 <= len(va) <= 4 and len(tr) + len(va) == 12


# --------------------------------------------------------------------------- learning


@pytest.fixture(scope="module")
def trained3(tmp_path_factory, export3, base2):
    """A fine-tune of the 2-class tiny base on 3 classes, a few dozen steps."""
    out = tmp_path_factory.mktemp("run3") / "model"
    res = train([export3], out, options=_opts(steps=36, val_every=3, base=str(base2), lr=3e-3),
                verbose=False)
    return out, res.report


def test_validation_iou_rises(trained3):
    _, rep = trained3
    mious = [r["val_miou"] for r in rep["validations"]]
    assert [r["step"] for r in rep["validations"]] == list(range(3, 37, 3))
    assert rep["steps"] == 36 and rep["stopped"] == "steps"
    assert max(mious[-3:]) > mious[0] + 0.15, mious
    assert rep["best"]["val_iou"]["axon"] > 0.5
    assert all(r["train_loss"] is not None and r["val_loss"] is not None
               for r in rep["validations"])
    # the learning rate warmed up, then decayed to (nearly) 0 at the last step
    lrs = [r["lr"] for r in rep["validations"]]
    assert max(lrs) == pytest.approx(3e-3, rel=0.05) and lrs[-1] < 1e-5


def test_finetune_with_another_class_count(trained3):
    out, rep = trained3
    cfg = json.loads((out / "config.json").read_text())
    assert {int(k): v for k, v in cfg["id2label"].items()} == {0: "background", 1: "myelin",
                                                              2: "axon"}
    assert rep["model"]["base"]


def test_saved_folder_is_a_finished_checkpoint(trained3):
    out, rep = trained3
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.json", "model.safetensors", "napari_axons.json",
                     "preprocessor_config.json", "training.json", "training.png"]
    assert not out.with_name(out.name + ".partial").exists()
    meta = json.loads((out / "napari_axons.json").read_text())
    assert meta["trained_on"] == [rep["data"]["exports"][0]["folder"]]
    assert meta["pixel_size_um"] == rep["data"]["pixel_size_um"] == 0.05
    on_disk = json.loads((out / "training.json").read_text())
    assert on_disk["best"]["step"] == rep["best"]["step"]
    assert on_disk["scores"]["result"]["overall"]["axon"]["iou"] == rep["best"]["val_iou"]["axon"]
    assert on_disk["scores"]["base"] is not None and on_disk["comparison"]["better"] is True
    assert on_disk["data"]["class_pixels"]["train"]["myelin"] > 0
    from PIL import Image

    with Image.open(out / "training.png") as im:
        assert im.size[0] > 300 and im.size[1] > 200


def test_loader_reproduces_the_reported_validation_masks(tmp_path, nerve, base2):
    """A 2-class model: the loader's 0/255 mask (class 1 above 0.5) is the argmax."""
    import hashlib

    from napari_axons.core.segment import load_segmenter

    folder = tmp_path / "export"
    axon_only = (nerve[1] == 2).astype(np.uint8)
    labelled_export(folder, nerve[0], axon_only, ("background", "axon"), tile_size=64,
                    labelled=range(10))
    out = tmp_path / "model"
    res = train([folder], out, options=_opts(steps=9, base=str(base2), lr=3e-3), verbose=False)
    data = collect([folder])
    val = [t for t in data.tiles if str(t.tile) in res.report["data"]["val_tiles"]]
    assert len(val) == len(res.report["validation"]) >= 2
    tiles = np.stack([load_tile(t, data.classes)[0] for t in val])
    seg = load_segmenter(str(out), num_threads=1)
    masks = seg.predict(tiles)
    for m, entry in zip(masks, res.report["validation"], strict=True):
        class_map = (m > 0).astype(np.uint8)
        assert hashlib.sha256(class_map.tobytes()).hexdigest() == entry["sha256"]
        assert np.bincount(class_map.ravel(), minlength=2).tolist() == entry["pixels"]


def test_loader_reproduces_three_class_maps(trained3, export3):
    """The normal loader's argmax over all classes gives the class maps training reported."""
    import hashlib

    from napari_axons.core.segment import load_segmenter

    out, rep = trained3
    data = collect([export3])
    val = [t for t in data.tiles if str(t.tile) in rep["data"]["val_tiles"]]
    assert len(val) == len(rep["validation"]) >= 2
    tiles = np.stack([load_tile(t, data.classes)[0] for t in val])
    seg = load_segmenter(str(out), classes="all", num_threads=1)
    assert seg.classes.names == NAMES
    maps = np.asarray(seg.predict(tiles))
    assert set(np.unique(maps)) <= {0, 1, 2} and (maps == 1).any() and (maps == 2).any()
    for m, entry in zip(maps, rep["validation"], strict=True):
        assert hashlib.sha256(m.astype(np.uint8).tobytes()).hexdigest() == entry["sha256"]


# --------------------------------------------------------------------------- resume


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "napari_axons", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _saved_step(state: Path) -> int:
    """The step of the newest complete resume checkpoint (0 when none)."""
    best = 0
    for p in state.glob("checkpoint-*"):
        try:
            best = max(best, int(json.loads((p / "trainer_state.json").read_text())["global_step"]))
        except (OSError, ValueError, KeyError):
            continue  # killed while it was written: not a checkpoint
    return best


def test_resume_after_sigkill(tmp_path, export3, base2):
    out = tmp_path / "model"
    args = ["train", export3, "-o", out, "--base", base2, "--steps", "24", "--val-every", "3",
            "--crop", "64", "--batch-size", "2", "--torch-threads", "1", "--device", "cpu",
            "--lr", "3e-3", "--plateau", "0"]
    proc = _cli(*args)
    state = out.with_name("model.partial") / "state"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            # the Trainer keeps one checkpoint (save_total_limit=1): kill as soon as one
            # is saved (every 3 steps), which leaves 21 steps of margin before the run ends
            done = [p for p in state.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
            if done or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert not out.exists()  # nothing that looks like a finished model
    assert not (out.with_name("model.partial") / "config.json").exists()
    saved = _saved_step(state)  # the newest checkpoint whose trainer_state.json is complete
    assert 3 <= saved < 24 and saved % 3 == 0

    again = _cli("train", "-o", out, "--resume", "--torch-threads", "1", "--device", "cpu")
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    rep = json.loads((out / "training.json").read_text())
    steps = [r["step"] for r in rep["validations"]]
    assert steps == list(range(3, 25, 3))  # continued, nothing repeated or lost
    assert rep["steps"] == 24 and rep["stopped"] == "steps"
    first_resumed = [ln for ln in stderr.splitlines() if ln.startswith("step ")][0]
    assert first_resumed.startswith(f"step {saved + 3} ")
    assert stdout.startswith(f"trained {out}")
    n_train, n_val = len(rep["data"]["train_tiles"]), len(rep["data"]["val_tiles"])
    assert n_train + n_val == rep["data"]["exports"][0]["labelled"] and n_train and n_val
    assert stdout.splitlines()[1] == (
        f"{n_train} training tile{'s' * (n_train != 1)}, {n_val} validation "
        f"tile{'s' * (n_val != 1)} (held out at random; tiles that overlap stay on one side); "
        f"kept the model of step {rep['best']['step']} (its best validation)")


# --------------------------------------------------------------------------- bad input


def _run_cli(capsys, *args):
    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_no_labelled_tile(tmp_path, capsys, nerve):
    folder = tmp_path / "export"
    labelled_export(folder, *nerve, NAMES, tile_size=64, labelled=[])
    rc, out, err = _run_cli(capsys, "train", folder, "-o", tmp_path / "m")
    assert rc == 1 and out == ""
    assert _one_line(err) == (f"napari-axons: error: {folder}: no labelled tile (15 tiles, none "
                              "with a __labels.json or masks/*_mask.png beside it)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "img.tif"]


def test_disagreeing_classes(tmp_path, capsys, nerve):
    a, b = tmp_path / "a" / "export", tmp_path / "b" / "export"
    labelled_export(a, *nerve, NAMES, tile_size=64, labelled=[0, 1])
    labelled_export(b, *nerve, NAMES, tile_size=64, labelled=[0, 1])
    for folder, names in ((a, NAMES), (b, ("background", "axon", "myelin"))):
        m = json.loads((folder / "manifest.json").read_text())
        m["classes"] = ClassTable(names).to_json()
        (folder / "manifest.json").write_text(json.dumps(m))
    rc, _, err = _run_cli(capsys, "train", a, b, "-o", tmp_path / "m")
    assert rc == 1
    assert _one_line(err) == (f"napari-axons: error: {b}: its classes (background, axon, myelin) "
                              f"disagree with those of {a} (background, myelin, axon); train on "
                              "exports of one class table")
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()


def test_base_not_a_segmentation_checkpoint(tmp_path, capsys, export3):
    from transformers import BertConfig

    bert = tmp_path / "bert"
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
               intermediate_size=8).save_pretrained(bert)
    rc, _, err = _run_cli(capsys, "train", export3, "-o", tmp_path / "m", "--base", bert)
    assert rc == 1
    assert _one_line(err) == (f"napari-axons: error: {bert}: --base is not a semantic-segmentation "
                              "checkpoint (model type 'bert')")
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = _run_cli(capsys, "train", export3, "-o", tmp_path / "m", "--base", empty)
    assert _one_line(err) == (f"napari-axons: error: {empty}: --base is not a Hugging Face "
                              "checkpoint (no config.json)")
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()


def test_unwritable_output(tmp_path, capsys, export3):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = blocker / "model"
    rc, _, err = _run_cli(capsys, "train", export3, "-o", out, "--steps", "1")
    assert rc == 1
    assert _one_line(err) == f"napari-axons: error: {out}: cannot write there (Not a directory)"


def test_existing_output_and_nothing_to_resume(tmp_path, capsys, export3):
    out = tmp_path / "m"
    out.mkdir()
    (out / "config.json").write_text("{}")
    rc, _, err = _run_cli(capsys, "train", export3, "-o", out)
    assert _one_line(err) == (f"napari-axons: error: {out}: already exists and is not empty; "
                              "choose another -o or add --overwrite")
    rc, _, err = _run_cli(capsys, "train", "-o", tmp_path / "n", "--resume")
    assert rc == 1
    assert _one_line(err) == (f"napari-axons: error: {tmp_path / 'n.partial'}: no interrupted "
                              "training run to resume")


def test_command_line_errors(tmp_path, capsys, export3):
    rc, _, err = _run_cli(capsys, "train", "-o", tmp_path / "m")
    assert rc == 2
    assert _one_line(err) == "napari-axons: error: give at least one EXPORT_DIR (or --resume)"
    rc, _, err = _run_cli(capsys, "train", export3, "-o", tmp_path / "m", "--steps", "0")
    assert rc == 2
    assert _one_line(err) == "napari-axons: error: argument --steps: must be >= 1, got 0"
    rc, _, err = _run_cli(capsys, "train", export3, "-o", tmp_path / "m", "--plateau", "1")
    assert _one_line(err) == "napari-axons: error: argument --plateau: must be in [0, 1), got 1"
    rc, _, err = _run_cli(capsys, "train", export3, "-o", tmp_path / "m", "--max-minutes", "-1")
    assert _one_line(err) == "napari-axons: error: argument --max-minutes: must be > 0, got -1"
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.partial").exists()


def test_bad_mask_found_while_reading_leaves_no_partial_run(tmp_path, capsys, nerve):
    """A run that fails on its data before a first checkpoint leaves nothing that blocks the next."""
    from PIL import Image

    folder = tmp_path / "export"
    labelled_export(folder, *nerve, ("background", "axon"), tile_size=64, labelled=[])
    bad = Image.fromarray(np.full((64, 64), 2, np.uint8), mode="P")
    bad.putpalette(ClassTable.from_names(["axon", "myelin"]).palette())
    (folder / "masks").mkdir(exist_ok=True)
    for index in (0, 5, 10):  # separate tiles: one can be held out for validation
        bad.save(folder / "masks" / f"img_tile_{index:04d}_mask.png")
    rc, out, err = _run_cli(capsys, "train", folder, "-o", tmp_path / "m", "--steps", "1",
                            "--torch-threads", "1", "--device", "cpu")
    assert rc == 1 and out == ""
    line = _one_line(err)
    assert line.startswith(f"napari-axons: error: {folder}/masks/img_tile_00")
    assert line.endswith("_mask.png: mask value 2 is not a class (the table has 2 classes)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "img.tif"]
