"""Every bad input gets one clear line on stderr, never a traceback, never a half-written folder.

Each case runs ``napari-axons tile`` in-process. The messages asserted here are
the ones listed in ``docs/errors.md``.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image
from reliability_helpers import all_files, assert_clean, png, tile_files

import napari_axons.core.common.files as files_mod
from napari_axons.core.image.colour import IntensityRange, to_rgb8

TILE = 64


def tile_args(src, out, *extra):
    srcs = list(src) if isinstance(src, (list, tuple)) else [src]
    return ["tile", *srcs, "-o", out, "--tile-size", TILE, "--threads", 2, *extra]


# --------------------------------------------------------------------------- unreadable inputs


def _truncated_png(tmp_path, picture):
    good = tmp_path / "good.png"
    Image.fromarray(picture(200, 300)).save(good)
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return bad


def _truncated_tiff(tmp_path, picture):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, picture(200, 300))
    bad = tmp_path / "cut.tif"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return bad


def _zero_bytes(tmp_path, picture):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    return bad


def _text_as_tif(tmp_path, picture):
    bad = tmp_path / "notes.tif"
    bad.write_text("this is a text file, not an image\n")
    return bad


def _text_as_png(tmp_path, picture):
    bad = tmp_path / "notes.png"
    bad.write_text("this is a text file, not an image\n")
    return bad


def _missing(tmp_path, picture):
    return tmp_path / "does-not-exist.tif"


def _folder(tmp_path, picture):
    folder = tmp_path / "a-folder.tif"
    folder.mkdir()
    (folder / "x.txt").write_text("x")
    return folder


BAD_INPUTS = {
    "truncated PNG": (_truncated_png, "cannot decode image (OSError: image file is truncated)"),
    "truncated TIFF": (_truncated_tiff, "truncated TIFF: pixel data ends at byte"),
    "zero-byte file": (_zero_bytes, "empty file (0 bytes)"),
    "text file named .tif": (_text_as_tif,
                             "not a TIFF file (the file's header is not a TIFF header)"),
    "text file named .png": (_text_as_png, "not an image file Pillow can read"),
    "missing path": (_missing, "no such file or folder"),
    "directory as image": (_folder, "is a folder, not an image (only Zarr folders can be opened)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_one_line_no_files(tmp_path, picture, cli, case):
    make, message = BAD_INPUTS[case]
    src = make(tmp_path, picture)
    out = tmp_path / "out"
    run = cli(*tile_args(src, out))
    assert run.code == 1
    run.one_error(str(src), message)
    assert len(run.lines) == 1, run.err
    assert not out.exists(), all_files(out)  # nothing created for an input that failed


@pytest.mark.parametrize("case", ["truncated PNG", "truncated TIFF", "zero-byte file"])
def test_bad_input_among_good_ones(tmp_path, picture, cli, case):
    """The bad input is reported and skipped; the good ones are exported; exit status 1."""
    make, message = BAD_INPUTS[case]
    bad = make(tmp_path, picture)
    good = tmp_path / "fine.png"
    Image.fromarray(picture(100, 130)).save(good)
    out = tmp_path / "out"
    run = cli(*tile_args([bad, good], out))
    assert run.code == 1
    run.one_error(str(bad), message)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert [img["base"] for img in manifest["images"]] == ["fine"]
    assert tile_files(out) == [f"fine_tile_{k:04d}.png" for k in range(6)]  # 2 rows x 3
    assert_clean(out)


def test_corrupt_tiff_chunk_mid_export_leaves_no_tiles(tmp_path, picture, cli):
    """A chunk that fails to decode half way: the tiles already written for it are removed."""
    data = picture(256, 256)
    src = tmp_path / "chunky.tif"
    tifffile.imwrite(src, data, tile=(64, 64), compression="zlib")
    with tifffile.TiffFile(src) as tif:
        page = tif.pages[0]
        offsets, counts = page.dataoffsets, page.databytecounts
    raw = bytearray(src.read_bytes())
    k = 10  # a chunk in the third tile row: some tiles are written before it fails
    junk = (b"\x00garbage" * counts[k])[: counts[k]]
    raw[offsets[k] : offsets[k] + counts[k]] = junk
    src.write_bytes(bytes(raw))
    out = tmp_path / "out"
    run = cli(*tile_args(src, out))
    assert run.code == 1
    run.one_error(str(src), "cannot decode pixel data")
    assert not out.exists(), all_files(out)


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "empty.png"
    bad.write_bytes(b"")
    cmd = [sys.executable, "-m", "napari_axons", "--debug", "tile", str(bad),
           "-o", str(tmp_path / "o")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ImageReadError" in result.stderr
    assert f"napari-axons: error: {bad}: empty file (0 bytes)" in result.stderr
    cmd.remove("--debug")
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"napari-axons: error: {bad}: empty file (0 bytes)"


def test_unexpected_error_is_one_line(tmp_path, picture, cli, monkeypatch):
    """A bug (any exception the code did not plan for) is still one line, naming --debug."""
    import napari_axons.core.export.plan as pipeline

    src = tmp_path / "x.png"
    Image.fromarray(picture(50, 50)).save(src)

    def boom(path, **_options):
        raise RuntimeError("something nobody planned for\nsecond line")

    monkeypatch.setattr(pipeline, "open_image", boom)
    run = cli(*tile_args(src, tmp_path / "out"))
    assert run.code == 1
    run.one_error("unexpected RuntimeError: something nobody planned for second line",
                  "run with --debug for the traceback")
    with pytest.raises(RuntimeError):
        cli("--debug", *tile_args(src, tmp_path / "out"))


# --------------------------------------------------------------------------- valid odd inputs


def _manifest_image(out):
    return json.loads((out / "manifest.json").read_text())["images"][0]


def test_one_pixel_image_is_padded_and_recorded(tmp_path, cli):
    src = tmp_path / "dot.png"
    Image.fromarray(np.array([[200]], np.uint8)).save(src)
    out = tmp_path / "out"
    run = cli(*tile_args(src, out))
    assert run.code == 0 and "Traceback" not in run.err
    assert tile_files(out) == ["dot_tile_0000.png"]
    tile = png(out / "dot_tile_0000.png")
    expected = np.zeros((TILE, TILE, 3), np.uint8)
    expected[-1, -1] = 200  # the seed's crop box (1 - T, 1 - T, 1, 1): padding top-left
    np.testing.assert_array_equal(tile, expected)
    img = _manifest_image(out)
    assert img["grid"]["padded"] is True
    assert img["tiles"][0]["padding"] == {"top": TILE - 1, "left": TILE - 1}
    assert img["tiles"][0]["box"] == {"x": 1 - TILE, "y": 1 - TILE, "width": TILE, "height": TILE}


@pytest.mark.parametrize("dtype", ["uint16", "float32", "float01"])
def test_deep_images_are_scaled_by_the_documented_rule(tmp_path, rng, cli, dtype):
    if dtype == "uint16":
        data = rng.integers(0, 4000, (100, 120)).astype(np.uint16)
        data[0, 0] = 65535  # a hot pixel: percentiles ignore it, no wrap-around
    elif dtype == "float32":
        data = (rng.random((100, 120)) * 1000 - 200).astype(np.float32)
    else:
        data = rng.random((100, 120)).astype(np.float32)
    src = tmp_path / f"deep_{dtype}.tif"
    tifffile.imwrite(src, data)
    out = tmp_path / "out"
    run = cli(*tile_args(src, out))
    assert run.code == 0 and run.err.strip() == ""
    img = _manifest_image(out)
    rng_rec = img["intensity"]
    if dtype == "float01":
        assert rng_rec == {"low": 0.0, "high": 1.0, "rule": "float in [0, 1]: x 255"}
    else:
        assert rng_rec["rule"].startswith("percentiles 0.1-99.9")
        assert rng_rec["high"] < (65535 if dtype == "uint16" else 1e9)
    intensity = IntensityRange(**rng_rec)
    tile = png(out / f"deep_{dtype}_tile_0000.png")
    np.testing.assert_array_equal(tile, to_rgb8(data[:TILE, :TILE], intensity))
    assert img["source"]["dtype"] == ("uint16" if dtype == "uint16" else "float32")
    if dtype == "uint16":
        assert tile[0, 0, 0] == 255  # clipped, not wrapped


def _pil_case(tmp_path, picture, kind):
    rgb = picture(100, 120)
    if kind == "RGBA":
        alpha = np.linspace(0, 255, 120, dtype=np.uint8)[None].repeat(100, 0)
        im = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
        path = tmp_path / "rgba.png"
    elif kind == "palette":
        im = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        path = tmp_path / "palette.png"
    elif kind == "CMYK":
        im = Image.fromarray(rgb).convert("CMYK")
        path = tmp_path / "cmyk.jpg"
    else:
        im = Image.fromarray(rgb[..., 0], "L")
        path = tmp_path / "gray.png"
    im.save(path)
    return path


@pytest.mark.parametrize("kind", ["RGBA", "palette", "CMYK", "gray"])
def test_pillow_modes_convert_like_convert_rgb(tmp_path, picture, cli, kind):
    """RGBA drops alpha; palette/CMYK/gray convert as Pillow's ``convert("RGB")`` (the seed)."""
    src = _pil_case(tmp_path, picture, kind)
    out = tmp_path / "out"
    run = cli(*tile_args(src, out))
    assert run.code == 0 and run.err.strip() == ""
    with Image.open(src) as im:
        expected = np.asarray(im.convert("RGB"))
    tile = png(out / f"{src.stem}_tile_0000.png")
    assert tile.shape == (TILE, TILE, 3)
    np.testing.assert_array_equal(tile, expected[:TILE, :TILE])
    fmt = {"png": "PNG", "jpg": "JPEG"}[src.suffix[1:]]
    assert _manifest_image(out)["source"]["format"] == fmt


