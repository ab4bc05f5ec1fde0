"""Segmenters: the built-in threshold, Hugging Face checkpoints, and their errors.

Model tests build tiny checkpoints from a config into ``tmp_path`` (never the hub).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_axons.core.image.sample import make_axon_sample
from napari_axons.core.segment import (
    HFSegmenter,
    ModelError,
    Segmenter,
    ThresholdSegmenter,
    clear_model_cache,
    load_segmenter,
    resolve_device,
)
from tiny_models import FAMILIES, push_bias, save_checkpoint, tiny_segformer

TILE = 512


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max((a | b).sum(), 1))


def split(image: np.ndarray, size: int = TILE) -> np.ndarray:
    h, w = image.shape[:2]
    return np.stack([image[y : y + size, x : x + size] for y in range(0, h, size)
                     for x in range(0, w, size)])


def join(tiles: np.ndarray, shape: tuple[int, int], size: int = TILE) -> np.ndarray:
    out = np.zeros(shape, tiles.dtype)
    k = 0
    for y in range(0, shape[0], size):
        for x in range(0, shape[1], size):
            out[y : y + size, x : x + size] = tiles[k]
            k += 1
    return out


@pytest.fixture(scope="module")
def sample():
    return make_axon_sample((2048, 2048), seed=0)


# --------------------------------------------------------------------------- threshold


def test_otsu_iou_on_sample(sample):
    image, truth = sample
    seg = load_segmenter("otsu")
    assert isinstance(seg, ThresholdSegmenter) and isinstance(seg, Segmenter)
    seg.prepare(image[::4, ::4])
    masks = seg.predict(split(image))
    assert masks.shape == (16, TILE, TILE) and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 1}
    assert iou(join(masks, truth.shape), truth) >= 0.8
    info = seg.info()
    json.dumps(info)
    assert info["name"] == "otsu" and info["threshold_source"] == "overview"


def test_otsu_batch_equals_per_tile_and_deterministic(sample):
    image, _ = sample
    seg = ThresholdSegmenter()
    seg.prepare(image[::8, ::8])
    tiles = split(image)[:6]
    batch = seg.predict(tiles)
    single = np.concatenate([seg.predict(t[None]) for t in tiles])
    np.testing.assert_array_equal(batch, single)
    np.testing.assert_array_equal(batch, seg.predict(tiles))


def test_otsu_without_prepare_and_fixed_threshold(sample):
    image, truth = sample
    tiles = split(image)
    unprepared = ThresholdSegmenter().predict(tiles)  # threshold from the batch itself
    assert iou(join(unprepared, truth.shape), truth) >= 0.8
    dark = ThresholdSegmenter(threshold=255).predict(tiles[:2])
    assert not dark.any()
    assert ThresholdSegmenter(threshold=10).info()["threshold_source"] == "manual"


def test_otsu_flat_and_empty_input():
    seg = ThresholdSegmenter()
    seg.prepare(np.full((64, 64, 3), 7, np.uint8))
    assert not seg.predict(np.full((2, 32, 32, 3), 7, np.uint8)).any()
    assert seg.predict(np.zeros((0, 32, 32, 3), np.uint8)).shape == (0, 32, 32)
    with pytest.raises(ValueError, match="uint8"):
        seg.predict(np.zeros((1, 32, 32, 3), np.float32))


def test_load_segmenter_unknown_spec():
    with pytest.raises(ModelError, match="otsu"):
        load_segmenter("unet")
    with pytest.raises(ModelError, match="otsu"):
        load_segmenter(42)


# --------------------------------------------------------------------------- tiny checkpoints


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
    clear_model_cache()


save = save_checkpoint


def confident(model, tiles, size=128, gain=300.0):
    """Make a random model decisive like a trained one: about half the pixels
    foreground, probabilities spread far from 0.5 (a random model's all sit near it)."""
    import torch
    from transformers import SegformerImageProcessor

    proc = SegformerImageProcessor(size={"height": size, "width": size})
    with torch.inference_mode():
        logits = model(**proc(images=list(tiles), return_tensors="pt")).logits
    diff = logits[:, 1] - logits[:, 0]
    clf = model.decode_head.classifier
    with torch.no_grad():
        clf.bias[1] -= diff.median()
        clf.weight.mul_(gain / float(diff.std()))
        clf.bias.mul_(gain / float(diff.std()))
    return model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """One saved tiny checkpoint per family, built once."""
    root = tmp_path_factory.mktemp("models")
    return {name: save(make(), root / name, processor_size=128) for name, make in FAMILIES.items()}


@pytest.fixture(scope="module")
def confident_dir(tmp_path_factory, tiles):
    """Tiny checkpoints whose outputs look like a trained model's."""
    root = tmp_path_factory.mktemp("confident")
    return {name: save(confident(make(), tiles), root / name, processor_size=128)
            for name, make in FAMILIES.items()}


@pytest.fixture(scope="module")
def tiles(sample):
    return split(sample[0][:1024, :1024])  # 4 real tiles


@pytest.mark.model
@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("towards", [0, 1])
def test_pushed_bias_gives_constant_mask(tmp_path, family, towards, tiles):
    folder = save(push_bias(FAMILIES[family](), towards), tmp_path / "m")
    seg = load_segmenter(folder, device="cpu", num_threads=1)
    masks = seg.predict(tiles[:2])
    assert masks.shape == (2, TILE, TILE) and masks.dtype == np.uint8
    assert (masks == (1 if towards == 1 else 0)).all()
    # class_index picks the other class
    other = load_segmenter(folder, class_index=0, num_threads=1).predict(tiles[:1])
    assert (other == (0 if towards == 1 else 1)).all()


@pytest.mark.model
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_masks_at_tile_size_and_match_transformers(confident_dir, family, tiles):
    import torch

    seg = load_segmenter(confident_dir[family], num_threads=1)
    assert isinstance(seg, HFSegmenter) and isinstance(seg, Segmenter)
    masks = seg.predict(tiles)
    assert masks.shape == (4, TILE, TILE)
    assert set(np.unique(masks)) <= {0, 1}
    # same as transformers' own post-processing (logits resized, then argmax)
    inputs = seg.processor(images=list(tiles), return_tensors="pt")
    with torch.inference_mode():
        out = seg.model(**inputs)
    ref = seg.processor.post_process_semantic_segmentation(out, target_sizes=[(TILE, TILE)] * 4)
    ref = np.stack([r.numpy() == 1 for r in ref])
    assert 0.05 < ref.mean() < 0.95
    assert ((masks > 0) == ref).mean() > 0.9999


@pytest.mark.model
def test_segformer_mask_full_size_with_512_processor(tmp_path, tiles):
    folder = save(tiny_segformer(), tmp_path / "m")  # processor resizes to 512: logits 128
    seg = load_segmenter(folder, num_threads=1)
    with __import__("torch").inference_mode():
        logits = seg.model(**seg.processor(images=[tiles[0]], return_tensors="pt")).logits
    assert logits.shape[-1] == TILE // 4
    assert seg.predict(tiles[:1]).shape == (1, TILE, TILE)
    assert seg.predict(split(tiles[0], 256)).shape == (4, 256, 256)  # any tile size


@pytest.mark.model
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_batch_equals_per_tile(tiny_dir, family, tiles):
    seg = load_segmenter(tiny_dir[family], batch_size=4, num_threads=1)
    batch = seg.predict(tiles)
    single = np.concatenate([seg.predict(t[None]) for t in tiles])
    np.testing.assert_array_equal(batch, single)
    # a tolerance that catches every tile: all recomputed alone, same masks
    always = load_segmenter(tiny_dir[family], batch_size=4, batch_tolerance=1.0, num_threads=1)
    np.testing.assert_array_equal(always.predict(tiles), single)
    assert always.reruns == len(tiles)
    seg3 = load_segmenter(tiny_dir[family], batch_size=3, num_threads=1)  # uneven chunks
    np.testing.assert_array_equal(seg3.predict(tiles), batch)


@pytest.mark.model
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_batch_equals_per_tile_confident_model(confident_dir, family, tiles):
    """A decisive model's logits are ~1000: batched kernels then move a logit near the
    threshold by ~1e-3, which flips pixels a check in probabilities (1e-5) would miss."""
    seg = load_segmenter(confident_dir[family], batch_size=4, num_threads=1)
    batch = seg.predict(tiles)
    assert 0.05 < (batch > 0).mean() < 0.95
    single = np.concatenate([seg.predict(t[None]) for t in tiles])
    np.testing.assert_array_equal(batch, single)
    unchecked = load_segmenter(confident_dir[family], batch_size=4, batch_tolerance=0,
                               num_threads=1).predict(tiles)
    assert (unchecked != single).mean() < 1e-4  # rounding moves few pixels; the check finds them


@pytest.mark.model
def test_cache_info_and_threads(tiny_dir):
    torch = pytest.importorskip("torch")
    a = load_segmenter(tiny_dir["segformer"], num_threads=1)
    b = load_segmenter(str(tiny_dir["segformer"]), threshold=0.7, num_threads=1)
    assert a.model is b.model  # loaded once
    info = json.loads(json.dumps(b.info()))
    assert info["kind"] == "huggingface" and info["model_type"] == "segformer"
    assert info["id2label"] == {"0": "LABEL_0", "1": "LABEL_1"}
    assert info["threshold"] == 0.7 and info["class_index"] == 1 and info["device"] == "cpu"
    assert len(info["weights_sha256"]) == 64 and info["weights_format"] == "safetensors"
    assert info["batch_size"] == 1 and info["bf16"] is False
    assert info["num_threads"] == 1 and info["streams"] == 1
    torch.set_num_threads(1)
    two = load_segmenter(tiny_dir["segformer"], num_threads=2, streams=1)
    two.predict(np.zeros((1, 64, 64, 3), np.uint8))
    assert torch.get_num_threads() == 1  # restored after predict


@pytest.mark.model
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_tile_path_runs_streams_at_once_the_segmenter_never(confident_dir, family, sample,
                                                                 tiles):
    import threading

    import torch

    from napari_axons.core.export import ExportOptions, plan_array
    from napari_axons.core.export.tilepath import TilePath

    one = load_segmenter(confident_dir[family], num_threads=1, streams=1)
    two = load_segmenter(confident_dir[family], num_threads=2, streams=2)
    assert (two.streams, two.stream_threads) == (2, 1)
    seen = []
    forward = two._forward

    def watched(pixel_values):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return forward(pixel_values)

    two._forward = watched
    torch.set_num_threads(1)
    alone = two.predict(tiles)  # a segmenter runs its batches in the caller's thread
    assert {name for name, _ in seen} == {threading.current_thread().name}

    seen.clear()
    both_running = threading.Barrier(2, timeout=60)  # broken unless two forwards overlap

    def overlapping(pixel_values):
        both_running.wait()
        return watched(pixel_values)

    two._forward = overlapping
    plan = plan_array(sample[0][:1024, :1024], ExportOptions(tile_size=TILE))
    with TilePath(two) as path:
        maps = np.stack([m for _, m in path.segment(plan.working, list(plan.grid))])
    assert len(seen) == len(tiles) and len({name for name, _ in seen}) == 2
    assert all(name.startswith("napari-axons-model") for name, _ in seen)
    assert {n for _, n in seen} == {1}  # each stream with num_threads // streams threads
    assert torch.get_num_threads() == 1  # the caller's count is left alone ...
    started_later = []
    t = threading.Thread(target=lambda: started_later.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert started_later == [1]  # ... and so is the one new threads inherit
    np.testing.assert_array_equal(maps, one.predict(tiles) > 0)
    np.testing.assert_array_equal(alone > 0, maps)
    assert 0.05 < maps.mean() < 0.95


def test_default_streams():
    from napari_axons.core.segment import default_streams

    assert [default_streams(n) for n in (1, 2, 3, 4, 16)] == [1, 2, 3, 4, 4]


@pytest.mark.model
def test_sharded_safetensors(tmp_path, tiny_dir, tiles):
    folder = save(tiny_segformer(), tmp_path / "m", processor_size=128, max_shard_size="100KB")
    assert (folder / "model.safetensors.index.json").is_file()
    seg = load_segmenter(folder, num_threads=1)
    assert len(seg.info()["weights"]) > 1
    assert seg.predict(tiles[:1]).shape == (1, TILE, TILE)
    shard = sorted(folder.glob("model-*.safetensors"))[0]
    shard.unlink()
    with pytest.raises(ModelError, match="shard"):
        load_segmenter(folder)


# --------------------------------------------------------------------------- errors


@pytest.fixture
def good(tmp_path, tiny_dir):
    """A fresh copy of the tiny SegFormer checkpoint, to break."""
    return shutil.copytree(tiny_dir["segformer"], tmp_path / "ckpt")


@pytest.mark.model
def test_missing_path_and_not_a_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ModelError, match="does not exist") as e:
        load_segmenter(missing)
    assert str(missing) in str(e.value)
    f = tmp_path / "model.txt"
    f.write_text("x")
    with pytest.raises(ModelError, match="not a folder") as e:
        load_segmenter(f)
    assert str(f) in str(e.value)


@pytest.mark.model
@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("config.json", "no config.json"),
        ("model.safetensors", "no weights"),
        ("preprocessor_config.json", "no preprocessor_config.json"),
    ],
)
def test_missing_files(good, remove, message):
    (good / remove).unlink()
    with pytest.raises(ModelError, match=message) as e:
        load_segmenter(good)
    assert str(good) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.model
