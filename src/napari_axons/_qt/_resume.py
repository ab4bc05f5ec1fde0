"""Reopening an export resumes it: the session comes back in the widget, ready to paint and export.

An export folder opened in napari (File > Open, drag and drop, ``napari-axons view
EXPORT``; the plugin's reader gives its image and a labels layer) used to give a
labels layer the widget ignored. Now, when the widget takes that image:

* the session is made with the export's grid (tile size, overlap, downsample)
  and the pixel size the export recorded; its image is the export's source file
  when it is still where the manifest says (and unchanged), else the export's
  own tiles reassembled;
* the export's masks load into the session's mask store tile by tile (with
  progress): its classes become the image's (by name), its tiles are marked
  "exported", and they show in the one editable layer, ``paint here: axons masks``;
* *Export to* is the export itself, so exporting writes back what changed
  (incrementally); for an export whose source image is gone, a new folder beside
  it is proposed instead (the reassembled tiles are another image);
* the reader's labels layer of that export is removed (its pixels are in the
  editable layer: edits made on a second copy would never reach the export).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.common import ExportError
from ..core.export import list_exported_tiles
from ..core.image import open_image
from ..core.session import Session, SessionError
from ._image_file import layer_pixels
from ._masks_flow import start_loading
from ._worker import one_line

__all__ = ["ExportRef", "export_of", "open_session", "export_folder", "load", "drop_labels_of"]


@dataclass(frozen=True)
class ExportRef:
    """The export an image layer was read from."""

    folder: Path
    base: str
    source: Path | None  # the source file, when the layer shows it (else: the export's tiles)


def _ours(layer) -> dict:
    meta = getattr(layer, "metadata", None) or {}
    ours = meta.get("napari_axons")
    return ours if isinstance(ours, dict) else {}


def export_of(layer) -> ExportRef | None:
    """The export ``layer`` (an image) was read from by the plugin's reader, or None."""
    ours = _ours(layer)
    if not ours.get("export") or not ours.get("base"):
        return None
    folder = Path(ours["export"])
    if not (folder / "manifest.json").is_file():
        return None
    source = ours.get("path") if ours.get("from_source") else None
    return ExportRef(folder, str(ours["base"]), Path(source) if source else None)


def open_session(w, layer, export: ExportRef) -> Session:
    """A session over ``layer``'s image with the export's grid (its masks load later).

    Raises
    ------
    ValueError, OSError, ImageReadError
        The export's manifest or image cannot be read.
    """
    try:
        exported = next(im for im in list_exported_tiles(export.folder) if im.base == export.base)
    except StopIteration:
        raise ValueError(f"{export.folder}: no image {export.base!r} in its manifest") from None
    factor = exported.downsample if export.source is not None else 1
    kwargs = {"cache_dir": w.cache_dir, "tile_size": exported.tile_size,
              "overlap": exported.overlap, "downsample": int(factor),
              "overview_min_side": 1024}
    if export.source is not None:
        session = Session(export.source, source=open_image(export.source), **kwargs)
        recorded = exported.entry.source.pixel_size if exported.entry is not None else None
        if recorded is not None and recorded != session.pixel_size:  # set in the panel, kept
            session.set_pixel_size((recorded.y, recorded.x), recorded.origin)
    else:  # the export's own tiles: its working pixels, at factor 1
        session = Session.from_array(layer_pixels(layer), export.base, **kwargs)
    w.set_grid_controls(exported.tile_size, exported.overlap, int(factor))
    return session


def export_folder(export: ExportRef | None, session) -> Path | None:
    """Where the resumed session exports: the export itself, or (source gone) a new folder."""
    if export is None:
        return None
    if export.source is not None:
        return export.folder
    return export.folder.parent / f"{export.folder.name}_corrected"


def load(w, export: ExportRef):
    """Load the export's masks, classes and statuses into the new session (a worker)."""

    s = w.session
    drop_labels_of(w, export.folder)
    try:
        loadable = s.check_loadable(export.folder,
                                    base=export.base if export.source is None else None)
    except (SessionError, ExportError, OSError) as exc:
        w.say(f"{export.folder}: its masks could not be loaded ({one_line(exc)})", "error")
        return None
    where = ("Export writes what you change back into it" if export.source is not None else
             f"its source image is gone: you edit its tiles, and Export writes a new export "
             f"({export_folder(export, s).name})")
    final = (f"resumed {export.folder.name}: the masks of its {len(loadable.tiles)} tile(s) are "
             "in 'paint here: axons masks' (select tiles to paint them); " + where)
    return start_loading(w, loadable, desc="Resuming the export", final=final)


def drop_labels_of(w, folder: Path) -> int:
    """Remove the reader's labels layers of export ``folder`` (the widget shows its masks)."""
    from napari.layers import Labels

    folder = Path(folder).resolve()
    doomed = [la for la in w.viewer.layers if isinstance(la, Labels) and _ours(la).get("export")
              and Path(_ours(la)["export"]).resolve() == folder]
    for layer in doomed:
        w.viewer.layers.remove(layer)
    return len(doomed)
