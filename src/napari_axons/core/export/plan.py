"""The plan of an export: its options, and each image opened and gridded (:class:`ImagePlan`).

:func:`plan_image` opens a file, :func:`plan_array` wraps an in-memory array;
an :class:`ImagePlan` knows its grid, its files (:class:`~.files.ExportFiles`)
and its manifest entry, and is the one object every producer (local threads,
the dask cluster, the session) works from.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..common import (
    ClassTable,
    PixelSize,
    safe_base_name,
    sampled_file_hash,
    unique_base_names,
)
from ..geometry import TileBox, TileGrid, full_resolution_box
from ..image import (
    IntensityRange,
    SourceImage,
    WorkingImage,
    array_fingerprint,
    array_source,
    open_image,
)
from ..labels import (
    check_axondeepseg_classes,
)
from .files import ExportFiles
from .manifest import GridEntry, ImageEntry, Intensity, SourceBox, SourceEntry, TileEntry, WorkingEntry

__all__ = ["ExportOptions", "ImagePlan", "plan_image", "plan_array", "PlanRecipe", "reopen_plan",
           "close_reopened"]


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how.

    Attributes
    ----------
    tile_size : int
        Side of the square tiles (the seed's 512).
    overlap : int
        Pixels shared by neighbouring tiles (0: the seed's grid).
    downsample : int
        1 for none; the seed's ``--downsample`` is 3 (Lanczos, ``(w // 3, h // 3)``).
    png_compression : int
        zlib level of the PNGs (0-9); see :func:`~napari_axons.core.common.encode_png`.
    label_class : str
        ``label_class`` of the polygons written when ``classes`` is None.
    threads : int or None
        Threads for reading/encoding/writing; None: the number of CPUs.
    classes : ClassTable or None
        The classes of the masks (a segmenter's ``classes``). None: one class
        named ``label_class`` (the seed's). With several classes the mask PNGs
        are palette PNGs of class indices and each polygon carries its class's
        name (:mod:`napari_axons.core.labels.class_masks`).
    axondeepseg : bool
        Also write AxonDeepSeg's ``{tile}_seg-axon.png``, ``_seg-myelin.png``
        and ``_seg-axonmyelin.png`` next to each tile (needs classes named
        ``axon`` and ``myelin``; ``ValueError`` otherwise).
    pixel_size : float or None
        Pixel size of the inputs in micrometres, overriding their metadata
        (``--pixel-size``).
    target_pixel_size : float or None
        Resample each image to this pixel size in micrometres
        (``--target-pixel-size``; :mod:`napari_axons.core.image.working`); needs
        ``downsample`` 1.
    series : int or None
        Which image series of multi-image TIFFs to read (``--series``); None:
        the main image (:mod:`napari_axons.core.image.series`).
    """

    tile_size: int = 512
    overlap: int = 0
    downsample: int = 1
    png_compression: int = 1
    label_class: str = "axon"
    threads: int | None = None
    classes: ClassTable | None = None
    axondeepseg: bool = False
    pixel_size: float | None = None
    target_pixel_size: float | None = None
    series: int | None = None

    def __post_init__(self):
        for name in ("pixel_size", "target_pixel_size"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"{name.replace('_', ' ')} must be a positive number of "
                                 f"micrometres, got {value!r}")
        if self.target_pixel_size is not None and self.downsample != 1:
            raise ValueError("a downsample factor and a target pixel size cannot both be set")
        if self.series is not None and (isinstance(self.series, bool) or self.series < 0):
            raise ValueError(f"series must be >= 0, got {self.series!r}")
        if self.tile_size < 16:
            raise ValueError(f"tile size must be >= 16, got {self.tile_size}")
        if not 0 <= self.overlap < self.tile_size:
            raise ValueError(f"overlap must be >= 0 and < the tile size, got {self.overlap}")
        if self.downsample < 1:
            raise ValueError(f"downsample factor must be >= 1, got {self.downsample}")
        if not 0 <= self.png_compression <= 9:
            raise ValueError(f"PNG compression must be 0-9, got {self.png_compression}")
        if self.axondeepseg:
            check_axondeepseg_classes(self.class_table())

    def class_table(self) -> ClassTable:
        """The class table of the masks: ``classes``, or one class named ``label_class``."""
        return self.classes if self.classes is not None else ClassTable.from_names(
            [self.label_class])

    def grid_key(self) -> dict:
        """The options that decide file contents (checked on resume).

        The class table is the manifest's own ``"classes"``; ``axondeepseg``
        appears only when set (a default manifest is unchanged).
        """
        key = {k: v for k, v in asdict(self).items()
               if k not in ("threads", "classes", "axondeepseg", "pixel_size", "target_pixel_size",
                            "series")}
        for k in ("pixel_size", "target_pixel_size", "series"):  # only when set: older manifests match
            if getattr(self, k) is not None:
                key[k] = getattr(self, k)
        if self.axondeepseg:
            key["axondeepseg"] = True
        if self.classes is not None:
            key["classes"] = list(self.classes.names)
        return key


