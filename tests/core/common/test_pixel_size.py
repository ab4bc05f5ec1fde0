"""Pixel size: read from each source, overridden by --pixel-size, carried to the manifest and napari."""

import json

import numpy as np
import pytest
import tifffile
import zarr

from napari_axons._reader import read_image
from napari_axons.cli import main
from napari_axons.core.image.open import open_image
from napari_axons.core.image.working import WorkingImage

H, W = 300, 400


def _image(rng):
    return rng.integers(0, 255, (H, W, 3), dtype=np.uint8)


def _ome_tiff(path, rng):
    tifffile.imwrite(path, _image(rng), ome=True, photometric="rgb",
                     metadata={"PhysicalSizeX": 250.0, "PhysicalSizeXUnit": "nm",
                               "PhysicalSizeY": 0.3, "PhysicalSizeYUnit": "µm"})
    return (0.25, 0.3), "OME-TIFF PhysicalSizeX/Y"


def _ome_zarr(path, rng):
    g = zarr.open_group(path, mode="w", zarr_format=2)
    a = g.create_array("0", shape=(3, H, W), chunks=(3, 128, 128), dtype="u1")
    a[:] = np.moveaxis(_image(rng), -1, 0)
    g.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": "c", "type": "channel"},
                 {"name": "y", "type": "space", "unit": "nanometer"},
                 {"name": "x", "type": "space", "unit": "nanometer"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 400.0, 500.0]}]}],
    }]
    return (0.5, 0.4), "OME-Zarr coordinateTransformations"


def _tiff_cm(path, rng):
    tifffile.imwrite(path, _image(rng), photometric="rgb", resolution=(1e4 / 0.8, 1e4 / 0.8),
                     resolutionunit="CENTIMETER")
    return (0.8, 0.8), "TIFF XResolution/YResolution (cm)"


def _tiff_inch(path, rng):
    tifffile.imwrite(path, _image(rng), photometric="rgb", resolution=(25400 / 2.0, 25400 / 2.0),
                     resolutionunit="INCH")
    return (2.0, 2.0), "TIFF XResolution/YResolution (inch)"


def _imagej(path, rng):
    tifffile.imwrite(path, _image(rng), imagej=True, photometric="rgb", resolution=(1 / 0.65, 1 / 0.65),
                     metadata={"unit": "micron"})
    return (0.65, 0.65), "ImageJ resolution (unit 'micron')"


def _svs(path, rng):
    tifffile.imwrite(path, _image(rng), photometric="rgb", tile=(128, 128),
                     description="Aperio Image Library v12.0.5\r\n400x300 [0,0 400x300] (128x128) "
                                 "JPEG/RGB Q=70|AppMag = 20|MPP = 0.4990|Filename = x")
    return (0.499, 0.499), "SVS MPP"


SOURCES = {"ome-tiff": ("a.ome.tif", _ome_tiff), "ome-zarr": ("a.zarr", _ome_zarr),
           "tiff-cm": ("a.tif", _tiff_cm), "tiff-inch": ("a.tif", _tiff_inch),
           "imagej": ("a.tif", _imagej), "svs": ("a.svs", _svs)}


def _manifest(out):
    return json.loads((out / "manifest.json").read_text())["images"][0]


@pytest.mark.parametrize("kind", list(SOURCES))
def test_pixel_size_from_the_file_reaches_the_manifest_and_the_napari_layer(tmp_path, rng, kind):
    name, make = SOURCES[kind]
    path = tmp_path / name
    (x, y), origin = make(path, rng)
    with open_image(path) as src:
        assert src.pixel_size is not None
        assert (src.pixel_size.x, src.pixel_size.y, src.pixel_size.origin) == \
            (pytest.approx(x), pytest.approx(y), origin)
    out = tmp_path / "out"
    assert main(["tile", str(path), "-o", str(out)]) == 0
    entry = _manifest(out)
    assert entry["source"]["pixel_size"] == {"x_um": pytest.approx(x), "y_um": pytest.approx(y),
                                             "origin": origin}
    assert entry["working"]["pixel_size"] == entry["source"]["pixel_size"]  # no resampling
    [(_, meta, kind_)] = read_image(str(path))
    assert kind_ == "image"
    assert meta["scale"] == (pytest.approx(y), pytest.approx(x)) and meta["units"] == ("um", "um")


