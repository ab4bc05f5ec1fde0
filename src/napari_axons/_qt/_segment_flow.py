"""The Segment button: ask before replacing hand edits, then segment in a worker.

Segmenting over hand-edited pixels (painted on any grid, exported or not) asks
first: "Yes" replaces the edited pixels, "No" keeps them and segments around
them, and the status line says which tiles kept their edits. While the model
loads the status says so (a checkpoint can take seconds); once loaded, its
classes join the image's class table by name (:meth:`Session.adopt_classes
<napari_axons.core.session.Session.adopt_classes>`: nothing the other tiles use
is removed) and a model trained at another pixel size is named. A tile whose
values no class stands for stops the run with one line naming the tile.
"""

from __future__ import annotations

from ..core.segment import ModelError, pixel_size_note
from ..core.session import SessionError
from ._segmenter_choice import segmenter_name
from ._status_line import tile_names
from ._worker import LOADED, one_line, segment_tiles

__all__ = ["segment"]




def segment(w):
    """Segment the selected tiles in a thread worker; returns the worker (or None)."""

    s = w.session
    if w.busy or s is None:
        return None
    w.window.flush()
    todo = sorted(s.selected)
    if not todo:
        w.say("select tiles first (click them on the canvas, or Select all)", "warning")
        return None
    edited = s.edited_tiles(todo)
    overwrite, w.note = False, ""
    if edited:
        names = tile_names(edited)
        overwrite = w.confirm("Replace hand edits?",
                              f"Tile(s) {names} hold hand edits. Segmenting replaces the edited "
                              "pixels. Replace them? (No: keep the edits and segment around them)")
        if not overwrite:
            w.note = f"hand edits kept in tile(s) {names}"
    try:
        make = w.make_segmenter()
    except ModelError as exc:
        w.say(one_line(exc), "error")
        return None
    boxes = s.check_segment(todo, overwrite_edits=overwrite, keep_edits=True)
    loaded = {}

    def load():  # in the worker; its classes are shown when LOADED arrives
        segmenter = loaded["segmenter"] = make()
        return segmenter

    def on_segmented(value):
        if value == LOADED:
            segmenter = loaded.get("segmenter")
            s.adopt_classes(getattr(segmenter, "classes", None))
            if s.classes != w.overlays.classes:
                w.show_classes()
            for note in (getattr(segmenter, "class_note", None),
                         pixel_size_note(segmenter, s.working_pixel_size)):
                if note:
                    w.say(note, "info")
            w.runner.advance_to(0, len(boxes))
            return
        box, mask = value
        try:
            s.write_segmented(box, mask, segmenter=loaded.get("segmenter"))
        except SessionError as exc:  # values no class stands for: stop, say which tile
            w.runner.fail(one_line(exc))
            return
        w.window.copy_from_store(box)
        w.runner.advance()
        w.redraw_now_and_then()

    worker = w.runner.start(segment_tiles(s.working, boxes, load), len(boxes), "Segmenting",
                            on_segmented)
    w.show_job_progress(0, 0, f"Segmenting: loading {segmenter_name(w.controls)}...")
    return worker
