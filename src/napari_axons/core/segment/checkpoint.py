"""Hugging Face checkpoint folders: checked, loaded once per (folder, device, options), cached.

Safetensors only unless pickled weights are allowed; nothing downloaded, no
remote code; weights saved in float16/bfloat16 are loaded as float32 (float16
kept on request, for CUDA); a one-channel (grey) model's image processor is
wrapped to take RGB tiles (:class:`~.model_classes.LuminanceInput`); one logit
(``num_labels=1``) is a sigmoid model; the folder's training pixel size is read from
``napari_axons.json`` or ``config.json``. Used by
:class:`~napari_axons.core.segment.HFSegmenter`; ``torch`` and
``transformers`` are imported inside functions only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import ModelError, one_line
from .model_classes import LuminanceInput, input_channels

__all__ = ["SIDECAR", "clear_model_cache", "get_checkpoint"]


@dataclass
class _Loaded:
    model: Any
    processor: Any
    config: Any
    weights: list[Path]
    device: str
    pickled: bool
    pixel_size_um: float | None = None
    dtype: str = "float32"
    #: tile sizes whose dry run passed (see HFSegmenter._dry_run)
    checked: set = field(default_factory=set, repr=False)
    #: measured processor geometry per tile size (see HFSegmenter.geometry)
    geometry: dict = field(default_factory=dict, repr=False)
    _sha: str | None = field(default=None, repr=False)

    def weights_sha256(self) -> str:
        """sha256 of the weights file, or of the shards' digests in file order."""
        if self._sha is None:
            digests = []
            for p in self.weights:
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                        h.update(chunk)
                digests.append(h.hexdigest())
            if len(digests) == 1:
                self._sha = digests[0]
            else:
                self._sha = hashlib.sha256("\n".join(digests).encode()).hexdigest()
        return self._sha


_MODEL_CACHE: dict[tuple, _Loaded] = {}
_CACHE_LOCK = threading.Lock()


def clear_model_cache() -> None:
    """Forget every loaded checkpoint (they are reloaded on next use)."""
    with _CACHE_LOCK:
        _MODEL_CACHE.clear()


def _weights_files(path: Path, allow_pickle: bool) -> tuple[list[Path], bool]:
    """The weight files to load and whether they are pickled; ModelError if unusable."""
    single = path / "model.safetensors"
    index = path / "model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        files = _shards(path, index)
    else:
        pt_single = path / "pytorch_model.bin"
        pt_index = path / "pytorch_model.bin.index.json"
        if pt_single.is_file() or pt_index.is_file():
            if not allow_pickle:
                raise ModelError(
                    f"{path}: only pickled weights (pytorch_model.bin) found; unpickling can "
                    "run arbitrary code, so it needs an explicit opt-in (allow_pickle=True), "
                    "or convert the weights to model.safetensors"
                )
            return ([pt_single] if pt_single.is_file() else _shards(path, pt_index)), True
        others = sorted(p.name for p in path.glob("*.h5")) + sorted(
            p.name for p in path.glob("*.msgpack")
        )
        extra = f" (found only {', '.join(others)}: not PyTorch weights)" if others else ""
        raise ModelError(f"{path}: no weights (model.safetensors) in the folder{extra}")
    _check_safetensors(files)
    return files, False


