"""OME-Zarr (NGFF 0.4/0.5) images and their label groups, read: the image's levels, a label group
and its class names, copied into any 2-D target (a mask store) region by region at its own
resolution (nearest neighbour).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common import ClassTable, default_colour

__all__ = ["NgffError", "NgffImage", "NgffLabels", "open_ngff_image", "read_ngff_labels",
           "ngff_labels_into", "ome_attrs", "resample_nearest"]


class NgffError(ValueError):
    """An OME-Zarr image or label group that cannot be used: one line naming it."""


@dataclass
class NgffImage:
    """An OME-Zarr image's multiscale metadata.

    Attributes
    ----------
    path : Path
    version : str
        ``"0.4"`` or ``"0.5"``.
    axes : list of dict
        The image's axes (``{"name", "type"[, "unit"]}``).
    datasets : list of dict
        ``{"path", "coordinateTransformations"}`` per level, full resolution first.
    shapes : list of tuple of int
        ``(height, width)`` per level.
    """

    path: Path
    version: str
    axes: list
    datasets: list
    shapes: list
    group: object

    @property
    def yx(self) -> tuple[int, int]:
        names = [a["name"] for a in self.axes]
        return names.index("y"), names.index("x")

    def label_transforms(self, k: int) -> list[dict]:
        """Level ``k``'s coordinate transformations restricted to ``(y, x)``."""
        iy, ix = self.yx
        out = []
        for t in self.datasets[k].get("coordinateTransformations", []):
            key = t.get("type")
            if key in ("scale", "translation") and isinstance(t.get(key), list):
                out.append({"type": key, key: [float(t[key][iy]), float(t[key][ix])]})
        return out or [{"type": "scale", "scale": [1.0, 1.0]}]

    def pixel_size(self) -> tuple[float, float] | None:
        """Level 0's ``(y, x)`` scale (in the axes' unit, e.g. micrometre), or None."""
        for t in self.label_transforms(0):
            if t["type"] == "scale":
                return tuple(t["scale"])
        return None


def ome_attrs(attrs: dict) -> dict:
    return attrs.get("ome", attrs) if isinstance(attrs.get("ome"), dict) else attrs


