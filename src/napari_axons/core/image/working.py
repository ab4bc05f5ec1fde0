"""The working image: the source, or the source downsampled, read tile by tile.

Downsampling follows the seed: the working size is ``(width // factor,
height // factor)`` and the filter is Lanczos. It is computed region by region,
never on the whole image: for each requested box, the source region under it
plus a margin wider than the filter's support is read and resized with
Pillow's own Lanczos (``Image.resize(..., box=...)``, one axis at a time, as
Pillow does internally), which uses the same filter centres and weights as a
whole-image ``Image.resize``. The result matches a whole-image resize to within
1 grey level on well under 1% of pixels (Pillow passes the box as 32-bit floats,
so filter centres differ in the last bits); ``tests/core/image/test_working.py``
checks it, white noise included.

Target pixel size (``--target-pixel-size UM``): the working image is resampled
so that one of its pixels is ``UM`` micrometres, the resolution a model was
trained at. Its size is ``round(width * pixel_x / UM) x round(height * pixel_y / UM)``
(at least 1), the same Lanczos filter is used (down or up), and the effective
downsample factor follows: ``factor = width / working width`` (a float, e.g.
2.4; recorded as the manifest's ``working.downsample``). The working pixel size
is the source's times ``source size / working size`` on each axis, within half
a pixel over the image of the target. It needs the source's pixel size (from
the file, or ``--pixel-size``); the seed's integer ``--downsample`` stays as it is.
Enlarging an image more than :data:`MAX_UPSAMPLE` times on a side (more than 16
times the tiles) is refused: no model gains from it, and it comes from a wrong
pixel size (a 72-dpi default read as 352.8 um) far more often than from a
real one; the message names the pixel size and where it came from.
"""

from __future__ import annotations

import math

import numpy as np

from ..common import PixelSize
from .source import ImageReadError, SourceImage

__all__ = ["WorkingImage", "LANCZOS_SUPPORT", "target_size"]

#: Lanczos-3 support, in output pixels.
LANCZOS_SUPPORT = 3.0
#: Most memory kept for decoded source chunks while downsampling (4096 rows of the image).
CHUNK_CACHE_MAX_BYTES = 384 * 2**20
#: The most a target pixel size may enlarge an image, per side.
MAX_UPSAMPLE = 4.0


