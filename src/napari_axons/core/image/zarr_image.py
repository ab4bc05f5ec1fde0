"""Zarr and OME-Zarr (NGFF 0.1-0.5) images: axes and pixel size from the metadata.

* OME-Zarr 0.5: ``attrs["ome"]["multiscales"]`` (Zarr v3).
* OME-Zarr 0.3-0.4: ``attrs["multiscales"]`` with ``axes`` (0.3: names;
  0.4: ``{"name", "type", "unit"}`` objects) and, from 0.4,
  ``coordinateTransformations`` (the pixel size).
* OME-Zarr 0.1-0.2: ``attrs["multiscales"]`` without ``axes``: every array is
  5-D ``t, c, z, y, x`` by the specification.
* A plain Zarr array, or a group of arrays without ``multiscales``: the rule
  for unnamed axes of :mod:`napari_axons.core.image.source`.
"""

from __future__ import annotations

from pathlib import Path

from ..common import from_ome_zarr
from .axes import reduce_axes, unnamed_axes
from .source import ImageReadError, RegionSource, SourceImage, ZarrPlane, short_error

__all__ = ["open_zarr", "ome_zarr_axes"]

#: OME-Zarr versions whose arrays are always (t, c, z, y, x) and name no axes.
IMPLICIT_TCZYX = ("0.1", "0.2")


def ome_zarr_axes(multiscale: dict, ndim: int) -> str | None:
    """Axis names (lower case, one letter each where the name is one) or None.

    ``None`` means the metadata does not name them (then the rule for unnamed
    axes applies); OME-Zarr 0.1/0.2 multiscales give ``"tczyx"``.
    """
    axes = multiscale.get("axes")
    if axes:
        letters = "".join(_axis_letter(a) for a in axes)
        return letters if len(letters) == ndim else None
    version = str(multiscale.get("version", ""))
    if ndim == 5 and (version in IMPLICIT_TCZYX or not version):
        return "tczyx"
    return None


_TYPE_LETTER = {"channel": "c", "time": "t"}


def _axis_letter(axis) -> str:
    """``t, c, z, y, x`` by name, else ``c``/``t`` by the axis type, else ``q`` (other)."""
    name = str(axis.get("name", "") if isinstance(axis, dict) else axis).lower()
    if name in ("t", "c", "z", "y", "x"):
        return name
    kind = str(axis.get("type", "")).lower() if isinstance(axis, dict) else ""
    return _TYPE_LETTER.get(kind, "q")


def open_zarr(path: Path) -> SourceImage:
    """Open a Zarr array or an (OME-)Zarr group; levels are read chunk by chunk.

    Raises
    ------
    ImageReadError
        Not a Zarr store, or a group without arrays.
    """
    import zarr

    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise ImageReadError(f"{path}: cannot open Zarr ({short_error(exc)})") from exc
    notes: list[str] = []
    pixel_size = None
    multiscale = None
    if isinstance(node, zarr.Array):
        arrays = [node]
    else:
        attrs = dict(node.attrs)
        ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else {}
        ms = attrs.get("multiscales") or ome.get("multiscales")
        if ms:
            multiscale = ms[0]
            paths = [d["path"] for d in multiscale["datasets"]]
        else:
            paths = sorted(node.array_keys(),
                           key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else k))
        if not paths:
            raise ImageReadError(f"{path}: the Zarr group holds no arrays")
        try:
            arrays = [node[p] for p in paths]
        except KeyError as exc:
            raise ImageReadError(f"{path}: multiscales names a missing array {exc}") from exc
    axes = ome_zarr_axes(multiscale, arrays[0].ndim) if multiscale is not None else None
    if multiscale is not None and axes is not None:
        pixel_size = from_ome_zarr(multiscale, list(axes))
    levels = []
    for k, arr in enumerate(arrays):
        ax = (axes or unnamed_axes(arr.shape)).upper()
        index, cax, yx = reduce_axes(ax, arr.shape, path, notes if k == 0 else [])
        levels.append(RegionSource(ZarrPlane(arr, index, cax, yx)))
    return SourceImage(path, "zarr", levels, notes, pixel_size=pixel_size)
