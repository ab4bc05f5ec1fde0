"""Files written and named safely.

Atomic writes with the umask's permissions, safe and unique base names, paths
kept inside their folder, a fast content fingerprint. Every file of an export
(or of any other output) is written to a hidden temporary name in its folder and
renamed into place (:func:`atomic_write_bytes`), so a reader never sees half a
file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

__all__ = ["TMP_PREFIX", "ExportError", "umask", "atomic_write_bytes", "atomic_text", "safe_base_name",
           "unique_base_names", "sampled_file_hash", "safe_child"]

TMP_PREFIX = ".napari-axons-tmp-"


class ExportError(OSError):
    """The export folder cannot be written; the message names the path and the problem."""


def umask() -> int:
    """The process's umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:  # elsewhere: set and restore (no other thread changes it meanwhile)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename.

    The file gets the permissions a plain ``open(path, "w")`` would give it
    (``0o666`` less the umask), not the owner-only mode of a temporary file, so
    a shared lab folder or a Django-Labeller server can read it.

    Raises
    ------
    ExportError
        When the folder is not writable or the disk is full; no partial file is left.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from exc


@contextmanager
def atomic_text(path: str | Path, *, newline: str | None = None) -> Iterator:
    """A text file (UTF-8) written through a temporary file and renamed into place on success.

    For files written piece by piece (a streamed GeoJSON, a CSV): a reader never
    sees half a file, a failure leaves none, and the file gets the permissions a
    plain ``open(path, "w")`` gives (``0o666`` less the umask).

    Raises
    ------
    ExportError
        The folder is not writable or the disk is full (no partial file is left).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=path.parent)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~umask())
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, ExportError):
            raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        raise


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_base_name(path: str | Path) -> str:
    """The seed's base name (``splitext(basename)[0]``), made safe for a file name.

    Path separators, control characters and characters Windows forbids become
    ``_``; the name is NFC-normalised; leading dots are dropped (no hidden files,
    no ``..``); an empty result becomes ``image``.

    Examples
    --------
    >>> safe_base_name("/data/slide 1.ome.tif")
    'slide 1.ome'
    >>> safe_base_name("../..\\\\evil.png")
    'evil'
    """
    name = os.path.basename(str(path).rstrip("/\\"))
    name = re.split(r"[/\\]", name)[-1]
    stem = os.path.splitext(name)[0]
    stem = unicodedata.normalize("NFC", stem)
    stem = _UNSAFE.sub("_", stem).lstrip(". ").rstrip(" ")
    return stem[:200] or "image"


def unique_base_names(paths) -> list[str]:
    """Base names for several inputs; repeats get ``-2``, ``-3``... in input order.

    Names are compared case-insensitively (two inputs must not share files on
    a case-insensitive file system), and a suffixed name never takes a name
    that another input already has.

    Examples
    --------
    >>> unique_base_names(["a/x.png", "b/x.png", "y.tif"])
    ['x', 'x-2', 'y']
    >>> unique_base_names(["x.png", "b/x.png", "x-2.png"])
    ['x', 'x-2', 'x-2-2']
    """
    used: set[str] = set()
    out = []
    for p in paths:
        base = candidate = safe_base_name(p)
        n = 1
        while candidate.casefold() in used:
            n += 1
            candidate = f"{base}-{n}"
        used.add(candidate.casefold())
        out.append(candidate)
    return out


def sampled_file_hash(path: Path, *, block: int = 1 << 20, n_blocks: int = 16) -> str:
    """A fast content fingerprint: BLAKE2b of the size and ``n_blocks`` evenly spaced blocks.

    Hashing a 40000 x 40000 slide whole would cost more than tiling it; this
    reads at most 16 MiB and changes with any edit that touches a sampled block
    or the size. For a folder (Zarr), the metadata files are hashed.
    """
    path = Path(path)
    h = hashlib.blake2b(digest_size=16)
    if path.is_dir():
        for meta in sorted(path.rglob("*")):
            if meta.relative_to(path).parts[:1] == ("labels",):
                continue  # OME-Zarr labels written next to the image do not change the image
            if meta.name in ("zarr.json", ".zarray", ".zattrs", ".zgroup"):
                h.update(str(meta.relative_to(path)).encode())
                h.update(meta.read_bytes())
        return "blake2b-meta:" + h.hexdigest()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        if size <= block * n_blocks:
            h.update(fh.read())
        else:
            for off in np.linspace(0, size - block, n_blocks).astype(np.int64):
                fh.seek(int(off))
                h.update(fh.read(block))
    return "blake2b-sampled:" + h.hexdigest()


def safe_child(root: Path, relative, *, what: str = "file", error=ExportError) -> Path:
    """``root / relative``, refusing names that would leave ``root``.

    Raises
    ------
    ExportError (or ``error``)
        Absolute names, drive letters, ``..`` components, empty names, or a
        path that resolves (through links) outside ``root``.
    """
    if not isinstance(relative, str) or not relative.strip() or "\x00" in relative:
        raise error(f"{root}: invalid {what} name {relative!r}")
    posix, win = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or win.is_absolute() or win.drive or relative.startswith(("/", "\\")):
        raise error(f"{root}: {what} name {relative!r} is absolute; only names inside the "
                    "export folder are allowed")
    if ".." in posix.parts or ".." in win.parts:
        raise error(f"{root}: {what} name {relative!r} leaves the export folder ('..')")
    real_root = root.resolve()
    target = (root / relative).resolve()
    if target != real_root and real_root not in target.parents:
        raise error(f"{root}: {what} name {relative!r} leads outside the export folder")
    return target
