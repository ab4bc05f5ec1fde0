"""The Train section of the dock widget: train a checkpoint from corrected exports.

The user picks export folders (the widget's current export is offered), a model
folder, a time limit; training runs in a napari thread worker
(:func:`train_in_worker`, no Qt there) with napari's progress bar and a curve
redrawn after every epoch. Cancel stops at the next step and keeps the best
epoch so far as the model; "Use this model" hands the finished folder to the
host widget (which sets it as the segmenter).
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Callable, Generator
from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Image,
    Label,
    PushButton,
    Select,
    SpinBox,
)

__all__ = ["TrainPanel", "attach_train_panel", "train_in_worker"]

_DONE = object()


def train_in_worker(exports, model_dir, options, stop: threading.Event, *, val_exports=None,
                    overwrite: bool = False) -> Generator[dict, None, object]:
    """Run :func:`~napari_axons.core.training.train` on a thread, yielding each epoch's record.

    Returns the :class:`~napari_axons.core.training.TrainResult`; raises what
    ``train`` raised. Setting ``stop`` ends training at its next step (the best
    epoch so far becomes the model).
    """
    from ..core.training import train

    records: queue.Queue = queue.Queue()
    outcome: dict = {}

    def job():
        try:
            outcome["result"] = train(exports, model_dir, val_exports=val_exports,
                                      options=options, overwrite=overwrite,
                                      progress=records.put, should_stop=stop.is_set,
                                      verbose=False)
        except BaseException as exc:  # handed to the worker's thread below
            outcome["error"] = exc
        finally:
            records.put(_DONE)

    thread = threading.Thread(target=job, name="napari-axons-train", daemon=True)
    thread.start()
    try:
        while (item := records.get()) is not _DONE:
            yield item
    finally:
        if thread.is_alive():  # the worker was quit: stop training and wait for it
            stop.set()
            thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class TrainPanel(Container):
    """Train a segmentation checkpoint from export folders, in the background.

    Parameters
    ----------
    current_export : callable, optional
        Returns the host widget's export folder (offered by "Add current export").
    on_use : callable, optional
        ``on_use(model_dir)`` when the user clicks "Use this model".
    say : callable, optional
        ``say(text, level)`` for messages (default: the panel's status line only).

    Attributes
    ----------
    worker : GeneratorWorker or None
    result : TrainResult or None
        The last finished run.
    records : list of dict
        The running (or last) run's per-epoch records.
    """

    def __init__(self, *, current_export: Callable[[], object] | None = None,
                 on_use: Callable[[Path], None] | None = None,
                 say: Callable[[str, str], None] | None = None):
        super().__init__(labels=True, label="Train")
        self._current_export = current_export
        self._on_use = on_use
        self._say_host = say
        self._pick = FileEdit(label="Export", mode="d", nullable=True,
                              tooltip="An export folder with corrected tiles")
        self._add = PushButton(text="Add")
        self._add_current = PushButton(text="Add current export")
        self._exports = Select(label="Train on", choices=[], allow_multiple=True)
        self._remove = PushButton(text="Remove selected")
        self._out = FileEdit(label="Model folder", mode="d", nullable=True,
                             tooltip="Where the trained checkpoint goes (must not exist yet)")
        self._overwrite = CheckBox(text="Replace an existing model folder", value=False)
        self._base = FileEdit(label="Start from", mode="d", nullable=True,
                              tooltip="Optional: a checkpoint to fine-tune (else a new model)")
        self._minutes = FloatSpinBox(label="Minutes", value=10.0, min=0.1, max=10000.0, step=1.0)
        self._epochs = SpinBox(label="Epochs", value=60, min=1, max=10000)
        self._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self._start = PushButton(text="Train")
        self._cancel = PushButton(text="Cancel", enabled=False,
                                  tooltip="Stop now; the best epoch so far becomes the model")
        self._curve = Image(label="Curve")
        self._status = Label(label="Training", value="")
        self._use = PushButton(text="Use this model", enabled=False)
        self.extend([
            self._pick,
            Container(widgets=[self._add, self._add_current], layout="horizontal", labels=False,
                      label=""),
            self._exports, self._remove, self._out, self._overwrite, self._base, self._minutes,
            self._epochs, self._device,
            Container(widgets=[self._start, self._cancel], layout="horizontal", labels=False,
                      label=""),
            self._curve, self._status, self._use,
        ])
        self.worker = None
        self.result = None
        self.records: list[dict] = []
        self.messages: list[str] = []
        self._stop = threading.Event()
        self._progress = None
        self._names: tuple[str, ...] = ()
        self._plot_dir = tempfile.TemporaryDirectory(prefix="napari-axons-train-")
        self._add.changed.connect(self.add_picked)
        self._add_current.changed.connect(self.add_current)
        self._remove.changed.connect(self.remove_selected)
        self._start.changed.connect(self.start)
        self._cancel.changed.connect(self.cancel)
        self._use.changed.connect(self.use_model)
        self._add_current.enabled = current_export is not None

    # ------------------------------------------------------------------ exports
    @property
    def exports(self) -> list[str]:
        return list(self._exports.choices)

    def set_exports(self, folders) -> None:
        self._exports.choices = [str(f) for f in dict.fromkeys(str(f) for f in folders)]

    def add_picked(self, _=None) -> None:
        if self._pick.value is not None and str(self._pick.value) not in ("", "."):
            self.set_exports([*self.exports, str(self._pick.value)])

    def add_current(self, _=None) -> None:
        folder = self._current_export() if self._current_export is not None else None
        if folder is None or str(folder) in ("", "."):
            self._say("choose an export folder in the Export section first", "warning")
            return
        self.set_exports([*self.exports, str(folder)])

    def remove_selected(self, _=None) -> None:
        chosen = set(self._exports.value or [])
        self.set_exports([f for f in self.exports if f not in chosen])

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def _say(self, text: str, level: str = "info") -> None:
        self.messages.append(text)
        self._status.value = text
        if self._say_host is not None:
            self._say_host(text, level)

    def start(self, _=None):
        """Start training in a worker (returns it), or say why not."""
        from napari.qt.threading import create_worker
        from napari.utils import progress

        from ..core.training import TrainOptions

        if self.busy:
            return None
        if not self.exports:
            self._say("add at least one export folder to train on", "warning")
            return None
        out = self._out.value
        if out is None or str(out) in ("", "."):
            self._say("choose a model folder first", "warning")
            return None
        base = self._base.value
        base = None if base is None or str(base) in ("", ".") else str(base)
        opts = TrainOptions(epochs=int(self._epochs.value), max_minutes=float(self._minutes.value),
                            device=self._device.value, base=base)
        self._stop = threading.Event()
        self.records, self.result = [], None
        self._use.enabled = False
        gen = train_in_worker(self.exports, Path(out), opts, self._stop,
                              overwrite=bool(self._overwrite.value))
        from ._worker import drive

        worker = create_worker(drive, gen, _start_thread=False,
                               _connect={"errored": self._on_error})
        worker.yielded.connect(self._on_epoch)
        worker.returned.connect(self._on_returned)
        worker.finished.connect(self._on_finished)
        self._progress = progress(total=opts.epochs, desc="Training")
        self.worker = worker
        self._set_running(True)
        self._status.value = "training..."
        worker.start()
        return worker

    def cancel(self, _=None) -> None:
        """Stop training at its next step; the best epoch so far becomes the model."""
        if self.busy:
            self._stop.set()
            self._status.value = "stopping: the best epoch so far becomes the model..."

    def _on_epoch(self, record: dict) -> None:
        self.records.append(record)
        self._names = tuple(record["val_iou"])
        if self._progress is not None:
            self._progress.update(max(0, int(record["epoch"]) - self._progress.n))
        self._draw_curve()
        fg = [n for n in record["val_iou"] if n != "background"]
        figs = ", ".join(f"{n} {record['val_iou'][n] or 0:.2f}" for n in fg)
        self._status.value = f"epoch {record['epoch']:g}: validation IoU {figs}"

    def _draw_curve(self) -> None:
        import numpy as np
        from PIL import Image as PILImage

        from ..core.training.report import plot_curves

        path = Path(self._plot_dir.name) / "curve.png"
        plot_curves(self.records, self._names, path)
        with PILImage.open(path) as im:
            self._curve.value = np.asarray(im.convert("RGB"))

    def _on_returned(self, result) -> None:
        self.result = result
        best = result.report["best"]
        figs = ", ".join(f"{k} {v:.3f}" for k, v in best["val_iou"].items() if k != "background")
        self._say(f"model written to {result.model_dir}: best epoch {best['epoch']:g}, "
                  f"validation IoU {figs}")
        self._use.enabled = True

    def _on_error(self, exc) -> None:
        from ._worker import one_line

        self._say(one_line(exc), "error")

    def _on_finished(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        for w in (self._start, self._add, self._add_current, self._remove, self._out, self._base,
                  self._minutes, self._epochs, self._device, self._overwrite):
            w.enabled = not running and (w is not self._add_current
                                         or self._current_export is not None)
        self._cancel.enabled = running

    def use_model(self, _=None) -> None:
        """Hand the finished model to the host widget (it becomes the segmenter)."""
        if self.result is not None and self._on_use is not None:
            self._on_use(Path(self.result.model_dir))
            self._say(f"segmenter: {self.result.model_dir}")


def attach_train_panel(widget) -> TrainPanel:
    """Add the Train section to the dock widget (its export folder offered, its segmenter set).

    "Use this model" chooses "checkpoint folder" as the widget's segmenter and
    the trained folder as its checkpoint.
    """
    from ._controls import CHECKPOINT_SEGMENTER

    def use(folder: Path) -> None:
        widget._segmenter.value = CHECKPOINT_SEGMENTER
        widget._model_dir.value = folder

    panel = TrainPanel(current_export=lambda: widget._export_dir.value, on_use=use,
                       say=widget._say)
    widget.append(panel)
    widget.train_panel = panel
    return panel
