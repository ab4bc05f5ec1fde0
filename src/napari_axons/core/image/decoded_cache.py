"""The on-disk cache of decoded images: large PNG/JPEG (and huge deflate TIFF strips) read by region.

An image that cannot be read by region is decoded once into a chunked,
uncompressed Zarr store under :func:`decoded_cache_dir`, one entry per file
keyed by its path, size and modification time; a half-built entry is never
used (its ``complete`` flag is written last), and the free disk space is
checked before a build starts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import threading
import zlib
from pathlib import Path

import numpy as np

from .source import ImageReadError, short_error

__all__ = ["decoded_cache_dir", "cached_rows", "CHUNK_ROWS"]


#: Rows of the cached store's chunks (512 columns wide).
CHUNK_ROWS = 256


_CACHE_FORMAT = "napari-axons-decoded/1"


_build_lock = threading.Lock()


def decoded_cache_dir() -> Path:
    """The folder holding decoded PNG/JPEG stores (see the module docstring)."""
    root = os.environ.get("NAPARI_AXONS_CACHE")
    if root:
        return Path(root) / "decoded"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "napari-axons" / "decoded"


# -- the on-disk cache for large PNG/JPEG ------------------------------------
def _fingerprint(path: Path, shape, dtype, key: str = "") -> str:
    st = path.stat()
    h = hashlib.blake2b(digest_size=12)
    for part in (_CACHE_FORMAT, str(path.resolve()), st.st_size, st.st_mtime_ns, shape, str(dtype),
                 key):
        h.update(repr(part).encode())
    return h.hexdigest()


def cached_rows(path: Path, shape: tuple, dtype, bands, key: str = ""):
    """The decoded copy of ``path`` in the cache, written from ``bands()`` once.

    Parameters
    ----------
    path : Path
        The image file (its path, size and modification time key the entry).
    shape, dtype
        Of the decoded plane, ``(y, x[, c])``.
    bands : callable
        Returns an iterator of ``(first row, rows)`` in order, covering the image.
    key : str
        Anything else that decides the contents (a TIFF page, ...).

    Returns
    -------
    zarr.Array

    Raises
    ------
    ImageReadError
        Decoding fails (the partial copy is removed), or the cache disk is too small.
    """
    import zarr

    root = decoded_cache_dir()
    folder = root / f"{_fingerprint(path, shape, dtype, key)}.zarr"
    with _build_lock:
        array = _open_cached(folder, shape)
        if array is not None:
            return array
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{folder.name}-{os.getpid()}-{threading.get_ident()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _check_space(path, root, shape, dtype)
            group = zarr.open_group(str(tmp), mode="w")
            group.attrs.update({"format": _CACHE_FORMAT, "source": str(path)})
            arr = group.create_array("0", shape=shape, dtype=dtype, fill_value=0,
                                     chunks=(CHUNK_ROWS, 512) + shape[2:], compressors=None)
            _store_rows(path, bands(), arr, shape, dtype)
            group.attrs["complete"] = True
            shutil.rmtree(folder, ignore_errors=True)  # an incomplete or stale entry
            os.replace(tmp, folder)
        except ImageReadError:
            raise
        except (OSError, ValueError, zlib.error, struct.error) as exc:
            raise ImageReadError(f"{path}: cannot decode image ({short_error(exc)})") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        array = _open_cached(folder, shape)
        if array is None:
            raise ImageReadError(f"{path}: the decoded copy in {folder} cannot be read back")
        return array


def _store_rows(path: Path, bands, arr, shape, dtype) -> None:
    """Write decoded row bands into ``arr`` in whole chunk rows (no chunk is written twice)."""
    buf = np.empty((CHUNK_ROWS,) + tuple(shape[1:]), dtype)
    filled = done = 0
    for _, band in bands:
        if band.shape[1:] != tuple(shape[1:]) or done + filled + band.shape[0] > shape[0]:
            raise ImageReadError(f"{path}: decoded band {band.shape} != header {shape}")
        pos = 0
        while pos < band.shape[0]:
            take = min(CHUNK_ROWS - filled, band.shape[0] - pos)
            buf[filled : filled + take] = band[pos : pos + take]
            filled, pos = filled + take, pos + take
            if filled == CHUNK_ROWS:
                arr[done : done + filled] = buf
                done, filled = done + filled, 0
    if filled:
        arr[done : done + filled] = buf[:filled]
    if done + filled != shape[0]:
        raise ImageReadError(f"{path}: {done + filled} of {shape[0]} rows decoded")


def _open_cached(folder: Path, shape):
    import zarr

    if not folder.exists():
        return None
    try:
        group = zarr.open_group(str(folder), mode="r")
        if group.attrs.get("format") != _CACHE_FORMAT or not group.attrs.get("complete"):
            return None
        arr = group["0"]
        return arr if tuple(arr.shape) == tuple(shape) else None
    except Exception:  # an unreadable cache entry is rebuilt, never fatal
        return None


def _check_space(path: Path, root: Path, shape, dtype) -> None:
    need = int(np.prod(shape)) * np.dtype(dtype).itemsize
    free = shutil.disk_usage(root).free
    if free < need:
        raise ImageReadError(
            f"{path}: decoding it needs up to {need / 2**30:.1f} GiB in the cache folder {root}, "
            f"which has {free / 2**30:.1f} GiB free; set NAPARI_AXONS_CACHE to a larger disk"
        )