def test_override_sets_the_pixel_size_of_any_file(tmp_path, rng):
    tifffile.imwrite(tmp_path / "plain.tif", _image(rng), photometric="rgb")
    _tiff_cm(tmp_path / "cm.tif", rng)
    for name in ("plain.tif", "cm.tif"):
        out = tmp_path / f"out-{name}"
        assert main(["tile", str(tmp_path / name), "-o", str(out), "--pixel-size", "0.125"]) == 0
        assert _manifest(out)["source"]["pixel_size"] == {"x_um": 0.125, "y_um": 0.125,
                                                          "origin": "--pixel-size"}
    with open_image(tmp_path / "plain.tif") as src:
        assert src.pixel_size is None


def test_no_pixel_size_and_software_default_dpi(tmp_path, rng):
    tifffile.imwrite(tmp_path / "dpi72.tif", _image(rng), resolution=(72, 72), resolutionunit="INCH")
    tifffile.imwrite(tmp_path / "none.tif", _image(rng), resolution=(3, 3), resolutionunit="NONE")
    for name in ("dpi72.tif", "none.tif"):
        with open_image(tmp_path / name) as src:
            assert src.pixel_size is None
        [(_, meta, _)] = read_image(str(tmp_path / name))
        assert "scale" not in meta and "units" not in meta
    out = tmp_path / "out"
    assert main(["tile", str(tmp_path / "none.tif"), "-o", str(out)]) == 0
    assert _manifest(out)["source"]["pixel_size"] is None


@pytest.mark.parametrize(("target", "size"), [(0.6, (250, 333)), (0.5, (300, 400)),
                                              (1.0, (150, 200)), (0.25, (600, 800))])
def test_target_pixel_size_gives_the_documented_working_size(tmp_path, rng, target, size):
    tifffile.imwrite(tmp_path / "a.tif", _image(rng), photometric="rgb",
                     resolution=(1e4 / 0.5, 1e4 / 0.5), resolutionunit="CENTIMETER")
    with open_image(tmp_path / "a.tif") as src:
        work = WorkingImage(src, target_pixel_size=target)
        # round(size * 0.5 / target) on each side
        assert (work.height, work.width) == (round(H * 0.5 / target), round(W * 0.5 / target)) == size
        assert work.pixel_size.x == pytest.approx(0.5 * W / size[1])
        assert abs(work.pixel_size.x - target) * size[1] <= 0.5 * 0.5 + 1e-9  # within half a pixel
        assert work.read_tile(0, 0, 64, 64).shape == (64, 64, 3)
    out = tmp_path / "out"
    assert main(["tile", str(tmp_path / "a.tif"), "-o", str(out), "--tile-size", "128",
                 "--target-pixel-size", str(target)]) == 0
    working = _manifest(out)["working"]
    assert (working["height"], working["width"]) == size
    assert working["pixel_size"]["x_um"] == pytest.approx(0.5 * W / size[1])
    assert working["downsample"] == pytest.approx(W / size[1], rel=1e-6)


