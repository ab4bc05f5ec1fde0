"""The export contract: ``manifest.json`` as typed, frozen dataclasses, read one way.

An export folder holds the seed's files plus ``manifest.json``, which maps every
tile back to its image (its file names: :class:`~.files.ExportFiles`). This
module is the one reader of that contract: every consumer (resume, read-back,
the bridges, training data, session loading, the cluster worker, the fibre
measures) takes a :class:`Manifest` from :func:`load_manifest`. It

* turns a :class:`Manifest` into JSON (:meth:`Manifest.to_json`,
  :meth:`Manifest.dumps`) and back (:meth:`Manifest.from_json`,
  :func:`load_manifest`) with one validation: a bad document raises
  :class:`ManifestError`, one line naming the file and the field, e.g.
  ``out/manifest.json: images[0].tiles[3].box.width: expected an int``.

The JSON keeps the keys of earlier versions, so older exports read back; keys
added since are optional when reading: ``"classes"`` (the class table,
:meth:`~napari_axons.core.common.ClassTable.to_json`, present when masks are
written) and ``"pixel_size"`` in ``source`` and ``working``
(:meth:`~napari_axons.core.common.PixelSize.to_json`: ``{"x_um", "y_um",
"origin"}``, or null when unknown).

Layout::

    {"format": "napari-axons-export/1", "software": {"name", "version"},
     "status": "running" | "complete", "options": {...}, "layout": {"tiles", "masks"},
     "segmenter": {...} | null, "label_source": str | null, "classes": [...] | null,
     "images": [{"base", "source": {...}, "intensity": {"low", "high", "rule"},
                 "working": {...}, "grid": {...},
                 "tiles": [{"index", "name", "files": {"tile", "mask", "labels", ...},
                            "box": {"x", "y", "width", "height"},
                            "source_box": {"y", "x", "height", "width", "clipped"},
                            "padding": {"top", "left"}}]}]}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..common import ClassTable, ExportError, JsonDoc, PixelSize
from .files import MANIFEST_FORMAT, MANIFEST_NAME

__all__ = ["MANIFEST_FORMAT", "MANIFEST_NAME", "GridEntry", "ImageEntry",
           "Intensity", "Manifest", "ManifestError", "SourceBox", "SourceEntry",
           "TileEntry", "WorkingEntry", "load_manifest", "read_manifest"]


class ManifestError(ExportError):
    """A manifest is missing, unreadable or malformed: one line naming the file and the field."""


# --------------------------------------------------------------------------- file names




# --------------------------------------------------------------------------- validation






# --------------------------------------------------------------------------- entries


def _pixel_size(d, doc: JsonDoc, where: str) -> PixelSize | None:
    """A :class:`~napari_axons.core.common.PixelSize` from ``{"x_um", "y_um", "origin"}``."""
    if d is None:
        return None
    d = doc.obj(d, where)
    return PixelSize(doc.get(d, "x_um", where, "number"), doc.get(d, "y_um", where, "number"),
                     doc.get(d, "origin", where, "str", optional=True, default=""))


@dataclass(frozen=True)
class SourceEntry:
    """The image as opened: ``path`` is None for an in-memory image (no file)."""

    path: str | None
    name: str
    format: str
    width: int
    height: int
    channels: int
    dtype: str
    levels: int
    hash: str
    notes: tuple[str, ...] = ()
    pixel_size: PixelSize | None = None
    #: the image series read from a file of several (:mod:`~napari_axons.core.image.series`)
    series: int | None = None

    def to_json(self) -> dict:
        out = {"path": self.path, "name": self.name, "format": self.format,
               "width": self.width, "height": self.height, "channels": self.channels,
               "dtype": self.dtype, "levels": self.levels, "hash": self.hash,
               "notes": list(self.notes),
               "pixel_size": None if self.pixel_size is None else self.pixel_size.to_json()}
        if self.series is not None:  # only for files of several images: others unchanged
            out["series"] = self.series
        return out

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> SourceEntry:
        d = doc.obj(d, where)
        g = doc.get
        notes = g(d, "notes", where, "list", optional=True, default=[])
        return cls(
            g(d, "path", where, "str?", optional=True), g(d, "name", where, "str"),
            g(d, "format", where, "str"), g(d, "width", where, "int"),
            g(d, "height", where, "int"), g(d, "channels", where, "int"),
            g(d, "dtype", where, "str"), g(d, "levels", where, "int"),
            g(d, "hash", where, "str"),
            tuple(doc.check(n, f"{where}.notes[{k}]", "str") for k, n in enumerate(notes)),
            _pixel_size(d.get("pixel_size"), doc, f"{where}.pixel_size"),
            g(d, "series", where, "int", optional=True))


@dataclass(frozen=True)
class Intensity:
    """How the source's values became 0-255 (:class:`~napari_axons.core.image.colour.IntensityRange`)."""

    low: float
    high: float
    rule: str

    def to_json(self) -> dict:
        return {"low": self.low, "high": self.high, "rule": self.rule}

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> Intensity:
        d = doc.obj(d, where)
        return cls(doc.get(d, "low", where, "number"), doc.get(d, "high", where, "number"),
                   doc.get(d, "rule", where, "str"))