@pytest.mark.parametrize("kind", ["stack", "ome5d", "series"])
def test_extra_planes_use_the_first_with_a_note(tmp_path, rng, cli, kind):
    src = tmp_path / f"{kind}.tif"
    if kind == "stack":
        data = rng.integers(0, 255, (5, 100, 120), dtype=np.uint8)
        tifffile.imwrite(src, data)
        first = np.repeat(data[0][..., None], 3, 2)
        note = (f"napari-axons: note: {src.name}: 1 extra axis/axes (Q=5): "
                "using the first plane only (axes not named in the file: the last two are y, x)")
    elif kind == "ome5d":
        src = tmp_path / "five.ome.tif"
        data = rng.integers(0, 255, (2, 3, 2, 100, 120), dtype=np.uint8)
        tifffile.imwrite(src, data, metadata={"axes": "TCZYX"}, ome=True)
        first = np.moveaxis(data[0, :, 0], 0, -1)  # C=3 is kept as the colour axis
        note = (f"napari-axons: note: {src.name}: 2 extra axis/axes (T=2, Z=2): "
                "using the first plane only")
    else:
        planes = [rng.integers(0, 255, (100, 120), dtype=np.uint8) for _ in range(3)]
        for p in planes:
            tifffile.imwrite(src, p, append=True)
        first = np.repeat(planes[0][..., None], 3, 2)
        note = (f"napari-axons: note: {src.name}: 3 image series (0: 120 x 100, 1: 120 x 100, "
                "2: 120 x 100); using series 0; choose another with --series N")
    out = tmp_path / "out"
    run = cli(*tile_args(src, out))
    assert run.code == 0 and "Traceback" not in run.err
    assert run.lines == [note]
    np.testing.assert_array_equal(png(out / f"{src.name.split('.')[0]}_tile_0000.png")
                                  if kind != "ome5d" else png(out / "five.ome_tile_0000.png"),
                                  first[:TILE, :TILE])
    assert _manifest_image(out)["source"]["notes"] == [note.split("note: ", 1)[1]]


