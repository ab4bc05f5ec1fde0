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
    # one row of strays and levels, under rows on the levels (strays are a few pixels of a mask)
    grey = np.zeros((20, 9), np.uint8)
    grey[1:7], grey[7:14] = 127, 255
    grey[0] = [0, 63, 64, 127, 130, 191, 192, 233, 255]
    path = tmp_path / "x_seg-axonmyelin.png"
    Image.fromarray(grey).save(path)
    m = read_mask_image(path)
    assert (m.rule, m.names) == ("axondeepseg", ("background", "myelin", "axon"))
    assert m.class_map[0].tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert (m.class_map[1:7] == 1).all() and (m.class_map[7:14] == 2).all()
    # grey + alpha (as one of the shared masks is stored) reads as its grey
    Image.fromarray(np.stack([grey, np.full_like(grey, 255)], -1), "LA").save(path)
    assert read_mask_image(path).class_map[0].tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]


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


def _micrograph(shape=(64, 80), levels=256, seed=0):
    """A smooth grey picture (a gradient plus noise) quantised to ``levels`` grey values."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = 40 + 160 * (xx / shape[1]) + rng.normal(0, 12, shape)
    step = 256 / levels
    return (np.clip(img, 0, 255) // step * step).astype(np.uint8)


def test_a_micrograph_is_not_a_mask(tmp_path):
    grey = _micrograph()
    n = len(np.unique(grey))
    assert n > 64
    for path, arr in ((tmp_path / "tile.png", grey),
                      (tmp_path / "tile_rgb.png", np.repeat(grey[..., None], 3, -1)),
                      (tmp_path / "tile.tif", grey)):
        if path.suffix == ".tif":
            tifffile.imwrite(path, arr)
        else:
            Image.fromarray(arr).save(path)
        with pytest.raises(ClassMaskError) as err:
            read_mask_image(path)
        assert str(err.value).startswith(f"{path}: not a mask: {n} grey levels (a mask holds a "
                                         "few values: ")
        assert "\n" not in str(err.value)
    # a 16-bit picture whose values stay under 256: many levels too
    tifffile.imwrite(tmp_path / "t16.tif", grey.astype(np.uint16))
    with pytest.raises(ClassMaskError, match=f"not a mask: {n} grey levels"):
        read_mask_image(tmp_path / "t16.tif")
    # a palette picture (a GIF-like PNG) using many palette entries
    Image.fromarray(grey).convert("P", palette=Image.Palette.ADAPTIVE, colors=200).save(
        tmp_path / "p.png")
    with pytest.raises(ClassMaskError, match="p.png: not a mask: [0-9]+ palette indices"):
        read_mask_image(tmp_path / "p.png")


def test_few_grey_levels_off_every_level_are_not_a_mask(tmp_path):
    """A picture posterised to 32 levels passes the count but fits no rule: mid-greys everywhere."""
    grey = _micrograph(levels=32)
    assert len(np.unique(grey)) <= 64 and grey.max() >= 64
    Image.fromarray(grey).save(tmp_path / "post.png")
    with pytest.raises(ClassMaskError) as err:
        read_mask_image(tmp_path / "post.png")
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'post.png'}: not a mask: {len(np.unique(grey))} grey "
                          "levels, ")
    assert "of the pixels far from the levels 0/127/255" in msg
    # bright pictures with no mid-grey (values only under 64 or from 192): the 0/255 rule's levels
    g = _micrograph()
    bright = np.where(g > 120, 200 + g % 4 * 10, g % 6 * 10)  # 0-50 and 200-230, 10 levels
    Image.fromarray(bright.astype(np.uint8)).save(tmp_path / "bright.png")
    with pytest.raises(ClassMaskError, match="far from the levels 0/255"):
        read_mask_image(tmp_path / "bright.png")


def test_strays_within_the_share_are_read(tmp_path):
    """4 % of the pixels between the levels (under MAX_OFF_LEVEL, 5 %) still read as a mask."""
    grey = np.zeros((10, 100), np.uint8)
    grey[:, 50:] = 255
    grey[0, 10:50] = 230  # 40 of 1000 pixels: 4 %, 230 >= 192 -> class 1 (0/255 rule)
    Image.fromarray(grey).save(tmp_path / "m.png")
    m = read_mask_image(tmp_path / "m.png")
    assert (m.rule, int(m.class_map.sum())) == ("binary", 540)
    grey[1, 10:30] = 30  # now 6 % off the levels 0/255: refused
    Image.fromarray(grey).save(tmp_path / "m.png")
    with pytest.raises(ClassMaskError, match="not a mask: 4 grey levels, 6% of the pixels"):
        read_mask_image(tmp_path / "m.png")
