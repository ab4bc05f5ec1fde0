"""Atomic, resumable exports: a killed run resumes to the same bytes; nothing is clobbered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
from PIL import Image
from reliability_helpers import all_files, assert_whole, tile_files

from napari_axons.core.common import TMP_PREFIX
from napari_axons.core.export import JOURNAL_NAME

BIG_ARGS = ["--png-compression", "9", "--threads", "1", "--tile-size", "256"]


@pytest.fixture(scope="module")
def big_image(tmp_path_factory):
    """3000 x 3000 RGB TIFF: 144 tiles of 256, a few seconds at zlib level 9 on one thread."""
    n = 3000
    rng = np.random.default_rng(7)
    r = np.arange(n, dtype=np.int64)
    channels = [np.add.outer(r * a % 256, r * b % 256).astype(np.uint8)  # wraps mod 256
                for a, b in ((3, 7), (5, 2), (11, 1))]
    img = np.stack(channels, -1) ^ rng.integers(0, 32, (n, n, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("big") / "big.tif"
    tifffile.imwrite(path, img, tile=(256, 256))  # uncompressed: quick to write
    return path


def _kill_part_way(src, out, min_tiles=8):
    cmd = [sys.executable, "-m", "napari_axons", "tile", str(src), "-o", str(out), *BIG_ARGS]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and sum(1 for p in out.glob("big_tile_*.png")) >= min_tiles:
                break
            time.sleep(0.02)
        else:
            pytest.fail(f"the export did not start or ended early: {proc.stderr.read().decode()}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_killed_export_resumes_byte_identical(tmp_path, big_image, cli):
    out = tmp_path / "out"
    _kill_part_way(big_image, out)
    partial = tile_files(out)
    assert 8 <= len(partial) < 144
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "running"
    assert (out / JOURNAL_NAME).exists()
    # Every tile under its own name is whole (atomic renames, whatever the kill cut). A kill
    # between creating a temporary file and renaming it leaves that file; resume removes it.
    assert_whole(out)
    assert all(n.startswith(TMP_PREFIX) or n == JOURNAL_NAME or n == "manifest.json"
               or n.startswith("big_tile_") for n in all_files(out)), all_files(out)
    (out / f"{TMP_PREFIX}stale").write_bytes(b"half a tile")  # as a kill during a write leaves

    # Without --resume the folder is refused, untouched.
    before = {n: (out / n).read_bytes() for n in all_files(out)}
    run = cli("tile", big_image, "-o", out, *BIG_ARGS)
    assert run.code == 1
    run.one_error(f"{out}: already holds an export; "
                  "use --resume to continue it or --overwrite to replace it")
    assert {n: (out / n).read_bytes() for n in all_files(out)} == before

    # Other options are refused too.
    run = cli("tile", big_image, "-o", out, *BIG_ARGS[:-1], "128", "--resume")
    assert run.code == 1
    run.one_error("cannot resume: the existing export used other inputs or options")

    run = cli("tile", big_image, "-o", out, *BIG_ARGS, "--resume")
    assert run.code == 0, run.err
    assert "already done" in run.out

    reference = tmp_path / "reference"
    assert cli("tile", big_image, "-o", reference, *BIG_ARGS).code == 0
    names = all_files(reference)
    assert len(names) == 145 and all_files(out) == names  # no journal, no temp file left
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.fixture
def two_images(tmp_path, picture):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(picture(100, 100)).save(a)
    Image.fromarray(picture(64, 64)).save(b)
    return a, b


def test_non_empty_folder_is_refused_and_overwrite_keeps_foreign_files(tmp_path, two_images, cli):
    a, b = two_images
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run = cli("tile", a, "-o", out, "--tile-size", "64")
    assert run.code == 1
    run.one_error(f"{out}: is not empty; use --resume to continue it or --overwrite to replace it")
    assert all_files(out) == ["notes.txt"]

    assert cli("tile", a, "-o", out, "--tile-size", "64", "--overwrite").code == 0
    assert tile_files(out) == [f"a_tile_{k:04d}.png" for k in range(4)]
    # Files napari-axons did not write, even ones that look like tiles, survive --overwrite.
    (out / "masks").mkdir()
    (out / "masks" / "mine_mask.png").write_bytes(b"not ours")
    (out / "zz_tile_0000.png").write_bytes(b"not ours either")
    run = cli("tile", b, "-o", out, "--tile-size", "64")
    assert run.code == 1
    run.one_error("already holds an export; "
                  "use --resume to continue it or --overwrite to replace it")
    run = cli("tile", b, "-o", out, "--tile-size", "64", "--overwrite")
    assert run.code == 0, run.err
    assert all_files(out) == ["b_tile_0000.png", "manifest.json", "masks/mine_mask.png",
                              "notes.txt", "zz_tile_0000.png"]
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_and_overwrite_together(tmp_path, two_images, cli):
    run = cli("tile", two_images[0], "-o", tmp_path / "o", "--resume", "--overwrite")
    assert run.code == 2
    run.one_error("--resume and --overwrite cannot be used together")
    assert not (tmp_path / "o").exists()


def test_resume_of_a_complete_export_writes_nothing(tmp_path, two_images, cli):
    out = tmp_path / "out"
    assert cli("tile", *two_images, "-o", out, "--tile-size", "64").code == 0
    stamps = {n: (out / n).stat().st_mtime_ns for n in all_files(out)}
    run = cli("tile", *two_images, "-o", out, "--tile-size", "64", "--resume")
    assert run.code == 0 and "0 tiles written" in run.out and "5 already done" in run.out
    assert {n: (out / n).stat().st_mtime_ns for n in tile_files(out)} == {
        n: s for n, s in stamps.items() if n != "manifest.json"}


def test_resume_into_a_foreign_folder_is_refused(tmp_path, two_images, cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"precious")
    run = cli("tile", two_images[0], "-o", out, "--resume")
    assert run.code == 1
    run.one_error(f"{out}: nothing to resume (no manifest.json), folder not empty")
    assert all_files(out) == ["thesis.docx"]
