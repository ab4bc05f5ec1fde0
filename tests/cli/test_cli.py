import io
import json
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
    code = ("import sys, napari_axons.cli, napari_axons.core.export, napari_axons.core.image.source; "
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


# --------------------------------------------------------------------------- parsing (issue 14)


def _parse(*argv):
    from napari_axons.cli import build_parser

    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("argv", [
    ["--debug", "tile", "a.tif", "-o", "out"],
    ["tile", "--debug", "a.tif", "-o", "out"],
    ["tile", "a.tif", "-o", "out", "--debug"],
])
def test_debug_before_or_after_the_subcommand(argv):
    assert _parse(*argv).debug is True


def test_debug_is_off_unless_given():
    assert _parse("tile", "a.tif", "-o", "out").debug is False
    assert _parse("sample", "s.tif").debug is False


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path, capsys):
    from napari_axons.cli.parser import CliError as _CliError

    assert main(["sample", str(tmp_path / "s.bmp")]) == 2
    assert capsys.readouterr().err.startswith("napari-axons: error: ")
    with pytest.raises(_CliError, match="unknown image suffix"):
        main(["sample", str(tmp_path / "s.bmp"), "--debug"])


@pytest.mark.parametrize(("argv", "images", "factor"), [
    (["--downsample", "slide.tif", "-o", "out"], ["slide.tif"], 3),
    (["--downsample", "slide.tif", "b.tif", "-o", "out"], ["slide.tif", "b.tif"], 3),
    (["slide.tif", "--downsample", "-o", "out"], ["slide.tif"], 3),
    (["slide.tif", "-o", "out", "--downsample"], ["slide.tif"], 3),
    (["--downsample", "2", "slide.tif", "-o", "out"], ["slide.tif"], 2),
    (["slide.tif", "--downsample", "4", "-o", "out"], ["slide.tif"], 4),
    (["--downsample=5", "slide.tif", "-o", "out"], ["slide.tif"], 5),
    (["slide.tif", "-o", "out"], ["slide.tif"], 1),
])
def test_downsample_never_swallows_the_image(argv, images, factor):
    args = _parse("tile", *argv)
    assert args.images == images
    assert args.downsample == factor


