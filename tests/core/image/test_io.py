import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image

from napari_axons.core.image.colour import to_rgb8
from napari_axons.core.image.open import open_image
from napari_axons.core.image.source import ImageReadError


def test_tiled_tiff_is_read_by_region_without_loading_the_image(tmp_path, rgb_image):
    """Every tile outside the requested region is corrupted: reading it would fail."""
    image = rgb_image(1536, 1792)
    path = tmp_path / "tiled.tif"
    tifffile.imwrite(path, image, tile=(256, 256), compression="zlib")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        offsets, counts = page.dataoffsets, page.databytecounts
    tiles_across = 1792 // 256
    keep = {(r, c) for r in (1, 2) for c in (1, 2)}  # the region below spans these 4 tiles
    data = bytearray(path.read_bytes())
    for k, (off, n) in enumerate(zip(offsets, counts, strict=True)):
        if (k // tiles_across, k % tiles_across) not in keep:
            data[off : off + n] = b"\xff" * n
    path.write_bytes(bytes(data))
    with open_image(path) as src:
        assert src.shape == (1536, 1792, 3)
        np.testing.assert_array_equal(src.read_region(300, 400, 200, 100), image[300:500, 400:500])
        with pytest.raises(ImageReadError, match="cannot decode"):
            src.read_region(0, 0, 10, 10)  # the guard works: a corrupted tile does fail


def test_striped_tiff_and_bigtiff(tmp_path, rgb_image):
    image = rgb_image(600, 700)
    for name, kw in [("strip.tif", {"rowsperstrip": 16}), ("big.tif", {"bigtiff": True, "tile": (128, 128)})]:
        tifffile.imwrite(tmp_path / name, image, **kw)
        with open_image(tmp_path / name) as src:
            region = src.read_region(100, 50, 512, 512)  # runs past the bottom: zero padded
            np.testing.assert_array_equal(region[:500], image[100:600, 50:562])
            assert not region[500:].any()
            np.testing.assert_array_equal(src.read_region(0, 0, 600, 700), image)


def test_pyramid_tiff_levels(tmp_path, rgb_image):
    image = rgb_image(1024, 1024)
    path = tmp_path / "pyr.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(image, tile=(256, 256), subifds=2)
        tw.write(image[::2, ::2], tile=(256, 256), subfiletype=1)
        tw.write(image[::4, ::4], tile=(256, 256), subfiletype=1)
    with open_image(path) as src:
        levels = src.levels()
        assert [lv.shape for lv in levels] == [(1024, 1024, 3), (512, 512, 3), (256, 256, 3)]
        np.testing.assert_array_equal(levels[2].compute(), image[::4, ::4])
        # the smallest level whose longer side is between max_side / 2 and max_side
        np.testing.assert_array_equal(src.sample(), image)
        np.testing.assert_array_equal(src.sample(max_side=1000), image[::2, ::2])
        np.testing.assert_array_equal(src.sample(max_side=512), image[::4, ::4])


def test_png_jpeg_decoded_once_on_first_access(tmp_path, rgb_image):
    image = rgb_image(300, 400)
    Image.fromarray(image).save(tmp_path / "a.png")
    Image.fromarray(image).save(tmp_path / "a.jpg", quality=95)
    with open_image(tmp_path / "a.png") as src:
        assert src.format == "PNG"
        assert src._levels[0]._whole is None  # opening decodes nothing
        np.testing.assert_array_equal(src.read_region(0, 0, 300, 400), image)
        first = src._levels[0]._whole
        src.read_region(10, 10, 20, 20)
        assert src._levels[0]._whole is first  # decoded once
    with open_image(tmp_path / "a.jpg") as src:
        assert src.shape == (300, 400, 3)
        np.testing.assert_array_equal(src.read_region(0, 0, 300, 400),
                                      np.asarray(Image.open(tmp_path / "a.jpg").convert("RGB")))


def test_zarr_and_ome_zarr(tmp_path, rgb_image):
    image = rgb_image(520, 530)
    z = zarr.open_array(tmp_path / "plain.zarr", mode="w", shape=image.shape, chunks=(128, 128, 3),
                        dtype="u1")
    z[:] = image
    with open_image(tmp_path / "plain.zarr") as src:
        np.testing.assert_array_equal(src.read_region(0, 0, 520, 530), image)
    g = zarr.open_group(tmp_path / "ome.zarr", mode="w")
    chw = np.moveaxis(image, -1, 0)
    for k, arr in enumerate([chw, chw[:, ::2, ::2]]):
        a = g.create_array(str(k), shape=arr.shape, chunks=(3, 128, 128), dtype="u1")
        a[:] = arr
    g.attrs["multiscales"] = [{"axes": [{"name": "c"}, {"name": "y"}, {"name": "x"}],
                               "datasets": [{"path": "0"}, {"path": "1"}]}]
    with open_image(tmp_path / "ome.zarr") as src:
        assert src.shape == (520, 530, 3) and src.n_levels == 2
        np.testing.assert_array_equal(src.read_region(5, 6, 100, 100), image[5:105, 6:106])


@pytest.mark.parametrize("kind", ["gray", "rgba", "palette", "u16", "float01", "float_wide", "cmyk"])
def test_every_pixel_kind_maps_to_rgb8(tmp_path, kind, rng):
    gray = rng.integers(0, 256, (64, 80)).astype(np.uint8)
    if kind == "gray":
        Image.fromarray(gray).save(p := tmp_path / "g.png")
        expect = np.repeat(gray[..., None], 3, 2)
    elif kind == "rgba":
        rgba = np.dstack([gray, gray // 2, 255 - gray, np.full_like(gray, 7)])
        Image.fromarray(rgba).save(p := tmp_path / "a.png")
        expect = rgba[..., :3]  # alpha dropped, as the seed's convert("RGB")
    elif kind == "palette":
        im = Image.fromarray(np.dstack([gray, gray, gray])).convert("P")
        im.save(p := tmp_path / "p.png")
        expect = np.asarray(im.convert("RGB"))
    elif kind == "cmyk":
        im = Image.fromarray(np.dstack([gray, gray // 2, 255 - gray])).convert("CMYK")
        im.save(p := tmp_path / "c.jpg")
        expect = np.asarray(Image.open(p).convert("RGB"))
    elif kind == "u16":
        data = (gray.astype(np.uint16) * 16)  # 12-bit data in a 16-bit container
        tifffile.imwrite(p := tmp_path / "u16.tif", data)
        expect = None
    elif kind == "float01":
        data = gray.astype(np.float32) / 255
        tifffile.imwrite(p := tmp_path / "f.tif", data)
        expect = np.repeat(np.clip(data * 255 + 0.5, 0, 255).astype(np.uint8)[..., None], 3, 2)
    else:
        data = gray.astype(np.float32) * 1000 - 5000
        tifffile.imwrite(p := tmp_path / "fw.tif", data)
        expect = None
    with open_image(p) as src:
        rgb = src.read_rgb(0, 0, 64, 80)
        assert rgb.dtype == np.uint8 and rgb.shape == (64, 80, 3)
        if expect is not None:
            np.testing.assert_array_equal(rgb, expect)
        else:  # stretched by percentiles: full range used, order kept, no wrap-around
            assert rgb.min() == 0 and rgb.max() == 255
            order = np.argsort(gray.ravel(), kind="stable")
            assert np.all(np.diff(rgb[..., 0].ravel()[order].astype(int)) >= 0)


def test_to_rgb8_never_wraps():
    data = np.array([[0, 1000, 70000]], np.int64)
    from napari_axons.core.image.colour import IntensityRange

    out = to_rgb8(data, IntensityRange(0, 1000, "test"))
    assert out[0, :, 0].tolist() == [0, 255, 255]


def test_stack_and_5d_use_the_first_plane_with_a_note(tmp_path, rng):
    stack = rng.integers(0, 255, (4, 50, 60)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    with open_image(tmp_path / "stack.tif") as src:
        assert src.shape == (50, 60)
        np.testing.assert_array_equal(src.read_region(0, 0, 50, 60), stack[0])
        assert "first plane" in src.notes[0]
    five = rng.integers(0, 255, (2, 3, 4, 50, 60)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "5d.ome.tif", five, ome=True, metadata={"axes": "TCZYX"})
    with open_image(tmp_path / "5d.ome.tif") as src:
        assert src.shape == (50, 60, 3)
        np.testing.assert_array_equal(src.read_region(0, 0, 50, 60), np.moveaxis(five[0, :, 0], 0, -1))
        assert "T=2" in src.notes[0] and "Z=4" in src.notes[0]


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("hello, I am text"), "not a TIFF file"),
])
def test_bad_files_raise_one_clear_line(tmp_path, make, message):
    path = tmp_path / "bad.tif"
    make(path)
    with pytest.raises(ImageReadError, match=message) as info:
        open_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_files(tmp_path, rgb_image):
    image = rgb_image(600, 600)
    tifffile.imwrite(tmp_path / "t.tif", image, tile=(256, 256))
    data = (tmp_path / "t.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        open_image(tmp_path / "cut.tif")
    Image.fromarray(image).save(tmp_path / "p.png")
    data = (tmp_path / "p.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    src = open_image(tmp_path / "cut.png")  # the header is fine
    with pytest.raises(ImageReadError, match="cannot decode") as info:
        src.read_region(0, 0, 10, 10)
    assert "cut.png" in str(info.value)


def test_folder_that_is_not_zarr(tmp_path):
    with pytest.raises(ImageReadError, match="is a folder"):
        open_image(tmp_path)


def test_chunk_cache_gives_the_same_pixels_within_its_budget(tmp_path, rgb_image, rng):
    image = rgb_image(1000, 1100)
    tifffile.imwrite(tmp_path / "t.tif", image, tile=(128, 128))
    with open_image(tmp_path / "t.tif") as src:
        budget = 20 * 128 * 128 * 3
        src.enable_chunk_cache(budget)
        level = src._levels[0]
        for _ in range(40):
            y, x = rng.integers(-50, 950), rng.integers(-50, 1050)
            h, w = rng.integers(1, 400, 2)
            expect = np.zeros((h, w, 3), np.uint8)
            ys, xs = slice(max(y, 0), min(y + h, 1000)), slice(max(x, 0), min(x + w, 1100))
            if ys.stop > ys.start and xs.stop > xs.start:
                expect[ys.start - y : ys.stop - y, xs.start - x : xs.stop - x] = image[ys, xs]
            np.testing.assert_array_equal(src.read_region(y, x, h, w), expect)
            assert level._chunk_bytes <= budget
        assert level._chunks  # the cache was used


def test_png_layouts_libpng_would_change_fall_back_to_pillow(tmp_path, rgb_image):
    """A transparency key (libpng would add alpha) and 48-bit RGB decode as Pillow does."""
    image = rgb_image(40, 50)
    Image.fromarray(image).save(tmp_path / "key.png", transparency=(1, 2, 3))
    rgb48 = (image.astype(np.uint16) * 257)
    import imagecodecs

    (tmp_path / "rgb48.png").write_bytes(imagecodecs.png_encode(rgb48))
    for name in ("key.png", "rgb48.png"):
        with Image.open(tmp_path / name) as im:
            expect = np.asarray(im.convert("RGB") if im.mode not in ("RGB", "RGBA") else im)
        with open_image(tmp_path / name) as src:
            np.testing.assert_array_equal(src.read_region(0, 0, 40, 50)[..., :3], expect[..., :3])
