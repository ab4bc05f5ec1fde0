"""The session's two rules: the overlap rule, and the guard that never replaces hand edits silently.

:func:`protected_by_later` is the first half of the overlap rule (see
:mod:`.session`): segmenting a tile keeps the pixels a later tile in the seed's
grid order already holds a mask for. :class:`EditsInTheWay` is what the
session raises when segmenting (or loading masks) would replace hand edits
and the caller did not say what to do with them.
"""

from __future__ import annotations

import numpy as np

from ..export import FolderCheck
from ..geometry import TileBox, TileGrid

__all__ = ["HAS_MASK", "SessionError", "EditsInTheWay", "ExportWouldReplace", "protected_by_later"]

#: Tile statuses whose pixels count as "holding a mask" for the overlap rule.
HAS_MASK = frozenset({"segmented", "edited", "exported"})


class SessionError(ValueError):
    """An operation the session refuses (one line for the user)."""


class EditsInTheWay(SessionError):
    """Segmenting (or loading masks) would replace hand edits.

    Attributes
    ----------
    tiles : list of int
        The tiles (of the current grid) over edited pixels.
    """

    def __init__(self, tiles: list[int], what: str = "segmenting"):
        self.tiles = list(tiles)
        names = ", ".join(map(str, self.tiles[:10])) + (" ..." if len(self.tiles) > 10 else "")
        super().__init__(f"tile(s) {names} hold hand edits; {what} would replace them: pass "
                         "overwrite_edits=True to replace them or keep_edits=True to keep them")


class ExportWouldReplace(SessionError):
    """Exporting into the folder deletes an earlier export (pass ``replace=True``)."""

    def __init__(self, check: FolderCheck):
        self.check = check
        super().__init__(f"{check.reason}; exporting there replaces it: {check.deletes} "
                         "(pass replace=True)")


def protected_by_later(grid: TileGrid, box: TileBox, status: dict[int, str]) -> np.ndarray | None:
    """Pixels of ``box`` covered by a later tile (grid order) that holds a mask, or None."""
    keep = None
    for other in grid.tiles:
        if other.index <= box.index or status.get(other.index) not in HAS_MASK:
            continue
        y0, y1 = max(box.y, other.y), min(box.y1, other.y1)
        x0, x1 = max(box.x, other.x), min(box.x1, other.x1)
        if y1 <= y0 or x1 <= x0:
            continue
        if keep is None:
            keep = np.zeros((box.height, box.width), bool)
        keep[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = True
    return keep
