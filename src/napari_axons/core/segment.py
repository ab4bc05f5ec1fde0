"""Segmenters: turn batches of RGB tiles into class maps.

Two implementations of one small protocol (:class:`Segmenter`):

- :class:`ThresholdSegmenter` (``"otsu"``), the built-in default for bright filaments
  and cells on a dark background; numpy/scipy/scikit-image only.
- :class:`HFSegmenter`, a local Hugging Face semantic-segmentation checkpoint folder
  (``config.json``, ``model.safetensors``, ``preprocessor_config.json``).

The threshold segmenter lives in :mod:`~napari_axons.core.threshold`, checkpoint
loading in :mod:`~napari_axons.core.checkpoint`, the processor's geometry in
:mod:`~napari_axons.core.processor_geometry` and the shared protocol in
:mod:`~napari_axons.core.segmenter_base`; the public names are re-exported here.

:func:`load_segmenter` picks one from a user-facing spec. This module is headless:
``torch`` and ``transformers`` are imported inside functions only, so importing it
is cheap and works without them.

Every segmenter returns *class maps* (``(N, H, W)`` uint8, 0 = background,
``k`` = class ``k`` of its :class:`~napari_axons.core.common.ClassTable`,
``segmenter.classes``). One-class segmenters (Otsu, a checkpoint under the
seed's threshold rule) give 0/1 and a table of the background and one class
named ``label_class`` (default ``"axon"``, the seed's).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import clear_model_cache, get_checkpoint
from .common import ClassTable, ClassTableError
from .segmenter_base import ModelError, Segmenter, check_tiles, one_class_table, one_line
from .threshold import ThresholdSegmenter

__all__ = [
    "HFSegmenter",
    "ModelError",
    "Segmenter",
    "ThresholdSegmenter",
    "clear_model_cache",
    "default_num_threads",
    "default_streams",
    "load_segmenter",
    "model_batching",
    "model_executor",
    "prefer_passive_openmp",
    "pixel_size_note",
    "resolve_device",
]

BUILTIN = ("otsu",)



# --------------------------------------------------------------------------- devices


def class_argmax(prob: Any, *, second: bool = False) -> tuple[Any, Any, Any]:
    """Argmax over classes, its value and (optionally) the second-largest value.

    One pass of elementwise operations per class: on one CPU thread about 15
    times faster than ``torch.max(dim=0)`` plus ``torch.topk(2, dim=0)`` (which
    reduce across the strided class axis), for 2 to 150 classes.

    Parameters
    ----------
    prob : torch.Tensor, shape (C, H, W), float
        Per-class scores of one tile (probabilities or logits), C >= 1.
    second : bool
        Also return the second-largest score of each pixel.

    Returns
    -------
    index : torch.Tensor, shape (H, W)
        The class of the largest score; an exact tie goes to the lower index
        (as ``torch.max``). uint8 when C <= 256, else int64.
    best : torch.Tensor, shape (H, W), float
        The largest score.
    runner_up : torch.Tensor or None, shape (H, W), float
        The second-largest score (equal to ``best`` where two classes tie;
        ``-inf`` with one class), or None unless ``second``.
    """
    import torch

    n = int(prob.shape[0])
    dtype = torch.uint8 if n <= 256 else torch.int64
    best = prob[0].clone()
    index = torch.zeros(best.shape, dtype=dtype, device=prob.device)
    runner_up = torch.full_like(best, float("-inf")) if second else None
    for c in range(1, n):
        p = prob[c]
        above = (p > best).to(dtype)  # strictly: a tie keeps the lower index
        index.sub_(index * above).add_(above * c)
        if runner_up is not None:
            torch.maximum(runner_up, torch.minimum(best, p), out=runner_up)
        torch.maximum(best, p, out=best)
    return index, best, runner_up


def resolve_device(name: str | None = "auto") -> str:
    """Turn a device request into a torch device string that works here.

    Parameters
    ----------
    name : str, optional
        ``"auto"`` (default: ``cuda``, then ``mps``, then ``cpu``), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Returns
    -------
    str
        The device, e.g. ``"cpu"`` or ``"cuda:0"``.

    Raises
    ------
    ModelError
        If the device is unknown or not available on this machine.
    """
    import torch

    req = "auto" if name is None else str(name).strip().lower()
    mps_ok = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if req == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if mps_ok else "cpu"
    if req == "cpu":
        return "cpu"
    if req == "mps":
        if not mps_ok:
            raise ModelError("device 'mps' was asked for but Apple MPS is not available here")
        return "mps"
    if req == "cuda" or req.startswith("cuda:"):
        idx_text = req.partition(":")[2] or "0"
        if not idx_text.isdigit():
            raise ModelError(f"device {name!r}: expected 'cuda' or 'cuda:N'")
        if not torch.cuda.is_available():
            raise ModelError(
                f"device {name!r} was asked for but CUDA is not available here "
                f"(torch {torch.__version__}); use device='cpu' or 'auto'"
            )
        if int(idx_text) >= torch.cuda.device_count():
            raise ModelError(
                f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
        return f"cuda:{int(idx_text)}"
    raise ModelError(f"unknown device {name!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def default_num_threads() -> int:
    """Torch CPU threads used by default: the usable cores (at most 16).

    Safe on a busy machine because :func:`prefer_passive_openmp` sets
    ``OMP_WAIT_POLICY=PASSIVE`` before torch is first imported (by the CLI, and
    by :class:`HFSegmenter`; never at import time, unless the user set it): measured on 2
    cores with one core taken by another process, a tiny SegFormer ran at 15
    tiles/s with 2 passive threads, 16 with 1, and 2.9 with 2 spinning threads
    (ENVIRONMENT.md pitfall 4). On a quiet machine 2 threads ran a
    SegFormer-b0-sized model 1.7x faster than 1.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(16, cores))


