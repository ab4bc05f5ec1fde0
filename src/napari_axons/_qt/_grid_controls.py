"""The grid controls (tile size, overlap, downsample): applied on Enter, absurd grids refused.

Typed digits are not applied one by one (typing "256" used to pass through 2
and 25, each a grid rebuild, one of them a 1.5-million-tile freeze): the spin
boxes apply their value on Enter, on focus loss or on an arrow click. A value
that would make more than :data:`MAX_TILES` tiles is refused with a message and
left in the box as typed, so the user can correct it.
"""

from __future__ import annotations

from ..core.geometry import axis_positions

__all__ = ["MAX_TILES", "apply_on_enter", "tile_count", "grid_refusal"]

#: A grid with more tiles than this is refused (its overlays and selection would crawl).
MAX_TILES = 100_000


def apply_on_enter(*spin_boxes) -> None:
    """Make magicgui spin boxes emit ``changed`` on Enter / focus loss only, not per keystroke."""
    for box in spin_boxes:
        box.native.setKeyboardTracking(False)


def tile_count(height: int, width: int, tile_size: int, overlap: int) -> int:
    """How many tiles the seed's grid has over a ``height x width`` image (no grid is built).

    Raises
    ------
    ValueError
        Impossible settings (as :meth:`TileGrid.from_shape`).
    """
    if not 0 <= overlap < tile_size:
        raise ValueError(f"overlap must be in [0, tile size), got {overlap}")
    stride = tile_size - overlap
    ys, y_edge = axis_positions(height, tile_size, stride)
    xs, x_edge = axis_positions(width, tile_size, stride)
    return (len(ys) + (y_edge is not None)) * (len(xs) + (x_edge is not None))


def grid_refusal(height: int, width: int, tile_size: int, overlap: int,
                 limit: int | None = None) -> str | None:
    """Why this grid is refused (one line for the user), or None when it is fine."""
    limit = MAX_TILES if limit is None else limit
    try:
        n = tile_count(height, width, tile_size, overlap)
    except ValueError as exc:
        return f"{exc}; the grid is unchanged"
    if n > limit:
        return (f"tile size {tile_size} (overlap {overlap}) would make {n:,} tiles over "
                f"{width} x {height} px, more than {limit:,}: not applied, choose a larger "
                "tile size")
    return None
