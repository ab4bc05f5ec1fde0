"""An export folder's files: their names (:class:`ExportFiles`) and the folder (:class:`ExportLayout`).

Layout (the seed's, DESIGN.md §1)::

    OUT/{base}_tile_{NNNN}.png              RGB tile
    OUT/masks/{base}_tile_{NNNN}_mask.png   uint8 mask, 0 or 255 (palette: class indices)
    OUT/{base}_tile_{NNNN}__labels.json     Django-Labeller polygons
    OUT/manifest.json                       maps every tile back to the image

Every file is written to a hidden temporary name in its folder and renamed
into place (:func:`~napari_axons.core.common.atomic_write_bytes`), so a reader
never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..common import ExportError
from ..geometry import tile_stem
from ..labels import AXONDEEPSEG_SUFFIXES

__all__ = ["MANIFEST_NAME", "MANIFEST_FORMAT", "ExportFiles", "ExportLayout"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "napari-axons-export/1"


class ExportFiles:
    """The file names of an export, relative to its folder (the seed's layout)."""

    masks_folder = "masks"
    manifest = MANIFEST_NAME

    @staticmethod
    def stem(base: str, index: int) -> str:
        """The seed's stem of tile ``index``: ``{base}_tile_{index:04d}``."""
        return tile_stem(base, index)

    @staticmethod
    def tile(stem: str) -> str:
        return f"{stem}.png"

    @staticmethod
    def mask(stem: str) -> str:
        return f"{ExportFiles.masks_folder}/{stem}_mask.png"

    @staticmethod
    def labels(stem: str) -> str:
        return f"{stem}__labels.json"

    @staticmethod
    def of_tile(stem: str, *, with_masks: bool, axondeepseg: bool = False) -> dict[str, str]:
        """``{"tile", "mask", "labels", "seg-axon", ...}`` of one tile, in writing order."""
        files = {"tile": ExportFiles.tile(stem)}
        if with_masks:
            files["mask"] = ExportFiles.mask(stem)
            files["labels"] = ExportFiles.labels(stem)
            if axondeepseg:
                for kind, suffix in AXONDEEPSEG_SUFFIXES.items():
                    files[f"seg-{kind}"] = stem + suffix
        return files


class ExportLayout:
    """An export folder on disk; its file names come from :class:`ExportFiles` (their one owner)."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.masks = self.out / ExportFiles.masks_folder
        self.manifest = self.out / MANIFEST_NAME

    tile_name = staticmethod(ExportFiles.tile)
    mask_name = staticmethod(ExportFiles.mask)
    labels_name = staticmethod(ExportFiles.labels)

    def path(self, relative: str) -> Path:
        return self.out / relative

    def prepare(self, *, with_masks: bool) -> None:
        """Create the folders, with one clear error when that is impossible."""
        for folder in [self.out] + ([self.masks] if with_masks else []):
            if folder.exists() and not folder.is_dir():
                raise ExportError(f"{folder}: exists and is not a folder")
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ExportError(f"{folder}: cannot create folder ({exc.strerror or exc})") from exc
        if not os.access(self.out, os.W_OK | os.X_OK):
            raise ExportError(f"{self.out}: folder is not writable")
