"""The npe2 manifest is valid and every python_name imports (as napari loads it)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

import napari_axons

MANIFEST = Path(napari_axons.__file__).parent / "napari.yaml"


def _python_names():
    doc = yaml.safe_load(MANIFEST.read_text())
    return [c["python_name"] for c in doc["contributions"]["commands"]]


def test_every_python_name_imports():
    names = _python_names()
    assert len(names) >= 5
    for name in names:
        module, attr = name.split(":")
        obj = getattr(importlib.import_module(module), attr)
        assert callable(obj), name


def test_manifest_validates_with_npe2():
    from npe2 import PluginManifest

    pm = PluginManifest.from_file(MANIFEST)
    assert pm.name == "napari-axons"
    npe2 = Path(sys.executable).parent / "npe2"
    exe = str(npe2) if npe2.exists() else shutil.which("npe2")
    assert exe, "npe2 command not found"
    res = subprocess.run([exe, "validate", "napari-axons", "--imports"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "valid" in (res.stdout + res.stderr).lower()
