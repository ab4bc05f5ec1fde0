"""A session's traffic with disk: segment, export, load masks from an export, save and reload.

Functions over a :class:`~.session.Session` (its methods of the same names call
these). A saved session is a folder::

    session.json        image path + fingerprint, class table, grid, statuses per grid
    masks-{f}.zarr      the mask store of downsample factor f (every level)
    edits.zarr          the hand edits, in full-resolution pixels
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .exportfolder import ADD, FOREIGN, REPLACE, FolderCheck, check_export_folder
from .grid import TileBox
from .session import EditsInTheWay, Session, SessionError

__all__ = ["segment_boxes", "export_options", "folder_check", "export_job", "export", "tile_sources",
           "check_loadable", "write_loaded", "load_masks", "save", "load", "ExportWouldReplace",
           "SESSION_FORMAT"]

SESSION_FORMAT = "napari-axons-session/1"


class ExportWouldReplace(SessionError):
    """Exporting into the folder deletes an earlier export (pass ``replace=True``)."""

    def __init__(self, check: FolderCheck):
        self.check = check
        super().__init__(f"{check.reason}; exporting there replaces it: {check.deletes} "
                         "(pass replace=True)")


def segment_boxes(working, boxes: Sequence[TileBox], segmenter) -> Iterator[tuple[TileBox, np.ndarray]]:
    """``(box, class map)`` per tile: the segment half of the core's tile path."""
    try:
        from .tiles import TilePath
    except ImportError:  # before the one tile path (core/tiles.py) lands
        TilePath = None
    if TilePath is not None:
        with TilePath(segmenter) as path:
            path.prepare(working)
            yield from path.segment(working, boxes)
        return
    from .io import to_rgb8

    sample = working.source.sample()
    segmenter.prepare(to_rgb8(sample, None if sample.dtype == np.uint8
                              else working.source.intensity_range()))
    for box in boxes:
        maps = np.asarray(segmenter.predict(working.read_tile(box.y, box.x, box.height,
                                                              box.width)[None]))
        cmap = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(working.height, working.width)
        cmap[ys, xs] = np.where(maps[0][ys, xs] > 0, 1, 0)
        yield box, cmap


# -------------------------------------------------------------------- export
def export_options(session: Session):
    """The :class:`~.pipeline.ExportOptions` of the session's grid and classes.

    One foreground class: the seed's options (0/255 masks, that class's name on
    the polygons); several: the class table (palette masks, per-class polygons).
    """
    from .pipeline import ExportOptions

    g, classes = session.grid, session.classes
    return ExportOptions(tile_size=g.tile_size, overlap=g.tile_size - g.stride,
                         downsample=session.working.factor, label_class=classes.foreground[0],
                         classes=None if classes.is_binary else classes)


def folder_check(session: Session, out) -> FolderCheck:
    """What exporting the session's grid into ``out`` would do (see :mod:`.exportfolder`)."""
    g = session.grid
    return check_export_folder(out, source_hash=session.source_hash, tile_size=g.tile_size,
                               overlap=g.tile_size - g.stride, downsample=session.working.factor,
                               options=export_options(session).grid_key())