def test_target_pixel_size_errors(tmp_path, rng, capsys):
    tifffile.imwrite(tmp_path / "plain.tif", _image(rng), photometric="rgb")
    out = tmp_path / "out"
    assert main(["tile", str(tmp_path / "plain.tif"), "-o", str(out),
                 "--target-pixel-size", "1"]) == 1
    err = capsys.readouterr().err
    assert (f"{tmp_path / 'plain.tif'}: the file states no pixel size; give it with --pixel-size UM "
            "to resample it to --target-pixel-size") in err
    assert main(["tile", str(tmp_path / "plain.tif"), "-o", str(out), "--downsample", "2",
                 "--target-pixel-size", "1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--downsample and --target-pixel-size cannot be used together")
    assert main(["tile", str(tmp_path / "plain.tif"), "-o", str(out), "--pixel-size", "-1"]) == 2
    assert "must be a positive number of micrometres" in capsys.readouterr().err


def _default_dpi_files(tmp_path, rng, dpi):
    """The same software-default ``dpi`` in every unit files carry it in."""
    img = _image(rng)
    files = {}
    tifffile.imwrite(p := tmp_path / f"inch{dpi}.tif", img, resolution=(dpi, dpi), resolutionunit="INCH")
    files[p] = "inch"
    # openslide-python's fixture boxes.tiff: 72 dpi as 28.3465 px/cm (a rational of 2^19)
    per_cm = (round(dpi / 2.54 * 2**19), 2**19)
    tifffile.imwrite(p := tmp_path / f"cm{dpi}.tif", img, resolution=(per_cm, per_cm),
                     resolutionunit="CENTIMETER")
    files[p] = "cm"
    tifffile.imwrite(p := tmp_path / f"ij{dpi}.tif", img, imagej=True, photometric="rgb",
                     resolution=(dpi / 2.54, dpi / 2.54), metadata={"unit": "cm"})
    files[p] = "ImageJ cm"
    tifffile.imwrite(p := tmp_path / f"ijmm{dpi}.tif", img, imagej=True, photometric="rgb",
                     resolution=(dpi / 25.4, dpi / 25.4), metadata={"unit": "mm"})
    files[p] = "ImageJ mm"
    from PIL import Image

    Image.fromarray(img).save(p := tmp_path / f"png{dpi}.png", dpi=(dpi, dpi))  # pHYs: whole px/m
    files[p] = "PNG px/m"
    return files


@pytest.mark.parametrize("dpi", [72, 96])
def test_default_dpi_is_ignored_in_every_unit(tmp_path, rng, dpi):
    files = _default_dpi_files(tmp_path, rng, dpi)
    with tifffile.TiffFile(next(p for p, u in files.items() if u == "cm")) as tf:
        num, den = tf.pages[0].tags["XResolution"].value
        assert abs(num / den * 2.54 - dpi) < 1e-4 and tf.pages[0].tags["ResolutionUnit"].value == 3
    for path, unit in files.items():
        with open_image(path) as src:
            assert src.pixel_size is None, (unit, src.pixel_size)
    # a real measurement next to the defaults is read: 0.25 um (40000 px/cm) and 71 dpi
    tifffile.imwrite(tmp_path / "real.tif", _image(rng), resolution=(40000, 40000),
                     resolutionunit="CENTIMETER")
    tifffile.imwrite(tmp_path / "dpi71.tif", _image(rng), resolution=(71, 71), resolutionunit="INCH")
    with open_image(tmp_path / "real.tif") as src:
        assert src.pixel_size.x == pytest.approx(0.25)
    with open_image(tmp_path / "dpi71.tif") as src:
        assert src.pixel_size.x == pytest.approx(25400 / 71)


def test_boxes_tiff_72dpi_in_cm_is_no_pixel_size(tmp_path, rng, capsys):
    """openslide-python's boxes.tiff: 72 dpi as 28.3465 px/cm; it used to become 352.78 um and
    --target-pixel-size 0.5 planned 142,830 tiles for a 300 x 250 image."""
    path = next(iter(p for p, u in _default_dpi_files(tmp_path, rng, 72).items() if u == "cm"))
    out = tmp_path / "out"
    assert main(["tile", str(path), "-o", str(out)]) == 0
    assert _manifest(out)["source"]["pixel_size"] is None
    capsys.readouterr()
    assert main(["tile", str(path), "-o", str(tmp_path / "t"), "--target-pixel-size", "0.5"]) == 1
    assert capsys.readouterr().err == (f"napari-axons: error: {path}: the file states no pixel size; "
                                       "give it with --pixel-size UM to resample it to "
                                       "--target-pixel-size\n")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(("given", "origin"), [
    (None, "TIFF XResolution/YResolution (cm)"),  # 10 um stated by the file
    ("10", "--pixel-size"),
])
def test_a_plan_that_explodes_from_a_pixel_size_is_refused(tmp_path, rng, capsys, given, origin):
    tifffile.imwrite(path := tmp_path / "big_px.tif", _image(rng), photometric="rgb",
                     resolution=(1000, 1000), resolutionunit="CENTIMETER")
    extra = ["--pixel-size", given] if given else []
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["tile", str(path), "-o", str(out), "--target-pixel-size", "0.5", *extra]) == 1
    err = capsys.readouterr().err
    assert err == (f"napari-axons: error: {path}: the target pixel size 0.5 um would enlarge the image "
                   f"20 times on a side ({W} x {H} -> {W * 20} x {H * 20} px) from its pixel size 10 um "
                   f"({origin}); more than 4 times is refused: check the pixel size (--pixel-size UM "
                   "gives the right one) or the target\n")
    assert not out.exists()
    with open_image(path) as src, pytest.raises(ValueError, match="would enlarge the image 20 times"):
        WorkingImage(src, target_pixel_size=0.5)
    # up to 4 times is a plan like any other
    assert main(["tile", str(path), "-o", str(out), "--target-pixel-size", "2.5", "--tile-size", "512",
                 *extra]) == 0
    assert (_manifest(out)["working"]["width"], _manifest(out)["working"]["height"]) == (W * 4, H * 4)