def test_truncated_weights(good):
    w = good / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ModelError, match="corrupt or truncated") as e:
        load_segmenter(good)
    assert str(w) in str(e.value)
    w.write_bytes(b"")
    with pytest.raises(ModelError, match="corrupt or truncated"):
        load_segmenter(good)


@pytest.mark.model
def test_invalid_config(good):
    (good / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="config"):
        load_segmenter(good)
    (good / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    with pytest.raises(ModelError, match="no-such-model"):
        load_segmenter(good)


@pytest.mark.model
def test_pickle_needs_opt_in(good, tiles):
    import torch

    model = tiny_segformer()
    (good / "model.safetensors").unlink()
    torch.save(model.state_dict(), good / "pytorch_model.bin")
    with pytest.raises(ModelError, match="allow_pickle=True") as e:
        load_segmenter(good)
    assert "pytorch_model.bin" in str(e.value) and "code" in str(e.value)
    seg = load_segmenter(good, allow_pickle=True, num_threads=1)
    assert seg.info()["weights_format"] == "pickle"
    assert seg.predict(tiles[:1]).shape == (1, TILE, TILE)


@pytest.mark.model
def test_one_class_model_is_a_sigmoid(tmp_path):
    """num_labels=1 is transformers' binary set-up (one sigmoid logit), not a broken model;
    tests/core/test_model_inputs.py checks its masks."""
    folder = save(tiny_segformer(num_labels=1), tmp_path / "one")
    seg = load_segmenter(folder, num_threads=1)
    assert seg.sigmoid and seg.class_index == 0 and seg.classes.names == ("background", "axon")


@pytest.mark.model
def test_class_index_out_of_range(tiny_dir):
    with pytest.raises(ModelError, match="class_index 2 is out of range"):
        load_segmenter(tiny_dir["segformer"], class_index=2)
    with pytest.raises(ModelError, match="out of range"):
        load_segmenter(tiny_dir["segformer"], class_index=-1)


@pytest.mark.model
def test_bad_options(tiny_dir):
    with pytest.raises(ModelError, match="threshold"):
        load_segmenter(tiny_dir["segformer"], threshold=1.5)
    with pytest.raises(ModelError, match="unknown device"):
        load_segmenter(tiny_dir["segformer"], device="tpu")
    with pytest.raises(ModelError, match="streams must be >= 1, got 0"):
        load_segmenter(tiny_dir["segformer"], streams=0)


@pytest.mark.model
def test_unavailable_accelerator(tiny_dir):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match="CUDA is not available"):
        load_segmenter(tiny_dir["segformer"], device="cuda")
    with pytest.raises(ModelError, match="CUDA is not available"):
        resolve_device("cuda:1")
    if not torch.backends.mps.is_available():
        with pytest.raises(ModelError, match="MPS"):
            resolve_device("mps")
    assert resolve_device("auto") == "cpu"