class WorkingImage:
    """A source image seen at ``1 / factor`` of its size (``factor = 1``: as is).

    Parameters
    ----------
    source : SourceImage
        The opened image.
    factor : int
        Downsample factor; 1 for none, the seed uses 3.
    target_pixel_size : float, optional
        Resample to this pixel size in micrometres instead (see the module
        docstring); ``factor`` must then be 1.

    Attributes
    ----------
    factor : int or float
        Source pixels per working pixel along x: the integer ``factor``, or
        the ratio that follows from ``target_pixel_size``.
    pixel_size : PixelSize or None
        The working image's pixel size in micrometres (None when the source
        has none).

    Raises
    ------
    ImageReadError
        The image is too small for the factor, ``target_pixel_size`` is given
        for an image without a pixel size, or it would enlarge the image more
        than :data:`MAX_UPSAMPLE` times on a side.
    """

    def __init__(self, source: SourceImage, factor: int = 1, *,
                 target_pixel_size: float | None = None):
        if factor < 1:
            raise ValueError(f"downsample factor must be >= 1, got {factor}")
        self.source = source
        self.target_pixel_size = target_pixel_size
        if target_pixel_size is not None:
            if factor != 1:
                raise ValueError("a downsample factor and a target pixel size cannot both be set")
            self.height, self.width = target_size(source, target_pixel_size)
            _check_upsampling(source, target_pixel_size, self.height, self.width)
            ratio = round(source.width / self.width, 6)
            self.factor = int(ratio) if ratio == int(ratio) else ratio
        else:
            self.factor = int(factor)
            self.height = source.height // self.factor
            self.width = source.width // self.factor
        if self.height < 1 or self.width < 1:
            raise ImageReadError(
                f"{source.path}: {source.width} x {source.height} is too small to "
                f"downsample by {self.factor}"
            )
        self.scale_y = source.height / self.height
        self.scale_x = source.width / self.width
        if self.filter is not None:  # neighbouring tiles share their filter margins' chunks
            row_bytes = source.width * (source.shape[2] if len(source.shape) == 3 else 1)
            row_bytes *= source.dtype.itemsize
            source.enable_chunk_cache(min(CHUNK_CACHE_MAX_BYTES, 4096 * row_bytes))

    @property
    def filter(self) -> str | None:
        same = (self.height, self.width) == (self.source.height, self.source.width)
        return None if same else "lanczos"

    @property
    def pixel_size(self) -> PixelSize | None:
        """The source's pixel size times the resampling (micrometres)."""
        px = self.source.pixel_size
        return None if px is None else px.scaled(self.scale_y, self.scale_x)

    def read_tile(self, y: int, x: int, height: int, width: int) -> np.ndarray:
        """RGB uint8 ``(height, width, 3)`` of the working image; zero outside it."""
        if self.filter is None:
            return self.source.read_rgb(y, x, height, width)
        oy0, ox0 = max(y, 0), max(x, 0)
        oy1, ox1 = min(y + height, self.height), min(x + width, self.width)
        out = np.zeros((height, width, 3), np.uint8)
        if oy1 > oy0 and ox1 > ox0:
            out[oy0 - y : oy1 - y, ox0 - x : ox1 - x] = self._resample(oy0, ox0, oy1, ox1)
        return out

    def _resample(self, oy0: int, ox0: int, oy1: int, ox1: int) -> np.ndarray:
        from PIL import Image

        sy, sx = self.scale_y, self.scale_x
        my = math.ceil(LANCZOS_SUPPORT * max(sy, 1.0)) + 2  # upsampling: 3 source pixels
        mx = math.ceil(LANCZOS_SUPPORT * max(sx, 1.0)) + 2
        iy0 = max(0, math.floor(oy0 * sy) - my)
        ix0 = max(0, math.floor(ox0 * sx) - mx)
        iy1 = min(self.source.height, math.ceil(oy1 * sy) + my)
        ix1 = min(self.source.width, math.ceil(ox1 * sx) + mx)
        region = Image.fromarray(self.source.read_rgb(iy0, ix0, iy1 - iy0, ix1 - ix0))
        # Two single-axis passes, as Pillow's whole-image resize does internally; one
        # two-axis call with a box drifts by several grey levels on sharp detail.
        rows = region.resize(
            (ox1 - ox0, iy1 - iy0), Image.LANCZOS, box=(ox0 * sx - ix0, 0, ox1 * sx - ix0, iy1 - iy0)
        )
        small = rows.resize(
            (ox1 - ox0, oy1 - oy0), Image.LANCZOS, box=(0, oy0 * sy - iy0, ox1 - ox0, oy1 * sy - iy0)
        )
        return np.asarray(small)


def _check_upsampling(source: SourceImage, target_pixel_size: float, height: int, width: int) -> None:
    """Refuse a target pixel size that enlarges ``source`` more than :data:`MAX_UPSAMPLE` times."""
    gain = max(height / source.height, width / source.width)
    if gain <= MAX_UPSAMPLE:
        return
    px = source.pixel_size
    size = f"{px.x:.6g} um" if math.isclose(px.x, px.y, rel_tol=1e-9) else f"{px.x:.6g} x {px.y:.6g} um"
    raise ImageReadError(
        f"{source.path}: the target pixel size {target_pixel_size:g} um would enlarge the image "
        f"{gain:.4g} times on a side ({source.width} x {source.height} -> {width} x {height} px) "
        f"from its pixel size {size} ({px.origin}); more than {MAX_UPSAMPLE:g} times is refused: "
        "check the pixel size (--pixel-size UM gives the right one) or the target")


def target_size(source: SourceImage, target_pixel_size: float) -> tuple[int, int]:
    """``(height, width)`` of ``source`` resampled to ``target_pixel_size`` micrometres.

    Raises
    ------
    ImageReadError
        The source has no pixel size.
    ValueError
        The target is not a positive number.
    """
    if not (isinstance(target_pixel_size, (int, float)) and math.isfinite(target_pixel_size)
            and target_pixel_size > 0):
        raise ValueError(f"target pixel size must be a positive number of micrometres, "
                         f"got {target_pixel_size!r}")
    px = source.pixel_size
    if px is None:
        raise ImageReadError(
            f"{source.path}: the file states no pixel size; give it with --pixel-size UM "
            "to resample it to --target-pixel-size")
    height = max(1, round(source.height * px.y / target_pixel_size))
    width = max(1, round(source.width * px.x / target_pixel_size))
    return height, width
