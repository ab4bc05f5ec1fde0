"""Every kind of export is whole: what the manifest lists is there, nothing else is, it reads back,
``--resume`` changes nothing, and the three format bridges convert it.

One test, one export per kind (the CLI's ``tile`` with each setting that changes what is
written, a dask cluster, a session as the widget exports, several inputs). The first two
cases are the leaks of the export contract that issue 20 reproduced: an export made with
``--target-pixel-size`` could not be read back (a ratio where the reader wanted an int),
and a cluster export with ``--axondeepseg`` listed ``*_seg-*.png`` files it never wrote
(the worker rebuilt the plan by hand and dropped the setting).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from scipy import ndimage

from formats_helpers import discs
from napari_axons.cli import main
from napari_axons.core.export import load_manifest, read_export
from napari_axons.core.formats import export_coco, export_geojson, export_ngff_labels
from napari_axons.core.segment import load_segmenter
from napari_axons.core.session import Session
from tiny_models import make_decisive, save_checkpoint, set_classes, tiny_segformer

SHAPE = (300, 420)


@pytest.fixture(scope="module")
def slide(tmp_path_factory) -> Path:
    """An RGB TIFF whose bright discs Otsu finds (some cross tile borders), 0.5 um pixels."""
    folder = tmp_path_factory.mktemp("slide")
    m = discs(SHAPE, seed=3, n=18)
    img = np.full(SHAPE + (3,), 40, np.uint8)
    img[m > 0] = (200, 190, 180)
    path = folder / "slide.tif"
    tifffile.imwrite(path, img, photometric="rgb", resolution=(2e4, 2e4), resolutionunit="CENTIMETER")
    second = folder / "second.tif"
    tifffile.imwrite(second, img[::-1].copy(), photometric="rgb")
    # its ground truth as AxonDeepSeg writes it: the discs' rims myelin (127), their insides axon
    inside = ndimage.binary_erosion(m > 0, iterations=3)
    truth = np.where(inside, 255, np.where(m > 0, 127, 0)).astype(np.uint8)
    tifffile.imwrite(folder / "slide_seg-axonmyelin.tif", truth)
    return path


@pytest.fixture(scope="module")
def ome_zarr(slide, tmp_path_factory) -> Path:
    """The slide's pixels as an OME-Zarr image (what the OME-Zarr labels bridge writes into)."""
    from ome_zarr.io import parse_url
    from ome_zarr.writer import write_image

    path = tmp_path_factory.mktemp("ngff") / "slide.zarr"
    img = tifffile.imread(slide)
    root = zarr.open_group(parse_url(str(path), mode="w").store, mode="w")
    write_image(np.moveaxis(img, -1, 0), root, axes="cyx", scaler=None)
    return path


@pytest.fixture(scope="module")
def axon_myelin_model(tmp_path_factory) -> Path:
    """A tiny 3-class checkpoint (background, myelin, axon) that answers decisively."""
    import torch

    model = set_classes(tiny_segformer(3), ["background", "myelin", "axon"])
    model = make_decisive(model, torch.rand(2, 3, 64, 64))
    return save_checkpoint(model, tmp_path_factory.mktemp("model") / "axon-myelin",
                           processor_size=128)


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative POSIX name -> SHA-256)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(*args) -> None:
    assert main([str(a) for a in args]) == 0


KINDS = {
    "target-pixel-size": ["--tile-size", 128, "--pixel-size", 0.5, "--target-pixel-size", 1.2,
                          "--model", "otsu"],
    "cluster-axondeepseg": ["--tile-size", 128, "--model", "MODEL", "--classes", "all",
                            "--axondeepseg", "--workers", 1],
    "tiles-only": ["--tile-size", 128],
    "otsu": ["--tile-size", 128, "--model", "otsu"],
    "checkpoint-one-class": ["--tile-size", 128, "--model", "MODEL"],
    "checkpoint-all-classes": ["--tile-size", 128, "--model", "MODEL", "--classes", "all"],
    "axondeepseg": ["--tile-size", 128, "--model", "MODEL", "--classes", "all", "--axondeepseg"],
    "downsample": ["--tile-size", 64, "--downsample", 2, "--model", "otsu"],
    "overlap": ["--tile-size", 128, "--overlap", 24, "--model", "otsu"],
    "several-inputs": ["SECOND", "--tile-size", 128, "--model", "otsu"],
    "cluster-otsu": ["--tile-size", 128, "--model", "otsu", "--workers", 1],
    "masks": ["--tile-size", 128, "--masks", "MASK"],  # a lab's ground truth as the labels
    "cluster-masks": ["--tile-size", 96, "--masks", "MASK", "--workers", 1],
    "session": None,  # what the widget's Export does
}
MARKS = {"cluster-axondeepseg": [pytest.mark.slow, pytest.mark.model],
         "checkpoint-one-class": [pytest.mark.model], "checkpoint-all-classes": [pytest.mark.model],
         "axondeepseg": [pytest.mark.model], "cluster-otsu": [pytest.mark.slow],
         "cluster-masks": [pytest.mark.slow]}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=MARKS.get(k, [])) for k in KINDS])
