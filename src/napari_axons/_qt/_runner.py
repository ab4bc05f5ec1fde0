"""Runs the widget's generators (segment, load, export) in napari thread workers.

One job at a time, with a progress bar and Cancel. Results reach the UI
thread through ``on_yield``; at most :data:`RESULTS_IN_FLIGHT` are waiting
there, so a worker faster than the UI does not pile up masks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ._worker import drive, one_line

__all__ = ["Runner", "RESULTS_IN_FLIGHT"]

#: Results (e.g. tile masks) a worker may have produced that the UI has not handled yet.
RESULTS_IN_FLIGHT = 8


class Runner:
    """The running job of a widget.

    Parameters
    ----------
    say : callable
        ``say(text, level)`` tells the user.
    on_start, on_finish : callable
        ``on_start(background)`` when a job starts; ``on_finish(desc, outcome)``
        after it ended (outcome ``"done"``, ``"cancelled"`` or ``"failed"``).
    on_progress : callable, optional
        ``on_progress(desc, done, total, seconds)`` at most every 0.2 s while a
        job runs, and once at its start.

    Attributes
    ----------
    worker : GeneratorWorker or None
        The running (or last) worker.
    background : bool
        The job runs elsewhere (a dask cluster): editing stays on.
    done, total : int
        Items handled so far, and in all, of the running (or last) job.
    """

    def __init__(self, *, say: Callable, on_start: Callable[[bool], None],
                 on_finish: Callable[[str, str], None], on_progress: Callable | None = None):
        self._say, self._on_start, self._on_finish = say, on_start, on_finish
        self._on_progress = on_progress or (lambda *a: None)
        self.worker = None
        self.background = False
        self.stop: threading.Event | None = None  # stops a background export
        self._gen = None
        self._progress = None
        self._desc, self._outcome = "", "done"
        self._done, self._last_progress, self._redrawing = 0, 0.0, False
        self.total, self._started = 0, 0.0
        self.error = ""  # the last job's error, one line
        self.unit = "tiles"  # what the running (or last) job counts

    done = property(lambda self: self._done)

    @property
    def busy(self) -> bool:
        """True from the start of a job until its worker has finished."""
        return self._gen is not None

    def start(self, gen, total: int, desc: str, on_yield: Callable, *, background: bool = False,
              stop: threading.Event | None = None, unit: str = "tiles"):
        """Run generator ``gen`` (``total`` items, counted in ``unit``) in a thread worker;
        returns the worker."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        self._gen, self._outcome, self._desc = gen, "done", desc
        self._progress = progress(total=total, desc=desc)
        self._done, self._last_progress, self._redrawing = 0, 0.0, False
        self.total, self._started, self.error = int(total), time.monotonic(), ""
        self.unit = unit
        slots = threading.Semaphore(RESULTS_IN_FLIGHT)

        def handle(value):
            try:
                on_yield(value)
            finally:
                slots.release()

        worker = create_worker(drive, gen, slots, _start_thread=False,
                               _connect={"errored": self._on_error})
        worker.yielded.connect(handle)
        worker.finished.connect(self._finished)
        worker.aborted.connect(self._on_aborted)
        self.worker, self.background, self.stop = worker, background, stop
        self._on_start(background)
        self._on_progress(desc, 0, self.total, 0.0)
        worker.start()
        return worker

    def advance(self) -> None:
        """One more item done; the bar is redrawn at most every 0.2 s, never re-entrantly.

        (napari's progress bar calls ``QApplication.processEvents()`` when it is
        redrawn, which delivers the worker's next results inside this call: a
        fast worker would otherwise nest one handler in another until Python's
        recursion limit.)
        """
        self._done += 1
        bar = self._progress
        now = time.monotonic()
        if bar is None or self._redrawing or now - self._last_progress < 0.2:
            return
        self._redrawing, self._last_progress = True, now
        try:
            self._on_progress(self._desc, self._done, self.total, now - self._started)
            bar.update(self._done - bar.n)
        finally:
            self._redrawing = False

    def advance_to(self, done: int, total: int) -> None:
        """``done`` of ``total`` items (a job that reports counts rather than items)."""
        self.total = int(total)
        if self._progress is not None and self._progress.total != self.total:
            self._progress.total = self.total
        self._done = int(done) - 1
        self.advance()

    def cancel(self) -> str | None:
        """Stop the job at its next tile (finished tiles are kept); returns a note for the user."""
        if self.busy and self.stop is not None:  # a cluster export: stopped in its thread
            self._outcome = "cancelled"
            self.stop.set()
            return "cancelling after the tile in progress..."
        if self.busy:
            self.worker.quit()
        return None

    def fail(self, error: str) -> None:
        """End the job as failed, with this one-line error (said when it has stopped)."""
        self._outcome, self.error = "failed", error
        if self.busy:
            self.worker.quit()

    def _on_aborted(self) -> None:
        if self._outcome != "failed":
            self._outcome = "cancelled"

    def _on_error(self, exc) -> None:
        self._outcome = "failed"
        self.error = one_line(exc)  # said by on_finish, with the count

    def _finished(self) -> None:
        if self._gen is not None:
            self._gen.close()  # runs the generator's cleanup (closes export jobs)
            self._gen = None
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self.background, self.stop = False, None
        self._on_finish(self._desc, self._outcome)
