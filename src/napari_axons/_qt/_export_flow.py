"""The Export button: into the image's own export incrementally; anything else only after asking.

What happens is the session's rule (:mod:`napari_axons.core.session.exporting`);
this module asks where something would be replaced, then runs the job:

* a new folder, or the image's own export: no question. Tiles changed since
  they were exported (edited, segmented again, loaded) are written again, the
  others kept byte for byte, the manifest rewritten atomically; the status says
  ``(2 written, 4 kept as they were)``;
* its own export written with other classes or another pixel size: asks, then
  writes every tile again, in place (nothing is deleted);
* "Write the whole export again" ticked on its own export: asks with the number
  of tiles it writes, then writes every tile that holds masks here (tiles with no
  masks here are kept); the box is cleared after every export;
* another image's (or grid's) export: asks with what it deletes (tiles and
  files); "No" keeps it;
* files that are not an export: refused.

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

from ..core.common import ExportError
from ..core.export import ADD, FOREIGN, REPLACE
from ..core.session import HAS_MASK, REFRESH, ExportCounts, SessionError, ZarrMaskReader
from . import _bridges
from ._worker import one_line, run_export

__all__ = ["export", "export_question"]


def _indices(s, which: str) -> list[int]:
    if which == "selected":
        return sorted(s.selected)
    if which == "segmented":
        return sorted(i for i, st in s.status.items() if st in HAS_MASK)
    return list(range(len(s.grid)))


def export_question(s, check, indices, out, rewrite_all: bool) -> tuple[str, str] | None:
    """``(title, text)`` to ask before exporting, or None when nothing is replaced."""
    new = len(set(indices) - set(check.tiles))
    if check.kind == REPLACE:
        return "Replace the export?", (f"{check.reason}. Exporting here replaces it: "
                                       f"{check.deletes}. Replace it?")
    if check.kind == REFRESH:
        return "Write the export again?", (
            f"{check.reason}. All its {len(check.tiles)} tile(s)"
            + (f" (and {new} new)" if new else "") + " are written again from the masks here, "
            "in place; nothing is deleted. Write it?")
    if check.kind == ADD and rewrite_all:
        held = [i for i in check.tiles if s.status.get(i) in HAS_MASK]
        kept = len(check.tiles) - len(held)
        return "Write the whole export again?", (
            f"{len(held)} of the {len(check.tiles)} tile(s) of the export in {out} hold masks "
            "here: they are written again from them, in place"
            + (f"; the {kept} other(s) are kept as they are" if kept else "")
            + (f"; {new} new tile(s) are added" if new else "") + ". Nothing is deleted. Go on?")
    return None


def export(w):
    """Export tiles from the session's store; returns the worker (or None)."""

    s, c = w.session, w.controls
    if w.busy or s is None:
        return None
    out = w.chosen_folder(c.export_dir, "an export folder")
    if out is None:
        return None
    w.window.flush()
    which = c.export_which.value
    indices = _indices(s, which)
    if not indices:
        w.say(f"no {which} tiles to export", "warning")
        return None
    also = c.also_write.value
    refused = _bridges.ngff_refusal(s) if also == _bridges.NGFF else None
    if refused:
        w.say(refused, "warning")
        return None
    try:
        where = c.target.where()
    except ValueError as exc:
        w.say(one_line(exc), "warning")
        return None
    rewrite_all, c.replace.value = c.replace.value, False  # one export only
    try:
        check = s.folder_check(out)
    except (ExportError, OSError) as exc:
        w.say(one_line(exc), "error")
        return None
    if check.kind == FOREIGN:
        w.say(check.reason, "error")
        return None
    question = export_question(s, check, indices, out, rewrite_all)
    if question is not None and not w.confirm(*question):
        w.say(f"export cancelled: the export in {out} is kept as it is")
        return None
    snapshot, reader = None, None
    try:
        if where:  # a cluster: a frozen copy of the store that the workers read by path

            snapshot = Path(out) / f".napari-axons-masks-{uuid.uuid4().hex[:8]}"
            tiles = sorted(set(indices) | set(check.tiles))
            s.store.snapshot(snapshot, [s.grid[i] for i in tiles])
            reader = ZarrMaskReader(snapshot)
        job, _ = s.export_job(out, indices, replace=check.kind == REPLACE or rewrite_all,
                              mask_reader=reader)
    except (SessionError, ExportError, ValueError, OSError) as exc:
        _remove_tree(snapshot)
        w.say(one_line(exc), "error")
        return None
    stop = threading.Event() if where else None
    gen = run_export(job, **where, stop=stop,
                     on_close=None if snapshot is None else lambda: _remove_tree(snapshot))
    counts = ExportCounts()

    def on_exported(result):
        counts.kept += result.resumed
        counts.written += not result.resumed
        if result.box.index not in w.edited_during:
            s.note_exported(result.box.index, result.resumed)
        w.runner.advance()

    w.note = ""
    if also != _bridges.NOTHING:  # once the export is done (RunView._on_run_finish)
        w.then = partial(_bridges.start_also_write, w, also, Path(out), job.plans[0].base,
                         job.total)
    worker = w.runner.start(gen, job.total, "Exporting", on_exported, background=bool(where),
                            stop=stop)
    if check.kind in (ADD, REFRESH):  # into its own export: say what was written and kept
        w.counts = counts
    return worker


def _remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