@dataclass
class ImagePlan:
    """One input image, opened, with its grid and manifest entry.

    Build one with :func:`plan_image` (a file) or :func:`plan_array` (an
    in-memory array); an :class:`ExportJob` made with
    :meth:`ExportJob.from_plans` uses it as it is.

    Attributes
    ----------
    path : Path
        The image file (for an in-memory image: ``Path(name)``, no such file).
    base : str
        The base name of its export files (``{base}_tile_{NNNN}``).
    source : SourceImage
    working : WorkingImage
        The source as tiled (downsampled when a factor is set).
    grid : TileGrid
        The grid over the working image.
    fingerprint : str
        The source's content fingerprint (compared on resume).
    in_memory : bool
        True for an image with no file: the manifest records ``"path": null``.

    A plan sent to another process (a dask worker) arrives as the same plan, its
    image reopened there (:meth:`recipe`, :func:`reopen_plan`).
    """

    path: Path
    base: str
    source: SourceImage
    working: WorkingImage
    grid: TileGrid
    fingerprint: str = ""
    in_memory: bool = False
    axondeepseg: bool = False

    def stem(self, box: TileBox) -> str:
        return ExportFiles.stem(self.base, box.index)

    def recipe(self) -> PlanRecipe:
        """What reopens this plan in another process.

        Raises
        ------
        ValueError
            An in-memory image (no file another process could open).
        """
        if self.in_memory:
            raise ValueError(f"{self.path}: an in-memory image cannot be sent to another "
                             "process (workers read images by path)")
        path = self.path.resolve()
        st = path.stat()
        intensity = None if self.source.dtype == np.uint8 else self.source.intensity_range()
        g = self.grid
        return PlanRecipe(str(path), (st.st_size, st.st_mtime_ns), self.base, self.fingerprint,
                          self.axondeepseg, self.working.factor, self.working.target_pixel_size,
                          g.tile_size, g.tile_size - g.stride, self.source.pixel_size, intensity,
                          self.source.series)

    def __reduce__(self):
        return reopen_plan, (self.recipe(),)

    def read_tile(self, box: TileBox) -> np.ndarray:
        return self.working.read_tile(box.y, box.x, box.height, box.width)

    def tile_entry(self, box: TileBox, with_masks: bool) -> TileEntry:
        """The manifest's entry of tile ``box`` (its files, boxes and padding)."""
        stem = self.stem(box)
        src = full_resolution_box(
            box, self.working.scale_y, self.working.scale_x, self.source.height, self.source.width
        )
        py, px = box.padding
        return TileEntry(
            box.index, stem,
            ExportFiles.of_tile(stem, with_masks=with_masks, axondeepseg=self.axondeepseg),
            box.y, box.x, box.height, box.width,
            SourceBox(src["y"], src["x"], src["height"], src["width"], tuple(src["clipped"])),
            py, px)

    def manifest_entry(self, with_masks: bool, tiles: Sequence[TileBox]) -> ImageEntry:
        """The manifest's entry of this image, listing ``tiles``."""
        src, w, g = self.source, self.working, self.grid
        ir = src.intensity_range()
        return ImageEntry(
            self.base,
            SourceEntry(None if self.in_memory else str(self.path.resolve()), self.path.name,
                        src.format, src.width, src.height,
                        src.shape[2] if len(src.shape) == 3 else 1, str(src.dtype),
                        src.n_levels, self.fingerprint, tuple(src.notes), src.pixel_size,
                        src.series),
            Intensity(ir.low, ir.high, ir.rule),
            WorkingEntry(w.width, w.height, w.factor, w.filter, w.scale_x, w.scale_y,
                         w.pixel_size),
            GridEntry(g.tile_size, g.stride, g.tile_size - g.stride, len(g), g.padded),
            tuple(self.tile_entry(b, with_masks) for b in tiles),
        )


def plan_image(path: str | Path, options: ExportOptions | None = None, *,
               base: str | None = None) -> ImagePlan:
    """Open an image file and grid it: an :class:`ImagePlan`.

    Parameters
    ----------
    path : path
        The image (any format :func:`~napari_axons.core.image.open.open_image` reads).
    options : ExportOptions, optional
        Tile size, overlap and downsample factor.
    base : str, optional
        Base name of its export files (default: the file's safe base name).

    Raises
    ------
    ImageReadError, ValueError, OSError
        The image cannot be opened, or is too small for the downsample factor.
    """
    path = Path(path)
    options = options or ExportOptions()
    source = open_image(path, pixel_size=options.pixel_size, series=options.series)
    try:
        plan = _grid(path, base or unique_base_names([path])[0], source, options)
        plan.fingerprint = sampled_file_hash(path)
        return plan
    except Exception:
        source.close()
        raise


