"""Helpers shared by the reliability tests (imported as ``reliability_helpers``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from napari_axons.core.common import TMP_PREFIX


class CliRun:
    """The outcome of one ``napari-axons`` call: exit code, stdout, stderr lines."""

    def __init__(self, code: int, out: str, err: str):
        self.code = code
        self.out = out
        self.err = err
        self.lines = [line for line in err.splitlines() if line.strip()]

    def one_error(self, *fragments: str) -> str:
        """Assert exactly one ``error:`` line on stderr, holding every fragment; return it."""
        assert "Traceback" not in self.err, self.err
        errors = [line for line in self.lines if line.startswith("napari-axons: error: ")]
        assert len(errors) == 1, self.err
        for fragment in fragments:
            assert fragment in errors[0], (fragment, errors[0])
        return errors[0]


def all_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden ones too), relative, sorted."""
    folder = Path(folder)
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def assert_clean(folder: Path) -> None:
    """No temporary file, and every PNG in the folder decodes completely."""
    names = all_files(folder)
    assert not [n for n in names if Path(n).name.startswith(TMP_PREFIX)], names
    assert_whole(folder)


def assert_whole(folder: Path) -> None:
    """Every PNG under its own name decodes completely (temporary files may be half written)."""
    for name in all_files(folder):
        if name.endswith(".png") and not Path(name).name.startswith(TMP_PREFIX):
            with Image.open(Path(folder) / name) as im:
                im.load()  # raises on a half-written file


def tile_files(folder: Path) -> list[str]:
    return [n for n in all_files(folder) if n.endswith((".png", ".json")) and n != "manifest.json"]


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)
