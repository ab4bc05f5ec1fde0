"""The one orchestrator: plan an export, then produce it tile by tile.

:class:`ExportJob` opens every input, computes its grid, and exposes the total
number of tiles up front; :meth:`ExportJob.run` is a generator of
:class:`TileResult` (one per tile, in the seed's order) whose return value is
the manifest. The CLI wraps it in tqdm, the napari widget in a thread worker,
tests in ``list(...)``.

Where the tiles are made is a :class:`TileProducer`: by default a local thread
pool (:class:`ThreadProducer`): reading regions, PNG encoding (libpng releases
the GIL), polygon tracing and writing run in parallel, while the model (when
there is one) runs batch by batch in the generator's own thread, overlapping
the encoding and writing of the previous batch. ``core.distributed`` plugs in a
dask.distributed producer behind the same frame.

Resumability: the manifest is written first with ``"status": "running"`` and
every finished tile is appended to a journal (``.napari-axons-journal.jsonl``).
``resume=True`` skips the journalled tiles whose files exist; the final folder
is byte-identical to an uninterrupted run (the manifest holds no timings), and
the journal is removed when the export completes.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import __version__
from .classes import ClassTable
from .export import (
    MANIFEST_FORMAT,
    TMP_PREFIX,
    ExportError,
    ExportLayout,
    atomic_write_bytes,
    dumps_manifest,
    encode_png,
    read_manifest,
    safe_child,
    sampled_file_hash,
    unique_base_names,
)
from .grid import TileBox, TileGrid, full_resolution_box
from .io import ImageReadError, SourceImage, open_image, to_rgb8
from .segment import model_batching, model_executor
from .working import WorkingImage

__all__ = ["ExportOptions", "ExportJob", "ImagePlan", "TileResult", "JOURNAL_NAME",
           "TileProducer", "ThreadProducer", "write_tile_outputs", "TileSources"]

JOURNAL_NAME = ".napari-axons-journal.jsonl"

#: ``mask_reader(plan, box) -> (tile, tile) uint8`` supplies masks (e.g. edited in napari).
MaskReader = Callable[["ImagePlan", TileBox], np.ndarray]


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how.

    Attributes
    ----------
    tile_size : int
        Side of the square tiles (the seed's 512).
    overlap : int
        Pixels shared by neighbouring tiles (0: the seed's grid).
    downsample : int
        1 for none; the seed's ``--downsample`` is 3 (Lanczos, ``(w // 3, h // 3)``).
    png_compression : int
        zlib level of the PNGs (0-9); see :func:`~napari_axons.core.export.encode_png`.
    label_class : str
        ``label_class`` of the polygons written when ``classes`` is None.
    threads : int or None
        Threads for reading/encoding/writing; None: the number of CPUs.
    classes : ClassTable or None
        The classes of the masks (a segmenter's ``classes``). None: one class
        named ``label_class`` (the seed's). With several classes the mask PNGs
        are palette PNGs of class indices and each polygon carries its class's
        name (:mod:`napari_axons.core.class_masks`).
    axondeepseg : bool
        Also write AxonDeepSeg's ``{tile}_seg-axon.png``, ``_seg-myelin.png``
        and ``_seg-axonmyelin.png`` next to each tile (needs classes named
        ``axon`` and ``myelin``; ``ValueError`` otherwise).
    pixel_size : float or None
        Pixel size of the inputs in micrometres, overriding their metadata
        (``--pixel-size``).
    target_pixel_size : float or None
        Resample each image to this pixel size in micrometres
        (``--target-pixel-size``; :mod:`napari_axons.core.working`); needs
        ``downsample`` 1.
    """

    tile_size: int = 512
    overlap: int = 0
    downsample: int = 1
    png_compression: int = 1
    label_class: str = "axon"
    threads: int | None = None
    classes: ClassTable | None = None
    axondeepseg: bool = False
    pixel_size: float | None = None
    target_pixel_size: float | None = None

    def __post_init__(self):
        for name in ("pixel_size", "target_pixel_size"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"{name.replace('_', ' ')} must be a positive number of "
                                 f"micrometres, got {value!r}")
        if self.target_pixel_size is not None and self.downsample != 1:
            raise ValueError("a downsample factor and a target pixel size cannot both be set")
        if self.tile_size < 16:
            raise ValueError(f"tile size must be >= 16, got {self.tile_size}")
        if not 0 <= self.overlap < self.tile_size:
            raise ValueError(f"overlap must be >= 0 and < the tile size, got {self.overlap}")
        if self.downsample < 1:
            raise ValueError(f"downsample factor must be >= 1, got {self.downsample}")
        if not 0 <= self.png_compression <= 9:
            raise ValueError(f"PNG compression must be 0-9, got {self.png_compression}")
        if self.axondeepseg:
            from .class_masks import check_axondeepseg_classes

            check_axondeepseg_classes(self.class_table())

    def class_table(self) -> ClassTable:
        """The class table of the masks: ``classes``, or one class named ``label_class``."""
        return self.classes if self.classes is not None else ClassTable.from_names(
            [self.label_class])

    def grid_key(self) -> dict:
        """The options that decide file contents (checked on resume).

        The class table is the manifest's own ``"classes"``; ``axondeepseg``
        appears only when set (a default manifest is unchanged).
        """
        key = {k: v for k, v in asdict(self).items()
               if k not in ("threads", "classes", "axondeepseg", "pixel_size", "target_pixel_size")}
        for k in ("pixel_size", "target_pixel_size"):  # only when set: older manifests match
            if getattr(self, k) is not None:
                key[k] = getattr(self, k)
        if self.axondeepseg:
            key["axondeepseg"] = True
        if self.classes is not None:
            key["classes"] = list(self.classes.names)
        return key