def test_downsample_before_the_image_exports_downsampled(tmp_path, rng, capsys):
    path = tmp_path / "slide.png"
    Image.fromarray(rng.integers(0, 255, (1600, 1600, 3), dtype=np.uint8)).save(path)
    out = tmp_path / "out"
    assert main(["tile", "--downsample", str(path), "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["options"]["downsample"] == 3
    # 1600 // 3 = 533: one 512 tile plus the shifted edge column, row and corner
    assert sorted(p.name for p in out.glob("*.png")) == [f"slide_tile_{k:04d}.png"
                                                       for k in range(4)]


@pytest.mark.parametrize(("argv", "line"), [
    (["--workers", "0"], "napari-axons: error: argument --workers: must be >= 1, got 0"),
    (["--threads", "0"], "napari-axons: error: argument --threads: must be >= 1, got 0"),
    (["--threads", "two"],
     "napari-axons: error: argument --threads: expected a whole number, got 'two'"),
    (["--batch-size", "0"], "napari-axons: error: argument --batch-size: must be >= 1, got 0"),
    (["--torch-threads", "0"],
     "napari-axons: error: argument --torch-threads: must be >= 1, got 0"),
    (["--model-streams", "0"],
     "napari-axons: error: argument --model-streams: must be >= 1, got 0"),
    (["--class-index", "-1"], "napari-axons: error: argument --class-index: must be >= 0, got -1"),
    (["--threshold", "2"], "napari-axons: error: argument --threshold: must be in [0, 1), got 2"),
    (["--downsample", "2.5"],
     "napari-axons: error: argument --downsample: expected a whole number, got '2.5'"),
    (["--tile-size", "0"], "napari-axons: error: tile size must be >= 16, got 0"),
    (["--tile-size", "8"], "napari-axons: error: tile size must be >= 16, got 8"),
    (["--png-compression", "12"], "napari-axons: error: PNG compression must be 0-9, got 12"),
    (["--workers", "2", "--scheduler", "tcp://x:1"],
     "napari-axons: error: --workers and --scheduler cannot be used together"),
    (["--progress-interval", "-1"], "napari-axons: error: --progress-interval must be >= 0, got -1"),
    (["--bogus"], "napari-axons: error: unrecognized arguments: --bogus"),
])
def test_every_bad_option_exits_2_with_one_line(tmp_path, slide, capsys, argv, line):
    code = main(["tile", str(slide), "-o", str(tmp_path / "o"), "--model", "otsu", *argv])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [line]
    assert captured.out == ""
    assert not (tmp_path / "o").exists()


def test_missing_option_and_subcommand_exit_2(capsys, slide):
    assert main(["tile", str(slide)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "napari-axons: error: the following arguments are required: -o/--output"]
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("napari-axons: error: argument COMMAND: invalid")


# --------------------------------------------------------------------------- progress (issue 14)


def test_progress_lines_in_a_log(tmp_path, slide, capsys):
    # stderr is captured here, not a terminal: lines, not a bar
    out = tmp_path / "out"
    assert main(["tile", str(slide), "-o", str(out), "--progress-interval", "0"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "tiling: tiles 1/4 (25%)", "tiling: tiles 2/4 (50%)", "tiling: tiles 3/4 (75%)"]
    assert all(" tiles/s, eta " in line for line in lines)
    assert "\r" not in captured.err
    assert captured.out.startswith("4 tiles written to ")


def test_progress_default_when_stderr_is_not_a_terminal(capsys):
    from napari_axons.cli.progress import ProgressLines
    from napari_axons.cli.tile import make_progress as _progress

    bar = _progress(_parse("tile", "a.tif", "-o", "o"), 100, "tiling")
    assert isinstance(bar, ProgressLines) and bar.interval == 10.0


def test_progress_lines_interval_and_steps():
    from napari_axons.cli.progress import ProgressLines

    now = [0.0]
    stream = io.StringIO()
    bar = ProgressLines(1000, "segmenting", stream=stream, interval=10, clock=lambda: now[0])
    for _ in range(50):  # 5% in 5 s: quiet
        now[0] += 0.1
        bar.update()
    assert stream.getvalue() == ""
    for _ in range(50):  # 10% at 10 s
        now[0] += 0.1
        bar.update()
    assert stream.getvalue() == "segmenting: tiles 100/1000 (10%), 10.0 tiles/s, eta 90 s\n"
    for _ in range(5):  # slow: one item every 4 s -> a line every 10 s
        now[0] += 4
        bar.update()
    assert stream.getvalue().splitlines()[1:] == [
        "segmenting: tiles 103/1000 (10%), 4.7 tiles/s, eta 3 min 12 s"]
    for _ in range(895):  # fast again: 10 s after the last line, then one per further 10%
        now[0] += 0.05
        bar.update()
    assert [line.split(",")[0] for line in stream.getvalue().splitlines()[2:]] == [
        f"segmenting: tiles {n}/1000 ({n // 10}%)" for n in range(145, 1000, 100)]
    assert bar.done == 1000  # and no line for the last item: the summary follows


@pytest.mark.parametrize(("seconds", "text"), [
    (0.4, "0 s"), (56.4, "56 s"), (119, "119 s"), (250, "4 min 10 s"), (7500, "2 h 05 min")])
def test_format_duration(seconds, text):
    from napari_axons.cli.progress import format_duration

    assert format_duration(seconds) == text


# --------------------------------------------------------------------------- sample (issue 14)


@pytest.mark.parametrize(("name", "magic"), [
    ("s.tif", b"II*\x00"), ("s.tiff", b"II*\x00"), ("s.png", b"\x89PNG"), ("s.jpg", b"\xff\xd8\xff")])
def test_sample_writes_the_format_its_suffix_says(tmp_path, capsys, name, magic):
    out = tmp_path / name
    assert main(["sample", str(out), "--size", "300", "500"]) == 0
    assert out.read_bytes()[:len(magic)] == magic
    with Image.open(out) as image:
        assert image.size == (500, 300)  # Pillow: (width, height)
    truth = tmp_path / "s_truth.png"
    assert np.asarray(Image.open(truth)).shape == (300, 500)
    assert capsys.readouterr().out == (
        f"wrote {out} ({'TIFF' if 'tif' in name else name[2:].upper().replace('JPG', 'JPEG')}, "
        f"300 x 500 pixels, height x width) and {truth}\n")


def test_sample_refuses_an_unknown_suffix(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "s.bmp")]) == 2
    assert capsys.readouterr().err == (f"napari-axons: error: {tmp_path / 's.bmp'}: unknown image "
                                       "suffix '.bmp'; use .tif, .tiff, .png, .jpg or .jpeg\n")
    assert list(tmp_path.iterdir()) == []


def test_sample_never_overwrites_without_asking(tmp_path, capsys):
    out = tmp_path / "s.tif"
    out.write_bytes(b"precious")
    assert main(["sample", str(out), "--size", "64", "64"]) == 1
    assert capsys.readouterr().err == (f"napari-axons: error: {out}: already exists; use "
                                       "--overwrite to replace it\n")
    assert out.read_bytes() == b"precious"
    assert not (tmp_path / "s_truth.png").exists()
    (tmp_path / "t_truth.png").write_bytes(b"precious")
    assert main(["sample", str(tmp_path / "t.tif"), "--size", "64", "64"]) == 1
    assert not (tmp_path / "t.tif").exists()
    assert main(["sample", str(out), "--size", "64", "64", "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"II*\x00"


def test_one_tile_is_singular(tmp_path, rgb_image, capsys):
    path = tmp_path / "small.png"
    Image.fromarray(rgb_image(100, 100)).save(path)
    assert main(["tile", str(path), "-o", str(tmp_path / "out"), "--model", "otsu"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"1 tile written to {tmp_path / 'out'} in ")
    assert "tiles written" not in out


def test_progress_rate_leaves_out_resumed_tiles():
    """A resumed export counts the tiles done before, not in its speed."""
    from napari_axons.cli.progress import ProgressLines

    now = [0.0]
    stream = io.StringIO()
    bar = ProgressLines(200, "segmenting", stream=stream, interval=10, clock=lambda: now[0])
    bar.skip(150)  # written by the interrupted run, found at once
    for _ in range(20):  # then 2 tiles/s
        now[0] += 0.5
        bar.update()
    # 10% more after a second: 2 tiles/s, not 152 (the resumed ones took no time)
    assert stream.getvalue().splitlines() == [
        "segmenting: tiles 152/200 (76%), 2.0 tiles/s, eta 24 s"]


def test_an_occupied_output_is_refused_before_the_model_loads(tmp_path, capsys):
    """The folder's refusal comes first and alone (no model is loaded, no note printed)."""

    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    image = tmp_path / "x.png"
    image.write_bytes(b"not read")
    assert main(["tile", str(image), "-o", str(out), "--model", str(tmp_path / "no-model")]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"napari-axons: error: {out}: already holds an export; use --resume to continue it or "
        "--overwrite to replace it"]
