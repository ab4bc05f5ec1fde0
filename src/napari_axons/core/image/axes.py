"""The axes rule: which axes of an n-D image are y, x and colour, and which plane is used.

Axes rule (the same for every format): images are exposed as ``(y, x)`` or
``(y, x, c)``.

* Axis names come from the file: OME-TIFF / ImageJ / tifffile metadata,
  OME-Zarr ``multiscales`` (0.3 and later name their axes; 0.1 and 0.2 are
  always ``t, c, z, y, x``), and a Zarr array's own names (Zarr v3
  ``dimension_names``, Zarr v2 ``_ARRAY_DIMENSIONS`` as xarray writes them).
  Named axes win over the rule below: ``["c", "y", "x"]`` is a colour image,
  ``["y", "x", "z"]`` three z-planes (the first is used, with a note).
* Files without axis names (plain Zarr arrays, plain TIFF stacks): the last two
  axes are ``y, x``, except that a last axis of 3 or 4 entries is the colour
  axis and the two before it are ``y, x``. A TIFF's samples (RGB) axis is known
  from the file itself.
* The colour axis is the TIFF samples axis, else the channel axis ``c``.
* Every other axis (time, z, a page of a stack, an unnamed one) is reduced to
  its *first* plane, and :attr:`SourceImage.notes` says so.
"""

from __future__ import annotations

from pathlib import Path

from .source import ImageReadError

__all__ = ["UNNAMED_AXES", "unnamed_axes", "reduce_axes"]


#: Axis letters that mean "not named by the file" (tifffile: Q unknown, I pages).
UNNAMED_AXES = "QI"


def unnamed_axes(shape: tuple[int, ...]) -> str:
    """Axis letters for an array whose file does not name them (the module's rule).

    The last two axes are ``Y, X``; a last axis of 3 or 4 entries after two
    others is the colour axis ``S``; all leading axes are ``Q`` (unnamed).
    """
    n = len(shape)
    if n < 2:
        return "Q" * n
    if n >= 3 and shape[-1] in (3, 4):
        return "Q" * (n - 3) + "YXS"
    return "Q" * (n - 2) + "YX"


def reduce_axes(axes: str, shape: tuple[int, ...], path: Path, notes: list[str],
                labels: list[str] | None = None):
    """Map an axes string to ``(index template, channel axis, (y, x) axes)``.

    ``axes`` has one letter per axis (upper or lower case); ``S`` (samples) or
    ``C`` (channels) is the colour axis; other letters than ``Y``/``X`` are
    reduced to their first plane, with a note (naming each axis by its
    ``labels`` entry when given, else by its letter).
    """
    axes = axes.upper()
    if "Y" not in axes or "X" not in axes:
        raise ImageReadError(f"{path}: no Y/X axes in the image (axes {axes!r})")
    chan = "S" if "S" in axes else ("C" if "C" in axes else None)
    index: list = []
    dropped = []
    for i, a in enumerate(axes):
        if a in "YX" or a == chan:
            index.append(None)
        else:
            index.append(0)
            if shape[i] > 1:
                dropped.append(f"{labels[i] if labels else a}={shape[i]}")
    if dropped:
        note = (f"{path.name}: {len(dropped)} extra axis/axes ({', '.join(dropped)}): "
                "using the first plane only")
        if any(a in UNNAMED_AXES for a in axes):
            note += " (axes not named in the file: the last two are y, x)"
        notes.append(note)
    cax = axes.index(chan) if chan else None
    return tuple(index), cax, (axes.index("Y"), axes.index("X"))
