"""Run an export on a ``dask.distributed`` cluster, with the result of a local run.

:func:`run_distributed` takes an :class:`~napari_axons.core.export.ExportJob`
that is planned but not run, and behaves like :meth:`ExportJob.run
<napari_axons.core.export.ExportJob.run>`: the same refuse / resume /
overwrite checks, the same manifest (``"running"`` first, ``"complete"`` last,
byte-identical to a local run), the same journal, a
:class:`~napari_axons.core.export.TileResult` per tile (without the mask
array: masks stay on the workers) and the manifest as the generator's return
value. Every file of the folder is byte-identical to a local run's.

Who does what
-------------
* The **client** (the machine that runs ``napari-axons tile``) plans the job,
  checks the folder, computes each image's segmenter state once (e.g. the Otsu
  threshold from the overview, exactly as the local run does) and ships it to
  the workers, writes the manifest and the journal, and yields results.
* The **workers** get small tasks, one per block of tiles (with a model,
  ``batch_size * streams`` tiles, so that a worker's ``predict`` keeps its model
  streams busy; 4 tiles without a model), read the
  tiles, run the model, and write the tile PNG, mask PNG and label JSON
  directly into the export folder through atomic renames. Each worker process
  opens an image once (a module-level cache keyed by path, file stamp and
  grid options) and loads a checkpoint once
  (:func:`~napari_axons.core.segment.load_segmenter` caches per process), never
  once per tile.
* A worker that dies mid-run is replaced (a local cluster's nanny restarts it)
  and its tasks are run again elsewhere; tasks are idempotent (every write is
  an atomic rename of identical bytes), so the export completes unchanged.
  A task that fails on every worker ``distributed.scheduler.allowed-failures``
  times (3 by default) stops the export, which ``--resume`` continues later.

Masks edited in napari
----------------------
A job whose masks come from a ``mask_reader`` (masks edited in napari) runs
on a cluster when the reader pickles (``pickle.dumps``): it is sent with every
task and called on the worker for each tile, exactly as a local run calls it.
:class:`~napari_axons.core.session.maskstore.ZarrMaskReader` (the widget's) is such a
reader: it holds only the path of a Zarr mask store, which the workers must
see under the same path (see below). A closure over in-memory state (a lambda)
is refused with a ValueError.

Results are yielded (and journalled) block by block in the order blocks
complete, each block's tiles in grid order; the manifest does not depend on
that order. As in a local run, an image whose pixel data turns out to be
undecodable is skipped (one line in ``job.errors``, its files of this run
removed, the other images exported; None is returned when none could be).

Shared filesystem
-----------------
Workers read the inputs and write the outputs *by path*: every worker must see
the input images and the export folder under the same absolute paths as the
client (NFS, a cluster filesystem, or one machine). The client checks that
each file a worker reports is visible to it, and stops with an error naming the
file otherwise. Workers need the same napari-axons (and, for a checkpoint,
torch/transformers) installed; the checkpoint folder must be visible to them too.

Starting a cluster
------------------
On one machine, ``--workers N`` starts a local cluster of N worker processes
(one thread each) for the run and stops it afterwards::

    napari-axons tile slide.tif -o out --workers 2

On several machines, start a scheduler and workers in the same Python
environment, then point the CLI at the scheduler::

    dask scheduler                                   # prints tcp://10.0.0.5:8786
    dask worker tcp://10.0.0.5:8786 --nworkers 4 --nthreads 1   # on each node
    napari-axons tile /shared/slide.tif -o /shared/out --scheduler tcp://10.0.0.5:8786

``--model`` works the same way (each worker loads the checkpoint once); use
``--torch-threads`` to keep a worker's model from taking every core of its node.
From Python, pass an existing :class:`distributed.Client` as ``client=``.
"""

from __future__ import annotations

import json
import pickle
import threading
import uuid
from collections import OrderedDict
from collections.abc import Generator
from dataclasses import dataclass, replace

from ... import __version__
from ..common import (
    ExportError,
)
from ..segment import load_segmenter, model_batching
from .files import ExportLayout
from .job import ExportJob
from .plan import ImagePlan, close_reopened
from .tilepath import OutputSpec, TilePath, TileResult, overview_rgb

