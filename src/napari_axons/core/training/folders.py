"""The run's folders: ``MODEL_DIR.partial`` while training, ``MODEL_DIR`` once finished.

* ``MODEL_DIR.partial/`` while training: ``run.json`` (the settings and the
  split), ``state/checkpoint-N/`` (the ``Trainer``'s resume state at each
  validation: model, optimizer, scheduler, RNG; a checkpoint counts once its
  ``trainer_state.json``, written last, is there), ``state/history.json``,
  ``best.safetensors``; and at the end ``model/`` (the finished files).
* ``MODEL_DIR/`` appears only when training ended: ``MODEL_DIR.partial/model``
  renamed in one step, then ``MODEL_DIR.partial`` removed.

So an interrupted run never leaves a folder that looks like a finished model.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from .options import TrainingError

__all__ = ["PARTIAL_SUFFIX", "check_folders", "complete_checkpoints", "make_partial", "publish",
           "write_json"]

PARTIAL_SUFFIX = ".partial"


def check_folders(model_dir: Path, resume: bool, overwrite: bool) -> Path:
    """The run's ``.partial`` folder, after checking what is there (nothing is written)."""
    partial = model_dir.with_name(model_dir.name + PARTIAL_SUFFIX)
    if model_dir.exists() and not model_dir.is_dir():
        raise TrainingError(f"{model_dir}: exists and is not a folder")
    if model_dir.is_dir() and any(model_dir.iterdir()) and not overwrite:
        raise TrainingError(f"{model_dir}: already exists and is not empty; choose another -o "
                            "or add --overwrite")
    if resume and not (partial / "run.json").is_file():
        raise TrainingError(f"{partial}: no interrupted training run to resume")
    if not resume and partial.exists():
        raise TrainingError(f"{partial}: an interrupted training run is there; continue it with "
                            "--resume, or delete that folder")
    return partial


def make_partial(model_dir: Path, partial: Path) -> None:
    """Create ``partial/state``; one line when the place is not writable."""
    try:
        (partial / "state").mkdir(parents=True, exist_ok=True)
        probe = partial / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"{model_dir}: cannot write there "
                            f"({exc.strerror or type(exc).__name__})") from None


def write_json(path: Path, doc) -> None:
    """``doc`` as indented JSON, written atomically (numpy numbers and paths allowed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=_json_default), encoding="utf-8")
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def complete_checkpoints(state: Path) -> list[Path]:
    """Checkpoints whose ``trainer_state.json`` (written last) parses, oldest first."""
    out = []
    for p in state.glob("checkpoint-*"):
        try:
            step = int(p.name.split("-", 1)[1])
            json.loads((p / "trainer_state.json").read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        out.append((step, p))
    return [p for _, p in sorted(out)]


def publish(final: Path, model_dir: Path, partial: Path, overwrite: bool) -> None:
    """Move the finished model into place in one rename, then drop the run's folder."""
    old = None
    if model_dir.exists():
        if not overwrite and any(model_dir.iterdir()):
            raise TrainingError(f"{model_dir}: appeared while training; the model is in {final}")
        old = model_dir.with_name(model_dir.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(model_dir, old)
    os.replace(final, model_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)