@dataclass
class ImagePlan:
    """One input image, opened, with its grid and manifest entry."""

    path: Path
    base: str
    source: SourceImage
    working: WorkingImage
    grid: TileGrid
    fingerprint: str = ""
    axondeepseg: bool = False

    def stem(self, box: TileBox) -> str:
        return box.name(self.base)

    def read_tile(self, box: TileBox) -> np.ndarray:
        return self.working.read_tile(box.y, box.x, box.height, box.width)

    def valid_mask(self, box: TileBox, mask: np.ndarray) -> np.ndarray:
        """Zero the mask where the tile is padding (outside the real image)."""
        ys, xs = box.valid_slices(self.grid.height, self.grid.width)
        if (ys.start, xs.start, ys.stop, xs.stop) == (0, 0, box.height, box.width):
            return mask
        out = np.zeros_like(mask)
        out[ys, xs] = mask[ys, xs]
        return out

    def tile_entry(self, box: TileBox, with_masks: bool) -> dict:
        stem = self.stem(box)
        files = {"tile": ExportLayout.tile_name(stem)}
        if with_masks:
            files["mask"] = ExportLayout.mask_name(stem)
            files["labels"] = ExportLayout.labels_name(stem)
            if self.axondeepseg:
                from .class_masks import AXONDEEPSEG_SUFFIXES

                for kind, suffix in AXONDEEPSEG_SUFFIXES.items():
                    files[f"seg-{kind}"] = stem + suffix
        src = full_resolution_box(
            box, self.working.scale_y, self.working.scale_x, self.source.height, self.source.width
        )
        py, px = box.padding
        return {
            "index": box.index,
            "name": stem,
            "files": files,
            "box": {"x": box.x, "y": box.y, "width": box.width, "height": box.height},
            "source_box": src,
            "padding": {"top": py, "left": px},
        }

    def manifest_entry(self, with_masks: bool, tiles: Sequence[TileBox]) -> dict:
        src = self.source
        return {
            "base": self.base,
            "source": {
                "path": str(self.path.resolve()),
                "name": self.path.name,
                "format": src.format,
                "width": src.width,
                "height": src.height,
                "channels": src.shape[2] if len(src.shape) == 3 else 1,
                "dtype": str(src.dtype),
                "levels": src.n_levels,
                "hash": self.fingerprint,
                "notes": list(src.notes),
                "pixel_size": None if src.pixel_size is None else src.pixel_size.to_json(),
            },
            "intensity": src.intensity_range().as_dict(),
            "working": {
                "width": self.working.width,
                "height": self.working.height,
                "downsample": self.working.factor,
                "filter": self.working.filter,
                "scale_x": self.working.scale_x,
                "scale_y": self.working.scale_y,
                "pixel_size": (None if self.working.pixel_size is None
                               else self.working.pixel_size.to_json()),
            },
            "grid": {
                "tile_size": self.grid.tile_size,
                "stride": self.grid.stride,
                "overlap": self.grid.tile_size - self.grid.stride,
                "n_tiles": len(self.grid),
                "padded": self.grid.padded,
            },
            "tiles": [self.tile_entry(b, with_masks) for b in tiles],
        }


