"""The settings and the result of a training run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_MINUTES", "TrainOptions", "TrainResult", "TrainingError"]

#: The budget when neither ``steps`` nor ``max_minutes`` is given.
DEFAULT_MINUTES = 10.0


class TrainingError(ValueError):
    """Training cannot start or go on (one line for the user)."""


@dataclass
class TrainOptions:
    """Settings of a training run (see ``napari-axons train --help``).

    The budget is ``steps`` optimiser steps, ``max_minutes`` of wall-clock time
    (the whole run: reading the data, training, the final scores), or both
    (whichever ends first); :data:`DEFAULT_MINUTES` when neither is given.
    The learning rate warms up over ``warmup`` of the budget, then decays
    (cosine) to 0 at its end: with a time budget it follows the elapsed share
    of the time, so the run always decays fully and ends on time.

    Attributes
    ----------
    steps : int or None
        Most optimiser steps.
    max_minutes : float or None
        Most minutes for the run.
    batch_size : int
        Random crops per optimiser step (the tiles are sampled by area, so a
        few tiles give as many steps as many tiles).
    lr : float or None
        Peak learning rate (default: 1e-3 for a new model, 5e-4 from a base).
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    seed : int
    arch : str
        Architecture of a new model (see :mod:`.models`).
    base : str or None
        Where to start: ``"auto"`` (the built-in model named in
        :data:`.models.AUTO_BASES` when the exports' classes are its classes,
        else a new model), ``None`` or ``"none"`` (a new model), a built-in
        model's name, or a local checkpoint folder.
    crop : int
        Side of the training crops in pixels (at the training pixel size).
    val_every : int or None
        Validate (and save a resume checkpoint) every this many steps; by
        default about :attr:`validations` times over the budget (fitted to
        the measured step time with a time budget).
    validations : int
        Validations over the budget when ``val_every`` is not given.
    plateau : float
        Early stopping: stop when the smoothed validation curve has not
        improved for this share of the budget (never in the first
        :attr:`min_share`); 0 turns it off.
    min_share : float
        Share of the budget that always runs.
    val_fraction : float
        Share of the labelled tiles held out when no validation export is given.
    pixel_size_um : float or None
        The training pixel size: every tile whose export states its pixel size
        is resampled to it. Default: the base model's (``napari_axons.json``),
        else the exports' common pixel size (the median when they differ).
    num_threads : int or None
        Torch CPU threads (default: as segmenting does).
    clock : str
        What ``max_minutes`` counts: ``"wall"`` (wall-clock time, default) or
        ``"cpu"`` (this process's CPU time: comparable runs on a machine
        shared with other jobs).
    """

    steps: int | None = None
    max_minutes: float | None = None
    batch_size: int = 4
    lr: float | None = None
    device: str = "auto"
    seed: int = 0
    arch: str = "upernet-convnext"
    base: str | None = "auto"
    crop: int = 256
    val_every: int | None = None
    validations: int = 25
    plateau: float = 0.3
    min_share: float = 0.2
    val_fraction: float = 0.2
    pixel_size_um: float | None = None
    num_threads: int | None = None
    clock: str = "wall"
    scale_jitter: tuple[float, float] = (0.8, 1.25)
    weight_decay: float = 0.01
    warmup: float = 0.05

    def clock_function(self):
        """``time.perf_counter`` or ``time.process_time`` (see :attr:`clock`)."""
        import time

        if self.clock not in ("wall", "cpu"):
            raise TrainingError(f"clock must be 'wall' or 'cpu', got {self.clock!r}")
        return time.process_time if self.clock == "cpu" else time.perf_counter

    def budget(self) -> tuple[int | None, float | None]:
        """``(steps, seconds)``: the budget, :data:`DEFAULT_MINUTES` when none is set."""
        if self.steps is None and self.max_minutes is None:
            return None, DEFAULT_MINUTES * 60
        return self.steps, None if self.max_minutes is None else float(self.max_minutes) * 60


@dataclass
class TrainResult:
    """The finished run: where the model is and its report (``training.json``)."""

    model_dir: Path
    report: dict = field(repr=False)
