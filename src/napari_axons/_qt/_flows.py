"""The widget's Segment, Export and "Load masks from export" buttons: questions, then a worker.

Each decides with the session (:mod:`napari_axons.core.session`) and asks the
user where something would be lost:

* **Segment** over hand-edited pixels (painted on any grid, exported or not)
  asks first: "Yes" replaces the edited pixels, "No" keeps them and segments
  around them, and the status line says which tiles kept their edits.
* **Export** into an export of the same image and grid adds the tiles (tiles
  already there are kept as they were, and the status says so). Into another
  export, or with "Replace the export in that folder" ticked, it first asks, in
  words that name what will be deleted; "No" keeps that export. The Replace box
  is cleared after every export (it never stays armed).
* **Load masks** over hand-edited pixels asks first; "No" keeps the edits. A
  QuPath GeoJSON file or the image's OME-Zarr labels load through :mod:`._bridges`,
  which also runs the "Also write" converters after an export.
* **Save session** writes the image's masks, hand edits and statuses to a folder
  (replacing a session saved there only after asking); **Open session** brings
  them back for the same image (asking first when it has edits of its own).

On a dask cluster ("Export on"), the export reads a snapshot of the mask store
taken when Export is pressed, kept in the export folder until it ends, so the
user can keep selecting and painting meanwhile; tiles edited meanwhile stay
"edited".
"""

from __future__ import annotations

import shutil
import threading
import uuid
from functools import partial
from pathlib import Path

import numpy as np

from ..core.common import ClassTable
from ..core.export import ADD, FOREIGN, REPLACE
from ..core.session import EditsInTheWay, SessionError
from . import _bridges
from ._image_file import layer_pixels, session_key
from ._worker import LOADED, load_export_masks, one_line, run_export, segment_tiles

__all__ = ["segment", "export", "load_masks", "save_session", "open_session", "tile_names"]


def tile_names(indices, most: int = 10) -> str:
    indices = list(indices)
    return ", ".join(map(str, indices[:most])) + (" ..." if len(indices) > most else "")


def segment(w):
    """Segment the selected tiles in a thread worker; returns the worker (or None)."""
    from ..core.segment import ModelError

    s = w.session
    if w.busy or s is None:
        return None
    w.window.flush()
    todo = sorted(s.selected)
    if not todo:
        w._say("select tiles first (click them on the canvas, or Select all)", "warning")
        return None
    edited = s.edited_tiles(todo)
    overwrite, w._note = False, ""
    if edited:
        names = tile_names(edited)
        overwrite = w.confirm("Replace hand edits?",
                              f"Tile(s) {names} hold hand edits. Segmenting replaces the edited "
                              "pixels. Replace them? (No: keep the edits and segment around them)")
        if not overwrite:
            w._note = f"hand edits kept in tile(s) {names}"
    try:
        make = w._make_segmenter()
    except ModelError as exc:
        w._say(one_line(exc), "error")
        return None
    boxes = s.check_segment(todo, overwrite_edits=overwrite, keep_edits=True)
    loaded = {}

    def load():  # in the worker; its classes are shown when LOADED arrives
        segmenter = loaded["segmenter"] = make()
        return segmenter

    def on_segmented(value):
        if value == LOADED:
            classes = getattr(loaded.get("segmenter"), "classes", None)
            if isinstance(classes, ClassTable) and classes != s.classes:
                w._set_classes(classes)
            return
        box, mask = value
        mask = np.asarray(mask)
        s.write_segmented(box, np.where(mask == 255, 1, mask),  # an old-style 0/255: class 1
                          segmenter=loaded.get("segmenter"))
        w.window.copy_from_store(box)
        w.runner.advance()
        w._redraw_now_and_then()

    return w.runner.start(segment_tiles(s.working, boxes, load), len(boxes), "Segmenting",
                          on_segmented)


def export(w):
    """Export tiles from the session's store; returns the worker (or None)."""
    from ..core.common import ExportError
    s = w.session
    if w.busy or s is None:
        return None
    out = w._chosen_folder(w._export_dir, "an export folder")
    if out is None:
        return None
    w.window.flush()
    which = w._export_which.value
    if which == "selected":
        indices = sorted(s.selected)
    elif which == "segmented":
        indices = sorted(i for i, st in s.status.items() if st in ("segmented", "edited", "exported"))
    else:
        indices = list(range(len(s.grid)))
    if not indices:
        w._say(f"no {which} tiles to export", "warning")
        return None
    also = w._also_write.value
    refused = _bridges.ngff_refusal(s) if also == _bridges.NGFF else None
    if refused:
        w._say(refused, "warning")
        return None
    try:
        where = w._target.where()
    except ValueError as exc:
        w._say(one_line(exc), "warning")
        return None
    replace, w._replace.value = w._replace.value, False  # one export only
    try:
        check = s.folder_check(out)
    except (ExportError, OSError) as exc:
        w._say(one_line(exc), "error")
        return None
    if check.kind == FOREIGN:
        w._say(check.reason, "error")
        return None
    if check.kind == REPLACE or (replace and check.kind == ADD):
        why = f"{check.reason}. " if check.kind == REPLACE else ""
        if not w.confirm("Replace the export?", f"{why}Exporting here replaces it: "
                                                f"{check.deletes}. Replace it?"):
            w._say(f"export cancelled: the export in {out} is kept")
            return None
        replace = True
    else:
        replace = False
    kept = sorted(set(indices) & set(check.tiles)) if check.kind == ADD and not replace else []
    w._note = (f"tile(s) {tile_names(kept)} were already in the export and are kept as they "
               "were (tick Replace to write them again)") if kept else ""
    snapshot, reader = None, None
    try:
        if where:  # a cluster: a frozen copy of the store that the workers read by path
            from ..core.session.maskstore import ZarrMaskReader

            snapshot = Path(out) / f".napari-axons-masks-{uuid.uuid4().hex[:8]}"
            s.store.snapshot(snapshot, [s.grid[i] for i in indices])
            reader = ZarrMaskReader(snapshot)
        job, _ = s.export_job(out, indices, replace=replace, mask_reader=reader)
    except (SessionError, ExportError, ValueError, OSError) as exc:
        _remove_tree(snapshot)
        w._say(one_line(exc), "error")
        return None
    stop = threading.Event() if where else None
    gen = run_export(job, **where, stop=stop,
                     on_close=None if snapshot is None else lambda: _remove_tree(snapshot))

    def on_exported(result):
        if not result.resumed and result.box.index not in w._edited_during:
            s.status[result.box.index] = "exported"
        w.runner.advance()

    if also != _bridges.NOTHING:  # once the export is done (RunView._on_run_finish)
        w._then = partial(_bridges.start_also_write, w, also, Path(out), job.plans[0].base,
                          job.total)
    return w.runner.start(gen, job.total, "Exporting", on_exported, background=bool(where),
                          stop=stop)


