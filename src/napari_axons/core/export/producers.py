"""Where an export's tiles are made: the producer protocol and the local thread pools.

An :class:`~.job.ExportJob` hands its tiles to a :class:`TileProducer`; the
default is :class:`ThreadProducer` (local threads), :mod:`.cluster` plugs in a
dask.distributed one. Producers only *schedule* the tile path
(:mod:`.tilepath`); the job owns the folder, the manifest and the journal.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from typing import Protocol

from ..geometry import TileBox
from .plan import ImagePlan
from .tilepath import TilePath, TileResult

__all__ = ["TileProducer", "ThreadProducer"]


class TileProducer(Protocol):
    """Makes the tiles of an :class:`ExportJob` (used as a context manager).

    ``prepare(plan)`` runs once per image before its tiles (the segmenter's
    ``prepare`` with the image's overview). ``produce(plan, todo)`` writes the
    files of the tiles ``todo`` of ``plan`` and yields a :class:`TileResult`
    for each (in any order). It raises
    :class:`~napari_axons.core.image.source.ImageReadError` when the image cannot be
    decoded, after making sure no work for it is still running. Producers only
    *schedule* the tile path (:mod:`napari_axons.core.export.tilepath`).
    """

    def __enter__(self) -> TileProducer: ...

    def __exit__(self, *exc) -> None: ...

    def prepare(self, plan: ImagePlan) -> None: ...

    def produce(self, plan: ImagePlan, todo: list[TileBox]) -> Iterator[TileResult]: ...


class ThreadProducer:
    """Schedules the tile path on local thread pools.

    Reading regions and the model's preprocessing (:meth:`TilePath.read
    <napari_axons.core.export.tilepath.TilePath.read>`), PNG encoding (libpng releases
    the GIL), polygon tracing and writing (:meth:`TilePath.write
    <napari_axons.core.export.tilepath.TilePath.write>`) run on ``threads`` threads. The
    model (:meth:`TilePath.predict <napari_axons.core.export.tilepath.TilePath.predict>`),
    when there is one, runs on the tile path's model pool (``segmenter.streams``
    batches at a time) while earlier batches are encoded and written and later
    ones read. Results come out in tile order.
    """

    def __init__(self, job, threads: int | None = None):
        self.job = job
        self.threads = threads or job.options.threads or os.cpu_count() or 1
        self._stack: ExitStack | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.path: TilePath | None = None

    def __enter__(self) -> ThreadProducer:
        with ExitStack() as stack:
            self._pool = ThreadPoolExecutor(max_workers=self.threads,
                                            thread_name_prefix="napari-axons")
            stack.callback(self._pool.shutdown, wait=True, cancel_futures=True)
            self.path = stack.enter_context(self.job.tile_path())
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def prepare(self, plan: ImagePlan) -> None:
        self.path.prepare(plan.working)

    def produce(self, plan: ImagePlan, todo: list[TileBox]) -> Iterator[TileResult]:
        pending: deque[Future] = deque()
        ahead: deque[tuple[Future, Future]] = deque()
        try:
            yield from self._produce(plan, todo, pending, ahead)
        finally:  # stopped early (an error, or the consumer closed us): no work left behind
            futures = [*pending, *(f for read, seg in ahead for f in (seg, read))]
            for fut in futures:
                fut.cancel()
            for fut in futures:
                if not fut.cancelled():
                    fut.exception()  # wait; the first error is the one reported

    def _produce(self, plan, todo, pending, ahead):
        pool, path, window = self._pool, self.path, 2 * self.threads
        if path.segmenter is None:
            for box in todo:
                pending.append(pool.submit(path.write, plan, box, None, None))
                while len(pending) >= window:
                    yield pending.popleft().result()
        else:
            depth = 2 * path.streams + 1  # every stream busy, one batch read ahead of each

            def predict(read: Future):  # on the model pool
                return path.predict(read.result())

            for boxes in path.batches(todo):
                read = pool.submit(path.read, plan.working, boxes)
                ahead.append((read, path.model_pool.submit(predict, read)))
                if len(ahead) < depth:
                    continue
                yield from self._write_segmented(plan, ahead.popleft(), pending, window)
            while ahead:
                yield from self._write_segmented(plan, ahead.popleft(), pending, window)
        while pending:
            yield pending.popleft().result()

    def _write_segmented(self, plan, item, pending, window):
        read, predicted = item
        try:
            maps = predicted.result()
        except BaseException:  # the model failed: report the tiles already written first
            while pending:
                yield pending.popleft().result()
            raise
        batch = read.result()
        for box, tile, cmap in zip(batch.boxes, batch.pixels, maps, strict=True):
            pending.append(self._pool.submit(self.path.write, plan, box, tile, cmap))
        while len(pending) > window:
            yield pending.popleft().result()
