"""The Train section of the dock widget: train a checkpoint from corrected exports.

The user picks export folders (the widget's current export is offered), a model
folder, a time budget (and optionally a number of steps); training runs in a napari thread worker
(:func:`train_in_worker`, no Qt there) with napari's progress bar, the host
widget's progress bar and status line (in view from every section), and a
curve (:mod:`._train_plot`, matplotlib: IoU per class, loss, the best
validation marked) redrawn after every validation. Cancel stops at the next step
and keeps the best validation so far as the model; the last line gives the
result's held-out scores beside the base model's on the same tiles; "Use this
model" hands the finished folder to the host widget (which sets it as the
segmenter, with all its classes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    PushButton,
    Select,
)

from ..core.training import TrainOptions, train
from ..core.training.report import training_summary
from ._segmenter_choice import use_checkpoint
from ._train_plot import CurvePlot
from ._worker import drive, one_line, stream_from_thread

__all__ = ["TrainPanel", "attach_train_panel", "train_in_worker"]

def train_in_worker(exports, model_dir, options, stop: threading.Event, *, val_exports=None,
                    overwrite: bool = False) -> Generator[dict, None, object]:
    """Run :func:`~napari_axons.core.training.train` on a thread, yielding each validation's record.

    Returns the :class:`~napari_axons.core.training.TrainResult`; raises what
    ``train`` raised. Setting ``stop`` ends training at its next step (the best
    validation so far becomes the model).
    """
    def run(report, stop_event):
        return train(exports, model_dir, val_exports=val_exports, options=options,
                     overwrite=overwrite, progress=report, should_stop=stop_event.is_set,
                     verbose=False)

    return (yield from stream_from_thread(run, stop, "napari-axons-train"))


class TrainPanel(Container):
    """Train a segmentation checkpoint from export folders, in the background.

    Parameters
    ----------
    current_export : callable, optional
        Returns the host widget's export folder (offered by "Add current export").
    on_use : callable, optional
        ``on_use(model_dir)`` when the user clicks "Use this model"; returns the
        line to say (or None).
    say : callable, optional
        ``say(text, level)`` for messages (default: kept in :attr:`messages` only).
    on_progress : callable, optional
        ``on_progress(done, total, text)`` after each validation (the host's progress bar).

    Attributes
    ----------
    worker : GeneratorWorker or None
    result : TrainResult or None
        The last finished run.
    records : list of dict
        The running (or last) run's validation records.
    curve : CurvePlot
        The plot of :attr:`records`.
    """

    def __init__(self, *, current_export: Callable[[], object] | None = None,
                 on_use: Callable[[Path], str | None] | None = None,
                 say: Callable[[str, str], None] | None = None,
                 on_progress: Callable[[int, int, str], None] | None = None):
        super().__init__(labels=True, label="Train")
        self._current_export = current_export
        self._on_use = on_use
        self._say_host = say
        self._on_progress = on_progress
        self.pick = FileEdit(label="Export", mode="d", nullable=True,
                             tooltip="An export folder with corrected tiles")
        self.add = PushButton(text="Add")
        self.add_current_export = PushButton(text="Add current export",
                                             tooltip="The folder in the Export section")
        self.exports_list = Select(label="Train on", choices=[], allow_multiple=True)
        self.exports_list.native.setMaximumHeight(52)
        self.remove = PushButton(text="Remove", tooltip="Remove the exports selected in the list")
        self.out = FileEdit(label="Model folder", mode="d", nullable=True,
                            tooltip="Where the trained checkpoint goes (must not exist yet)")
        self.overwrite = CheckBox(text="Replace an existing model folder", value=False)
        self.base = FileEdit(label="Start from", mode="d", nullable=True,
                             tooltip="Optional: a checkpoint to fine-tune (empty: the built-in "
                                     "axon-myelin-sem model for axon/myelin exports, else a "
                                     "new model)")
        self.minutes = FloatSpinBox(label="Minutes", value=10.0, min=0.1, max=10000.0, step=1.0,
                                    tooltip="The time budget: the learning rate decays with it and "
                                            "training ends in time (the best validation is kept)")
        self.minutes.native.setSuffix(" min")
        self.steps = FloatSpinBox(label="Steps", value=0, min=0, max=10_000_000, step=100,
                                  tooltip="Most optimiser steps (0: as many as the minutes allow)")
        self.steps.native.setDecimals(0)  # a whole number, with its unit shown
        self.steps.native.setSuffix(" steps")
        self.steps.native.setSpecialValueText("no step limit")
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"],
                               tooltip="Where to train: auto picks cuda, then mps, then cpu")
        self.train = PushButton(text="Train")
        self.cancel_button = PushButton(text="Cancel", enabled=False,
                                        tooltip="Stop now; the best validation so far becomes the model")
        self.use = PushButton(text="Use this model", enabled=False)
        self.curve = CurvePlot()
        row = self._row
        self.extend([
            self.pick, row(self.add, self.add_current_export, self.remove, label=""),
            self.exports_list, self.out, self.overwrite, self.base,
            row(self.minutes, self.steps, label="Budget"), self.device,
            row(self.train, self.cancel_button, self.use, label=""),
        ])
        self.native.layout().addWidget(self.curve.native)
        self.worker = None
        self.result = None
        self.records: list[dict] = []
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._running = self._closed = False
        self._progress = None
        self._names: tuple[str, ...] = ()
        self.native.destroyed.connect(self._on_destroyed)
        self.add.changed.connect(self.add_picked)
        self.add_current_export.changed.connect(self.add_current)
        self.remove.changed.connect(self.remove_selected)
        self.train.changed.connect(self.start)
        self.cancel_button.changed.connect(self.cancel)
        self.use.changed.connect(self.use_model)
        self.add_current_export.enabled = current_export is not None

    @staticmethod
    def _row(*widgets, label: str) -> Container:
        return Container(widgets=list(widgets), layout="horizontal", labels=False, label=label)

    # ------------------------------------------------------------------ exports
    @property
    def exports(self) -> list[str]:
        return list(self.exports_list.choices)

    def set_exports(self, folders) -> None:
        self.exports_list.choices = [str(f) for f in dict.fromkeys(str(f) for f in folders)]

    def add_picked(self, _=None) -> None:
        if self.pick.value is not None and str(self.pick.value) not in ("", "."):
            self.set_exports([*self.exports, str(self.pick.value)])

    def add_current(self, _=None) -> None:
        folder = self._current_export() if self._current_export is not None else None
        if folder is None or str(folder) in ("", "."):
            self._say("choose an export folder in the Export section first", "warning")
            return
        self.set_exports([*self.exports, str(folder)])

    def remove_selected(self, _=None) -> None:
        chosen = set(self.exports_list.value or [])
        self.set_exports([f for f in self.exports if f not in chosen])

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        """True from Train until the worker has finished (also before its thread runs)."""
        return self._running

    def _say(self, text: str, level: str = "info") -> None:
        self.messages.append(text)
        if self._say_host is not None:
            self._say_host(text, level)

    def _show(self, done: int, total: int, text: str) -> None:
        if self._on_progress is not None:
            self._on_progress(done, total, text)

    def start(self, _=None):
        """Start training in a worker (returns it), or say why not."""
        from napari.qt.threading import create_worker
        from napari.utils import progress


        if self.busy:
            return None
        if not self.exports:
            self._say("add at least one export folder to train on", "warning")
            return None
        out = self.out.value
        if out is None or str(out) in ("", "."):
            self._say("choose a model folder first", "warning")
            return None
        base = self.base.value
        base = "auto" if base is None or str(base) in ("", ".") else str(base)
        opts = TrainOptions(steps=int(self.steps.value) or None,
                            max_minutes=float(self.minutes.value),
                            device=self.device.value, base=base)
        self._stop = threading.Event()
        self.records, self.result = [], None
        self.use.enabled = False
        self.curve.draw([], ())
        gen = train_in_worker(self.exports, Path(out), opts, self._stop,
                              overwrite=bool(self.overwrite.value))
        worker = create_worker(drive, gen, _start_thread=False,
                               _connect={"errored": self._on_error})
        worker.yielded.connect(self._on_record)
        worker.returned.connect(self._on_returned)
        worker.finished.connect(self._on_finished)
        self._progress = progress(total=100, desc="Training (% of the budget)")
        self.worker = worker
        self._running = True
        self._set_running(True)
        worker.start()
        self._show(0, 0, f"Training: preparing the data and the model ({opts.max_minutes:g} min"
                         + (f", {opts.steps} steps at most" if opts.steps else "") + ")...")
        return worker

    def cancel(self, _=None) -> None:
        """Stop training at its next step; the best validation so far becomes the model."""
        if self.busy:
            self._stop.set()
            self._show(0, 0, "Training: stopping; the best validation so far becomes the model...")

    def _on_destroyed(self, *_) -> None:
        """The panel is gone (napari closed): training stops at its next step."""
        self._closed = True
        self._stop.set()

    def _on_record(self, record: dict) -> None:
        if self._closed:
            return
        self.records.append(record)
        self._names = tuple(record["val_iou"])
        if self._progress is not None:
            self._progress.update(max(0, int(100 * record["share"]) - self._progress.n))
        self.curve.draw(self.records, self._names)
        fg = [n for n in record["val_iou"] if n != "background"]
        figs = ", ".join(f"{n} {record['val_iou'][n] or 0:.2f}" for n in fg)
        share = int(100 * record["share"])
        self._show(share, 100, f"Training: step {record['step']} ({share}% of the budget): "
                               f"validation IoU {figs}")

    def _on_returned(self, result) -> None:
        self.result = result
        if self._closed:
            return
        self.curve.draw(self.records, self._names, best=result.report["best"]["step"])
        # the folder's name (its path is in Model folder): the verdict fits the status line
        summary = training_summary(Path(result.model_dir).name, result.report).split("\n")
        text = summary[0].replace("trained ", "model written to ", 1)
        self._say("; ".join([text, *summary[1:]]))
        self.use.enabled = True

    def _on_error(self, exc) -> None:
        if self._closed:
            return
        self._say(one_line(exc), "error")

    def _on_finished(self) -> None:
        self._running = False
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        if self._closed:
            return
        self._set_running(False)
        self._show(0, 0, "")  # the host hides its bar; the last line stays

    def _set_running(self, running: bool) -> None:
        for w in (self.train, self.add, self.add_current_export, self.remove, self.out, self.base,
                  self.minutes, self.steps, self.device, self.overwrite):
            w.enabled = not running and (w is not self.add_current_export
                                         or self._current_export is not None)
        self.cancel_button.enabled = running

    def use_model(self, _=None) -> None:
        """Hand the finished model to the host widget (it becomes the segmenter)."""
        if self.result is not None and self._on_use is not None:
            line = self._on_use(Path(self.result.model_dir))
            self._say(line or f"segmenter: {self.result.model_dir}")


def attach_train_panel(widget) -> TrainPanel:
    """Add the Train section to the dock widget (its export folder offered, its segmenter set).

    "Use this model" chooses "checkpoint folder" as the widget's segmenter and
    the trained folder as its checkpoint, with all its classes when it has several.
    """
    c = widget.controls

    def progress(done: int, total: int, text: str) -> None:
        if widget.busy:  # a widget job's own progress comes first
            return
        if text:
            widget.show_job_progress(done, total, text)
        c.progress_bar.visible = c.cancel.enabled = panel.busy

    panel = TrainPanel(current_export=lambda: c.export_dir.value,
                       on_use=lambda folder: use_checkpoint(c, folder), say=widget.say,
                       on_progress=progress)
    widget.add_section("Train", panel)
    widget.train_panel = panel
    return panel
