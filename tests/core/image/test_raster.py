"""PNG/JPEG: large ones are decoded into a cached store (PNG band by band), same pixels as Pillow."""

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from napari_axons.core.image import raster
from napari_axons.core.image.colour import normalise_pil
from napari_axons.core.image.open import open_image
from napari_axons.core.image.png_stream import png_bands
from napari_axons.core.image.source import ImageReadError

H, W = 97, 61


def _png_kinds(rng):
    g = rng.integers(0, 256, (H, W), dtype=np.uint8)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    rgb[::7] = rgb[::7] // 3  # runs, so every PNG filter type gets chosen somewhere
    kinds = {
        "L": Image.fromarray(g),
        "LA": Image.fromarray(np.dstack([g, 255 - g]), "LA"),
        "RGB": Image.fromarray(rgb),
        "RGBA": Image.fromarray(np.dstack([rgb, g])),
        "P": Image.fromarray(rgb).quantize(50),
        "1": Image.fromarray(g > 128),
        "I;16": Image.fromarray(g.astype(np.uint16) * 257),
    }
    return kinds


@pytest.mark.parametrize("kind", ["L", "LA", "RGB", "RGBA", "P", "P-tRNS", "1", "I;16", "RGB-key",
                                  "RGB48"])
def test_png_bands_equal_pillow_whole_image(tmp_path, rng, kind):
    kinds = _png_kinds(rng)
    path = tmp_path / "a.png"
    if kind == "P-tRNS":
        kinds["P"].save(path, transparency=3)
    elif kind == "RGB-key":
        kinds["RGB"].save(path, transparency=(1, 2, 3))
    elif kind == "RGB48":
        import imagecodecs

        path.write_bytes(imagecodecs.png_encode(rng.integers(0, 65535, (H, W, 3), dtype=np.uint16)))
    else:
        kinds[kind].save(path)
    with Image.open(path) as im:
        expect = np.asarray(normalise_pil(im))
    for band_bytes in (1, 700, 10**9):  # 16-row bands, a few, one
        rows = list(png_bands(path, band_bytes))
        got = np.concatenate([b for _, b in rows])
        assert [y for y, _ in rows] == list(np.cumsum([0] + [len(b) for _, b in rows[:-1]]))
        np.testing.assert_array_equal(got, expect)


def test_large_png_is_decoded_once_into_the_cache_and_read_by_region(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("NAPARI_AXONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(raster, "WHOLE_DECODE_MAX_BYTES", 1000)
    monkeypatch.setattr(raster, "BAND_BYTES", 3000)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "big.png")
    with open_image(tmp_path / "big.png") as src:
        assert src.format == "PNG"
        np.testing.assert_array_equal(src.read_region(120, 50, 100, 200), image[120:220, 50:250])
    stores = list((tmp_path / "cache" / "decoded").glob("*.zarr"))
    assert len(stores) == 1
    monkeypatch.setattr(raster, "png_bands", None)  # a second open reuses the store
    with open_image(tmp_path / "big.png") as src:
        np.testing.assert_array_equal(src.read_region(0, 0, 300, 400), image)


def test_large_jpeg_is_cached_with_pillows_pixels(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("NAPARI_AXONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(raster, "WHOLE_DECODE_MAX_BYTES", 1000)
    Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as im:
        expect = np.asarray(im.convert("RGB"))
    with open_image(tmp_path / "a.jpg") as src:
        np.testing.assert_array_equal(src.read_region(0, 0, 200, 300), expect)


def test_truncated_large_png_is_one_clear_error(tmp_path, rng, monkeypatch):
    monkeypatch.setenv("NAPARI_AXONS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(raster, "WHOLE_DECODE_MAX_BYTES", 1000)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="truncated PNG") as info:
        open_image(tmp_path / "cut.png")
    assert str(tmp_path / "cut.png") in str(info.value) and "\n" not in str(info.value)
    assert not list((tmp_path / "cache" / "decoded").glob("*"))  # nothing half-built kept


def test_size_limit_is_an_option_with_a_clear_message(tmp_path, rng, monkeypatch):
    Image.fromarray(rng.integers(0, 256, (100, 200), dtype=np.uint8)).save(tmp_path / "a.png")
    monkeypatch.setenv("NAPARI_AXONS_MAX_PIXELS", "10000")
    with pytest.raises(ImageReadError) as info:
        open_image(tmp_path / "a.png")
    assert str(info.value) == (
        f"{tmp_path / 'a.png'}: 200 x 100 is 0 megapixels, more than the limit of 0 megapixels "
        "for PNG/JPEG images (a guard against decompression bombs); if the file is trusted, "
        "raise it with --max-pixels N (0: no limit)")
    monkeypatch.setenv("NAPARI_AXONS_MAX_PIXELS", "0")
    with open_image(tmp_path / "a.png") as src:
        assert src.shape == (100, 200)


def test_png_above_pillows_guard_is_tiled_without_warnings(tmp_path, monkeypatch):
    """A 10000 x 9000 PNG (90 MP, over Pillow's 89.5 MP guard): exit 0, stderr empty."""
    cache = tmp_path / "cache"
    yy = np.arange(9000, dtype=np.uint16)[:, None]
    row = (np.arange(10000, dtype=np.uint16)[None, :] + yy) % 251
    Image.fromarray(row.astype(np.uint8)).save(tmp_path / "huge.png", compress_level=1)
    out = tmp_path / "out"
    code = ("import sys; from napari_axons.cli import main; "
            f"sys.exit(main(['tile', {str(tmp_path / 'huge.png')!r}, '-o', {str(out)!r}]))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "NAPARI_AXONS_CACHE": str(cache)})
    assert run.returncode == 0, run.stderr
    # nothing but the progress lines: no Pillow DecompressionBombWarning, libpng or numpy warning
    assert [line for line in run.stderr.splitlines() if not line.startswith("tiling: ")] == []
    tile = np.asarray(Image.open(out / "huge_tile_0000.png"))
    np.testing.assert_array_equal(tile[..., 0], ((np.arange(512)[None, :] + np.arange(512)[:, None])
                                                 % 251).astype(np.uint8))
