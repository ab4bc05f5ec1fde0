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
the encoding and writing of the previous batch. :mod:`.cluster` plugs in a
dask.distributed producer behind the same frame.

Resumability: the manifest is written first with ``"status": "running"`` and
every finished tile is appended to a journal (``.napari-axons-journal.jsonl``).
``resume=True`` skips the journalled tiles whose files exist; the final folder
is byte-identical to an uninterrupted run (the manifest holds no timings), and
the journal is removed when the export completes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from pathlib import Path

from ... import __version__
from ..common import (
    ClassTable,
    atomic_write_bytes,
    unique_base_names,
)
from ..geometry import TileBox
from ..image import (
    ImageReadError,
)
from ..segment import pixel_size_note
from .files import ExportFiles, ExportLayout
from .manifest import Manifest
from .plan import ExportOptions, ImagePlan, plan_image
from .producers import ThreadProducer, TileProducer
from .resume import JOURNAL_NAME, append_journal, check_folder, remove_temp_files
from .tilepath import MaskReader, OutputSpec, TilePath, TileResult, export_classes

__all__ = ["ExportJob", "TileSources"]













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
        napari: a class map, or 0/255); used instead of a segmenter.
    label_source : str, optional
        ``source`` of the polygons; default ``"auto:<model>"`` or ``"manual"``.
    classes : ClassTable, optional
        The export's classes; default ``options.classes``, else
        :func:`~napari_axons.core.export.tilepath.export_classes` (the segmenter's
        ``classes``, else background + ``options.label_class``).
    tiles : dict, optional
        ``{path: [tile indices]}`` to export only some tiles of an image.
    resume, overwrite : bool
        See the module docstring. Without either, a folder that already holds
        files is refused.

    See Also
    --------
    ExportJob.from_plans : a job over images already opened and gridded.
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
        classes: ClassTable | None = None,
        tiles: dict | None = None,
        resume: bool = False,
        overwrite: bool = False,
        segmenter_info: dict | None = None,
    ):
        self._setup(out, options, segmenter, mask_reader, label_source, classes, resume,
                    overwrite)
        self.segmenter_info = segmenter_info
        for path, base in zip(map(Path, paths), unique_base_names(paths), strict=True):
            try:
                plan = plan_image(path, self.options, base=base)
            except (ImageReadError, ValueError, OSError) as exc:
                self.errors.append(str(exc) if str(path) in str(exc) else f"{path}: {exc}")
                self.failures.append((path, exc))
                continue
            wanted = None if tiles is None else tiles.get(str(path), tiles.get(path))
            self._add(plan, wanted)

    @classmethod
    def from_plans(
        cls,
        plans: Sequence[ImagePlan],
        out: str | Path,
        options: ExportOptions | None = None,
        *,
        tiles: Sequence[Sequence[int] | None] | None = None,
        segmenter=None,
        mask_reader: MaskReader | None = None,
        label_source: str | None = None,
        classes: ClassTable | None = None,
        resume: bool = False,
        overwrite: bool = False,
        close_plans: bool = False,
    ) -> ExportJob:
        """A job over images that are already open and gridded (the widget's session).

        Nothing is opened, hashed or gridded again, and an in-memory image
        (:func:`plan_array`) is exported as it is, with no temporary file.

        Parameters
        ----------
        plans : sequence of ImagePlan
            From :func:`plan_image` or :func:`plan_array` (or kept by a session).
            Their grids must match ``options`` (tile size, overlap, downsample).
            Base names must be unique (case-insensitively).
        out : path
            Export folder.
        options : ExportOptions, optional
            Default: the first plan's grid with the other defaults.
        tiles : sequence, optional
            Per plan, the tile indices to export (None: all), e.g.
            ``[sorted(session.selected)]``.
        segmenter, mask_reader, label_source, classes, resume, overwrite
            As for the constructor. A session exporting its edited masks passes
            ``mask_reader=lambda plan, box: store.read_box(box)`` (class maps)
            or a picklable :class:`~napari_axons.core.session.maskstore.ZarrMaskReader`
            for a dask cluster.
        close_plans : bool
            When True, :meth:`close` closes the plans' images (default False:
            they belong to the caller, who keeps using them).

        Returns
        -------
        ExportJob

        Raises
        ------
        ValueError
            A plan's grid does not match ``options``, two plans share a base
            name, or ``tiles`` does not have one entry per plan or names a tile
            that is not in the grid.

        Examples
        --------
        ::

            plan = plan_array(layer.data, ExportOptions(tile_size=256), name=layer.name)
            job = ExportJob.from_plans([plan], "out", mask_reader=reader, tiles=[[0, 3]])
            for result in job.run():
                ...
        """
        plans = list(plans)
        if options is None:
            if not plans:
                raise ValueError("from_plans needs at least one plan")
            g = plans[0].grid
            options = ExportOptions(tile_size=g.tile_size, overlap=g.tile_size - g.stride,
                                    downsample=plans[0].working.factor)
        if tiles is not None and len(tiles) != len(plans):
            raise ValueError(f"tiles: {len(tiles)} entries for {len(plans)} plans")
        seen: set[str] = set()
        for plan in plans:
            g = plan.grid
            got = (g.tile_size, g.tile_size - g.stride, plan.working.factor)
            want = (options.tile_size, options.overlap, options.downsample)
            if got != want:
                raise ValueError(
                    f"{plan.path}: the plan's grid (tile size {got[0]}, overlap {got[1]}, "
                    f"downsample {got[2]}) does not match the options (tile size {want[0]}, "
                    f"overlap {want[1]}, downsample {want[2]})")
            if plan.base.casefold() in seen:
                raise ValueError(f"two images share the base name {plan.base!r}")
            seen.add(plan.base.casefold())
        job = cls.__new__(cls)
        job._setup(out, options, segmenter, mask_reader, label_source, classes, resume,
                   overwrite)
        job._owns_plans = close_plans
        for k, plan in enumerate(plans):
            wanted = None if tiles is None else tiles[k]
            if wanted is not None:
                bad = [i for i in wanted if not 0 <= int(i) < len(plan.grid)]
                if bad:
                    raise ValueError(f"{plan.path}: tile {bad[0]} is not in the grid "
                                     f"({len(plan.grid)} tiles)")
            plan.axondeepseg = options.axondeepseg  # the files it lists follow the options
            job._add(plan, wanted)
        return job

    def _setup(self, out, options, segmenter, mask_reader, label_source, classes, resume,
               overwrite) -> None:
        self.options = options or ExportOptions()
        self.layout = ExportLayout(Path(out))
        self.segmenter = segmenter
        self.mask_reader = mask_reader
        self.with_masks = segmenter is not None or mask_reader is not None
        if label_source is None:
            label_source = f"auto:{segmenter.name}" if segmenter is not None else "manual"
        self.label_source = label_source
        self.segmenter_info = None
        if classes is None:
            classes = (self.options.classes if self.options.classes is not None
                       else export_classes(segmenter, self.options.label_class))
        self.classes = classes
        self.resume = resume
        self.overwrite = overwrite
        #: With ``resume``: ``rewrite(plan, box) -> bool`` says which tiles already in the
        #: export are written again (e.g. masks changed since); None: none are.
        self.rewrite: Callable[[ImagePlan, TileBox], bool] | None = None
        #: With ``resume``: the export is of the same images and grid but was written with
        #: other options or image metadata (a class table, a pixel size): every tile of the
        #: job is written again, in place (nothing is deleted first).
        self.refresh = False
        self.errors: list[str] = []
        #: ``(path, exception)`` behind each line of ``errors`` (for ``--debug``).
        self.failures: list[tuple[Path, BaseException]] = []
        self.plans: list[ImagePlan] = []
        self._selected: dict[int, list[TileBox]] = {}
        self._owns_plans = True

    def _add(self, plan: ImagePlan, wanted) -> None:
        for note in (getattr(self.segmenter, "class_note", None),  # a class renamed
                     pixel_size_note(self.segmenter, plan.working.pixel_size)):
            if note is not None and note not in plan.source.notes:
                plan.source.notes.append(note)
        boxes = list(plan.grid) if wanted is None else [plan.grid[int(i)]
                                                         for i in sorted(set(wanted))]
        self.plans.append(plan)
        self._selected[id(plan)] = boxes

    @property
    def spec(self) -> OutputSpec:
        """What every tile writes (:class:`~napari_axons.core.export.tilepath.OutputSpec`)."""
        return OutputSpec(str(self.layout.out), self.options.png_compression, self.label_source,
                          self.classes, self.with_masks)

    def tile_path(self) -> TilePath:
        """The job's :class:`~napari_axons.core.export.tilepath.TilePath` (enter it to use it)."""
        return TilePath(self.segmenter, self.spec, mask_reader=self.mask_reader,
                        classes=self.classes)

    @property
    def total(self) -> int:
        """Number of tiles this job will produce."""
        return sum(len(self._selected[id(p)]) for p in self.plans)

    def tiles_of(self, plan: ImagePlan) -> list[TileBox]:
        return self._selected[id(plan)]

    def close(self) -> None:
        """Close the images this job opened (plans given to :meth:`from_plans` are left open)."""
        if self._owns_plans:
            for plan in self.plans:
                plan.source.close()

    # -- manifest ---------------------------------------------------------
    def manifest(self, status: str) -> Manifest:
        """The job's manifest (typed; :meth:`Manifest.dumps` gives the file's bytes)."""
        images = tuple(p.manifest_entry(self.with_masks, self.tiles_of(p)) for p in self.plans)
        per_tile = self.with_masks and callable(self.label_source)
        if per_tile:  # each tile's own source
            images = tuple(
                replace(img, tiles=tuple(
                    replace(t, label_source=self.label_source(plan, plan.grid[t.index]))
                    for t in img.tiles))
                for plan, img in zip(self.plans, images, strict=True))
        return Manifest(
            status=status,
            options=self.options.grid_key(),
            layout={"tiles": ".", "masks": ExportFiles.masks_folder if self.with_masks else None},
            segmenter=(self.segmenter.info() if self.segmenter is not None
                       else self.segmenter_info),
            label_source=(("per tile" if per_tile else self.label_source)
                          if self.with_masks else None),
            classes=self.classes if self.with_masks else None,
            images=images,
            software={"name": "napari-axons", "version": __version__},
        )

    def _check_folder(self) -> set[tuple[str, int]]:
        """Refuse, resume or overwrite an existing folder; return the tiles already done."""
        return check_folder(self.layout, lambda: self.manifest("running"), resume=self.resume,
                            overwrite=self.overwrite, has_segmenter=self.segmenter is not None,
                            refresh=self.refresh)

    # -- running ----------------------------------------------------------
    def run(self, producer: TileProducer | None = None) -> Generator[TileResult, None, dict | None]:
        """Produce every tile; yields a :class:`TileResult` each, returns the manifest.

        Parameters
        ----------
        producer : TileProducer, optional
            Where the tiles are made: a local thread pool by default
            (:class:`ThreadProducer`);
            :func:`~napari_axons.core.export.cluster.run_distributed` passes one
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
            remove_temp_files(self.layout)  # left by a killed run; only ever ours
            atomic_write_bytes(self.layout.manifest, self.manifest("running").dumps())
            with open(journal_path, "a", encoding="utf-8") as journal:
                for plan in self.plans:
                    todo = []
                    for box in self.tiles_of(plan):
                        if (plan.base, box.index) in done and not (
                                self.rewrite is not None and self.rewrite(plan, box)):
                            files = list(plan.tile_entry(box, self.with_masks).files.values())
                            yield TileResult(plan, box, files, resumed=True)
                        else:
                            todo.append(box)
                    if not todo:
                        if self.segmenter is not None:  # its info() (Otsu's threshold) goes
                            producer.prepare(plan)      # into the manifest: the same as before
                        continue
                    try:
                        producer.prepare(plan)
                        for result in producer.produce(plan, todo):
                            append_journal(journal, journal_path, plan.base, result.box.index, result.files)
                            yield result
                    except ImageReadError as exc:
                        self._record_failure(plan, exc)
                        failed.append(plan)
                        for box in todo:  # never journalled as done: only this run's files
                            for rel in plan.tile_entry(box, self.with_masks).files.values():
                                self.layout.path(rel).unlink(missing_ok=True)
        remove_temp_files(self.layout)  # a worker killed mid-write leaves one
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
        atomic_write_bytes(self.layout.manifest, manifest.dumps())
        journal_path.unlink(missing_ok=True)
        return manifest.to_json()

    def _record_failure(self, plan: ImagePlan, exc: ImageReadError) -> None:
        text = str(exc)
        self.errors.append(text if str(plan.path) in text else f"{plan.path}: {text}")
        self.failures.append((plan.path, exc))


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
