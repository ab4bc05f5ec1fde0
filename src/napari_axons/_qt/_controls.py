"""The dock widget's controls (magicgui), one attribute each, grouped by the task they serve.

:class:`Controls` only creates them; :mod:`._sections` lays them out in task
sections (tabs) and the widget wires them to the session. The segmenter they
describe is built by :mod:`._segmenter_choice`.
"""

from __future__ import annotations

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..core.common import DEFAULT_TABLE, ClassTable
from ._bridges import ALSO_WRITE, LOAD_FROM, NOTHING
from ._export_target import ExportTarget

__all__ = ["Controls", "ask", "class_choices", "legend_html", "BATCH_CHOICES", "TILE_HINT",
           "BUILTIN_SEGMENTER", "BUILTIN_MODEL", "CHECKPOINT_SEGMENTER", "ONE_CLASS", "ALL_CLASSES"]

#: How tiles are picked, said under the selection count.
TILE_HINT = ("Click a tile on the canvas to select it (again to drop it); "
             "Shift+drag a box to add its tiles")
BATCH_CHOICES = ["auto", "1", "2", "4", "8", "16", "32", "64"]
BUILTIN_SEGMENTER = "otsu (built-in)"
CHECKPOINT_SEGMENTER = "checkpoint folder"
#: The shipped axon/myelin model (``--model axon-myelin-sem``), all its classes.
BUILTIN_MODEL = "axon-myelin-sem (built-in model)"
ONE_CLASS = "one (threshold)"
ALL_CLASSES = "all (argmax)"
#: The class Otsu's objects get, by polarity (SEM myelin is dark; fluorescent axons bright).
OTSU_CLASS = {"bright": "axon", "dark": "myelin"}