__all__ = ["run_distributed", "ClusterProducer", "clear_worker_caches"]

#: Tiles per task without a model (with one: the model's batch size).
DEFAULT_BLOCK = 4
#: How long to wait for a remote scheduler to have at least one worker.
WAIT_FOR_WORKERS_S = 60
#: How long to try to reach a scheduler address.
CONNECT_TIMEOUT_S = 20

_SEGMENTERS: OrderedDict[tuple, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_MAX_SEGMENTERS = 8


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class _SegmenterSpec:
    """A segmenter to build on the worker: ``load_segmenter(model, **options)`` + its state."""

    model: str
    options: tuple
    state: str | None  # JSON of Segmenter.state(), or None


def _worker_segmenter(spec):
    """The segmenter for a task: a scattered object as is, or built once per process."""
    if spec is None or not isinstance(spec, _SegmenterSpec):
        return spec
    with _CACHE_LOCK:
        seg = _SEGMENTERS.get(spec)
        if seg is None:
            seg = load_segmenter(spec.model, **dict(spec.options))
            if spec.state is not None:
                seg.set_state(json.loads(spec.state))
            _SEGMENTERS[spec] = seg
            while len(_SEGMENTERS) > _MAX_SEGMENTERS:
                _SEGMENTERS.popitem(last=False)
        else:
            _SEGMENTERS.move_to_end(spec)
    return seg


def _export_block(
    plan: ImagePlan,
    indices: tuple[int, ...],
    spec: OutputSpec,
    segmenter,
    mask_reader=None,
) -> list[tuple[int, list[str], int | None]]:
    """A task: the tile path for a block of tiles; ``(index, files, n_objects)`` each.

    Only schedules :meth:`TilePath.run_block <napari_axons.core.export.tilepath.TilePath.run_block>`
    (the same read, model, class map, padding rule and writer as a local run) on the
    job's own plan, which arrives with its image reopened here (:func:`.plan.reopen_plan`).
    """
    boxes = [plan.grid[i] for i in indices]
    with TilePath(_worker_segmenter(segmenter), spec, mask_reader=mask_reader) as path:
        results = path.run_block(plan, boxes)
    return [(r.box.index, r.files, r.n_objects) for r in results]


def clear_worker_caches(paths=None) -> None:
    """Close the images this process holds open for tasks (all, or those of ``paths``).

    Run on every worker with ``client.run(clear_worker_caches, paths)``; done by
    :func:`run_distributed` at the end of a run on a cluster it did not start.
    """
    close_reopened(paths)
    if paths is None:
        with _CACHE_LOCK:
            _SEGMENTERS.clear()


def _worker_version() -> str:
    return __version__


# --------------------------------------------------------------------------- client side


def run_distributed(
    job: ExportJob,
    *,
    segmenter_spec: tuple[str, dict] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client=None,
    threads_per_worker: int = 1,
    block_size: int | None = None,
) -> Generator[TileResult, None, dict | None]:
    """Run ``job`` on a dask.distributed cluster; a drop-in for ``job.run()``.

    Exactly one of ``workers``, ``scheduler`` and ``client`` says where.

    Parameters
    ----------
    job : ExportJob
        Planned, not yet run. Its ``resume``/``overwrite`` flags apply as in a
        local run. A ``mask_reader`` (masks edited in napari) must be
        picklable, e.g. a :class:`~napari_axons.core.session.maskstore.ZarrMaskReader`
        whose store the workers can read by path.
    segmenter_spec : tuple, optional
        ``(model, options)`` for :func:`~napari_axons.core.segment.load_segmenter`,
        describing ``job.segmenter``: each worker builds it once from this. Without
        it, ``job.segmenter`` itself (if any) is pickled to every worker, which
        suits the small built-in segmenter, not a checkpoint.
    workers : int, optional
        Start a :class:`distributed.LocalCluster` of this many worker processes
        for the run, and stop it afterwards.
    scheduler : str, optional
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    client : distributed.Client, optional
        An existing client (left open).
    threads_per_worker : int, optional
        Threads per worker process of a local cluster (default 1).
    block_size : int, optional
        Tiles per task (default: the segmenter's ``batch_size * streams``, or 4
        without one). A worker's ``predict`` splits a block into batches of
        ``batch_size``, as a local run does, and runs ``streams`` at once.

    Returns
    -------
    generator
        Yields a :class:`TileResult` (``mask`` is None) per tile, returns the
        manifest (None when no image could be exported).

    Raises
    ------
    ValueError
        Not exactly one of ``workers``/``scheduler``/``client``, a bad count, or
        a job that cannot run on a cluster (a ``mask_reader`` that does not pickle).
    ExportError
        (when iterated) The folder is refused, a worker's file is not visible to
        the client, or no worker joined the scheduler.
    """
    given = [name for name, v in (("workers", workers), ("scheduler", scheduler),
                                  ("client", client)) if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of workers, scheduler and client"
                         + (f" (got {', '.join(given)})" if given else ""))
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if threads_per_worker < 1:
        raise ValueError(f"threads_per_worker must be >= 1, got {threads_per_worker}")
    if block_size is not None and block_size < 1:
        raise ValueError(f"block size must be >= 1, got {block_size}")
    if job.mask_reader is not None:
        try:
            pickle.dumps(job.mask_reader)
        except Exception as exc:
            raise ValueError(
                f"the job's mask_reader ({job.mask_reader!r}) cannot be pickled, so it cannot "
                "be sent to dask workers; use napari_axons.core.session.maskstore.ZarrMaskReader "
                f"(a mask store read by path) or run the export locally ({exc})"
            ) from exc
    in_memory = [str(p.path) for p in job.plans if p.in_memory]
    if in_memory:
        raise ValueError(f"{in_memory[0]}: an in-memory image cannot be exported on a dask "
                         "cluster (workers read images by path); export it on local threads")
    if segmenter_spec is not None and job.segmenter is None:
        raise ValueError("segmenter_spec is given but the job has no segmenter")
    producer = ClusterProducer(job, segmenter_spec=segmenter_spec, workers=workers,
                               scheduler=scheduler, client=client,
                               threads_per_worker=threads_per_worker, block_size=block_size)
    return job.run(producer)


def _connect(workers, scheduler, threads_per_worker):
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, ValueError, TypeError) as exc:
            raise ExportError(f"{scheduler}: cannot connect to a dask scheduler "
                              f"({_first_line(exc)})") from exc
        try:
            client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
        except Exception as exc:
            client.close()
            raise ExportError(
                f"{scheduler}: no dask worker joined the scheduler within {WAIT_FOR_WORKERS_S} s "
                f"(start one with `dask worker {scheduler}`)"
            ) from exc
        return client, None
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=threads_per_worker,
                           processes=True, dashboard_address=None)
    try:
        return Client(cluster), cluster
    except Exception:
        cluster.close()
        raise


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _check_workers(client, where: str) -> None:
    try:
        versions = client.run(_worker_version)
    except Exception as exc:
        raise ExportError(f"{where}: the dask workers cannot run napari-axons ({exc}); install "
                          f"napari-axons {__version__} in the workers' environment") from exc
    wrong = sorted({v for v in versions.values() if v != __version__})
    if wrong:
        raise ExportError(f"{where}: the dask workers run napari-axons {', '.join(wrong)}, "
                          f"this machine {__version__}; use the same version everywhere")


