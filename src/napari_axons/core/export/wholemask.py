"""Whole-image masks as an export's labels: ``napari-axons tile IMAGE --masks MASK``.

A lab's existing ground truth (AxonDeepSeg's ``*_seg-axonmyelin*.png`` masks,
grey or palette masks of class indices, 0/255 masks) is cut on the export's
grid like a segmentation: every tile gets its part as ``masks/{stem}_mask.png``
and ``{stem}__labels.json`` with ``source: "manual"``, so the export trains a
model (``napari-axons train``), is scored against (``napari-axons score``) or is
opened in napari to correct.

* **One mask per image** (:func:`~napari_axons.core.labels.read_mask_image`
  reads it), the size of the image (source pixels) or of the working image
  (after ``--downsample`` or ``--target-pixel-size``). A source-size mask is
  resampled onto the working grid by class shares
  (:func:`~napari_axons.core.geometry.resample_class_map`: thin myelin rings
  keep their shape). Any other size is an error naming the file and both sizes.
* **Classes by name** (:func:`mask_classes`): AxonDeepSeg's levels are
  ``myelin`` (127) and ``axon`` (255), in AxonDeepSeg's (and the built-in
  model's) order; masks of plain class indices take the names given (index 1
  first: ``--classes axon,myelin``); a 0/255 mask is the one class
  ``label_class``, except AxonDeepSeg's own ``*_seg-axon.png`` and
  ``*_seg-myelin.png``, which are ``axon`` and ``myelin``. Given names set the export's table, in that order.
* The zero padding of a tile hanging over the image's border is background.
* Resume: the manifest's ``segmenter`` block records each mask's file name and
  SHA-256; resuming with other masks is refused.

Memory: each mask is held whole, one byte per pixel on the working grid (a
20000 x 20000 slide: 400 MB), once per process; resampling a source-size mask
needs about 5 bytes per source pixel per class for a moment (one float plane per
class), so a whole-slide mask under ``--downsample`` wants a machine with room
for it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..common import ClassTable
from ..geometry import TileBox, class_map_on_grid
from ..labels import AXONDEEPSEG_SUFFIXES, ClassMaskError, MaskImage, read_mask_image

__all__ = ["MASKS_SEGMENTER", "WholeMaskReader", "binary_class", "mask_classes", "misplaced_mask"]

#: ``segmenter.name`` in the manifest of an export whose labels came from masks.
MASKS_SEGMENTER = "masks"


def binary_class(path: Path, label_class: str) -> str:
    """The class of a 0/255 mask: AxonDeepSeg's ``*_seg-axon.png`` / ``*_seg-myelin.png``
    name theirs; any other is ``label_class``."""
    name = Path(path).name.lower()
    for cls in ("axon", "myelin"):
        if name.endswith(AXONDEEPSEG_SUFFIXES[cls]):
            return cls
    return label_class


def mask_classes(masks: Sequence[tuple[Path, MaskImage]], names: Sequence[str] | None,
                 label_class: str) -> tuple[ClassTable, list[np.ndarray]]:
    """The export's class table and, per mask, the lookup table from its values to the table's.

    Parameters
    ----------
    masks : sequence of (Path, MaskImage)
        Each mask file and what :func:`~napari_axons.core.labels.read_mask_image` read.
    names : sequence of str, optional
        Foreground class names, index 1 first: the names of plain index masks,
        and the export's table in that order. Default: AxonDeepSeg's
        ``myelin, axon`` where a mask has those levels, ``label_class`` for
        0/255 masks.
    label_class : str
        The class of a 0/255 mask (when ``names`` is not given, or is one name).

    Returns
    -------
    table : ClassTable
    luts : list of numpy.ndarray
        ``(256,)`` uint8 per mask: ``lut[value]`` is the table's class index.

    Raises
    ------
    ClassMaskError
        One line naming the file: a mask of class indices with no names given,
        a value the names do not cover, or a named class the given names lack.
    """
    if names:
        table = ClassTable.from_names(list(names))
    else:
        wanted: list[str] = []
        for path, m in masks:
            if m.names is not None:
                wanted += list(m.names[1:])
            elif m.rule == "binary":
                wanted.append(binary_class(path, label_class))
            elif (top := int(m.class_map.max(initial=0))) > 0:  # all background: no names needed
                raise ClassMaskError(
                    f"{path}: holds class indices (up to {top}) with no names; give their names "
                    "with --classes NAME,... (class 1 first)")
        table = ClassTable.from_names(list(dict.fromkeys(wanted)) or [label_class])
    luts = []
    for path, m in masks:
        lut = np.zeros(256, np.uint8)
        if m.names is not None:
            for k, name in enumerate(m.names[1:], start=1):
                if name not in table.names:
                    raise ClassMaskError(f"{path}: holds class {name!r} (AxonDeepSeg's levels), "
                                         f"not among --classes {', '.join(table.foreground)}")
                lut[k] = table.index_of(name)
        elif m.rule == "binary":
            own = binary_class(path, label_class)
            one = own if own in table.names else table.names[1]
            if len(table) > 2 and own not in table.names:
                raise ClassMaskError(f"{path}: a 0/255 mask holds one class; {own!r} is not "
                                     f"among --classes {', '.join(table.foreground)}")
            lut[1] = table.index_of(one)
        else:
            top = int(m.class_map.max(initial=0))
            if top >= len(table):
                raise ClassMaskError(f"{path}: holds class {top}, but --classes names "
                                     f"{len(table) - 1} class{'es' if len(table) > 2 else ''} "
                                     f"({', '.join(table.foreground)})")
            lut[: len(table)] = np.arange(len(table), dtype=np.uint8)
        luts.append(lut)
    return table, luts


def misplaced_mask(images: Sequence[str | os.PathLike], masks: Sequence[str | os.PathLike]
                   ) -> list[str]:
    """One line per mask named after another of ``images`` than the one it is given for.

    A mask belongs to the image whose file stem is the longest prefix of the
    mask's name (``a.png`` / ``a_seg-axonmyelin.png``); masks named after no
    image are not judged.
    """
    stems = [Path(i).name.split(".")[0] for i in images]
    lines = []
    for k, (image, mask) in enumerate(zip(images, masks, strict=True)):
        name = Path(mask).name
        if name.startswith(stems[k]):
            continue
        named = [j for j, st in enumerate(stems) if st and name.startswith(st)]
        if named:
            j = max(named, key=lambda j: len(stems[j]))
            lines.append(f"{mask}: named after {Path(images[j]).name} but given for "
                         f"{Path(image).name} (--masks go in the order of the IMAGEs)")
    return lines


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class WholeMaskReader:
    """A picklable ``mask_reader(plan, box)``: each image's whole mask, cut by the tile's box.

    Parameters
    ----------
    masks : dict
        ``{image path: (mask path, lut)}``; image paths as the export was given
        them (compared resolved); ``lut`` from :func:`mask_classes`.

    Notes
    -----
    Call :meth:`fit` with each image's plan before the export runs: it reads
    the mask, checks its size and keeps it on the working grid (errors come
    then, before anything is written). Only the paths and lookup tables are
    pickled; a process that has not fitted a plan (a dask worker) fits it at
    its first tile.
    """

    def __init__(self, masks: dict[str | os.PathLike, tuple[str | os.PathLike, np.ndarray]]):
        self.masks = {str(Path(image).resolve()): (str(Path(mask).resolve()), np.asarray(lut))
                      for image, (mask, lut) in masks.items()}
        self._maps: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._info: dict | None = None

    def __getstate__(self) -> dict:
        return {"masks": self.masks}

    def __setstate__(self, state: dict) -> None:
        self.masks = state["masks"]
        self._maps = {}
        self._lock = threading.Lock()
        self._info = None

    def has_mask(self, plan) -> bool:
        """Whether a mask was given for ``plan``'s image."""
        return str(Path(plan.path).resolve()) in self.masks

    def _entry(self, plan) -> tuple[str, tuple[str, np.ndarray]]:
        key = str(Path(plan.path).resolve())
        if key not in self.masks:
            raise ClassMaskError(f"{plan.path}: no mask was given for this image")
        return key, self.masks[key]

    def fit(self, plan, read: MaskImage | None = None) -> str | None:
        """Read the mask of ``plan``'s image onto its working grid; a note when resampled.

        ``read``: the mask as :func:`~napari_axons.core.labels.read_mask_image`
        already read it (the file is then not read again).

        Raises
        ------
        ClassMaskError
            An unreadable mask, or one neither of the image's nor of the working
            image's size (one line naming both files and sizes).
        """
        key, (mask, lut) = self._entry(plan)
        with self._lock:
            if key in self._maps:
                return None
            cmap = lut[(read or read_mask_image(mask)).class_map]
            working = (plan.working.height, plan.working.width)
            source = (plan.source.height, plan.source.width)
            on_grid = class_map_on_grid(cmap, source, working)
            if on_grid is None:
                sizes = (f"{source[1]} x {source[0]} px" if source == working else
                         f"{source[1]} x {source[0]} px (or {working[1]} x {working[0]} px "
                         "as exported)")
                raise ClassMaskError(f"{mask}: is {cmap.shape[1]} x {cmap.shape[0]} px but its "
                                     f"image {plan.path} is {sizes}")
            self._maps[key], resampled = on_grid
            if not resampled:
                return None
            return (f"{mask}: resampled from the image's {source[1]} x {source[0]} px to the "
                    f"export's {working[1]} x {working[0]} px")

    def __call__(self, plan, box: TileBox) -> np.ndarray:
        """The tile's ``(box.height, box.width)`` uint8 class map (0 outside the image)."""
        key, _ = self._entry(plan)
        if key not in self._maps:
            self.fit(plan)
        cmap = self._maps[key]
        out = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(*cmap.shape)
        out[ys, xs] = cmap[box.y + ys.start: box.y + ys.stop, box.x + xs.start: box.x + xs.stop]
        return out

    def info(self) -> dict:
        """The manifest's ``segmenter`` block: each mask's file name and SHA-256 (compared on resume)."""
        if self._info is None:
            self._info = {"name": MASKS_SEGMENTER,
                          "masks": [{"image": Path(image).name, "file": Path(mask).name,
                                     "sha256": _sha256(Path(mask))}
                                    for image, (mask, _) in sorted(self.masks.items())]}
        return self._info
