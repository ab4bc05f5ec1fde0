"""The budget of a run, its learning-rate schedule, validation cadence and stopping rule.

Plain Python (no torch): the training loop asks these objects what to do.

* :class:`Budget`: progress through ``steps`` and/or seconds as a fraction in
  [0, 1]; a resumed run carries the seconds already spent.
* :class:`LRFactor`: linear warm-up over the first ``warmup`` of the budget,
  then cosine decay to 0 at its end, as a function of that fraction (so a time
  budget decays with the clock, not with a step count guessed in advance).
* :func:`val_interval`: validate every K steps, K fitted so that about
  ``validations`` happen within the budget.
* :class:`Plateau`: the early-stopping rule. The validation curve is smoothed
  (exponential moving average); training stops when the smoothed curve has
  not improved for ``share`` of the budget and for at least three
  validations, never within the first ``min_share`` of it.
"""

from __future__ import annotations

import math
import time

__all__ = ["Budget", "LRFactor", "Plateau", "val_interval"]


class Budget:
    """Progress through a budget of ``steps`` and/or ``seconds`` (whichever ends first).

    Parameters
    ----------
    steps : int or None
    seconds : float or None
        Wall-clock seconds for the whole run, counted from ``start`` (a
        ``time.perf_counter()`` value) plus ``spent`` (seconds of earlier,
        interrupted invocations).
    start : float, optional
    spent : float
    clock : callable
        The clock: ``time.perf_counter`` (wall-clock seconds, the default) or
        ``time.process_time`` (CPU seconds of this process: benchmarks on a
        machine shared with other jobs).
    """

    def __init__(self, steps: int | None, seconds: float | None, *, start: float | None = None,
                 spent: float = 0.0, clock=time.perf_counter):
        if steps is None and seconds is None:
            raise ValueError("a budget needs steps or seconds")
        self.steps = None if steps is None else int(steps)
        self.seconds = None if seconds is None else float(seconds)
        self.clock = clock
        self.start = clock() if start is None else float(start)
        self.spent = float(spent)
        #: seconds kept at the end for the final work (scores, saving), see :meth:`reserve`
        self.reserved = 0.0
        self._last = 0.0

    def elapsed(self) -> float:
        """Seconds spent so far (earlier invocations included)."""
        return self.spent + self.clock() - self.start

    def reserve(self, seconds: float) -> None:
        """Keep ``seconds`` (at most a quarter of the budget) for the work after training."""
        if self.seconds is not None:
            self.reserved = min(max(0.0, float(seconds)), 0.25 * self.seconds)

    def fraction(self, step: int) -> float:
        """Share of the budget used after ``step`` optimiser steps, in [0, 1], never decreasing."""
        f = 0.0
        if self.steps is not None:
            f = step / max(1, self.steps)
        if self.seconds is not None:
            f = max(f, self.elapsed() / max(1e-9, self.seconds - self.reserved))
        self._last = max(self._last, min(1.0, f))
        return self._last

    def done(self, step: int) -> bool:
        return self.fraction(step) >= 1.0


class LRFactor:
    """Multiplier of the peak learning rate as a function of :attr:`fraction`.

    A callable object for ``torch.optim.lr_scheduler.LambdaLR`` (which ignores
    the step it is given here): the training loop sets :attr:`fraction` before
    each step. Its attributes are plain numbers, so the scheduler's state dict
    saves and restores them.
    """

    def __init__(self, warmup: float = 0.05, floor: float = 0.0):
        self.warmup = float(warmup)
        self.floor = float(floor)
        self.fraction = 0.0

    def at(self, fraction: float) -> float:
        """The multiplier at ``fraction`` of the budget."""
        f = min(max(float(fraction), 0.0), 1.0)
        if self.warmup > 0 and f < self.warmup:
            return max(f / self.warmup, 0.01)
        t = (f - self.warmup) / max(1e-9, 1.0 - self.warmup)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))

    def __call__(self, step: int) -> float:
        return self.at(self.fraction)


def val_interval(steps: int | None, seconds: float | None, seconds_per_step: float | None,
                 validations: int) -> int:
    """Steps between validations so that about ``validations`` fit in the budget.

    With a time budget, ``seconds_per_step`` (measured) converts the time
    share into steps; with both budgets, the smaller interval wins.
    """
    n = max(1, int(validations))
    out = []
    if steps is not None:
        out.append(math.ceil(steps / n))
    if seconds is not None and seconds_per_step:
        out.append(int(seconds / n / seconds_per_step))
    return max(1, min(out)) if out else 1


class Plateau:
    """Stop when the smoothed validation curve has stopped improving.

    Parameters
    ----------
    share : float
        Stop after this share of the budget without a better smoothed value
        (0: never stop early).
    min_share : float
        Never stop before this share of the budget.
    alpha : float
        Weight of the newest value in the exponential moving average.
    min_delta : float
        Least gain that counts as an improvement.
    """

    def __init__(self, share: float = 0.3, min_share: float = 0.2, alpha: float = 0.4,
                 min_delta: float = 1e-3):
        self.share = float(share)
        self.min_share = float(min_share)
        self.alpha = float(alpha)
        self.min_delta = float(min_delta)
        self.smooth: float | None = None
        self.best = -math.inf
        self.best_at = 0.0
        self.count = 0
        self.since = 0  # validations since the last gain

    def update(self, fraction: float, value: float) -> bool:
        """Add one validation (at ``fraction`` of the budget); True: stop now."""
        v = float(value)
        self.smooth = v if self.smooth is None else self.alpha * v + (1 - self.alpha) * self.smooth
        self.count += 1
        if self.smooth > self.best + self.min_delta:
            self.best, self.best_at, self.since = self.smooth, float(fraction), 0
        else:
            self.since += 1
        return (self.share > 0 and self.since >= 3 and fraction >= self.min_share
                and fraction - self.best_at >= self.share)