def _segmenter_arg(job, segmenter_spec, client):
    """What tasks receive for the current (prepared) state of ``job.segmenter``."""
    seg = job.segmenter
    if seg is None:
        return None
    if segmenter_spec is None:  # ship the prepared object itself, once to every worker
        return client.scatter(seg, broadcast=True, hash=False)
    model, options = segmenter_spec
    state = json.dumps(seg.state(), sort_keys=True) if hasattr(seg, "state") else None
    return _SegmenterSpec(str(model), tuple(sorted((options or {}).items())), state)


class ClusterProducer:
    """A :class:`~napari_axons.core.export.TileProducer` that runs on dask.distributed.

    Entering connects (or starts a local cluster) and checks the workers'
    napari-axons version; leaving closes what it opened. See
    :func:`run_distributed` for the parameters.
    """

    def __init__(self, job: ExportJob, *, segmenter_spec=None, workers=None, scheduler=None,
                 client=None, threads_per_worker: int = 1, block_size: int | None = None):
        self.job = job
        self.segmenter_spec = segmenter_spec
        self.workers, self.scheduler, self.client = workers, scheduler, client
        self.threads_per_worker = threads_per_worker
        self.block_size = block_size
        self._own_client = client is None
        self._cluster = None
        self._token = uuid.uuid4().hex[:8]
        self._where = scheduler or ("a local dask cluster" if workers is not None
                                    else "the dask cluster")

    def __enter__(self) -> ClusterProducer:
        if self._own_client:
            self.client, self._cluster = _connect(self.workers, self.scheduler,
                                                  self.threads_per_worker)
        try:
            _check_workers(self.client, self._where)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        client = self.client
        if client is not None and self._cluster is None:
            try:  # a cluster that outlives the run: do not keep its images open
                client.run(clear_worker_caches,
                           [str(p.path.resolve()) for p in self.job.plans])
            except Exception:
                pass
        if self._own_client and client is not None:
            client.close()
            self.client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def prepare(self, plan: ImagePlan) -> None:
        """Prepare the client's segmenter (its state is shipped to the workers)."""
        if self.job.segmenter is not None:
            self.job.segmenter.prepare(overview_rgb(plan.working))

    def produce(self, plan: ImagePlan, todo: list) -> Generator[TileResult, None, None]:
        from distributed import KilledWorker, as_completed

        job, client = self.job, self.client
        layout = job.layout
        seg_arg = _segmenter_arg(job, self.segmenter_spec, client)
        if self.block_size:
            block = self.block_size
        elif job.segmenter is not None:  # one batch for each of the model's streams
            batch, streams = model_batching(job.segmenter)
            block = batch * streams
        else:
            block = DEFAULT_BLOCK
        out_spec = replace(job.spec, out=str(layout.out.resolve()))
        futures = {}
        for i in range(0, len(todo), block):
            boxes = todo[i : i + block]
            fut = client.submit(
                _export_block, plan, tuple(b.index for b in boxes), out_spec, seg_arg,
                job.mask_reader,
                key=f"napari-axons-{self._token}-{plan.base}-{boxes[0].index}", pure=False,
            )
            futures[fut] = boxes
        try:
            for fut in as_completed(list(futures)):
                boxes = futures.pop(fut)
                try:
                    rows = fut.result()
                except KilledWorker as exc:
                    raise ExportError(
                        f"{plan.path}: tiles {boxes[0].index}-{boxes[-1].index}: every dask "
                        "worker that ran them died (out of memory?); fix the cause and "
                        "continue with --resume"
                    ) from exc
                fut.release()
                for box, (_, files, n_objects) in zip(boxes, rows, strict=True):
                    _check_visible(layout, files)
                    yield TileResult(plan, box, files, None, n_objects)
        finally:  # an error, or the consumer stopped: nothing of ours may still be writing
            if futures:
                try:
                    client.cancel(list(futures))
                except Exception:
                    pass
                _wait_until_idle(client, self._token)


def _check_visible(layout: ExportLayout, files: list[str]) -> None:
    for rel in files:
        if not layout.path(rel).is_file():
            raise ExportError(
                f"{layout.path(rel)}: a dask worker wrote this file but it is not visible "
                "here; workers and client must share the input and export folders under "
                "the same paths"
            )


def _executing_keys(dask_worker) -> list[str]:
    return [str(ts.key) for ts in dask_worker.state.executing]


def _wait_until_idle(client, token: str, timeout: float = 120.0) -> None:
    """Wait until no worker still executes a task of this run (cancelled ones finish)."""
    import time

    prefix = f"napari-axons-{token}-"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            running = client.run(_executing_keys)
        except Exception:
            return
        if not any(k.startswith(prefix) for keys in running.values() for k in keys):
            return
        time.sleep(0.1)
