"""The npe2 manifest ships inside the wheel and validates from a wheel install."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_the_manifest_and_validates(tmp_path):
    pip = [sys.executable, "-m", "pip"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT),
                            "-w", str(tmp_path / "wheel")], capture_output=True, text=True)
    if build.returncode != 0:  # no recent setuptools in this environment: build isolated
        build = subprocess.run([*pip, "wheel", "--no-deps", "-q", str(ROOT),
                                "-w", str(tmp_path / "wheel")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "wheel").glob("napari_axons-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "napari_axons/napari.yaml" in names
        assert b"napari_axons._qt._reader:napari_get_reader" in zf.read("napari_axons/napari.yaml")
        builtin = "napari_axons/core/segment/builtin/axon-myelin-sem/"
        for f in ("config.json", "model.safetensors", "preprocessor_config.json",
                  "napari_axons.json"):
            assert builtin + f in names  # the built-in model ships in the wheel
        assert zf.getinfo(builtin + "model.safetensors").file_size < 20 * 2**20
        entry = next(n for n in names if n.endswith("entry_points.txt"))
        assert b"napari_axons:napari.yaml" in zf.read(entry)
    target = tmp_path / "site"
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import napari_axons; print(napari_axons.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(target))
    npe2 = Path(sys.executable).with_name("npe2")
    check = subprocess.run([str(npe2), "validate", "napari-axons", "--imports"], env=env,
                           capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0 and "valid" in check.stdout, check.stdout + check.stderr