class Controls:
    """Every control of the dock widget (public attributes, no layout, no wiring).

    Parameters
    ----------
    image_choices : callable
        The Image choice's choices (the viewer's image layers).
    classes : callable
        Returns the session's :class:`ClassTable` (or None): the Paint class choices.
    """

    def __init__(self, image_choices, classes):
        # -- always shown: the image
        self.image = ComboBox(label="Image", choices=image_choices, nullable=True)
        # -- Tiles
        self.tile_size = SpinBox(label="Tile size", value=512, min=16, max=16384, step=16)
        self.overlap = SpinBox(label="Overlap", value=0, min=0, max=16000)
        self.downsample = SpinBox(label="Downsample", value=1, min=1, max=64,
                                  tooltip="1: none; the seed uses 3 (Lanczos)")
        self.pixel_size = FloatSpinBox(
            label="Pixel size (um)", value=0.0, min=0.0, max=10000.0, step=0.01,
            tooltip="Micrometres per full-resolution pixel (0: unknown). Read from the file "
                    "when it says; type a value (Enter) to set it: exports record it, a "
                    "model's training pixel size is compared with it, fibres are measured in it")
        self.pixel_size.native.setDecimals(4)
        self.pixel_origin = Label(label="", value="")
        self.grid_info = Label(label="Grid", value="no image")
        self.select_all = PushButton(text="Select all")
        self.select_none = PushButton(text="Select none")
        self.selection_info = Label(label="Selected", value="0 tiles")
        self.tile_hint = Label(label="", value=TILE_HINT)
        self.status_legend = Label(label="Tile marks", value="")
        # -- Segment
        self.segmenter = ComboBox(label="Segmenter", choices=[BUILTIN_SEGMENTER, BUILTIN_MODEL,
                                                                   CHECKPOINT_SEGMENTER])
        self.polarity = ComboBox(label="Objects", choices=["bright", "dark"],
                                 tooltip="otsu: objects brighter (fluorescence) or darker (SEM "
                                         "myelin, stained sections) than the background")
        self.otsu_class = LineEdit(label="Class", value=OTSU_CLASS["bright"],
                                   tooltip="The class Otsu's objects are (follows Objects: "
                                           "bright axon, dark myelin; type another name)")
        self.model_dir = FileEdit(label="Checkpoint", mode="d", nullable=True,
                                  tooltip="A Hugging Face checkpoint folder (safetensors)")
        self.classes = ComboBox(
            label="Classes", choices=[ONE_CLASS, ALL_CLASSES],
            tooltip="one: class index above the threshold (the seed's rule); all: every class "
                    "of the model (argmax), e.g. background, myelin, axon")
        self.class_index = SpinBox(label="Class index", value=1, min=0, max=1000)
        self.threshold = FloatSpinBox(label="Threshold", value=0.5, min=0.0, max=0.99, step=0.05)
        self.batch_size = ComboBox(
            label="Batch size", choices=BATCH_CHOICES, value="auto",
            tooltip="Tiles per forward pass; auto: 1 on CPU (several tiles run at once "
                    "on separate threads), 8 on a GPU")
        self.device = ComboBox(label="Device", choices=["auto", "cpu", "cuda", "mps"])
        self.run = PushButton(text="Segment selected")
        # -- Correct
        self.paint_class = ComboBox(  # the session's classes (napari resets choices often)
            label="Paint class", tooltip="The class the brush paints in the mask layer",
            choices=lambda _=None: class_choices(classes() or DEFAULT_TABLE))
        self.legend = Label(label="Classes", value="")
        self.import_from = ComboBox(
            label="Load from", choices=LOAD_FROM,
            tooltip="Where Load masks takes them from: an earlier export, a QuPath "
                    "GeoJSON file, a mask image of the whole image (e.g. AxonDeepSeg's), or "
                    "the OME-Zarr labels of this image")
        self.import_dir = FileEdit(
            label="Masks from", mode="d", nullable=True,
            tooltip="An earlier export of this image: its polygons become the masks to edit")
        self.load = PushButton(text="Load masks")
        self.session_dir = FileEdit(label="Session", mode="d", nullable=True,
                                    tooltip="A folder for the masks, hand edits and tile statuses "
                                            "of this image, to go on later")
        self.save_session = PushButton(text="Save session")
        self.open_session = PushButton(text="Open session")
        # -- Export
        self.export_which = ComboBox(label="Export tiles", choices=["selected", "segmented", "all"])
        self.export_dir = FileEdit(label="Export to", mode="d", nullable=True,
                                   tooltip="This image's export folder (proposed beside the "
                                           "image): exporting again writes the tiles changed "
                                           "since and keeps the others")
        self.replace = CheckBox(text="Write the whole export again", value=False,
                                tooltip="Every tile of the export that holds masks here is "
                                        "written again (asks first; nothing else is deleted). "
                                        "Another image's export in the folder is replaced only "
                                        "after a question naming what it deletes")
        self.target = ExportTarget()
        self.also_write = ComboBox(
            label="Also write", choices=ALSO_WRITE, value=NOTHING,
            tooltip="After the export: QuPath GeoJSON (EXPORT/<image>.geojson), COCO "
                    "(EXPORT/annotations.json) or OME-Zarr labels (into the OME-Zarr image, as "
                    "labels/napari-axons)")
        self.export = PushButton(text="Export")
        # -- always shown: the running job
        self.progress_bar = ProgressBar(label="", value=0, min=0, max=1, visible=False)
        self.cancel = PushButton(text="Cancel", enabled=False)
        self.message = Label(label="", value="")

    def show_segmenter_options(self, _=None) -> None:
        """Show the options of the chosen segmenter (and class rule) only."""
        hf = self.segmenter.value == CHECKPOINT_SEGMENTER
        otsu = self.segmenter.value == BUILTIN_SEGMENTER
        for c in (self.model_dir, self.classes):
            c.visible = hf
        self.device.visible = not otsu
        for c in (self.class_index, self.threshold):  # the one-class rule's settings
            c.visible = hf and self.classes.value == ONE_CLASS
        self.polarity.visible = self.otsu_class.visible = otsu

    def follow_polarity(self, old: str, new: str) -> None:
        """Objects changed: the class name follows, unless the user typed another one."""
        if self.otsu_class.value.strip() in ("", OTSU_CLASS.get(old, "")):
            self.otsu_class.value = OTSU_CLASS.get(new, self.otsu_class.value)

    @property
    def job_controls(self) -> list:
        """What is disabled while a job runs."""
        return [self.run, self.export, self.load, self.image, self.tile_size, self.overlap,
                self.downsample, self.pixel_size, self.save_session, self.open_session,
                self.import_from, self.also_write]


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
