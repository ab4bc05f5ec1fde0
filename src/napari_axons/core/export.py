"""Writing an export folder: tile PNGs, masks, label JSON and the manifest.

Layout (the seed's, DESIGN.md §1)::

    OUT/{base}_tile_{NNNN}.png              RGB tile
    OUT/masks/{base}_tile_{NNNN}_mask.png   uint8 mask, 0 or 255
    OUT/{base}_tile_{NNNN}__labels.json     Django-Labeller polygons
    OUT/manifest.json                       maps every tile back to the image

Every file is written to a hidden temporary name in its folder and renamed
into place (:func:`atomic_write_bytes`), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .common.files import ExportError

__all__ = ["MANIFEST_NAME", "MANIFEST_FORMAT", "ExportLayout", "dumps_manifest", "read_manifest"]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "napari-axons-export/1"






















class ExportLayout:
    """An export folder on disk; its file names come from
    :class:`napari_axons.core.manifest.ExportFiles` (their one owner)."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.masks = self.out / "masks"
        self.manifest = self.out / MANIFEST_NAME

    @staticmethod
    def tile_name(stem: str) -> str:
        from .manifest import ExportFiles

        return ExportFiles.tile(stem)

    @staticmethod
    def mask_name(stem: str) -> str:
        from .manifest import ExportFiles

        return ExportFiles.mask(stem)

    @staticmethod
    def labels_name(stem: str) -> str:
        from .manifest import ExportFiles

        return ExportFiles.labels(stem)

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




def dumps_manifest(manifest: dict) -> bytes:
    """Deterministic JSON for a manifest document (sorted keys, 1-space indent).

    :meth:`napari_axons.core.manifest.Manifest.dumps` writes typed manifests the same way.
    """
    return (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def read_manifest(path: Path) -> dict:
    """Read and validate an export manifest (a file or an export folder), as a JSON dict.

    The validation is :func:`napari_axons.core.manifest.load_manifest`'s; prefer
    that typed reader in new code.

    Raises
    ------
    napari_axons.core.manifest.ManifestError
        (an :class:`ExportError`) Missing, malformed, or not a napari-axons
        manifest; the message names the file and the field.
    """
    from .manifest import load_manifest

    return load_manifest(path).to_json()