@dataclass
class TileResult:
    """One finished tile."""

    plan: ImagePlan
    box: TileBox
    files: list[str]
    mask: np.ndarray | None = field(default=None, repr=False)
    n_objects: int | None = None
    resumed: bool = False


class ExportJob:
    """An export of one or more images into one folder.

    Parameters
    ----------
    paths : sequence of path
        Input images. Inputs that cannot be opened are listed in ``errors``
        (one line each) and skipped; the others are exported.
    out : path
        Export folder.
    options : ExportOptions
    segmenter : Segmenter, optional
        Produces masks, labels and polygons; without one, only tiles are written.
    mask_reader : callable, optional
        ``mask_reader(plan, box)`` gives the mask of a tile (masks edited in
        napari); used instead of a segmenter.
    tiles : dict, optional
        ``{path: [tile indices]}`` to export only some tiles of an image.
    resume, overwrite : bool
        See the module docstring. Without either, a folder that already holds
        files is refused.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        out: str | Path,
        options: ExportOptions | None = None,
        *,
        segmenter=None,
        mask_reader: MaskReader | None = None,
        label_source: str | Callable | None = None,
        tiles: dict | None = None,
        resume: bool = False,
        overwrite: bool = False,
        segmenter_info: dict | None = None,
    ):
        self.options = options or ExportOptions()
        self.layout = ExportLayout(Path(out))
        self.segmenter = segmenter
        self.mask_reader = mask_reader
        self.with_masks = segmenter is not None or mask_reader is not None
        if label_source is None:
            label_source = f"auto:{segmenter.name}" if segmenter is not None else "manual"
        self.label_source = label_source
        self.segmenter_info = segmenter_info
        self.resume = resume
        self.overwrite = overwrite
        self.errors: list[str] = []
        #: ``(path, exception)`` behind each line of ``errors`` (for ``--debug``).
        self.failures: list[tuple[Path, BaseException]] = []
        self.plans: list[ImagePlan] = []
        self._selected: dict[int, list[TileBox]] = {}
        for path, base in zip(map(Path, paths), unique_base_names(paths), strict=True):
            try:
                plan = self._plan(path, base)
            except (ImageReadError, ValueError, OSError) as exc:
                self.errors.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                self.failures.append((path, exc))
                continue
            wanted = None if tiles is None else tiles.get(str(path), tiles.get(path))
            boxes = list(plan.grid) if wanted is None else [plan.grid[i] for i in sorted(set(wanted))]
            self.plans.append(plan)
            self._selected[id(plan)] = boxes

    def _plan(self, path: Path, base: str) -> ImagePlan:
        source = open_image(path, pixel_size=self.options.pixel_size)
        try:
            working = WorkingImage(source, self.options.downsample,
                                   target_pixel_size=self.options.target_pixel_size)
            grid = TileGrid.from_shape(
                working.height, working.width,
                tile_size=self.options.tile_size, overlap=self.options.overlap,
            )
            from .segment import pixel_size_note

            note = pixel_size_note(self.segmenter, working.pixel_size)
            if note is not None:  # the model was trained at another resolution
                source.notes.append(note)
            return ImagePlan(path, base, source, working, grid, sampled_file_hash(path),
                             axondeepseg=self.options.axondeepseg)
        except Exception:
            source.close()
            raise

    @property
    def total(self) -> int:
        """Number of tiles this job will produce."""
        return sum(len(self._selected[id(p)]) for p in self.plans)

    def tiles_of(self, plan: ImagePlan) -> list[TileBox]:
        return self._selected[id(plan)]

    def close(self) -> None:
        for plan in self.plans:
            plan.source.close()

    # -- manifest ---------------------------------------------------------
    def manifest(self, status: str) -> dict:
        doc = {
            "format": MANIFEST_FORMAT,
            "software": {"name": "napari-axons", "version": __version__},
            "status": status,
            "options": self.options.grid_key(),
            "layout": {"tiles": ".", "masks": "masks" if self.with_masks else None},
            "segmenter": (self.segmenter.info() if self.segmenter is not None
                          else self.segmenter_info),
            "label_source": ((self.label_source if isinstance(self.label_source, str)
                              else "per tile") if self.with_masks else None),
            "classes": self.options.class_table().to_json() if self.with_masks else None,
            "images": [p.manifest_entry(self.with_masks, self.tiles_of(p)) for p in self.plans],
        }
        if self.with_masks and callable(self.label_source):  # each tile's own source
            for plan, entry in zip(self.plans, doc["images"], strict=True):
                for tile in entry["tiles"]:
                    tile["label_source"] = self.label_source(plan, plan.grid[tile["index"]])
        return doc

    def _check_folder(self) -> set[tuple[str, int]]:
        """Refuse, resume or overwrite an existing folder; return the tiles already done."""
        out = self.layout.out
        existing = []
        if out.is_dir():
            existing = [p for p in out.iterdir() if not p.name.startswith(".napari-axons")]
        old = None
        if self.layout.manifest.exists():
            old = read_manifest(self.layout.manifest)
        done: set[tuple[str, int]] = set()
        if self.resume:
            if old is None:
                if existing:
                    raise ExportError(f"{out}: nothing to resume (no manifest.json), folder not empty")
                return done
            new = self.manifest("running")
            for key in ("options", "images"):  # tile lists may differ: tiles are added
                if _strip_for_compare(old.get(key)) != _strip_for_compare(new.get(key)):
                    raise ExportError(
                        f"{out}: cannot resume: the existing export used other inputs or options "
                        f"({key} differ); use --overwrite to replace it"
                    )
            old_weights = (old.get("segmenter") or {}).get("weights_sha256")
            if self.segmenter is not None and old_weights != (
                    new.get("segmenter") or {}).get("weights_sha256"):
                raise ExportError(f"{out}: cannot resume: the existing export used another model")
            if old.get("status") == "complete":
                return {(img["base"], t["index"]) for img in old["images"] for t in img["tiles"]}
            return self._journalled()
        if existing and not self.overwrite:
            what = "already holds an export" if old is not None else "is not empty"
            raise ExportError(
                f"{out}: {what}; use --resume to continue it or --overwrite to replace it"
            )
        if old is not None and self.overwrite:
            self._remove_stale(old)
        return done

    def _journalled(self) -> set[tuple[str, int]]:
        done = set()
        journal = self.layout.out / JOURNAL_NAME
        if not journal.exists():
            return done
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by the interruption
            files = rec.get("files", [])
            if all(safe_child(self.layout.out, f, what="journal file").exists() for f in files):
                done.add((rec["base"], rec["index"]))
        return done

    def _remove_stale(self, old: dict) -> None:
        """With --overwrite: delete files the previous export wrote (never others)."""
        for img in old.get("images", []):
            for tile in img.get("tiles", []):
                for rel in tile.get("files", {}).values():
                    target = safe_child(self.layout.out, rel, what="manifest file")
                    if target.is_file():
                        target.unlink()
        (self.layout.out / JOURNAL_NAME).unlink(missing_ok=True)

    # -- running ----------------------------------------------------------
    def run(self, producer: TileProducer | None = None) -> Generator[TileResult, None, dict | None]:
        """Produce every tile; yields a :class:`TileResult` each, returns the manifest.

        Parameters
        ----------
        producer : TileProducer, optional
            Where the tiles are made: a local thread pool by default
            (:class:`ThreadProducer`);
            :func:`~napari_axons.core.distributed.run_distributed` passes one
            that runs on a dask cluster. The folder checks, the manifest, the
            journal and the handling of failed images are the same for both.

        Notes
        -----
        An image whose pixel data turns out to be undecodable (a truncated PNG,
        a corrupt TIFF chunk) is skipped: one line is added to :attr:`errors`,
        the files of its unfinished tiles are removed, and the other images are
        exported; the final manifest lists only the exported images. When no
        image could be exported, the manifest, journal and folders this run
        created are removed again and the return value is None.
        """
        existed = self.layout.out.exists()
        masks_existed = self.layout.masks.exists()
        manifest_existed = self.layout.manifest.exists()
        done = self._check_folder()
        journal_path = self.layout.out / JOURNAL_NAME
        failed: list[ImagePlan] = []
        with producer or ThreadProducer(self) as producer:
            self.layout.prepare(with_masks=self.with_masks)
            _remove_temp_files(self.layout)  # left by a killed run; only ever ours
            atomic_write_bytes(self.layout.manifest, dumps_manifest(self.manifest("running")))
            with open(journal_path, "a", encoding="utf-8") as journal:
                for plan in self.plans:
                    todo = []
                    for box in self.tiles_of(plan):
                        if (plan.base, box.index) in done:
                            files = list(plan.tile_entry(box, self.with_masks)["files"].values())
                            yield TileResult(plan, box, files, resumed=True)
                        else:
                            todo.append(box)
                    if not todo:
                        continue
                    try:
                        if self.segmenter is not None:
                            self.segmenter.prepare(_overview_rgb(plan))
                        for result in producer.produce(plan, todo):
                            _journal(journal, journal_path, plan, result)
                            yield result
                    except ImageReadError as exc:
                        self._record_failure(plan, exc)
                        failed.append(plan)
                        for box in todo:  # never journalled as done: only this run's files
                            for rel in plan.tile_entry(box, self.with_masks)["files"].values():
                                self.layout.path(rel).unlink(missing_ok=True)
        _remove_temp_files(self.layout)  # a worker killed mid-write leaves one
        if failed:
            self.plans = [p for p in self.plans if p not in failed]
            if not self.plans:  # nothing exported: leave the folder as it was
                journal_path.unlink(missing_ok=True)
                if not manifest_existed:
                    self.layout.manifest.unlink(missing_ok=True)
                for folder, had in ((self.layout.masks, masks_existed),
                                    (self.layout.out, existed)):
                    if not had and folder.is_dir() and not any(folder.iterdir()):
                        folder.rmdir()
                return None
        manifest = self.manifest("complete")
        atomic_write_bytes(self.layout.manifest, dumps_manifest(manifest))
        journal_path.unlink(missing_ok=True)
        return manifest

    def _record_failure(self, plan: ImagePlan, exc: ImageReadError) -> None:
        text = str(exc)
        self.errors.append(text if str(plan.path) in text else f"{plan.path}: {text}")
        self.failures.append((plan.path, exc))

    def write_tile(self, plan: ImagePlan, box: TileBox, tile, mask) -> TileResult:
        """Write one tile's files; the mask comes from ``mask_reader`` when not given."""
        if mask is None and self.mask_reader is not None:
            mask = self.mask_reader(plan, box)
        return write_tile_outputs(plan, box, tile, mask, layout=self.layout,
                                  options=self.options, label_source=self.label_source,
                                  with_masks=self.with_masks)


