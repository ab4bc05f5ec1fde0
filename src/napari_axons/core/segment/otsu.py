"""The built-in segmenter (``--model otsu``): one global threshold, bright or dark objects.

numpy/scipy/scikit-image only. Re-exported by :mod:`~napari_axons.core.segment`.
"""

from __future__ import annotations

import numpy as np

from .base import ModelError, check_tiles, one_class_table

__all__ = ["ThresholdSegmenter"]


class ThresholdSegmenter:
    """Global-threshold segmentation of bright (or dark) structures.

    Per tile: grey level (``max`` of R, G, B, or ``luminance``), a Gaussian blur of
    ``sigma`` px, a threshold (foreground: grey ``> threshold`` for bright
    objects, ``< threshold`` for dark ones), then removal of connected objects
    smaller than ``min_size`` px that do not touch the tile border (an object cut
    by a tile edge may be part of a larger one, so it is kept: neighbouring tiles
    agree at seams).

    The threshold is image-wide so that tiles agree: :meth:`prepare` computes it once
    with Otsu's method on the raw grey levels of the overview (a histogram statistic,
    so an overview made of full-resolution crops or a strided subsample gives the
    same value as the whole image; an area-averaged pyramid level dims thin
    filaments and gives a lower threshold). ``threshold`` fixes it by hand instead.
    A flat image gets no foreground with either polarity.

    One class: the class maps are 0/1 and :attr:`classes` is the background plus
    ``label_class``.

    Parameters
    ----------
    threshold : float, optional
        A fixed grey-level threshold (0-255). ``None`` (default): Otsu, see above.
    sigma : float, optional
        Gaussian smoothing before thresholding, in px (default 1.0; 0 disables).
    min_size : int, optional
        Objects smaller than this many px (and not touching the tile border) are
        removed (default 32; 0 disables).
    channel : {"max", "luminance"}, optional
        How RGB becomes grey (default ``"max"``: any bright channel counts; a
        dark object must then be dark in every channel).
    polarity : {"bright", "dark"}, optional
        Objects brighter than the background (default: fluorescence) or darker
        (bright-field, stained sections).
    label_class : str, optional
        Name of the one class (default ``"axon"``).
    batch_size : int, optional
        Tiles per :meth:`predict` call suggested to the caller (default 16).

    Raises
    ------
    ModelError
        If an option is invalid (one line).
    """

    kind = "threshold"
    pixel_size_um = None

    def __init__(
        self,
        *,
        threshold: float | None = None,
        sigma: float = 1.0,
        min_size: int = 32,
        channel: str = "max",
        polarity: str = "bright",
        label_class: str = "axon",
        batch_size: int = 16,
    ) -> None:
        if channel not in ("max", "luminance"):
            raise ModelError(f"otsu: channel must be 'max' or 'luminance', got {channel!r}")
        polarity = str(polarity).strip().lower()
        if polarity not in ("bright", "dark"):
            raise ModelError(f"otsu: polarity must be 'bright' or 'dark', got {polarity!r}")
        if sigma < 0 or min_size < 0 or batch_size < 1:
            raise ModelError("otsu: sigma and min_size must be >= 0 and batch_size >= 1")
        self.name = "otsu"
        self.batch_size = int(batch_size)
        self.sigma = float(sigma)
        self.min_size = int(min_size)
        self.channel = channel
        self.polarity = polarity
        self.classes = one_class_table(label_class, "otsu")
        self._fixed = None if threshold is None else float(threshold)
        self._threshold: float | None = self._fixed
        self._source = "manual" if threshold is not None else None

    @property
    def threshold(self) -> float | None:
        """The threshold in use (``None`` until :meth:`prepare` when automatic)."""
        return self._threshold

    def _gray(self, rgb: np.ndarray) -> np.ndarray:
        if self.channel == "max":
            return rgb.max(axis=-1).astype(np.float32)
        return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)

    def _otsu(self, rgb: np.ndarray) -> float:
        from skimage.filters import threshold_otsu

        gray = self._gray(rgb).ravel()
        if gray.size == 0:
            raise ValueError("otsu: cannot compute a threshold from an empty image")
        if gray.min() == gray.max():
            return float(gray[0])  # flat image: nothing is above or below it
        return float(threshold_otsu(gray))

    def prepare(self, overview: np.ndarray) -> None:
        """Compute the image-wide threshold from an RGB uint8 overview (unless fixed).

        Parameters
        ----------
        overview : numpy.ndarray
            ``(h, w, 3)`` uint8 view of the whole image.
        """
        if self._fixed is not None:
            return
        overview = np.asarray(overview)
        if overview.ndim != 3 or overview.shape[-1] != 3:
            raise ValueError(f"overview must be (h, w, 3) RGB, got shape {overview.shape}")
        self._threshold = self._otsu(overview)
        self._source = "overview"

    def state(self) -> dict:
        """What :meth:`prepare` computed, as a small JSON-able dict.

        Used to run one prepared segmenter on several processes (a dask cluster):
        ``other.set_state(seg.state())`` makes ``other`` predict exactly as ``seg``.
        """
        return {"threshold": self._threshold, "threshold_source": self._source}

    def set_state(self, state: dict) -> None:
        """Adopt the state of another instance (see :meth:`state`)."""
        self._threshold = None if state["threshold"] is None else float(state["threshold"])
        self._source = state["threshold_source"]

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        """Segment a batch of tiles.

        Deterministic, and each tile's mask depends only on that tile and the
        prepared threshold. If :meth:`prepare` was never called (and no fixed
        threshold was given), the threshold is computed with Otsu from this batch
        alone, each call anew: masks then depend on the batch they came in.

        Parameters
        ----------
        tiles : numpy.ndarray
            ``(N, H, W, 3)`` uint8.

        Returns
        -------
        numpy.ndarray
            ``(N, H, W)`` uint8 class maps, 0 (background) or 1 (the class).
        """
        from scipy import ndimage as ndi

        tiles = check_tiles(tiles)
        out = np.zeros(tiles.shape[:3], np.uint8)
        if tiles.shape[0] == 0:
            return out
        thr = self._threshold if self._threshold is not None else self._otsu(tiles)
        for i, tile in enumerate(tiles):
            gray = self._gray(tile)
            if self.sigma > 0:
                gray = ndi.gaussian_filter(gray, self.sigma, mode="nearest")
            fg = gray > thr if self.polarity == "bright" else gray < thr
            if self.min_size > 0 and fg.any():
                fg = self._remove_small(fg)
            out[i][fg] = 1
        return out

    def _remove_small(self, fg: np.ndarray) -> np.ndarray:
        from scipy import ndimage as ndi

        lab, n = ndi.label(fg, structure=np.ones((3, 3), bool))
        if n == 0:
            return fg
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        keep = sizes >= self.min_size
        border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
        keep[border] = True
        keep[0] = False
        return keep[lab]

    def info(self) -> dict:
        """JSON-able description: name, kind, threshold and its source, parameters."""
        return {
            "name": self.name,
            "kind": self.kind,
            "method": "otsu" if self._fixed is None else "fixed",
            "threshold": self._threshold,
            "threshold_source": self._source or "per-batch",
            "channel": self.channel,
            "polarity": self.polarity,
            "classes": list(self.classes.names),
            "sigma": self.sigma,
            "min_size": self.min_size,
            "batch_size": self.batch_size,
        }

    def __repr__(self) -> str:
        return (
            f"ThresholdSegmenter(threshold={self._threshold}, sigma={self.sigma}, "
            f"min_size={self.min_size}, channel={self.channel!r}, polarity={self.polarity!r})"
        )
