"""Export a session's tiles: into a new folder, or adding to its own earlier export."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..export import (
    ADD,
    FOREIGN,
    REPLACE,
    ExportJob,
    ExportOptions,
    FolderCheck,
    TileSources,
    check_export_folder,
)
from .rules import ExportWouldReplace, SessionError

__all__ = ["Exporting"]


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
        """What exporting the session's grid into ``out`` would do (see :mod:`.exportfolder`)."""
        g = self.grid
        return check_export_folder(out, source_hash=self.source_hash, tile_size=g.tile_size,
                                   overlap=g.tile_size - g.stride, downsample=self.working.factor,
                                   options=self.export_options().grid_key())

    def export_job(self, out, indices: Iterable[int], *, replace: bool = False,
                   mask_reader=None):
        """The :class:`~.pipeline.ExportJob` of tiles ``indices`` into ``out``, masks from the store.

        Into an export of the same image and grid the tiles are added (tiles already
        there are kept byte for byte); anything else already there is replaced only
        with ``replace=True``.

        Returns
        -------
        (ExportJob, FolderCheck)

        Raises
        ------
        ExportWouldReplace
            ``out`` holds another export (or one of another grid) and ``replace`` is False.
        SessionError
            ``out`` holds files that are not an export, or the image cannot be exported.
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
        adding = check.kind == ADD and not replace
        if adding:
            tiles = sorted(set(tiles) | set(check.tiles))
        if mask_reader is None:
            store = self.store

            def mask_reader(plan, box):  # the class map; the writer makes the file bytes
                return store.read_box(box)

        try:  # the session's open image and grid: nothing re-opened, re-hashed or re-gridded
            job = ExportJob.from_plans([self.plan], Path(out), options, tiles=[tiles],
                                       mask_reader=mask_reader, resume=adding,
                                       overwrite=replace and check.kind in (ADD, REPLACE))
        except ValueError as exc:
            raise SessionError(f"{self.path}: {exc}") from None
        job.label_source, job.segmenter_info = self.tile_sources(job.plans[0].base, tiles)
        return job, check

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

    def export(self, out, indices: Iterable[int] | None = None, *,
               replace: bool = False) -> dict:
        """Export tiles (default: the selection) now; tiles written become "exported".

        Returns the manifest (see :func:`export_job` for the folder rules and errors).
        """
        indices = sorted(self.selected) if indices is None else list(indices)
        job, _ = self.export_job(out, indices, replace=replace)
        try:
            gen = job.run()
            while True:
                try:
                    result = next(gen)
                except StopIteration as stop:
                    return stop.value
                if not result.resumed:
                    self.status[result.box.index] = "exported"
        finally:
            job.close()
