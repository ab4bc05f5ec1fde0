"""npe2 reader: huge images as pyramids, and napari-axons / Django-Labeller exports.

``napari_get_reader`` only looks at the name and the first bytes of a file (it
never raises, and returns None for anything it does not read). The reader it
returns gives:

* an image file (TIFF, Zarr, PNG, JPEG): one image layer whose data is a list
  of lazy levels (:func:`napari_axons.core.image.pyramid.open_pyramid`); a large
  file without a pyramid gets one built once, with a progress bar, and cached
  (in napari in the background, by the napari contribution
  :mod:`napari_axons._qt._reader`: the window stays responsive, the image shows
  at once and its overview fills in as the build goes);
* an export folder, its ``manifest.json``, or one ``*__labels.json``: the image
  and ONE ``uint8`` labels layer of class indices (0 background, ``k`` class
  ``k``; 1 = foreground for a one-class export) read by
  :func:`napari_axons.core.export.read_export`. The class table (the
  manifest's, or the label classes in order of first appearance, plus any the
  files add) gives the layer's colours (``colormap``) and is kept in
  ``metadata["napari_axons"]["classes"]`` (:meth:`ClassTable.to_json`), where
  the plugin's writer finds it again;
* a QuPath GeoJSON file (``*.geojson``, or a ``.json`` FeatureCollection): a
  ``uint8`` labels layer of its classes over the polygons' bounding box, placed
  in full-resolution slide pixels (:func:`napari_axons.core.formats.geojson_class_map`).

napari picks its own (eager) reader for TIFF/PNG unless told otherwise; use
``viewer.open(path, plugin="napari-axons")`` or choose the plugin in the dialog.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .core.export import read_export
from .core.formats import geojson_class_map
from .core.image import PyramidBuild, open_image, open_pyramid

__all__ = ["napari_get_reader", "reader_function", "read_image", "read_export_layers",
           "read_geojson_layers", "build_here", "pixel_scale"]

#: How a file's missing pyramid gets built: ``levels_for(build, name) -> levels``.
#: :func:`build_here` (headless) builds it before returning; the napari contribution
#: (:mod:`napari_axons._qt._reader`) builds it in the background.
LevelsFor = Callable[[PyramidBuild, str], list]

_IMAGE_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+", b"\x89PNG", b"\xff\xd8\xff")
_IMAGE_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".png", ".jpg", ".jpeg", ".svs", ".ndpi",
                   ".scn", ".bif")
#: Slide formats read through optional readers (core/slides.py): no magic bytes to check.
_SLIDE_SUFFIXES = (".mrxs", ".vms", ".vmu", ".svslide", ".czi", ".nd2", ".lif")


def _kind(path) -> str | None:
    """What ``path`` is, from its name and first bytes only (None: not ours)."""
    p = Path(os.fspath(path))
    if p.is_dir():
        if (p / "manifest.json").is_file():
            return "export"
        if any((p / n).exists() for n in ("zarr.json", ".zarray", ".zgroup")):
            return "image"
        return None
    if not p.is_file():
        return None
    name = p.name.lower()
    if name == "manifest.json" or name.endswith("__labels.json"):
        return "export"
    if name.endswith(_SLIDE_SUFFIXES):
        return "image"
    if name.endswith(".geojson") or (name.endswith(".json") and _is_feature_collection(p)):
        return "geojson"
    if not name.endswith(_IMAGE_SUFFIXES):
        return None
    with open(p, "rb") as fh:
        head = fh.read(4)
    return "image" if head.startswith(_IMAGE_MAGIC) else None


_FEATURE_COLLECTION = re.compile(rb'"type"\s*:\s*"FeatureCollection"')
_SCAN_BLOCK = 1 << 20


def _is_feature_collection(p: Path) -> bool:
    """A ``.json`` file that is a JSON object with ``"type": "FeatureCollection"`` (QuPath's export).

    The key may stand anywhere: QuPath writes it first, ``json.dump(...,
    sort_keys=True)`` after all the features. So the file's start, then its
    end, then the whole file (1 MB at a time, only for a JSON object that does
    not say it early) are searched; the reader checks the rest when it opens it.
    """
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(_SCAN_BLOCK)
        if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            return False
        if _FEATURE_COLLECTION.search(head):
            return True
        if size <= len(head):
            return False
        fh.seek(max(len(head), size - _SCAN_BLOCK))
        if _FEATURE_COLLECTION.search(fh.read()):
            return True
        fh.seek(len(head) - 64)
        while block := fh.read(_SCAN_BLOCK):
            if _FEATURE_COLLECTION.search(block):
                return True
            if len(block) == _SCAN_BLOCK:
                fh.seek(-64, os.SEEK_CUR)  # a match across two blocks
    return False


def napari_get_reader(path, *, reader=None):
    """Return a reader for ``path`` (a path or a list of paths), or None.

    Parameters
    ----------
    path : str or list of str

    Returns
    -------
    callable or None
        ``reader(path) -> list of LayerData tuples`` when every path is an
        image, an export folder, a ``manifest.json`` or a ``*__labels.json``
        this plugin reads (``reader``, default :func:`reader_function`); None
        otherwise. Never raises.
    """
    try:
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        if not paths or any(_kind(p) is None for p in paths):
            return None
    except Exception:  # napari expects None, never an exception, from here
        return None
    return reader or reader_function


def reader_function(path, *, levels_for: LevelsFor | None = None) -> list[tuple]:
    """Read ``path`` (or a list of paths) into LayerData tuples.

    ``levels_for`` builds an image's missing pyramid (default :func:`build_here`).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    layers: list[tuple] = []
    for p in paths:
        if _kind(p) == "export":
            layers.extend(read_export_layers(p))
        elif _kind(p) == "geojson":
            layers.extend(read_geojson_layers(p))
        else:
            layers.extend(read_image(p, levels_for=levels_for))
    return layers


class _NapariProgress:
    """``progress(done, total)`` callback shown as a napari progress bar."""

    def __init__(self, description: str):
        self.description = description
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            try:
                from napari.utils import progress
            except ImportError:  # pragma: no cover - napari is there when this runs
                return
            self.bar = progress(total=total, desc=self.description)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _contrast_limits(source) -> list[float]:
    dtype = np.dtype(source.dtype)
    if dtype == np.uint8:
        return [0.0, 255.0]
    if dtype == np.bool_:
        return [0.0, 1.0]
    rng = source.intensity_range()  # from a sample, never the whole image
    lo, hi = float(rng.low), float(rng.high)
    return [lo, hi if hi > lo else lo + 1.0]


def pixel_scale(pixel_size) -> dict:
    """Layer keywords placing an image in micrometres: ``scale`` (y, x) and ``units``.

    Empty for an image without a pixel size (napari's default: 1 pixel per
    world unit). With one, a scale bar (``viewer.canvas.overlays.scale_bar.visible = True``)
    shows micrometres, and layers added with the same scale line up.
    """
    if pixel_size is None:
        return {}
    return {"scale": (pixel_size.y, pixel_size.x), "units": ("um", "um")}


def read_image(path, *, levels_for: LevelsFor | None = None, series: int | None = None) -> list[tuple]:
    """One image layer: the file's pyramid (built and cached if it has none).

    A file with its own pyramid, a small image and a pyramid already cached are
    returned at once; otherwise ``levels_for(build, name)`` builds it (default
    :func:`build_here`: here, with a progress bar, before returning).
    ``series``: which image series of a TIFF holding several (default: the
    main image, as OpenSlide picks it; :mod:`napari_axons.core.image.series`).
    """
    source = open_image(path, series=series)
    # undecodable data (a truncated PNG): fail here, not at draw time
    source.read_region(0, 0, 1, 1)
    build = open_pyramid(source)
    name = Path(os.fspath(path)).name
    levels = build.levels if build.complete else (levels_for or build_here)(build, name)
    shape = source.shape
    meta = {
        "name": Path(os.fspath(path)).name,
        "multiscale": len(levels) > 1,
        "contrast_limits": _contrast_limits(source),
        "metadata": {"napari_axons": {"path": str(Path(os.fspath(path)).resolve()),
                                      "notes": list(source.notes)}},
    }
    if len(shape) == 3 and shape[2] in (3, 4):
        meta["rgb"] = True
    elif len(shape) == 3:
        meta["rgb"] = False
        meta["channel_axis"] = 2
        meta["contrast_limits"] = [meta["contrast_limits"]] * shape[2]
    else:
        meta["rgb"] = False
    if meta["rgb"] and source.dtype == np.uint8:
        meta.pop("contrast_limits")  # napari ignores them for uint8 RGB
    meta.update(pixel_scale(source.pixel_size))
    if source.pixel_size is not None:
        meta["metadata"]["napari_axons"]["pixel_size"] = source.pixel_size.to_json()
    data = levels if len(levels) > 1 else levels[0]
    return [(data, meta, "image")]


def build_here(build: PyramidBuild, name: str) -> list:
    """Build a missing pyramid now (with a napari progress bar when napari is there); its levels."""
    bar = _NapariProgress(f"Building a pyramid for {name} (once)")
    steps = build.steps()
    try:
        for done, total in steps:
            bar(done, total)
    finally:
        steps.close()
        bar.close()
    return build.final_levels()


def read_export_layers(path) -> list[tuple]:
    """An export (folder, manifest or ``__labels.json``) as image + labels layers."""
    bar = _NapariProgress(f"Building a pyramid for {Path(os.fspath(path)).name} (once)")
    try:
        contents = read_export(path, progress=bar)
    finally:
        bar.close()
    layers: list[tuple] = []
    for img in contents.images:
        info = {"path": str(img.source_path) if img.from_source else None,
                "export": str(contents.folder), "base": img.base,
                "from_source": img.from_source, "warnings": list(contents.warnings)}
        if img.image:
            meta = {"name": img.base, "multiscale": len(img.image) > 1, "rgb": img.rgb,
                    "metadata": {"napari_axons": dict(info)}}
            if np.dtype(img.image[0].dtype) == np.uint8 and not img.rgb:
                meta["contrast_limits"] = [0.0, 255.0]
            # other dtypes: napari computes limits on the smallest level (a
            # single level is at most TOP_SIDE on its longer side, or the mosaic: uint8)
            layers.append((img.image if len(img.image) > 1 else img.image[0], meta, "image"))
        if img.labels is not None:
            tr = img.labels_transform()
            meta = {"name": f"{img.base} labels",
                    "colormap": img.classes.napari_colormap(),
                    "metadata": {"napari_axons": {**info, "origin": list(img.origin),
                                                  "working_shape": list(img.shape),
                                                  "scale": list(img.scale),
                                                  "classes": img.classes.to_json()}}}
            if tr["scale"] != (1.0, 1.0):
                meta["scale"] = tr["scale"]
            if any(tr["translate"]):
                meta["translate"] = tr["translate"]
            layers.append((img.labels, meta, "labels"))
    return layers


def read_geojson_layers(path) -> list[tuple]:
    """A (QuPath) GeoJSON file as one uint8 Labels layer in slide pixels, class colours."""
    notes: list[str] = []
    class_map, origin, table = geojson_class_map(path, notes=notes)
    meta = {"name": Path(os.fspath(path)).name, "translate": tuple(float(v) for v in origin),
            "colormap": table.napari_colormap(),
            "metadata": {"napari_axons": {"classes": table.to_json(), "origin": list(origin),
                                          "warnings": notes}}}
    return [(class_map, meta, "labels")]
