"""Whole-slide formats: SVS through tifffile (pyramid + MPP), OpenSlide formats, missing extras."""

import builtins

import numpy as np
import pytest
import tifffile

from napari_axons.core.image.open import open_image
from napari_axons.core.image.slides import open_openslide
from napari_axons.core.image.source import ImageReadError

H, W = 1024, 1536


def _svs(path, rng):
    """An Aperio-style SVS: tiled baseline, thumbnail, two tiled reduced levels, MPP 0.499."""
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    kw = {"photometric": "rgb", "compression": "jpeg", "compressionargs": {"level": 95},
          "subsampling": (1, 1), "metadata": None}
    head = "Aperio Image Library v12.0.5\r\n"
    with tifffile.TiffWriter(path) as tw:
        tw.write(image, tile=(256, 256), **kw,
                 description=head + f"{W}x{H} [0,0 {W}x{H}] (256x256) JPEG/RGB Q=95|AppMag = 20|MPP = 0.4990")
        tw.write(image[::8, ::8], **kw, description=head + "thumbnail|MPP = 0.4990")
        for f in (2, 4):
            tw.write(image[::f, ::f], tile=(256, 256), **kw,
                     description=head + f"{W}x{H} -> {W // f}x{H // f} - |MPP = 0.4990")
    return image


def test_svs_pyramid_and_mpp_through_tifffile(tmp_path, rng):
    _svs(tmp_path / "a.svs", rng)
    decoded = tifffile.imread(tmp_path / "a.svs")  # the JPEG-decoded baseline
    with open_image(tmp_path / "a.svs") as src:
        assert [src.level_shape(k) for k in range(src.n_levels)] == \
            [(H, W, 3), (H // 2, W // 2, 3), (H // 4, W // 4, 3)]
        assert (src.pixel_size.x, src.pixel_size.y, src.pixel_size.origin) == (0.499, 0.499, "SVS MPP")
        np.testing.assert_array_equal(src.read_region(100, 200, 300, 400), decoded[100:400, 200:600])


def test_openslide_reader_gives_the_same_slide(tmp_path, rng):
    pytest.importorskip("openslide")
    _svs(tmp_path / "a.svs", rng)
    with open_image(tmp_path / "a.svs") as ours, open_openslide(tmp_path / "a.svs") as slide:
        assert slide.n_levels == ours.n_levels == 3
        assert [slide.level_shape(k) for k in range(3)] == [ours.level_shape(k) for k in range(3)]
        assert slide.pixel_size.x == pytest.approx(0.499)
        assert slide.pixel_size.origin == "OpenSlide mpp-x/mpp-y"
        np.testing.assert_array_equal(slide.read_region(300, 500, 256, 256),
                                      ours.read_region(300, 500, 256, 256))
        np.testing.assert_array_equal(slide.read_region(10, 20, 64, 64, level=2),
                                      ours.read_region(10, 20, 64, 64, level=2))


@pytest.mark.parametrize(("name", "module", "extra"), [("a.mrxs", "openslide", "formats"),
                                                        ("a.czi", "bioio", "vendor"),
                                                        ("a.nd2", "bioio", "vendor"),
                                                        ("a.lif", "bioio", "vendor")])
def test_missing_reader_names_the_extra(tmp_path, monkeypatch, name, module, extra):
    (tmp_path / name).write_bytes(b"not really a slide")
    real_import = builtins.__import__

    def no_reader(mod, *args, **kwargs):
        if mod.split(".")[0] == module:
            raise ImportError(f"No module named {module!r}")
        return real_import(mod, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_reader)
    with pytest.raises(ImageReadError) as info:
        open_image(tmp_path / name)
    suffix = name.split(".")[1]
    assert str(info.value) == (f"{tmp_path / name}: reading .{suffix} files needs the optional "
                               f'readers: pip install "napari-axons[{extra}]"')


def test_openslide_error_is_one_line(tmp_path):
    pytest.importorskip("openslide")
    (tmp_path / "a.mrxs").write_bytes(b"not really a slide")
    with pytest.raises(ImageReadError, match="OpenSlide cannot read it") as info:
        open_image(tmp_path / "a.mrxs")
    assert "\n" not in str(info.value)
