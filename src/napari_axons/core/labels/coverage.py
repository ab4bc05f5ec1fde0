"""Joining the pieces of an object cut by tile borders: shared edges cancelled, rings re-linked.

The pieces of one object (pixel-edge polygons from
:func:`~napari_axons.core.labels.outlines.class_map_objects`, one per tile) cover
disjoint pixels and meet along pixel edges on the tile borders. Oriented the
same way (exterior rings counter-clockwise, holes clockwise: the object is
on the left of every directed edge), two pieces that meet along an edge run
along it in opposite directions. The union's boundary is therefore the
pieces' edges less those pairs, linked back into rings
(:func:`dissolve_coverage`), the classic boundary merge of polygon coverages:

1. edges on the tile borders are split into unit steps, so that shared edges
   are equal, and every pair of opposite unit edges is dropped;
2. what is left of each ring is a set of *chains* (runs of kept edges); a
   chain continues with the chain that starts where it ends; where two start
   there (the object's pixels meet only at that corner) it takes the sharper
   left turn, which keeps to its own pixels;
3. the rings are freed of the vertices where they go straight on, and
   re-linked by the same rule at every corner that rings pass twice (a hole
   touching the outline at two corners cuts the object in two parts: two
   polygons for GEOS);
4. a ring that still passes a corner twice (a hole that touches the outline,
   or another hole, at one corner) is split there: GEOS' rings never touch
   themselves;
5. the rings are sorted into exteriors (positive area) and holes (negative),
   and each hole goes to the smallest exterior that holds it.

Everything is integer arithmetic on NumPy arrays (int32 coordinates): memory
is a few arrays the size of the pieces' vertices, where GEOS' coverage union
of a slide-wide filament network (6 million vertices) peaked at 2 GB.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dissolve_coverage"]

#: Coordinates are int32: slides up to 2^30 pixels on a side.
_LIMIT = 2**30


def dissolve_coverage(geometries: list, lines: tuple | None = None):
    """The union of pixel-edge polygons with disjoint interiors, or None if they are not such.

    Parameters
    ----------
    geometries : list of shapely.Polygon or shapely.MultiPolygon
        Integer vertices, axis-aligned edges, no two overlapping. The list is
        emptied as the pieces are read (their memory is freed early).
    lines : tuple of (array of int, array of int), optional
        ``(xs, ys)``: the only vertical lines ``x = xs[i]`` and horizontal lines
        ``y = ys[j]`` along which two pieces can meet (the tile borders). Default:
        any edge may be shared.

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon or None
        Exteriors counter-clockwise, holes clockwise, vertices only where the
        outline turns. None when the pieces are found not to form such a
        coverage (a vertex off the pixel grid, a diagonal edge, pieces that
        overlap along an edge, chains that do not close); pieces that meet off
        ``lines`` are not detected here (the result is then invalid).
    """
    rings = _read_rings(geometries)
    if rings is None:
        return None
    rings = _split_on_lines(*rings, lines)
    alive = _cancel_shared_edges(*rings, lines)
    if alive is None:
        return None
    rings = _link_rings(*rings, alive)
    if rings is None:
        return None
    rings = _relink_at_corners(*_drop_straight_vertices(*rings))
    if rings is None:
        return None
    return _assemble(*_split_self_touching(*rings))


# --------------------------------------------------------------------------- ring arrays
def _read_rings(geometries: list):
    """All rings, oriented, as int32 ``(N, 2)`` vertices (no closing points) + ring offsets."""
    import shapely

    chunks, lengths = [], []
    while geometries:
        geom = geometries.pop()
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            return None
        geom = shapely.orient_polygons(shapely.remove_repeated_points(geom))
        _, coords, offsets = shapely.to_ragged_array([geom])
        del geom
        if np.abs(coords).max() >= _LIMIT:
            return None
        pts = coords.astype(np.int32)
        if not np.array_equal(pts, coords):
            return None  # not on the pixel grid
        ring_off = offsets[0]
        keep = np.ones(len(pts), bool)
        keep[ring_off[1:] - 1] = False  # the closing points
        chunks.append(pts[keep])
        lengths.append(np.diff(ring_off) - 1)
    if not chunks:
        return None
    return np.concatenate(chunks), _offsets(np.concatenate(lengths))


def _offsets(lengths: np.ndarray) -> np.ndarray:
    off = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def _next(a: np.ndarray, ring_off: np.ndarray) -> np.ndarray:
    """``a`` at each vertex's next vertex (cyclic within each ring)."""
    out = np.empty_like(a)
    out[:-1] = a[1:]
    out[ring_off[1:] - 1] = a[ring_off[:-1]]
    return out