def export_job(session: Session, out, indices: Iterable[int], *, replace: bool = False,
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
    from .pipeline import ExportJob

    options = export_options(session)
    check = folder_check(session, out)
    if check.kind == FOREIGN:
        raise SessionError(check.reason)
    if check.kind == REPLACE and not replace:
        raise ExportWouldReplace(check)
    tiles = sorted({int(i) for i in indices})
    adding = check.kind == ADD and not replace
    if adding:
        tiles = sorted(set(tiles) | set(check.tiles))
    if mask_reader is None:
        store = session.store

        def mask_reader(plan, box):  # the class map; the writer makes the file bytes
            return store.read_box(box)

    try:  # the session's open image and grid: nothing re-opened, re-hashed or re-gridded
        job = ExportJob.from_plans([session.plan], Path(out), options, tiles=[tiles],
                                   mask_reader=mask_reader, resume=adding,
                                   overwrite=replace and check.kind in (ADD, REPLACE))
    except ValueError as exc:
        raise SessionError(f"{session.path}: {exc}") from None
    job.label_source, job.segmenter_info = tile_sources(session, job.plans[0].base, tiles)
    return job, check


def tile_sources(session: Session, base: str, tiles: Sequence[int]):
    """``(TileSources, segmenter info)`` of an export of ``tiles``: what made each tile's mask.

    A tile is ``"manual"`` if any of its pixels was edited by hand (or its mask
    was loaded), else ``"auto:<segmenter>"``. The info is that of the one
    segmenter behind the automatic tiles, ``{"name": "several", "segmenters":
    [...]}`` for more, None for none.
    """
    from .pipeline import TileSources

    sources = {(base, i): session.label_source(i) for i in tiles}
    names = sorted({s[5:] for s in sources.values() if s.startswith("auto:")})
    infos = [session.segmenters.get(n, {"name": n}) for n in names]
    info = None if not infos else infos[0] if len(infos) == 1 else {"name": "several",
                                                                     "segmenters": infos}
    return TileSources(sources), info


def export(session: Session, out, indices: Iterable[int] | None = None, *,
           replace: bool = False) -> dict:
    """Export tiles (default: the selection) now; tiles written become "exported".

    Returns the manifest (see :func:`export_job` for the folder rules and errors).
    """
    indices = sorted(session.selected) if indices is None else list(indices)
    job, _ = export_job(session, out, indices, replace=replace)
    try:
        gen = job.run()
        while True:
            try:
                result = next(gen)
            except StopIteration as stop:
                return stop.value
            if not result.resumed:
                session.status[result.box.index] = "exported"
    finally:
        job.close()


# -------------------------------------------------------------------- masks of an export
def check_loadable(session: Session, folder, *, overwrite_edits: bool = False,
                   keep_edits: bool = False):
    """The export's tile list for this image and factor, after the checks.

    Returns
    -------
    (ExportedTiles, bool)
        The tiles, and whether the export's grid is the session's (then its tiles
        are marked "exported" as they load).

    Raises
    ------
    SessionError
        No export of this image, or not at this downsample factor, or no masks.
    EditsInTheWay
        The export's tiles cover hand-edited pixels and neither flag is given.
    ExportError
        A missing or malformed manifest.
    """
    from .readback import list_exported_tiles

    folder = Path(folder)
    matches = [im for im in list_exported_tiles(folder) if im.source_hash == session.source_hash]
    if not matches:
        raise SessionError(f"{folder}: holds no export of {session.path.name} (other images, "
                           "or the file changed since)")
    exported = next((im for im in matches if im.downsample == session.working.factor), None)
    if exported is None:
        factors = ", ".join(map(str, sorted({im.downsample for im in matches})))
        raise SessionError(f"{folder}: exported with downsample {factors}; set Downsample to "
                           "that to load its masks")
    if not exported.tiles:
        raise SessionError(f"{folder}: the export has no masks (tiles only)")
    shape = session.working_shape
    if not (overwrite_edits or keep_edits) and any(
            session.edits.any_in(t.y, t.x, t.y + t.height, t.x + t.width, shape)
            for t in exported.tiles):
        raise EditsInTheWay(session.edited_tiles() or [t.index for t in exported.tiles],
                            "loading the export's masks")
    session._load_keeps_edits = keep_edits and not overwrite_edits
    g = session.grid
    return exported, (exported.tile_size, exported.overlap) == (g.tile_size, g.tile_size - g.stride)


def write_loaded(session: Session, tile, mask: np.ndarray, same_grid: bool) -> TileBox:
    """Write one loaded tile's mask (0/1 or class map) into the store; returns its box."""
    box = TileBox(tile.index, tile.y, tile.x, tile.height, tile.width)
    keep = None
    if getattr(session, "_load_keeps_edits", False):
        keep, _ = session.edits.project(box.y, box.x, box.y1, box.x1, session.working_shape)
    else:
        session.edits.clear(box.y, box.x, box.y1, box.x1, session.working_shape)
    session.store.write(box.y, box.x, np.asarray(mask, np.uint8), keep, pyramid=False)
    session.changed_elsewhere(box.y, box.x, box.y1, box.x1, edited=False)
    if same_grid:
        session.made_by.pop(tile.index, None)  # a mask from elsewhere: not ours to name
    if same_grid and tile.index < len(session.grid):
        session.status[tile.index] = "exported"
    return box


def load_masks(session: Session, folder, *, overwrite_edits: bool = False,
               keep_edits: bool = False) -> list[str]:
    """Load an export's masks into the store now; returns the warnings (one line each)."""
    from .readback import iter_tile_masks

    exported, same = check_loadable(session, folder, overwrite_edits=overwrite_edits,
                                    keep_edits=keep_edits)
    notes: list[str] = []
    for tile, mask in iter_tile_masks(exported.tiles, notes):
        if mask is not None:
            write_loaded(session, tile, mask, same)
    session.store.update_pyramid()
    session.refresh_edited()
    return notes


# -------------------------------------------------------------------- save and reload
def save(session: Session, folder) -> Path:
    """Save the session to a new (or empty) folder: masks, edits, statuses, grid, classes.

    Raises
    ------
    SessionError
        ``folder`` exists and is not empty.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise SessionError(f"{folder}: is not empty; save a session into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    statuses = dict(session._status_by_grid)
    statuses[session.grid_key] = session.status
    for factor, store in session._stores.items():
        store.save(folder / f"masks-{factor}.zarr")
    session.edits.save(folder / "edits.zarr")
    doc = {
        "format": SESSION_FORMAT,
        "image": {"path": str(session.path.resolve()), "hash": session.source_hash},
        "classes": session.classes.to_json(),
        "grid": dict(zip(("tile_size", "overlap", "downsample"), session.grid_key, strict=True)),
        "stores": sorted(session._stores),
        "statuses": [{"tile_size": k[0], "overlap": k[1], "downsample": k[2],
                      "status": {str(i): s for i, s in sorted(st.items())}}
                     for k, st in statuses.items() if st],
    }
    (folder / "session.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return folder


def load(folder, *, path=None, array=None, cache_dir=None) -> Session:
    """Reopen a saved session (its image at ``path``, default: where it was; or ``array``).

    Raises
    ------
    SessionError
        Not a saved session, or the image is not the one it was made on.
    """
    from .classes import ClassTable

    folder = Path(folder)
    meta = folder / "session.json"
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
        if doc.get("format") != SESSION_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}")
        image, grid = doc["image"], doc["grid"]
        classes = ClassTable.from_json(doc["classes"], where=str(meta))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SessionError(f"{meta}: not a saved napari-axons session ({exc})") from None
    kwargs = {"cache_dir": cache_dir, "classes": classes, "tile_size": grid["tile_size"],
              "overlap": grid["overlap"], "downsample": grid["downsample"]}
    if array is not None:
        session = Session.from_array(array, Path(path or image["path"]).name, **kwargs)
    else:
        session = Session(path or image["path"], **kwargs)
    if session.source_hash != image["hash"]:
        session.close()
        raise SessionError(f"{folder}: saved for another image (or {Path(image['path']).name} "
                           "changed since)")
    from .edits import EditRecord
    from .maskstore import MaskStore

    session.edits.close()
    session.edits = EditRecord(session.source.height, session.source.width, root=cache_dir,
                               copy_from=folder / "edits.zarr")
    for store in session._stores.values():
        store.close()
    session._stores = {}
    for factor in doc.get("stores", []):
        h, w = session.source.height // factor, session.source.width // factor
        session._stores[factor] = MaskStore(h, w, root=cache_dir, min_side=session.overview_min_side,
                                            copy_from=folder / f"masks-{factor}.zarr")
    for entry in doc.get("statuses", []):
        key = (entry["tile_size"], entry["overlap"], entry["downsample"])
        session._status_by_grid[key] = {int(i): s for i, s in entry["status"].items()}
    session.grid = None  # re-enter the saved grid: statuses and the store come back
    session.working = None
    session.set_grid(grid["tile_size"], grid["overlap"], grid["downsample"])
    return session
