"""Which image of a multi-image TIFF is the slide: the vendor readers' rule, or the user's choice.

A TIFF may hold several image series (tifffile's ``TiffFile.series``): a
whole-slide scan with its associated images, or unrelated images. The main
image is chosen as OpenSlide and tiffslide choose it:

* associated images are never the main image: tifffile names them
  ``Thumbnail``, ``Label``, ``Macro``, ``Map``, ``Overview`` or ``Preview``
  (Aperio SVS, Hamamatsu NDPI, Philips, Ventana), Bio-Formats ``macro image``,
  ``label image``;
* Leica SCN: an ``<image>`` whose view covers the whole collection is the
  macro overview (OpenSlide's rule), even when it is the collection's first
  image (the layout of Bayer-Group/tiffslide#21);
* of the images left, the first (OpenSlide's generic TIFF reader and
  tiffslide read the first).

When more than one image is left, a note lists every series and says which
one is used; ``series=N`` (``--series N``) picks another. An index out of range
is an error that lists the series.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .source import ImageReadError

__all__ = ["choose_series", "series_listing"]

_ASSOCIATED = re.compile(r"^(thumbnail|label|macro|map|overview|preview)( image)?$", re.I)


def _size(s) -> str:
    shape = dict(zip(s.axes, s.shape, strict=False))
    w, h = shape.get("X"), shape.get("Y")
    return f"{w} x {h}" if w and h else " x ".join(str(v) for v in s.shape)


def series_listing(tif, roles: dict[int, str] | None = None) -> str:
    """``0: 'image_1' 200 x 400 (macro), 1: ...``: every series of ``tif``."""
    roles = roles or {}
    parts = []
    for k, s in enumerate(tif.series):
        name = f" {s.name!r}" if s.name else ""
        role = f" ({roles[k]})" if k in roles else ""
        parts.append(f"{k}:{name} {_size(s)}{role}")
    return ", ".join(parts)


def _scn_macros(tif) -> set[str]:
    """Names of the Leica SCN images whose view covers the whole collection."""
    try:
        root = ET.fromstring(tif.pages[0].description)
    except (ET.ParseError, AttributeError, IndexError, TypeError):
        return set()
    out = set()
    for coll in root.iter():
        if not coll.tag.endswith("collection"):
            continue
        cx, cy = coll.get("sizeX"), coll.get("sizeY")
        for image in coll:
            if not image.tag.endswith("image"):
                continue
            view = next((v for v in image if v.tag.endswith("view")), None)
            if view is not None and (view.get("sizeX"), view.get("sizeY")) == (cx, cy):
                out.add(image.get("name") or "")
    return out


def _roles(tif) -> dict[int, str]:
    """Series index -> ``"macro"``/``"label"``/... for the associated images."""
    roles = {}
    macros = _scn_macros(tif) if getattr(tif, "is_scn", False) else set()
    for k, s in enumerate(tif.series):
        name = (s.name or "").strip()
        if _ASSOCIATED.match(name):
            roles[k] = name.split()[0].lower()
        elif name and name in macros:
            roles[k] = "macro"
    return roles


def choose_series(tif, path: Path, series: int | None, notes: list[str]) -> int:
    """The index of the series to read (see the module docstring).

    Parameters
    ----------
    tif : tifffile.TiffFile
    path : Path
        For messages.
    series : int or None
        The user's choice; None: the main image.
    notes : list of str
        Receives one line when several images could be the slide.

    Raises
    ------
    ImageReadError
        ``series`` out of range (the message lists the series).
    """
    n = len(tif.series)
    roles = _roles(tif)
    if series is not None:
        if isinstance(series, bool) or not 0 <= int(series) < n:
            raise ImageReadError(f"{path}: no image series {series}; the file has {n}: "
                                 f"{series_listing(tif, roles)}")
        return int(series)
    candidates = [k for k in range(n) if k not in roles] or [0]
    main = candidates[0]
    if len(candidates) > 1:
        notes.append(f"{path.name}: {n} image series ({series_listing(tif, roles)}); using series "
                     f"{main}; choose another with --series N")
    return main
