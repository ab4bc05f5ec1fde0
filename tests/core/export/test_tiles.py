"""The one tile path: local threads, a dask cluster and the widget's segment half agree.

And the pieces of it: the class map, the padding rule, exports from plans that
are already open (in-memory images included).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.common import DEFAULT_TABLE, ClassTable, ExportError
from napari_axons.core.export import ExportJob, ExportOptions, plan_array, plan_image
from napari_axons.core.export import tilepath as tiles_mod
from napari_axons.core.export.tilepath import TilePath, as_class_map, export_classes, zero_padding
from napari_axons.core.geometry import TileBox
from napari_axons.core.segment import load_segmenter
from slide_helpers import drain, filament_tif

OPTIONS = ExportOptions(tile_size=256, threads=2)


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    """A 700 x 900 RGB tiled TIFF of bright filaments: 12 tiles of 256, edge tiles shifted."""
    return filament_tif(tmp_path_factory.mktemp("slide") / "slide.tif", 700, 900, 8, seed=5)



def files(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob(pattern))
            if p.is_file()}


@pytest.fixture
def predict_calls(monkeypatch):
    """Counts the tiles that go through :func:`napari_axons.core.export.tilepath.predict_batch`."""
    seen = []
    original = tiles_mod.predict_batch

    def counting(batch, segmenter, classes=None):
        seen.extend(b.index for b in batch.boxes)
        return original(batch, segmenter, classes)

    monkeypatch.setattr(tiles_mod, "predict_batch", counting)
    return seen


def three_paths(slide, tmp_path, spec, predict_calls):
    """Export ``slide`` locally, on a 2-worker dask cluster, and from the widget's segment half."""
    from napari_axons._qt._worker import LOADED, segment_tiles
    from napari_axons.core.export.cluster import run_distributed

    outs = {name: tmp_path / name for name in ("local", "dask", "widget")}
    job = ExportJob([slide], outs["local"], OPTIONS, segmenter=load_segmenter(spec[0], **spec[1]))
    _, local = drain(job.run())
    job.close()
    assert sorted(predict_calls) == list(range(12))  # every tile through the one function

    job = ExportJob([slide], outs["dask"], OPTIONS, segmenter=load_segmenter(spec[0], **spec[1]))
    _, dask = drain(run_distributed(job, workers=2, segmenter_spec=spec))
    job.close()
    assert dask == local

    predict_calls.clear()
    plan = plan_image(slide, OPTIONS)
    seg = load_segmenter(spec[0], **spec[1])
    out = list(segment_tiles(plan.working, list(plan.grid), lambda: seg))
    assert out[0] == LOADED and sorted(predict_calls) == list(range(12))
    maps = {box.index: m for box, m in out[1:]}
    assert all(m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1} for m in maps.values())
    job = ExportJob.from_plans([plan], outs["widget"], OPTIONS,
                               mask_reader=lambda plan, box: maps[box.index],
                               label_source=f"auto:{seg.name}")
    drain(job.run())
    plan.source.close()
    return outs, maps


def assert_same_outputs(outs):
    for pattern in ("masks/*.png", "*__labels.json", "*.png"):
        got = {name: files(root, pattern) for name, root in outs.items()}
        assert len(got["local"]) == 12
        assert got["dask"] == got["local"], pattern
        assert got["widget"] == got["local"], pattern


@pytest.mark.slow  # a local dask cluster
def test_local_dask_and_widget_masks_are_byte_identical_through_one_function(
        slide, tmp_path, predict_calls):
    outs, maps = three_paths(slide, tmp_path, ("otsu", {}), predict_calls)
    assert_same_outputs(outs)
    mask = np.asarray(Image.open(outs["local"] / "masks" / "slide_tile_0005_mask.png"))
    np.testing.assert_array_equal(mask, maps[5] * 255)  # the seed's 0/255 on disk
    assert 0.005 < mask.mean() / 255 < 0.5


@pytest.mark.model
@pytest.mark.slow  # a local dask cluster whose workers import torch
def test_a_checkpoint_with_two_streams_gives_the_same_masks_on_every_path(
        slide, tmp_path, predict_calls):
    pytest.importorskip("torch")
    from tiny_models import save_checkpoint, tiny_segformer

    model_dir = save_checkpoint(tiny_segformer(), tmp_path / "tiny", processor_size=128)
    spec = (str(model_dir), {"device": "cpu", "num_threads": 2, "streams": 2, "batch_size": 2})
    outs, _ = three_paths(slide, tmp_path, spec, predict_calls)
    assert_same_outputs(outs)


# --------------------------------------------------------------------------- the steps


def test_class_map_of_old_style_and_multi_class_masks():
    old = np.array([[0, 255], [255, 0]], np.uint8)
    np.testing.assert_array_equal(as_class_map(old), [[0, 1], [1, 0]])
    three = ClassTable.from_names(["axon", "myelin"])
    np.testing.assert_array_equal(as_class_map(np.array([[0, 2], [1, 0]]), three),
                                  [[0, 2], [1, 0]])
    assert as_class_map(np.array([[0, 2]]), three).dtype == np.uint8


def test_padding_rule_zeroes_only_outside_the_image():
    box = TileBox(0, -2, 1, 4, 4)  # hangs 2 rows over the top; the image is 5 x 4
    out = zero_padding(np.ones((4, 4), np.uint8), box, 5, 4)
    expected = np.zeros((4, 4), np.uint8)
    expected[2:, :3] = 1
    np.testing.assert_array_equal(out, expected)
    inside = np.ones((4, 4), np.uint8)
    assert zero_padding(inside, TileBox(0, 0, 0, 4, 4), 5, 4) is inside


