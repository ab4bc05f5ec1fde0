"""The one tile path: read -> preprocess -> model -> class map -> padding rule -> outputs.

Every place that turns tiles into masks and files goes through this module:

* the local export (:class:`~napari_axons.core.export.ThreadProducer`)
  schedules :meth:`TilePath.read`, :meth:`TilePath.predict` and
  :meth:`TilePath.write` on its thread pools;
* a dask task (:func:`napari_axons.core.export.cluster._export_block`) runs
  :meth:`TilePath.run_block` on a block of tiles;
* the widget's Segment button runs the *segment half*, :meth:`TilePath.segment`
  (boxes -> class maps, no files).

Where each per-tile step lives
------------------------------
========================  ===============================================
read                      :func:`read_batch` (``WorkingImage.read_tile``)
preprocess                :func:`read_batch` (``segmenter.preprocess``)
model                     :func:`predict_batch` (``predict``/``predict_prepared``)
class map                 :func:`as_class_map`
padding rule              :func:`zero_padding`
outputs                   :func:`write_tile_outputs` (the only class map -> bytes step)
========================  ===============================================

Model scheduling
----------------
Only this module and the pipeline decide how the model runs: a
:class:`TilePath` (a context manager) owns the model's thread pool
(:func:`~napari_axons.core.segment.model_executor`: ``streams`` batches of
``batch_size`` tiles at once). Segmenters never open thread pools themselves.

A mask is a **class map** from the model to the writer: ``(H, W)`` uint8, 0 the
background, ``k`` class ``k`` of the export's :class:`~napari_axons.core.common.ClassTable`.
With one foreground class any non-zero value is class 1 (an old-style 0/255
mask, e.g. from a mask reader, becomes 0/1). Only :func:`write_tile_outputs`
turns a class map into file bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..common import (
    DEFAULT_TABLE,
    ClassTable,
    atomic_write_bytes,
    encode_png,
)
from ..geometry import TileBox
from ..image import (
    to_rgb8,
)
from ..labels import (
    axondeepseg_masks,
    check_class_map,
    class_map_to_traced,
    encode_class_mask,
    encode_traced_labels,
)
from ..segment import model_batching, model_executor
from .files import ExportLayout
from .plan import ImagePlan

__all__ = ["OutputSpec", "TileBatch", "TilePath", "TileResult", "TileSource", "as_class_map",
           "export_classes", "matches_pixel_size", "overview_rgb", "predict_batch", "read_batch",
           "write_tile_outputs", "zero_padding"]


class TileSource(Protocol):
    """What the tile path reads: a working image (:class:`~napari_axons.core.image.working.WorkingImage`).

    ``height``/``width`` in working pixels; ``read_tile(y, x, h, w)`` gives
    ``(h, w, 3)`` uint8, zero outside the image; ``source`` is the opened
    :class:`~napari_axons.core.image.source.SourceImage`.
    """

    height: int
    width: int
    source: Any

    def read_tile(self, y: int, x: int, height: int, width: int) -> np.ndarray: ...


@dataclass(frozen=True)
class OutputSpec:
    """What to write for each tile (small and picklable: it travels to dask workers).

    Attributes
    ----------
    out : str
        The export folder (absolute on a cluster).
    png_compression : int
        zlib level of the PNGs (0-9).
    label_source : str or callable
        ``source`` of the polygons (``"auto:<model>"`` or ``"manual"``), or
        ``label_source(plan, box) -> str`` per tile (picklable, e.g.
        :class:`~napari_axons.core.export.TileSources`).
    classes : ClassTable
        The export's classes; ``label_class`` of a polygon is its class's name.
    with_masks : bool
        Whether masks and label files are written (and listed in the manifest).
    """

    out: str
    png_compression: int = 1
    label_source: Any = "manual"
    classes: ClassTable = DEFAULT_TABLE
    with_masks: bool = False

    @property
    def layout(self) -> ExportLayout:
        return ExportLayout(Path(self.out))


@dataclass
class TileResult:
    """One finished tile.

    Attributes
    ----------
    plan : ImagePlan
    box : TileBox
    files : list of str
        Files written, relative to the export folder (tile, mask, labels).
    mask : numpy.ndarray or None
        The tile's class map ``(H, W)`` uint8 (None on a cluster, or without masks).
    n_objects : int or None
        Polygons written (None without masks).
    resumed : bool
        True when the tile was done by an earlier run.
    """

    plan: ImagePlan
    box: TileBox
    files: list[str]
    mask: np.ndarray | None = field(default=None, repr=False)
    n_objects: int | None = None
    resumed: bool = False


@dataclass
class TileBatch:
    """Tiles read (and preprocessed for the model), ready for :func:`predict_batch`.

    Attributes
    ----------
    boxes : tuple of TileBox
    pixels : numpy.ndarray
        ``(N, H, W, 3)`` uint8.
    prepared : object or None
        ``segmenter.preprocess(pixels[, pixel_size])`` when the segmenter has ``preprocess``.
    shape : tuple of int
        The working image's ``(height, width)`` (for the padding rule).
    pixel_size : PixelSize or None
        The tiles' pixel size, for a segmenter that states its own
        (:func:`matches_pixel_size`); None otherwise or unknown.
    """

    boxes: tuple[TileBox, ...]
    pixels: np.ndarray = field(repr=False)
    prepared: Any = field(default=None, repr=False)
    shape: tuple[int, int] = (0, 0)
    pixel_size: Any = None


def export_classes(segmenter=None, label_class: str | None = None) -> ClassTable:
    """The class table of an export: the segmenter's ``classes``, else :data:`DEFAULT_TABLE`.

    ``label_class`` (the CLI's ``--label-class``) renames the foreground class of
    a one-class table; a table of several classes keeps its names.
    """
    table = getattr(segmenter, "classes", None) if segmenter is not None else None
    if not isinstance(table, ClassTable):
        table = DEFAULT_TABLE
    if label_class is not None and table.is_binary and table.names[1] != label_class:
        table = ClassTable((table.names[0], label_class), table.colours)
    return table


def overview_rgb(working: TileSource) -> np.ndarray:
    """A small RGB uint8 view of the whole source image, for ``Segmenter.prepare``."""
    source = working.source
    sample = source.sample()
    return to_rgb8(sample, None if sample.dtype == np.uint8 else source.intensity_range())


def read_batch(working: TileSource, boxes: Sequence[TileBox], segmenter=None) -> TileBatch:
    """Read tiles and run the model's preprocessing (steps 1-2 of the tile path).

    Parameters
    ----------
    working : TileSource
        The working image.
    boxes : sequence of TileBox
    segmenter : Segmenter, optional
        When it has ``preprocess``, it is applied here (off the model's threads).

    Raises
    ------
    ImageReadError
        The image's pixel data cannot be decoded.
    """
    pixels = np.stack([working.read_tile(b.y, b.x, b.height, b.width) for b in boxes])
    prep = getattr(segmenter, "preprocess", None) if segmenter is not None else None
    um = working.pixel_size if matches_pixel_size(segmenter) else None
    if prep is None:
        prepared = None
    else:
        prepared = prep(pixels, um) if um is not None else prep(pixels)
    return TileBatch(tuple(boxes), pixels, prepared, (working.height, working.width),
                     um)


def matches_pixel_size(segmenter) -> bool:
    """Whether ``segmenter`` segments tiles at its own stated pixel size (it takes theirs)."""
    return getattr(segmenter, "pixel_size_um", None) is not None


def as_class_map(mask: np.ndarray, classes: ClassTable = DEFAULT_TABLE) -> np.ndarray:
    """A model's (or a mask reader's) output as a uint8 class map (step 4).

    With one foreground class 255 is class 1 (old-style 0/255 masks become
    0/1); any other value is left for the writer to refuse (never folded into
    the class). With several the values are the class indices already.
    Works on one ``(H, W)`` map or a stack ``(N, H, W)``.
    """
    mask = np.asarray(mask)
    if classes.is_binary and mask.dtype != np.bool_ and mask.size and mask.max() > 1:
        mask = np.where(mask == 255, 1, mask)
    return mask if mask.dtype == np.uint8 else mask.astype(np.uint8)


def zero_padding(class_map: np.ndarray, box: TileBox, height: int, width: int) -> np.ndarray:
    """The padding rule (step 5): zero where the tile hangs over the image.

    Parameters
    ----------
    class_map : numpy.ndarray
        ``(box.height, box.width)`` uint8.
    box : TileBox
    height, width : int
        The working image's size, in pixels.

    Returns
    -------
    numpy.ndarray
        ``class_map`` itself when the tile is all image, else a copy zeroed outside it.
    """
    ys, xs = box.valid_slices(height, width)
    if (ys.start, xs.start, ys.stop, xs.stop) == (0, 0, box.height, box.width):
        return class_map
    out = np.zeros_like(class_map)
    out[ys, xs] = class_map[ys, xs]
    return out


def predict_batch(batch: TileBatch, segmenter, classes: ClassTable | None = None) -> np.ndarray:
    """The model, the class map and the padding rule for a batch (steps 3-5).

    Runs in the calling thread (the pipeline decides which one). Returns
    ``(N, H, W)`` uint8 class maps, zero where a tile is padding.
    """
    if classes is None:
        classes = export_classes(segmenter)
    if batch.prepared is not None:
        raw = segmenter.predict_prepared(batch.prepared)
    elif batch.pixel_size is not None:
        raw = segmenter.predict(batch.pixels, batch.pixel_size)
    else:
        raw = segmenter.predict(batch.pixels)
    maps = as_class_map(raw, classes)
    h, w = batch.shape
    for i, box in enumerate(batch.boxes):
        if box.y < 0 or box.x < 0 or box.y1 > h or box.x1 > w:
            maps[i] = zero_padding(maps[i], box, h, w)
    return maps


def write_tile_outputs(plan: ImagePlan, box: TileBox, tile: np.ndarray | None,
                       class_map: np.ndarray | None, spec: OutputSpec) -> TileResult:
    """Write one tile's files (step 6): the tile PNG, and with a class map its mask and labels.

    The only place a class map becomes file bytes (through
    :mod:`napari_axons.core.labels.class_masks`): with one foreground class the mask
    PNG is 0/255 (the seed's, byte-identical to earlier versions), with several
    a palette PNG of class indices; each polygon's ``label_class`` is its
    class's name; AxonDeepSeg masks too when the plan asks for them. Every
    file is written atomically, so running it twice for a tile (a retried
    task) is harmless.

    Parameters
    ----------
    plan : ImagePlan
        The image the tile comes from (file names, the label file's tile block).
    box : TileBox
    tile : numpy.ndarray or None
        ``(h, w, 3)`` uint8 pixels; None: read them from ``plan``.
    class_map : numpy.ndarray or None
        ``(h, w)`` uint8 class map, padding already zeroed; None: tile only.
    spec : OutputSpec

    Returns
    -------
    TileResult

    Raises
    ------
    ExportError
        A file cannot be written.
    napari_axons.core.labels.class_masks.ClassMaskError
        The class map holds a value the class table has no class for; nothing
        of the tile is written.
    """
    if tile is None:
        tile = plan.read_tile(box)
    entry = plan.tile_entry(box, spec.with_masks)
    files = entry.files
    level = spec.png_compression
    outputs = {}
    n_objects = None
    if class_map is not None:
        stem, table = plan.stem(box), spec.classes
        class_map = check_class_map(class_map, table, where=f"{stem}: mask")
        source = spec.label_source
        if callable(source):  # each tile's own source (e.g. pipeline.TileSources)
            source = source(plan, box)
        labels = class_map_to_traced(class_map, table, source=source, id_prefix=f"{stem}-")
        n_objects = len(labels)
        tile_block = {"source": plan.base, "index": box.index, **entry.box_json(),
                      "downsample": plan.working.factor, "source_box": entry.source_box.to_json()}
        outputs[files["mask"]] = encode_class_mask(class_map, table, level)
        outputs[files["labels"]] = encode_traced_labels(files["tile"], labels, tile=tile_block)
        if plan.axondeepseg:
            for kind, arr in axondeepseg_masks(class_map, table).items():
                outputs[files[f"seg-{kind}"]] = encode_png(arr, level)
    layout = spec.layout
    atomic_write_bytes(layout.path(files["tile"]), encode_png(tile, level))
    for rel, data in outputs.items():
        atomic_write_bytes(layout.path(rel), data)
    return TileResult(plan, box, list(files.values()), class_map, n_objects)


#: ``mask_reader(plan, box) -> (h, w) uint8`` supplies masks (e.g. edited in napari).
MaskReader = Callable[["ImagePlan", TileBox], np.ndarray]


class TilePath:
    """The tile path bound to a segmenter (or a mask reader) and an output spec.

    Use it as a context manager: inside, it holds the model's thread pool
    (``segmenter.streams`` threads, each with ``segmenter.stream_threads``
    torch threads; see :func:`~napari_axons.core.segment.model_executor`).

    Parameters
    ----------
    segmenter : Segmenter, optional
        Makes the class maps. Call :meth:`prepare` once per image first.
    spec : OutputSpec, optional
        Needed by :meth:`write` and :meth:`run_block` only (the segment half
        writes nothing).
    mask_reader : callable, optional
        ``mask_reader(plan, box)`` gives the mask of a tile instead of a
        segmenter (masks edited in napari; 0/255 or a class map).
    classes : ClassTable, optional
        Default: ``spec.classes``, else :func:`export_classes` of the segmenter.

    Examples
    --------
    The segment half (what the widget's Segment button runs)::

        with TilePath(segmenter) as path:
            path.prepare(working)
            for box, class_map in path.segment(working, boxes):
                ...
    """

    def __init__(self, segmenter=None, spec: OutputSpec | None = None, *,
                 mask_reader: MaskReader | None = None, classes: ClassTable | None = None):
        self.segmenter = segmenter
        self.spec = spec
        self.mask_reader = mask_reader
        if classes is None:
            classes = spec.classes if spec is not None else export_classes(segmenter)
        self.classes = classes
        self.batch_size, self.streams = model_batching(segmenter)
        self._stack: ExitStack | None = None
        self.model_pool: Executor | None = None

    def __enter__(self) -> TilePath:
        if self.segmenter is not None:
            with ExitStack() as stack:
                self.model_pool = stack.enter_context(model_executor(self.segmenter))
                self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None
        self.model_pool = None

    # -- the steps ---------------------------------------------------------
    def prepare(self, working: TileSource) -> None:
        """``segmenter.prepare`` with the image's overview (once per image)."""
        if self.segmenter is not None:
            self.segmenter.prepare(overview_rgb(working))

    def batches(self, boxes: Sequence[TileBox]) -> list[list[TileBox]]:
        """``boxes`` in model batches of ``batch_size`` tiles, in order."""
        boxes = list(boxes)
        return [boxes[i : i + self.batch_size] for i in range(0, len(boxes), self.batch_size)]

    def read(self, working: TileSource, boxes: Sequence[TileBox]) -> TileBatch:
        """Steps 1-2: :func:`read_batch`."""
        return read_batch(working, boxes, self.segmenter)

    def predict(self, batch: TileBatch) -> np.ndarray:
        """Steps 3-5: :func:`predict_batch`, in the calling thread."""
        return predict_batch(batch, self.segmenter, self.classes)

    def read_mask(self, plan: ImagePlan, box: TileBox) -> np.ndarray | None:
        """A tile's class map from the mask reader (padding rule applied), or None."""
        if self.mask_reader is None:
            return None
        cmap = as_class_map(self.mask_reader(plan, box), self.classes)
        return zero_padding(cmap, box, plan.grid.height, plan.grid.width)

    def write(self, plan: ImagePlan, box: TileBox, tile: np.ndarray | None,
              class_map: np.ndarray | None) -> TileResult:
        """Step 6: :func:`write_tile_outputs`; the mask reader's mask when none is given."""
        if class_map is None and self.mask_reader is not None:
            class_map = self.read_mask(plan, box)
        return write_tile_outputs(plan, box, tile, class_map, self.spec)

    # -- whole blocks --------------------------------------------------------
    def segment(self, working: TileSource,
                boxes: Sequence[TileBox]) -> Iterator[tuple[TileBox, np.ndarray]]:
        """The segment half: ``(box, class map)`` per tile, in the order of ``boxes``.

        Batches are read in the calling thread while up to ``streams`` earlier
        batches run on the model pool. Needs the context (``with``) and a segmenter.
        """
        for batch, maps in self.segment_batches(working, boxes):
            yield from zip(batch.boxes, maps, strict=True)

    def segment_batches(self, working: TileSource,
                        boxes: Sequence[TileBox]) -> Iterator[tuple[TileBatch, np.ndarray]]:
        """:meth:`segment` batch by batch: ``(batch, (N, H, W) class maps)``, in order."""
        if self.segmenter is None or self.model_pool is None:
            raise RuntimeError("TilePath.segment needs a segmenter, inside `with TilePath(...)`")
        ahead: deque[tuple[TileBatch, Future]] = deque()
        try:
            for chunk in self.batches(boxes):
                batch = self.read(working, chunk)
                ahead.append((batch, self.model_pool.submit(self.predict, batch)))
                while len(ahead) > self.streams:
                    batch, fut = ahead.popleft()
                    yield batch, fut.result()
            while ahead:
                batch, fut = ahead.popleft()
                yield batch, fut.result()
        finally:  # stopped early: no model call of ours left running
            for _, fut in ahead:
                fut.cancel()
            for _, fut in ahead:
                if not fut.cancelled():
                    fut.exception()

    def run_block(self, plan: ImagePlan, boxes: Sequence[TileBox]) -> list[TileResult]:
        """The whole path for a block of tiles, in this thread (a dask task's work).

        With a segmenter: :meth:`segment_batches` then :meth:`write` per tile;
        else the mask reader's masks (or none) and :meth:`write`.
        """
        if self.segmenter is None:
            return [self.write(plan, box, None, None) for box in boxes]
        return [self.write(plan, box, tile, cmap)
                for batch, maps in self.segment_batches(plan.working, boxes)
                for box, tile, cmap in zip(batch.boxes, batch.pixels, maps, strict=True)]
