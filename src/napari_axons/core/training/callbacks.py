"""What we add to transformers' ``Trainer``, as callbacks.

* :class:`History`: one record per validation (kept in ``state/history.json``,
  so a resumed run continues it), a line on stderr, the caller's ``progress``.
* :class:`Clock`: the budget: sets the learning-rate schedule's progress before
  each step, asks for a validation + resume checkpoint every ``val_every``
  steps, and stops on the budget, on the :class:`.schedule.Plateau` rule or on
  the caller's ``should_stop`` (Cancel); :attr:`Clock.reason` says which.
* :class:`Best`: the best validation's weights (safetensors), restored at the end.
* :func:`budget_bar`: a progress bar over the budget's share, on a terminal.

transformers and torch are imported inside the functions only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..labels.scores import pixel_figures
from .schedule import Budget, LRFactor, Plateau, val_interval

__all__ = ["Best", "Clock", "History", "budget_bar", "format_record"]

#: Steps timed before the validation interval is fitted to a time budget.
CALIBRATION_STEPS = 5


class History:
    """Validation records, kept on disk (``history.json``) so a resumed run continues them.

    A record: ``{"step", "share", "elapsed", "train_loss", "val_loss",
    "train_iou": {class: IoU}, "val_iou": {...}, "val_miou", "val_smooth",
    "lr", "seconds"}`` (``share``: of the budget; ``elapsed``: seconds since
    the run began, earlier invocations included; ``seconds``: since the
    previous record).
    """

    def __init__(self, path: Path, classes, *, verbose: bool = True, progress=None):
        self.path = Path(path)
        self.classes = classes
        self.records: list[dict] = []
        self.verbose = verbose
        self.progress = progress

    def load(self, upto_step: int) -> None:
        """Records of a resumed run, up to its last saved checkpoint's step."""
        try:
            recs = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recs = []
        self.records = [r for r in recs if r.get("step", 0) <= upto_step]

    def add(self, rec: dict) -> None:
        self.records.append(rec)
        # written before the Trainer saves this step's checkpoint: a resume trims what
        # lies beyond the checkpoint it continues from
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.records, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)
        if self.verbose:
            _write_line(format_record(rec))
        if self.progress is not None:
            self.progress(rec)