# ----------------------------------------------------------------------- output folder problems


@pytest.fixture
def small_png(tmp_path, picture):
    src = tmp_path / "slide.png"
    Image.fromarray(picture(100, 130)).save(src)
    return src


def test_output_that_is_a_file(tmp_path, small_png, cli):
    target = tmp_path / "taken"
    target.write_text("keep me")
    run = cli(*tile_args(small_png, target))
    assert run.code == 1
    run.one_error(f"{target}: exists and is not a folder")
    assert target.read_text() == "keep me"
    run = cli(*tile_args(small_png, target / "sub"))
    assert run.code == 1
    run.one_error(f"{target / 'sub'}: cannot create folder (Not a directory)")


def test_unwritable_output_folder_chmod(tmp_path, small_png, cli):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not stop root (simulated in the next test)")
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        run = cli(*tile_args(small_png, out))
    finally:
        out.chmod(0o700)
    assert run.code == 1
    run.one_error(f"{out}: folder is not writable")
    assert all_files(out) == []


def test_unwritable_output_folder_simulated(tmp_path, small_png, cli, monkeypatch):
    """What a non-root user meets in a read-only folder: the first write fails with EACCES."""
    out = tmp_path / "locked"
    out.mkdir()

    def denied(*args, dir=None, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(files_mod.tempfile, "mkstemp", denied)
    run = cli(*tile_args(small_png, out))
    assert run.code == 1
    run.one_error(f"{out / 'manifest.json'}: cannot write (Permission denied)")
    assert all_files(out) == []


class _FullDisk:
    """``os`` for :mod:`napari_axons.core.common.files`: ``fdopen`` files fail with ENOSPC after N files.

    The failing file gets half its bytes first, as a real full disk does.
    """

    def __init__(self, n_ok: int):
        self.n_ok = n_ok
        self.opened = 0

    def __getattr__(self, name):
        return getattr(os, name)

    def fdopen(self, fd, mode="r", *args, **kw):
        fh = os.fdopen(fd, mode, *args, **kw)
        self.opened += 1
        if self.opened <= self.n_ok:
            return fh
        real_write = fh.write

        def write(data):
            real_write(data[: len(data) // 2])
            fh.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        fh.write = write
        return fh


@pytest.mark.parametrize("n_ok", [0, 3])
def test_full_disk(tmp_path, small_png, cli, monkeypatch, n_ok):
    out = tmp_path / "out"
    disk = _FullDisk(n_ok)
    monkeypatch.setattr(files_mod, "os", disk)
    run = cli(*tile_args(small_png, out, "--threads", 1))
    monkeypatch.undo()
    assert run.code == 1
    line = run.one_error(f"{out}{os.sep}", "cannot write (No space left on device)")
    assert_clean(out)  # no temporary file, no half tile
    if n_ok == 0:  # the manifest itself could not be written: nothing to resume
        assert all_files(out) == [] and "--resume" not in line
        return
    assert "run the same command with --resume to continue" in line
    written = tile_files(out)
    assert len(written) == n_ok - 1  # the manifest came first; 6 tiles in all
    # After freeing space, --resume finishes the job with the same bytes as a clean run.
    run = cli(*tile_args(small_png, out, "--resume"))
    assert run.code == 0, run.err
    clean = tmp_path / "clean"
    assert cli(*tile_args(small_png, clean)).code == 0
    assert all_files(out) == all_files(clean)
    for name in all_files(clean):
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name
