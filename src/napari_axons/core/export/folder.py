"""What exporting into a folder would do: start, add to an export, or replace one (no Qt).

The widget (and :meth:`~napari_axons.core.session.Session.export`) first look
at the folder:

* missing or empty: a new export;
* an export of the **same image** (its fingerprint) **and grid** (tile size,
  overlap, downsample factor), of that image alone: the tiles are *added*. Tiles
  already there are kept byte for byte (the resume rule), the manifest lists
  old and new tiles;
* an export of another image or grid (or several images): exporting replaces
  it, which deletes the files that export wrote. :attr:`FolderCheck.deletes`
  says what, in words, so the user can be asked first;
* files that are not an export: refused (nothing of the user's is ever deleted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .files import MANIFEST_NAME
from .manifest import load_manifest

__all__ = ["FolderCheck", "check_export_folder", "NEW", "ADD", "REPLACE", "FOREIGN"]

NEW, ADD, REPLACE, FOREIGN = "new", "add", "replace", "foreign"


@dataclass(frozen=True)
class FolderCheck:
    """The state of an export folder, for one image and grid.

    Attributes
    ----------
    folder : Path
    kind : str
        :data:`NEW`, :data:`ADD`, :data:`REPLACE` or :data:`FOREIGN`.
    tiles : tuple of int
        Tile indices already exported (for :data:`ADD`).
    deletes : str
        What replacing the folder's export deletes, in words ("" when nothing).
    reason : str
        Why the export there differs (for :data:`REPLACE`) or why the folder is
        refused (:data:`FOREIGN`).
    """

    folder: Path
    kind: str
    tiles: tuple[int, ...] = field(default=())
    deletes: str = ""
    reason: str = ""


def check_export_folder(folder: str | Path, *, source_hash: str, tile_size: int, overlap: int,
                        downsample: int, options: dict | None = None) -> FolderCheck:
    """Look at ``folder`` before exporting an image with this fingerprint and grid.

    ``options`` (``ExportOptions.grid_key()``), when given, must equal the
    export's too for tiles to be added.

    Raises
    ------
    ExportError
        A manifest that cannot be read (one line naming the file).
    """
    folder = Path(folder)
    manifest = folder / MANIFEST_NAME
    others = [p for p in folder.iterdir() if not p.name.startswith(".napari-axons")] \
        if folder.is_dir() else []
    if not manifest.exists():
        if not others:
            return FolderCheck(folder, NEW)
        return FolderCheck(folder, FOREIGN, reason=f"{folder}: is not empty and holds no "
                           "napari-axons export; choose an empty folder or an earlier export")
    doc = load_manifest(manifest)
    images = doc.images
    n_files = sum(len(t.files) for im in images for t in im.tiles)
    n_tiles = sum(len(im.tiles) for im in images)
    names = ", ".join(im.source.name or im.base for im in images) or "no image"
    deletes = (f"the export in {folder} ({n_tiles} tile(s) of {names}: {n_files} files, "
               "tile images, masks and label files) will be deleted")
    if len(images) != 1:
        return FolderCheck(folder, REPLACE, deletes=deletes,
                           reason=f"{folder} holds an export of {len(images)} images")
    image = images[0]
    same_image = image.source.hash == source_hash
    theirs = (image.grid.tile_size, image.grid.overlap, image.working.downsample)
    ours = (tile_size, overlap, downsample)
    if not same_image:
        return FolderCheck(folder, REPLACE, deletes=deletes,
                           reason=f"{folder} holds an export of another image ({names})")
    if theirs == ours and options is not None and doc.options != options:
        return FolderCheck(folder, REPLACE, deletes=deletes,
                           reason=f"{folder} holds an export made with other options")
    if theirs != ours:
        return FolderCheck(folder, REPLACE, deletes=deletes, reason=(
            f"{folder} holds an export with tile size {theirs[0]}, overlap {theirs[1]}, "
            f"downsample {theirs[2]} (now {ours[0]}, {ours[1]}, {ours[2]})"))
    tiles = tuple(sorted(t.index for t in image.tiles))
    return FolderCheck(folder, ADD, tiles=tiles, deletes=deletes)
