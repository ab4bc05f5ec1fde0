"""The format bridges in the dock widget: "Also write" after an export, "Load from" other formats.

* **Also write** (a choice beside Export): once an export has finished, the
  same worker bar runs the core converter on the export folder, in a thread:
  QuPath GeoJSON to ``EXPORT/<base>.geojson`` (:func:`~napari_axons.core.formats.export_geojson`),
  COCO to ``EXPORT/annotations.json`` (:func:`~napari_axons.core.formats.coco.export_coco`),
  OME-Zarr labels into the opened image as ``IMAGE.zarr/labels/napari-axons``
  (:func:`~napari_axons.core.formats.ngff_labels.export_ngff_labels`; only when the
  image is an OME-Zarr image, else the choice says why, one line). The status
  line names the file written and its number of objects; a failure is one
  line, and the core writes atomically (nothing half-written; Cancel stops the
  converter at its next tile and leaves no file).
* **Load from** (a choice beside "Load masks"): an export folder (the earlier
  flow, :mod:`._flows`), a QuPath GeoJSON file (a ``.geojson`` picked while
  "export folder" is chosen counts too), a mask image of the whole image
  (AxonDeepSeg's ``*_seg-axonmyelin*.png``, class indices or 0/255; a ``.png``
  or ``.tif`` file picked while "export folder" is chosen counts too), or the
  OME-Zarr labels of the opened image (:mod:`napari_axons.core.session.foreign`). The load runs in a thread;
  over hand edits it stops before writing anything and asks: "Yes" replaces
  them, "No" cancels. Classes the session lacks are added to the legend.
* Opening an OME-Zarr image that has labels: the status line says so, and
  "Load from" switches to them (one click loads them).
"""

from __future__ import annotations

import queue
import threading
from functools import partial
from pathlib import Path

from ..core.formats import NgffError, export_geojson, open_ngff_image
from ..core.formats.coco import export_coco
from ..core.formats.ngff_labels import export_ngff_labels
from ..core.geometry import TileBox
from ..core.labels import MASK_IMAGE_SUFFIXES
from ..core.session import EditsInTheWay
from ._status_line import tile_names

__all__ = ["ALSO_WRITE", "LOAD_FROM", "NOTHING", "GEOJSON", "COCO", "NGFF", "FROM_EXPORT",
           "FROM_GEOJSON", "FROM_MASK", "FROM_LABELS", "is_mask_image", "in_thread",
           "ngff_refusal", "start_also_write",
           "load_other", "show_load_from", "tell_labels", "is_geojson"]

NOTHING, GEOJSON, COCO, NGFF = "nothing", "QuPath GeoJSON", "COCO", "OME-Zarr labels"
#: What the Export button also writes once the export has finished.
ALSO_WRITE = [NOTHING, GEOJSON, COCO, NGFF]
FROM_EXPORT, FROM_GEOJSON, FROM_MASK, FROM_LABELS = ("export folder", "QuPath GeoJSON",
                                                     "mask image", "OME-Zarr labels")
#: Where "Load masks" takes the masks from.
LOAD_FROM = [FROM_EXPORT, FROM_GEOJSON, FROM_MASK, FROM_LABELS]
PROGRESS, QUESTION, DONE = "progress", "question", "done"


class _Stopped(Exception):
    """Raised inside a converter's progress callback once its worker was cancelled."""


