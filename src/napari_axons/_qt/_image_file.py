"""What a napari image layer holds for the session: its file, or its in-memory pixels."""

from __future__ import annotations

from pathlib import Path

__all__ = ["layer_path", "layer_pixels", "session_key"]


def layer_path(layer) -> Path | None:
    """The image file (or Zarr image) a layer was opened from, if it exists.

    An export opened back: its layer's source is the export folder, the image is
    in the metadata, which is looked at first.
    """
    meta = layer.metadata or {}
    ours = meta.get("napari_axons") if isinstance(meta.get("napari_axons"), dict) else {}
    candidates = [ours.get("path"), meta.get("napari_axons_path"), meta.get("path"),
                  getattr(getattr(layer, "source", None), "path", None)]
    for path in candidates:
        if path and Path(path).exists() and (Path(path).is_file() or _is_zarr(Path(path))):
            return Path(path)
    return None


def layer_pixels(layer):
    """The full-resolution pixels of a layer without a file: numpy, or dask (never copied)."""
    data = layer.data[0] if layer.multiscale else layer.data
    if hasattr(data, "dask") or type(data).__module__.startswith("numpy"):
        return data
    import dask.array as da  # a Zarr or other array-like level: read lazily

    return da.from_array(data, chunks=getattr(data, "chunks", "auto"))


def session_key(layer) -> str:
    """The widget's key for a layer's session: its file, or the layer itself."""
    path = layer_path(layer)
    return str(path) if path is not None else f"layer-{id(layer):x}"


def _is_zarr(path: Path) -> bool:
    """A Zarr folder (an image), not an export folder."""
    return path.suffix.lower() == ".zarr" or any(
        (path / name).exists() for name in (".zgroup", ".zarray", "zarr.json"))
