"""Load masks from an export, save and open a session: the Correct section's buttons.

* **Load masks** from an export of this image: over hand-edited pixels it asks
  first ("No" keeps the edits). The export's classes join the image's class
  table by name (myelin appears in the legend); the tiles load in a worker, one
  at a time. A QuPath GeoJSON file or the image's OME-Zarr labels load through
  :mod:`._bridges`. :func:`start_loading` is also how a reopened export resumes.
* **Save session** writes the image's masks, hand edits and statuses to a folder
  (replacing a session saved there only after asking); **Open session** brings
  them back for the same image (asking first when it has edits of its own).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from ..core.common import ExportError
from ..core.session import EditsInTheWay, Session, SessionError
from . import _bridges
from ._image_file import layer_pixels, session_key
from ._status_line import tile_names
from ._worker import load_export_masks, one_line

__all__ = ["load_masks", "start_loading", "save_session", "open_session"]


def load_masks(w):
    """Load the masks of an earlier export of this image; returns the worker (or None)."""

    s, c = w.session, w.controls
    if w.busy or s is None:
        return None
    kind, picked = c.import_from.value, c.import_dir.value
    if (kind != _bridges.FROM_EXPORT or _bridges.is_geojson(picked)
            or _bridges.is_mask_image(picked)):  # GeoJSON, a mask image, OME-Zarr labels
        return _bridges.load_other(w, kind, picked)
    folder = w.chosen_folder(c.import_dir, "an export folder to load masks from")
    if folder is None:
        return None
    w.window.flush()
    try:
        try:
            loadable = s.check_loadable(folder)
        except EditsInTheWay as exc:
            if not w.confirm("Replace edits?", f"Tile(s) {tile_names(exc.tiles)} hold hand "
                             "edits. Loading the export's masks replaces the masks under its "
                             "tiles, edits included. Load?"):
                w.say("loading cancelled: the hand edits are kept")
                return None
            loadable = s.check_loadable(folder, overwrite_edits=True)
    except (SessionError, ExportError, OSError) as exc:
        w.say(one_line(exc), "error")
        return None
    if not loadable.same_grid:
        e = loadable.exported
        w.say(f"the export used tile size {e.tile_size} and overlap {e.overlap}: its masks are "
              "loaded, tiles are not marked exported")
    return start_loading(w, loadable)


def start_loading(w, loadable, desc: str = "Loading masks", final: str | None = None):
    """Load ``loadable``'s tiles into the session in a worker; returns the worker."""
    s = w.session
    w.note = ""
    before = s.classes

    def on_loaded(value):
        tile, mask, table, notes = value
        for note in notes:
            w.say(note, "warning")
        if mask is not None:
            try:
                w.window.copy_from_store(s.write_loaded(tile, mask, loadable, table))
            except SessionError as exc:
                w.runner.fail(one_line(exc))
                return
            if s.classes != w.overlays.classes:
                w.show_classes()
                added = [n for n in s.classes.names if n not in before.names]
                w.note = f"class(es) added: {', '.join(added)}"
        w.runner.advance()
        w.redraw_now_and_then()

    worker = w.runner.start(load_export_masks(loadable), len(loadable.tiles), desc, on_loaded)
    w.final = final
    return worker


def save_session(w) -> Path | None:
    """Save the session to the chosen folder; returns it (or None)."""
    s = w.session
    if w.busy or s is None:
        return None
    folder = w.chosen_folder(w.controls.session_dir, "a folder to save the session in")
    if folder is None:
        return None
    w.window.flush()
    old = folder / "session.json"
    if old.exists() and not w.confirm("Replace the saved session?", f"{folder} holds a saved "
                                      "session; saving replaces it (its masks and edits are "
                                      "deleted). Replace it?"):
        w.say(f"not saved: the session in {folder} is kept")
        return None
    tmp = folder.with_name(f".{folder.name}.saving-{uuid.uuid4().hex[:8]}")
    try:
        s.save(tmp)
        if old.exists():
            shutil.rmtree(folder)
        elif folder.exists():
            folder.rmdir()  # OSError when it holds other files: nothing is replaced
        tmp.rename(folder)
    except (SessionError, OSError) as exc:
        _remove_tree(tmp)
        why = getattr(exc, "strerror", None) or one_line(exc).replace(str(tmp), str(folder))
        w.say(f"{folder}: cannot save the session here ({why}); choose an empty or new "
              "folder", "error")
        return None
    w.say(f"session saved in {folder}")
    return folder


def open_session(w):
    """Replace the current image's session with one saved for it; returns it (or None)."""
    s = w.session
    if w.busy or s is None:
        return None
    folder = w.chosen_folder(w.controls.session_dir, "a saved session folder")
    if folder is None:
        return None
    w.window.flush()
    if not s.edits.empty and not w.confirm(
            "Replace hand edits?", "This image has hand edits; opening the saved session "
            "replaces its masks, edits and statuses. Open it?"):
        w.say("not opened: the hand edits are kept")
        return None
    try:
        array = layer_pixels(w.layer) if s.in_memory else None
        new = Session.load(folder, path=s.path, array=array, cache_dir=w.cache_dir)
    except (SessionError, OSError, ValueError) as exc:
        w.say(one_line(exc), "error")
        return None
    w.sessions[session_key(w.layer)] = w.session = new
    s.close()
    w.set_grid_controls(*new.grid_key)
    w.show_classes()
    w.rebuild_grid()
    w.fields.show_pixel_size(new)
    w.say(f"session opened from {folder}")
    return new


def _remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