def _shards(path: Path, index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ModelError(f"{index}: unreadable weights index ({one_line(e, 120)})") from e
    files = []
    for name in names:
        p = (path / name).resolve()
        if p.parent != path.resolve() or not p.is_file():
            raise ModelError(f"{index}: weights shard {name!r} is missing from {path}")
        files.append(p)
    if not files:
        raise ModelError(f"{index}: the weights index lists no files")
    return files


def _check_safetensors(files: list[Path]) -> None:
    from safetensors import safe_open

    for p in files:
        try:
            with safe_open(str(p), framework="pt") as f:
                if not list(f.keys()):
                    raise ModelError(f"{p}: the weights file holds no tensors")
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(
                f"{p}: corrupt or truncated weights file ({one_line(e, 160)})"
            ) from e


def _file_key(files: list[Path]) -> tuple:
    out = []
    for p in files:
        if p.is_file():
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


#: The small file a model folder may hold beside config.json, for napari-axons.
SIDECAR = "napari_axons.json"


def _pixel_size(path: Path, raw_config: dict) -> float | None:
    """The training pixel size (um) a model folder states, or None.

    ``napari_axons.json`` beside ``config.json`` (``{"pixel_size_um": 0.1}``)
    wins over a ``pixel_size_um`` field of ``config.json``.
    """
    sidecar = path / SIDECAR
    where, value = path / "config.json", raw_config.get("pixel_size_um")
    if sidecar.is_file():
        try:
            doc = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            raise ModelError(f"{sidecar}: unreadable ({one_line(e, 120)})") from e
        if "pixel_size_um" in doc:
            where, value = sidecar, doc["pixel_size_um"]
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value <= 0:
        raise ModelError(f"{where}: pixel_size_um must be a positive number of micrometres, "
                         f"got {value!r}")
    return float(value)


def _load_checkpoint(path: Path, device: str, allow_pickle: bool, half: bool = False) -> _Loaded:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelError(f"{path}: no config.json: not a Hugging Face checkpoint folder")
    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise ModelError(f"{config_file}: unreadable config ({one_line(e, 120)})") from e
    weights, pickled = _weights_files(path, allow_pickle)
    pixel_size_um = _pixel_size(path, raw)
    if not (path / "preprocessor_config.json").is_file():
        raise ModelError(
            f"{path}: no preprocessor_config.json (the image processor settings); "
            "save one next to the model with processor.save_pretrained(folder)"
        )

    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForSemanticSegmentation
    from transformers.utils import logging as hf_logging

    try:
        config = AutoConfig.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=False
        )
    except Exception as e:
        raise ModelError(
            f"{config_file}: unsupported or invalid config (model_type "
            f"{raw.get('model_type')!r}; remote code is never run): {one_line(e, 160)}"
        ) from e
    n = int(getattr(config, "num_labels", 0) or 0)
    if n < 1:
        raise ModelError(f"{path}: the model has no class (num_labels {n})")

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model, loading = AutoModelForSemanticSegmentation.from_pretrained(
            str(path),
            config=config,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=not pickled,
            output_loading_info=True,
            # weights saved in float16/bfloat16 are upcast: half-precision convolutions
            # do not run on every CPU, and float32 gives the same masks on every device
            dtype=torch.float32,
        )
    except Exception as e:
        raise ModelError(f"{path}: cannot load the model: {one_line(e, 200)}") from e
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    missing = sorted(loading.get("missing_keys") or ())
    if missing:
        raise ModelError(
            f"{path}: the weights do not match config.json: {len(missing)} tensor(s) missing "
            f"(e.g. {missing[0]})"
        )
    try:
        processor = AutoImageProcessor.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=False
        )
    except Exception as e:
        raise ModelError(
            f"{path / 'preprocessor_config.json'}: cannot load the image processor: "
            f"{one_line(e, 160)}"
        ) from e
    channels = input_channels(config, processor)
    if channels == 1:  # a grey model (SEM/TEM): it is given each tile's luminance
        processor = LuminanceInput(processor)
    elif channels != 3:
        raise ModelError(f"{path}: the model takes {channels} channels per pixel; napari-axons "
                         "gives it RGB (3) or grey (1) tiles")
    model.eval()
    try:
        model.to(device)
        if half:
            model.half()
    except Exception as e:
        raise ModelError(f"{path}: cannot move the model to {device}: {one_line(e, 160)}") from e
    return _Loaded(model, processor, config, weights, device, pickled, pixel_size_um,
                   "float16" if half else "float32")


def get_checkpoint(path: Path, device: str, allow_pickle: bool, half: bool = False) -> _Loaded:
    # every file of the folder by name, size and mtime: a change on disk reloads
    files = sorted(p for p in path.iterdir() if p.is_file())
    key = (str(path), device, bool(allow_pickle), bool(half), _file_key(files))
    with _CACHE_LOCK:
        hit = _MODEL_CACHE.get(key)
        if hit is None:
            hit = _load_checkpoint(path, device, allow_pickle, half)
            # one entry per (path, device, options): drop stale versions of this folder
            for k in [k for k in _MODEL_CACHE if k[:4] == key[:4]]:
                del _MODEL_CACHE[k]
            _MODEL_CACHE[key] = hit
        return hit
