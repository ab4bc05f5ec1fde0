import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from napari_axons.cli import main


@pytest.fixture
def slide(tmp_path, rgb_image):
    path = tmp_path / "slide.png"
    Image.fromarray(rgb_image(700, 1000)).save(path)
    return path


def test_tile_command_writes_the_seed_layout(tmp_path, slide, capsys):
    out = tmp_path / "out"
    assert main(["tile", str(slide), "-o", str(out), "--threads", "2"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["manifest.json"] + [f"slide_tile_{k:04d}.png" for k in range(4)]
    captured = capsys.readouterr()
    assert "4 tiles written" in captured.out
    assert "Traceback" not in captured.err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["tile", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ["--tile-size", "--overlap", "--downsample", "--model", "--threshold",
                   "--class-index", "--batch-size", "--device", "--resume", "--overwrite",
                   "--label-class", "--png-compression", "--threads"]:
        assert option in text, option


@pytest.mark.parametrize(("argv", "message"), [
    (["--overlap", "600"], "overlap must be"),
    (["--tile-size", "0"], "tile size must be"),
    (["--downsample", "0"], "downsample factor must be"),
])
def test_bad_options_are_one_line(tmp_path, slide, capsys, argv, message):
    code = main(["tile", str(slide), "-o", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_input_and_output_that_is_a_file(tmp_path, slide, capsys):
    assert main(["tile", str(tmp_path / "nope.tif"), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "nope.tif: no such file" in err
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["tile", str(slide), "-o", str(target)]) == 1
    err = capsys.readouterr().err
    assert "is not empty" in err or "not a folder" in err
    assert target.read_text() == "x"


def test_console_script_runs():
    exe = shutil.which("napari-axons") or str(
        __import__("pathlib").Path(sys.executable).with_name("napari-axons"))
    result = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "tile" in result.stdout


def test_core_and_cli_stay_headless():
    code = ("import sys, napari_axons.cli, napari_axons.core.pipeline, napari_axons.core.io; "
            "bad = [m for m in ('qtpy', 'PyQt6', 'napari', 'magicgui', 'torch') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_png_compression_level_keeps_pixels(tmp_path, slide):
    main(["tile", str(slide), "-o", str(tmp_path / "a"), "--png-compression", "1"])
    main(["tile", str(slide), "-o", str(tmp_path / "b"), "--png-compression", "9"])
    a = np.asarray(Image.open(tmp_path / "a" / "slide_tile_0000.png"))
    b = np.asarray(Image.open(tmp_path / "b" / "slide_tile_0000.png"))
    np.testing.assert_array_equal(a, b)
