"""A multiscale pyramid for any opened image, so a viewer never reads the whole plane.

napari given a single-scale dask array of a huge image reads the whole plane
before its first frame (ENVIRONMENT.md item 10: 23 s and 5.3 GB for a
20000 x 20000 TIFF); given a pyramid it reads a few chunks. So:

* a file that holds a pyramid (pyramidal TIFF, OME-Zarr): its own levels;
* a small image (longer side up to ``large_side``): lazy ``2 x 2`` mean
  levels computed by dask from level 0 (the whole image is small anyway);
* a large image without a pyramid: the reduced levels are built **once**,
  streaming block by block (bounded memory, two threads), into a Zarr store in
  a cache folder, and reused on the next open. Level 0 stays the source's own
  lazy array.

Reduction rule: each level is the mean of ``2 x 2`` blocks of the level above
(rounded half up for integer types), its size ``floor(size / 2)``; levels
stop once the longer side is at most ``top_side`` (1024).

Cache: ``$NAPARI_AXONS_CACHE/pyramids`` or ``$XDG_CACHE_HOME/napari-axons/pyramids``
(default ``~/.cache/napari-axons/pyramids``), one ``<fingerprint>.zarr`` folder
per image, where the fingerprint covers the resolved path, size and
modification time of the file (any edit invalidates it), the image's shape and
dtype and this module's format version. A pyramid is built in a temporary
folder and renamed into place when complete, so an interrupted build leaves
nothing that would be reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .io import SourceImage

__all__ = [
    "LARGE_SIDE",
    "TOP_SIDE",
    "default_cache_dir",
    "pyramid_fingerprint",
    "pyramid_levels",
    "build_count",
]

#: Longer side above which a pyramid is built and cached (below: lazy dask levels).
LARGE_SIDE = 4096
#: Levels stop once the longer side is at most this.
TOP_SIDE = 1024
#: Side of the level-0 blocks read per step of a build (aligned to 512-px TIFF tiles).
BLOCK = 4096
_FORMAT = "napari-axons-pyramid/1"
_COMPLETE = "complete"

_builds = 0
_builds_lock = threading.Lock()

Progress = Callable[[int, int], object]


def build_count() -> int:
    """How many pyramids this process has built (not reused) so far."""
    return _builds


def default_cache_dir() -> Path:
    """The folder holding cached pyramids (see the module docstring)."""
    root = os.environ.get("NAPARI_AXONS_CACHE")
    if root:
        return Path(root) / "pyramids"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "napari-axons" / "pyramids"


def pyramid_fingerprint(source: SourceImage) -> str:
    """A key that changes whenever the file, its size or its modification time change.

    An image assembled from several files (an export's tiles) gives its own
    ``cache_key()`` covering all of them instead.
    """
    h = hashlib.blake2b(digest_size=12)
    cache_key = getattr(source, "cache_key", None)
    if cache_key is not None:
        parts = (_FORMAT, cache_key(), source.shape, str(source.dtype))
    else:
        path = Path(source.path).resolve()
        st = path.stat()
        parts = (_FORMAT, str(path), st.st_size, st.st_mtime_ns, source.shape, str(source.dtype))
    for part in parts:
        h.update(repr(part).encode())
    return h.hexdigest()


def _n_reduced_levels(height: int, width: int, top_side: int) -> int:
    n = 0
    while max(height, width) > top_side and min(height, width) >= 2:
        height, width = height // 2, width // 2
        n += 1
    return n


def pyramid_levels(
    source: SourceImage,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    large_side: int | None = None,
    top_side: int | None = None,
) -> list:
    """The image as a list of lazy dask arrays, full resolution first.

    Parameters
    ----------
    source : SourceImage
        An opened image (:func:`napari_axons.core.io.open_image`), or anything
        with its ``path``, ``shape``, ``dtype``, ``height``, ``width``,
        ``n_levels``, ``levels()`` and ``read_region()`` (and optionally
        ``cache_key()``, see :func:`pyramid_fingerprint`).
    cache_dir : path, optional
        Where built pyramids are kept; default :func:`default_cache_dir`.
    progress : callable, optional
        ``progress(done, total)``, called with ``(0, total)`` before a build and
        after each block of it. Not called when nothing is built. An exception
        raised from it cancels the build (nothing is cached).
    large_side : int, optional
        Images whose longer side exceeds this get a cached pyramid
        (default :data:`LARGE_SIDE`).
    top_side : int, optional
        The smallest level's longer side is at most this (default :data:`TOP_SIDE`).

    Returns
    -------
    list of dask.array.Array
        One level (small images), the file's own pyramid, or level 0 plus the
        reduced levels; each level is ``floor(1/2)`` the size of the one before.
    """
    large_side = LARGE_SIDE if large_side is None else int(large_side)
    top_side = TOP_SIDE if top_side is None else max(1, int(top_side))
    if source.n_levels > 1:
        return source.levels()
    level0 = source.levels()[0]
    h, w = source.height, source.width
    n = _n_reduced_levels(h, w, top_side)
    if n == 0:
        return [level0]
    if max(h, w) <= large_side:
        return _lazy_levels(level0, n)
    return [level0, *_cached_levels(source, n, cache_dir, progress)]


# -- small images: lazy dask levels -----------------------------------------
def _lazy_levels(level0, n: int) -> list:
    import dask.array as da

    dtype = level0.dtype
    levels = [level0]
    cur = level0
    for _ in range(n):
        hh, ww = (cur.shape[0] // 2) * 2, (cur.shape[1] // 2) * 2
        cur = cur[:hh, :ww]
        chunks = tuple(max(2, (c // 2) * 2) for c in cur.chunksize[:2])
        cur = cur.rechunk(chunks + cur.chunksize[2:])
        cur = da.map_blocks(_halve, cur, dtype=dtype,
                            chunks=tuple(tuple(c // 2 for c in ax) for ax in cur.chunks[:2])
                            + cur.chunks[2:])
        levels.append(cur)
    return levels


def _halve(block: np.ndarray) -> np.ndarray:
    """Mean of 2 x 2 blocks (floor size), rounded half up for integer types."""
    hh, ww = block.shape[0] // 2, block.shape[1] // 2
    block = block[: 2 * hh, : 2 * ww]
    view = block.reshape((hh, 2, ww, 2) + block.shape[2:])
    dtype = block.dtype
    if dtype == np.uint8 or dtype == np.bool_:
        s = view.sum(axis=(1, 3), dtype=np.uint16)
        out = (s + 2) // 4
        return out.astype(dtype)
    if dtype.kind in "ui":
        s = view.sum(axis=(1, 3), dtype=np.int64 if dtype.kind == "i" else np.uint64)
        return np.floor_divide(s + 2, 4).astype(dtype)
    return view.mean(axis=(1, 3), dtype=np.float64).astype(dtype)


# -- large images: a pyramid built once and cached ---------------------------
def _open_cached(folder: Path, n: int):
    import zarr

    try:
        group = zarr.open_group(str(folder), mode="r")
        if group.attrs.get("format") != _FORMAT or not group.attrs.get(_COMPLETE):
            return None
        return [group[str(k)] for k in range(1, n + 1)]
    except Exception:  # an unreadable cache entry is rebuilt, never fatal
        return None


def _cached_levels(source: SourceImage, n: int, cache_dir, progress) -> list:
    import dask.array as da

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / f"{pyramid_fingerprint(source)}.zarr"
    arrays = _open_cached(folder, n) if folder.exists() else None
    if arrays is None:
        _build(source, n, root, folder, progress)
        arrays = _open_cached(folder, n)
        if arrays is None:
            raise OSError(f"{folder}: the pyramid just built cannot be read back")
    return [da.from_zarr(a) for a in arrays]


def _build(source: SourceImage, n: int, root: Path, folder: Path, progress) -> None:
    import zarr

    global _builds
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{folder.name}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    h, w = source.height, source.width
    extra = tuple(source.shape[2:])
    block = max(BLOCK, 1 << n)  # every level of a block stays chunk aligned
    try:
        group = zarr.open_group(str(tmp), mode="w")
        group.attrs.update({"format": _FORMAT, "source": str(source.path),
                            "shape": list(source.shape), "dtype": str(source.dtype)})
        arrays = []
        for k in range(1, n + 1):
            chunk = max(1, min(512, block >> k))
            arrays.append(group.create_array(
                str(k), shape=(h >> k, w >> k) + extra, chunks=(chunk, chunk) + extra,
                dtype=source.dtype, fill_value=0,
            ))
        origins = [(y, x) for y in range(0, h, block) for x in range(0, w, block)]
        total = len(origins)
        if progress is not None:
            progress(0, total)

        def work(origin):
            y, x = origin
            cur = source.read_region(y, x, min(block, h - y), min(block, w - x))
            for k, arr in enumerate(arrays, start=1):
                cur = _halve(cur)
                ky, kx = y >> k, x >> k
                if cur.shape[0] and cur.shape[1]:
                    arr[ky : ky + cur.shape[0], kx : kx + cur.shape[1]] = cur
            return origin

        done = 0
        # Two workers, at most four blocks in flight: memory stays bounded
        # (~50 MB per 4096 x 4096 RGB uint8 block and its reductions).
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="napari-axons-pyramid") as pool:
            pending = []
            for origin in origins:
                pending.append(pool.submit(work, origin))
                if len(pending) >= 4:
                    pending.pop(0).result()
                    done += 1
                    if progress is not None:
                        progress(done, total)
            for fut in pending:
                fut.result()
                done += 1
                if progress is not None:
                    progress(done, total)
        group.attrs[_COMPLETE] = True
        try:
            os.rename(tmp, folder)
        except OSError:
            if _open_cached(folder, n) is None:  # not another process's finished build
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(tmp, folder)
        with _builds_lock:
            _builds += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
