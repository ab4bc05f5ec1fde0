"""Exports on a dask.distributed cluster equal local exports, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_axons.cli import main
from napari_axons.core.common import ExportError
from napari_axons.core.export import JOURNAL_NAME, ExportJob, ExportOptions
from napari_axons.core.export.cluster import run_distributed
from napari_axons.core.segment import load_segmenter
from slide_helpers import drain, filament_tif

distributed = pytest.importorskip("distributed")

OPTIONS = ExportOptions(tile_size=256, threads=2)


@pytest.fixture(scope="module")
def client():
    """One local cluster (2 worker processes, as ``--workers 2``) shared by the tests."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def slide(tmp_path_factory):
    """A 1300 x 1100 RGB tiled TIFF, bright filaments on a dark background: 30 tiles of 256."""
    return filament_tif(tmp_path_factory.mktemp("slide") / "slide.tif", 1100, 1300, 12, seed=7)



def export(paths, out, runner="local", spec=None, **kw):
    segmenter = None if spec is None else load_segmenter(spec[0], **spec[1])
    job = ExportJob([str(p) for p in paths], out, kw.pop("options", OPTIONS),
                    segmenter=segmenter, resume=kw.pop("resume", False))
    try:
        gen = job.run() if runner == "local" else run_distributed(job, **kw)
        return drain(gen)
    finally:
        job.close()


def folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_folder(a: Path, b: Path) -> None:
    fa, fb = folder_bytes(a), folder_bytes(b)
    assert sorted(fa) == sorted(fb)
    different = [name for name in fa if fa[name] != fb[name]]
    assert not different, different


