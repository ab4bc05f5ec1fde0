"""Train a segmentation checkpoint from corrected exports (transformers' ``Trainer``).

:func:`train` checks everything it can before writing anything (the folders,
the data, the base model), then trains within its budget (steps and/or
minutes, :mod:`.schedule`), keeps the best validation's weights, scores the
base model and the result on the same held-out tiles (:mod:`.evaluate`) and
publishes the model folder (:mod:`.folders`) with its report (:mod:`.report`).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from ..common import ClassTable
from ..segment import ModelError, default_num_threads, resolve_device
from .augment import Augment
from .callbacks import Best, Clock, History, budget_bar
from .data import TrainingData, TrainingDataError, collect, corrected_by_hand, split_tiles
from .evaluate import score_model
from .folders import check_folders, complete_checkpoints, make_partial, publish, write_json
from .loss import EvalMetrics, Loss, argmax_logits, class_weights
from .models import (
    ARCHITECTURES,
    build_model,
    freeze_batchnorm,
    load_base,
    new_processor,
    normalisation,
    resolve_base,
    stated_pixel_size,
)
from .options import TrainingError, TrainOptions, TrainResult
from .report import prepare_plotting, write_report
from .samples import Tiles, crop_stream, whole_tiles
from .schedule import Budget, LRFactor, Plateau

__all__ = ["TrainOptions", "TrainResult", "TrainingError", "train"]


def train(exports, model_dir, *, val_exports=None, options: TrainOptions | None = None,
          classes: ClassTable | None = None, resume: bool = False, overwrite: bool = False,
          progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None, verbose: bool = True) -> TrainResult:
    """Train a checkpoint on the labelled tiles of ``exports`` and save it to ``model_dir``.

    Parameters
    ----------
    exports : sequence of path
        Export folders with labelled tiles.
    model_dir : path
        Where the finished checkpoint goes (see :mod:`.folders`).
    val_exports : sequence of path, optional
        Validation exports; without them a share of the labelled tiles is held
        out, overlapping tiles kept on one side.
    options : TrainOptions, optional
    classes : ClassTable, optional
        Class names when the exports do not name them (mask PNGs only).
    resume : bool
        Continue the interrupted run in ``model_dir.partial`` (its recorded
        settings; ``options.steps``, ``options.max_minutes`` and
        ``options.device`` replace the recorded ones when given).
    overwrite : bool
        Replace an existing ``model_dir`` at the end.
    progress : callable, optional
        Called with each validation's record (a dict, as in ``training.json``).
    should_stop : callable, optional
        Polled every step; True stops training, and the best validation so far
        becomes the model (a GUI's Cancel).
    verbose : bool
        Print a progress bar (on a terminal) and one line per validation to stderr.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingError, TrainingDataError, BaseModelError
        One line each: bad exports, disagreeing classes, an unusable base,
        an unwritable ``model_dir``, nothing to resume.
    """
    model_dir = Path(model_dir).expanduser()
    opts = options or TrainOptions()
    start = opts.clock_function()()
    try:
        import accelerate  # noqa: F401  (transformers' Trainer needs it)
    except ImportError:
        raise TrainingError("training needs the 'accelerate' package: "
                            "pip install 'napari-axons[train]'") from None
    partial = check_folders(model_dir, resume, overwrite)
    run_path = partial / "run.json"
    recorded = None
    if resume:
        recorded = json.loads(run_path.read_text(encoding="utf-8"))
        opts = _resumed_options(recorded["options"], opts)
        exports, val_exports = recorded["exports"], recorded["val_exports"]
        classes = ClassTable.from_json(recorded["classes"])
    data = collect(exports, classes=classes)
    classes = data.classes
    vdata = None
    if val_exports:
        vdata = collect(val_exports, classes=classes)
        if vdata.classes.names != classes.names:
            raise TrainingDataError(
                f"{val_exports[0]}: its classes ({', '.join(vdata.classes.names)}) disagree with "
                f"the training exports' ({', '.join(classes.names)})")
        train_tiles, val_tiles = data.tiles, vdata.tiles
    else:
        train_tiles, val_tiles = split_tiles(data.tiles, val_fraction=opts.val_fraction,
                                             seed=opts.seed)
    base_name, base_dir = resolve_base(opts.base, classes.names)
    if base_dir is None and opts.arch not in ARCHITECTURES:
        raise TrainingError(f"unknown architecture {opts.arch!r}; choose one of "
                            f"{', '.join(ARCHITECTURES)}")
    device = _resolve_device(opts.device)
    model = processor = None
    if base_dir is not None:  # checked before anything is written
        import torch

        _quiet_transformers()
        torch.manual_seed(opts.seed)  # the new classifier rows, if any
        model, processor = load_base(base_dir, classes.names)
    target_um = _training_pixel_size(opts, base_dir, data, vdata)
    if not resume:
        make_partial(model_dir, partial)
        if verbose:  # the run starts: what it starts from, and a draft never corrected
            _say_start(base_name, train_tiles)
        recorded = {"options": asdict(opts), "exports": [str(e) for e in exports],
                    "val_exports": [str(e) for e in val_exports or []],
                    "classes": classes.to_json(),
                    "base": {"name": base_name, "folder": str(base_dir) if base_dir else None},
                    "pixel_size_um": target_um}
        write_json(run_path, recorded)
    ctx = _Context(data=data, vdata=vdata, train_tiles=train_tiles, val_tiles=val_tiles,
                   classes=classes, opts=opts, model_dir=model_dir, partial=partial,
                   resume=resume, overwrite=overwrite, progress=progress,
                   should_stop=should_stop, verbose=verbose, device=device, start=start,
                   base_name=base_name, base_dir=base_dir, target_um=target_um,
                   recorded=recorded)
    try:
        return _run(ctx, model, processor)
    except BaseException:
        # failed before a first checkpoint was saved (e.g. a bad mask found while reading
        # the tiles): there is nothing to resume, so leave no folder that blocks the next run
        if not resume and not complete_checkpoints(partial / "state"):
            shutil.rmtree(partial, ignore_errors=True)
        raise


def _resumed_options(saved: dict, given: TrainOptions) -> TrainOptions:
    """The recorded options, with the budget and device of this invocation when given."""
    opts = TrainOptions(**{**saved, "scale_jitter": tuple(saved["scale_jitter"])})
    if given.steps is not None or given.max_minutes is not None:
        opts.steps, opts.max_minutes = given.steps, given.max_minutes
    opts.device = given.device
    return opts


def _training_pixel_size(opts: TrainOptions, base_dir, data: TrainingData, vdata) -> float | None:
    """``opts.pixel_size_um``, else the base's, else the exports' (their median when they differ)."""
    if opts.pixel_size_um is not None:
        return float(opts.pixel_size_um)
    if base_dir is not None:
        stated = stated_pixel_size(base_dir)
        if stated is not None:
            return stated
    sizes = [e["pixel_size_um"] for e in data.exports if e["labelled"] and e["pixel_size_um"]]
    return float(statistics.median(sizes)) if sizes else None


def _pixel_sizes(data: TrainingData, vdata) -> dict[str, float | None]:
    """Export folder (resolved) -> its pixel size in um."""
    out = {}
    for d in (data, vdata):
        for e in (d.exports if d is not None else []):
            out[e["folder"]] = e["pixel_size_um"]
    return out


def _say_start(base_name: str | None, train_tiles) -> None:
    if base_name is not None:
        print(f"fine-tuning {base_name} (--base none trains a new model)", file=sys.stderr)
    corrected, auto = corrected_by_hand(train_tiles)
    if auto and not corrected:
        print(f"warning: none of the {auto} labelled training tile(s) was corrected by hand "
              "(every label is a model's draft, source auto:...): the model can only learn "
              "what it already draws", file=sys.stderr)


def _resolve_device(name: str) -> str:
    try:
        return resolve_device(name)
    except ModelError as exc:
        raise TrainingError(str(exc)) from None


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # "Writing model shards" at every save


class _Context:
    """The settled facts of one run (keyword attributes)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def _run(ctx: _Context, model, processor) -> TrainResult:
    import torch
    from transformers.trainer_callback import PrinterCallback, ProgressCallback


    _quiet_transformers()
    prepare_plotting()
    opts, classes, device = ctx.opts, ctx.classes, ctx.device
    if device == "cpu":
        torch.set_num_threads(int(opts.num_threads or default_num_threads()))
    names = classes.names
    n = len(classes)
    sizes = _pixel_sizes(ctx.data, ctx.vdata)
    train_set = Tiles(ctx.train_tiles, classes, pixel_sizes=sizes, target_um=ctx.target_um)
    val_set = Tiles(ctx.val_tiles, classes, pixel_sizes=sizes, target_um=ctx.target_um,
                    keep_native=True)
    counts = {"train": train_set.class_counts(n), "validation": val_set.class_counts(n)}
    torch.manual_seed(opts.seed)
    if model is None:
        model, processor = build_model(opts.arch, names), new_processor()
    model.to(device)
    if ctx.base_dir is not None:  # a few tiles must not replace the base's statistics
        freeze_batchnorm(model)
    base_scores = None
    if ctx.base_dir is not None:
        if "base_scores" not in ctx.recorded:  # scored once, before any training
            ctx.recorded["base_scores"] = score_model(model, processor, val_set, names,
                                                      device)[0].to_json()
            write_json(ctx.partial / "run.json", ctx.recorded)
        base_scores = ctx.recorded["base_scores"]
    lr = opts.lr if opts.lr is not None else (5e-4 if ctx.base_dir is not None else 1e-3)
    norm = normalisation(processor)
    augment = Augment(crop=opts.crop, scale=opts.scale_jitter)
    loss = Loss(class_weights(counts["train"]), n)
    metrics = EvalMetrics(classes)
    state = ctx.partial / "state"
    steps, seconds = opts.budget()
    budget = Budget(steps, seconds, start=ctx.start, clock=opts.clock_function())
    lr_factor = LRFactor(opts.warmup)
    history = History(state / "history.json", classes, verbose=ctx.verbose, progress=ctx.progress)
    clock = Clock(budget, lr_factor, opts.val_every, opts.validations,
                  Plateau(opts.plateau, opts.min_share), history, loss, ctx.should_stop)
    best = Best(ctx.partial)
    trainer = _trainer_class()(
        lr_factor, model=model, args=_arguments(opts, state, steps, lr, device, val_set),
        train_dataset=crop_stream(train_set, augment, norm),
        eval_dataset=whole_tiles(val_set, norm), compute_loss_func=loss,
        compute_metrics=metrics, preprocess_logits_for_metrics=argmax_logits,
        callbacks=[clock.callback, best.callback],
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # prints log dicts
    if ctx.verbose and sys.stderr.isatty():
        trainer.add_callback(budget_bar(budget))
    checkpoint = None
    if ctx.resume:
        done = complete_checkpoints(state)
        for p in state.glob("checkpoint-*"):
            if p not in done:
                shutil.rmtree(p, ignore_errors=True)  # half-written when the run died
        checkpoint = str(done[-1]) if done else None
        history.load(upto_step=int(done[-1].name.split("-")[1]) if done else 0)
        best.load(history.records)
        clock.resume_from(history.records)
    trainer.train(resume_from_checkpoint=checkpoint)
    model = best.restore(trainer.model).eval()
    scores, val_pred = score_model(model, processor, val_set, names, device)
    final = ctx.partial / "model"
    if final.exists():
        shutil.rmtree(final)
    final.mkdir()
    model.save_pretrained(final, safe_serialization=True)
    processor.save_pretrained(final)
    report = write_report(
        final, history=history, classes=classes, scores=scores, base_scores=base_scores,
        val_pred=val_pred, val_set=val_set, train_set=train_set, data=ctx.data,
        vdata=ctx.vdata, counts=counts, opts=opts, lr=lr, reason=clock.reason or "steps",
        device=device, base=ctx.base_name, pixel_size_um=ctx.target_um,
        seconds=budget.elapsed(), steps=int(trainer.state.global_step))
    publish(final, ctx.model_dir, ctx.partial, ctx.overwrite)
    return TrainResult(ctx.model_dir, report)


def _arguments(opts: TrainOptions, state: Path, steps, lr: float, device: str, val_set):
    """The ``TrainingArguments``: steps, no schedule of the Trainer's own (ours decides)."""
    import torch
    from transformers import TrainingArguments

    on_cpu = device == "cpu"
    bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    fp16 = device.startswith("cuda") and not bf16
    same_size = len({im.shape[:2] for im in val_set.images}) == 1
    return TrainingArguments(
        output_dir=str(state), max_steps=int(steps) if steps is not None else 10**9,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size if same_size else 1,
        learning_rate=lr, weight_decay=opts.weight_decay,
        eval_strategy="no", save_strategy="no", logging_strategy="no",  # the Clock decides
        save_total_limit=1, report_to=[], seed=opts.seed, data_seed=opts.seed,
        dataloader_num_workers=0, use_cpu=on_cpu, bf16=bf16, fp16=fp16,
        batch_eval_metrics=True, disable_tqdm=True, ignore_data_skip=True,
        remove_unused_columns=False, label_names=["labels"],
    )


def _trainer_class():
    from transformers import Trainer

    class _Trainer(Trainer):
        """The Trainer with our learning-rate schedule (:class:`.schedule.LRFactor`)."""

        def __init__(self, lr_factor, *a, **kw):
            super().__init__(*a, **kw)
            self._lr_factor = lr_factor

        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None:
                import torch

                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer if optimizer is not None else self.optimizer, self._lr_factor)
            return self.lr_scheduler

    return _Trainer
