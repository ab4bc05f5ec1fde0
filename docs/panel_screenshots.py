"""Screenshots of every section of the dock widget at 1280 x 800 and 1920 x 1080 (``docs/panel-*.png``).

Run under a virtual display as large as the larger window::

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/panel_screenshots.py \\
        SEM.png SEM_seg-axonmyelin-manual.png [--out docs]

The image and its AxonDeepSeg mask (0 background, 127 myelin, 255 axon; e.g. one
of the public AxonDeepSeg SEM samples) are exported as a 3-class export at tile
size 256 (headless), which napari then opens with the plugin: the panel resumes
it. Each section is shot as it is; then a short training runs from the Train
section and its curve is shot; then a slow segmentation (it paints nothing)
runs and the Export section is shot while it runs (progress in view).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = ((1280, 800), (1920, 1080))
DOCK_SHARE = 0.33  # the dock's width, a third of the window


def make_export(image: Path, mask: Path, folder: Path) -> Path:
    """A 3-class export (background, axon, myelin) of ``image`` from its AxonDeepSeg mask."""
    import shutil

    from PIL import Image

    from napari_axons.core.common import ClassTable
    from napari_axons.core.session import Session

    local = folder / image.name
    shutil.copy(image, local)
    adseg = np.asarray(Image.open(mask).convert("L"))
    truth = np.where(adseg >= 192, 1, np.where(adseg >= 64, 2, 0)).astype(np.uint8)
    table = ClassTable(("background", "axon", "myelin"))

    class Manual:
        name, classes = "manual-truth", table

        def info(self):
            return {"name": self.name}

    s = Session(local, cache_dir=folder / "cache", tile_size=256)
    for box in s.grid:
        crop = np.zeros((box.height, box.width), np.uint8)
        y0, x0 = max(box.y, 0), max(box.x, 0)
        part = truth[y0:box.y1, x0:box.x1]
        crop[y0 - box.y:y0 - box.y + part.shape[0], x0 - box.x:x0 - box.x + part.shape[1]] = part
        s.write_segmented(box, crop, segmenter=Manual())
    out = folder / f"{local.stem}_export"
    s.export(out, range(len(s.grid)))
    s.close()
    return out


class Slow:
    """A segmenter that takes its time: the job is on screen while it runs."""

    name, batch_size = "slow", 1

    def __init__(self, table):
        self.classes = table

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        time.sleep(0.6)
        return np.zeros(tiles.shape[:3], np.uint8)

    def info(self):
        return {"name": self.name}


def settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(viewer, app, path: Path) -> None:
    """The whole window (canvas, dock, status bar) as a 256-colour PNG (a quarter the bytes)."""
    from PIL import Image

    settle(app)
    grab = viewer.window._qt_window.grab()
    tmp = path.with_suffix(".tmp.png")
    grab.save(str(tmp))
    with Image.open(tmp) as im:
        im.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE,
                                   dither=Image.Dither.NONE).save(path, optimize=True)
    tmp.unlink()
    print(path, grab.width(), "x", grab.height())


def open_export(image: Path, mask: Path, work: Path):
    """napari (shown) with the dock widget and ``image``'s 3-class export opened (resumed).

    Returns ``(viewer, app, widget, dock, export folder)``; every question is answered yes.
    """
    from qtpy.QtWidgets import QApplication

    import napari
    from napari_axons._qt._widget import AxonsWidget

    export = make_export(image, mask, work)
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    widget = AxonsWidget(viewer, cache_dir=work / "widget-cache")
    dock = viewer.window.add_dock_widget(widget, name="napari-axons", area="right")
    widget.confirm = lambda title, text: True
    viewer.open(str(export), plugin="napari-axons")
    while widget.busy:
        settle(app, 0.2)
    return viewer, app, widget, dock, export


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("mask", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="the training's budget (it fine-tunes the built-in model)")
    args = parser.parse_args()

    from qtpy.QtCore import Qt

    work = Path(tempfile.mkdtemp(prefix="napari-axons-shots-"))
    viewer, app, widget, dock, export = open_export(args.image, args.mask, work)
    widget.set_selection([1, 2, 5, 6])

    def window(width: int, height: int) -> None:
        viewer.window.resize(width, height)
        settle(app)
        viewer.window._qt_window.resizeDocks([dock], [int(width * DOCK_SHARE)],
                                             Qt.Orientation.Horizontal)
        viewer.reset_view()

    for width, height in SIZES:  # every section as it is
        window(width, height)
        for k in range(widget.tabs.count()):
            widget.tabs.setCurrentIndex(k)
            name = widget.tabs.tabText(k).lower()
            shoot(viewer, app, args.out / f"panel-{width}x{height}-{name}.png")
    # the Train section after a short training on the export
    panel = widget.train_panel
    panel.set_exports([export])
    panel.out.value = work / "model"
    panel.minutes.value = args.minutes
    train_tab = [widget.tabs.tabText(i) for i in range(widget.tabs.count())].index("Train")
    panel.device.value = "cpu"
    window(*SIZES[0])
    widget.tabs.setCurrentIndex(train_tab)
    panel.start()
    while panel.busy and not panel.records:
        settle(app, 0.5)
    widget.tabs.setCurrentIndex(0)  # training runs: its progress under the Tiles section too
    shoot(viewer, app, args.out / f"panel-{SIZES[0][0]}x{SIZES[0][1]}-tiles-while-training.png")
    widget.tabs.setCurrentIndex(train_tab)
    while panel.busy:
        settle(app, 0.5)
    for width, height in SIZES:
        window(width, height)
        shoot(viewer, app, args.out / f"panel-{width}x{height}-train.png")
    for width, height in SIZES:  # a job running: its progress and Cancel in the Export section
        window(width, height)
        widget.set_selection(range(len(widget.grid)))
        widget.make_segmenter = lambda: (lambda: Slow(widget.session.classes))
        widget.segment_selected()
        settle(app, 3.0)
        widget.tabs.setCurrentIndex(3)
        shoot(viewer, app, args.out / f"panel-{width}x{height}-export-while-segmenting.png")
        widget.cancel()
        while widget.busy:
            settle(app, 0.2)
    viewer.close()


if __name__ == "__main__":
    main()
