"""Fibres of a whole slide, block by block, in bounded memory, exactly as if uncut.

The slide's class map is read through any 2-D array-like (``shape`` and
``[y0:y1, x0:x1]`` slicing: a NumPy array, a Zarr array, the composite of an
export's tiles from :mod:`.source`). It is cut into *blocks* (a plain grid,
``block`` pixels). Each fibre belongs to the block that holds its *anchor*,
the first pixel of its axon in raster order (an orphan myelin piece: its own
first pixel), so it is reported once.

A block is processed in a *window*: the block and a halo around it. The rule
of :mod:`.split` looks only a bounded distance around each pixel, and
:func:`~.split.split_window` says which fibres it could decide exactly from
what the window shows (``valid``): those anchored in the block are measured
there. A fibre it cannot decide (near the window's edge, beside a very large
axon, or cut by the window) is followed, by one of its pixels, into a window
around it and the others waiting near it (grouped by cells of :data:`GROUP`
pixels, so that no window grows much beyond a block) with the halo doubled, up
to the whole slide where everything is decided. So every fibre is measured
once, whole, from the same pixels as in the uncut slide: the result does not
depend on the block size, the halo, or how the class map was tiled. Memory is
one window: the block, the halo, and the largest fibre's neighbourhood.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .measure import empty_rows, measure_window
from .split import KEY_STRIDE, split_window

__all__ = ["BlockResult", "default_halo", "iter_blocks"]


@dataclass
class BlockResult:
    """What one block gave.

    Attributes
    ----------
    box : tuple of int
        The block, slide ``(y0, x0, y1, x1)``.
    rows : dict of numpy.ndarray
        :data:`~.measure.PIXEL_COLUMNS` of the fibres and orphan pieces anchored in it.
    outlines : list or None
        Their outlines (slide pixel edges), with ``outlines=True``.
    axon_pixels, myelin_pixels : int
        Pixels of each class in the block.
    windows : int
        Windows read for it (1, plus one per group of fibres followed further).
    """

    box: tuple[int, int, int, int]
    rows: dict
    outlines: list | None
    axon_pixels: int
    myelin_pixels: int
    windows: int


def default_halo(reach: float) -> int:
    """The first halo (pixels) around a block: enough for most fibres to be decided."""
    return int(math.ceil(3 * reach)) + 64


def block_boxes(shape: tuple[int, int], block: int) -> list[tuple[int, int, int, int]]:
    """The blocks of a slide in raster order, ``(y0, x0, y1, x1)``."""
    h, w = shape
    return [(y, x, min(y + block, h), min(x + block, w))
            for y in range(0, h, block) for x in range(0, w, block)]


def iter_blocks(class_map, *, axon: int, myelin: int, reach: float, block: int = 2048,
                halo: int | None = None, split: str = "sheath", outlines: bool = False,
                progress: Callable[[int, int], None] | None = None) -> Iterator[BlockResult]:
    """Find and measure the fibres of a slide, block by block.

    Parameters
    ----------
    class_map : array-like
        ``(H, W)`` class map (``shape``, 2-D slicing returning integer arrays).
    axon, myelin : int
        Class indices of axon and myelin.
    reach : float
        Thickest sheath expected, in pixels (see :mod:`.split`).
    block : int
        Block side in pixels.
    halo : int, optional
        First halo in pixels (default :func:`default_halo`); widened as needed.
    split : str
        ``"sheath"`` or ``"nearest"`` (:data:`~.split.SPLITS`).
    outlines : bool
        Also trace each fibre's outline.
    progress : callable, optional
        ``progress(done, total)`` after each block.

    Yields
    ------
    BlockResult
        One per block, in raster order.
    """
    shape = tuple(int(v) for v in class_map.shape)
    if len(shape) != 2:
        raise ValueError(f"a class map must be 2-D (rows, columns), got shape {shape}")
    if block < 1:
        raise ValueError(f"block must be at least 1 pixel, got {block}")
    first_halo = default_halo(reach) if halo is None else int(halo)
    boxes = block_boxes(shape, int(block))
    for k, box in enumerate(boxes):
        yield _block(class_map, shape, box, axon=axon, myelin=myelin, reach=reach,
                     halo=first_halo, split=split, outlines=outlines)
        if progress is not None:
            progress(k + 1, len(boxes))


#: Items still waiting are looked at again in groups, one window per cell of this side.
GROUP = 512


def _block(class_map, shape, box, *, axon, myelin, reach, halo, split, outlines) -> BlockResult:
    """The fibres and orphan pieces anchored in ``box``, each measured once, exactly.

    The first window is the block and its halo: every item anchored there and
    decided is measured. The others *wait* (:func:`_pick`) and are followed by
    their pixels into a window around them (items grouped by cells of
    :data:`GROUP` pixels) with twice the halo, until each is decided there, or
    found anchored elsewhere, or no longer an item (myelin that belongs to a fibre
    after all).
    """
    h, w = shape
    by0, bx0, by1, bx1 = box
    done: set[tuple[int, int]] = set()  # (kind, anchor key) reported
    parts, shapes = [], ([] if outlines else None)
    counts = None
    windows = 0
    tasks = [(box, halo, None)]  # (box the window must hold, halo, items followed or None)
    while tasks:
        (ty0, tx0, ty1, tx1), hh, follow = tasks.pop(0)
        wy0, wx0 = max(0, ty0 - hh), max(0, tx0 - hh)
        wy1, wx1 = min(h, ty1 + hh), min(w, tx1 + hh)
        cmap = np.asarray(class_map[wy0:wy1, wx0:wx1])
        windows += 1
        if counts is None:
            inner = cmap[by0 - wy0: by1 - wy0, bx0 - wx0: bx1 - wx0]
            counts = (int(np.count_nonzero(inner == axon)), int(np.count_nonzero(inner == myelin)))
        whole = (wy0, wx0, wy1, wx1) == (0, 0, h, w)
        ws = split_window(cmap, axon=axon, myelin=myelin, reach=reach, origin=(wy0, wx0),
                          open_edges=(wy0 > 0, wy1 < h, wx0 > 0, wx1 < w), split=split)
        del cmap
        items = ((0, ws.axons, ws.anchors, ws.boxes, ws.valid, ws.cut),
                 (1, ws.orphans, ws.orphan_anchors, ws.orphan_boxes, ws.orphan_valid,
                  ws.orphan_cut))
        take, waiting = {}, []
        for kind, labels, anchors, boxes, valid, cut in items:
            t, wt = _pick(kind, labels, anchors, boxes, valid, cut, box, (wy0, wx0), done, follow)
            take[kind] = t
            waiting += wt
        if len(take[0]) or len(take[1]):
            rows, out = measure_window(ws, take[0], take[1], outlines=outlines)
            parts.append(rows)
            if shapes is not None:
                shapes.extend(out)
        del ws
        if waiting and whole:  # pragma: no cover - everything is decided on the whole slide
            raise RuntimeError(f"block {box}: fibres left undecided on the whole slide")
        groups: dict[tuple[int, int], list] = {}
        for item in waiting:
            b = item[3]
            groups.setdefault(((b[0] + b[2]) // (2 * GROUP), (b[1] + b[3]) // (2 * GROUP)),
                              []).append(item)
        for _, group in sorted(groups.items()):
            tasks.append(((min(i[3][0] for i in group), min(i[3][1] for i in group),
                           max(i[3][2] for i in group), max(i[3][3] for i in group)),
                          2 * hh, [i[:3] for i in group]))
    rows = _concat(parts)
    return BlockResult(box, rows, shapes, counts[0], counts[1], windows)


def _pick(kind, labels, anchors, boxes, valid, cut, box, origin, done, follow):
    """Labels to measure now, and the items that wait: ``(kind, ys, xs, slide box)``.

    ``follow`` None (the block's first window): every item anchored in the block
    and decided is taken. Those that wait: fibres anchored in it but undecided;
    orphan pieces undecided that reach into it (an undecided piece may be part of
    a larger or smaller one, anchored elsewhere); and items cut by the window's
    edge that reach into the block. Otherwise only the followed items are looked
    at: ``(kind, ys, xs)``, slide pixels of each (a fibre's first visible pixel:
    an axon is the same component in any window that shows it; every pixel of an
    orphan piece, which may split or grow in a wider window).
    """
    by0, bx0, by1, bx1 = box
    oy, ox = origin
    n = len(anchors) - 1
    if follow is None:
        cand = np.arange(1, n + 1)
    else:
        hh, ww = labels.shape
        found = []
        for k, ys, xs in follow:
            if k != kind:
                continue
            ly, lx = ys - oy, xs - ox
            inside = (ly >= 0) & (ly < hh) & (lx >= 0) & (lx < ww)
            found.append(labels[ly[inside], lx[inside]])
        cand = np.unique(np.concatenate(found)).astype(np.intp) if found else np.zeros(0, np.intp)
        cand = cand[cand > 0]
    ay, ax = anchors[cand, 0], anchors[cand, 1]
    in_block = (ay >= by0) & (ay < by1) & (ax >= bx0) & (ax < bx1)
    keys = ay * KEY_STRIDE + ax
    new = np.array([(kind, int(k)) not in done for k in keys], bool)
    b = boxes[cand]
    meets = ((b[:, 0] + oy < by1) & (b[:, 2] + oy > by0)
             & (b[:, 1] + ox < bx1) & (b[:, 3] + ox > bx0))
    c, v = cut[cand], valid[cand]
    take = in_block & v & ~c & new
    undecided = (meets if kind else in_block) & ~v & ~c & new
    wait = undecided | (c & meets)
    done.update((kind, int(k)) for k in keys[take])
    waiting = []
    for lab, y, x, r in zip(cand[wait], ay[wait], ax[wait], b[wait], strict=True):
        if kind:  # every pixel of the piece
            sub = labels[r[0]:r[2], r[1]:r[3]] == lab
            ys, xs = np.nonzero(sub)
            ys, xs = ys + r[0] + oy, xs + r[1] + ox
        else:
            ys, xs = np.array([y]), np.array([x])
        waiting.append((kind, ys, xs, (int(r[0]) + oy, int(r[1]) + ox, int(r[2]) + oy,
                                       int(r[3]) + ox)))
    return cand[take], waiting


def _concat(parts: list[dict]) -> dict:
    if not parts:
        return empty_rows(0)
    if len(parts) == 1:
        return parts[0]
    return {c: np.concatenate([p[c] for p in parts]) for c in parts[0]}