def open_ngff_image(path: str | os.PathLike, *, mode: str = "r") -> NgffImage:
    """Open an OME-Zarr image group and check it is 2-D (``y``, ``x``, optionally ``c``).

    Raises
    ------
    NgffError
        Not a Zarr group, no ``multiscales``, or axes other than ``c``, ``y``, ``x``.
    """
    import zarr

    path = Path(path)
    try:
        group = zarr.open_group(str(path), mode=mode)
    except Exception as exc:
        raise NgffError(f"{path}: not an OME-Zarr image ({type(exc).__name__}: {exc})") from None
    attrs = ome_attrs(dict(group.attrs))
    ms = attrs.get("multiscales")
    if not isinstance(ms, list) or not ms or not isinstance(ms[0], dict):
        raise NgffError(f"{path}: not an OME-Zarr image (no 'multiscales' metadata)")
    ms = ms[0]
    version = str(attrs.get("version") or ms.get("version") or "0.4")
    axes = ms.get("axes") or [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    axes = [a if isinstance(a, dict) else {"name": str(a)} for a in axes]
    names = [a.get("name") for a in axes]
    if sorted(n for n in names if n != "c") != ["x", "y"]:
        raise NgffError(f"{path}: axes {names}: only 2-D images (y, x, with or without c) are "
                        "supported")
    datasets = ms.get("datasets") or []
    shapes = []
    for d in datasets:
        try:
            arr = group[d["path"]]
        except Exception:
            raise NgffError(f"{path}: level {d.get('path')!r} listed in multiscales is missing") from None
        shapes.append((int(arr.shape[names.index("y")]), int(arr.shape[names.index("x")])))
    if not shapes:
        raise NgffError(f"{path}: multiscales lists no levels")
    return NgffImage(path, version, axes, datasets, shapes, group)


@dataclass
class NgffLabels:
    """One label group of an OME-Zarr image.

    Attributes
    ----------
    name : str
    levels : list of zarr.Array
        ``(H_k, W_k)`` integer arrays, full resolution first.
    classes : ClassTable
        From ``image-label.properties`` (``class`` or ``name``) and ``colors``;
        values without a name get ``class_K``.
    """

    name: str
    levels: list
    classes: ClassTable


def read_ngff_labels(image: str | os.PathLike, name: str | None = None) -> NgffLabels:
    """Open ``IMAGE/labels/NAME`` (the first label group when ``name`` is None).

    Raises
    ------
    NgffError
        No such label group, not 2-D, or values that are not class indices
        (a dtype wider than 8 bits holding values above 255).
    """
    import zarr

    img = open_ngff_image(image)
    labels_dir = img.path / "labels"
    try:
        names = ome_attrs(dict(zarr.open_group(str(labels_dir), mode="r").attrs)).get("labels", [])
    except Exception:
        names = []
    if name is None:
        if not names:
            raise NgffError(f"{image}: the image has no labels")
        name = names[0]
    if name not in names:
        raise NgffError(f"{image}: no label group {name!r} (it has: {', '.join(names) or 'none'})")
    group = zarr.open_group(str(labels_dir / name), mode="r")
    meta = ome_attrs(dict(group.attrs))
    try:
        datasets = meta["multiscales"][0]["datasets"]
        levels = [group[d["path"]] for d in datasets]
    except Exception:
        raise NgffError(f"{labels_dir / name}: not a multiscale label group") from None
    if levels[0].ndim != 2:
        shape = levels[0].shape
        if levels[0].ndim > 2 and all(s == 1 for s in shape[:-2]):
            levels = [_Squeezed(a) for a in levels]
        else:
            raise NgffError(f"{labels_dir / name}: labels of shape {shape}; only 2-D labels are supported")
    info = meta.get("image-label") or {}
    names_by_value: dict[int, str] = {}
    colours: dict[int, tuple[int, int, int]] = {}
    for p in info.get("properties") or []:
        if isinstance(p, dict) and isinstance(p.get("label-value"), int):
            n = p.get("class", p.get("name"))
            if isinstance(n, str) and n.strip():
                names_by_value[p["label-value"]] = n
    for c in info.get("colors") or []:
        if isinstance(c, dict) and isinstance(c.get("label-value"), int) and isinstance(c.get("rgba"), list):
            colours[c["label-value"]] = tuple(int(v) for v in c["rgba"][:3])
    top = max([*names_by_value, *colours, 1])
    if np.dtype(levels[0].dtype).itemsize > 1 or top > 255:
        top = max(top, _max_value(levels[-1]))
    if top > 255:
        raise NgffError(f"{labels_dir / name}: label values above 255 (at least {top}); napari-axons "
                        "class maps hold class indices 0-255 (instance labels are not class maps)")
    table_names = ["background"]
    for k in range(1, top + 1):
        n = names_by_value.get(k, f"class_{k}")
        table_names.append(n if n not in table_names else f"{n}_{k}")
    table = ClassTable(tuple(table_names),
                       tuple(colours.get(k, default_colour(k)) for k in range(top + 1)))
    return NgffLabels(name, levels, table)


class _Squeezed:
    """A ``(1, ..., H, W)`` array seen as ``(H, W)``."""

    def __init__(self, array):
        self.array = array
        self.shape = tuple(array.shape[-2:])
        self.dtype = array.dtype
        self.ndim = 2

    def __getitem__(self, key):
        return self.array[(0,) * (self.array.ndim - 2) + tuple(key)]


def _max_value(array) -> int:
    return int(np.asarray(array[:, :]).max()) if array.shape[0] and array.shape[1] else 0


def ngff_labels_into(labels: NgffLabels, target, *, chunk: int = 2048) -> int:
    """Copy a label group into a class map of any size, region by region.

    Parameters
    ----------
    labels : NgffLabels
        From :func:`read_ngff_labels`.
    target : array-like
        ``(H, W)`` uint8, written in place (a mask store's level 0 in working
        pixels, or a NumPy array): each pixel takes the label under its centre
        (level 0 resampled, :func:`resample_nearest`).

    Returns
    -------
    int
        Regions written.
    """
    src = labels.levels[0]
    h, w = target.shape[:2]
    n = 0
    for y0 in range(0, h, chunk):
        for x0 in range(0, w, chunk):
            y1, x1 = min(y0 + chunk, h), min(x0 + chunk, w)
            target[y0:y1, x0:x1] = resample_nearest(src, (h, w), y0, y1, x0, x1)
            n += 1
    return n


def resample_nearest(source, shape: tuple[int, int], y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """Rows ``y0:y1`` and columns ``x0:x1`` of ``source`` resampled to ``shape``.

    Pixel ``[i, j]`` of the ``shape``-sized grid takes the source pixel under
    its centre: ``source[floor((i + 0.5) * Hs / H), floor((j + 0.5) * Ws / W)]``.

    Parameters
    ----------
    source : array-like
        ``(Hs, Ws)``, read only in the rows and columns needed.
    shape : tuple of int
        ``(H, W)`` of the resampled grid.
    """
    hs, ws = source.shape[:2]
    h, w = shape
    rows = np.minimum(((np.arange(y0, y1) + 0.5) * hs / h).astype(np.int64), hs - 1)
    cols = np.minimum(((np.arange(x0, x1) + 0.5) * ws / w).astype(np.int64), ws - 1)
    if not len(rows) or not len(cols):
        return np.zeros((len(rows), len(cols)), np.uint8)
    block = np.asarray(source[int(rows[0]): int(rows[-1]) + 1, int(cols[0]): int(cols[-1]) + 1])
    return block[np.ix_(rows - rows[0], cols - cols[0])].astype(np.uint8, copy=False)
