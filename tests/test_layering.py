"""The layering contract: the headless modules import no GUI or model stack, and change nothing.

Every module of the package except the Qt layer (``napari_axons._qt``) and
``__main__`` (it runs the CLI) is imported in a *fresh* interpreter, one after
the other: ``core/*``, ``cli``, and the npe2 reader, writer and sample-data
modules. A module added later is covered without editing this file.

* None of them may import Qt (PyQt*, PySide*, qtpy, superqt), napari, magicgui,
  vispy, torch or transformers at import time: the core runs on dask workers
  and servers with none of those, and ``import torch`` alone costs seconds.
* Importing them changes no process-wide state: ``os.environ`` is the same
  after, and so is torch's thread count (checked with torch imported before
  them, and against a fresh interpreter when imported after them).
* The wings import in one direction (the import-linter contract in
  ``pyproject.toml``, run by ``make test``); an upward import breaks it with a
  line naming both modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

BANNED = ("PyQt5", "PyQt6", "PySide2", "PySide6", "qtpy", "superqt", "napari", "magicgui",
          "vispy", "torch", "transformers")

_PROBE = textwrap.dedent("""
    import importlib, json, os, pkgutil, sys, traceback

    torch_first = sys.argv[1] == "torch-first"
    if torch_first:
        import torch
        threads_before = torch.get_num_threads()
    env_before = dict(os.environ)
    import napari_axons

    names = sorted(
        m.name for m in pkgutil.walk_packages(napari_axons.__path__, "napari_axons.")
        if not m.name.startswith("napari_axons._qt") and m.name != "napari_axons.__main__"
    )
    banned = set(json.loads(sys.argv[2]))
    package = os.path.dirname(napari_axons.__file__)
    origin = {}

    class Spy:  # where each banned package is first imported from (file:line of ours)
        def find_spec(self, fullname, path=None, target=None):
            top = fullname.split(".")[0]
            if top in banned and top not in origin and top not in sys.modules:
                for frame in reversed(traceback.extract_stack()):
                    if frame.filename.startswith(package):
                        rel = os.path.relpath(frame.filename, os.path.dirname(package))
                        origin[top] = f"{rel}:{frame.lineno}"
                        break
            return None

    sys.meta_path.insert(0, Spy())
    culprits = {}
    for name in names:
        before = set(sys.modules)
        importlib.import_module(name)
        new = sorted({m.split(".")[0] for m in set(sys.modules) - before} & banned)
        if new:
            culprits[name] = [f"{m} (at {origin.get(m, '?')})" for m in new]
    env_after = dict(os.environ)
    changed = sorted(k for k in set(env_before) | set(env_after)
                     if env_before.get(k) != env_after.get(k))
    if not torch_first:
        import torch
        threads_before = None
    print(json.dumps({"modules": names, "culprits": culprits, "env_changed": changed,
                      "threads_before": threads_before,
                      "threads_after": torch.get_num_threads()}))
""")


def probe(mode: str) -> dict:
    """Run the probe in a fresh interpreter; OpenMP variables unset, so a change would show."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", _PROBE, mode, json.dumps(BANNED)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh():
    pytest.importorskip("torch")
    return probe("modules-first")


def test_every_headless_module_is_checked(fresh):
    modules = set(fresh["modules"])
    assert {"napari_axons.cli", "napari_axons._reader", "napari_axons._writer",
            "napari_axons._sample_data", "napari_axons.core.export", "napari_axons.core.export.tilepath",
            "napari_axons.core.segment", "napari_axons.core.export.cluster"} <= modules
    assert not any(m.startswith("napari_axons._qt") for m in modules)


def test_no_gui_or_model_stack_at_import_time(fresh):
    lines = [f"importing {module} imports {', '.join(found)}"
             for module, found in fresh["culprits"].items()]
    assert not lines, "\n".join(lines)


def test_importing_changes_no_environment_variable(fresh):
    assert fresh["env_changed"] == []


def test_importing_leaves_torch_threads_alone(fresh):
    first = probe("torch-first")
    assert first["env_changed"] == [] and first["culprits"] == {}
    assert first["threads_after"] == first["threads_before"]
    assert fresh["threads_after"] == first["threads_before"]  # as in an untouched interpreter


# --------------------------------------------------------------------------- the wings' import order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lint_imports(cwd) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    if not os.path.exists(exe):
        pytest.skip("import-linter is not installed (the test extra)")
    env = {**os.environ, "PYTHONPATH": os.path.join(cwd, "src")}
    return subprocess.run([exe, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_an_upward_import_breaks_the_contract_naming_both_modules(tmp_path):
    """The import-linter contract in pyproject.toml holds, and catches a wing importing upwards."""
    import shutil

    shutil.copy(os.path.join(ROOT, "pyproject.toml"), tmp_path / "pyproject.toml")
    shutil.copytree(os.path.join(ROOT, "src"), tmp_path / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    kept = _lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    axes = tmp_path / "src" / "napari_axons" / "core" / "image" / "axes.py"
    axes.write_text(axes.read_text() + "\nfrom ..session import Session  # noqa: E402,F401\n")
    broken = _lint_imports(tmp_path)
    assert broken.returncode != 0
    assert ("napari_axons.core.image is not allowed to import napari_axons.core.session"
            in broken.stdout)
    assert "napari_axons.core.image.axes -> napari_axons.core.session" in broken.stdout


def test_the_core_names_its_main_entry_points_without_importing_them():
    """``napari_axons.core`` reaches the wings' main names lazily (PEP 562)."""
    code = ("import sys, napari_axons.core as core; "
            "assert 'napari_axons.core.session' not in sys.modules; "
            "import importlib; "
            "assert all(getattr(core, n) is getattr(importlib.import_module("
            "'napari_axons.core.' + core._WHERE[n]), n) for n in core.__all__); "
            "assert 'napari_axons.core.session' in sys.modules")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
