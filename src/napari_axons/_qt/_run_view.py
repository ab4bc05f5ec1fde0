"""What the dock widget does around a running job: controls locked, progress, the outcome.

A mixin of :class:`~._widget.AxonsWidget` (it uses the widget's ``controls``,
``runner``, ``overlays``, ``session`` and ``say``): the :class:`~._runner.Runner`
calls these when a job starts, advances and ends. The progress bar, Cancel and
the status line sit under the sections, so a job is in view from every tab;
napari's own progress bar (activity panel) runs too.
"""

from __future__ import annotations

import time

from ._status_line import outcome_text, progress_text

__all__ = ["RunView"]


class RunView:
    """Start, progress and end of the widget's jobs (segment, export, load masks)."""

    final: str | None = None  # said instead of the outcome when a job is done
    then = None  # called once a job is done (the conversion after an export)
    counts = None  # ExportCounts of a running export: said with its outcome

    def redraw_now_and_then(self) -> None:
        """Overview and tile status, at most every 0.5 s while a worker runs."""
        now = time.monotonic()
        if now - self._last_draw > 0.5:
            self._last_draw = now
            self.store.update_pyramid()
            self.overlays.refresh_overview()
            self.draw_status()

    # ================================================================ workers
    def _on_run_start(self, background: bool) -> None:
        self.edited_during, self._last_draw = set(), 0.0
        self._set_running(True)
        edit = self.overlays.edit_layer()
        if edit is not None and not background:
            edit.mode = "pan_zoom"
            edit.editable = False

    def _on_run_finish(self, desc: str, outcome: str) -> None:
        edit = self.overlays.edit_layer()
        if edit is not None:
            edit.editable = True
        self.edited_during = set()
        self._set_running(False)
        if self.session is not None:
            self.session.refresh_edited()
            self.store.update_pyramid()
            self.overlays.refresh_overview()
            self.draw_status()
            if self.session.classes != self.overlays.classes:
                self.show_classes()
        r = self.runner
        text = outcome_text(desc, outcome, r.done, r.total, r.unit)
        if self.counts is not None and outcome != "failed":
            text += f" ({self.counts.text()})"
        final, self.final = self.final, None  # a job's own last line (the format bridges)
        then, self.then = self.then, None  # the job that follows (Also write)
        self.counts = None
        if outcome == "failed":
            self.say(f"{text}: {r.error}", "error")
        elif final and outcome == "done":
            self.say(final)
        else:
            self.say(text + (f"; {self.note}" if self.note else ""))
        self.note = ""
        if then is not None and outcome == "done":
            then()

    def _show_progress(self, desc: str, done: int, total: int, seconds: float) -> None:
        """n of N and tiles/s under the sections (napari's bar sits in a collapsed panel)."""
        self.show_job_progress(done, total, progress_text(desc, done, total, seconds,
                                                          self.runner.unit))

    def show_job_progress(self, done: int, total: int, text: str) -> None:
        """The footer's bar at ``done`` of ``total`` (0 of 0: busy) and ``text`` in the status."""
        c = self.controls
        bar = c.progress_bar
        bar.visible = True
        bar.max, bar.value = max(total, 0), min(done, max(total, 0))
        c.message.value = text
        c.message.tooltip = text

    def _set_running(self, running: bool) -> None:
        c = self.controls
        for control in c.job_controls:
            control.enabled = not running
        c.progress_bar.visible = running
        c.target.set_enabled(not running)
        c.cancel.enabled = running

    def cancel(self, _=None) -> None:
        """Stop the running job at its next tile (finished tiles are kept), or the training."""
        if not self.busy and self.train_panel.busy:
            self.train_panel.cancel()
            return
        note = self.runner.cancel()
        if note:
            self.controls.message.value = note
