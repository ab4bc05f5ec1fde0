"""A local Hugging Face semantic-segmentation checkpoint as a segmenter (:class:`HFSegmenter`).

The folder holds ``config.json``, ``model.safetensors`` and
``preprocessor_config.json``; the tile goes through the image processor, the
logits are mapped back to the tile's own pixels (see the class docstring), and
the class map follows the seed's threshold rule or the argmax over the chosen
classes (:mod:`.class_choice`).
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..common import PixelSize
from ..geometry.resample import Resampling, resampling
from .base import ModelError, check_tiles, one_line
from .checkpoint import get_checkpoint
from .class_choice import class_note, select_classes
from .model_classes import class0_is_background, is_sigmoid
from .pixel_lut import build_pixel_lut
from .processor_geometry import GeometryError, crop_overrides, measure_geometry
from .runtime import (
    class_argmax,
    default_num_threads,
    default_streams,
    prefer_passive_openmp,
    resolve_device,
    torch_threads,
)

__all__ = ["HFSegmenter", "DRY_RUN_TILE"]




# --------------------------------------------------------------------------- devices


















#: Tile size of the dry run every checkpoint gets once, before any output is written.
DRY_RUN_TILE = 512




#: Factors (image pixel size / model pixel size) within which tiles are resampled
#: for a model; outside, they are segmented as they are and the note says why
#: (a 512 px tile would become a 4096 px one at x8).
MATCH_FACTORS = (1 / 16, 4.0)


def as_micrometres(pixel_size: Any) -> float:
    """One pixel size in micrometres: a number, or a ``PixelSize``'s geometric mean of x and y."""
    if isinstance(pixel_size, PixelSize):
        return pixel_size.mean
    return float(pixel_size)