def _prev(a: np.ndarray, ring_off: np.ndarray) -> np.ndarray:
    """``a`` at each vertex's previous vertex (cyclic within each ring)."""
    out = np.empty_like(a)
    out[1:] = a[:-1]
    out[ring_off[:-1]] = a[ring_off[1:] - 1]
    return out


def _ring_of(index: np.ndarray, ring_off: np.ndarray) -> np.ndarray:
    return np.searchsorted(ring_off, index, "right") - 1


def _next_index(index: np.ndarray, ring_off: np.ndarray) -> np.ndarray:
    ring = _ring_of(index, ring_off)
    out = index + 1
    return np.where(out == ring_off[ring + 1], ring_off[ring], out)


def _keys(points: np.ndarray) -> np.ndarray:
    """One int64 per grid point (coordinates below ``_LIMIT``)."""
    return points[:, 1].astype(np.int64) * (2 * _LIMIT) + points[:, 0]


def _ranges(first, count, ring_start, ring_len) -> np.ndarray:
    """Concatenated cyclic index runs: ``count[i]`` vertices from ``first[i]`` within its ring."""
    total = int(np.sum(count))
    if total == 0:
        return np.zeros(0, np.int64)
    run = np.repeat(np.arange(len(count)), count)
    step = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
    out = first[run] - ring_start[run]
    out += step
    del step
    out %= ring_len[run]
    out += ring_start[run]
    return out


# --------------------------------------------------------------------------- 1. shared edges
def _on_lines(points: np.ndarray, d: np.ndarray, lines: tuple | None) -> np.ndarray:
    """Which edges (``points[i]`` + ``d[i]``) lie on a border line."""
    vertical, horizontal = d[:, 0] == 0, d[:, 1] == 0
    if lines is None:
        return vertical | horizontal
    xs, ys = (np.asarray(v, np.int64) for v in lines)
    return (vertical & np.isin(points[:, 0], xs)) | (horizontal & np.isin(points[:, 1], ys))


def _split_on_lines(points: np.ndarray, ring_off: np.ndarray, lines: tuple | None):
    """The rings with a vertex at every grid point of their edges on the border lines."""
    d = _next(points, ring_off)
    d -= points
    steps = np.where(_on_lines(points, d, lines), np.abs(d).sum(axis=1), 1)
    if not (steps > 1).any():
        return points, ring_off
    new_off = _offsets(np.add.reduceat(steps, ring_off[:-1]))
    index = np.int32 if int(new_off[-1]) < 2**31 else np.int64
    src = np.repeat(np.arange(len(points), dtype=index), steps)
    within = np.arange(len(src), dtype=index)
    within -= np.repeat((np.cumsum(steps) - steps).astype(index), steps)
    del steps
    out = points[src]
    np.sign(d, out=d)
    for axis in (0, 1):  # one axis at a time: fewer vertex-sized temporaries
        out[:, axis] += d[src, axis] * within
    return out, new_off


