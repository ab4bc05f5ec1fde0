"""Progress as plain lines, for logs: what the command prints when stderr is not a terminal.

A progress bar redraws one line with carriage returns, which a batch job's log or a
cluster's log file turns into noise (or, as tqdm does when it is not attached to a
terminal, prints nothing until the end). :class:`ProgressLines` prints a whole line
at a sensible interval instead::

    segmenting: tiles 400/1600 (25%), 21.3 tiles/s, eta 56 s
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

__all__ = ["ProgressLines", "format_duration", "plural", "make_progress", "Steps"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 tile"``, ``"2 tiles"``, ``"0 tiles"``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def format_duration(seconds: float) -> str:
    """A short human duration: ``"56 s"``, ``"4 min 10 s"``, ``"2 h 05 min"``."""
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressLines:
    """Count finished items and print a progress line now and then.

    A line is printed when at least ``interval`` seconds have passed since the last
    one, or when a further ``step`` of the total is done and at least ``min_gap``
    seconds have passed (so a fast job prints a few lines, a slow one one line every
    ``interval``). Nothing is printed for the last item: the caller's summary follows.

    Parameters
    ----------
    total : int
        Number of items expected (> 0 for percentages and an eta).
    label : str
        What is being done, e.g. ``"tiling"``; starts the line.
    stream : file, optional
        Where lines go (default: ``sys.stderr``).
    interval : float
        Seconds; the longest silence between two lines (default 10). 0 prints a line
        per item.
    step : float
        Fraction of the total that earns a line sooner (default 0.1).
    min_gap : float
        Seconds; the shortest gap between two lines earned by ``step`` (default 1).
    clock : callable
        Returns seconds (default :func:`time.monotonic`); tests pass a fake clock.
    unit : str
        The items' name, plural (default ``"tiles"``).
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None,
                 interval: float = 10.0, step: float = 0.1, min_gap: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, unit: str = "tiles"):
        self.unit = unit
        self.total = int(total)
        self.label = label
        self.stream = stream
        self.interval = float(interval)
        self.step = float(step)
        self.min_gap = min(float(min_gap), self.interval)
        self.clock = clock
        self.done = 0
        #: items counted as done that took no work (tiles an interrupted run had written)
        self.skipped = 0
        self.lines = 0
        self._start = clock()
        self._last_time = self._start
        self._last_done = 0

    def skip(self, n: int = 1) -> None:
        """Record ``n`` items done before (resumed): counted, not in the rate."""
        self.skipped += n
        self.update(n)

    def update(self, n: int = 1) -> None:
        """Record ``n`` more finished items; print a line when one is due."""
        self.done += n
        if self.total and self.done >= self.total:
            return
        now = self.clock()
        since = now - self._last_time
        stepped = self.total and (self.done - self._last_done) >= self.step * self.total
        if since >= self.interval or (stepped and since >= self.min_gap):
            print(self.line(now), file=self.stream or sys.stderr, flush=True)
            self.lines += 1
            self._last_time = now
            self._last_done = self.done

    def line(self, now: float | None = None) -> str:
        """The progress line for the current count."""
        now = self.clock() if now is None else now
        elapsed = now - self._start
        rate = (self.done - self.skipped) / elapsed if elapsed > 0 else 0.0
        text = f"{self.label}: {self.unit} {self.done}/{self.total}"
        if self.total:
            text += f" ({100 * self.done // self.total}%)"
        text += f", {rate:.1f} {self.unit}/s"
        if self.total and rate > 0:
            text += f", eta {format_duration((self.total - self.done) / rate)}"
        return text

    # The same protocol as tqdm, so the caller can use either.
    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        """Nothing to release (tqdm's protocol)."""


def make_progress(args, total: int, label: str, unit: str = "tiles"):
    """A tqdm bar on a terminal; :class:`ProgressLines` for a log (or with --progress-interval)."""
    if getattr(args, "progress_interval", None) is None and sys.stderr.isatty():
        return tqdm(total=total, unit=unit.rstrip("s"), desc=label.capitalize(), file=sys.stderr)
    interval = 10.0 if getattr(args, "progress_interval", None) is None else args.progress_interval
    return ProgressLines(total, label, stream=sys.stderr, interval=interval, unit=unit)


class Steps:
    """A ``progress(done, total)`` callback over :func:`make_progress`, made when the total is known.

    For core functions whose total changes between stages (tiles, then blocks):
    a new bar starts when ``total`` changes.
    """

    def __init__(self, args, label: str, unit: str = "steps"):
        self.args, self.label, self.unit = args, label, unit
        self.bar, self.total, self.done = None, None, 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None or total != self.total:
            self.close()
            self.bar, self.total, self.done = make_progress(self.args, total, self.label, self.unit), total, 0
        if done > self.done:
            self.bar.update(done - self.done)
            self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
