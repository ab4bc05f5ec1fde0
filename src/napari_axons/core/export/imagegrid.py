"""One whole image's class map on an export's tile grid: which image, the working grid, each tile.

For scoring an export against the mask of the whole image it was tiled from
(``napari-axons score out --truth IMG_seg-axonmyelin-manual.png``), or a whole
image's prediction against a labelled export. Three steps:

* :func:`match_image`: which of the export's images the file belongs to. An
  export of **one** image: that image, whatever the file's name. Several: the
  image whose ``base`` (or its source file's stem) begins the file's name,
  followed by the end of the name or by ``_``, ``-`` or ``.`` (the longest
  such name wins: ``IMG_seg-axonmyelin-manual.png`` and ``IMG__labels.json``
  belong to ``IMG``); none, or two images equally long, is an error.
* :func:`on_working_grid`: the class map at the export's **working** size. A
  map of the working image's size is taken as it is; a map of the **source**
  image's size (a lab's masks are; the export may have been tiled with
  ``--downsample`` or ``--target-pixel-size``) is resampled onto the working
  grid, class by class with the largest share winning
  (:func:`~napari_axons.core.geometry.resample_class_map`: both grids' outer
  pixel edges aligned, as the working image itself is resampled); any other
  size is an error.
* :func:`tile_windows`: the part of a tile's box that lies inside the working
  image, as slices of the tile and of the image. The zero padding of a tile
  hanging over the image's border is left out: it is no pixel of the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..geometry import class_map_on_grid
from .manifest import ImageEntry, Manifest
from .tilelist import LABELS_SUFFIX, ExportedTile

__all__ = ["ScoreInputError", "match_image", "on_working_grid", "tile_windows"]

#: What may follow an image's name in the name of a file that belongs to it.
_SEPARATORS = "_-."


class ScoreInputError(ValueError):
    """The two sides cannot be compared (one line naming the file and the problem)."""


def _stem(path: Path) -> str:
    name = path.name
    if name.endswith(LABELS_SUFFIX):
        return name[: -len(LABELS_SUFFIX)]
    return path.stem


def _names(img: ImageEntry) -> set[str]:
    return {n for n in (img.base, Path(img.source.name).stem) if n}


def match_image(manifest: Manifest, export: Path, file: Path) -> ImageEntry:
    """The image of ``manifest`` that ``file`` (a whole image's mask or label file) belongs to.

    Parameters
    ----------
    manifest : Manifest
        The export's manifest.
    export : Path
        The export as given (for messages).
    file : Path
        The single image's file; its name picks the image when the export has several.

    Returns
    -------
    ImageEntry

    Raises
    ------
    ScoreInputError
        An export without images; several images and no single one whose name
        begins the file's name.
    """
    images = manifest.images
    if not images:
        raise ScoreInputError(f"{export}: the export holds no image")
    if len(images) == 1:
        return images[0]
    stem = _stem(file)
    best, length = [], 0
    for img in images:
        for name in _names(img):
            rest = stem[len(name):]
            if stem.startswith(name) and (not rest or rest[0] in _SEPARATORS):
                if len(name) > length:
                    best, length = [img], len(name)
                elif len(name) == length and img not in best:
                    best.append(img)
    if len(best) == 1:
        return best[0]
    bases = [img.base for img in images]
    listed = ", ".join(bases[:5]) + (", ..." if len(bases) > 5 else "")
    raise ScoreInputError(
        f"{file}: cannot tell which of the {len(images)} images of {export} it belongs to "
        f"({listed}); name it after one of them (e.g. {bases[0]}_mask.png), or score an "
        "export of that image alone")


def on_working_grid(cmap: np.ndarray, img: ImageEntry, export: Path,
                    file: Path) -> tuple[np.ndarray, str | None]:
    """``cmap`` (the whole image's class map) at the working image's size, and a note if resampled.

    Parameters
    ----------
    cmap : numpy.ndarray
        ``(H, W)`` uint8 class map of the whole image.
    img : ImageEntry
        The export's image it belongs to.
    export, file : Path
        The export and the class map's file (for messages).

    Returns
    -------
    class_map : numpy.ndarray
        ``(working height, working width)`` uint8.
    note : str or None
        One line when the map was resampled from the source size.

    Raises
    ------
    ScoreInputError
        A map neither of the working nor of the source image's size.
    """
    working = (img.working.height, img.working.width)
    source = (img.source.height, img.source.width)
    on_grid = class_map_on_grid(cmap, source, working)
    if on_grid is None:
        sizes = (f"{working[1]} x {working[0]} px" if working == source else
                 f"{source[1]} x {source[0]} px (source) and {working[1]} x {working[0]} px as tiled")
        raise ScoreInputError(f"{file} is {cmap.shape[1]} x {cmap.shape[0]} px but image "
                              f"{img.base} of {export} is {sizes}")
    out, resampled = on_grid
    if not resampled:
        return out, None
    how = f"downsample {img.working.downsample}" if img.working.downsample != 1 else "resampled"
    return out, (f"{file} is {source[1]} x {source[0]} px, the size of the source image "
                 f"{img.source.name}: mapped onto the {working[1]} x {working[0]} px image "
                 f"the export tiled ({how}), each pixel the class with the largest share")


def tile_windows(tile: ExportedTile, shape: tuple[int, int]
                 ) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """Slices of ``tile`` and of the working image (``shape``) where the tile holds image pixels.

    Returns None when the tile's box lies wholly outside the image.
    """
    y0, x0 = max(tile.y, 0), max(tile.x, 0)
    y1, x1 = min(tile.y + tile.height, shape[0]), min(tile.x + tile.width, shape[1])
    if y1 <= y0 or x1 <= x0:
        return None
    return ((slice(y0 - tile.y, y1 - tile.y), slice(x0 - tile.x, x1 - tile.x)),
            (slice(y0, y1), slice(x0, x1)))
