"""Where and how a model runs: the device, torch threads, model streams, batching, the argmax."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from .base import ModelError

__all__ = ["class_argmax", "resolve_device", "default_num_threads", "prefer_passive_openmp",
           "default_streams", "torch_threads", "model_batching", "model_executor"]


def class_argmax(prob: Any, *, second: bool = False) -> tuple[Any, Any, Any]:
    """Argmax over classes, its value and (optionally) the second-largest value.

    One pass of elementwise operations per class: on one CPU thread about 15
    times faster than ``torch.max(dim=0)`` plus ``torch.topk(2, dim=0)`` (which
    reduce across the strided class axis), for 2 to 150 classes.

    Parameters
    ----------
    prob : torch.Tensor, shape (C, H, W), float
        Per-class scores of one tile (probabilities or logits), C >= 1.
    second : bool
        Also return the second-largest score of each pixel.

    Returns
    -------
    index : torch.Tensor, shape (H, W)
        The class of the largest score; an exact tie goes to the lower index
        (as ``torch.max``). uint8 when C <= 256, else int64.
    best : torch.Tensor, shape (H, W), float
        The largest score.
    runner_up : torch.Tensor or None, shape (H, W), float
        The second-largest score (equal to ``best`` where two classes tie;
        ``-inf`` with one class), or None unless ``second``.
    """
    import torch

    n = int(prob.shape[0])
    dtype = torch.uint8 if n <= 256 else torch.int64
    best = prob[0].clone()
    index = torch.zeros(best.shape, dtype=dtype, device=prob.device)
    runner_up = torch.full_like(best, float("-inf")) if second else None
    for c in range(1, n):
        p = prob[c]
        above = (p > best).to(dtype)  # strictly: a tie keeps the lower index
        index.sub_(index * above).add_(above * c)
        if runner_up is not None:
            torch.maximum(runner_up, torch.minimum(best, p), out=runner_up)
        torch.maximum(best, p, out=best)
    return index, best, runner_up


def resolve_device(name: str | None = "auto") -> str:
    """Turn a device request into a torch device string that works here.

    Parameters
    ----------
    name : str, optional
        ``"auto"`` (default: ``cuda``, then ``mps``, then ``cpu``), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    str
        The device, e.g. ``"cpu"`` or ``"cuda:0"``.

    Raises
    ------
    ModelError
        If the device is unknown or not available on this machine.
    """
    import torch

    req = "auto" if name is None else str(name).strip().lower()
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if req == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if mps_ok else "cpu"
    if req == "cpu":
        return "cpu"
    if req == "mps":
        if not mps_ok:
            raise ModelError("device 'mps' was asked for but Apple MPS is not available here")
        return "mps"
    if req == "cuda" or req.startswith("cuda:"):
        idx_text = req.partition(":")[2] or "0"
        if not idx_text.isdigit():
            raise ModelError(f"device {name!r}: expected 'cuda' or 'cuda:N'")
        if not torch.cuda.is_available():
            raise ModelError(
                f"device {name!r} was asked for but CUDA is not available here "
                f"(torch {torch.__version__}); use device='cpu' or 'auto'"
            )
        if int(idx_text) >= torch.cuda.device_count():
            raise ModelError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
        return f"cuda:{int(idx_text)}"
    raise ModelError(f"unknown device {name!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def default_num_threads() -> int:
    """Torch CPU threads used by default: the usable cores (at most 16).

    Safe on a busy machine because :func:`prefer_passive_openmp` sets
    ``OMP_WAIT_POLICY=PASSIVE`` before torch is first imported (by the CLI, and
    by :class:`HFSegmenter`; never at import time, unless the user set it): measured on 2
    cores with one core taken by another process, a tiny SegFormer ran at 15
    tiles/s with 2 passive threads, 16 with 1, and 2.9 with 2 spinning threads
    (ENVIRONMENT.md pitfall 4). On a quiet machine 2 threads ran a
    SegFormer-b0-sized model 1.7x faster than 1.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(16, cores))


def prefer_passive_openmp() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process, if torch is not imported yet.

    OpenMP threads that spin while waiting collapse torch's throughput when
    another process (or our own PNG encoders) holds a core; passive waiting
    does not (see :func:`default_num_threads` for the figures). The OpenMP
    runtime reads the variable once, when torch is first imported, so this only
    has an effect before that; a value the user set is left alone. Called by
    ``napari-axons`` (the CLI) at start and by :class:`HFSegmenter`; importing
    this module changes nothing.

    Returns
    -------
    bool
        True when the variable was set here.
    """
    import sys

    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def default_streams(num_threads: int) -> int:
    """Tiles a CPU model works on at once by default: ``min(num_threads, 4)``.

    Independent tiles parallelise better than the operations inside one small
    forward pass: measured on 2 cores, two tiles at a time with one torch thread
    each ran a tiny SegFormer at 38 tiles/s against 24 for one tile with two
    threads, and a SegFormer-b0-sized model at 3.5 against 2.8 tiles/s. Each
    stream holds its own activations, hence the cap.
    """
    return max(1, min(4, int(num_threads)))


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Torch intra-op threads of the *calling thread* set to ``n`` while inside.

    Torch keeps the OpenMP thread count per thread (a thread started later takes
    the last value set anywhere), so concurrent model calls on different threads
    each set their own.
    """
    import torch

    if not n:
        yield
        return
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


def model_batching(segmenter: Any) -> tuple[int, int]:
    """``(batch_size, streams)`` of any segmenter: tiles per model call, calls at once.

    1 for what a segmenter does not say (e.g. a test double without ``streams``).
    """
    batch = max(1, int(getattr(segmenter, "batch_size", 1) or 1))
    return batch, max(1, int(getattr(segmenter, "streams", 1) or 1))


@contextmanager
def model_executor(segmenter: Any) -> Iterator[Executor]:
    """A thread pool that runs ``segmenter.streams`` model calls at once.

    Each of its threads is set to ``segmenter.stream_threads`` torch threads when
    it starts. Segmenters without ``streams`` get one thread. On exit the pool is
    shut down and the torch thread count that threads started later inherit is
    put back to the caller's.

    Parameters
    ----------
    segmenter : Segmenter
        The segmenter whose ``predict``/``predict_prepared`` calls the pool runs.

    Yields
    ------
    concurrent.futures.Executor
    """
    _, streams = model_batching(segmenter)
    threads = getattr(segmenter, "stream_threads", None)
    initializer = None
    if threads:
        def initializer():
            import torch

            torch.set_num_threads(int(threads))

    pool = ThreadPoolExecutor(streams, thread_name_prefix="napari-axons-model",
                              initializer=initializer)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if threads:
            import torch

            torch.set_num_threads(torch.get_num_threads())  # the caller's own count
