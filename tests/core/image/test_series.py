"""Multi-image TIFFs: the main image as the vendor readers pick it (Leica SCN with the macro
first, SVS with its associated images), the user's --series, and the series listed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_axons._reader import read_image
from napari_axons.cli import main
from napari_axons.core.export import read_export
from napari_axons.core.image import ImageReadError, open_image

NM = 500  # main image: 500 nm per pixel
W, H = 640, 512
CX, CY = 2_000_000, 4_000_000  # the collection (the whole slide) in nm
MW, MH = CX // 10_000, CY // 10_000  # macro: 10 um per pixel -> 200 x 400
OX, OY = 500_000, 1_000_000


def _scan(obj):
    return (f"<scanSettings><objectiveSettings><objective>{obj}</objective></objectiveSettings>"
            "<illuminationSettings><illuminationSource>brightfield</illuminationSource>"
            "</illuminationSettings></scanSettings>")


def _image_xml(name, px, view, offset, ifds, obj):
    dims = "".join(f'<dimension sizeX="{w}" sizeY="{h}" r="{r}" ifd="{ifd}" />'
                   for r, (ifd, (w, h)) in enumerate(ifds))
    return (f'<image name="{name}"><device model="Leica SCN400;Leica SCN" version="1.5" />'
            f'<pixels sizeX="{px[0]}" sizeY="{px[1]}">{dims}</pixels>'
            f'<view sizeX="{view[0]}" sizeY="{view[1]}" offsetX="{offset[0]}" offsetY="{offset[1]}" '
            f'spacingZ="0" />{_scan(obj)}</image>')


def write_scn(path, main_img, macro_img, *, macro_first=True):
    """A Leica SCN BigTIFF (the structure of the file in Bayer-Group/tiffslide#21 when
    ``macro_first``): the macro's view covers the collection, the main image's does not."""
    macro_ifd, main_ifd = (0, 1) if macro_first else (2, 0)
    macro = _image_xml("image_macro", (MW, MH), (CX, CY), (0, 0), [(macro_ifd, (MW, MH))], 5)
    main = _image_xml("image_main", (W, H), (W * NM, H * NM), (OX, OY),
                      [(main_ifd, (W, H)), (main_ifd + 1, (W // 4, H // 4))], 20)
    images = macro + main if macro_first else main + macro
    xml = ('<?xml version="1.0"?><scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01" '
           f'uuid="urn:uuid:1"><collection name="c" uuid="urn:uuid:2" sizeX="{CX}" sizeY="{CY}">'
           f"{images}</collection></scn>")
    kw = {"tile": (256, 256), "photometric": "rgb", "metadata": None}
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        order = [macro_img, main_img, main_img[::4, ::4]] if macro_first else \
            [main_img, main_img[::4, ::4], macro_img]
        for k, a in enumerate(order):
            tw.write(a, description=xml if k == 0 else None, **kw)


@pytest.fixture
def pictures(rng):
    main_img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    macro_img = np.full((MH, MW, 3), 245, np.uint8)
    macro_img[:60] = 40
    return main_img, macro_img


@pytest.mark.parametrize("macro_first", [True, False])
def test_scn_main_image_is_the_one_openslide_opens(tmp_path, pictures, macro_first):
    main_img, macro_img = pictures
    path = tmp_path / "slide.scn"
    write_scn(path, main_img, macro_img, macro_first=macro_first)
    with tifffile.TiffFile(path) as tf:
        assert tf.is_scn and len(tf.series) == 2
    with open_image(path) as src:
        assert src.shape == (H, W, 3) and src.notes == [] and src.n_levels == 2
        assert src.series == (1 if macro_first else 0)
        np.testing.assert_array_equal(src.read_region(0, 0, H, W), main_img)
    openslide = pytest.importorskip("openslide")
    slide = openslide.OpenSlide(str(path))
    assert slide.properties["openslide.vendor"] == "leica"
    bw, bh = (int(slide.properties[f"openslide.bounds-{k}"]) for k in ("width", "height"))
    assert (bw, bh) == (W, H)
    bx, by = (int(slide.properties[f"openslide.bounds-{k}"]) for k in ("x", "y"))
    ref = np.asarray(slide.read_region((bx, by), 0, (W, H)).convert("RGB"))
    np.testing.assert_array_equal(ref, main_img)


def test_series_option_lists_and_picks(tmp_path, pictures, capsys):
    main_img, macro_img = pictures
    path = tmp_path / "slide.scn"
    write_scn(path, main_img, macro_img)
    out = tmp_path / "out"
    assert main(["tile", str(path), "-o", str(out), "--tile-size", "256"]) == 0
    source = json.loads((out / "manifest.json").read_text())["images"][0]["source"]
    assert (source["width"], source["height"], source["series"], source["notes"]) == (W, H, 1, [])
    capsys.readouterr()
    macro_out = tmp_path / "macro"
    assert main(["tile", str(path), "-o", str(macro_out), "--series", "0", "--tile-size", "256"]) == 0
    assert capsys.readouterr().err == ""
    source = json.loads((macro_out / "manifest.json").read_text())["images"][0]["source"]
    assert (source["width"], source["height"], source["series"]) == (MW, MH, 0)
    # the export's read-back opens the series that was exported
    back = read_export(macro_out).images[0]
    assert back.from_source and back.image[0].shape[:2] == (MH, MW)
    assert main(["tile", str(path), "-o", str(tmp_path / "bad"), "--series", "2"]) == 1
    assert capsys.readouterr().err == (
        f"napari-axons: error: {path}: no image series 2; the file has 2: 0: 'image_macro' "
        f"{MW} x {MH} (macro), 1: 'image_main' {W} x {H}\n")
    assert not (tmp_path / "bad").exists()
    [(data, _, _)] = read_image(str(path), series=0)
    assert data.shape[:2] == (MH, MW)


def test_several_candidate_images_note_lists_them(tmp_path, rng):
    planes = [rng.integers(0, 255, (100 + 10 * k, 120), dtype=np.uint8) for k in range(3)]
    path = tmp_path / "three.tif"
    for p in planes:
        tifffile.imwrite(path, p, append=True)
    with open_image(path) as src:
        assert src.notes == ["three.tif: 3 image series (0: 120 x 100, 1: 120 x 110, 2: 120 x 120); "
                             "using series 0; choose another with --series N"]
        np.testing.assert_array_equal(src.read_region(0, 0, 100, 120), planes[0])
    with open_image(path, series=2) as src:
        assert src.notes == [] and src.series == 2 and src.shape[:2] == (120, 120)
    with pytest.raises(ImageReadError, match=r"no image series 3; the file has 3: 0: 120 x 100"):
        open_image(path, series=3)
    one = tmp_path / "one.tif"
    tifffile.imwrite(one, planes[0])
    with open_image(one, series=0) as src:
        assert src.series is None
    with pytest.raises(ImageReadError, match=r"one.tif: no image series 1; the file has 1: 0: 120 x 100$"):
        open_image(one, series=1)
    from PIL import Image

    Image.fromarray(planes[0]).save(png := tmp_path / "one.png")
    with pytest.raises(ImageReadError, match=r"one.png: no image series 1; the file holds one image "
                                             r"\(series 0\)"):
        open_image(png, series=1)


def test_svs_associated_images_are_not_candidates(tmp_path, rng):
    """Aperio: Baseline, then Thumbnail, Label, Macro: the baseline, quietly."""
    img = rng.integers(0, 255, (512, 768, 3), dtype=np.uint8)
    path = tmp_path / "a.svs"
    desc = "Aperio Image Library v12.0.15 \r\n768x512 [0,0 768x512] (256x256) -|MPP = 0.5"
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, tile=(256, 256), photometric="rgb", description=desc, metadata=None)
        tw.write(img[::4, ::4], photometric="rgb", description="Aperio thumbnail", metadata=None)
        tw.write(img[:50, :80], photometric="rgb", subfiletype=1, metadata=None,
                 description="Aperio Image Library v12.0.15\r\nlabel 80x50")
        tw.write(img[:60, :90], photometric="rgb", subfiletype=9, metadata=None,
                 description="Aperio Image Library v12.0.15\r\nmacro 90x60")
    with tifffile.TiffFile(path) as tf:
        names = [s.name for s in tf.series]
    assert names[0] == "Baseline" and len(names) >= 3, names
    with open_image(path) as src:
        assert src.notes == [] and src.shape == (512, 768, 3) and src.series == 0


def test_a_plan_sent_to_a_worker_reopens_the_same_series(tmp_path, pictures):
    """A dask worker gets the plan pickled (a PlanRecipe) and reopens the series chosen."""
    import pickle

    from napari_axons.core.export import ExportOptions, plan_image

    main_img, macro_img = pictures
    path = tmp_path / "slide.scn"
    write_scn(path, main_img, macro_img)
    for series, shape in ((None, (H, W)), (0, (MH, MW))):
        plan = plan_image(path, ExportOptions(tile_size=128, series=series))
        try:
            there = pickle.loads(pickle.dumps(plan))
            assert (there.source.height, there.source.width) == shape
            np.testing.assert_array_equal(there.read_tile(plan.grid[0]), plan.read_tile(plan.grid[0]))
        finally:
            plan.source.close()
