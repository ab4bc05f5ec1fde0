"""Screenshots of the Fibres section on a real SEM image at 1280 x 800 (``docs/fibres-1280x800-*.png``).

Run under a virtual display::

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/fibres_screenshots.py \\
        SEM.png SEM_seg-axonmyelin-manual.png --pixel-size 0.18 [--out docs]

The image and its AxonDeepSeg mask (0 background, 127 myelin, 255 axon) become a
3-class export at tile size 256 (as ``panel_screenshots.py`` makes it), which
napari opens with the plugin (the panel resumes it). In the Fibres section the
pixel size is typed, *Measure fibres* pressed; then four shots:

* ``gratio``: the fibres layer coloured by g-ratio with the colour bar, the
  scatter, and the status bar showing the row of the fibre under the pointer;
* ``selection``: a lasso in the scatter around the fibres of g-ratio above 0.8,
  drawn red in the plot and on the canvas;
* ``before-removal``: the one of them with the thinnest sheath selected, zoomed in;
* ``removed``: it removed (Delete): its pixels are background in the masks, the
  status line says what was removed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from panel_screenshots import DOCK_SHARE, open_export, settle, shoot

SIZE = (1280, 800)


def mouse(canvas, kind: str, xy) -> None:
    from matplotlib.backend_bases import MouseEvent

    MouseEvent(kind, canvas, *xy, button=1)._process()


def lasso(plot, points) -> None:
    """Drag a lasso through data points ``points`` of the plot, as the mouse does."""
    px = plot.ax.transData.transform(points)
    mouse(plot.native, "button_press_event", px[0])
    for p in [*px[1:], px[0]]:
        mouse(plot.native, "motion_notify_event", p)
    mouse(plot.native, "button_release_event", px[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("mask", type=Path)
    parser.add_argument("--pixel-size", type=float, required=True, help="micrometres per pixel")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()

    from qtpy.QtCore import Qt

    work = Path(tempfile.mkdtemp(prefix="napari-axons-fibre-shots-"))
    viewer, app, widget, dock, _ = open_export(args.image, args.mask, work)
    viewer.window.resize(*SIZE)
    settle(app)
    viewer.window._qt_window.resizeDocks([dock], [int(SIZE[0] * DOCK_SHARE)],
                                         Qt.Orientation.Horizontal)
    viewer.reset_view()
    widget.tabs.setCurrentIndex(widget.tabs.count() - 1)  # Fibres
    panel = widget.fibres_panel
    panel.pixel_size.value = args.pixel_size  # typed in the section, Enter
    panel.measure.native.click()
    settle(app, 0.5)
    while widget.busy:
        settle(app, 0.2)
    layer = viewer.layers["fibres"]
    f = layer.features
    place = widget.overlays.placement

    def world(x, y):  # slide pixels -> world (the working image is the slide here)
        return place.translate[0] + place.scale[0] * y, place.translate[1] + place.scale[1] * x

    typical = f.iloc[int(np.argmin(np.abs(f["gratio"].fillna(0) - f["gratio"].median())))]
    viewer.mouse_over_canvas = True  # the pointer over a typical fibre: its row in the status bar
    viewer.cursor.position = world(typical["x (px)"], typical["y (px)"])
    viewer.update_status_from_cursor()
    shoot(viewer, app, args.out / f"fibres-{SIZE[0]}x{SIZE[1]}-gratio.png")

    panel.plot.native.draw()  # laid out at its size in the dock
    left, right = panel.plot.ax.get_xlim()
    left, right = left + 0.01 * (right - left), right - 0.01 * (right - left)  # inside the axes
    lasso(panel.plot, [(left, 0.8), (right, 0.8), (right, 0.995), (left, 0.995)])
    viewer.update_status_from_cursor()
    shoot(viewer, app, args.out / f"fibres-{SIZE[0]}x{SIZE[1]}-selection.png")

    chosen = f[f["index"].isin(panel.selected)]
    target = chosen.iloc[int(np.argmax(chosen["gratio"]))]  # the thinnest sheath of all
    viewer.layers.selection.active = layer
    panel.select([int(target["index"])])
    viewer.camera.center = world(target["x (px)"], target["y (px)"])
    viewer.camera.zoom = viewer.camera.zoom * 5
    settle(app)
    shoot(viewer, app, args.out / f"fibres-{SIZE[0]}x{SIZE[1]}-before-removal.png")
    handler = viewer.window._qt_viewer.canvas._key_map_handler
    handler.press_key("Delete")
    handler.release_key("Delete")
    viewer.update_status_from_cursor()
    shoot(viewer, app, args.out / f"fibres-{SIZE[0]}x{SIZE[1]}-removed.png")
    print(widget.messages[-1])
    viewer.close()


if __name__ == "__main__":
    main()