def _write_line(text: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
    except ImportError:  # pragma: no cover
        print(text, file=sys.stderr)


def _f(v) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def format_record(rec: dict) -> str:
    """One line per validation: step, share of the budget, losses, per-class IoU."""
    fg = [n for n in rec["val_iou"] if n != "background"]
    tr = " ".join(f"{n} {_f(rec['train_iou'].get(n))}" for n in fg)
    va = " ".join(f"{n} {_f(rec['val_iou'].get(n))}" for n in fg)
    return (f"step {rec['step']} ({100 * rec['share']:.0f}%)  loss train {_f(rec['train_loss'])} "
            f"val {_f(rec['val_loss'])}  IoU train [{tr}] val [{va}]  "
            f"lr {rec['lr']:.2e}  ({rec['seconds']:.0f} s)")


def _nan_none(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


class Clock:
    """The budget, the schedule's progress, the validation cadence and the stopping rules.

    Parameters
    ----------
    budget : Budget
    lr_factor : LRFactor
        Its ``fraction`` is set before every step.
    val_every : int or None
        Fixed interval; None: fitted (step budget: at once; time budget: after
        :data:`CALIBRATION_STEPS` timed steps).
    validations : int
    plateau : Plateau
    history : History
    loss : Loss
        Its running training figures go into each record, then reset.
    should_stop : callable or None
        Polled every step (Cancel).
    """

    def __init__(self, budget: Budget, lr_factor: LRFactor, val_every: int | None,
                 validations: int, plateau: Plateau, history: History, loss,
                 should_stop=None):
        self.budget = budget
        self.lr_factor = lr_factor
        self.val_every = val_every
        self.validations = validations
        self.plateau = plateau
        self.history = history
        self.loss = loss
        self.should_stop = should_stop
        #: why training stopped: "steps", "budget" (time), "plateau", "cancelled", or None
        self.reason: str | None = None
        self.val_seconds = 0.0
        #: fit the interval to the measured step time (a time budget, no interval given)
        self._fit = self.val_every is None and budget.seconds is not None
        if self.val_every is None and budget.steps is not None:
            self.val_every = val_interval(budget.steps, None, None, validations)
        self._t_rec = time.perf_counter()
        self._t_eval = None
        self._calib: list[float] = []
        self.callback = self._build()

    def resume_from(self, records: list[dict]) -> None:
        """A resumed run: its spent time, interval and plateau state from its records."""
        if records:
            last = records[-1]
            self.budget.spent = float(last["elapsed"])
            if self._fit and last.get("val_every"):
                self.val_every, self._fit = last["val_every"], False
            for r in records:
                self.plateau.update(r["share"], r["val_miou"] or 0.0)

    def _stop(self, control, reason: str) -> None:
        self.reason = self.reason or reason
        control.should_training_stop = True
        control.should_evaluate = True
        control.should_save = True

    def _build(self):
        from transformers import TrainerCallback

        outer = self

        class _CB(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                outer._t_rec = time.perf_counter()
                outer._t_step = outer.budget.clock()
                outer.loss.reset()

            def on_step_begin(self, args, state, control, **kw):
                outer.lr_factor.fraction = outer.budget.fraction(state.global_step)
                outer._t_step = outer.budget.clock()  # the budget's clock: wall or CPU time

            def on_step_end(self, args, state, control, **kw):
                step = int(state.global_step)
                if outer._fit:
                    outer._calib.append(outer.budget.clock() - outer._t_step)
                    if len(outer._calib) > CALIBRATION_STEPS:  # the first step is not typical
                        per_step = float(np.median(outer._calib[1:]))
                        outer.val_every = val_interval(outer.budget.steps, outer.budget.seconds,
                                                       per_step, outer.validations)
                        outer._fit = False
                if outer.val_every and step % outer.val_every == 0:
                    control.should_evaluate = True
                    control.should_save = True
                if outer.budget.steps is not None and step >= outer.budget.steps:
                    outer._stop(control, "steps")
                elif outer.budget.done(step):
                    outer._stop(control, "budget")
                elif outer.should_stop is not None and outer.should_stop():
                    outer._stop(control, "cancelled")
                if control.should_evaluate:
                    outer._t_eval = time.perf_counter()
                return control

            def on_evaluate(self, args, state, control, metrics=None, lr_scheduler=None, **kw):
                recs = outer.history.records
                if recs and recs[-1]["step"] == int(state.global_step):
                    return control  # evaluated twice at one step: once
                if outer._t_eval is not None:
                    outer.val_seconds = time.perf_counter() - outer._t_eval
                    # the final scores and saving come after training: keep time for them
                    outer.budget.reserve(3 * outer.val_seconds + 4.0)
                m = metrics or {}
                names = outer.history.classes.names
                loss = outer.loss
                share = outer.budget.fraction(state.global_step)
                miou = m.get("eval_miou")
                stop = outer.plateau.update(share, miou or 0.0)
                lr = None
                if lr_scheduler is not None:
                    lr = float(lr_scheduler.get_last_lr()[0])
                now = time.perf_counter()
                rec = {
                    "step": int(state.global_step),
                    "share": round(share, 4),
                    "elapsed": round(outer.budget.elapsed(), 2),
                    "val_every": outer.val_every,
                    "train_loss": loss.sum / loss.count if loss.count else None,
                    "val_loss": m.get("eval_loss"),
                    "train_iou": (dict(zip(names, pixel_figures(loss.conf.numpy())[0],
                                           strict=True)) if loss.count else {}),
                    "val_iou": {n: _nan_none(m.get(f"eval_iou_{n}")) for n in names},
                    "val_miou": miou,
                    "val_smooth": outer.plateau.smooth,
                    "lr": lr,
                    "seconds": round(now - outer._t_rec, 2),
                }
                loss.reset()
                outer._t_rec = now
                outer.history.add(rec)
                if stop:
                    outer.reason = outer.reason or "plateau"
                    control.should_training_stop = True
                    control.should_save = True
                return control

        return _CB()


class Best:
    """Keeps the weights of the best validation (mean foreground IoU).

    Written (safetensors, atomically) to ``partial/best.safetensors`` whenever
    the validation mean IoU improves.
    """

    def __init__(self, partial: Path):
        from transformers import TrainerCallback

        self.path = partial / "best.safetensors"
        self.best = -1.0
        self.last_step = -1
        outer = self

        class _CB(TrainerCallback):
            def on_evaluate(self, args, state, control, metrics=None, model=None, **kw):
                if state.global_step == outer.last_step:
                    return control  # evaluated twice at one step (a stop between validations)
                outer.last_step = state.global_step
                miou = float((metrics or {}).get("eval_miou", 0.0))
                if miou > outer.best:
                    outer.best = miou
                    outer._save(model)
                return control

        self.callback = _CB()

    def _save(self, model) -> None:
        from safetensors.torch import save_model

        tmp = self.path.with_name(".best.tmp.safetensors")
        save_model(model, str(tmp))
        os.replace(tmp, self.path)

    def load(self, records: list[dict]) -> None:
        """Continue from a resumed run's history."""
        for r in records:
            self.best = max(self.best, r.get("val_miou") or 0.0)

    def restore(self, model):
        """``model`` with the best validation's weights (as it is when none were saved)."""
        if self.path.is_file():
            from safetensors.torch import load_model

            load_model(model, str(self.path), device=str(next(model.parameters()).device))
        return model


def budget_bar(budget: Budget):
    """A tqdm bar over the budget's share (percent), updated every step."""
    from tqdm import tqdm
    from transformers import TrainerCallback

    class _Bar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kw):
            self.bar = tqdm(total=100, unit="%", desc="training", file=sys.stderr,
                            bar_format="{l_bar}{bar}| {n:.0f}/{total}% [{elapsed}<{remaining}]")

        def on_step_end(self, args, state, control, **kw):
            if self.bar is not None:
                pct = 100 * budget.fraction(state.global_step)
                self.bar.update(max(0.0, pct - self.bar.n))
                self.bar.set_postfix_str(f"step {state.global_step}", refresh=False)

        def on_train_end(self, args, state, control, **kw):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return _Bar()