@pytest.fixture(scope="module")
def local_tiles(slide, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "tiles"
    export([slide], out)
    return out


@pytest.fixture(scope="module")
def local_otsu(slide, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "otsu"
    _, manifest = export([slide], out, spec=("otsu", {}))
    assert manifest["segmenter"]["threshold_source"] == "overview"
    return out


def test_tile_only_export_equals_local_run(client, slide, local_tiles, tmp_path):
    results, manifest = export([slide], tmp_path / "out", "dask", client=client)
    assert_same_folder(local_tiles, tmp_path / "out")
    assert len(results) == 30 and manifest["status"] == "complete"
    assert sorted(r.box.index for r in results) == list(range(30))
    assert all(r.mask is None and not r.resumed for r in results)
    assert not (tmp_path / "out" / JOURNAL_NAME).exists()


@pytest.mark.parametrize("ship", ["spec", "object"])
def test_otsu_export_equals_local_run(client, slide, local_otsu, tmp_path, ship):
    spec = ("otsu", {})
    kw = {"segmenter_spec": spec} if ship == "spec" else {}
    results, manifest = export([slide], tmp_path / "out", "dask", spec=spec, client=client, **kw)
    assert_same_folder(local_otsu, tmp_path / "out")
    assert manifest == json.loads((local_otsu / "manifest.json").read_text())
    assert sum(r.n_objects for r in results) > 0
    masks = sorted((tmp_path / "out" / "masks").iterdir())
    assert len(masks) == 30


def test_two_images_get_their_own_threshold(client, slide, tmp_path):
    dim = tmp_path / "dim.tif"
    tifffile.imwrite(dim, (tifffile.imread(slide) // 3), tile=(256, 256), photometric="rgb")
    spec = ("otsu", {})
    export([slide, dim], tmp_path / "local", spec=spec)
    results, _ = export([slide, dim], tmp_path / "dask", "dask", spec=spec, client=client,
                        segmenter_spec=spec)
    assert len(results) == 60
    assert_same_folder(tmp_path / "local", tmp_path / "dask")


def test_downsample_overlap_and_16_bit(client, slide, tmp_path):
    rng = np.random.default_rng(3)
    deep = tmp_path / "deep.tif"
    tifffile.imwrite(deep, (rng.gamma(2.0, 900.0, (600, 700))).astype(np.uint16))
    options = ExportOptions(tile_size=128, overlap=16, downsample=2, threads=2)
    export([slide, deep], tmp_path / "local", options=options)
    results, manifest = export([slide, deep], tmp_path / "dask", "dask", options=options,
                               client=client)
    assert manifest["images"][1]["intensity"]["rule"] != "uint8"
    assert len(results) == sum(img["grid"]["n_tiles"] for img in manifest["images"])
    assert_same_folder(tmp_path / "local", tmp_path / "dask")


@pytest.mark.model
@pytest.mark.slow  # the workers import torch and transformers
def test_checkpoint_export_equals_local_run(client, slide, tmp_path):
    pytest.importorskip("torch")
    from tiny_models import save_checkpoint, tiny_segformer

    model_dir = save_checkpoint(tiny_segformer(), tmp_path / "tiny", processor_size=128)
    # two streams of one thread, batches of 2: a worker's task is a block of 4 tiles
    spec = (str(model_dir), {"device": "cpu", "num_threads": 2, "streams": 2, "batch_size": 2})
    _, local = export([slide], tmp_path / "local", spec=spec)
    results, manifest = export([slide], tmp_path / "dask", "dask", spec=spec, client=client,
                               segmenter_spec=spec)
    assert manifest == local and manifest["segmenter"]["kind"] == "huggingface"
    assert len(results) == 30
    assert_same_folder(tmp_path / "local", tmp_path / "dask")


def test_undecodable_image_is_skipped_as_in_a_local_run(client, slide, tmp_path):
    bad = tmp_path / "bad.tif"
    tifffile.imwrite(bad, tifffile.imread(slide)[:600, :700], tile=(256, 256), compression="zlib")
    with tifffile.TiffFile(bad) as tif:
        chunks = list(zip(tif.pages[0].dataoffsets, tif.pages[0].databytecounts, strict=True))
    data = bytearray(bad.read_bytes())
    for off, n in chunks[4:]:  # the first row of chunks decodes, the rest does not
        data[off : off + n] = b"\xff" * n
    bad.write_bytes(bytes(data))
    runs = {}
    for runner, kw in (("local", {}), ("dask", {"client": client, "block_size": 1})):
        job = ExportJob([str(slide), str(bad)], tmp_path / runner, OPTIONS)
        results, manifest = drain(job.run() if runner == "local" else run_distributed(job, **kw))
        runs[runner] = (job.errors, manifest)
        job.close()
    assert runs["local"] == runs["dask"]
    assert [img["base"] for img in runs["dask"][1]["images"]] == ["slide"]
    assert len(runs["dask"][0]) == 1 and "bad.tif" in runs["dask"][0][0]
    assert_same_folder(tmp_path / "local", tmp_path / "dask")
    assert not list((tmp_path / "dask").glob("bad_tile_*"))

    job = ExportJob([str(bad)], tmp_path / "only", OPTIONS)
    assert drain(run_distributed(job, client=client)) == ([], None)
    assert len(job.errors) == 1 and not (tmp_path / "only").exists()
    job.close()


def test_scheduler_address(client, slide, local_tiles, tmp_path):
    address = client.scheduler.address
    export([slide], tmp_path / "out", "dask", scheduler=address)
    assert_same_folder(local_tiles, tmp_path / "out")


def test_interrupted_run_resumes_to_the_same_bytes(client, slide, local_otsu, tmp_path):
    spec = ("otsu", {})
    job = ExportJob([str(slide)], tmp_path / "out", OPTIONS, segmenter=load_segmenter("otsu"))
    gen = run_distributed(job, segmenter_spec=spec, client=client, block_size=2)
    first = [next(gen) for _ in range(4)]
    gen.close()  # interrupted: the journal holds at least these tiles
    job.close()
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "running"
    journalled = (tmp_path / "out" / JOURNAL_NAME).read_text().splitlines()
    assert {json.loads(line)["index"] for line in journalled} >= {r.box.index for r in first}
    with pytest.raises(ExportError, match="--resume"):
        export([slide], tmp_path / "out", "dask", spec=spec, client=client, segmenter_spec=spec)
    results, _ = export([slide], tmp_path / "out", "dask", spec=spec, client=client,
                        segmenter_spec=spec, resume=True)
    assert sum(r.resumed for r in results) >= 4 and len(results) == 30
    assert_same_folder(local_otsu, tmp_path / "out")


def test_worker_killed_mid_run(client, slide, local_otsu, tmp_path):
    marker = str(tmp_path / "crashed")

    def arm(marker):
        # Runs in each worker: the first task that starts at tile >= 12, on whichever worker
        # gets it, writes one tile then kills its process; the marker makes it happen once.
        import os

        import napari_axons.core.export.cluster as d

        original = getattr(d._export_block, "original", d._export_block)

        def crashing(image, indices, *args):
            if indices[0] >= 12:
                try:
                    os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    pass
                else:
                    original(image, indices[:1], *args)
                    os._exit(1)
            return original(image, indices, *args)

        crashing.original = original
        d._export_block = crashing

    def disarm():
        import napari_axons.core.export.cluster as d

        d._export_block = getattr(d._export_block, "original", d._export_block)

    spec = ("otsu", {})
    client.run(arm, marker)
    try:
        results, manifest = export([slide], tmp_path / "out", "dask", spec=spec, client=client,
                                   segmenter_spec=spec, block_size=2)
    finally:
        client.run(disarm)
    assert Path(marker).exists()  # a worker did die
    assert len(results) == 30 and manifest["status"] == "complete"
    assert_same_folder(local_otsu, tmp_path / "out")
    client.wait_for_workers(2, timeout=30)  # the nanny restarted it


def test_tiles_that_kill_every_worker_stop_with_one_message(slide, tmp_path):
    def arm():
        import os

        import napari_axons.core.export.cluster as d

        original = d._export_block

        def crash_on_tile_8(image, indices, *args):
            if indices[0] == 8:
                os._exit(1)
            return original(image, indices, *args)

        d._export_block = crash_on_tile_8

    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as one:
        one.run(arm)
        with pytest.raises(ExportError, match=r"tiles \d+-\d+: every dask worker .* --resume"):
            export([slide], tmp_path / "out", "dask", client=one)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["status"] == "running"


def test_refusals_match_the_local_run(slide, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "other.txt").write_text("x")
    job = ExportJob([str(slide)], tmp_path / "out", OPTIONS)
    with pytest.raises(ExportError, match="not empty"):
        next(run_distributed(job, workers=2))  # refused before any cluster starts
    with pytest.raises(ValueError, match="exactly one"):
        run_distributed(job, workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="exactly one"):
        run_distributed(job)
    with pytest.raises(ValueError, match="no segmenter"):
        run_distributed(job, workers=1, segmenter_spec=("otsu", {}))
    edited = ExportJob([str(slide)], tmp_path / "o2", OPTIONS,
                       mask_reader=lambda plan, box: np.zeros((256, 256), np.uint8))
    with pytest.raises(ValueError, match="mask_reader .* cannot be pickled.*ZarrMaskReader"):
        run_distributed(edited, workers=2)  # refused before any cluster starts
    job.close()
    edited.close()


def test_cli_workers(slide, local_tiles, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["tile", str(slide), "-o", str(out), "--tile-size", "256", "--workers", "2"]) == 0
    assert "30 tiles written" in capsys.readouterr().out
    assert_same_folder(local_tiles, out)


def test_edited_masks_from_a_zarr_store_equal_a_local_run(client, slide, tmp_path):
    """A job whose masks come from a Zarr mask store (the widget's) runs on the cluster."""
    import pickle

    import zarr

    from napari_axons.core.session.maskstore import ZarrMaskReader

    h, w = 1100, 1300
    group = zarr.open_group(str(tmp_path / "masks.zarr"), mode="w")
    level = group.create_array("0", shape=(h, w), chunks=(256, 256), dtype="uint8", fill_value=0)
    yy, xx = np.mgrid[0:h, 0:w]
    strokes = ((yy - 300) ** 2 + (xx - 700) ** 2 < 60**2) | (np.abs(yy - xx // 2) < 3)
    level[...] = strokes.astype(np.uint8)  # 0/1, as the widget stores them
    reader = ZarrMaskReader(tmp_path / "masks.zarr")
    assert len(pickle.dumps(reader)) < 500

    def run(out, **where):
        job = ExportJob([str(slide)], out, OPTIONS, mask_reader=reader,
                        tiles={str(slide): [0, 3, 7, 29]})
        try:
            return drain(job.run() if not where else run_distributed(job, **where))
        finally:
            job.close()

    _, local_manifest = run(tmp_path / "local")
    results, manifest = run(tmp_path / "dask", client=client)
    assert manifest == local_manifest
    assert sorted(r.box.index for r in results) == [0, 3, 7, 29]
    assert_same_folder(tmp_path / "local", tmp_path / "dask")
    docs = [json.loads(p.read_text()) for p in (tmp_path / "dask").glob("*__labels.json")]
    assert len(docs) == 4 and sum(len(d["labels"]) for d in docs) >= 2
    assert {lab["source"] for d in docs for lab in d["labels"]} == {"manual"}
    from PIL import Image

    for idx in (0, 3, 7, 29):
        box = results[0].plan.grid[idx]
        mask = np.asarray(Image.open(tmp_path / "dask" / "masks" / f"slide_tile_{idx:04d}_mask.png"))
        np.testing.assert_array_equal(mask, np.where(strokes[box.y:box.y1, box.x:box.x1], 255, 0))