def _journal(journal, journal_path: Path, plan: ImagePlan, result: TileResult) -> None:
    try:
        journal.write(json.dumps({"base": plan.base, "index": result.box.index,
                                  "files": result.files}) + "\n")
        journal.flush()
    except OSError as exc:
        raise ExportError(f"{journal_path}: cannot write ({exc.strerror or exc})") from exc


class TileProducer(Protocol):
    """Makes the tiles of an :class:`ExportJob` (used as a context manager).

    ``produce(plan, todo)`` writes the files of the tiles ``todo`` of ``plan``
    and yields a :class:`TileResult` for each (in any order). It raises
    :class:`~napari_axons.core.io.ImageReadError` when the image cannot be
    decoded, after making sure no work for it is still running.
    """

    def __enter__(self) -> TileProducer: ...

    def __exit__(self, *exc) -> None: ...

    def produce(self, plan: ImagePlan, todo: list[TileBox]) -> Iterator[TileResult]: ...


class ThreadProducer:
    """Makes tiles on local thread pools.

    Reading regions, the model's preprocessing, PNG encoding (libpng releases
    the GIL), polygon tracing and writing run on ``threads`` threads. The model,
    when there is one, runs on its own pool
    (:func:`~napari_axons.core.segment.model_executor`: ``segmenter.streams``
    batches at a time) while earlier batches are encoded and written and later
    ones read. Results come out in tile order.
    """

    def __init__(self, job: ExportJob, threads: int | None = None):
        self.job = job
        self.threads = threads or job.options.threads or os.cpu_count() or 1
        self._stack: ExitStack | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._model_pool = None

    def __enter__(self) -> ThreadProducer:
        with ExitStack() as stack:
            self._pool = ThreadPoolExecutor(max_workers=self.threads,
                                            thread_name_prefix="napari-axons")
            stack.callback(self._pool.shutdown, wait=True, cancel_futures=True)
            if self.job.segmenter is not None:
                self._model_pool = stack.enter_context(model_executor(self.job.segmenter))
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def produce(self, plan: ImagePlan, todo: list[TileBox]) -> Iterator[TileResult]:
        pending: deque[Future] = deque()
        ahead: deque[tuple[list[TileBox], Future, Future]] = deque()
        try:
            yield from self._produce(plan, todo, pending, ahead)
        finally:  # stopped early (an error, or the consumer closed us): no work left behind
            futures = [*pending, *(f for _, read, seg in ahead for f in (seg, read))]
            for fut in futures:
                fut.cancel()
            for fut in futures:
                if not fut.cancelled():
                    fut.exception()  # wait; the first error is the one reported

    def _produce(self, plan, todo, pending, ahead):
        pool, job, window = self._pool, self.job, 2 * self.threads
        if job.segmenter is None:
            for box in todo:
                pending.append(pool.submit(job.write_tile, plan, box, None, None))
                while len(pending) >= window:
                    yield pending.popleft().result()
        else:
            seg = job.segmenter
            prep = getattr(seg, "preprocess", None)
            batch, streams = model_batching(seg)
            batches = [todo[i : i + batch] for i in range(0, len(todo), batch)]
            depth = 2 * streams + 1  # every stream busy, one batch read and prepared ahead of each

            def load(boxes):  # on the I/O pool: read, and the model's preprocessing
                pixels = np.stack([plan.read_tile(b) for b in boxes])
                return pixels, (prep(pixels) if prep is not None else None)

            def segment(read: Future):  # on the model pool
                pixels, prepared = read.result()
                masks = seg.predict_prepared(prepared) if prep is not None else seg.predict(pixels)
                return pixels, masks

            for boxes in batches:
                read = pool.submit(load, boxes)
                ahead.append((boxes, read, self._model_pool.submit(segment, read)))
                if len(ahead) < depth:
                    continue
                yield from self._write_segmented(plan, ahead.popleft(), pending, window)
            while ahead:
                yield from self._write_segmented(plan, ahead.popleft(), pending, window)
        while pending:
            yield pending.popleft().result()

    def _write_segmented(self, plan, item, pending, window):
        boxes, _, segmented = item
        try:
            pixels, masks = segmented.result()
        except BaseException:  # the model failed: report the tiles already written first
            while pending:
                yield pending.popleft().result()
            raise
        for box, tile, mask in zip(boxes, pixels, masks, strict=True):
            pending.append(self._pool.submit(self.job.write_tile, plan, box, tile, mask))
        while len(pending) > window:
            yield pending.popleft().result()


