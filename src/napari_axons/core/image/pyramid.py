"""A multiscale pyramid for any opened image, so a viewer never reads the whole plane.

napari given a single-scale dask array of a huge image reads the whole plane
before its first frame (ENVIRONMENT.md item 10: 23 s and 5.3 GB for a
20000 x 20000 TIFF); given a pyramid it reads a few chunks. So:

* a file that holds a pyramid (pyramidal TIFF, OME-Zarr): its own levels;
* a small image (longer side up to ``large_side``): lazy ``2 x 2`` mean
  levels computed by dask from level 0 (the whole image is small anyway);
* a large image without a pyramid: the reduced levels are built **once**,
  streaming block by block (bounded memory, one thread per core), into a Zarr store in
  a cache folder, and reused on the next open. Level 0 stays the source's own
  lazy array.

Reduction rule: each level is the mean of ``2 x 2`` blocks of the level above
(rounded half up for integer types), its size ``floor(size / 2)``; levels
stop once the longer side is at most ``top_side`` (1024).

A viewer need not wait for a build: :func:`open_pyramid` returns at once with
levels that can be read while the build runs (blocks not built yet read as 0)
and a :meth:`PyramidBuild.steps` generator that builds one block per step; the
caller runs it where it likes (the napari reader: a thread worker with napari's
progress bar) and can stop it between blocks. :func:`pyramid_levels` is the
same build, run to the end before it returns.

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

from .source import SourceImage
from .tiff_blocks import tiff_blocks

__all__ = [
    "BuildingLevel",
    "PyramidBuild",
    "open_pyramid",
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
#: Chunk side of the cached levels: zarr's cost per chunk written dominated the build
#: with 512 (23 chunks per block); 1024 writes 8, and a view at any zoom reads a few.
CHUNK = 1024
#: While a pyramid is built, levels up to this size are also kept in memory, so a
#: viewer redrawing the overview as blocks arrive reads numpy, not the Zarr store.
MEMORY_LEVEL_BYTES = 32 * 2**20
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
    if getattr(source, "series", None) is not None:  # one pyramid per image series of a file
        parts += ("series", source.series)
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

    Builds (and caches) a pyramid when needed before it returns; see
    :func:`open_pyramid` for levels that can be shown while the build runs.

    Parameters
    ----------
    source : SourceImage
        An opened image (:func:`napari_axons.core.image.open.open_image`), or anything
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
    build = open_pyramid(source, cache_dir=cache_dir, large_side=large_side, top_side=top_side)
    steps = build.steps()
    try:
        for done, total in steps:
            if progress is not None:
                progress(done, total)
    finally:
        steps.close()  # an exception from progress: the build stops, nothing is cached
    return build.final_levels()


def open_pyramid(
    source: SourceImage,
    *,
    cache_dir: str | os.PathLike | None = None,
    large_side: int | None = None,
    top_side: int | None = None,
) -> PyramidBuild:
    """The image's pyramid at once: complete, or readable while it is built.

    Parameters are those of :func:`pyramid_levels`. Nothing is read or built
    here beyond opening a cached pyramid; the returned object's
    :meth:`~PyramidBuild.steps` builds it (an empty generator when
    :attr:`~PyramidBuild.complete`).

    Returns
    -------
    PyramidBuild
        ``levels``: level 0 (the source's lazy array) and the reduced levels,
        usable by a viewer right away.
    """
    large_side = LARGE_SIDE if large_side is None else int(large_side)
    top_side = TOP_SIDE if top_side is None else max(1, int(top_side))
    if source.n_levels > 1:
        return PyramidBuild.ready(source.levels())
    level0 = source.levels()[0]
    h, w = source.height, source.width
    n = _n_reduced_levels(h, w, top_side)
    if n == 0:
        return PyramidBuild.ready([level0])
    if max(h, w) <= large_side:
        return PyramidBuild.ready(_lazy_levels(level0, n))
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / f"{pyramid_fingerprint(source)}.zarr"
    arrays = _open_cached(folder, n) if folder.exists() else None
    if arrays is not None:
        import dask.array as da

        return PyramidBuild.ready([level0, *(da.from_zarr(a) for a in arrays)])
    return PyramidBuild(source, level0, n, root, folder)


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


#: dtypes whose 2 x 2 mean OpenCV computes exactly as :func:`_halve` does: ``(a+b+c+d+2) >> 2``.
_CV2_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))


def _halve(block: np.ndarray) -> np.ndarray:
    """Mean of 2 x 2 blocks (floor size), rounded half up for integer types.

    uint8, uint16 and int16 images of 1, 3 or 4 channels go through OpenCV's area
    resize at exactly half the size (its fast path: the same sums and rounding,
    SIMD, the GIL released): several times faster than numpy on a 4096 x 4096
    RGB block, which is what decides how soon a slide's overview is complete.
    """
    hh, ww = block.shape[0] // 2, block.shape[1] // 2
    block = block[: 2 * hh, : 2 * ww]
    channels = block.shape[2] if block.ndim == 3 else 1
    if hh and ww and block.dtype in _CV2_DTYPES and block.ndim in (2, 3) and channels in (1, 3, 4):
        import cv2  # here, not at import: importing cv2 sets LD_LIBRARY_PATH

        out = cv2.resize(np.ascontiguousarray(block), (ww, hh), interpolation=cv2.INTER_AREA)
        return out.reshape((hh, ww) + block.shape[2:])
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


class BuildingLevel:
    """One reduced level of a pyramid being built: an array a viewer can read now.

    Blocks already built read back their pixels, the others read as 0; once the
    build is complete the level reads the cached pyramid. Levels of at most
    :data:`MEMORY_LEVEL_BYTES` (the overview a viewer redraws as blocks arrive)
    are also kept in memory and read from there, pixels showing as they are made. Reading returns numpy
    (napari accepts any object with ``shape``, ``dtype`` and ``__getitem__``).

    Attributes
    ----------
    shape : tuple of int
        ``(h >> k, w >> k) + extra`` for level ``k``.
    dtype : numpy.dtype
        The source's.
    """

    def __init__(self, build: PyramidBuild, k: int, shape: tuple, dtype):
        self._build = build
        self.k = k
        self._array = None  # the zarr array being written (then the cached one)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)
        small = int(np.prod(self.shape)) * self.dtype.itemsize <= MEMORY_LEVEL_BYTES
        #: a copy of the level in memory (small levels only), filled as blocks are built
        self._memory = np.zeros(self.shape, self.dtype) if small else None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self[...]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1:]
        key = key + (slice(None),) * (self.ndim - len(key))
        # the first two axes: read their bounding box, then apply steps / ints
        bounds, after = [], []
        for k, n in zip(key[:2], self.shape[:2], strict=True):
            if isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step < 0:
                    lo, hi = (stop + 1, start + 1) if stop < start else (0, 0)
                    bounds.append((lo, hi))
                    after.append(slice(None, None, step))
                else:
                    bounds.append((start, max(start, stop)))
                    after.append(slice(None, None, step))
            else:
                i = int(k) + (n if int(k) < 0 else 0)
                if not 0 <= i < n:
                    raise IndexError(f"index {k} is out of bounds for axis of size {n}")
                bounds.append((i, i + 1))
                after.append(0)
        region = self._build._read(self, *bounds[0], *bounds[1])
        return region[tuple(after) + tuple(key[2:])]


class PyramidBuild:
    """The reduced levels of a large image, built block by block into the cache.

    Use :func:`open_pyramid` to get one. :attr:`levels` can be handed to a viewer
    at once; :meth:`steps` does the work. Each block of ``BLOCK x BLOCK`` level-0
    pixels is read once and reduced through every level; its chunks of every
    level are complete before it counts as done (the chunks are aligned to the
    blocks), so reading a level while the build runs never sees a half-written
    chunk. A complete build is renamed into the cache folder and the levels
    switch to it; a stopped build (``steps().close()``, an exception) leaves
    nothing in the cache.

    Attributes
    ----------
    levels : list
        Level 0 (the source's lazy array) and the reduced levels
        (:class:`BuildingLevel` while building, dask arrays when ready-made).
    total, done : int
        Blocks to build, blocks built.
    complete : bool
        True once every level is in the cache (or nothing had to be built).
    """

    def __init__(self, source, level0, n: int, root: Path, folder: Path):
        self.source = source
        self.n = n
        self.root = root
        self.folder = folder
        self.complete = False
        self.started = False
        self._lock = threading.Lock()
        self._tmp = root / f".tmp-{folder.name}-{os.getpid()}-{id(self):x}"
        h, w = source.height, source.width
        self._block = max(BLOCK, 1 << n)  # every level of a block stays chunk aligned
        self._origins = [(y, x) for y in range(0, h, self._block) for x in range(0, w, self._block)]
        self._rows = -(-h // self._block)
        self._cols = -(-w // self._block)
        self._done = np.zeros((self._rows, self._cols), bool)
        self.total = len(self._origins)
        self.done = 0
        self._arrays = None
        self._group = None
        extra = tuple(source.shape[2:])
        self.levels = [level0, *(BuildingLevel(self, k, (h >> k, w >> k) + extra, source.dtype)
                                 for k in range(1, n + 1))]

    @classmethod
    def ready(cls, levels: list) -> PyramidBuild:
        """A build with nothing to do: ``levels`` as they are."""
        self = cls.__new__(cls)
        self.levels = list(levels)
        self.total = self.done = 0
        self.complete = True
        self.started = True
        self.folder = None
        return self

    def final_levels(self) -> list:
        """The levels as lazy dask arrays (once :attr:`complete`)."""
        if not self.complete:
            raise RuntimeError("the pyramid is not built yet")
        import dask.array as da

        return [lv if not isinstance(lv, BuildingLevel) else da.from_zarr(lv._array)
                for lv in self.levels]

    # -- building ------------------------------------------------------------
    def _create(self) -> None:
        import zarr

        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self._tmp, ignore_errors=True)
        src = self.source
        h, w = src.height, src.width
        extra = tuple(src.shape[2:])
        group = zarr.open_group(str(self._tmp), mode="w")
        group.attrs.update({"format": _FORMAT, "source": str(src.path),
                            "shape": list(src.shape), "dtype": str(src.dtype)})
        from zarr.codecs import ZstdCodec

        self._arrays = []
        for k in range(1, self.n + 1):
            chunk = max(1, min(CHUNK, self._block >> k))
            self._arrays.append(group.create_array(
                str(k), shape=(h >> k, w >> k) + extra, chunks=(chunk, chunk) + extra,
                dtype=src.dtype, fill_value=0,
                compressors=[ZstdCodec(level=1)],  # as small as zarr's default level, 2x faster
                config={"write_empty_chunks": True},  # no all-zero check of every chunk written
            ))
        self._group = group
        for level, array in zip(self.levels[1:], self._arrays, strict=True):
            level._array = array

    def _work(self, origin) -> tuple[int, int]:
        y, x = origin
        b, h, w = self._block, self.source.height, self.source.width
        if self._reader is not None:  # one block buffer per thread, reused
            buffer = getattr(self._local, "block", None)
            if buffer is None:
                src = self.source
                buffer = self._local.block = np.empty((b, b) + tuple(src.shape[2:]), src.dtype)
            cur = self._reader.read_region(y, x, min(b, h - y), min(b, w - x), out=buffer)
        else:
            cur = self.source.read_region(y, x, min(b, h - y), min(b, w - x))
        for level, arr in zip(self.levels[1:], self._arrays, strict=True):
            cur = _halve(cur)
            ky, kx = y >> level.k, x >> level.k
            if cur.shape[0] and cur.shape[1]:
                arr[ky : ky + cur.shape[0], kx : kx + cur.shape[1]] = cur
                if level._memory is not None:
                    level._memory[ky : ky + cur.shape[0], kx : kx + cur.shape[1]] = cur
        return origin

    def _mark(self, origin) -> None:
        with self._lock:
            self._done[origin[0] // self._block, origin[1] // self._block] = True
            self.done += 1

    def steps(self):
        """Build the pyramid, yielding ``(done, total)`` blocks: ``(0, total)`` first.

        One thread per core reads and reduces blocks (at most two per thread in
        flight: ~50 MB per 4096 x 4096 RGB uint8 block and its reductions), so a
        slide's complete overview costs about what decoding its tiles on all cores
        costs (``bench/bench_gui.py``). Closing the generator
        (or an exception) stops after the blocks in flight and removes the
        partial build; the levels then read as 0.

        Yields
        ------
        tuple of int
            ``(done, total)``.
        """
        global _builds
        if self.complete:
            return
        if self.started:
            raise RuntimeError("this pyramid build is already running")
        self.started = True
        finished = False
        self._reader = tiff_blocks(self.source)  # a flat tiled TIFF: tifffile's own decode
        self._local = threading.local()
        try:
            self._create()
            yield 0, self.total
            workers = max(1, os.cpu_count() or 2)
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="napari-axons-pyramid") as pool:
                pending = []
                try:
                    for origin in self._origins:
                        pending.append(pool.submit(self._work, origin))
                        if len(pending) >= 2 * workers:
                            self._mark(pending.pop(0).result())
                            yield self.done, self.total
                    while pending:
                        self._mark(pending.pop(0).result())
                        yield self.done, self.total
                finally:
                    for fut in pending:
                        fut.cancel()
            self._group.attrs[_COMPLETE] = True
            self._publish()
            finished = True
            with _builds_lock:
                _builds += 1
        finally:
            if self._reader is not None:
                self._reader.close()
            if not finished:
                with self._lock:  # the partial build goes: its levels read as 0
                    self._done[:] = False
                    for level in self.levels[1:]:
                        if level._memory is not None:
                            level._memory[:] = 0
                shutil.rmtree(self._tmp, ignore_errors=True)

    def _publish(self) -> None:
        """Rename the finished build into the cache; point the levels at it."""
        with self._lock:
            try:
                os.rename(self._tmp, self.folder)
            except OSError:
                if _open_cached(self.folder, self.n) is None:  # not another finished build
                    shutil.rmtree(self.folder, ignore_errors=True)
                    os.rename(self._tmp, self.folder)
                else:
                    shutil.rmtree(self._tmp, ignore_errors=True)
            arrays = _open_cached(self.folder, self.n)
            if arrays is None:
                raise OSError(f"{self.folder}: the pyramid just built cannot be read back")
            for level, array in zip(self.levels[1:], arrays, strict=True):
                level._array = array
            self._done[:] = True
            self.complete = True

    def _read(self, level: BuildingLevel, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels ``[y0:y1, x0:x1]`` of ``level``; blocks not built yet are 0."""
        extra = level.shape[2:]
        if level._memory is not None:  # no lock, no store: pixels show as they are made
            return level._memory[y0:y1, x0:x1].copy()
        with self._lock:
            if self.complete:
                return np.asarray(level._array[y0:y1, x0:x1])
            out = np.zeros((y1 - y0, x1 - x0) + extra, level.dtype)
            if y1 <= y0 or x1 <= x0:
                return out
            side = self._block >> level.k
            for by in range(y0 // side, min(self._rows, -(-y1 // side))):
                for bx in range(x0 // side, min(self._cols, -(-x1 // side))):
                    if not self._done[by, bx]:
                        continue
                    ty0, ty1 = max(y0, by * side), min(y1, (by + 1) * side)
                    tx0, tx1 = max(x0, bx * side), min(x1, (bx + 1) * side)
                    if ty1 > ty0 and tx1 > tx0:
                        out[ty0 - y0 : ty1 - y0, tx0 - x0 : tx1 - x0] = \
                            level._array[ty0:ty1, tx0:tx1]
            return out
