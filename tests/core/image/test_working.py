import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_axons.core.image.open import open_image
from napari_axons.core.image.source import ImageReadError
from napari_axons.core.image.working import WorkingImage


def assemble(working, tile=160):
    out = np.zeros((working.height, working.width, 3), np.uint8)
    for y in range(0, working.height, tile):
        for x in range(0, working.width, tile):
            t = working.read_tile(y, x, tile, tile)
            h, w = min(tile, working.height - y), min(tile, working.width - x)
            out[y : y + h, x : x + w] = t[:h, :w]
    return out


@pytest.mark.parametrize(("height", "width"), [(900, 1203), (1000, 1000), (700, 1001)])
def test_streamed_lanczos_matches_a_whole_image_resize(tmp_path, rgb_image, height, width):
    """The documented tolerance: at most 1 grey level on < 1% of pixels."""
    image = rgb_image(height, width)
    tifffile.imwrite(tmp_path / "a.tif", image, tile=(128, 128))
    reference = np.asarray(Image.fromarray(image).resize((width // 3, height // 3), Image.LANCZOS))
    with open_image(tmp_path / "a.tif") as src:
        working = WorkingImage(src, 3)
        assert (working.height, working.width) == (height // 3, width // 3)
        got = assemble(working)
    diff = np.abs(got.astype(int) - reference)
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01


def test_white_noise_worst_case(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (1024, 1100, 3)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "n.tif", noise, tile=(128, 128))
    reference = np.asarray(Image.fromarray(noise).resize((1100 // 3, 1024 // 3), Image.LANCZOS))
    with open_image(tmp_path / "n.tif") as src:
        diff = np.abs(assemble(WorkingImage(src, 3)).astype(int) - reference)
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01


def test_factor_one_is_the_source(tmp_path, rgb_image):
    image = rgb_image(100, 120)
    tifffile.imwrite(tmp_path / "a.tif", image)
    with open_image(tmp_path / "a.tif") as src:
        tile = WorkingImage(src, 1).read_tile(-10, -20, 64, 64)
    assert not tile[:10].any() and not tile[:, :20].any()
    np.testing.assert_array_equal(tile[10:, 20:], image[:54, :44])


def test_too_small_to_downsample(tmp_path):
    Image.new("RGB", (2, 5)).save(tmp_path / "tiny.png")
    with open_image(tmp_path / "tiny.png") as src, pytest.raises(ImageReadError, match="too small"):
        WorkingImage(src, 3)