class TileSources:
    """Each tile's polygon ``source``: ``sources[(base, index)]``, else ``default`` (picklable).

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> sources = TileSources({("slide", 3): "auto:otsu"})
    >>> sources(NS(base="slide"), NS(index=3)), sources(NS(base="slide"), NS(index=4))
    ('auto:otsu', 'manual')
    """

    def __init__(self, sources: dict[tuple[str, int], str], default: str = "manual"):
        self.sources, self.default = dict(sources), default

    def __call__(self, plan, box) -> str:
        return self.sources.get((plan.base, box.index), self.default)


def write_tile_outputs(
    plan: ImagePlan,
    box: TileBox,
    tile: np.ndarray | None,
    mask: np.ndarray | None,
    *,
    layout: ExportLayout,
    options: ExportOptions,
    label_source: str,
    with_masks: bool,
) -> TileResult:
    """Write one tile's files: the tile PNG, and with a mask the mask PNG and label JSON.

    The per-tile step shared by :meth:`ExportJob.run` and
    :func:`napari_axons.core.distributed.run_distributed`. Every file is written
    atomically, so running it twice for a tile (a retried task) is harmless.

    Parameters
    ----------
    plan : ImagePlan
        The image the tile comes from.
    box : TileBox
        The tile.
    tile : numpy.ndarray or None
        ``(h, w, 3)`` uint8 pixels; None: read them from ``plan``.
    mask : numpy.ndarray or None
        The tile's class map (``options.class_table()``; with one class any
        non-zero value is the class); None: no mask, labels or polygons.
    layout : ExportLayout
        The export folder.
    options : ExportOptions
        PNG compression, the class table, AxonDeepSeg masks.
    label_source : str or callable
        ``source`` of the polygons (``"auto:<model>"`` or ``"manual"``), or
        ``label_source(plan, box) -> str`` per tile (e.g. :class:`TileSources`).
    with_masks : bool
        Whether the manifest lists mask and labels files for the tile.

    Returns
    -------
    TileResult

    Raises
    ------
    napari_axons.core.class_masks.ClassMaskError
        The class map holds a value the class table has no class for; nothing
        of the tile is written.
    """
    if tile is None:
        tile = plan.read_tile(box)
    if callable(label_source):
        label_source = label_source(plan, box)
    stem = plan.stem(box)
    entry = plan.tile_entry(box, with_masks)
    files = entry["files"]
    level = options.png_compression
    n_objects = None
    outputs = {}
    if mask is not None:
        from .class_masks import (
            axondeepseg_masks,
            check_class_map,
            class_map_to_labels,
            encode_class_mask,
        )
        from .polygons import dumps_labels, labels_document

        table = options.class_table()
        mask = check_class_map(mask, table, where=f"{stem}: mask")
        if table.is_binary:  # the seed's 0/255
            mask = np.where(mask > 0, 255, 0).astype(np.uint8)
        mask = plan.valid_mask(box, mask)
        labels = class_map_to_labels(mask, table, source=label_source, id_prefix=f"{stem}-")
        n_objects = len(labels)
        tile_block = {"source": plan.base, "index": box.index, **entry["box"],
                      "downsample": plan.working.factor, "source_box": entry["source_box"]}
        doc = labels_document(files["tile"], labels, tile=tile_block)
        outputs[files["mask"]] = encode_class_mask(mask, table, level)
        outputs[files["labels"]] = dumps_labels(doc)
        if plan.axondeepseg:
            for kind, arr in axondeepseg_masks(mask, table).items():
                outputs[files[f"seg-{kind}"]] = encode_png(arr, level)
    atomic_write_bytes(layout.path(files["tile"]), encode_png(tile, level))
    for rel, data in outputs.items():
        atomic_write_bytes(layout.path(rel), data)
    return TileResult(plan, box, list(files.values()), mask, n_objects)

def _overview_rgb(plan: ImagePlan) -> np.ndarray:
    sample = plan.source.sample()
    return to_rgb8(sample, None if sample.dtype == np.uint8 else plan.source.intensity_range())


def _strip_for_compare(value):
    """Manifest parts compared on resume, without fields that may legitimately vary."""
    if isinstance(value, list):
        return [_strip_for_compare(v) for v in value]
    if isinstance(value, dict):
        return {k: _strip_for_compare(v) for k, v in value.items() if k not in ("path", "tiles")}
    return value


def _remove_temp_files(layout: ExportLayout) -> None:
    """Delete ``.napari-axons-tmp-*`` files a killed run left (only napari-axons makes them)."""
    for folder in (layout.out, layout.masks):
        if folder.is_dir():
            for stale in folder.glob(TMP_PREFIX + "*"):
                if stale.is_file():
                    stale.unlink(missing_ok=True)
