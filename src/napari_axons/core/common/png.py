"""PNG encoding through libpng (imagecodecs), fast and lossless."""

from __future__ import annotations

import numpy as np

__all__ = ["FAST_PNG_MAX_LEVEL", "encode_png"]

#: zlib levels up to this one use the fast preset (RLE strategy, SUB filter).
FAST_PNG_MAX_LEVEL = 2


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """Encode a uint8 ``(y, x)`` or ``(y, x, 3)`` array as PNG bytes (lossless).

    Encoding is done by libpng through ``imagecodecs``, which releases the GIL,
    so tiles encode in parallel on threads.

    Parameters
    ----------
    array : ndarray
        uint8 gray or RGB pixels.
    compress_level : int
        zlib level, 0-9. Levels 0-2 use the fast preset (zlib's RLE strategy
        and the PNG SUB filter, OpenCV's "fast" settings): on 512 x 512 RGB
        tiles about 5x faster than Pillow's default level 6 for 0-13% more
        bytes. Levels 3-9 use libpng's adaptive filtering and the default
        strategy (smallest files). The pixels are identical at every level.
    """
    import imagecodecs

    array = np.ascontiguousarray(array)
    if compress_level <= FAST_PNG_MAX_LEVEL:
        return bytes(imagecodecs.png_encode(array, level=compress_level, strategy=3,
                                            filter=16))
    return bytes(imagecodecs.png_encode(array, level=compress_level))
