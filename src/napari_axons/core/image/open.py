"""Open any supported image lazily (:func:`open_image`): the format is read from the file.

Supported: TIFF / BigTIFF / OME-TIFF / SVS / NDPI (tiled or striped, with or
without a pyramid; :mod:`napari_axons.core.image.tiff`), Zarr / OME-Zarr 0.1-0.5,
and everything Pillow decodes (PNG, JPEG, ...; :mod:`napari_axons.core.image.raster`).

Memory: every layout is read with peak memory bounded independently of the
image's size.

* Tiled TIFF and Zarr are read chunk by chunk through ``zarr``.
* Uncompressed TIFF strips (one strip for the whole image included, as ImageJ
  writes) are read row by row straight from the file (``os.pread``), so a
  20000 x 20000 one-strip file is never held in memory.
* Compressed TIFF strips are decoded one strip at a time; recent row bands are
  cached.
* PNG and JPEG that are small (decoded size up to :data:`WHOLE_DECODE_MAX_BYTES`)
  are decoded once, on first access, and kept in memory while the image is open.
  Larger ones are decoded once, band by band, into a chunked Zarr store in the
  cache folder (:mod:`napari_axons.core.image.raster`), then read by region.
"""

from __future__ import annotations

from pathlib import Path

from ..common import PixelSize
from .raster import open_raster
from .slides import slide_reader_for
from .source import ImageReadError, SourceImage
from .tiff import open_tiff
from .zarr_image import open_zarr

__all__ = ["open_image", "TIFF_SUFFIXES", "PIL_SUFFIXES"]


#: File names that must hold a TIFF (a wrong header is an error, not another format).
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2", ".ome.tif", ".ome.tiff", ".svs", ".ndpi")
#: Suffixes Pillow reads (see :mod:`.raster`).
PIL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".jp2")


def open_image(path: str | Path, *, pixel_size: float | PixelSize | None = None,
               series: int | None = None) -> SourceImage:
    """Open an image lazily.

    Parameters
    ----------
    path : str or Path
        A TIFF/BigTIFF/OME-TIFF/SVS/NDPI file, a Zarr/OME-Zarr folder, or a
        file Pillow reads.
    pixel_size : float or PixelSize, optional
        Pixel size in micrometres that overrides the file's (``--pixel-size``).
    series : int, optional
        Which image series of a TIFF holding several to read (``--series``);
        default: the main image as the vendor readers pick it
        (:mod:`.series`). A file of one image has only series 0.

    Returns
    -------
    SourceImage

    Raises
    ------
    ImageReadError
        One line naming the file and the problem (missing, a folder that is not
        Zarr, empty, truncated, not an image, too large, ...).
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file or folder")
    if path.is_dir():
        if _looks_like_zarr(path):
            source = open_zarr(path)
        else:
            raise ImageReadError(
                f"{path}: is a folder, not an image (only Zarr folders can be opened)")
    else:
        source = _open_file(path, series)
    if series is not None and source.series is None and series != 0:
        source.close()
        raise ImageReadError(f"{path}: no image series {series}; the file holds one image (series 0)")
    if pixel_size is not None:
        source.set_pixel_size(pixel_size, "--pixel-size")
    return source


def _open_file(path: Path, series: int | None = None) -> SourceImage:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes)")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return open_tiff(path, size, series)
    if path.name.lower().endswith(TIFF_SUFFIXES):
        raise ImageReadError(f"{path}: not a TIFF file (the file's header is not a TIFF header)")
    other = slide_reader_for(path)
    if other is not None:
        return other(path)
    return open_raster(path)


def _looks_like_zarr(path: Path) -> bool:
    return any((path / n).exists() for n in ("zarr.json", ".zarray", ".zgroup"))
