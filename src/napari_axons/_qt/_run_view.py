"""What the dock widget does around a running job: controls locked, progress, the outcome.

A mixin of :class:`~._widget.AxonsWidget` (it uses the widget's controls,
``runner``, ``overlays``, ``session`` and ``_say``): the :class:`~._runner.Runner`
calls these when a job starts, advances and ends.
"""

from __future__ import annotations

import time

from ._status_line import outcome_text, progress_text

__all__ = ["RunView"]


class RunView:
    """Start, progress and end of the widget's jobs (segment, export, load masks)."""

    _final: str | None = None  # said instead of the outcome when a job is done
    _then = None  # called once a job is done (the conversion after an export)

    def _redraw_now_and_then(self) -> None:
        """Overview and tile status, at most every 0.5 s while a worker runs."""
        now = time.monotonic()
        if now - self._last_draw > 0.5:
            self._last_draw = now
            self.store.update_pyramid()
            self.overlays.refresh_overview()
            self._draw_status()

    # ================================================================ workers
    def _on_run_start(self, background: bool) -> None:
        self._edited_during, self._last_draw = set(), 0.0
        self._set_running(True)
        edit = self.overlays.edit_layer()
        if edit is not None and not background:
            edit.mode = "pan_zoom"
            edit.editable = False

    def _on_run_finish(self, desc: str, outcome: str) -> None:
        edit = self.overlays.edit_layer()
        if edit is not None:
            edit.editable = True
        self._edited_during = set()
        self._set_running(False)
        if self.session is not None:
            self.session.refresh_edited()
            self.store.update_pyramid()
            self.overlays.refresh_overview()
            self._draw_status()
        text = outcome_text(desc, outcome, self.runner.done, self.runner.total, self.runner.unit)
        final, self._final = self._final, None  # a job's own last line (the format bridges)
        then, self._then = self._then, None  # the job that follows (Also write)
        if outcome == "failed":
            self._say(f"{text}: {self.runner.error}", "error")
        elif final and outcome == "done":
            self._say(final)
        else:
            self._say(text + (f"; {self._note}" if self._note else ""))
        self._note = ""
        if then is not None and outcome == "done":
            then()

    def _show_progress(self, desc: str, done: int, total: int, seconds: float) -> None:
        """n of N and tiles/s in the widget itself (napari's bar sits in a collapsed panel)."""
        bar = self._progress_bar
        bar.max, bar.value = max(total, 1), min(done, max(total, 1))
        self._message.value = progress_text(desc, done, total, seconds, self.runner.unit)

    def _set_running(self, running: bool) -> None:
        for c in (self._run, self._export, self._import, self._image, self._tile_size,
                  self._overlap, self._downsample, self._save_session, self._open_session,
                  self._import_from, self._also_write):
            c.enabled = not running
        self._progress_bar.visible = running
        self._target.set_enabled(not running)
        self._cancel.enabled = running

    def cancel(self, _=None) -> None:
        """Stop the running worker at its next tile (finished tiles are kept)."""
        note = self.runner.cancel()
        if note:
            self._message.value = note