def _cancel_shared_edges(points: np.ndarray, ring_off: np.ndarray, lines: tuple | None):
    """``alive[i]``: the edge from vertex ``i`` is on the union's boundary; None: no coverage."""
    d = _next(points, ring_off)
    d -= points
    if ((d[:, 0] != 0) & (d[:, 1] != 0)).any():
        return None  # a diagonal edge: not a pixel-edge polygon
    alive = np.ones(len(points), bool)
    cand = np.flatnonzero((np.abs(d).sum(axis=1) == 1) & _on_lines(points, d, lines))
    if len(cand) < 2:
        return alive
    a = _keys(points[cand])
    b = _keys(points[cand] + d[cand])
    del d
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((hi, lo))
    lo, hi, a = lo[order], hi[order], a[order]
    same = (lo[1:] == lo[:-1]) & (hi[1:] == hi[:-1])
    if (same[1:] & same[:-1]).any() or (same & (a[1:] == a[:-1])).any():
        return None  # an edge three times, or twice the same way: pieces overlap
    pair = np.flatnonzero(same)
    alive[cand[order[pair]]] = False
    alive[cand[order[pair + 1]]] = False
    return alive


# --------------------------------------------------------------------------- 2. chains
def _link_rings(points, ring_off, alive):
    """The union's rings: ``(vertices, ring offsets)``; None when the chains do not close."""
    n_rings = len(ring_off) - 1
    dead = np.bincount(_ring_of(np.flatnonzero(~alive), ring_off), minlength=n_rings)
    starts = np.flatnonzero(alive & ~_prev(alive, ring_off))
    ends = np.flatnonzero(alive & ~_next(alive, ring_off))
    return _relink(points, ring_off, starts, ends, whole=dead == 0)


def _relink(points, ring_off, starts, ends, whole):
    """Rings cut into chains (from ``starts`` to ``ends``) linked anew; ``whole`` rings are
    kept as they are. None when the chains do not close."""
    lengths = np.diff(ring_off)
    out_points = [points[np.repeat(whole, lengths)]]
    out_lengths = [lengths[whole]]
    if len(starts):
        chains = _chains(starts, ends, ring_off)
        if chains is None:
            return None
        first, count, last = chains
        cycles = _chain_cycles(points, ring_off, first, last)
        if cycles is None:
            return None
        order, chains_per_ring = cycles
        rings = _ring_of(first[order], ring_off)
        idx = _ranges(first[order], count[order], ring_off[rings], lengths[rings])
        out_points.append(points[idx])
        del idx
        out_lengths.append(np.add.reduceat(count[order], np.cumsum(chains_per_ring) - chains_per_ring))
    return np.concatenate(out_points), _offsets(np.concatenate(out_lengths))


def _chains(starts, ends, ring_off):
    """Each chain's first edge, number of edges and last edge (starts and ends paired per ring)."""
    ring = _ring_of(starts, ring_off)
    if len(starts) != len(ends) or not np.array_equal(ring, _ring_of(ends, ring_off)):
        return None
    # In a ring, starts and ends alternate; when the ring's first end comes before its first
    # start, the last chain wraps around the ring's end: pair each start with the next end.
    seg = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    seg_len = np.diff(np.r_[seg, len(ring)])
    wraps = np.repeat(ends[seg] < starts[seg], seg_len)
    pos = np.arange(len(ring)) - np.repeat(seg, seg_len)
    shifted = np.repeat(seg, seg_len) + (pos + 1) % np.repeat(seg_len, seg_len)
    last = np.where(wraps, ends[shifted], ends)
    count = (last - starts) % np.diff(ring_off)[ring] + 1
    return starts, count, last


