"""The CLI with classes: palette masks from a multi-class model, --axondeepseg."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tests.tiny_models import RedChannelModel

from napari_axons.cli import main


@pytest.fixture
def slide(tmp_path, rgb_image):
    path = tmp_path / "slide.png"
    Image.fromarray(rgb_image(600, 700)).save(path)
    return path

def test_axondeepseg_without_a_model_is_one_line(tmp_path, slide, capsys):
    code = main(["tile", str(slide), "-o", str(tmp_path / "o"), "--axondeepseg"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [
        "napari-axons: error: --axondeepseg writes masks: give a --model or --masks"]
    assert not (tmp_path / "o").exists()


def test_axondeepseg_with_a_one_class_model_is_one_line(tmp_path, slide, capsys):
    code = main(["tile", str(slide), "-o", str(tmp_path / "o"), "--model", "otsu",
                 "--axondeepseg"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert ("--axondeepseg needs classes named 'axon' and 'myelin'; the class table has axon "
            "(no 'myelin')") in err
    assert not (tmp_path / "o").exists()


def test_a_multiclass_model_exports_palette_masks_and_axondeepseg_files(tmp_path, slide,
                                                                       monkeypatch, capsys):
    import napari_axons.core.segment as segment

    monkeypatch.setattr(segment, "load_segmenter", lambda *a, **k: RedChannelModel())
    out = tmp_path / "o"
    assert main(["tile", str(slide), "-o", str(out), "--model", "x", "--axondeepseg",
                 "--threads", "1"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    tile = np.asarray(Image.open(out / "slide_tile_0000.png"))
    expected = RedChannelModel().predict(tile[None])[0]
    with Image.open(out / "masks" / "slide_tile_0000_mask.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), expected)
    both = np.asarray(Image.open(out / "slide_tile_0000_seg-axonmyelin.png"))
    np.testing.assert_array_equal(both, np.choose(expected, [0, 255, 127]))
    assert (out / "slide_tile_0003_seg-axon.png").is_file()
    assert (out / "slide_tile_0003_seg-myelin.png").is_file()
