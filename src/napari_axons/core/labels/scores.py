"""Scores of predicted class maps against ground truth: pixel IoU and Dice, object F1.

Pure functions of numpy arrays (connected components by ``scipy.ndimage``): no
files, no torch. Used by training's report and, through the ``score`` command,
by anyone comparing two exports.

Definitions, per class ``k`` (0 is the background and has pixel figures only):

* pixel ``IoU = TP / (TP + FP + FN)`` and ``Dice = 2 TP / (2 TP + FP + FN)``,
  counted over every pixel; ``None`` when the class is in neither map
  (``TP + FP + FN == 0``).
* objects: the 8-connected components of ``map == k`` in each map (the same
  rule as the exported polygons, one per component). A predicted and a true
  object *match* when their IoU is at least :data:`MATCH_IOU`; matching is
  one-to-one (pairs taken in order of decreasing IoU; above 0.5 a pair can only
  match one way anyway). ``precision = matched / predicted``, ``recall =
  matched / true``, ``F1 = 2 matched / (predicted + true)``; ``None`` when the
  denominator is 0.

Overall figures add the counts of every tile first (confusion matrix, matched /
predicted / true objects) and divide once: a small tile weighs by its pixels
and objects, not as much as a large one (no mean of means).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MATCH_IOU", "ObjectCounts", "Scores", "TileScores", "confusion", "match_objects",
           "pixel_figures", "score_maps", "score_pairs"]

#: Object IoU at or above which a predicted object matches a true one.
MATCH_IOU = 0.5

_EIGHT = np.ones((3, 3), bool)


def confusion(pred: np.ndarray, truth: np.ndarray, n_classes: int,
              ignore: int | None = None) -> np.ndarray:
    """The ``(n_classes, n_classes)`` int64 confusion matrix, rows = truth, columns = prediction.

    Parameters
    ----------
    pred, truth : numpy.ndarray
        Integer class maps of one shape.
    n_classes : int
        Number of classes; values must lie in ``[0, n_classes)``.
    ignore : int, optional
        A truth value whose pixels are not counted (e.g. unlabelled).

    Raises
    ------
    ValueError
        Shapes differ, or a value lies outside ``[0, n_classes)``.
    """
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    p = p.astype(np.int64, copy=False).ravel()
    t = t.astype(np.int64, copy=False).ravel()
    if ignore is not None:
        keep = t != ignore
        p, t = p[keep], t[keep]
    for name, a in (("prediction", p), ("truth", t)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            bad = int(a.min()) if a.min() < 0 else int(a.max())
            raise ValueError(f"{name} holds class {bad}, outside 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def pixel_figures(conf: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """``(iou, dice)`` per class from a confusion matrix (``None`` where a class is absent)."""
    c = np.asarray(conf, np.float64)
    tp = np.diag(c)
    fp = c.sum(0) - tp
    fn = c.sum(1) - tp
    iou, dice = [], []
    for k in range(len(tp)):
        d = tp[k] + fp[k] + fn[k]
        iou.append(float(tp[k] / d) if d > 0 else None)
        dice.append(float(2 * tp[k] / (d + tp[k])) if d > 0 else None)
    return iou, dice


@dataclass
class ObjectCounts:
    """Object matching counts of one class: ``matched``, ``predicted``, ``true``."""

    matched: int = 0
    predicted: int = 0
    true: int = 0

    def __iadd__(self, other: ObjectCounts) -> ObjectCounts:
        self.matched += other.matched
        self.predicted += other.predicted
        self.true += other.true
        return self

    @property
    def precision(self) -> float | None:
        return self.matched / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.true if self.true else None

    @property
    def f1(self) -> float | None:
        n = self.predicted + self.true
        return 2 * self.matched / n if n else None


def match_objects(pred_mask: np.ndarray, true_mask: np.ndarray,
                  min_iou: float = MATCH_IOU) -> ObjectCounts:
    """Match the 8-connected objects of two boolean masks one-to-one at IoU >= ``min_iou``.

    Parameters
    ----------
    pred_mask, true_mask : numpy.ndarray
        ``(H, W)`` boolean masks of one class.
    min_iou : float
        Least IoU of a matching pair (default :data:`MATCH_IOU`).

    Returns
    -------
    ObjectCounts
    """
    from scipy import ndimage

    pl, n_p = ndimage.label(np.asarray(pred_mask, bool), structure=_EIGHT)
    tl, n_t = ndimage.label(np.asarray(true_mask, bool), structure=_EIGHT)
    out = ObjectCounts(0, int(n_p), int(n_t))
    if n_p == 0 or n_t == 0:
        return out
    both = (pl > 0) & (tl > 0)
    pairs = tl[both].astype(np.int64) * (n_p + 1) + pl[both]
    keys, inter = np.unique(pairs, return_counts=True)
    ti, pi = np.divmod(keys, n_p + 1)
    area_p = np.bincount(pl.ravel(), minlength=n_p + 1)
    area_t = np.bincount(tl.ravel(), minlength=n_t + 1)
    iou = inter / (area_p[pi] + area_t[ti] - inter)
    ok = iou >= min_iou
    order = np.argsort(-iou[ok], kind="stable")
    used_p, used_t = set(), set()
    for a, b in zip(ti[ok][order].tolist(), pi[ok][order].tolist(), strict=True):
        if a not in used_t and b not in used_p:
            used_t.add(a)
            used_p.add(b)
    out.matched = len(used_t)
    return out


@dataclass
class TileScores:
    """One tile's (or the overall) figures.

    Attributes
    ----------
    confusion : numpy.ndarray
        ``(n, n)`` int64, rows = truth, columns = prediction.
    objects : dict
        ``{class index: ObjectCounts}`` for the foreground classes.
    """

    confusion: np.ndarray
    objects: dict[int, ObjectCounts] = field(default_factory=dict)

    def figures(self, names: Sequence[str]) -> dict:
        """``{class name: {"iou", "dice", "precision", "recall", "f1", "objects": {...}}}``."""
        iou, dice = pixel_figures(self.confusion)
        out = {}
        for k, name in enumerate(names):
            row = {"iou": iou[k], "dice": dice[k]}
            if k in self.objects:
                o = self.objects[k]
                row.update(precision=o.precision, recall=o.recall, f1=o.f1,
                           objects={"matched": o.matched, "predicted": o.predicted,
                                    "true": o.true})
            out[name] = row
        return out


@dataclass
class Scores:
    """Per-tile and overall scores (see the module docstring).

    Attributes
    ----------
    names : tuple of str
        Class names, index 0 the background.
    tiles : list of TileScores
    overall : TileScores
        The sums over tiles.
    """

    names: tuple[str, ...]
    tiles: list[TileScores]
    overall: TileScores

    def iou(self) -> dict[str, float | None]:
        """Overall pixel IoU per class name."""
        return dict(zip(self.names, pixel_figures(self.overall.confusion)[0], strict=True))

    def mean_foreground_iou(self) -> float:
        """Mean overall IoU over the foreground classes present (0.0 when none)."""
        vals = [v for v in pixel_figures(self.overall.confusion)[0][1:] if v is not None]
        return float(np.mean(vals)) if vals else 0.0

    def to_json(self) -> dict:
        """``{"classes", "overall": figures, "tiles": [figures, ...]}`` (plain JSON types)."""
        return {"classes": list(self.names), "overall": self.overall.figures(self.names),
                "tiles": [t.figures(self.names) for t in self.tiles]}


def score_maps(preds: Sequence[np.ndarray], truths: Sequence[np.ndarray],
               names: Sequence[str], *, objects: bool = True, ignore: int | None = None,
               min_iou: float = MATCH_IOU) -> Scores:
    """Compare predicted class maps with true ones, tile by tile and overall.

    Parameters
    ----------
    preds, truths : sequence of numpy.ndarray
        Integer class maps, pairwise of one shape (tiles may differ in shape).
    names : sequence of str
        Class names; index 0 is the background.
    objects : bool
        Also match objects (connected components) per foreground class.
    ignore : int, optional
        A truth value not counted in pixel figures (objects use ``truth == k``).
    min_iou : float
        Object matching threshold.

    Returns
    -------
    Scores

    Raises
    ------
    ValueError
        Lists of different lengths, a pair of different shapes, a value
        outside the classes.
    """
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predicted maps but {len(truths)} true ones")
    return score_pairs(zip(preds, truths, strict=True), names, objects=objects, ignore=ignore,
                       min_iou=min_iou)


def score_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], names: Sequence[str], *,
                objects: bool = True, ignore: int | None = None,
                min_iou: float = MATCH_IOU) -> Scores:
    """:func:`score_maps` over ``(prediction, truth)`` pairs, read one pair at a time.

    For many tiles read from files: only one pair is in memory at once. Same
    parameters (but ``pairs``), result and errors.
    """
    n = len(names)
    tiles = []
    total = TileScores(np.zeros((n, n), np.int64), {k: ObjectCounts() for k in range(1, n)}
                       if objects else {})
    for p, t in pairs:
        p, t = np.asarray(p), np.asarray(t)
        ts = TileScores(confusion(p, t, n, ignore=ignore))
        if objects:
            for k in range(1, n):
                ts.objects[k] = match_objects(p == k, t == k, min_iou)
                total.objects[k] += ts.objects[k]
        total.confusion += ts.confusion
        tiles.append(ts)
    return Scores(tuple(names), tiles, total)
