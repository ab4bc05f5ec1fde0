"""TIFF files (BigTIFF, OME-TIFF, ImageJ, SVS, NDPI): the series, lazy planes, pixel size.

Reading (region by region, memory bounded) is :mod:`.tiff_strips`'s for
striped files and tifffile's Zarr store for tiled ones; the colour rules are
:mod:`.tiff_colour`'s; which image of a multi-image file is the slide,
:mod:`.series`'s. Pixel size: :mod:`napari_axons.core.common` (OME, SVS,
ImageJ and resolution tags).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..common import PixelSize, from_ome_xml, from_resolution, from_svs_description, unit_to_um
from .axes import reduce_axes
from .series import choose_series
from .source import ImageReadError, RegionSource, SourceImage, ZarrPlane, short_error
from .tiff_colour import PHOTOMETRIC_NAMES, colour_convert
from .tiff_strips import StripPlane, big_deflate_strips, deflate_plane, open_fd, uncompressed

__all__ = ["open_tiff", "tiff_pixel_size"]

# tifffile logs oddities of valid files (a malformed ImageJ or OME description it
# works around) through logging; without a handler Python would print them on
# stderr. An application that configures logging still receives them.
logging.getLogger("tifffile").addHandler(logging.NullHandler())



def open_tiff(path: Path, size: int, series: int | None = None) -> SourceImage:
    """Open a TIFF file's main image series lazily (see the module docstring).

    ``series``: the index of the image series to read (default: the main
    image, :func:`~.series.choose_series`).

    Raises
    ------
    ImageReadError
        Not a readable TIFF, truncated, no image, an unsupported pixel type,
        no such series.
    """
    import tifffile
    import zarr

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:
        raise ImageReadError(f"{path}: not a readable TIFF file ({short_error(exc)})") from exc
    closers = [tif.close]
    try:
        if not tif.series:
            raise ImageReadError(f"{path}: the TIFF file holds no image")
        notes: list[str] = []
        chosen = choose_series(tif, path, series, notes)
        series = tif.series[chosen]
        first = series.pages[0]
        if first is None:
            raise ImageReadError(f"{path}: the TIFF file holds no image")
        key = first.keyframe if hasattr(first, "keyframe") else first
        ends = [o + c for o, c in zip(first.dataoffsets, first.databytecounts, strict=False) if c]
        if ends and max(ends) > size:
            raise ImageReadError(
                f"{path}: truncated TIFF: pixel data ends at byte {max(ends)} "
                f"but the file has {size} bytes"
            )
        fd = None
        levels = []
        colour = None
        for k, level in enumerate(series.levels):
            index, cax, yx = reduce_axes(level.axes, level.shape, path, notes if k == 0 else [])
            page = level.pages[0]
            keyframe = page.keyframe if hasattr(page, "keyframe") else page
            plane = None
            if _plane_is_one_page(level, keyframe, cax):
                if fd is None and (uncompressed(keyframe) or big_deflate_strips(keyframe)):
                    fd = open_fd(path)
                    closers.append(lambda fd=fd: os.close(fd))
                if fd is not None and uncompressed(keyframe):
                    plane = StripPlane.maybe(fd, page, keyframe, tif.byteorder)
                elif fd is not None and big_deflate_strips(keyframe):
                    plane = deflate_plane(path, fd, page, keyframe, tif.byteorder, k)
            if plane is None:
                plane = ZarrPlane(zarr.open(series.aszarr(level=k), mode="r"), index, cax, yx)
            convert = colour_convert(keyframe, plane.shape, path)
            if k == 0 and convert is not None:
                colour = convert.rule
            levels.append(RegionSource(plane, convert))
        if levels[0].dtype.kind not in "uif" and levels[0].dtype != np.bool_:
            raise ImageReadError(f"{path}: unsupported pixel type {levels[0].dtype}")
        if key.photometric not in PHOTOMETRIC_NAMES or colour and colour.startswith("as stored"):
            notes.append(f"{path.name}: {colour or 'unknown colour interpretation'}")
        pixel_size = tiff_pixel_size(tif, key, chosen)
    except ImageReadError:
        for close in reversed(closers):
            close()
        raise
    except Exception as exc:
        for close in reversed(closers):
            close()
        raise ImageReadError(f"{path}: cannot read TIFF structure ({short_error(exc)})") from exc
    return SourceImage(path, "tiff", levels, notes, list(reversed(closers)),
                       pixel_size=pixel_size, colour=colour,
                       series=chosen if len(tif.series) > 1 else None)




def _plane_is_one_page(level, keyframe, cax) -> bool:
    """True when the plane read (first page, all of y, x, samples) is one TIFF page."""
    page_axes = keyframe.axes
    if not level.axes.endswith(page_axes) or tuple(level.shape[-len(page_axes):]) != keyframe.shape:
        return False
    return cax is None or level.axes[cax] in page_axes
































# -- pixel size --------------------------------------------------------------
def tiff_pixel_size(tif, page, series: int = 0) -> PixelSize | None:
    """The pixel size of a TIFF file's image ``series`` (see :mod:`.pixel_size`)."""
    try:
        if tif.is_ome and tif.ome_metadata:
            found = from_ome_xml(tif.ome_metadata, series)
            if found is not None:
                return found
        description = page.description or ""
        if tif.is_svs or description.startswith("Aperio"):
            found = from_svs_description(description)
            if found is not None:
                return found
        xres, yres = page.resolution
        unit = int(page.resolutionunit)
        if tif.is_imagej and unit == 1:
            meta = tif.imagej_metadata or {}
            name = meta.get("unit")
            return from_resolution(xres, yres, unit_to_um(name), f"ImageJ resolution (unit {name!r})")
        if unit in (2, 3):
            what = "NDPI" if getattr(tif, "is_ndpi", False) else "TIFF"
            return from_resolution(xres, yres, 25400.0 if unit == 2 else 10000.0,
                                   f"{what} XResolution/YResolution ({'inch' if unit == 2 else 'cm'})")
    except (AttributeError, TypeError, ValueError, ZeroDivisionError):
        return None
    return None
