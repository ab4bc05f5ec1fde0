"""Checkpoints shipped inside the package, by name (``--model axon-myelin-sem``).

Each is an ordinary Hugging Face checkpoint folder under ``builtin/NAME/``
beside this module (package data), loaded by the normal checkpoint loader:
nothing is downloaded. :func:`builtin_model_path` turns a name into that
folder; callers treat every other string as they always did. A name wins over
a folder of the same name in the current directory (write ``./NAME`` for the
folder).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .base import ModelError

__all__ = ["BUILTIN_MODELS", "builtin_model_path"]

#: Names of the shipped checkpoints.
BUILTIN_MODELS = ("axon-myelin-sem",)


def builtin_model_path(name) -> Path | None:
    """The folder of the built-in checkpoint ``name`` (any case), or None for other names.

    Raises
    ------
    ModelError
        ``name`` is a built-in model but its files are not installed (a
        broken installation).
    """
    if not isinstance(name, str) or name.strip().lower() not in BUILTIN_MODELS:
        return None
    key = name.strip().lower()
    folder = Path(str(resources.files(__package__) / "builtin" / key))
    if not (folder / "config.json").is_file():
        raise ModelError(f"the built-in model {key!r} is not installed with this copy of "
                                f"napari-axons (expected {folder})")
    return folder
