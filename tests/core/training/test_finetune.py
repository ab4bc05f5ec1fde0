"""Fine-tuning from a base: its BatchNorm statistics stay, and the run says what it starts from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from napari_axons.core.image.sample import MYELINATED_CLASSES, make_myelinated_sample
from napari_axons.core.training import TrainOptions, train
from napari_axons.core.training.models import build_model, new_processor
from train_data import labelled_export

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def export_and_base(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    image, classes = make_myelinated_sample((128, 256), seed=3)
    labelled_export(root / "export", image, classes, MYELINATED_CLASSES.names, tile_size=64)
    base = build_model("upernet-convnext", MYELINATED_CLASSES.names)  # BatchNorm in its head
    folder = root / "base"
    base.save_pretrained(folder)
    new_processor().save_pretrained(folder)
    return root / "export", folder


def _running_stats(folder):
    weights = load_file(str(folder / "model.safetensors"))
    return {k: v for k, v in weights.items() if k.endswith(("running_mean", "running_var"))}


def test_fine_tuning_keeps_the_bases_batchnorm_statistics(tmp_path, export_and_base, capsys):
    export, base = export_and_base
    opts = TrainOptions(steps=3, crop=64, num_threads=1, device="cpu", base=str(base))
    train([export], tmp_path / "tuned", options=opts, verbose=True)
    before, after = _running_stats(base), _running_stats(tmp_path / "tuned")
    assert before and set(before) == set(after)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    err = capsys.readouterr().err.splitlines()
    assert f"fine-tuning {base} (--base none trains a new model)" in err
    assert not any(line.startswith("warning: none of the") for line in err)

    # a new model learns its statistics from the crops
    new = TrainOptions(steps=3, crop=64, num_threads=1, device="cpu", base="none")
    train([export], tmp_path / "new", options=new, verbose=False)
    fresh = _running_stats(tmp_path / "new")
    assert any(not np.array_equal(fresh[k], before[k]) for k in before)


def test_a_draft_never_corrected_is_named(tmp_path, export_and_base, capsys):
    """Every label a model's own draft (source auto:...): one warning line at the start."""
    import shutil

    export, base = export_and_base
    draft = tmp_path / "draft"
    shutil.copytree(export, draft)
    files = sorted(draft.glob("*__labels.json"))
    for path in files:
        doc = json.loads(path.read_text())
        for label in doc["labels"]:
            label["source"] = "auto:otsu"
        path.write_text(json.dumps(doc))
    opts = TrainOptions(steps=1, crop=64, num_threads=1, device="cpu", base=str(base))
    rep = train([draft], tmp_path / "m", options=opts, verbose=True).report
    n = len(rep["data"]["train_tiles"])
    err = capsys.readouterr().err.splitlines()
    assert (f"warning: none of the {n} labelled training tile(s) was corrected by hand (every "
            "label is a model's draft, source auto:...): the model can only learn what it "
            "already draws") in err