def prefer_passive_openmp() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process, if torch is not imported yet.

    OpenMP threads that spin while waiting collapse torch's throughput when
    another process (or our own PNG encoders) holds a core; passive waiting
    does not (see :func:`default_num_threads` for the figures). The OpenMP
    runtime reads the variable once, when torch is first imported, so this only
    has an effect before that; a value the user set is left alone. Called by
    ``napari-axons`` (the CLI) at start and by :class:`HFSegmenter`; importing
    this module changes nothing.

    Returns
    -------
    bool
        True when the variable was set here.
    """
    import sys

    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def default_streams(num_threads: int) -> int:
    """Tiles a CPU model works on at once by default: ``min(num_threads, 4)``.

    Independent tiles parallelise better than the operations inside one small
    forward pass: measured on 2 cores, two tiles at a time with one torch thread
    each ran a tiny SegFormer at 38 tiles/s against 24 for one tile with two
    threads, and a SegFormer-b0-sized model at 3.5 against 2.8 tiles/s. Each
    stream holds its own activations, hence the cap.
    """
    return max(1, min(4, int(num_threads)))


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Torch intra-op threads of the *calling thread* set to ``n`` while inside.

    Torch keeps the OpenMP thread count per thread (a thread started later takes
    the last value set anywhere), so concurrent model calls on different threads
    each set their own.
    """
    import torch

    if not n:
        yield
        return
    old = torch.get_num_threads()
    if old != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if old != n:
            torch.set_num_threads(old)


def model_batching(segmenter: Any) -> tuple[int, int]:
    """``(batch_size, streams)`` of any segmenter: tiles per model call, calls at once.

    1 for what a segmenter does not say (e.g. a test double without ``streams``).
    """
    batch = max(1, int(getattr(segmenter, "batch_size", 1) or 1))
    return batch, max(1, int(getattr(segmenter, "streams", 1) or 1))


@contextmanager
def model_executor(segmenter: Any) -> Iterator[Executor]:
    """A thread pool that runs ``segmenter.streams`` model calls at once.

    Each of its threads is set to ``segmenter.stream_threads`` torch threads when
    it starts. Segmenters without ``streams`` get one thread. On exit the pool is
    shut down and the torch thread count that threads started later inherit is
    put back to the caller's.

    Parameters
    ----------
    segmenter : Segmenter
        The segmenter whose ``predict``/``predict_prepared`` calls the pool runs.

    Yields
    ------
    concurrent.futures.Executor
    """
    _, streams = model_batching(segmenter)
    threads = getattr(segmenter, "stream_threads", None)
    initializer = None
    if threads:
        def initializer():
            import torch

            torch.set_num_threads(int(threads))

    pool = ThreadPoolExecutor(streams, thread_name_prefix="napari-axons-model",
                              initializer=initializer)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if threads:
            import torch

            torch.set_num_threads(torch.get_num_threads())  # the caller's own count


