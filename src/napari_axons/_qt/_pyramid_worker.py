"""Build a slide's pyramid in the background while napari shows it and stays responsive.

The reader hands napari the levels of a :class:`~napari_axons.core.image.pyramid.PyramidBuild`
at once (level 0 is the file itself, read lazily; the reduced levels read as 0
where no block is built yet) and calls :func:`build_in_background`: a thread runs
:meth:`PyramidBuild.steps`, and a timer on the Qt thread refreshes the layers
that show the levels, so the overview fills in block by block, and says how far
the build is in the canvas's text overlay (``Building the overview of
slide.tif: 48%``) and in the status bar. Closing the image (removing its layer)
stops the build. A cancelled or failed build leaves nothing in the cache; the
levels then read as 0 and a notification says so.

Not napari's progress bar: its activity indicator is an animated picture that,
with software OpenGL (Xvfb, remote desktops), made Qt compose the whole window
30 times a second, and took a third of the two cores the build needs (a
20000^2 slide's overview: 2.9x tifffile's decode time with it, about 1.5x without).
"""

from __future__ import annotations

import atexit
import threading
import time

from qtpy.QtCore import QObject, QTimer

__all__ = ["BackgroundPyramid", "build_in_background", "running_builds", "running_build_for",
           "settle_activity_indicator"]

_RUNNING: set[BackgroundPyramid] = set()
#: Seconds between two redraws of the layers while blocks arrive.
REDRAW_S = 1.0


def running_builds() -> list[BackgroundPyramid]:
    """The builds of this process whose end napari has not shown yet."""
    return list(_RUNNING)


def running_build_for(folder) -> BackgroundPyramid | None:
    """The build in progress into cache ``folder`` (the same image opened again), if any."""
    for job in _RUNNING:
        if job.build.folder == folder and not job.finished:
            return job
    return None


def settle_activity_indicator(viewer) -> bool:
    """Stop napari's activity indicator if no progress bar is left to show it for.

    napari 0.9.2 leaves the animated indicator of its status bar running after
    ``viewer.open`` has closed its "Opening Files" progress (seen with its own
    reader too). With software OpenGL every frame of it made Qt compose the whole
    window: a third of two cores, for as long as the window is open, while the
    pyramid build needs them. napari's own check (``maybe_hide_progress_indicator``)
    keeps it running while any progress bar is visible. Returns True when called.
    """
    try:
        from napari._qt.dialogs.qt_activity_dialog import QtActivityDialog

        dialogs = viewer.window._qt_window.findChildren(QtActivityDialog)
        for dialog in dialogs:
            dialog.maybe_hide_progress_indicator()
        return bool(dialogs)
    except Exception:  # another napari: nothing to settle
        return False


@atexit.register
def _stop_all() -> None:
    """At exit, stop the builds between blocks so their partial files are removed."""
    for job in list(_RUNNING):
        job.cancel()
    for job in list(_RUNNING):
        job.wait(30)


def build_in_background(build, name: str, interval_ms: int = 500) -> BackgroundPyramid:
    """Start ``build`` on a thread; show its progress and refresh napari as blocks finish.

    Parameters
    ----------
    build : PyramidBuild
        From :func:`~napari_axons.core.image.pyramid.open_pyramid`, not complete.
    name : str
        The image's name, for the progress bar and messages.
    interval_ms : int
        Milliseconds between two refreshes of the progress bar and the layers.

    Returns
    -------
    BackgroundPyramid
        Kept alive by this module until the build ends.
    """
    job = BackgroundPyramid(build, name, interval_ms)
    job.start()
    return job


