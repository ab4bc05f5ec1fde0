"""The work the widget runs off the UI thread, as plain generators (no Qt here).

The widget wraps these in napari thread workers: each ``yield`` is where a
Cancel (``worker.quit()``) takes effect and where the main thread receives a
result to show. Nothing here touches a layer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Sequence

from ..core.export import TilePath
from ..core.export.cluster import run_distributed
from ..core.geometry import TileBox
from ..core.image import WorkingImage

__all__ = ["stream_from_thread", "segment_tiles", "run_export", "load_export_masks", "drive", "one_line",
           "WorkerError", "LOADED"]

#: First value yielded by :func:`segment_tiles`, once the segmenter is ready.
LOADED = "loaded"


def segment_tiles(
    working: WorkingImage,
    boxes: Sequence[TileBox],
    make_segmenter: Callable[[], object],
) -> Generator[object, None, int]:
    """Segment tiles of the working image: the core's segment half, off the UI thread.

    A thin call into :meth:`napari_axons.core.export.tilepath.TilePath.segment` (the
    same read, model, class map and padding rule as an export, local or on a
    cluster); the model's streams and batches are the tile path's.

    Parameters
    ----------
    working : WorkingImage
    boxes : sequence of TileBox
        Tiles to segment, in the order to process them (the widget passes grid order).
    make_segmenter : callable
        Builds the segmenter (``core.segment.load_segmenter(...)``); called here, in
        the worker's thread, because loading a checkpoint can take a while.

    Yields
    ------
    ``LOADED`` once, then ``(box, class_map)`` per tile, ``class_map`` a
    ``(tile, tile)`` uint8 class map (0 background, k class k), zero where the
    tile is padding.

    Returns
    -------
    int
        The number of tiles segmented.
    """
    segmenter = make_segmenter()
    done = 0
    with TilePath(segmenter) as path:
        path.prepare(working)
        yield LOADED
        for box, class_map in path.segment(working, boxes):
            done += 1
            yield box, class_map
    return done


def run_export(
    job,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    stop=None,
    on_close: Callable[[], None] | None = None,
) -> Generator[object, None, dict | None]:
    """Run a :class:`core.export.ExportJob`, yielding each :class:`TileResult`; returns the manifest.

    Parameters
    ----------
    job : ExportJob
    workers, scheduler : optional
        Run on a local dask cluster of ``workers`` processes, or on the scheduler
        at ``scheduler`` (:func:`core.export.run_distributed`); neither: on
        local threads.
    stop : threading.Event, optional
        When set, the export stops after the next tile (the run is closed here,
        in the worker's thread, so stopping a cluster never blocks the UI).
    on_close : callable, optional
        Called last, however the generator ends (e.g. to delete a mask snapshot).

    Notes
    -----
    The job is closed (its images released) however the generator ends:
    completion, an error, a ``stop`` or a Cancel (``GeneratorExit`` at a
    ``yield``). Files are written atomically by the core, so a cancelled export
    leaves whole files only, and can be resumed.
    """
    try:
        if workers is None and scheduler is None:
            gen = job.run()
        else:

            gen = run_distributed(job, workers=workers, scheduler=scheduler)
        try:
            while True:
                try:
                    result = next(gen)
                except StopIteration as done:
                    return done.value
                yield result
                if stop is not None and stop.is_set():
                    return None
        finally:
            gen.close()
    finally:
        job.close()
        if on_close is not None:
            on_close()


def load_export_masks(loadable) -> Generator[tuple, None, int]:
    """Render the masks of an export's tiles, one tile at a time.

    Parameters
    ----------
    loadable : core.session.LoadableExport

    Yields
    ------
    ``(tile, class_map, table, notes)`` per tile in grid order: ``class_map``
    uint8 at the tile's size in the indices of ``table`` (the export's classes so
    far), or None (the tile's files are missing or unreadable, said in ``notes``).

    Returns
    -------
    int
        The number of masks rendered.
    """
    done = 0
    notes: list[str] = []
    for tile, mask, table in loadable.masks(notes):
        done += mask is not None
        yield tile, mask, table, notes[:]
        notes.clear()
    return done


def one_line(exc: BaseException | str) -> str:
    """The first line of an error message (the type name if it is empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def drive(gen, slots: threading.Semaphore | None = None):
    """Run a generator inside a worker; RuntimeError is re-raised as another type.

    (superqt treats a RuntimeError from the generator as "the worker was deleted"
    and swallows it, so a model failure would go unreported.)

    With ``slots``, a result is only produced once a slot is free (the UI
    releases one per result handled), so a worker faster than the UI does not
    queue up masks without bound; a slot not freed within a second is not
    waited for, so nothing can hang on it.
    """
    try:
        if slots is None:
            return (yield from gen)
        try:
            while True:
                slots.acquire(timeout=1.0)
                try:
                    item = next(gen)
                except StopIteration as stop:
                    return stop.value
                yield item
        finally:
            gen.close()
    except RuntimeError as exc:
        raise WorkerError(one_line(exc)) from exc


class WorkerError(Exception):
    """A failure inside a worker, as a one-line message."""


_END = object()


def stream_from_thread(run: Callable[[Callable[[object], None], threading.Event], object],
                       stop: threading.Event, name: str) -> Generator[object, None, object]:
    """Run a blocking core job on its own thread; yield what it reports, return its result.

    ``run(report, stop)`` is called on a new daemon thread: it calls ``report(item)``
    for each item to hand over (progress records) and checks ``stop``. The
    generator yields the items in order, then returns ``run``'s result or raises
    what it raised. Closing the generator early (the napari worker was quit) sets
    ``stop`` and waits for the thread, so no job outlives its worker.
    """
    items: queue.Queue = queue.Queue()
    outcome: dict = {}

    def job():
        try:
            outcome["result"] = run(items.put, stop)
        except BaseException as exc:  # handed to the generator's thread below
            outcome["error"] = exc
        finally:
            items.put(_END)

    thread = threading.Thread(target=job, name=name, daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            yield item
    finally:
        if thread.is_alive():  # closed early: stop the job and wait for it
            stop.set()
            thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