def test_every_export_is_whole(kind, slide, ome_zarr, tmp_path, request):
    out = tmp_path / "out"
    if kind == "session":
        s = Session(slide, cache_dir=tmp_path / "cache", tile_size=128)
        try:
            s.segment(range(len(s.grid)), load_segmenter("otsu"))
            s.paint(10, 10, np.ones((12, 12), np.uint8))  # a hand edit: that tile is "manual"
            s.export(out, range(len(s.grid)))
        finally:
            s.close()
        args = None
    else:
        args = []
        for a in KINDS[kind]:
            if a == "MODEL":
                a = request.getfixturevalue("axon_myelin_model")
            elif a == "SECOND":
                a = slide.parent / "second.tif"
            elif a == "MASK":
                a = slide.parent / "slide_seg-axonmyelin.tif"
            args.append(a)
        _cli("tile", slide, *args, "-o", out)

    manifest = load_manifest(out)  # the one reader of the export contract
    listed = {"manifest.json"} | {f for img in manifest.images for t in img.tiles
                                  for f in t.files.values()}
    before = _files(out)
    missing = sorted(listed - set(before))
    assert not missing, f"{kind}: the manifest lists files that are not there: {missing[:5]}"
    unlisted = sorted(set(before) - listed)
    assert not unlisted, f"{kind}: files the manifest does not list: {unlisted[:5]}"
    if "axondeepseg" in kind:
        assert any(f.endswith("_seg-axonmyelin.png") for f in listed)

    contents = read_export(out)  # reads back, every image, its masks
    assert len(contents.images) == len(manifest.images) == (2 if kind == "several-inputs" else 1)
    with_masks = manifest.classes is not None
    for img in contents.images:
        assert (img.labels is not None) == with_masks
    if kind == "target-pixel-size":
        working = manifest.images[0].working
        assert isinstance(working.downsample, float) and working.downsample > 2
        assert working.pixel_size.x == pytest.approx(1.2, rel=0.01)

    if args is not None:  # --resume: nothing to do, nothing changes
        _cli("tile", slide, *args, "-o", out, "--resume")
        assert _files(out) == before

    if with_masks:  # the three bridges convert it
        bridges = tmp_path / "bridges"
        bridges.mkdir()
        for img in manifest.images:
            geo = export_geojson(out, bridges / f"{img.base}.geojson", base=img.base)
            assert geo.n_features > 0
        coco = export_coco(out, bridges / "coco.json")
        assert coco.n_annotations > 0
        if len(manifest.images) == 1:
            labels = export_ngff_labels(out, ome_zarr, name=f"napari-axons-{kind}")
            assert labels.is_dir()


def test_a_plan_sent_to_another_process_is_the_same_plan(slide):
    """What a dask worker receives: the job's own plan, its image reopened (not rebuilt by hand)."""
    import pickle

    from napari_axons.core.export import ExportOptions, plan_image

    plan = plan_image(slide, ExportOptions(tile_size=128, target_pixel_size=0.8, axondeepseg=False))
    plan.axondeepseg = True
    plan.source.set_pixel_size(0.5, "set in the panel")
    try:
        again = pickle.loads(pickle.dumps(plan))
        assert again.manifest_entry(True, list(plan.grid)) == plan.manifest_entry(True, list(plan.grid))
        assert again.axondeepseg and again.fingerprint == plan.fingerprint and again.base == plan.base
        box = plan.grid[len(plan.grid) - 1]
        np.testing.assert_array_equal(again.read_tile(box), plan.read_tile(box))
    finally:
        plan.source.close()