def _chain_cycles(points, ring_off, first, last):
    """Chains in ring order: ``(chain order, chains per ring)``; None if they do not close."""
    after_last = _next_index(last, ring_off)
    start_key, end_key = _keys(points[first]), _keys(points[after_last])
    by_start = np.argsort(start_key, kind="stable")
    sorted_keys = start_key[by_start]
    lo = np.searchsorted(sorted_keys, end_key, "left")
    n_next = np.searchsorted(sorted_keys, end_key, "right") - lo
    if ((n_next < 1) | (n_next > 2)).any():
        return None
    succ = by_start[lo]
    two = np.flatnonzero(n_next == 2)
    if len(two):
        # Where two chains start: the sharper left turn (cross product +1 beats -1).
        d_in = points[after_last[two]] - points[last[two]]
        alt = by_start[lo[two] + 1]
        c1 = _turn(d_in, points, ring_off, first[succ[two]])
        c2 = _turn(d_in, points, ring_off, first[alt])
        if (c1 == c2).any():
            return None
        succ[two] = np.where(c2 > c1, alt, succ[two])
    if not (np.bincount(succ, minlength=len(succ)) == 1).all():
        return None
    # Walk the cycles (chains are few: one per cut of a ring by a border).
    succ_list = succ.tolist()
    seen = bytearray(len(succ_list))
    order: list[int] = []
    per_ring: list[int] = []
    for c0 in range(len(succ_list)):
        c, k = c0, 0
        while not seen[c]:
            seen[c] = 1
            order.append(c)
            c = succ_list[c]
            k += 1
        if k:
            per_ring.append(k)
    return np.asarray(order, np.int64), np.asarray(per_ring, np.int64)


def _turn(d_in, points, ring_off, first):
    """Sign of the turn from ``d_in`` onto the first edge of the chains starting at ``first``."""
    out = points[_next_index(first, ring_off)] - points[first]
    return np.sign(d_in[:, 0].astype(np.int64) * out[:, 1] - d_in[:, 1].astype(np.int64) * out[:, 0])


# --------------------------------------------------------------------------- 3.-5. rings
def _drop_straight_vertices(points: np.ndarray, ring_off: np.ndarray):
    """The rings without the vertices where they go straight on."""
    a = points - _prev(points, ring_off)
    b = _next(points, ring_off)
    b -= points
    keep = (a[:, 0].astype(np.int64) * b[:, 1] - a[:, 1].astype(np.int64) * b[:, 0]) != 0
    del a, b
    kept = np.add.reduceat(keep.astype(np.int64), ring_off[:-1])
    return points[keep], _offsets(kept)


def _visited_twice(key: np.ndarray) -> np.ndarray | None:
    """Which vertices lie on a point that another vertex (of any ring) lies on; None: none."""
    ordered = np.sort(key)
    twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(twice):
        return None
    pos = np.searchsorted(twice, key)
    np.minimum(pos, len(twice) - 1, out=pos)
    return twice[pos] == key


def _relink_at_corners(points: np.ndarray, ring_off: np.ndarray):
    """Rings re-linked at every corner two of them (or one twice) pass, each keeping to its
    own pixels (the sharper left turn); None if they do not close.

    A piece's own rings may meet at a corner (OpenCV traces an outline and its
    holes apart, and a hole may touch the outline, or another hole, at two
    corners: the object's interior is then in two parts, which GEOS wants as
    two polygons); re-linking every such corner by the same rule as the chains
    gives each part its own ring.
    """
    corner = _visited_twice(_keys(points))
    if corner is None:
        return points, ring_off
    starts = np.flatnonzero(corner)  # the edges that leave a corner ...
    ends = np.flatnonzero(_next(corner, ring_off))  # ... and those that reach one
    touched = np.bincount(_ring_of(starts, ring_off), minlength=len(ring_off) - 1)
    return _relink(points, ring_off, starts, ends, whole=touched == 0)


