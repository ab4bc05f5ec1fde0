"""Bad models and bad label files: one clear message each, from the CLI, the core and napari."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image
from reliability_helpers import all_files

from napari_axons.core.labels.labelfile import LabelFileError, read_labels_json
from napari_axons.core.labels.render import labels_to_mask
from tiny_models import save_checkpoint, tiny_segformer

# --------------------------------------------------------------------------- models (CLI)


def _save(model, folder):
    return save_checkpoint(model, folder, processor_size=64)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("models")
    return {"good": _save(tiny_segformer(), root / "good"),
            "one": _save(tiny_segformer(num_labels=1), root / "one-class")}


@pytest.fixture
def slide(tmp_path, picture):
    src = tmp_path / "slide.png"
    Image.fromarray(picture(64, 64)).save(src)
    return src


def _broken(tmp_path, models, how):
    folder = shutil.copytree(models["good"], tmp_path / f"model-{how}")
    weights = folder / "model.safetensors"
    if how == "no weights":
        weights.unlink()
    elif how == "corrupt weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    elif how == "garbage weights":
        weights.write_bytes(b"\x00" * 64)
    elif how == "pickled weights":
        import torch

        torch.save(tiny_segformer().state_dict(), folder / "pytorch_model.bin")
        weights.unlink()
    elif how == "no config":
        (folder / "config.json").unlink()
    elif how == "bad config":
        (folder / "config.json").write_text("{not json")
    return folder


MODEL_CASES = {
    "no weights": "no weights (model.safetensors) in the folder",
    "corrupt weights": "corrupt or truncated",
    "garbage weights": "corrupt or truncated",
    "pickled weights": "needs an explicit opt-in (--allow-pickle)",
    "no config": "no config.json: not a Hugging Face checkpoint folder",
    "bad config": "unreadable config",
}


@pytest.mark.model
@pytest.mark.parametrize("how", list(MODEL_CASES))
def test_broken_model_folder(tmp_path, models, slide, cli, how):
    folder = _broken(tmp_path, models, how)
    out = tmp_path / "out"
    run = cli("tile", slide, "-o", out, "--model", folder, "--torch-threads", "1")
    assert run.code == 1
    run.one_error(str(folder), MODEL_CASES[how])
    assert len(run.lines) == 1, run.err
    assert not out.exists()  # the model is checked before anything is written


@pytest.mark.model
def test_one_class_model_is_a_sigmoid(tmp_path, models, slide, cli):
    """num_labels=1: one sigmoid logit (transformers' binary set-up), foreground above 0.5."""
    out = tmp_path / "out"
    run = cli("tile", slide, "-o", out, "--model", models["one"], "--torch-threads", "1")
    assert run.code == 0, run.err
    seg = json.loads((out / "manifest.json").read_text())["segmenter"]
    assert seg["output"] == "sigmoid" and seg["classes"] == ["background", "axon"]
    assert (out / "masks" / "slide_tile_0000_mask.png").is_file()


@pytest.mark.model
def test_missing_model_and_model_that_is_a_file(tmp_path, slide, cli):
    run = cli("tile", slide, "-o", tmp_path / "out", "--model", tmp_path / "nope")
    assert run.code == 1
    run.one_error(f"{tmp_path / 'nope'}: model folder does not exist")
    (tmp_path / "weights.bin").write_bytes(b"x")
    run = cli("tile", slide, "-o", tmp_path / "out", "--model", tmp_path / "weights.bin")
    assert run.code == 1
    run.one_error(f"{tmp_path / 'weights.bin'}: not a folder")
    assert not (tmp_path / "out").exists()


@pytest.mark.model
def test_good_model_and_class_index_out_of_range(tmp_path, models, slide, cli):
    run = cli("tile", slide, "-o", tmp_path / "out", "--model", models["good"],
              "--class-index", "5")
    assert run.code == 1
    run.one_error("class_index 5 is out of range")
    for option in ("--model-streams", "--torch-threads", "--batch-size"):
        run = cli("tile", slide, "-o", tmp_path / "out", "--model", models["good"], option, "0")
        assert run.code == 2  # a bad command line, refused before the model loads
        assert run.one_error() == f"napari-axons: error: argument {option}: must be >= 1, got 0"
    assert not (tmp_path / "out").exists()
    run = cli("tile", slide, "-o", tmp_path / "ok", "--model", models["good"],
              "--torch-threads", "2", "--model-streams", "2")
    assert run.code == 0, run.err
    assert all_files(tmp_path / "ok") == ["manifest.json", "masks/slide_tile_0000_mask.png",
                                          "slide_tile_0000.png", "slide_tile_0000__labels.json"]


# --------------------------------------------------------------------------- label files (core)


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


LABEL_FILES = {
    "malformed JSON": ('{"labels": [', "malformed JSON: "),
    "empty file": ("", "empty file"),
    "not UTF-8": (b"\xff\xfe\x00garbage", "not UTF-8 text"),
    "foreign JSON": ('{"type": "FeatureCollection", "features": []}', "no 'labels' list"),
    "labels not a list": ('{"labels": {"a": 1}}', "'labels' is a dict, not a list"),
    "vertex not a number": (json.dumps({"labels": [{"label_type": "polygon", "label_class": None,
                                                    "regions": [[{"x": "a", "y": 1}]]}]}),
                            "is not a finite number"),
    "label without type": ('{"labels": [{"regions": []}]}', "has no string 'label_type'"),
}


@pytest.mark.parametrize("case", list(LABEL_FILES))
def test_bad_label_files(tmp_path, case):
    content, message = LABEL_FILES[case]
    path = _write(tmp_path, "tile__labels.json", content)
    with pytest.raises(LabelFileError) as info:
        read_labels_json(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    if case not in ("malformed JSON", "empty file", "not UTF-8"):  # a parsed document
        with pytest.raises(LabelFileError, match=message.replace("(", r"\(")):
            labels_to_mask(json.loads(content), (8, 8), path=path)


def test_unknown_label_types_are_skipped_with_a_warning(tmp_path):
    """Django-Labeller's other label types render nothing, and each one says so."""
    square = [{"x": 1, "y": 1}, {"x": 4, "y": 1}, {"x": 4, "y": 4}, {"x": 1, "y": 4}]
    doc = {"image_filename": "t.png", "completed_tasks": [], "labels": [
        {"label_type": "polygon", "label_class": "axon", "object_id": "p", "regions": [square]},
        {"label_type": "point", "label_class": "axon", "object_id": "pt",
         "position": {"x": 6, "y": 6}},
        {"label_type": "box", "label_class": "axon", "object_id": "bx",
         "centre": {"x": 6, "y": 6}, "size": {"x": 2, "y": 2}},
        {"label_type": "hologram", "label_class": "axon", "object_id": "h"},
    ]}
    path = _write(tmp_path, "t__labels.json", json.dumps(doc))
    mask, warnings = labels_to_mask(read_labels_json(path), (8, 8), path=path)
    expected = np.zeros((8, 8), np.uint8)
    expected[1:5, 1:5] = 255
    np.testing.assert_array_equal(mask, expected)
    assert len(warnings) == 3
    for kind, oid in [("point", "pt"), ("box", "bx"), ("hologram", "h")]:
        assert any(f"label type {kind!r} cannot be rasterised" in w and oid in w for w in warnings)


# --------------------------------------------------------------------------- napari reader


def _napari_reader():
    from napari_axons._reader import napari_get_reader

    return napari_get_reader


def _junk(tmp_path):
    good = tmp_path / "good.png"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(good)
    tifffile.imwrite(tmp_path / "good.tif", noise)
    folder = tmp_path / "folder.tif"
    folder.mkdir()
    return {
        "zero-byte": _write(tmp_path, "empty.tif", b""),
        "text named .tif": _write(tmp_path, "text.tif", "hello"),
        "text named .png": _write(tmp_path, "text.png", "hello"),
        "truncated PNG": _write(tmp_path, "cut.png", good.read_bytes()[:6000]),
        "truncated TIFF": _write(tmp_path, "cut.tif", (tmp_path / "good.tif").read_bytes()[:6000]),
        "missing": tmp_path / "missing.tif",
        "folder": folder,
        "malformed labels": _write(tmp_path, "x__labels.json", '{"labels": ['),
        "foreign JSON": _write(tmp_path, "y__labels.json", '{"foo": 1}'),
        "unknown extension": _write(tmp_path, "notes.xyz", "hello"),
    }


@pytest.mark.parametrize("case", ["zero-byte", "text named .tif", "text named .png",
                                  "truncated PNG", "truncated TIFF", "missing", "folder",
                                  "malformed labels", "foreign JSON", "unknown extension"])
def test_napari_reader_never_raises_on_junk(tmp_path, case):
    """napari shows a notification, never a crash: get_reader returns None, or a reader whose
    error is one line naming the file."""
    napari_get_reader = _napari_reader()
    path = _junk(tmp_path)[case]
    reader = napari_get_reader(str(path))
    if reader is None:
        return
    assert callable(reader)
    if case == "truncated PNG":  # decoded whole anyway: the error comes when the file is opened
        with pytest.raises(ValueError, match="cannot decode image"):
            reader(str(path))
    try:
        layers = reader(str(path))
        # Lazy data: the error may only come when napari draws it. It must still be
        # one line naming the file (napari shows it as a notification).
        for data, _meta, _kind in layers:
            levels = data if isinstance(data, list) else [data]
            np.asarray(levels[-1])
    except (ValueError, OSError) as exc:
        assert path.name in str(exc) and "\n" not in str(exc)
    else:  # pragma: no cover - a reader that "succeeds" on junk is a bug
        pytest.fail(f"the reader accepted {case}")