@dataclass(frozen=True)
class WorkingEntry:
    """The image as tiled: the source, or the source downsampled by ``downsample``."""

    width: int
    height: int
    downsample: int | float
    filter: str | None
    scale_x: float
    scale_y: float
    pixel_size: PixelSize | None = None

    def to_json(self) -> dict:
        return {"width": self.width, "height": self.height, "downsample": self.downsample,
                "filter": self.filter, "scale_x": self.scale_x, "scale_y": self.scale_y,
                "pixel_size": None if self.pixel_size is None else self.pixel_size.to_json()}

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> WorkingEntry:
        d = doc.obj(d, where)
        g = doc.get
        out = cls(g(d, "width", where, "int"), g(d, "height", where, "int"),
                  g(d, "downsample", where, "factor", optional=True, default=1),
                  g(d, "filter", where, "str?", optional=True),
                  g(d, "scale_x", where, "number", optional=True, default=1.0),
                  g(d, "scale_y", where, "number", optional=True, default=1.0),
                  _pixel_size(d.get("pixel_size"), doc, f"{where}.pixel_size"))
        if out.width < 1 or out.height < 1:
            doc.fail(where, f"the working image is {out.width} x {out.height} pixels")
        return out


@dataclass(frozen=True)
class GridEntry:
    """The tile grid (:class:`~napari_axons.core.geometry.TileGrid`) over the working image."""

    tile_size: int
    stride: int
    overlap: int
    n_tiles: int
    padded: bool

    def to_json(self) -> dict:
        return {"tile_size": self.tile_size, "stride": self.stride, "overlap": self.overlap,
                "n_tiles": self.n_tiles, "padded": self.padded}

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> GridEntry:
        d = doc.obj(d, where)
        g = doc.get
        return cls(g(d, "tile_size", where, "int"), g(d, "stride", where, "int"),
                   g(d, "overlap", where, "int"), g(d, "n_tiles", where, "int"),
                   g(d, "padded", where, "bool"))


@dataclass(frozen=True)
class SourceBox:
    """A tile's box in source pixels (float), and rounded outward and clipped (``y0, x0, y1, x1``)."""

    y: float
    x: float
    height: float
    width: float
    clipped: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return {"y": self.y, "x": self.x, "height": self.height, "width": self.width,
                "clipped": list(self.clipped)}

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> SourceBox:
        d = doc.obj(d, where)
        g = doc.get
        clipped = g(d, "clipped", where, "list")
        if len(clipped) != 4:
            doc.fail(f"{where}.clipped", f"expected 4 ints, got {len(clipped)} values")
        return cls(g(d, "y", where, "number"), g(d, "x", where, "number"),
                   g(d, "height", where, "number"), g(d, "width", where, "number"),
                   tuple(doc.check(v, f"{where}.clipped[{k}]", "int")
                         for k, v in enumerate(clipped)))


