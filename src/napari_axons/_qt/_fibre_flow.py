"""The Fibres section's buttons: Measure (in a worker), remove the selected fibres, save the table.

* **Measure fibres** measures the tiles that hold masks (segmented, edited,
  exported), the selected tiles, or a rectangle drawn on the image (*Draw
  region*: a Shapes layer), in the session's mask store, on a worker with the
  widget's progress bar and Cancel. One line says why not when the image has no
  ``axon`` or ``myelin`` class or no pixel size (the Fibres section shows the
  pixel size field too).
* **Remove** a false detection: the selected fibres' axon and myelin pixels
  become background in the mask store as a hand edit (:meth:`Session.paint
  <napari_axons.core.session.Session.paint>`: recorded, the tiles marked edited,
  so the next export writes them), their rows leave the table, the layer and the
  plot; the status line says what was removed. A fibre whose pixels changed in
  the masks since it was measured (a hand edit, a new segmentation: its checksum,
  :attr:`FibreMap.signatures <._fibre_map.FibreMap.signatures>`, differs) is left
  alone and said so (measure again): removing never erases a later edit.
* **Save** the table as CSV (:func:`~napari_axons.core.fibres.write_csv`) and its
  summary as JSON (:func:`~napari_axons.core.fibres.write_summary_json`), by
  default beside the image's export folder.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.common import ExportError
from ..core.fibres import FibreInputError, class_indices, write_csv, write_summary_json
from ..core.session import HAS_MASK
from ._fibre_table import drop_fibres
from ._fibre_work import DONE, PROGRESS, measure_fibres
from ._grid_layer import bounding_box
from ._status_line import tile_names
from ._worker import one_line

__all__ = ["AREAS", "REGION_LAYER", "measure", "measure_area", "draw_region", "remove_selected",
           "save_table", "default_table_path"]

#: What Measure fibres measures.
AREAS = ("tiles with masks", "selected tiles", "drawn region")
REGION_LAYER = "fibres: region to measure"


def _region_layer(w):
    return next((layer for layer in w.viewer.layers if layer.name == REGION_LAYER), None)


def draw_region(panel) -> object:
    """A Shapes layer to draw the rectangle to measure in (made active, rectangle tool on)."""
    w = panel.w
    if w.layer is None:
        w.say("open an image first", "warning")
        return None
    layer = _region_layer(w)
    if layer is None:
        image = w.layer
        layer = w.viewer.add_shapes(name=REGION_LAYER, edge_color="#ffd000", face_color="transparent",
                                    edge_width=3, scale=tuple(image.scale[-2:]),
                                    translate=tuple(image.translate[-2:]))
    w.viewer.layers.selection.active = layer
    layer.mode = "add_rectangle"
    panel.area.value = "drawn region"
    w.say("drag a rectangle on the image, then Measure fibres (the last rectangle drawn is measured)")
    return layer


def measure_area(w, which: str) -> tuple[tuple[int, int, int, int], str] | str:
    """``(box, what)``: the working-pixel box to measure and its description, or why not."""
    s = w.session
    if which == "drawn region":
        layer = _region_layer(w)
        if layer is None or not len(layer.data):
            return "draw a rectangle first (Draw region, then drag on the image)"
        corners = [w.overlays.placement.world_to_working(layer.data_to_world(v))
                   for v in np.asarray(layer.data[-1])[:, -2:]]
        ys, xs = [c[0] for c in corners], [c[1] for c in corners]
        box = (max(min(ys), 0), max(min(xs), 0), min(max(ys) + 1, s.working.height),
               min(max(xs) + 1, s.working.width))
        if box[2] <= box[0] or box[3] <= box[1]:
            return "the rectangle drawn is outside the image: draw it on the image"
        return box, f"the drawn region ({box[3] - box[1]} x {box[2] - box[0]} px)"
    tiles = (sorted(s.selected) if which == "selected tiles"
             else sorted(i for i, st in s.status.items() if st in HAS_MASK))
    if not tiles:
        return ("select tiles first (click them on the canvas, or Select all)"
                if which == "selected tiles" else
                "no tile holds masks yet: segment, paint or load masks first")
    y0, x0, y1, x1 = bounding_box(s.grid[i] for i in tiles)
    box = (max(y0, 0), max(x0, 0), min(y1, s.working.height), min(x1, s.working.width))
    return box, f"the {len(tiles)} {which}"


def measure(panel):
    """Measure the chosen area's fibres in a worker; returns the worker (or None)."""
    w = panel.w
    s = w.session
    if w.busy:
        w.say("a job is running: wait for it (or Cancel it), then Measure fibres", "warning")
        return None
    if s is None:
        w.say("open an image first", "warning")
        return None
    w.window.flush()
    name = s.path.name
    try:
        class_indices(s.classes, name)
    except FibreInputError as exc:
        w.say(f"Measuring fibres: {one_line(exc)}", "warning")
        return None
    px = s.working_pixel_size
    if px is None:
        w.say(f"Measuring fibres: {name} has no pixel size: type it in Pixel size (um) above "
              "(micrometres per pixel) and press Enter", "warning")
        panel.pixel_size.native.setFocus()
        return None
    if not math.isclose(px.x, px.y, rel_tol=1e-6):
        w.say(f"Measuring fibres: {name} has pixels of {px.x:g} x {px.y:g} um; fibres are "
              "measured on square pixels only", "warning")
        return None
    area = measure_area(w, panel.area.value)
    if isinstance(area, str):
        w.say(f"Measuring fibres: {area}", "warning")
        return None
    box, what = area
    working = s.working
    gen = measure_fibres(s.store.levels[0], s.classes, box=box,
                         scale=(working.scale_y, working.scale_x), pixel_size_um=px.x,
                         working_key=(working.factor, *s.working_shape), name=name, what=what,
                         root=w.cache_dir)

    def on_item(item):
        if item[0] == PROGRESS:
            w.runner.advance_to(item[1], item[2])
        elif item[0] == DONE:
            w.final = panel.show_result(item[1], s)

    worker = w.runner.start(gen, 1, "Measuring fibres", on_item, unit="steps")
    w.show_job_progress(0, 0, f"Measuring fibres in {what}...")
    panel.measure.enabled = False
    worker.finished.connect(lambda: setattr(panel.measure, "enabled", True))
    return worker


