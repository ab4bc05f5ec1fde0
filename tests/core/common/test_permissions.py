"""Exported files get the permissions a normal write gives (0o666 less the umask)."""

import os
import stat

import numpy as np
import pytest
from PIL import Image

from napari_axons.cli import main
from napari_axons.core.common import atomic_write_bytes


@pytest.fixture
def umask():
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(saved)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077, 0o027])
def test_atomic_write_gets_the_mode_of_a_normal_write(tmp_path, umask, mask):
    umask(mask)
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    with open(tmp_path / "plain.json", "w") as fh:
        fh.write("{}")
    assert _mode(tmp_path / "a.json") == _mode(tmp_path / "plain.json") == 0o666 & ~mask
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_every_file_of_an_export_is_readable_by_the_group_and_others(tmp_path, umask, rng):
    umask(0o022)
    Image.fromarray(rng.integers(0, 255, (600, 700, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["tile", str(tmp_path / "a.png"), "-o", str(out), "--model", "otsu"]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 4
    assert {p.name: _mode(p) for p in files} == {p.name: 0o644 for p in files}


def test_format_bridges_write_files_readable_by_the_group_and_others(tmp_path, umask, rng):
    """export-geojson and export-coco write like a plain open() (not mkstemp's 0o600)."""
    pytest.importorskip("pycocotools")
    umask(0o022)
    Image.fromarray(rng.integers(0, 255, (600, 700, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["tile", str(tmp_path / "a.png"), "-o", str(out), "--model", "otsu"]) == 0
    assert main(["export-geojson", str(out), "-o", str(tmp_path / "a.geojson")]) == 0
    assert main(["export-coco", str(out), "-o", str(tmp_path / "coco.json")]) == 0
    assert _mode(tmp_path / "a.geojson") == _mode(tmp_path / "coco.json") == 0o644