@dataclass(frozen=True)
class TileEntry:
    """One exported tile: its box in working pixels, its files, where it lies in the source.

    Attributes
    ----------
    index : int
        Position in the seed's order.
    name : str
        The file stem (:meth:`ExportFiles.stem`).
    files : dict
        ``{"tile": ..., "mask": ..., "labels": ..., "seg-axon": ...}``, relative to
        the export folder, in writing order (masks and labels only with masks).
    y, x, height, width : int
        The box in working-image pixels (``y``/``x`` negative for a padded tile).
    source_box : SourceBox
    padding_top, padding_left : int
        Rows and columns of zero padding.
    label_source : str or None
        The polygons' ``source`` when the export's tiles have different ones
        (the manifest's ``label_source`` is then ``"per tile"``).
    """

    index: int
    name: str
    files: dict[str, str] = field(hash=False)
    y: int
    x: int
    height: int
    width: int
    source_box: SourceBox
    padding_top: int = 0
    padding_left: int = 0
    label_source: str | None = None

    def box_json(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    def to_json(self) -> dict:
        doc = {"index": self.index, "name": self.name, "files": dict(self.files),
               "box": self.box_json(), "source_box": self.source_box.to_json(),
               "padding": {"top": self.padding_top, "left": self.padding_left}}
        if self.label_source is not None:  # only when the export's sources differ per tile
            doc["label_source"] = self.label_source
        return doc

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> TileEntry:
        d = doc.obj(d, where)
        g = doc.get
        box = g(d, "box", where, "object")
        files = g(d, "files", where, "object", optional=True, default={})
        padding = g(d, "padding", where, "object", optional=True, default={})
        bw = f"{where}.box"
        return cls(
            g(d, "index", where, "int"), g(d, "name", where, "str", optional=True, default=""),
            {str(k): doc.check(v, f"{where}.files.{k}", "str")
             for k, v in files.items() if v is not None},
            g(box, "y", bw, "int"), g(box, "x", bw, "int"),
            g(box, "height", bw, "int"), g(box, "width", bw, "int"),
            SourceBox.from_json(g(d, "source_box", where, "object"), doc, f"{where}.source_box"),
            g(padding, "top", f"{where}.padding", "int", optional=True, default=0),
            g(padding, "left", f"{where}.padding", "int", optional=True, default=0),
            g(d, "label_source", where, "str?", optional=True))


@dataclass(frozen=True)
class ImageEntry:
    """One image of an export: its source, intensity rule, working image, grid and tiles."""

    base: str
    source: SourceEntry
    intensity: Intensity
    working: WorkingEntry
    grid: GridEntry
    tiles: tuple[TileEntry, ...] = ()

    def to_json(self) -> dict:
        return {"base": self.base, "source": self.source.to_json(),
                "intensity": self.intensity.to_json(), "working": self.working.to_json(),
                "grid": self.grid.to_json(), "tiles": [t.to_json() for t in self.tiles]}

    def same_image_and_grid(self) -> ImageEntry:
        """This entry without what may differ between runs of one export (path, tile list).

        Two exports of one image file (wherever it lies now) and one grid give
        equal values; compared when an export is resumed or added to.
        """
        return replace(self, source=replace(self.source, path=None), tiles=())

    @classmethod
    def from_json(cls, d, doc: JsonDoc, where: str) -> ImageEntry:
        d = doc.obj(d, where)
        g = doc.get
        base = g(d, "base", where, "str")
        source = SourceEntry.from_json(g(d, "source", where, "object"), doc, f"{where}.source")
        intensity = Intensity.from_json(g(d, "intensity", where, "object"), doc,
                                        f"{where}.intensity")
        working = WorkingEntry.from_json(g(d, "working", where, "object"), doc,
                                         f"{where}.working")
        grid = GridEntry.from_json(g(d, "grid", where, "object"), doc, f"{where}.grid")
        tiles = tuple(TileEntry.from_json(t, doc, f"{where}.tiles[{k}]")
                      for k, t in enumerate(g(d, "tiles", where, "list")))
        return cls(base, source, intensity, working, grid, tiles)


@dataclass(frozen=True)
class Manifest:
    """An export's ``manifest.json``.

    Attributes
    ----------
    status : str
        ``"running"`` while the export runs, ``"complete"`` at the end.
    options : dict
        :meth:`~napari_axons.core.export.ExportOptions.grid_key` (compared on resume).
    layout : dict
        ``{"tiles": ".", "masks": "masks" | None}``.
    segmenter : dict or None
        The segmenter's ``info()``.
    label_source : str or None
        ``source`` of the polygons (None without masks).
    classes : ClassTable or None
        The class table of the masks (None without masks, or in an older export).
    images : tuple of ImageEntry
    software : dict
        ``{"name": "napari-axons", "version": ...}``.
    format : str
        :data:`MANIFEST_FORMAT`.
    """

    status: str
    options: dict = field(hash=False)
    layout: dict = field(hash=False)
    segmenter: dict | None = field(hash=False)
    label_source: str | None
    classes: ClassTable | None
    images: tuple[ImageEntry, ...]
    software: dict = field(default_factory=dict, hash=False)
    format: str = MANIFEST_FORMAT
    #: The file it was read from (:func:`load_manifest`); not part of the document.
    path: Path | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def folder(self) -> Path:
        """The export folder (the manifest's folder; ``.`` for a manifest not read from disk)."""
        return Path(".") if self.path is None else self.path.parent

    def to_json(self) -> dict:
        """The JSON document (plain dicts and lists)."""
        return {"format": self.format, "software": dict(self.software), "status": self.status,
                "options": dict(self.options), "layout": dict(self.layout),
                "segmenter": None if self.segmenter is None else dict(self.segmenter),
                "label_source": self.label_source,
                "classes": None if self.classes is None else self.classes.to_json(),
                "images": [img.to_json() for img in self.images]}

    def dumps(self) -> bytes:
        """Deterministic JSON bytes (sorted keys, 1-space indent), as written to disk."""
        return (json.dumps(self.to_json(), indent=1, sort_keys=True, ensure_ascii=False)
                + "\n").encode()

    @classmethod
    def from_json(cls, d: Any, file: str | Path = MANIFEST_NAME) -> Manifest:
        """Parse and validate a manifest document.

        Raises
        ------
        ManifestError
            Not a napari-axons manifest, or a field is missing or of the wrong
            type (one line: ``FILE: images[0].tiles[3].box.width: expected an int``).
        """
        doc = JsonDoc(str(file), ManifestError)
        if not isinstance(d, Mapping) or d.get("format") != MANIFEST_FORMAT:
            raise ManifestError(f"{file}: not a napari-axons manifest "
                                f"(format != {MANIFEST_FORMAT!r})")
        g = doc.get
        images = g(d, "images", "", "list")
        classes = d.get("classes")
        table = None
        if classes is not None:
            try:
                table = ClassTable.from_json(doc.check(classes, "classes", "list"),
                                             where="classes")
            except ValueError as exc:
                raise ManifestError(f"{file}: {exc}") from None
        segmenter = d.get("segmenter")
        return cls(
            status=g(d, "status", "", "str", optional=True, default="complete"),
            options=dict(g(d, "options", "", "object", optional=True, default={})),
            layout=dict(g(d, "layout", "", "object", optional=True, default={})),
            segmenter=None if segmenter is None else dict(doc.obj(segmenter, "segmenter")),
            label_source=g(d, "label_source", "", "str?", optional=True),
            classes=table,
            images=tuple(ImageEntry.from_json(img, doc, f"images[{k}]")
                         for k, img in enumerate(images)),
            software=dict(g(d, "software", "", "object", optional=True, default={})),
        )

    @classmethod
    def loads(cls, text: str | bytes, file: str | Path = MANIFEST_NAME) -> Manifest:
        try:
            d = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"{file}: not a readable manifest ({exc})") from exc
        return cls.from_json(d, file)


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate an export's manifest (the file, or its export folder).

    Raises
    ------
    ManifestError
        Missing (``PATH: no such export folder or manifest``, ``DIR: not an
        export folder (no manifest.json in it)``), unreadable, not a napari-axons
        manifest, or malformed (the field is named).
    """
    path = Path(path)
    if path.is_dir():
        if not (path / MANIFEST_NAME).exists():
            raise ManifestError(f"{path}: not an export folder (no {MANIFEST_NAME} in it)")
        path = path / MANIFEST_NAME
    elif not path.exists():
        raise ManifestError(f"{path}: no such export folder or manifest")
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: no such export folder or manifest") from exc
    except OSError as exc:
        raise ManifestError(f"{path}: not a readable manifest ({exc})") from exc
    return replace(Manifest.loads(data, path), path=path)


def read_manifest(path: str | Path) -> dict:
    """The manifest of an export (the file or its folder) as a JSON dict, through :func:`load_manifest`.

    The same validation and errors; for code that wants the plain document.
    """
    return load_manifest(path).to_json()
