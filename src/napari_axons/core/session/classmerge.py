"""One class table per image: other tables are merged into it by name, never shrinking it.

A segmenter, a loaded export, a GeoJSON file or a trained model each bring their
own :class:`~napari_axons.core.common.ClassTable`. The session keeps one table
for its image; :func:`merge_classes` adds the names it lacks (in the incoming
table's colours, appended, so indices already used never change) and gives the
look-up table that maps the incoming indices onto the session's.
:func:`map_class_map` applies it and refuses a value that neither table knows,
with one line naming where it came from and the values, instead of folding it
into some class.
"""

from __future__ import annotations

import numpy as np

from ..common import ClassTable
from .rules import SessionError

__all__ = ["merge_classes", "map_class_map", "unknown_values", "UNKNOWN"]

#: The LUT entry of an incoming value the incoming table has no class for.
UNKNOWN = -1


def merge_classes(base: ClassTable, incoming: ClassTable) -> tuple[ClassTable, np.ndarray, list[str]]:
    """``base`` plus the classes of ``incoming`` it lacks, and the LUT from ``incoming`` to it.

    Parameters
    ----------
    base : ClassTable
        The session's table (never shrunk, its indices never change).
    incoming : ClassTable
        A segmenter's, an export's, a file's table. Its background (index 0) is
        the session's background, whatever its name.

    Returns
    -------
    table : ClassTable
        ``base`` with the names of ``incoming`` it lacks appended (their colours
        kept); ``base`` itself when it lacks none.
    lut : (256,) int16 ndarray
        ``lut[k]`` is the index in ``table`` of ``incoming``'s class ``k``;
        :data:`UNKNOWN` for values ``incoming`` has no class for. With one
        foreground class, 255 maps as class 1 does (an old 0/255 mask).
    added : list of str
        The names appended.
    """
    names, colours = list(base.names), list(base.colours)
    added = []
    for name, colour in zip(incoming.names[1:], incoming.colours[1:], strict=True):
        if name not in names:
            names.append(name)
            colours.append(colour)
            added.append(name)
    table = base if not added else ClassTable(tuple(names), tuple(colours))
    lut = np.full(256, UNKNOWN, np.int16)
    lut[0] = 0
    for k, name in enumerate(incoming.names[1:], start=1):
        lut[k] = table.names.index(name)
    if incoming.is_binary:
        lut[255] = lut[1]
    return table, lut, added


def unknown_values(class_map: np.ndarray, n_classes: int) -> list[int]:
    """The distinct values of a uint8 class map that are not below ``n_classes`` (sorted)."""
    class_map = np.asarray(class_map)
    if not class_map.size or int(class_map.max()) < n_classes:
        return []
    return [int(v) for v in np.unique(class_map[class_map >= n_classes])]


def map_class_map(class_map: np.ndarray, lut: np.ndarray | None, table: ClassTable,
                  where: str) -> np.ndarray:
    """``class_map`` in the session's indices: through ``lut``, or checked against ``table``.

    Parameters
    ----------
    class_map : (H, W) integer array
        Class indices of the incoming table (uint8).
    lut : (256,) int16 array or None
        From :func:`merge_classes`; None: the values already are the session's.
    table : ClassTable
        The session's table (named in the error).
    where : str
        Named in the error ("tile 4", "tile 4 of export/").

    Returns
    -------
    (H, W) uint8 ndarray

    Raises
    ------
    SessionError
        A value no class stands for: ``"tile 4: values 2, 7 are not in the class
        table (background, axon)"``. Nothing is written.
    """
    class_map = np.asarray(class_map)
    if class_map.dtype != np.uint8:
        if class_map.size and (class_map.min() < 0 or class_map.max() > 255):
            raise SessionError(f"{where}: values outside 0-255 are not class indices")
        class_map = class_map.astype(np.uint8)
    if lut is None:
        bad = unknown_values(class_map, len(table))
        mapped = class_map
    else:
        full = lut[class_map]
        bad = [int(v) for v in np.unique(class_map[full < 0])] if (full < 0).any() else []
        mapped = full.astype(np.uint8)
    if bad:
        values = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
        raise SessionError(f"{where}: value{'s' if len(bad) > 1 else ''} {values} "
                           f"{'are' if len(bad) > 1 else 'is'} not in the class table "
                           f"({', '.join(table.names)}); nothing was written")
    return mapped