def in_thread(fn, *args, **kwargs):
    """Run ``fn(*args, progress=..., **kwargs)`` in a thread; a generator over its progress.

    Yields ``(PROGRESS, done, total)`` as ``fn`` reports (only the latest of
    several reports waiting), returns ``fn``'s result, raises its error. Closed
    early (a Cancel), it makes ``fn``'s next progress call raise, so ``fn``
    stops and cleans up (the core's writers leave no partial file), and waits
    for it.
    """
    items: queue.Queue = queue.Queue()
    stop = threading.Event()
    out: dict = {}

    def progress(done, total):
        if stop.is_set():
            raise _Stopped("cancelled")
        items.put((PROGRESS, int(done), int(total)))

    def run():
        try:
            out["value"] = fn(*args, progress=progress, **kwargs)
        except BaseException as exc:  # handed to the generator, raised there
            out["error"] = exc
        finally:
            items.put(None)

    thread = threading.Thread(target=run, name="napari-axons-bridge", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not None:
            while not items.empty():  # only the latest report
                nxt = items.get()
                if nxt is None:
                    items.put(None)
                    break
                item = nxt
            yield item
    finally:
        stop.set()
        thread.join()
    if "error" in out:
        raise out["error"]
    return out.get("value")


def is_geojson(path) -> bool:
    return path is not None and Path(path).is_file() and Path(path).suffix.lower() in (".geojson", ".json")


def is_mask_image(path) -> bool:
    return path is not None and Path(path).is_file() and Path(path).suffix.lower() in MASK_IMAGE_SUFFIXES


# ==================================================================== also write
def ngff_refusal(session) -> str | None:
    """Why OME-Zarr labels cannot be written for the session's image (None: they can)."""

    if session is None:
        return None
    name = session.path.name
    if session.in_memory or not Path(session.path).is_dir():
        return (f"OME-Zarr labels are written into an OME-Zarr image; {name} is not one "
                "(choose QuPath GeoJSON or COCO)")
    try:
        open_ngff_image(session.path)
    except NgffError as exc:
        return str(exc)
    return None


def _also_write(kind: str, out: Path, base: str, image: Path):
    """The converter of ``kind`` over export ``out``; yields progress, then ``(DONE, text, warnings)``."""
    if kind == GEOJSON:

        s = yield from in_thread(export_geojson, out, out / f"{base}.geojson", base=base)
        text, warnings = f"QuPath GeoJSON: {s.n_features} objects written to {s.path}", s.warnings
    elif kind == COCO:

        s = yield from in_thread(export_coco, out, out / "annotations.json")
        text = (f"COCO: {s.n_annotations} objects over {s.n_images} tiles written to {s.path}")
        warnings = s.warnings
    else:

        path = yield from in_thread(export_ngff_labels, out, image, base=base)
        text, warnings = f"OME-Zarr labels written into the image: {path}", []
    yield DONE, text, warnings


def start_also_write(w, kind: str, out: Path, base: str, tiles: int):
    """Run the ``kind`` converter over the finished export ``out`` (the widget's runner)."""
    if w.session is None or w.busy:
        return None

    def on_item(item):
        if item[0] == PROGRESS:
            w.runner.advance_to(item[1], item[2])
        else:
            for line in item[2]:
                w.say(line, "warning")
            w.final = item[1]

    return w.runner.start(_also_write(kind, Path(out), base, w.session.path), tiles,
                          f"Writing {kind}", on_item)


# ==================================================================== load from
def _load(load):
    """Run a session load in a thread; over hand edits, ask (``QUESTION``) and go on if told."""
    try:
        summary = yield from in_thread(load)
    except EditsInTheWay as exc:
        answer: queue.Queue = queue.Queue()
        yield QUESTION, exc, answer
        if not answer.get():
            return None
        summary = yield from in_thread(load, overwrite_edits=True)
    yield DONE, summary
    return summary


def load_other(w, kind: str, path: Path | None):
    """Load a QuPath GeoJSON file, a mask image or the image's OME-Zarr labels into the masks."""
    s = w.session
    if kind == FROM_LABELS:
        if not s.image_label_names():
            w.say(f"{s.path.name} has no OME-Zarr labels to load"
                   + ("" if Path(s.path).is_dir() else " (it is not an OME-Zarr image)"), "warning")
            return None
        load, desc, what = s.load_ngff_labels, "Loading OME-Zarr labels", "the OME-Zarr labels"
    elif kind == FROM_MASK or (kind == FROM_EXPORT and is_mask_image(path)):
        if not is_mask_image(path):
            w.say("choose a mask image of the whole image (.png, .tif) to load masks from",
                  "warning")
            return None
        load, desc, what = partial(s.load_mask_image, path), "Loading the mask image", "the mask"
    else:
        if path is None or not Path(path).is_file():
            w.say("choose a QuPath GeoJSON file (.geojson) to load masks from", "warning")
            return None
        load, desc, what = partial(s.load_geojson, path), "Loading GeoJSON", "the GeoJSON's objects"
    w.window.flush()
    w.note = ""

    def on_item(item):
        if item[0] == PROGRESS:
            w.runner.advance_to(item[1], item[2])
        elif item[0] == QUESTION:
            _, exc, answer = item
            yes = False
            try:

                yes = w.confirm("Replace edits?", f"Tile(s) {tile_names(exc.tiles)} hold hand edits. "
                                f"Loading {what} replaces the masks under them, edits included. Load?")
            finally:
                answer.put(yes)
            if not yes:
                w.final = "loading cancelled: the hand edits are kept"
        else:
            _loaded(w, item[1])

    return w.runner.start(_load(load), 1, desc, on_item, unit="regions")


def _loaded(w, summary) -> None:
    """Show what a load put into the store: classes, the edit window, the status line."""
    s = w.session
    if s.classes != w.overlays.classes:
        w.show_classes()
    if w.window.box is not None:
        y0, x0, y1, x1 = w.window.box
        w.window.copy_from_store(TileBox(-1, y0, x0, y1 - y0, x1 - x0))
    for note in summary.notes:
        w.say(note, "warning")
    if is_mask_image(summary.source):
        what = f"the mask image {summary.source.name}"
    elif summary.source.is_file():
        what = f"{summary.objects} objects from {summary.source}"
    else:
        what = f"the OME-Zarr labels {summary.source}"
    added = f"; class(es) added: {', '.join(summary.added)}" if summary.added else ""
    w.final = f"{what} loaded into the masks of {len(summary.tiles)} tile(s){added}"


# ==================================================================== the controls
def show_load_from(w, _=None) -> None:
    """The "Masks from" picker follows "Load from": a folder, a .geojson file, or none."""
    kind = w.controls.import_from.value
    edit = w.controls.import_dir
    edit.visible = kind != FROM_LABELS
    if kind == FROM_GEOJSON:
        edit.mode, edit.filter = "r", "GeoJSON (*.geojson *.json)"
        edit.tooltip = "A QuPath GeoJSON file (Export objects as GeoJSON), in full-resolution pixels"
    elif kind == FROM_MASK:
        edit.mode, edit.filter = "r", "Mask images (*.png *.tif *.tiff)"
        edit.tooltip = ("A mask of the whole image: AxonDeepSeg's _seg-axonmyelin (0/127/255), "
                        "class indices 0, 1, 2, ... or 0/255; the image's size")
    else:
        edit.mode, edit.filter = "d", None
        edit.tooltip = "An earlier export of this image: its polygons become the masks to edit"


def check_also_write(w, _=None) -> None:
    """Say at once why the chosen "Also write" cannot be written for this image."""
    if w.controls.also_write.value == NGFF:
        refused = ngff_refusal(w.session)
        if refused:
            w.say(refused, "warning")


def tell_labels(w, session) -> None:
    """A newly opened OME-Zarr image with labels: say so, and point "Load from" at them."""
    names = session.image_label_names()
    if names:
        w.controls.import_from.value = FROM_LABELS
        w.say(f"{session.path.name} has OME-Zarr labels ({', '.join(names)}): press Load masks "
               "to put them into the masks and edit them")