def test_a_small_image_is_padded_and_its_mask_stays_inside(tmp_path):
    img = np.full((100, 120, 3), 230, np.uint8)  # all foreground for a fixed threshold
    seg = load_segmenter("otsu", threshold=100, min_size=0)
    plan = plan_array(img, ExportOptions(tile_size=128), name="small")
    with TilePath(seg) as path:
        [(box, cmap)] = list(path.segment(plan.working, list(plan.grid)))
    assert (box.y, box.x) == (-28, -8)
    assert cmap[28:, 8:].all() and not cmap[:28].any() and not cmap[:, :8].any()


def test_export_classes_default_label_class_and_segmenter_table():
    assert export_classes() == DEFAULT_TABLE
    assert export_classes(None, "myelin").names == ("background", "myelin")

    class WithClasses:
        classes = ClassTable.from_names(["axon", "myelin"])

    assert export_classes(WithClasses(), "axon") is WithClasses.classes


def test_segment_half_needs_the_context():
    with pytest.raises(RuntimeError, match="inside `with TilePath"):
        next(TilePath(load_segmenter("otsu")).segment(None, []))


# --------------------------------------------------------------------------- from plans


def test_from_plans_reopens_nothing_and_equals_a_path_export(slide, tmp_path, monkeypatch):
    from napari_axons.core.export import plan as pipeline

    seg = load_segmenter("otsu")
    by_path = ExportJob([slide], tmp_path / "a", OPTIONS, segmenter=seg)
    _, manifest_a = drain(by_path.run())
    by_path.close()

    plan = plan_image(slide, OPTIONS)

    def no_reopen(*_a, **_k):
        raise AssertionError("opened again")

    monkeypatch.setattr(pipeline, "open_image", no_reopen)
    monkeypatch.setattr(pipeline, "sampled_file_hash", no_reopen)
    job = ExportJob.from_plans([plan], tmp_path / "b", OPTIONS, segmenter=load_segmenter("otsu"))
    _, manifest_b = drain(job.run())
    job.close()
    plan.read_tile(plan.grid[0])  # the caller's plan stays open
    assert manifest_b == manifest_a
    assert files(tmp_path / "a", "**/*") == files(tmp_path / "b", "**/*")
    plan.source.close()


def test_an_in_memory_image_exports_without_a_file(slide, tmp_path):
    pixels = tifffile.imread(slide)
    plan = plan_array(pixels, OPTIONS, name="my slide")
    reader = lambda plan, box: np.full((box.height, box.width), 255, np.uint8)  # noqa: E731
    job = ExportJob.from_plans([plan], tmp_path / "mem", tiles=[[0, 11]], mask_reader=reader)
    results, manifest = drain(job.run())
    [img] = manifest["images"]
    assert img["source"]["path"] is None and img["source"]["format"] == "array"
    assert "no source file" in img["source"]["notes"][0]
    assert [t["index"] for t in img["tiles"]] == [0, 11] and len(results) == 2
    assert manifest["classes"] == DEFAULT_TABLE.to_json()
    assert not list(tmp_path.glob("**/*.tif*"))  # no temporary image file anywhere
    file_plan = plan_image(slide, OPTIONS)
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "mem" / "my slide_tile_0011.png")),
        file_plan.read_tile(file_plan.grid[11]))
    file_plan.source.close()
    before = files(tmp_path / "mem", "**/*tile_0000*")
    again = ExportJob.from_plans([plan_array(pixels.copy(), OPTIONS, name="my slide")],
                                 tmp_path / "mem", tiles=[[0, 3, 11]], mask_reader=reader,
                                 resume=True)  # the same pixels: the same fingerprint
    results, _ = drain(again.run())
    assert sorted((r.box.index, r.resumed) for r in results) == [(0, True), (3, False), (11, True)]
    assert files(tmp_path / "mem", "**/*tile_0000*") == before
    changed = pixels.copy()
    changed[::7, ::7] = 0
    other = ExportJob.from_plans([plan_array(changed, OPTIONS, name="my slide")],
                                 tmp_path / "mem", mask_reader=reader, resume=True)
    with pytest.raises(ExportError, match="other inputs or options"):
        drain(other.run())


def test_from_plans_refuses_a_plan_of_another_grid(slide):
    plan = plan_image(slide, ExportOptions(tile_size=256))
    with pytest.raises(ValueError, match=r"slide.tif: the plan's grid \(tile size 256, overlap 0, "
                                         r"downsample 1\) does not match the options \(tile size "
                                         r"512, overlap 0, downsample 1\)"):
        ExportJob.from_plans([plan], "out", ExportOptions())
    with pytest.raises(ValueError, match=r"tile 99 is not in the grid \(12 tiles\)"):
        ExportJob.from_plans([plan], "out", tiles=[[99]])
    with pytest.raises(ValueError, match="share the base name 'slide'"):
        ExportJob.from_plans([plan, plan], "out")
    plan.source.close()


def test_in_memory_images_stay_off_a_cluster(tmp_path):
    from napari_axons.core.export.cluster import run_distributed

    job = ExportJob.from_plans([plan_array(np.zeros((300, 300), np.uint8), name="layer")],
                               tmp_path / "out")
    with pytest.raises(ValueError, match="layer: an in-memory image cannot be exported on a dask"):
        run_distributed(job, workers=1)
    assert json.loads(job.manifest("running").dumps())["images"][0]["source"]["path"] is None
