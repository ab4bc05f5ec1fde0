"""Mask images as class maps: palette, grey indices, AxonDeepSeg levels, 0/255, TIFF, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.common import ClassTable
from napari_axons.core.labels import ClassMaskError, encode_class_mask, read_mask_image


def test_palette_png_gives_its_indices(tmp_path):
    cmap = np.arange(12, dtype=np.uint8).reshape(3, 4) % 3
    path = tmp_path / "m.png"
    path.write_bytes(encode_class_mask(cmap, ClassTable.from_names(["myelin", "axon"])))
    m = read_mask_image(path)
    assert (m.rule, m.names) == ("palette", None)
    np.testing.assert_array_equal(m.class_map, cmap)


def test_axondeepseg_levels_nearest_class(tmp_path):
    grey = np.array([[0, 63, 64, 127, 130, 191, 192, 233, 255]], np.uint8)
    path = tmp_path / "x_seg-axonmyelin.png"
    Image.fromarray(grey).save(path)
    m = read_mask_image(path)
    assert (m.rule, m.names) == ("axondeepseg", ("background", "myelin", "axon"))
    assert m.class_map.tolist() == [[0, 0, 1, 1, 1, 1, 2, 2, 2]]
    # grey + alpha (as one of the shared masks is stored) reads as its grey
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], -1), "LA").save(path)
    assert read_mask_image(path).class_map.tolist() == [[0, 0, 1, 1, 1, 1, 2, 2, 2]]


def test_grey_indices_binary_and_tiff(tmp_path):
    Image.fromarray(np.array([[0, 1, 2, 3]], np.uint8)).save(tmp_path / "i.png")
    m = read_mask_image(tmp_path / "i.png")
    assert (m.rule, m.names, m.class_map.tolist()) == ("index", None, [[0, 1, 2, 3]])
    Image.fromarray(np.array([[0, 255, 255, 0]], np.uint8)).save(tmp_path / "b.png")
    m = read_mask_image(tmp_path / "b.png")
    assert (m.rule, m.class_map.tolist()) == ("binary", [[0, 1, 1, 0]])
    tifffile.imwrite(tmp_path / "t.tif", np.array([[0, 4, 200]], np.uint16))
    m = read_mask_image(tmp_path / "t.tif")
    assert (m.rule, m.class_map.dtype, m.class_map.tolist()) == ("index", np.uint8, [[0, 4, 200]])


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: tifffile.imwrite(p.with_suffix(".tif"), np.array([[0, 300]], np.uint16)),
     "holds value 300; a class map holds at most 255 classes"),
    (lambda p: tifffile.imwrite(p.with_suffix(".tif"), np.zeros((2, 2), np.float32)),
     "pixel values of type float32 are not class indices"),
    (lambda p: Image.fromarray(np.array([[[255, 0, 0]]], np.uint8)).save(p.with_suffix(".png")),
     "a colour mask; give a class map"),
    (lambda p: p.with_suffix(".png").write_text("text"), "cannot read it as a mask image ("),
])
def test_refusals_name_the_file(tmp_path, make, message):
    stem = tmp_path / "m"
    make(stem)
    path = next(tmp_path.iterdir())
    with pytest.raises(ClassMaskError) as err:
        read_mask_image(path)
    assert str(err.value).startswith(f"{path}: {message}")