#: Tile size of the dry run every checkpoint gets once, before any output is written.
DRY_RUN_TILE = 512


def _select_classes(
    path: Path, id2label: dict[int, str], classes: Any, label_class: str,
    class_index: int | None, threshold: float | None,
) -> tuple[str, ClassTable, np.ndarray | None, int, float]:
    """``(mode, table, lut, class_index, threshold)`` for the ``classes`` option.

    ``id2label`` holds every class index of the model. ``mode`` is ``"binary"``
    (the seed's threshold rule), ``"all"`` or ``"subset"``; ``lut`` maps the
    model's class indices to the table's (None for binary).
    """
    n = len(id2label)
    if classes is None:
        ci = 1 if class_index is None else class_index
        if isinstance(ci, bool) or not 0 <= int(ci) < n:
            raise ModelError(
                f"{path}: class_index {ci} is out of range: the model has {n} classes "
                f"({', '.join(id2label.values())})"
            )
        thr = 0.5 if threshold is None else float(threshold)
        if not 0.0 <= thr < 1.0:
            raise ModelError(f"{path}: threshold must be in [0, 1), got {threshold}")
        return "binary", one_class_table(label_class, str(path)), None, int(ci), thr
    if class_index is not None or threshold is not None:
        raise ModelError(
            f"{path}: class_index and threshold belong to the one-class threshold rule; "
            "with classes the class map is the argmax over the model's classes"
        )
    # the model's names as ClassTable.from_id2label gives them (duplicates get _K)
    names: list[str] = []
    for k in range(n):
        names.append(id2label[k] if id2label[k] not in names else f"{id2label[k]}_{k}")
    if isinstance(classes, str) and classes.strip().lower() == "all":
        try:
            table = ClassTable.from_id2label(id2label)
        except ClassTableError as exc:
            raise ModelError(f"{path}: the model's classes: {exc}; choose some of them "
                             "by name") from None
        return "all", table, np.arange(n, dtype=np.uint8), 1, 0.5
    listed = [str(c).strip() for c in (classes.split(",") if isinstance(classes, str)
                                        else classes)]
    for name in listed:
        if name == names[0]:
            raise ModelError(
                f"{path}: {name!r} is the model's background (class 0); list foreground "
                f"classes only: {', '.join(names[1:])}"
            )
        if name and name not in names:
            raise ModelError(
                f"{path}: the model has no class {name!r}; its classes are: "
                f"{', '.join(names[1:])}"
            )
    try:
        wanted = ClassTable.from_spec(",".join(listed))
    except ClassTableError as exc:
        raise ModelError(f"{path}: classes: {exc}") from None
    lut = np.zeros(n, np.uint8)
    for k, name in enumerate(wanted.foreground, start=1):
        lut[names.index(name)] = k
    return "subset", wanted, lut, 1, 0.5


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
    :mod:`~napari_axons.core.processor_geometry`; as a lookup table where that
    gives the same bytes, see :mod:`~napari_axons.core.pixel_lut`), the model
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
        differently from single-tile ones (probabilities differ by ~1e-7 in fp32,
        ~2e-4 under bf16), so a tile of a batch is recomputed alone where any
        pixel is that close to a decision: its probability within
        ``batch_tolerance`` of the threshold (threshold rule), or its two most
        likely classes within ``batch_tolerance`` of each other (argmax; an
        exact tie goes to the lower class index). Default: 1e-5 (fp32) or 5e-3
        (bf16, float16); 0 turns the check off.

    Attributes
    ----------
    classes : ClassTable
        What the class maps' values mean.
    pixel_size_um : float or None
        The training pixel size the folder states (``napari_axons.json`` beside
        ``config.json`` with ``{"pixel_size_um": ...}``, or a ``pixel_size_um``
        field in ``config.json``), in micrometres.

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
        self.mode, self.classes, self._lut, self.class_index, self.threshold = _select_classes(
            p, self._id2label_raw(), classes, label_class, class_index, threshold)
        self.pixel_size_um = self._loaded.pixel_size_um
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

    def predict(self, tiles: np.ndarray) -> np.ndarray:
        """Segment tiles, ``batch_size`` at a time.

        Parameters
        ----------
        tiles : numpy.ndarray
            ``(N, H, W, 3)`` uint8.

        Returns
        -------
        numpy.ndarray
            ``(N, H, W)`` uint8 class maps at the tile size: values index
            :attr:`classes` (0/1 under the threshold rule).

        Raises
        ------
        ModelError
            If the image processor maps this tile size in a way that cannot be
            undone (see :mod:`~napari_axons.core.processor_geometry`).
        """
        return self.predict_prepared(self.preprocess(tiles))

    def geometry(self, height: int, width: int) -> Any:
        """The measured :class:`~napari_axons.core.processor_geometry.TileGeometry`
        of ``height x width`` tiles (once per size)."""
        key = (int(height), int(width))
        cache = self._loaded.geometry  # shared by the instances of one loaded model
        with self._lut_lock:
            if key not in cache:
                from .processor_geometry import GeometryError, measure_geometry

                try:
                    cache[key] = measure_geometry(self.processor, *key)
                except GeometryError as exc:
                    raise ModelError(f"{self.path / 'preprocessor_config.json'}: {exc}") from None
            return cache[key]

    def preprocess(self, tiles: np.ndarray) -> tuple:
        """The image processor's preprocessing of ``tiles``, batch by batch.

        Split from :meth:`predict_prepared` so that a pipeline can run it on
        another thread while the model works on the previous batch;
        ``predict(t) == predict_prepared(preprocess(t))``.
        """
        import torch

        tiles = check_tiles(tiles)
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
        return tiles.shape[:3], batches

    def _pixel_lut(self, height: int, width: int):
        """The processor as a lookup table for this tile size, when exactly one (or None)."""
        key = (height, width)
        overrides = self.geometry(height, width).overrides
        with self._lut_lock:
            if key not in self._luts:
                from functools import partial

                from .pixel_lut import build_pixel_lut

                self._luts[key] = build_pixel_lut(partial(self.processor, **overrides),
                                                  height, width)
            return self._luts[key]

    def predict_prepared(self, prepared: tuple) -> np.ndarray:
        """Class maps for the output of :meth:`preprocess`.

        Safe to call from several threads at once; batches are run one after
        the other in the calling thread, with ``stream_threads`` torch threads.
        Running ``streams`` calls at once is the pipeline's job
        (:class:`napari_axons.core.tiles.TilePath`).
        """
        (n, h, w), batches = prepared
        out = np.zeros((n, h, w), np.uint8)
        starts = np.cumsum([0] + [int(pv.shape[0]) for pv in batches])
        geometry = self.geometry(h, w)
        with _torch_threads(self.stream_threads):
            maps = [self._predict_batch(pv, geometry) for pv in batches]
        for start, stop, m in zip(starts[:-1], starts[1:], maps, strict=True):
            out[start:stop] = m
        return out

    def _predict_batch(self, pixel_values: Any, geometry: Any) -> np.ndarray:
        import torch

        dtype = torch.float16 if self.half else torch.float32
        pixel_values = pixel_values.to(self.device, dtype=dtype)
        n = pixel_values.shape[0]
        h, w = geometry.tile
        with torch.inference_mode():
            logits = self._forward(pixel_values)
            maps = torch.empty((n, h, w), dtype=torch.uint8, device=logits.device)
            # one tile at a time: bounded memory with many classes, and results that do
            # not depend on how tiles were batched
            for i in range(n):
                cmap, near = self._decide(geometry.to_tile(logits[i : i + 1]), n > 1)
                if near:
                    cmap, _ = self._decide(
                        geometry.to_tile(self._forward(pixel_values[i : i + 1])), False)
                    with self._reruns_lock:
                        self.reruns += 1
                maps[i] = cmap
            result = maps.to("cpu").numpy()
        return result

    def _decide(self, logits: Any, check: bool) -> tuple[Any, bool]:
        """Class map (h, w) uint8 of one tile's logits (1, C, h, w), and whether a pixel
        is within ``batch_tolerance`` of a decision (only when ``check``)."""
        import torch

        prob = torch.softmax(logits, dim=1)[0]
        check = check and self.batch_tolerance > 0
        if self.mode == "binary":
            p = prob[self.class_index]
            near = check and bool((p - self.threshold).abs_().lt_(self.batch_tolerance).any())
            return (p > self.threshold).to(torch.uint8), near
        index, best, second = class_argmax(prob, second=check)
        near = check and bool((best - second).lt_(self.batch_tolerance).any())
        if self.mode == "subset":  # model index (may exceed 255) -> table index
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

        from .processor_geometry import crop_overrides

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

