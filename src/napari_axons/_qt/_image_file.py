"""The file behind a napari image layer (the session works on files: fingerprints, exports)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core.io import ImageReadError

__all__ = ["layer_file", "MAX_COPY_BYTES"]

#: Layer data of image layers without a file is saved to the cache up to this size.
MAX_COPY_BYTES = 2 * 2**30


def layer_file(layer, cache_dir: Path) -> Path:
    """The file an image layer was opened from, or a copy of its data saved to ``cache_dir``.

    Raises
    ------
    ImageReadError
        The layer has no file and is larger than :data:`MAX_COPY_BYTES`.
    """
    meta = layer.metadata or {}
    ours = meta.get("napari_axons") if isinstance(meta.get("napari_axons"), dict) else {}
    # an export opened back: its layer's source is the export folder, the image is in metadata
    candidates = [ours.get("path"), meta.get("napari_axons_path"), meta.get("path"),
                  getattr(getattr(layer, "source", None), "path", None)]
    for path in candidates:
        if path and Path(path).exists() and (Path(path).is_file() or _is_zarr(Path(path))):
            return Path(path)
    data = layer.data[0] if layer.multiscale else layer.data
    nbytes = int(np.prod(data.shape)) * np.dtype(data.dtype).itemsize
    if nbytes > MAX_COPY_BYTES:
        raise ImageReadError(
            f"layer {layer.name!r} has no file and is too large to copy "
            f"({nbytes / 2**30:.1f} GiB); open the image through napari-axons instead"
        )
    import tifffile

    cache_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", layer.name).strip("._") or "image"
    out = cache_dir / f"layer-{id(layer):x}" / f"{stem}.tif"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        tmp = out.with_name("." + out.name)
        arr = np.asarray(data)
        tifffile.imwrite(tmp, arr, tile=(256, 256),
                         photometric="rgb" if arr.ndim == 3 and arr.shape[-1] in (3, 4) else None)
        tmp.replace(out)
    return out


def _is_zarr(path: Path) -> bool:
    """A Zarr folder (an image), not an export folder."""
    return path.suffix.lower() == ".zarr" or any(
        (path / name).exists() for name in (".zgroup", ".zarray", "zarr.json"))