def _split_self_touching(points: np.ndarray, ring_off: np.ndarray):
    """Rings that pass a vertex twice split there into two rings."""
    key = _keys(points)
    corner = _visited_twice(key)
    if corner is None:
        return points, ring_off
    at = np.flatnonzero(corner)
    del corner
    ring = _ring_of(at, ring_off)
    pair = np.lexsort((key[at], ring))
    same = (key[at][pair][1:] == key[at][pair][:-1]) & (ring[pair][1:] == ring[pair][:-1])
    bad = np.unique(ring[pair][1:][same])
    if not len(bad):
        return points, ring_off
    lengths = np.diff(ring_off)
    keep = np.ones(len(lengths), bool)
    keep[bad] = False
    runs = [np.flatnonzero(np.repeat(keep, lengths))]
    run_lengths = [lengths[keep]]
    for r in bad.tolist():
        todo = [np.arange(ring_off[r], ring_off[r + 1])]
        while todo:
            idx = todo.pop()
            first: dict[int, int] = {}
            for pos, value in enumerate(key[idx].tolist()):
                if value in first:  # the loop between the two visits is a ring of its own
                    i = first[value]
                    todo += [idx[i:pos], np.r_[idx[pos:], idx[:i]]]
                    break
                first[value] = pos
            else:
                runs.append(idx)
                run_lengths.append(np.array([len(idx)]))
    return points[np.concatenate(runs)], _offsets(np.concatenate(run_lengths))


def _assemble(points: np.ndarray, ring_off: np.ndarray):
    """Exteriors (positive area) with the holes they hold, as a shapely geometry."""
    import shapely

    lengths = np.diff(ring_off)
    nxt = _next(points, ring_off)
    cross = points[:, 0].astype(np.int64) * nxt[:, 1] - nxt[:, 0].astype(np.int64) * points[:, 1]
    del nxt
    area2 = np.add.reduceat(cross, ring_off[:-1])
    del cross
    if (lengths < 4).any() or (area2 == 0).any():
        return None
    shells = np.flatnonzero(area2 > 0)
    holes = np.flatnonzero(area2 < 0)
    owner = np.zeros(len(holes), np.int64)
    if len(shells) > 1 and len(holes):
        owner = _hole_owners(points, ring_off, shells, holes, area2)
        if owner is None:
            return None
    # Rings in polygon order: each shell, then its holes.
    polygon = np.r_[np.arange(len(shells)), owner]
    ring_order = np.r_[shells, holes][np.lexsort((np.r_[np.zeros(len(shells)), np.ones(len(holes))],
                                                  polygon))]
    n_rings = np.bincount(polygon, minlength=len(shells))
    ring_len = lengths[ring_order]
    idx = _ranges(ring_off[ring_order], ring_len + 1, ring_off[ring_order], ring_len)  # closed
    coords = points[idx].astype(np.float64)
    del idx
    geom = shapely.from_ragged_array(
        shapely.GeometryType.MULTIPOLYGON, coords,
        (_offsets(ring_len + 1), _offsets(n_rings), np.array([0, len(shells)])))[0]
    return geom.geoms[0] if len(shells) == 1 else geom


def _hole_owners(points, ring_off, shells, holes, area2) -> np.ndarray | None:
    """For each hole, the position in ``shells`` of the smallest shell around it."""
    import shapely

    # A point of the object just beside each hole's first edge (the object is on the left).
    p0 = points[ring_off[holes]].astype(np.float64)
    d = np.sign(points[ring_off[holes] + 1] - points[ring_off[holes]]).astype(np.float64)
    probe = p0 + d / 2 + 0.25 * np.stack([-d[:, 1], d[:, 0]], axis=1)
    shell_polys = np.array([shapely.Polygon(points[ring_off[s]:ring_off[s + 1]]) for s in shells])
    # Each shell (prepared by the query) asks a tree of the probes: fast for shells of
    # millions of vertices, where asking each shell about each probe is not.
    t, q = shapely.STRtree(shapely.points(probe)).query(shell_polys, predicate="contains")
    if len(np.unique(q)) != len(holes):
        return None
    # The smallest shell holding the probe (a part may sit in another part's hole).
    pick = np.lexsort((area2[shells][t], q))
    q, t = q[pick], t[pick]
    first = np.r_[True, q[1:] != q[:-1]]
    owner = np.empty(len(holes), np.int64)
    owner[q[first]] = t[first]
    return owner