#: The image's pixel size may differ from a model's training pixel size by this
#: factor (either way) before segmenting warns.
PIXEL_SIZE_RATIO = 1.25


def pixel_size_note(segmenter: Any, image_pixel_size: Any) -> str | None:
    """A one-line warning when the image's pixel size is far from the model's.

    Parameters
    ----------
    segmenter : Segmenter or None
        Its ``pixel_size_um`` (training pixel size, micrometres) is read, if any.
    image_pixel_size : PixelSize or None
        The pixel size of the image the model sees (the working image), with
        ``x``/``y`` in micrometres.

    Returns
    -------
    str or None
        None when either size is unknown or they differ by at most
        :data:`PIXEL_SIZE_RATIO`.
    """
    model_um = getattr(segmenter, "pixel_size_um", None)
    if model_um is None or image_pixel_size is None:
        return None
    image_um = float(np.sqrt(image_pixel_size.x * image_pixel_size.y))
    ratio = image_um / float(model_um)
    if 1 / PIXEL_SIZE_RATIO <= ratio <= PIXEL_SIZE_RATIO:
        return None
    return (f"the image's pixels ({image_um:.4g} um) are {ratio:.2f}x the size the model "
            f"{segmenter.name} was trained at ({model_um:.4g} um); --target-pixel-size "
            f"{model_um:g} resamples the image to it")