class HFSegmenter:
    """A local Hugging Face semantic-segmentation checkpoint as a :class:`Segmenter`.

    The folder must hold ``config.json``, ``preprocessor_config.json`` and weights in
    safetensors format (``model.safetensors`` or shards with
    ``model.safetensors.index.json``). Nothing is downloaded and no remote code runs.
    Weights saved in float16 or bfloat16 are loaded as float32 (``half=True``
    keeps float16 on CUDA). Loaded models are cached per (folder, device,
    options) and shared between instances; a change to the files on disk loads
    them anew. Each loaded model runs once on a black ``tile_size`` tile when
    first built (a dry run), so that a model that cannot run fails here,
    before anything is written.

    Per batch: the image processor prepares the tiles (crops skipped, see
    :mod:`~napari_axons.core.segment.processor_geometry`; as a lookup table where that
    gives the same bytes, see :mod:`~napari_axons.core.segment.pixel_lut`), the model
    runs under ``torch.inference_mode()``, the logits are mapped back to the
    tile's pixels (padding cut off, then resized bilinearly with
    ``align_corners=False``: SegFormer's logits are 1/4 of the input size)
    *before* the softmax over classes, and then:

    * ``classes=None`` (default, the seed's rule): class 1 where
      ``prob[class_index] > threshold``, else 0. :attr:`classes` is the
      background plus one class named ``label_class`` (default ``"axon"``,
      whatever the model calls its class), so a default export is the seed's.
    * ``classes="all"``: the argmax over the model's classes; :attr:`classes`
      is the model's table (``config.id2label``; index 0 the background).
    * ``classes="axon,myelin"`` (or a list of names): the same argmax, then the
      classes not listed become background (0), and the listed ones are
      numbered 1, 2, ... in the order given. A pixel keeps the class it has
      under ``"all"`` or becomes background: a listed class never grows into
      the pixels of an unlisted one.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint folder.
    classes : None, "all", str or sequence of str, optional
        See above (default None).
    label_class : str, optional
        Name of the one class under the threshold rule (default ``"axon"``).
    class_index : int, optional
        Foreground class of the threshold rule (default 1). Not with ``classes``.
    threshold : float, optional
        Probability threshold in [0, 1) (default 0.5). Not with ``classes``.
    device : str, optional
        ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``; see
        :func:`resolve_device`.
    batch_size : int, optional
        Tiles per forward pass (default 1 on CPU, where batching gained at most
        1.2x in measurements and a batch costs latency; 8 on a GPU).
    num_threads : int, optional
        Torch CPU threads in all (default :func:`default_num_threads`), shared
        between the ``streams``: each forward pass runs with
        ``max(1, num_threads // streams)`` threads (set for the call, then
        restored). Ignored on a GPU.
    streams : int, optional
        Batches the model works on at once on CPU, each in its own thread
        (default :func:`default_streams`; 1 on a GPU, where batches are larger).
        The pipeline runs this many :meth:`predict_prepared` calls at once on
        :func:`model_executor` (the segmenter itself never does). Like any
        change of torch's thread count, it can move probabilities by ~1e-7
        (rounding), so only a pixel that close to a decision can differ.
    bf16 : bool, optional
        Run the forward pass under bfloat16 autocast (default False). Faster on CPUs
        with AVX512-BF16, at the cost of small differences near the threshold.
    half : bool, optional
        Keep the weights in float16 (CUDA only; default False: float32).
    allow_pickle : bool, optional
        Allow pickled ``pytorch_model.bin`` weights (default False): unpickling
        untrusted files can run arbitrary code.
    tile_size : int, optional
        Side of the black tile of the dry run, px (default 512): give the
        export's tile size, so that a model or processor that cannot handle
        it fails before anything is written.
    batch_tolerance : float, optional
        Class maps never depend on how tiles were batched: batched kernels round
        differently from single-tile ones (logits differ by ~1e-6 of their
        magnitude in fp32, ~1e-3 under bf16), so a tile of a batch is recomputed
        alone where any pixel is that close to a decision, measured in logits
        relative to the tile's largest logit ``L`` (at least 1): its log-odds
        within ``batch_tolerance * L`` of the threshold's (threshold rule), or its
        two largest logits within ``batch_tolerance * L`` of each other (argmax;
        an exact tie goes to the lower class index). Probabilities would not do:
        a decisive model's logits of ~1000 make a rounding difference of 1e-3,
        which moves a probability near the threshold by far more than 1e-5.
        Default: 1e-5 (fp32) or 5e-3 (bf16, float16); 0 turns the check off.
    image_pixel_size : float, optional
        The pixel size of the tiles, micrometres. With the model's stated
        :attr:`pixel_size_um`, tiles are resampled to the model's pixel size
        and its logits mapped back onto the tiles' own pixels before the
        decision (:mod:`napari_axons.core.geometry.resample`); class maps keep the
        tiles' shape. Unknown (None, default) or within 2 %: tiles as they are.

    Attributes
    ----------
    classes : ClassTable
        What the class maps' values mean.
    pixel_size_um : float or None
        The training pixel size the folder states (``napari_axons.json`` beside
        ``config.json`` with ``{"pixel_size_um": ...}``, or a ``pixel_size_um``
        field in ``config.json``), in micrometres.
    resampling : Resampling or None
        How tiles are resampled for the model (``image_pixel_size``).

    Raises
    ------
    ModelError
        If the folder, the checkpoint or an option is unusable, or the model
        fails its dry run (one-line message).
    """

    kind = "huggingface"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        classes: Any = None,
        label_class: str = "axon",
        class_index: int | None = None,
        threshold: float | None = None,
        device: str = "auto",
        batch_size: int | None = None,
        num_threads: int | None = None,
        streams: int | None = None,
        bf16: bool = False,
        half: bool = False,
        allow_pickle: bool = False,
        batch_tolerance: float | None = None,
        tile_size: int = DRY_RUN_TILE,
        image_pixel_size: float | None = None,
    ) -> None:
        prefer_passive_openmp()  # before torch's first import (a no-op after it)
        p = Path(path).expanduser()
        if not p.exists():
            raise ModelError(f"{p}: model folder does not exist")
        if not p.is_dir():
            raise ModelError(f"{p}: not a folder (expected a Hugging Face checkpoint folder)")
        p = p.resolve()
        if threshold is not None and not 0.0 <= float(threshold) < 1.0:
            raise ModelError(f"{p}: threshold must be in [0, 1), got {threshold}")
        if batch_size is not None and int(batch_size) < 1:
            raise ModelError(f"{p}: batch_size must be >= 1, got {batch_size}")
        if num_threads is not None and int(num_threads) < 1:
            raise ModelError(f"{p}: num_threads must be >= 1, got {num_threads}")
        if streams is not None and int(streams) < 1:
            raise ModelError(f"{p}: streams must be >= 1, got {streams}")
        self.path = p
        self.device = resolve_device(device)
        if half and not self.device.startswith("cuda"):
            raise ModelError(f"{p}: half precision (float16) runs on CUDA only, not on "
                             f"{self.device}; on a CPU, bf16 autocast is the fast option")
        self._loaded = get_checkpoint(p, self.device, allow_pickle, bool(half))
        id2label = self._id2label_raw()
        #: the model's class 0 is the background (else a real class; see model_classes)
        self.background0 = class0_is_background(id2label, self._loaded.processor)
        #: one logit: its sigmoid is the one class's probability
        self.sigmoid = is_sigmoid(len(id2label))
        self.mode, self.classes, self._lut, self.class_index, self.threshold = select_classes(
            p, id2label, classes, label_class, class_index, threshold, self.background0,
            made_here=(p / "napari_axons.json").is_file())
        #: one line when the one-class rule writes a model class under another name
        self.class_note = class_note(id2label, self.mode, self.class_index,
                                     self.classes.names[-1], p.name)
        self.pixel_size_um = self._loaded.pixel_size_um
        try:
            self.resampling = resampling(image_pixel_size, self.pixel_size_um)
        except ValueError as exc:
            raise ModelError(f"{p}: {exc}") from None
        on_gpu = not self.device.startswith("cpu")
        self.batch_size = int(batch_size) if batch_size is not None else (8 if on_gpu else 1)
        self.num_threads = None if on_gpu else int(num_threads or default_num_threads())
        if on_gpu:
            self.streams = 1
        else:
            self.streams = int(streams) if streams is not None else default_streams(self.num_threads)
        self.stream_threads = None if on_gpu else max(1, self.num_threads // self.streams)
        self._reruns_lock = threading.Lock()
        self._lut_lock = threading.Lock()
        self._luts: dict[tuple[int, int], Any] = {}
        self._resamplings: dict[float, Resampling | None] = {}
        self.bf16 = bool(bf16)
        self.half = bool(half)
        if batch_tolerance is None:
            batch_tolerance = 5e-3 if (self.bf16 or self.half) else 1e-5
        self.batch_tolerance = float(batch_tolerance)
        self.name = p.name
        if isinstance(tile_size, bool) or int(tile_size) < 1:
            raise ModelError(f"{p}: tile_size must be >= 1, got {tile_size}")
        self._dry_run(int(tile_size))
        self.reruns = 0  # tiles recomputed alone by the batch-invariance check

    def _id2label_raw(self) -> dict[int, str]:
        """Every class index of the model -> its name (``class_K`` where unnamed)."""
        given = {int(k): str(v) for k, v in
                 (getattr(self._loaded.config, "id2label", None) or {}).items()}
        return {k: given.get(k, f"class_{k}") for k in range(int(self._loaded.config.num_labels))}

    def _id2label(self) -> dict[str, str]:
        return {str(k): v for k, v in sorted(self._id2label_raw().items())}

    def _dry_run(self, size: int) -> None:
        """Run one black ``size x size`` tile through everything, once per loaded model.

        Raises
        ------
        ModelError
            Naming the folder and the model's error, before any output exists.
        """
        loaded = self._loaded
        if size in loaded.checked:
            return
        try:
            self.predict(np.zeros((1, size, size, 3), np.uint8))
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(
                f"{self.path}: the model fails on a {size} x {size} test tile "
                f"({type(e).__name__}: {one_line(e, 200)})"
            ) from e
        loaded.checked.add(size)

    @property
    def model(self) -> Any:
        """The loaded ``torch.nn.Module`` (shared with other instances)."""
        return self._loaded.model

    @property
    def processor(self) -> Any:
        """The loaded image processor (shared with other instances)."""
        return self._loaded.processor

    def prepare(self, overview: np.ndarray) -> None:
        """Nothing to do: the model has no image-wide state."""

    def resampling_for(self, image_pixel_size: Any = None) -> Resampling | None:
        """How tiles of pixel size ``image_pixel_size`` are resampled for the model, or None.

        Parameters
        ----------
        image_pixel_size : float, PixelSize or None
            Micrometres per pixel of the tiles (a ``PixelSize``: the geometric
            mean of its ``x`` and ``y``). None: the constructor's
            ``image_pixel_size`` (:attr:`resampling`).

        Returns
        -------
        Resampling or None
            None when the model states no pixel size, the tiles' is unknown,
            they agree within 2 %, or the factor is outside
            :data:`MATCH_FACTORS` (tiles as they are; :func:`pixel_size_note` says so).
        """
        if image_pixel_size is None:
            return self.resampling
        um = as_micrometres(image_pixel_size)
        with self._lut_lock:
            if um not in self._resamplings:
                r = resampling(um, self.pixel_size_um)
                ok = r is None or MATCH_FACTORS[0] <= r.factor <= MATCH_FACTORS[1]
                self._resamplings[um] = r if ok else None
            return self._resamplings[um]

    def predict(self, tiles: np.ndarray, image_pixel_size: Any = None) -> np.ndarray:
        """Segment tiles, ``batch_size`` at a time.

        Parameters
        ----------
        tiles : numpy.ndarray
            ``(N, H, W, 3)`` uint8.
        image_pixel_size : float, PixelSize or None
            The tiles' pixel size in micrometres: with the model's stated
            :attr:`pixel_size_um` the tiles are segmented at the model's pixel
            size (:meth:`resampling_for`). None: the constructor's.

        Returns
        -------
        numpy.ndarray
            ``(N, H, W)`` uint8 class maps at the tile size: values index
            :attr:`classes` (0/1 under the threshold rule).

        Raises
        ------
        ModelError
            If the image processor maps this tile size in a way that cannot be
            undone (see :mod:`~napari_axons.core.segment.processor_geometry`).
        """
        return self.predict_prepared(self.preprocess(tiles, image_pixel_size))

    def geometry(self, height: int, width: int) -> Any:
        """The measured :class:`~napari_axons.core.segment.processor_geometry.TileGeometry`
        of ``height x width`` tiles (once per size)."""
        key = (int(height), int(width))
        cache = self._loaded.geometry  # shared by the instances of one loaded model
        with self._lut_lock:
            if key not in cache:
                try:
                    cache[key] = measure_geometry(self.processor, *key)
                except GeometryError as exc:
                    raise ModelError(f"{self.path / 'preprocessor_config.json'}: {exc}") from None
            return cache[key]

    def preprocess(self, tiles: np.ndarray, image_pixel_size: Any = None) -> tuple:
        """The image processor's preprocessing of ``tiles``, batch by batch.

        Split from :meth:`predict_prepared` so that a pipeline can run it on
        another thread while the model works on the previous batch;
        ``predict(t, um) == predict_prepared(preprocess(t, um))``. The
        resampling for ``image_pixel_size`` (:meth:`resampling_for`) travels
        with the result, so batches of images at different pixel sizes can be
        in flight at once.
        """
        import torch

        tiles = check_tiles(tiles)
        shape = tiles.shape[:3]
        r = self.resampling_for(image_pixel_size)
        if r is not None:  # to the model's pixel size
            tiles = r.to_model(tiles)
        geometry = self.geometry(*tiles.shape[1:3])
        lut = self._pixel_lut(*tiles.shape[1:3])
        batches = []
        for start in range(0, tiles.shape[0], self.batch_size):
            chunk = tiles[start : start + self.batch_size]
            if lut is not None:
                batches.append(torch.from_numpy(lut(chunk)))
                continue
            inputs = self.processor(
                images=list(chunk), return_tensors="pt", input_data_format="channels_last",
                **geometry.overrides,
            )
            batches.append(inputs["pixel_values"])
        return shape, batches, r

    def _pixel_lut(self, height: int, width: int):
        """The processor as a lookup table for this tile size, when exactly one (or None)."""
        key = (height, width)
        overrides = self.geometry(height, width).overrides
        with self._lut_lock:
            if key not in self._luts:
                from functools import partial

                self._luts[key] = build_pixel_lut(partial(self.processor, **overrides),
                                                  height, width)
            return self._luts[key]

    def predict_prepared(self, prepared: tuple) -> np.ndarray:
        """Class maps for the output of :meth:`preprocess`.

        Safe to call from several threads at once; batches are run one after
        the other in the calling thread, with ``stream_threads`` torch threads.
        Running ``streams`` calls at once is the pipeline's job
        (:class:`napari_axons.core.export.tilepath.TilePath`).
        """
        (n, h, w), batches, r = prepared
        out = np.zeros((n, h, w), np.uint8)
        starts = np.cumsum([0] + [int(pv.shape[0]) for pv in batches])
        geometry = self.geometry(*(r.model_size(h, w) if r is not None else (h, w)))
        with torch_threads(self.stream_threads):
            maps = [self._predict_batch(pv, geometry, (h, w), r) for pv in batches]
        for start, stop, m in zip(starts[:-1], starts[1:], maps, strict=True):
            out[start:stop] = m
        return out

    def _predict_batch(self, pixel_values: Any, geometry: Any, size: tuple,
                       r: Resampling | None) -> np.ndarray:
        import torch

        dtype = torch.float16 if self.half else torch.float32
        pixel_values = pixel_values.to(self.device, dtype=dtype)
        n = pixel_values.shape[0]
        h, w = size

        def to_tile(logits):  # the model's input grid, then the tile's own pixels
            logits = geometry.to_tile(logits)
            return logits if r is None else r.to_tile(logits, size)

        with torch.inference_mode():
            logits = self._forward(pixel_values)
            maps = torch.empty((n, h, w), dtype=torch.uint8, device=logits.device)
            # one tile at a time: bounded memory with many classes, and results that do
            # not depend on how tiles were batched
            for i in range(n):
                cmap, near = self._decide(to_tile(logits[i : i + 1]), n > 1)
                if near:
                    cmap, _ = self._decide(to_tile(self._forward(pixel_values[i : i + 1])), False)
                    with self._reruns_lock:
                        self.reruns += 1
                maps[i] = cmap
            result = maps.to("cpu").numpy()
        return result

    def _decide(self, logits: Any, check: bool) -> tuple[Any, bool]:
        """Class map (h, w) uint8 of one tile's logits (1, C, h, w), and whether a pixel
        is within ``batch_tolerance`` of a decision (only when ``check``; see the class doc)."""
        import torch

        logits = logits[0]
        check = check and self.batch_tolerance > 0
        tol = self.batch_tolerance * max(1.0, float(logits.abs().max())) if check else 0.0
        if self.sigmoid or self.mode == "binary":
            if self.sigmoid:  # one logit: its sigmoid (any mode: the table's class 1 is its class)
                p = torch.sigmoid(logits[0])
            else:
                p = torch.softmax(logits, dim=0)[self.class_index]
            near = False
            if check:  # the class's log-odds against the threshold's, in logits
                if self.sigmoid:
                    log_odds = logits[0]
                else:
                    ci = self.class_index
                    others = torch.cat([logits[:ci], logits[ci + 1:]])
                    log_odds = logits[ci] - torch.logsumexp(others, dim=0)
                t = self.threshold
                at = float("-inf") if t <= 0 else math.log(t / (1.0 - t))
                near = bool((log_odds - at).abs_().lt_(tol).any())
            return (p > self.threshold).to(torch.uint8), near
        index, best, second = class_argmax(logits, second=check)  # softmax keeps the order
        near = check and bool((best - second).lt_(tol).any())
        if self._lut is not None:  # model index (may exceed 255) -> table index
            return self._lut_on(index.device)[index.long()], near
        return index.to(torch.uint8), near  # no copy when already uint8

    def _lut_on(self, device: Any) -> Any:
        """The subset's model-index -> table-index table as a uint8 tensor on ``device``."""
        import torch

        key = str(device)
        cache = self.__dict__.setdefault("_lut_tensors", {})
        if key not in cache:
            cache[key] = torch.from_numpy(self._lut).to(device)
        return cache[key]

    def _forward(self, pixel_values: Any) -> Any:
        import torch

        if self.bf16:
            dev_type = torch.device(self.device).type
            with torch.autocast(device_type=dev_type, dtype=torch.bfloat16):
                return self.model(pixel_values=pixel_values).logits.float()
        return self.model(pixel_values=pixel_values).logits.float()

    def info(self) -> dict:
        """JSON-able description of the checkpoint and the settings in use."""
        import torch
        import transformers

        cfg = self._loaded.config
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "model_type": getattr(cfg, "model_type", None),
            "architectures": list(getattr(cfg, "architectures", None) or []),
            "processor": type(self.processor).__name__,
            "processor_overrides": crop_overrides(self.processor),
            "id2label": self._id2label(),
            "classes_mode": self.mode,
            "output": "sigmoid" if self.sigmoid else "softmax",
            "class_0": "background" if self.background0 and not self.sigmoid else "a class",
            "classes": list(self.classes.names),
            "class_index": self.class_index if self.mode == "binary" else None,
            "threshold": self.threshold if self.mode == "binary" else None,
            "pixel_size_um": self.pixel_size_um,
            "weights": [p.name for p in self._loaded.weights],
            "weights_format": "pickle" if self._loaded.pickled else "safetensors",
            "weights_sha256": self._loaded.weights_sha256(),
            "dtype": self._loaded.dtype,
            "device": self.device,
            "batch_size": self.batch_size,
            "num_threads": self.num_threads,
            "streams": self.streams,
            "bf16": self.bf16,
            "batch_tolerance": self.batch_tolerance,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }

    def __repr__(self) -> str:
        return (f"HFSegmenter({str(self.path)!r}, device={self.device!r}, mode={self.mode!r}, "
                f"classes={list(self.classes.foreground)})")


# --------------------------------------------------------------------------- pixel size





# --------------------------------------------------------------------------- factory