def plan_array(array, options: ExportOptions | None = None, *, name: str = "image",
               base: str | None = None) -> ImagePlan:
    """Grid an in-memory ``(y, x)`` or ``(y, x, c)`` numpy/dask array: an :class:`ImagePlan`.

    For exporting a napari layer that has no file: no temporary file is
    written; the manifest records ``"path": null`` and a note saying so.

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        Full-resolution pixels (for a multiscale layer, level 0).
    options : ExportOptions, optional
    name : str
        The layer's name (shown as the source's name).
    base : str, optional
        Base name of the export files (default: ``name`` made safe for a file name).

    Raises
    ------
    ValueError
        Not a 2-D/3-D array, or too small for the downsample factor.
    """
    options = options or ExportOptions()
    source = array_source(array, name)
    if options.pixel_size is not None:
        source.set_pixel_size(options.pixel_size)
    plan = _grid(Path(name), base or safe_base_name(name), source, options)
    plan.fingerprint = array_fingerprint(array)
    plan.in_memory = True
    return plan


def _grid(path: Path, base: str, source: SourceImage, options: ExportOptions) -> ImagePlan:
    working = WorkingImage(source, options.downsample,
                           target_pixel_size=options.target_pixel_size)
    grid = TileGrid.from_shape(working.height, working.width,
                               tile_size=options.tile_size, overlap=options.overlap)
    return ImagePlan(path, base, source, working, grid, axondeepseg=options.axondeepseg)


# --------------------------------------------------------------------------- in another process

#: Images a process keeps open for plans sent to it (least recently used closed first).
MAX_REOPENED = 8
_REOPENED: OrderedDict[tuple, tuple[SourceImage, WorkingImage, TileGrid]] = OrderedDict()
_REOPENED_LOCK = threading.Lock()


@dataclass(frozen=True)
class PlanRecipe:
    """What reopens an :class:`ImagePlan` in another process (small, picklable).

    The file and its stamp (size, modification time), the base name, fingerprint
    and ``axondeepseg`` setting that decide its files, the working image's factor
    or target pixel size, the grid, the pixel size and intensity mapping the
    client settled on, and the image series read from a file of several.
    """

    path: str
    stamp: tuple[int, int]
    base: str
    fingerprint: str
    axondeepseg: bool
    factor: int | float
    target_pixel_size: float | None
    tile_size: int
    overlap: int
    pixel_size: PixelSize | None
    intensity: IntensityRange | None
    #: the image series of a file of several (:mod:`~napari_axons.core.image.series`)
    series: int | None = None


def reopen_plan(recipe: PlanRecipe) -> ImagePlan:
    """The plan of ``recipe``, its image opened once per process (and kept open).

    What a pickled :class:`ImagePlan` becomes: equal in every field that decides
    what a tile writes, so a dask worker works from the plan the local path
    uses, never from a copy rebuilt by hand.

    Raises
    ------
    ImageReadError
        The image cannot be opened here.
    """
    key = (recipe.path, recipe.stamp, recipe.factor, recipe.target_pixel_size,
           recipe.tile_size, recipe.overlap, recipe.pixel_size, recipe.series)
    with _REOPENED_LOCK:
        hit = _REOPENED.get(key)
        if hit is None:
            source = open_image(recipe.path, series=recipe.series)
            try:
                if recipe.pixel_size != source.pixel_size:
                    source.set_pixel_size(recipe.pixel_size)
                working = WorkingImage(source, 1 if recipe.target_pixel_size else recipe.factor,
                                       target_pixel_size=recipe.target_pixel_size)
                grid = TileGrid.from_shape(working.height, working.width,
                                           tile_size=recipe.tile_size, overlap=recipe.overlap)
            except Exception:
                source.close()
                raise
            hit = _REOPENED[key] = (source, working, grid)
            while len(_REOPENED) > MAX_REOPENED:
                _REOPENED.popitem(last=False)[1][0].close()
        else:
            _REOPENED.move_to_end(key)
    source, working, grid = hit
    if recipe.intensity is not None:
        source.set_intensity_range(recipe.intensity)  # the client's, computed once
    return ImagePlan(Path(recipe.path), recipe.base, source, working, grid, recipe.fingerprint,
                     axondeepseg=recipe.axondeepseg)


def close_reopened(paths=None) -> None:
    """Close the images this process reopened for plans (all, or those of ``paths``)."""
    wanted = None if paths is None else {str(p) for p in paths}
    with _REOPENED_LOCK:
        for key in [k for k in _REOPENED if wanted is None or k[0] in wanted]:
            _REOPENED.pop(key)[0].close()