def load_masks(w):
    """Load the masks of an earlier export of this image; returns the worker (or None).

    The export must be of the same file (its fingerprint in the manifest) and
    the same downsample factor; its tiles' polygons are rendered one tile at a
    time into the store (later tiles win where they overlap), replacing what is
    there. With the same tile size and overlap, the tiles are marked "exported".
    """
    from ..core.common import ExportError
    s = w.session
    if w.busy or s is None:
        return None
    kind, picked = w._import_from.value, w._import_dir.value
    if kind != _bridges.FROM_EXPORT or _bridges.is_geojson(picked):  # GeoJSON, OME-Zarr labels
        return _bridges.load_other(w, kind, picked)
    folder = w._chosen_folder(w._import_dir, "an export folder to load masks from")
    if folder is None:
        return None
    w.window.flush()
    try:
        try:
            exported, same = s.check_loadable(folder)
        except EditsInTheWay as exc:
            if not w.confirm("Replace edits?", f"Tile(s) {tile_names(exc.tiles)} hold hand "
                             "edits. Loading the export's masks replaces the masks under its "
                             "tiles, edits included. Load?"):
                w._say("loading cancelled: the hand edits are kept")
                return None
            exported, same = s.check_loadable(folder, overwrite_edits=True)
    except (SessionError, ExportError, OSError) as exc:
        w._say(one_line(exc), "error")
        return None
    if not same:
        w._say(f"the export used tile size {exported.tile_size} and overlap "
               f"{exported.overlap}: its masks are loaded, tiles are not marked exported")
    w._note = ""

    def on_loaded(value):
        tile, mask, notes = value
        for note in notes:
            w._say(note, "warning")
        if mask is not None:
            w.window.copy_from_store(s.write_loaded(tile, mask, same))
        w.runner.advance()
        w._redraw_now_and_then()

    return w.runner.start(load_export_masks(exported), len(exported.tiles), "Loading masks",
                          on_loaded)


def save_session(w) -> Path | None:
    """Save the session to the chosen folder; returns it (or None)."""
    s = w.session
    if w.busy or s is None:
        return None
    folder = w._chosen_folder(w._session_dir, "a folder to save the session in")
    if folder is None:
        return None
    w.window.flush()
    old = folder / "session.json"
    if old.exists() and not w.confirm("Replace the saved session?", f"{folder} holds a saved "
                                      "session; saving replaces it (its masks and edits are "
                                      "deleted). Replace it?"):
        w._say(f"not saved: the session in {folder} is kept")
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
        w._say(f"{folder}: cannot save the session here ({one_line(exc)}); choose an empty "
               "folder", "error")
        return None
    w._say(f"session saved in {folder}")
    return folder


def open_session(w):
    """Replace the current image's session with one saved for it; returns it (or None)."""
    s = w.session
    if w.busy or s is None:
        return None
    folder = w._chosen_folder(w._session_dir, "a saved session folder")
    if folder is None:
        return None
    w.window.flush()
    if not s.edits.empty and not w.confirm(
            "Replace hand edits?", "This image has hand edits; opening the saved session "
            "replaces its masks, edits and statuses. Open it?"):
        w._say("not opened: the hand edits are kept")
        return None
    try:
        from ..core.session import Session

        array = layer_pixels(w._layer) if s.in_memory else None
        new = Session.load(folder, path=s.path, array=array, cache_dir=w.cache_dir)
    except (SessionError, OSError, ValueError) as exc:
        w._say(one_line(exc), "error")
        return None
    w._sessions[session_key(w._layer)] = w.session = new
    s.close()
    tile, overlap, factor = new.grid_key
    for control, value in ((w._tile_size, tile), (w._overlap, overlap), (w._downsample, factor)):
        with control.changed.blocked():
            control.value = value
    w._set_classes(new.classes)
    w._rebuild_grid()
    w._say(f"session opened from {folder}")
    return new


def _remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
