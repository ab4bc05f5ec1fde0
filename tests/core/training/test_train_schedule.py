"""The training budget, learning-rate schedule, validation cadence and stopping rule (no torch)."""

from __future__ import annotations

import math

import pytest

from napari_axons.core.training.options import DEFAULT_MINUTES, TrainOptions
from napari_axons.core.training.schedule import Budget, LRFactor, Plateau, val_interval


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_lr_warms_up_then_decays_to_zero_at_the_end():
    f = LRFactor(warmup=0.1)
    assert f.at(0.0) == 0.01  # never exactly 0: the first step learns a little
    assert f.at(0.05) == pytest.approx(0.5)
    assert f.at(0.1) == pytest.approx(1.0)
    assert f.at(0.55) == pytest.approx(0.5)  # half-way through the cosine
    assert f.at(1.0) == pytest.approx(0.0, abs=1e-12)
    assert f.at(1.7) == pytest.approx(0.0, abs=1e-12)
    values = [f.at(x / 100) for x in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # decays monotonically
    f.fraction = 0.55
    assert f(12345) == pytest.approx(0.5)  # the step LambdaLR passes is ignored


def test_time_budget_follows_the_clock_and_keeps_a_reserve():
    clock = FakeClock()
    b = Budget(None, 100.0, clock=clock)
    assert b.fraction(0) == 0.0
    clock.t += 30
    assert b.fraction(5) == pytest.approx(0.3)
    b.reserve(20)  # the final scores need 20 s: training ends at 80 s
    assert b.fraction(5) == pytest.approx(30 / 80)
    b.reserve(60)  # never more than a quarter of the budget
    assert b.reserved == 25 and b.fraction(6) == pytest.approx(30 / 75)
    clock.t -= 10  # never goes back (a shrinking reserve, a clock adjusted)
    assert b.fraction(6) == pytest.approx(30 / 75)
    clock.t += 60
    assert b.done(7)
    resumed = Budget(None, 100.0, clock=clock, spent=50.0)
    clock.t += 10
    assert resumed.fraction(0) == pytest.approx(0.6)


def test_step_budget_and_both():
    clock = FakeClock()
    assert Budget(200, None, clock=clock).fraction(50) == 0.25
    both = Budget(200, 100.0, clock=clock)
    clock.t += 50  # half the time, a quarter of the steps: the larger share counts
    assert both.fraction(50) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="a budget needs steps or seconds"):
        Budget(None, None)


def test_default_budget_and_clock():
    assert TrainOptions().budget() == (None, DEFAULT_MINUTES * 60)
    assert TrainOptions(steps=300).budget() == (300, None)
    assert TrainOptions(steps=300, max_minutes=2).budget() == (300, 120.0)
    import time

    assert TrainOptions(clock="cpu").clock_function() is time.process_time
    from napari_axons.core.training import TrainingError

    with pytest.raises(TrainingError, match="clock must be 'wall' or 'cpu', got 'gpu'"):
        TrainOptions(clock="gpu").clock_function()


def test_validation_interval():
    assert val_interval(1000, None, None, 25) == 40
    assert val_interval(10, None, None, 25) == 1
    assert val_interval(None, 600.0, 0.5, 25) == 48  # 24 s between validations at 0.5 s/step
    assert val_interval(1000, 600.0, 0.5, 25) == 40  # the smaller interval wins
    assert val_interval(None, 600.0, None, 25) == 1


def test_plateau_never_in_the_first_fifth_and_only_after_a_share_without_gain():
    p = Plateau(share=0.3, min_share=0.2)
    # flat from the start: the first fifth always runs, then 0.3 of the budget without gain
    stops = [p.update(x / 20, 0.5) for x in range(1, 21)]
    assert stops.index(True) == 6 - 1 + 1  # at share 0.35 = first value's share 0.05 + 0.3
    p = Plateau(share=0.3, min_share=0.2)
    rising = [p.update(x / 20, 0.1 + x / 40) for x in range(1, 21)]
    assert not any(rising)  # a curve that keeps improving never stops
    p = Plateau(share=0.3, min_share=0.2)
    shares = [x / 40 for x in range(1, 41)]
    curve = [min(0.8, 0.1 * x) for x in range(1, 41)]  # rises until share 0.2, then flat
    curve[12] = 0.95  # one noisy high value: smoothed, it does not reset the clock for long
    stopped = next(s for s, v in zip(shares, curve, strict=True) if p.update(s, v))
    assert 0.5 <= stopped <= 0.8 and stopped - p.best_at >= 0.3
    assert not Plateau(share=0.0).update(0.9, 0.1)  # 0: off
    sparse = Plateau(share=0.3, min_share=0.2)  # few validations: three without gain first
    assert [sparse.update(s, 0.5) for s in (0.25, 0.6, 0.8, 0.9, 1.0)] == [
        False, False, False, True, True]


def test_plateau_smoothing():
    p = Plateau(alpha=0.5)
    p.update(0.1, 1.0)
    p.update(0.2, 0.0)
    assert p.smooth == 0.5 and math.isclose(p.best, 1.0)
