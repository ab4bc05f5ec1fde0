"""Export a session's tiles: into a new folder, or into its own earlier export, incrementally.

Into the image's own export (same image, grid and options, :data:`ADD`), the
export is *incremental*: a tile already there is written again when its masks
changed since (edited, re-segmented, loaded: its mask file differs from the
store, or what made it did), and kept byte for byte otherwise; the manifest is
rewritten atomically at the end. A tile already there whose masks the session
does not hold (never segmented or loaded here) is always kept: nothing of the
export is replaced by empty masks.

Its own export written with other settings (a class table since grown, another
pixel size: :data:`REFRESH`) is written again whole, tile by tile in place,
nothing deleted first. ``replace=True`` on its own export writes every tile the
session holds masks for again. Only another image's or another grid's export
(:data:`~.exportfolder.REPLACE`) is deleted, and only with ``replace=True``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..export import (
    ADD,
    FOREIGN,
    REPLACE,
    ExportJob,
    ExportOptions,
    FolderCheck,
    Manifest,
    TileSources,
    check_export_folder,
    load_manifest,
)
from ..labels import decode_class_mask
from .rules import HAS_MASK, ExportWouldReplace, SessionError

__all__ = ["Exporting", "REFRESH", "ExportCounts"]

#: The image's own export, written with other options or image metadata: written again whole.
REFRESH = "refresh"


@dataclass
class ExportCounts:
    """Tiles an export wrote and kept (as they were)."""

    written: int = 0
    kept: int = 0

    def text(self) -> str:
        return f"{self.written} written, {self.kept} kept as they were"


class Exporting:
    """:class:`~.session.Session`'s export methods (a mixin)."""

    def export_options(self):
        """The :class:`~.pipeline.ExportOptions` of the session's grid and classes.

        One foreground class: the seed's options (0/255 masks, that class's name on
        the polygons); several: the class table (palette masks, per-class polygons).
        """
        g, classes = self.grid, self.classes
        return ExportOptions(tile_size=g.tile_size, overlap=g.tile_size - g.stride,
                             downsample=self.working.factor, label_class=classes.foreground[0],
                             classes=None if classes.is_binary else classes)

    def folder_check(self, out) -> FolderCheck:
        """What exporting the session's grid into ``out`` would do.

        :data:`~.exportfolder.NEW`, :data:`~.exportfolder.ADD` (the image's own
        export, incremental), :data:`REFRESH` (its own export, other options or
        pixel size: written again whole), :data:`~.exportfolder.REPLACE` (another
        image's or grid's export: deleted first) or :data:`~.exportfolder.FOREIGN`.
        """
        g = self.grid
        check = check_export_folder(out, source_hash=self.source_hash, tile_size=g.tile_size,
                                    overlap=g.tile_size - g.stride, downsample=self.working.factor,
                                    options=self.export_options().grid_key())
        if check.kind not in (ADD, REPLACE):
            return check
        old = load_manifest(Path(out))
        if len(old.images) != 1:
            return check
        theirs, ours = old.images[0], self.plan.manifest_entry(True, ())
        same_grid = (theirs.source.hash == ours.source.hash and theirs.grid == ours.grid
                     and theirs.working.downsample == ours.working.downsample)
        if not same_grid:
            return check
        tiles = tuple(sorted(t.index for t in theirs.tiles))
        why = _difference(old, theirs, ours, self.export_options())
        if why is None:
            return replace(check, kind=ADD, tiles=tiles)
        return FolderCheck(check.folder, REFRESH, tiles=tiles, deletes="", reason=(
            f"{check.folder} holds this image's export, written with {why}"))

    def export_job(self, out, indices: Iterable[int], *, replace: bool = False,
                   mask_reader=None):
        """The :class:`~.pipeline.ExportJob` of tiles ``indices`` into ``out``, masks from the store.

        Into the image's own export the tiles are added and changed tiles written
        again (see the module doc); ``replace=True`` there writes again every tile
        the session holds masks for. Another export is replaced only with
        ``replace=True``.

        Returns
        -------
        (ExportJob, FolderCheck)

        Raises
        ------
        ExportWouldReplace
            ``out`` holds another export (or one of another grid) and ``replace`` is False.
        SessionError
            ``out`` holds files that are not an export; its own export must be
            written again whole (:data:`REFRESH`) but some of its tiles hold no
            masks in this session; or the image cannot be exported.
        ExportError
            An unreadable manifest in ``out``.
        """
        options = self.export_options()
        check = self.folder_check(out)
        if check.kind == FOREIGN:
            raise SessionError(check.reason)
        if check.kind == REPLACE and not replace:
            raise ExportWouldReplace(check)
        tiles = sorted({int(i) for i in indices})
        own = check.kind in (ADD, REFRESH)
        if own:
            tiles = sorted(set(tiles) | set(check.tiles))
        if check.kind == REFRESH:
            missing = [i for i in check.tiles if self.status.get(i) not in HAS_MASK]
            if missing:
                names = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
                raise SessionError(
                    f"{check.reason}: it must be written again whole, but its tile(s) {names} "
                    "hold no masks here; load the export's masks first (Load masks), then export")
        if mask_reader is None:
            store = self.store

            def mask_reader(plan, box):  # the class map; the writer makes the file bytes
                return store.read_box(box)

        try:  # the session's open image and grid: nothing re-opened, re-hashed or re-gridded
            job = ExportJob.from_plans([self.plan], Path(out), options, tiles=[tiles],
                                       mask_reader=mask_reader, resume=own,
                                       overwrite=replace and check.kind == REPLACE)
        except ValueError as exc:
            raise SessionError(f"{self.path}: {exc}") from None
        job.label_source, job.segmenter_info = self.tile_sources(job.plans[0].base, tiles)
        if check.kind == REFRESH:
            job.refresh = True
        elif check.kind == ADD:
            job.rewrite = self._stale_rule(Path(out), tiles, mask_reader, everything=replace)
        return job, check

    def _stale_rule(self, out: Path, tiles: Sequence[int], mask_reader, *, everything: bool):
        """``rewrite(plan, box)`` for an incremental export into the image's own export ``out``.

        Decided now (statuses and label sources), compared later (in the export's
        thread): a tile is written again when the session holds masks for it and
        ``everything`` is set, or its label source or mask file differs.
        """
        old = load_manifest(out)
        entry = old.images[0]
        theirs = {t.index: (t.label_source or old.label_source, t.files) for t in entry.tiles}
        ours = {i: self.label_source(i) for i in tiles if self.status.get(i) in HAS_MASK}
        binary = self.classes.is_binary

        def rewrite(plan, box) -> bool:
            i = box.index
            if i not in ours:
                return False  # no masks here: the export's are kept
            if everything or i not in theirs or theirs[i][0] != ours[i]:
                return True
            files = theirs[i][1]
            paths = [out / rel for rel in files.values()]
            if not all(p.is_file() for p in paths) or "mask" not in files:
                return True
            try:
                saved, _ = decode_class_mask(out / files["mask"])
            except Exception:  # unreadable: written again
                return True
            now = np.asarray(mask_reader(plan, box))
            if binary:
                now = (now > 0).astype(np.uint8)
            return saved.shape != now.shape or not np.array_equal(saved, now)

        return rewrite

    def tile_sources(self, base: str, tiles: Sequence[int]):
        """``(TileSources, segmenter info)`` of an export of ``tiles``: what made each tile's mask.

        A tile is ``"manual"`` if any of its pixels was edited by hand (or its mask
        was loaded), else ``"auto:<segmenter>"``. The info is that of the one
        segmenter behind the automatic tiles, ``{"name": "several", "segmenters":
        [...]}`` for more, None for none.
        """
        sources = {(base, i): self.label_source(i) for i in tiles}
        names = sorted({s[5:] for s in sources.values() if s.startswith("auto:")})
        infos = [self.segmenters.get(n, {"name": n}) for n in names]
        info = None if not infos else infos[0] if len(infos) == 1 else {"name": "several",
                                                                         "segmenters": infos}
        return TileSources(sources), info

    def note_exported(self, index: int, kept: bool) -> None:
        """Tile ``index`` is in the export now: written, or kept (unchanged) with masks here."""
        if not kept or self.status.get(index) in HAS_MASK:
            self.status[index] = "exported"

    def export(self, out, indices: Iterable[int] | None = None, *,
               replace: bool = False) -> dict:
        """Export tiles (default: the selection) now; tiles in the export become "exported".

        Returns the manifest (see :meth:`export_job` for the folder rules and
        errors); :attr:`last_export` holds how many tiles were written and kept.
        """
        indices = sorted(self.selected) if indices is None else list(indices)
        job, _ = self.export_job(out, indices, replace=replace)
        counts = self.last_export = ExportCounts()
        try:
            gen = job.run()
            while True:
                try:
                    result = next(gen)
                except StopIteration as stop:
                    return stop.value
                counts.kept += result.resumed
                counts.written += not result.resumed
                self.note_exported(result.box.index, result.resumed)
        finally:
            job.close()


def _difference(old: Manifest, theirs, ours, options: ExportOptions) -> str | None:
    """What differs between an export of this image and grid and one made now (None: nothing)."""
    why = []
    table = options.class_table()
    if old.classes is not None and old.classes.names != table.names:
        why.append(f"the classes {', '.join(old.classes.foreground)}")
    elif old.classes is None and old.options.get("label_class") != options.label_class:
        why.append(f"the class {old.options.get('label_class')}")
    if theirs.source.pixel_size != ours.source.pixel_size:
        px = theirs.source.pixel_size
        why.append(f"pixel size {px}" if px is not None else "no pixel size")
    if not why and (old.options != options.grid_key() or theirs.same_image_and_grid()
                    != ours.same_image_and_grid()):
        why.append("other options")
    return " and ".join(why) or None