# --------------------------------------------------------------------------- factory


def load_segmenter(spec: Any = None, **options: Any) -> Segmenter:
    """Build a segmenter from a user-facing spec.

    Parameters
    ----------
    spec : None, str, os.PathLike or Segmenter
        ``None`` or ``"otsu"`` (any case): :class:`ThresholdSegmenter`. A path to a folder:
        :class:`HFSegmenter`. An object that already is a segmenter is returned as is
        (``options`` must then be empty).
    **options
        Keyword arguments for the segmenter's constructor.

    Returns
    -------
    Segmenter

    Raises
    ------
    ModelError
        If the spec names nothing valid, an option does not belong to that
        segmenter, or the checkpoint cannot be used.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in BUILTIN):
        _check_options(ThresholdSegmenter, options, "otsu (the built-in segmenter)")
        return ThresholdSegmenter(**options)
    if isinstance(spec, Segmenter) and not isinstance(spec, (str, os.PathLike)):
        if options:
            raise ModelError(f"options {sorted(options)} cannot be applied to {spec!r}")
        return spec
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        p = Path(text).expanduser()
        looks_like_path = (
            isinstance(spec, os.PathLike)
            or p.exists()
            or any(sep and sep in text for sep in (os.sep, os.altsep))
            or text.startswith(("~", "."))
        )
        if looks_like_path and text.strip():
            _check_options(HFSegmenter, options, f"{p} (a Hugging Face checkpoint)")
            return HFSegmenter(p, **options)
    raise ModelError(
        f"unknown segmenter {spec!r}: use 'otsu' (built-in threshold) or the path to a "
        "Hugging Face checkpoint folder (config.json, model.safetensors, "
        "preprocessor_config.json)"
    )


def _check_options(cls: type, options: dict, who: str) -> None:
    """ModelError naming the options ``cls`` does not take (instead of a TypeError)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in options if k not in params or k in ("self", "path"))
    if unknown:
        known = sorted(k for k, v in params.items()
                       if v.kind is inspect.Parameter.KEYWORD_ONLY)
        raise ModelError(f"{who} does not take the option(s) {', '.join(unknown)}; "
                         f"its options are: {', '.join(known)}")