class BackgroundPyramid(QObject):
    """One pyramid build on a worker thread, followed from the Qt thread.

    Attributes
    ----------
    build : PyramidBuild
    finished : bool
        The worker thread has stopped (complete, cancelled or failed).
    error : BaseException or None
        Why the build failed.
    refreshes : int
        How many times the layers were refreshed (tests count them).
    """

    def __init__(self, build, name: str, interval_ms: int = 500):
        super().__init__()
        self.build = build
        self.name = name
        self.finished = False
        self.cancelled = False
        self.error: BaseException | None = None
        self.refreshes = 0
        self.started_at = time.perf_counter()
        self._stop = threading.Event()
        self._shown = -1
        self._drawn_at = 0.0
        self._seen_layer = False
        self._overlays: dict[int, tuple] = {}
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"napari-axons-pyramid-{name}")
        self._timer = QTimer(self)
        self._timer.setInterval(max(10, int(interval_ms)))
        self._timer.timeout.connect(self._tick)

    # -- worker thread -----------------------------------------------------------
    def _run(self) -> None:
        steps = self.build.steps()
        try:
            for _ in steps:
                if self._stop.is_set():
                    break
        except BaseException as exc:  # reported on the Qt thread
            self.error = exc
        finally:
            steps.close()  # a stopped build removes its partial files here, off the Qt thread
            self.finished = True

    # -- Qt thread ---------------------------------------------------------------
    def start(self) -> None:
        """Start following; the build itself starts at the first turn of the event loop,
        once ``viewer.open`` has returned (so it does not slow napari's first view)."""
        _RUNNING.add(self)
        self._timer.start()
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, self._start_thread)

    def _start_thread(self) -> None:
        if not self._thread.is_alive() and not self.finished and not self._stop.is_set():
            self._thread.start()

    def cancel(self) -> None:
        """Stop after the blocks in flight; nothing is cached."""
        self.cancelled = True
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread stops (tests, shutdown); True if it did."""
        if self._thread.ident is None:  # never started
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def text(self) -> str:
        """How far the build is, for the canvas overlay and the status bar."""
        total = max(self.build.total, 1)
        return (f"Building the overview of {self.name}: {100 * self.build.done // total}% "
                f"({self.build.done} of {self.build.total} blocks; once, then cached)")

    def _tick(self) -> None:
        layers = self._layers()
        if layers and not self._seen_layer:
            self._seen_layer = True
            for viewer in self._viewers(layers):
                settle_activity_indicator(viewer)
        elif not layers and self._seen_layer and not self.cancelled and not self.finished:
            self.cancel()  # the image was closed: its pyramid is not wanted
        if self._stop.is_set() and self._thread.ident is None:
            self.finished = True  # stopped before it started: nothing was written
        done = self.build.done
        now = time.perf_counter()
        # the first block at once, then at most one redraw a second (a redraw is not free
        # with software OpenGL, and the build needs the cores); the last one at the end
        # (the progress line too: with software OpenGL any repaint composes the whole window)
        if (done != self._shown and (self._shown <= 0 or now - self._drawn_at >= REDRAW_S)
                or self.finished or not self._overlays and layers):
            self._shown, self._drawn_at = done, now
            self._refresh_layers(layers)
            self._say_progress(layers)
        if self.finished:
            self._finish()

    def _say_progress(self, layers) -> None:
        for viewer in {id(v): v for v in self._viewers(layers)}.values():
            overlay = viewer.canvas.overlays.text
            if id(viewer) not in self._overlays:  # put back as it was at the end
                self._overlays[id(viewer)] = (overlay, overlay.text, overlay.visible)
            overlay.text, overlay.visible = self.text, True
            viewer.status = self.text

    def _finish(self) -> None:
        self._timer.stop()
        for overlay, text, visible in self._overlays.values():
            overlay.text, overlay.visible = text, visible
        self._overlays.clear()
        _RUNNING.discard(self)
        if self.build.complete:
            return
        from napari.utils.notifications import show_error, show_warning

        if self.error is not None:
            show_error(f"{self.name}: the pyramid could not be built "
                       f"({type(self.error).__name__}: {self.error}); the overview stays "
                       "blank, full resolution still shows when you zoom in")
        elif self.cancelled:
            show_warning(f"{self.name}: pyramid build cancelled; the overview stays blank "
                         "(open the image again to build it)")

    def _refresh_layers(self, layers=None) -> None:
        """Redraw every layer that shows this build's levels."""
        for layer in self._layers() if layers is None else layers:
            layer.refresh()
            self.refreshes += 1

    @staticmethod
    def _viewers(layers) -> list:
        import napari

        viewers = list(getattr(napari.Viewer, "_instances", ())) or [napari.current_viewer()]
        return [v for v in viewers if v is not None and any(la in v.layers for la in layers)]

    def _layers(self) -> list:
        import napari

        viewers = list(getattr(napari.Viewer, "_instances", ())) or [napari.current_viewer()]
        ours = self.build.levels[-1]
        found = []
        for viewer in viewers:
            if viewer is None:
                continue
            for layer in viewer.layers:
                if getattr(layer, "multiscale", False) and len(layer.data) == len(
                        self.build.levels) and layer.data[-1] is ours:
                    found.append(layer)
        return found
