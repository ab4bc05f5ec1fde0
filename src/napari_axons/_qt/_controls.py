"""The dock widget's controls (magicgui), the segmenter they describe, and the class legend.

:func:`add_controls` creates every control as an attribute of the widget
(``widget._tile_size``, ``widget._run``, ...) and lays them out; the widget
only wires them to the session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..core.common import DEFAULT_TABLE, ClassTable
from ._bridges import ALSO_WRITE, LOAD_FROM, NOTHING
from ._export_target import ExportTarget

__all__ = ["add_controls", "ask", "segmenter_factory", "class_choices", "legend_html",
           "BATCH_CHOICES", "TILE_HINT", "BUILTIN_SEGMENTER", "CHECKPOINT_SEGMENTER"]

#: How tiles are picked, said under the selection count.
TILE_HINT = ("Click a tile on the canvas to select it (again to drop it); "
             "Shift+drag a box to add its tiles")
BATCH_CHOICES = ["auto", "1", "2", "4", "8", "16", "32", "64"]
BUILTIN_SEGMENTER = "otsu (built-in)"
CHECKPOINT_SEGMENTER = "checkpoint folder"
ONE_CLASS = "one (threshold)"
ALL_CLASSES = "all (argmax)"


def add_controls(w: Container, image_choices: Callable) -> None:
    """Create the controls as attributes of ``w`` and add them to it, top to bottom."""
    w._image = ComboBox(label="Image", choices=image_choices, nullable=True)
    w._tile_size = SpinBox(label="Tile size", value=512, min=16, max=16384, step=16)
    w._overlap = SpinBox(label="Overlap", value=0, min=0, max=16000)
    w._downsample = SpinBox(label="Downsample", value=1, min=1, max=64,
                            tooltip="1: none; the seed uses 3 (Lanczos)")
    w._grid_info = Label(label="Grid", value="no image")
    w._select_all = PushButton(text="Select all")
    w._select_none = PushButton(text="Select none")
    w._selection_info = Label(label="Selected", value="0 tiles")
    w._tile_hint = Label(label="", value=TILE_HINT)
    w._status_legend = Label(label="Tile marks", value="")
    w._segmenter = ComboBox(label="Segmenter", choices=[BUILTIN_SEGMENTER, CHECKPOINT_SEGMENTER])
    w._model_dir = FileEdit(label="Checkpoint", mode="d", nullable=True,
                            tooltip="A Hugging Face checkpoint folder (safetensors)")
    w._classes = ComboBox(
        label="Classes", choices=[ONE_CLASS, ALL_CLASSES],
        tooltip="one: class index above the threshold (the seed's rule); all: every class "
                "of the model (argmax), e.g. background, myelin, axon")
    w._polarity = ComboBox(label="Objects", choices=["bright", "dark"],
                           tooltip="otsu: objects brighter (fluorescence) or darker than "
                                   "the background")
    w._class_index = SpinBox(label="Class index", value=1, min=0, max=1000)
    w._threshold = FloatSpinBox(label="Threshold", value=0.5, min=0.0, max=0.99, step=0.05)
    w._batch_size = ComboBox(
        label="Batch size", choices=BATCH_CHOICES, value="auto",
        tooltip="Tiles per forward pass; auto: 1 on CPU (several tiles run at once "
                "on separate threads), 8 on a GPU")
    w._device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
    w._run = PushButton(text="Segment selected")
    w._cancel = PushButton(text="Cancel", enabled=False)
    w._paint_class = ComboBox(  # the session's classes (napari resets choices often)
        label="Paint class", tooltip="The class the brush paints in the mask layer",
        choices=lambda _=None: class_choices(getattr(w.session, "classes", None) or DEFAULT_TABLE))
    w._legend = Label(label="Classes", value="")
    w._import_dir = FileEdit(
        label="Masks from", mode="d", nullable=True,
        tooltip="An earlier export of this image: its polygons become the masks to edit")
    w._import_from = ComboBox(
        choices=LOAD_FROM, tooltip="Where Load masks takes them from: an earlier export, a QuPath "
                                   "GeoJSON file, or the OME-Zarr labels of this image")
    w._import = PushButton(text="Load masks")
    w._session_dir = FileEdit(label="Session", mode="d", nullable=True,
                              tooltip="A folder for the masks, hand edits and tile statuses "
                                      "of this image, to go on later")
    w._save_session = PushButton(text="Save session")
    w._open_session = PushButton(text="Open session")
    w._export_which = ComboBox(label="Export tiles", choices=["selected", "segmented", "all"])
    w._export_dir = FileEdit(label="Export to", mode="d", nullable=True,
                             tooltip="A new folder, or an earlier export of this image and "
                                     "grid (the tiles are added to it)")
    w._replace = CheckBox(text="Replace the export in that folder", value=False,
                          tooltip="Delete the folder's earlier export first (asks; applies "
                                  "to one export only)")
    w._target = ExportTarget()
    w._also_write = ComboBox(
        choices=ALSO_WRITE, value=NOTHING,
        tooltip="After the export: QuPath GeoJSON (EXPORT/<image>.geojson), COCO "
                "(EXPORT/annotations.json) or OME-Zarr labels (into the OME-Zarr image, as "
                "labels/napari-axons)")
    w._export = PushButton(text="Export")
    w._progress_bar = ProgressBar(label="Progress", value=0, min=0, max=1, visible=False)
    w._message = Label(label="Status", value="")
    w.extend([
        w._image, w._tile_size, w._overlap, w._downsample, w._grid_info,
        Container(widgets=[w._select_all, w._select_none], layout="horizontal",
                  labels=False, label="Tiles"),
        w._selection_info, w._tile_hint, w._status_legend, w._segmenter, w._polarity, w._model_dir,
        w._classes, w._class_index, w._threshold, w._batch_size, w._device,
        Container(widgets=[w._run, w._cancel], layout="horizontal", labels=False, label="Run"),
        w._paint_class, w._legend, w._import_dir,
        Container(widgets=[w._import_from, w._import], layout="horizontal", labels=False,
                  label="Load from"),
        w._session_dir,
        Container(widgets=[w._save_session, w._open_session], layout="horizontal",
                  labels=False, label=" "),
        w._export_which, w._export_dir, w._replace, *w._target.widgets,
        Container(widgets=[w._also_write, w._export], layout="horizontal", labels=False,
                  label="Also write"),
        w._progress_bar, w._message,
    ])
    w._segmenter.changed.connect(lambda _=None: show_segmenter_options(w))
    w._classes.changed.connect(lambda _=None: show_segmenter_options(w))
    show_segmenter_options(w)


def show_segmenter_options(w) -> None:
    hf = w._segmenter.value == CHECKPOINT_SEGMENTER
    for c in (w._model_dir, w._classes, w._device):
        c.visible = hf
    for c in (w._class_index, w._threshold):  # the one-class rule's settings
        c.visible = hf and w._classes.value == ONE_CLASS
    w._polarity.visible = not hf


def segmenter_factory(w) -> Callable[[], object]:
    """A function that loads the segmenter the controls describe (run in the worker).

    Raises
    ------
    ModelError
        The checkpoint choice without a folder.
    """
    from ..core.segment import ModelError, load_segmenter

    choice = w._batch_size.value
    batch = {} if choice == "auto" else {"batch_size": int(choice)}
    if w._segmenter.value == BUILTIN_SEGMENTER:
        polarity = w._polarity.value
        return lambda: load_segmenter("otsu", polarity=polarity, **batch)
    folder = w._model_dir.value
    if folder is None or str(folder) in ("", "."):
        raise ModelError("choose a checkpoint folder first")
    if w._classes.value == ALL_CLASSES:
        opts = {"classes": "all", "device": w._device.value, **batch}
    else:
        opts = {"class_index": w._class_index.value, "threshold": w._threshold.value,
                "device": w._device.value, **batch}
    return lambda: load_segmenter(Path(folder), **opts)


def class_choices(classes: ClassTable) -> list[tuple[str, int]]:
    """``(text, class index)`` for the Paint class choice: the classes, then erasing."""
    return [(n, k) for k, n in enumerate(classes.names) if k] + [("background (erase)", 0)]


def legend_html(classes: ClassTable) -> str:
    """The classes as coloured squares and names (rich text for a QLabel)."""
    parts = []
    for k, (name, (r, g, b)) in enumerate(zip(classes.names, classes.colours, strict=True)):
        if k:
            parts.append(f'<span style="color:#{r:02x}{g:02x}{b:02x}">&#9632;</span> {k} {name}')
    return "&nbsp;&nbsp;".join(parts)


def ask(title: str, text: str) -> bool:
    """A Yes/No question in a dialog; True for Yes."""
    from qtpy.QtWidgets import QMessageBox

    answer = QMessageBox.question(None, title, text,
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes
