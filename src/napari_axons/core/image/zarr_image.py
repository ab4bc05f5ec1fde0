"""Zarr and OME-Zarr (NGFF 0.1-0.5) images: axes and pixel size from the metadata.

* OME-Zarr 0.5: ``attrs["ome"]["multiscales"]`` (Zarr v3).
* OME-Zarr 0.3-0.4: ``attrs["multiscales"]`` with ``axes`` (0.3: names;
  0.4: ``{"name", "type", "unit"}`` objects) and, from 0.4,
  ``coordinateTransformations`` (the pixel size).
* OME-Zarr 0.1-0.2: ``attrs["multiscales"]`` without ``axes``: every array is
  5-D ``t, c, z, y, x`` by the specification.
* A Zarr array that names its axes (Zarr v3 ``dimension_names``, Zarr v2
  ``_ARRAY_DIMENSIONS``, the xarray convention; :func:`named_axes`): those
  names (``y``/``x``, ``c``/``channel``/``band``, ``z``, ``t``...), when they
  name one ``y`` and one ``x``. In a group without ``multiscales`` (an xarray
  dataset) 1-D arrays (coordinates) are not images.
* Otherwise (a plain Zarr array, a group of arrays without ``multiscales``):
  the rule for unnamed axes of :mod:`napari_axons.core.image.axes`.
"""

from __future__ import annotations

from pathlib import Path

from ..common import from_ome_zarr
from .axes import reduce_axes, unnamed_axes
from .source import ImageReadError, RegionSource, SourceImage, ZarrPlane, short_error

__all__ = ["open_zarr", "ome_zarr_axes", "named_axes"]

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
    """``t, c, z, y, x`` by name, else ``c``/``t`` by the axis type, else ``o`` (another
    named axis: reduced to its first plane, named in the note)."""
    name = str(axis.get("name", "") if isinstance(axis, dict) else axis).lower()
    if name in ("t", "c", "z", "y", "x"):
        return name
    kind = str(axis.get("type", "")).lower() if isinstance(axis, dict) else ""
    return _TYPE_LETTER.get(kind, "o")


def _ome_labels(multiscale: dict, letters: str) -> list[str]:
    """Names for notes: the letter of a known axis, else the axis's own name."""
    axes = multiscale.get("axes") or []
    names = [str(a.get("name", "") if isinstance(a, dict) else a) for a in axes]
    if len(names) != len(letters):
        return [a.upper() for a in letters]
    return [n if a == "o" else a.upper() for n, a in zip(names, letters, strict=True)]


#: Axis names -> the axes rule's letters (lower case, after trimming ``_``/spaces).
_NAME_LETTER = {
    **dict.fromkeys(("y", "row", "rows", "height"), "y"),
    **dict.fromkeys(("x", "col", "cols", "column", "columns", "width"), "x"),
    **dict.fromkeys(("c", "ch", "channel", "channels", "band", "bands", "colour", "color",
                     "colours", "colors", "rgb", "rgba", "s", "sample", "samples"), "c"),
    **dict.fromkeys(("z", "depth", "slice", "slices", "plane", "planes", "focal"), "z"),
    **dict.fromkeys(("t", "time", "frame", "frames"), "t"),
}


def named_axes(arr) -> tuple[str, list[str]] | None:
    """``(letters, labels)`` from a Zarr array's own axis names, or None.

    Zarr v3 ``dimension_names``, else Zarr v2 ``_ARRAY_DIMENSIONS``. A name
    the axes rule knows becomes its letter (``"channel"`` -> ``c``); any other
    is ``o`` (another axis, reduced to its first plane) and keeps its name in
    notes. None when there are no names, or they do not name exactly one
    ``y`` and one ``x`` (and at most one colour axis): the rule for unnamed
    axes applies then.
    """
    names = getattr(getattr(arr, "metadata", None), "dimension_names", None)
    if not names:
        try:
            names = arr.attrs.get("_ARRAY_DIMENSIONS")
        except Exception:  # unreadable attributes: as if unnamed
            names = None
    if not isinstance(names, (list, tuple)) or len(names) != arr.ndim:
        return None
    if not all(isinstance(n, str) and n.strip() for n in names):
        return None
    letters = "".join(_NAME_LETTER.get(n.strip(" _").lower(), "o") for n in names)
    if letters.count("y") != 1 or letters.count("x") != 1 or letters.count("c") > 1:
        return None
    labels = [n.strip() if a == "o" else a.upper() for n, a in zip(names, letters, strict=True)]
    return letters, labels


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
            if any(named_axes(node[p]) for p in paths):  # an xarray dataset: coordinates are 1-D
                paths = [p for p in paths if node[p].ndim >= 2]
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
        named = named_axes(arr) if axes is None else (axes, _ome_labels(multiscale, axes))
        ax = (axes or (named[0] if named else unnamed_axes(arr.shape))).upper()
        index, cax, yx = reduce_axes(ax, arr.shape, path, notes if k == 0 else [],
                                     named[1] if named else None)
        levels.append(RegionSource(ZarrPlane(arr, index, cax, yx)))
    return SourceImage(path, "zarr", levels, notes, pixel_size=pixel_size)
