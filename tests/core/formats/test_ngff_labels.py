"""OME-Zarr labels: written next to the image with ome-zarr-py, checked with its Reader."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import zarr
from ome_zarr.format import FormatV04
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Reader
from ome_zarr.writer import write_image

from formats_helpers import discs, make_export
from napari_axons.cli import main
from napari_axons.core.common import ClassTable
from napari_axons.core.export import read_export
from napari_axons.core.formats.ngff_labels import write_ngff_labels
from napari_axons.core.formats.ngff_read import (
    NgffError,
    ngff_labels_into,
    read_ngff_labels,
    resample_nearest,
)
from napari_axons.core.session.maskstore import MaskStore


def _ome_image(path, shape, *, v04=False, pixel_um=0.25):
    """A (c, y, x) OME-Zarr image with 3 levels and a pixel size in micrometres."""
    img = np.zeros((3, *shape), np.uint8)
    img[0] = 90
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if v04 else 3)
    write_image(img, group, axes="cyx", scale_factors=(2, 4), fmt=FormatV04() if v04 else None,
                scale={"c": 1.0, "y": pixel_um, "x": pixel_um},
                axes_units={"y": "micrometer", "x": "micrometer"})
    return path


def _label_node(path, name):
    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    nodes = [n for n in Reader(parse_url(str(path)))() if n.load(Label)]
    [node] = [n for n in nodes if n.metadata["name"] == name]
    return node


def _expected(levels_shapes, working):
    return [resample_nearest(working, s, 0, s[0], 0, s[1]) for s in levels_shapes]


def test_export_labels_into_source_ome_zarr(tmp_path):
    truth = discs((300, 420), seed=3)
    image = _ome_image(tmp_path / "slide.zarr", (600, 840))
    export = make_export(tmp_path, truth, downsample=2, tile_size=128, source=image)
    assert main(["export-ome-zarr", str(export), "--name", "masks"]) == 0
    node = _label_node(image, "masks")
    shapes = [tuple(d.shape) for d in node.data]
    assert shapes == [(600, 840), (300, 420), (150, 210)]  # the image's levels
    for got, want in zip(node.data, _expected(shapes, truth), strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    # level 0 is the full-resolution slide: each working pixel a 2 x 2 block
    np.testing.assert_array_equal(np.asarray(node.data[0]), np.kron(truth, np.ones((2, 2), np.uint8)))
    assert node.metadata["properties"] == {1: {"class": "axon"}}
    assert node.metadata["color"][1] == pytest.approx([1.0, 64 / 255, 64 / 255, 1.0])
    meta = zarr.open_group(str(image / "labels" / "masks"), mode="r").attrs["ome"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in meta["multiscales"][0]["datasets"]]
    img_meta = zarr.open_group(str(image), mode="r").attrs["ome"]["multiscales"][0]
    img_scales = [d["coordinateTransformations"][0]["scale"][1:] for d in img_meta["datasets"]]
    assert scales == img_scales and scales[:2] == [[0.25, 0.25], [0.5, 0.5]]  # the image's pixel size
    assert meta["image-label"]["source"] == {"image": "../../"}
    # labels written next to the image leave its fingerprint alone: the export still opens it
    assert read_export(export).images[0].from_source


def test_ngff_v04_round_trip_into_a_mask_store_edit_and_write_back(tmp_path):
    image = _ome_image(tmp_path / "v04.zarr", (256, 384), v04=True)
    table = ClassTable.from_names(["myelin", "axon"])
    cmap = discs((256, 384), seed=1, n=10)
    cmap[100:140, 50:90] = 2
    write_ngff_labels(image, cmap, table, name="classes", chunk=64)
    assert json.loads((image / "labels" / ".zattrs").read_text())["labels"] == ["classes"]
    labels = read_ngff_labels(image)
    assert labels.name == "classes" and labels.classes == table
    store = MaskStore(256, 384, chunk=128, root=tmp_path)
    try:
        ngff_labels_into(labels, store.levels[0], chunk=100)
        np.testing.assert_array_equal(store.read(0, 0, 256, 384), cmap)
        edited = cmap.copy()
        edited[10:30, 300:350] = 1
        store.write(10, 300, edited[10:30, 300:350])
        write_ngff_labels(image, store.levels[0], table, name="classes", chunk=64)
    finally:
        store.close()
    node = _label_node(image, "classes")
    for got, want in zip(node.data, _expected([tuple(d.shape) for d in node.data], edited), strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    assert json.loads((image / "labels" / ".zattrs").read_text())["labels"] == ["classes"]
    assert sorted(p.name for p in (image / "labels").iterdir()) == [".zattrs", ".zgroup", "classes"]


def test_ngff_bad_inputs(tmp_path, export_dir, capsys):
    not_image = tmp_path / "plain.zarr"
    zarr.open_group(str(not_image), mode="w")
    with pytest.raises(NgffError, match=r"plain.zarr: not an OME-Zarr image \(no 'multiscales' metadata\)"):
        write_ngff_labels(not_image, np.zeros((4, 4), np.uint8), ClassTable.from_names(["a"]))
    image = _ome_image(tmp_path / "i.zarr", (64, 64))
    with pytest.raises(NgffError, match=r"label name '../x' must be a plain name"):
        write_ngff_labels(image, np.zeros((64, 64), np.uint8), ClassTable.from_names(["a"]), name="../x")
    with pytest.raises(NgffError, match=r"i.zarr: the image has no labels"):
        read_ngff_labels(image)
    # instance labels (uint32 values above 255) are not class maps
    group = zarr.open_group(str(image), mode="r+")
    from ome_zarr.writer import write_multiscale_labels

    inst = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64)
    write_multiscale_labels([inst, inst[::2, ::2], inst[::4, ::4]], group, "cells", axes="yx")
    with pytest.raises(NgffError, match=r"labels/cells: label values above 255 \(at least \d+\); .* 0-255"):
        read_ngff_labels(image, "cells")
    # the export's source is a TIFF: the command says to give an OME-Zarr image
    assert main(["export-ome-zarr", str(export_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the export's source is not an OME-Zarr image" in err[0]
    assert main(["export-ome-zarr", str(export_dir), "--to", str(image)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("the image is 64 x 64 pixels, the export's slide 1000 x 700")
    assert not (image / "labels" / "napari-axons").exists()
