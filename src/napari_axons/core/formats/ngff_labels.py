"""OME-Zarr (NGFF) image labels: class maps written next to an OME-Zarr image and read back.

Layout written by :func:`write_ngff_labels` (ome-zarr-py's
``write_multiscale_labels``, in the image's own NGFF version: 0.4 on Zarr v2,
0.5 on Zarr v3)::

    IMAGE.zarr/labels/              {"labels": [..., NAME]}
    IMAGE.zarr/labels/NAME/         multiscales + image-label metadata
    IMAGE.zarr/labels/NAME/<path>   one uint8 level per level of the image

* one label level per image level, with the image level's ``path``, its
  ``(y, x)`` shape and its coordinate transformations (so the pixel size in
  micrometres and any translation are the image's), the channel axis dropped;
* ``image-label``: ``colors`` (``label-value`` -> RGBA) and ``properties``
  (``label-value`` -> ``class`` name) from the class table, and
  ``source.image = "../../"``;
* values: class indices; each level is the nearest-neighbour sample of the
  class map at the centre of each of its pixels, so every level holds the
  same classes as the mask store, and a downsampled export's masks land on
  the full-resolution pixels they cover.

napari-ome-zarr (ome-zarr-py's ``Reader``) shows them as a Labels layer. The
write is atomic per label group: written under a hidden name, then renamed
into place (an earlier group of that name is replaced only once the new one
is complete).

Reading (:func:`read_ngff_labels`, :func:`ngff_labels_into`): any 2-D image's
labels with values 0-255 become a class map (a mask store in working pixels)
and a class table (names from ``properties``, colours from ``colors``).

ome-zarr is part of the optional extra ``napari-axons[formats]``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from ..common import ClassTable, ExportError
from ..export import choose_slide, load_manifest, open_export_slides
from .ngff_read import NgffError, ome_attrs, open_ngff_image, resample_nearest

__all__ = ["write_ngff_labels", "export_ngff_labels"]












def _lazy_level(source, shape: tuple[int, int], chunk: int):
    import dask.array as da

    h, w = shape
    template = da.zeros((h, w), dtype=np.uint8, chunks=(min(chunk, h), min(chunk, w)))

    def block(_, block_info=None):
        (y0, y1), (x0, x1) = block_info[0]["array-location"]
        return resample_nearest(source, shape, y0, y1, x0, x1)

    return template.map_blocks(block, dtype=np.uint8)


def _image_label(classes: ClassTable) -> dict:
    return {
        "colors": [{"label-value": k, "rgba": [*c, 255]} for k, c in enumerate(classes.colours) if k],
        "properties": [{"label-value": k, "class": n} for k, n in enumerate(classes.names) if k],
        "source": {"image": "../../"},
    }


def write_ngff_labels(image: str | os.PathLike, source, classes: ClassTable, *,
                      name: str = "napari-axons", chunk: int = 1024) -> Path:
    """Write a class map as ``IMAGE/labels/NAME`` with the image's levels and pixel size.

    Parameters
    ----------
    image : path
        An OME-Zarr image (NGFF 0.4 or 0.5, 2-D).
    source : array-like
        ``(H, W)`` uint8 class map of the whole image at any resolution (a
        mask store's level 0 in working pixels, a NumPy array...); read block
        by block, never whole.
    classes : ClassTable
        Names and colours written in ``image-label``.
    name : str
        The label group's name (a plain name, no ``/``).
    chunk : int
        Chunk side of the written levels.

    Returns
    -------
    Path
        ``IMAGE/labels/NAME``.

    Raises
    ------
    NgffError
        Not a 2-D OME-Zarr image, a bad name, or ome-zarr not installed.
    """
    try:
        from ome_zarr.format import FormatV04, FormatV05
        from ome_zarr.writer import write_multiscale_labels
    except ImportError:
        raise NgffError("OME-Zarr labels need ome-zarr: pip install 'napari-axons[formats]'") from None
    import zarr

    if not name or "/" in name or "\\" in name or name.startswith(".") or name == "..":
        raise NgffError(f"{image}: label name {name!r} must be a plain name")
    img = open_ngff_image(image, mode="r+")
    if getattr(source, "ndim", 2) != 2:
        raise NgffError(f"{image}: the class map must be 2-D, got shape {source.shape}")
    fmt = FormatV05() if img.version.startswith("0.5") else FormatV04()
    tmp = f".{name}.napari-axons-tmp"
    labels_dir = img.path / "labels"
    final, staged = labels_dir / name, labels_dir / tmp
    shutil.rmtree(staged, ignore_errors=True)
    pyramid = [_lazy_level(source, shape, chunk) for shape in img.shapes]
    transforms = [img.label_transforms(k) for k in range(len(img.shapes))]
    try:
        write_multiscale_labels(pyramid, img.group, tmp, fmt=fmt, axes=["y", "x"],
                                coordinate_transformations=transforms,
                                label_metadata=_image_label(classes),
                                storage_options={"chunks": (chunk, chunk)})
        # The levels keep the image's level paths.
        staged_group = zarr.open_group(str(staged), mode="r+")
        attrs = dict(staged_group.attrs)
        meta = ome_attrs(attrs)
        for d, src in zip(meta["multiscales"][0]["datasets"], img.datasets, strict=True):
            if d["path"] != src["path"]:
                os.replace(staged / d["path"], staged / f".level-{src['path']}")
        for d, src in zip(meta["multiscales"][0]["datasets"], img.datasets, strict=True):
            if d["path"] != src["path"]:
                os.replace(staged / f".level-{src['path']}", staged / src["path"])
                d["path"] = src["path"]
        meta["multiscales"][0]["name"] = name
        staged_group.attrs.put(attrs)
        old = labels_dir / f".{name}.napari-axons-old"
        if final.exists():
            os.replace(final, old)
        os.replace(staged, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        _set_label_list(labels_dir, drop=tmp)
        raise
    _set_label_list(labels_dir, drop=tmp, add=name)
    return final


def _set_label_list(labels_dir: Path, *, drop: str, add: str | None = None) -> None:
    """Fix ``labels/`` 's list of label names: without ``drop``, with ``add`` once."""
    import zarr

    try:
        group = zarr.open_group(str(labels_dir), mode="r+")
    except Exception:
        return
    attrs = dict(group.attrs)
    meta = ome_attrs(attrs)
    names = [n for n in meta.get("labels", []) if n != drop]
    if add is not None and add not in names:
        names.append(add)
    meta["labels"] = names
    group.attrs.put(attrs)












def export_ngff_labels(export_dir: str | os.PathLike, image: str | os.PathLike | None = None, *,
                       name: str = "napari-axons", base: str | None = None, progress=None) -> Path:
    """Write an export's masks as OME-Zarr labels of its image.

    The export's tiles are composed (later tile wins) into a temporary Zarr
    class map in working pixels, one tile at a time, then written with
    :func:`write_ngff_labels`.

    Parameters
    ----------
    export_dir : path
        An export folder or its manifest.
    image : path, optional
        The OME-Zarr image (default: the export's source, when it is one).

    Raises
    ------
    NgffError, ExportError
    """
    import tempfile

    import zarr

    slide = choose_slide(open_export_slides(export_dir), base, export_dir)
    if not slide.tiles:
        raise ExportError(f"{export_dir}: the export has no masks (tiles only); nothing to convert")
    if image is None:
        manifest = load_manifest(export_dir)
        entry = next(e for e in manifest.images if e.base == slide.base)
        image = entry.source.path
        if not image or not Path(image).is_dir():
            raise NgffError(f"{export_dir}: the export's source is not an OME-Zarr image; give the "
                            "image to write the labels into")
    img = open_ngff_image(image)
    expect = (round(slide.working_shape[0] * slide.scale[0]), round(slide.working_shape[1] * slide.scale[1]))
    if tuple(img.shapes[0]) != tuple(slide.source_shape) and tuple(img.shapes[0]) != expect:
        raise NgffError(f"{image}: the image is {img.shapes[0][1]} x {img.shapes[0][0]} pixels, the "
                        f"export's slide {slide.source_shape[1]} x {slide.source_shape[0]}")
    h, w = slide.working_shape
    with tempfile.TemporaryDirectory(prefix="napari-axons-compose-") as tmp:
        store = zarr.create_array(str(Path(tmp) / "c.zarr"), shape=(h, w), dtype="uint8",
                                  chunks=(min(512, h), min(512, w)), fill_value=0)
        warnings: list[str] = []
        for i, (t, cmap) in enumerate(slide.iter_class_maps(warnings)):
            if cmap is not None:
                y0, x0 = max(t.y, 0), max(t.x, 0)
                y1, x1 = min(t.y + t.height, h), min(t.x + t.width, w)
                store[y0:y1, x0:x1] = cmap[y0 - t.y: y1 - t.y, x0 - t.x: x1 - t.x]
            if progress is not None:
                progress(i + 1, len(slide.tiles))
        return write_ngff_labels(image, store, slide.classes, name=name)