def remove_selected(panel) -> list[int]:
    """Remove the selected fibres from the table and their pixels from the masks (a hand
    edit); returns the fibre ids removed."""
    w, r = panel.w, panel.result
    if r is None or not panel.selected:
        w.say("select fibres first: click one on the fibres layer (Shift: more), or lasso "
              "points in the plot", "warning")
        return []
    s = w.session
    if w.busy and not w.runner.background:
        w.say("a job is running: remove fibres once it has finished", "warning")
        return []
    if s is not panel.session or r.working_key != (s.working.factor, *s.working_shape):
        w.say("these fibres were measured on another image or downsample factor: Measure "
              "fibres again first", "warning")
        return []
    w.window.flush()
    kept = (s.classes.index_of("axon"), s.classes.index_of("myelin"))
    removed, changed, pixels, tiles = [], [], 0, set()
    for fid in sorted(panel.selected):
        box = r.working_box(fid)
        if box is None:
            continue
        y0, x0, mask = r.fmap.pixels(fid, box)
        cm = s.store.read(y0, x0, y0 + mask.shape[0], x0 + mask.shape[1])
        if (not mask.any() or not np.isin(cm[mask], kept).all()
                or r.fmap.signature(y0, x0, mask, cm) != r.fmap.signatures.get(fid)):
            changed.append(fid)  # painted, segmented or loaded since it was measured
            continue
        cm[mask] = 0
        tiles.update(s.paint(y0, x0, cm))
        r.fmap.remove(fid, box)
        removed.append(fid)
        pixels += int(mask.sum())
    if removed:
        rows = [r.table.row(r.index_of(fid)) for fid in removed]
        r.table = drop_fibres(r.table, removed)
        r.removed.extend(removed)
        for t in sorted(tiles):
            w.window.copy_from_store(s.grid[t])
        w.overlays.refresh_overview()
        w.draw_status()
    panel.after_removal(removed)
    if len(removed) == 1:
        g, d = rows[0]["gratio"], rows[0]["axon_diam"]
        text = (f"removed fibre {removed[0]} (g-ratio {g:.3g}, axon diameter {d:.3g} um): its "
                if g == g else f"removed fibre {removed[0]} (axon diameter {d:.3g} um): its ")
    elif removed:
        text = f"removed {len(removed)} fibres ({tile_names(removed)}): their "
    else:
        text = "removed no fibre"
    if removed:
        text += (f"{pixels} pixels are background in the masks now (hand edits in tile(s) "
                 f"{tile_names(sorted(tiles))}, written by the next export); "
                 f"{r.table.n_fibres} fibres left")
    if changed:
        text += (f"; fibre(s) {tile_names(changed)} left alone: their masks changed since they "
                 "were measured (Measure fibres again)")
    w.say(text, "warning" if changed else "info")
    return removed


def default_table_path(w) -> Path | None:
    """``IMAGE_fibres.csv`` beside the image's export folder (else beside the image)."""
    s = w.session
    if s is None:
        return None
    export = w.controls.export_dir.value
    stem = Path(s.path.name).stem
    if stem.lower().endswith((".ome", ".tar")):
        stem = Path(stem).stem
    if export is not None and str(export) not in ("", "."):
        return Path(export).parent / f"{stem}_fibres.csv"
    return None if s.in_memory else s.path.parent / f"{stem}_fibres.csv"


def save_table(panel) -> list[Path]:
    """Write the table (CSV) and its summary (``*_summary.json`` beside it); returns the paths."""
    w, r = panel.w, panel.result
    if r is None:
        w.say("measure fibres first", "warning")
        return []
    path = panel.save_to.value
    if path is None or str(path) in ("", "."):
        path = default_table_path(w)
        if path is None:
            w.say("choose where to save the table (Save to)", "warning")
            return []
        panel.save_to.value = path
    path = Path(path)
    if path.suffix.lower() != ".csv":
        path = path.with_name(path.name + ".csv")
    summary = path.with_name(path.stem + "_summary.json")
    there = [p.name for p in (path, summary) if p.exists()]
    if there and not w.confirm("Replace the fibre table?", f"{' and '.join(there)} already "
                               f"exist(s) in {path.parent}. Replace?"):
        w.say("nothing saved: the files there are kept")
        return []
    try:
        write_csv(r.table, path)
        write_summary_json(r.table, summary, source=str(panel.session.path))
    except (ExportError, OSError) as exc:
        w.say(f"Saving fibres: {one_line(exc)}", "error")
        return []
    w.say(f"saved {r.table.n_fibres} fibres ({len(r.table)} rows) to {path.name} and their "
          f"summary to {summary.name} in {path.parent}")
    return [path, summary]
