"""Reading a flat tiled TIFF block by block as fast as tifffile decodes its tiles.

A pyramid build (:mod:`.pyramid`) reads a slide without a pyramid once, whole,
block after block; a slide's first complete overview cannot come sooner than
its tiles are decoded. Through the general region reader (zarr over tifffile's
store) a block cost about twice what decoding its tiles costs. For the common
case, one plane of a tiled TIFF shown as stored, :class:`TiffBlocks` reads each
tile's bytes with ``os.pread`` (safe from several threads), decodes them with
the page's own decoder (tifffile + imagecodecs, which release the GIL) and
copies them into the block: the same pixels as
:meth:`~.source.SourceImage.read_region`, at about tifffile's own speed.
:func:`tiff_blocks` says whether a source qualifies (None: use ``read_region``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["TiffBlocks", "tiff_blocks"]

_JPEG = {6, 7, 34892, 33007}


def tiff_blocks(source) -> TiffBlocks | None:
    """A :class:`TiffBlocks` over ``source`` when its level 0 is one tiled TIFF page shown
    as stored (no colour conversion, no axis picked from a stack), else None. Never raises."""
    try:
        if not hasattr(os, "pread"):  # (Windows) the general reader
            return None
        if getattr(source, "format", None) != "tiff" or getattr(source, "colour", None):
            return None
        if source.n_levels != 1 or getattr(source, "notes", None):
            return None
        return TiffBlocks(Path(source.path), tuple(source.shape), np.dtype(source.dtype),
                          series=getattr(source, "series", None) or 0)
    except Exception:  # anything unusual: the general reader
        return None


class TiffBlocks:
    """Regions of one tiled TIFF page, decoded tile by tile with tifffile's decoder.

    Parameters
    ----------
    path : Path
    shape : tuple
        The source's ``(y, x[, c])`` shape; the page must have exactly this shape.
    dtype : numpy.dtype
    series : int
        The file's image series the source shows.

    Raises
    ------
    ValueError
        The series is not one tiled, contiguous page of that shape.
    """

    def __init__(self, path: Path, shape: tuple, dtype: np.dtype, series: int = 0):
        import tifffile

        tif = tifffile.TiffFile(path)
        try:
            series = tif.series[series]
            page = series.levels[0].pages[0]
            key = page.keyframe if hasattr(page, "keyframe") else page
            if (len(series.levels) != 1 or len(series.pages) != 1 or not key.is_tiled
                    or key.imagedepth != 1 or tuple(key.shape) != tuple(shape)
                    or np.dtype(key.dtype) != dtype
                    or (key.samplesperpixel > 1 and key.planarconfig != 1)):
                raise ValueError(f"{path}: not one tiled, contiguous page of shape {shape}")
            self.decode = key.decode
            self.kwargs = {"_fullsize": True}
            if key.compression in _JPEG:
                self.kwargs.update(jpegtables=page.jpegtables, jpegheader=key.jpegheader)
            self.offsets = tuple(page.dataoffsets)
            self.counts = tuple(page.databytecounts)
            self.tile = (int(key.tilelength), int(key.tilewidth))
        finally:
            tif.close()
        self.shape, self.dtype = tuple(shape), dtype
        self.across = -(-shape[1] // self.tile[1])
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def read_region(self, y: int, x: int, height: int, width: int,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Pixels ``[y:y + height, x:x + width]`` (inside the image), as the page stores them.

        ``out``: an array to fill, at least that large (its top-left part is
        returned), so that a build reading block after block reuses one buffer.
        """
        th, tw = self.tile
        shape = (height, width) + self.shape[2:]
        if out is None or out.shape[0] < height or out.shape[1] < width:
            out = np.empty(shape, self.dtype)
        out = out[:height, :width]
        for ty in range(y // th, -(-(y + height) // th)):
            for tx in range(x // tw, -(-(x + width) // tw)):
                i = ty * self.across + tx
                oy, ox = ty * th, tx * tw
                y0, y1 = max(y, oy), min(y + height, oy + th)
                x0, x1 = max(x, ox), min(x + width, ox + tw)
                if not self.counts[i]:  # a missing tile reads as 0, as tifffile's does
                    out[y0 - y:y1 - y, x0 - x:x1 - x] = 0
                    continue
                data = os.pread(self.fd, self.counts[i], self.offsets[i])
                segment = self.decode(data, i, **self.kwargs)[0]
                segment = segment.reshape(segment.shape[-3:])  # (tile h, tile w, samples)
                if len(self.shape) == 2:
                    segment = segment[..., 0]
                out[y0 - y:y1 - y, x0 - x:x1 - x] = segment[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        return out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
