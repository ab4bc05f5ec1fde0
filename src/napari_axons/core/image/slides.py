"""Whole-slide and vendor formats through maintained readers (``napari-axons[formats]``).

TIFF-based slides (Aperio SVS, Hamamatsu NDPI, Leica SCN, Ventana BIF, OME-TIFF)
are read by tifffile (:mod:`napari_axons.core.image.tiff`) with their pyramids and
pixel sizes, and need nothing more. The others need optional readers, installed
with ``pip install "napari-axons[formats]"``:

* OpenSlide formats that are not TIFF files (3DHISTECH ``.mrxs``, Hamamatsu
  ``.vms``/``.vmu``, Sakura ``.svslide``, Philips ``.isyntax`` where supported...):
  ``openslide-python`` with the ``openslide-bin`` wheel; every level of the
  slide is a pyramid level, transparent areas (no scanned data) are white, and
  the pixel size is OpenSlide's ``mpp-x``/``mpp-y``.
* Zeiss ``.czi``, Nikon ``.nd2``, Leica ``.lif``: the bioio readers
  (``bioio-czi``, ``bioio-nd2``, ``bioio-lif``), a separate, heavier extra:
  ``pip install "napari-axons[vendor]"``; axes are bioio's dimension
  names, reduced by the rule of :mod:`napari_axons.core.image.source`, and the pixel
  size is bioio's ``physical_pixel_sizes`` (micrometres).

Without the extra, such a file gets one line naming it:
``IN: reading .mrxs files needs the optional readers: pip install "napari-axons[formats]"``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..common import PixelSize
from .axes import reduce_axes
from .source import ImageReadError, RegionSource, SourceImage, ZarrPlane, short_error

__all__ = ["slide_reader_for", "open_openslide", "open_bioio", "OPENSLIDE_SUFFIXES",
           "BIOIO_SUFFIXES"]

#: OpenSlide formats that are not plain TIFF files (those go through tifffile).
OPENSLIDE_SUFFIXES = (".mrxs", ".vms", ".vmu", ".svslide")
#: Vendor formats read through bioio plugins.
BIOIO_SUFFIXES = (".czi", ".nd2", ".lif")


def _missing(path: Path, what: str, extra: str = "formats") -> ImageReadError:
    return ImageReadError(f"{path}: reading {what} files needs the optional readers: "
                          f'pip install "napari-axons[{extra}]"')


def slide_reader_for(path: Path):
    """A function opening ``path`` as a :class:`SourceImage`, or None (not a slide format)."""
    suffix = path.suffix.lower()
    if suffix in OPENSLIDE_SUFFIXES:
        return open_openslide
    if suffix in BIOIO_SUFFIXES:
        return open_bioio
    return None


class _OpenSlidePlane:
    """One level of an OpenSlide slide as RGB uint8, transparent areas white."""

    region_reads = True
    chunks = None

    def __init__(self, slide, level: int):
        self.slide = slide
        self.level = level
        w, h = slide.level_dimensions[level]
        self.shape = (h, w, 3)
        self.dtype = np.dtype(np.uint8)
        self.downsample = float(slide.level_downsamples[level])
        self._lock = threading.Lock()

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        loc = (int(round(x0 * self.downsample)), int(round(y0 * self.downsample)))
        rgba = np.asarray(self.slide.read_region(loc, self.level, (x1 - x0, y1 - y0)))
        rgb = rgba[..., :3].copy()
        rgb[rgba[..., 3] == 0] = 255
        return rgb


def open_openslide(path: Path) -> SourceImage:
    """Open a slide through OpenSlide (see the module docstring).

    Raises
    ------
    ImageReadError
        The extra is not installed, or OpenSlide cannot read the file.
    """
    try:
        import openslide
    except ImportError as exc:
        raise _missing(path, path.suffix.lower()) from exc
    try:
        slide = openslide.OpenSlide(str(path))
    except Exception as exc:  # OpenSlideUnsupportedFormatError, OpenSlideError
        raise ImageReadError(f"{path}: OpenSlide cannot read it ({short_error(exc)})") from exc
    levels = [RegionSource(_OpenSlidePlane(slide, k)) for k in range(slide.level_count)]
    props = slide.properties
    pixel_size = None
    try:
        mx, my = float(props.get("openslide.mpp-x", "nan")), float(props.get("openslide.mpp-y", "nan"))
        if mx > 0 and my > 0:
            pixel_size = PixelSize(mx, my, "OpenSlide mpp-x/mpp-y")
    except ValueError:
        pass
    vendor = props.get("openslide.vendor", "openslide")
    return SourceImage(path, vendor, levels, [], [slide.close], pixel_size=pixel_size)


def open_bioio(path: Path) -> SourceImage:
    """Open a CZI/ND2/LIF file through bioio (see the module docstring).

    Raises
    ------
    ImageReadError
        The extra is not installed, or bioio cannot read the file.
    """
    try:
        from bioio import BioImage
    except ImportError as exc:
        raise _missing(path, path.suffix.lower(), "vendor") from exc
    try:
        image = BioImage(path)
        data = image.dask_data
        order = str(image.dims.order)
    except Exception as exc:
        raise ImageReadError(f"{path}: cannot read it ({short_error(exc)})") from exc
    notes: list[str] = []
    index, cax, yx = reduce_axes(order, data.shape, path, notes)
    plane = ZarrPlane(data, index, cax, yx)
    pixel_size = None
    try:
        sizes = image.physical_pixel_sizes
        if sizes.X and sizes.Y and sizes.X > 0 and sizes.Y > 0:
            pixel_size = PixelSize(float(sizes.X), float(sizes.Y), "bioio physical_pixel_sizes")
    except Exception:  # metadata a reader cannot parse: no pixel size
        pixel_size = None
    return SourceImage(path, path.suffix.lower().lstrip("."), [RegionSource(plane)], notes,
                       pixel_size=pixel_size)
