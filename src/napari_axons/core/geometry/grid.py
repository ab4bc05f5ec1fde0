"""Tile geometry: the seed's grid, overlap, and downsampled <-> full-resolution boxes.

Coordinates are ``(y, x)`` (row, column) in pixels throughout this module.
The grid is computed on the *working* image: the source image, or its
downsampled version when a downsample factor is set.

The seed's order (``tile_image`` in the seed document) is kept exactly:

1. the main grid, row by row (y outer, x inner), at ``stride``;
2. the right-edge column (``x = width - tile``), top to bottom;
3. the bottom-edge row (``y = height - tile``), left to right;
4. the bottom-right corner.

Edge tiles are shifted inward so every tile is full size. When a dimension is
smaller than the tile, the edge position ``size - tile`` is negative: the tile
hangs over the top/left border and the missing pixels are padded with zeros,
exactly as the seed's ``Image.crop`` pads them. The padding is recorded per tile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TileBox", "TileGrid", "axis_positions", "full_resolution_box", "tile_stem"]


def tile_stem(base: str, index: int) -> str:
    """The seed's file stem of tile ``index``: ``{base}_tile_{index:04d}`` (DESIGN.md §1).

    Examples
    --------
    >>> tile_stem("slide", 7)
    'slide_tile_0007'
    >>> tile_stem("slide", 12345)
    'slide_tile_12345'
    """
    return f"{base}_tile_{index:04d}"


def axis_positions(size: int, tile: int, stride: int) -> tuple[list[int], int | None]:
    """Main-grid positions along one axis, and the shifted edge position.

    Parameters
    ----------
    size : int
        Length of the image along the axis, in pixels.
    tile : int
        Tile length along the axis.
    stride : int
        Step between main-grid tiles (``tile`` for no overlap).

    Returns
    -------
    main : list of int
        Positions ``0, stride, 2 * stride, ...`` of the tiles that fit.
    edge : int or None
        ``size - tile`` when the main grid does not reach the end, else None.

    Examples
    --------
    >>> axis_positions(1000, 512, 512)
    ([0], 488)
    >>> axis_positions(1024, 512, 512)
    ([0, 512], None)
    >>> axis_positions(300, 512, 512)
    ([], -212)
    """
    if size < 1 or tile < 1 or stride < 1:
        raise ValueError(f"size, tile and stride must be >= 1, got {size}, {tile}, {stride}")
    main = list(range(0, size - tile + 1, stride))
    covered = main[-1] + tile if main else 0
    edge = size - tile if covered < size else None
    return main, edge


@dataclass(frozen=True)
class TileBox:
    """One tile of the grid, in working-image pixels.

    Attributes
    ----------
    index : int
        Position in the seed's order, from 0.
    y, x : int
        Top-left corner. Negative when the image is smaller than the tile.
    height, width : int
        Tile size.
    """

    index: int
    y: int
    x: int
    height: int
    width: int

    @property
    def y1(self) -> int:
        return self.y + self.height

    @property
    def x1(self) -> int:
        return self.x + self.width

    @property
    def padding(self) -> tuple[int, int]:
        """Rows and columns of zero padding at the top and left."""
        return max(0, -self.y), max(0, -self.x)

    def valid_slices(self, image_height: int, image_width: int) -> tuple[slice, slice]:
        """Slices of the tile (not of the image) that hold real image pixels."""
        py, px = self.padding
        return (
            slice(py, min(self.height, image_height - self.y)),
            slice(px, min(self.width, image_width - self.x)),
        )

    def name(self, base: str) -> str:
        """The seed's file stem, ``{base}_tile_{index:04d}`` (:func:`tile_stem`)."""
        return tile_stem(base, self.index)


@dataclass(frozen=True)
class TileGrid:
    """The seed's tile grid over an image of ``height`` x ``width`` pixels.

    Build it with :meth:`from_shape`. ``tiles`` is in the seed's order.

    Examples
    --------
    >>> grid = TileGrid.from_shape(700, 1000, tile_size=512)
    >>> [(t.y, t.x) for t in grid.tiles]
    [(0, 0), (0, 488), (188, 0), (188, 488)]
    """

    height: int
    width: int
    tile_size: int
    stride: int
    tiles: tuple[TileBox, ...] = field(repr=False)

    @classmethod
    def from_shape(
        cls, height: int, width: int, *, tile_size: int = 512, overlap: int = 0
    ) -> TileGrid:
        """Compute the grid for an image of the given size.

        Parameters
        ----------
        height, width : int
            Working-image size in pixels.
        tile_size : int
            Side of the square tiles (the seed uses 512).
        overlap : int
            Pixels shared by neighbouring main-grid tiles; ``stride = tile_size - overlap``.
        """
        if tile_size < 1:
            raise ValueError(f"tile size must be >= 1, got {tile_size}")
        if not 0 <= overlap < tile_size:
            raise ValueError(f"overlap must be in [0, tile size), got {overlap}")
        if height < 1 or width < 1:
            raise ValueError(f"image must be at least 1 x 1, got {width} x {height}")
        stride = tile_size - overlap
        ys, y_edge = axis_positions(height, tile_size, stride)
        xs, x_edge = axis_positions(width, tile_size, stride)
        origins: list[tuple[int, int]] = [(y, x) for y in ys for x in xs]
        if x_edge is not None:
            origins += [(y, x_edge) for y in ys]
        if y_edge is not None:
            origins += [(y_edge, x) for x in xs]
        if x_edge is not None and y_edge is not None:
            origins.append((y_edge, x_edge))
        tiles = tuple(
            TileBox(i, y, x, tile_size, tile_size) for i, (y, x) in enumerate(origins)
        )
        return cls(height, width, tile_size, stride, tiles)

    def __len__(self) -> int:
        return len(self.tiles)

    def __iter__(self):
        return iter(self.tiles)

    def __getitem__(self, index: int) -> TileBox:
        return self.tiles[index]

    @property
    def padded(self) -> bool:
        """True when the image is smaller than a tile along some axis."""
        return self.height < self.tile_size or self.width < self.tile_size

    def tiles_at(self, y: float, x: float) -> list[TileBox]:
        """Tiles that contain the working-image point ``(y, x)``, in grid order."""
        return [t for t in self.tiles if t.y <= y < t.y1 and t.x <= x < t.x1]


def full_resolution_box(
    box: TileBox, factor_y: float, factor_x: float, full_height: int, full_width: int
) -> dict:
    """Map a working-image box back to the source image.

    ``factor_*`` is ``source size / working size`` along each axis (exactly 1
    without downsampling). The returned box is in float source pixels, and also
    rounded outward and clipped to the image (``y0, x0, y1, x1``).
    """
    fy0, fx0 = box.y * factor_y, box.x * factor_x
    fy1, fx1 = box.y1 * factor_y, box.x1 * factor_x
    return {
        "y": fy0,
        "x": fx0,
        "height": fy1 - fy0,
        "width": fx1 - fx0,
        "clipped": [
            max(0, int(fy0 // 1)),
            max(0, int(fx0 // 1)),
            min(full_height, -int(-fy1 // 1)),
            min(full_width, -int(-fx1 // 1)),
        ],
    }
