"""Train a segmentation checkpoint from corrected exports (transformers' ``Trainer``).

Folders, for ``-o MODEL_DIR``:

* ``MODEL_DIR.partial/`` while training: ``run.json`` (the settings and the
  split), ``state/checkpoint-N/`` (the ``Trainer``'s resume state each epoch:
  model, optimizer, scheduler, RNG, epoch; a checkpoint counts once its
  ``trainer_state.json``, written last, is there), ``state/history.json``;
  and at the end ``model/`` (the finished files).
* ``MODEL_DIR/`` appears only when training ended: ``MODEL_DIR.partial/model``
  renamed in one step, then ``MODEL_DIR.partial`` removed. It holds
  ``config.json`` + ``model.safetensors`` + ``preprocessor_config.json``
  (``save_pretrained``), ``training.json``, ``training.png`` and
  ``napari_axons.json``.

So an interrupted run never leaves a folder that looks like a finished model,
and ``resume=True`` continues from the last complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..common import ClassTable
from .data import TrainingData, TrainingDataError, collect, load_tile, split_tiles
from .models import ARCHITECTURES

__all__ = ["TrainOptions", "TrainResult", "TrainingError", "train"]

PARTIAL_SUFFIX = ".partial"


class TrainingError(ValueError):
    """Training cannot start or go on (one line for the user)."""


@dataclass
class TrainOptions:
    """Settings of a training run (see ``napari-axons train --help``).

    Attributes
    ----------
    epochs : int
        Most epochs; the learning-rate schedule (linear warm-up, cosine decay)
        spans them. One epoch = every training tile's area once, as random crops.
    batch_size : int
        Crops per optimiser step.
    lr : float or None
        Peak learning rate (default: 1e-3 from config, 2e-4 from ``base``).
    max_minutes : float or None
        Stop after this much training time (this invocation); the best epoch so
        far becomes the model.
    device : str
        ``auto``, ``cpu``, ``cuda`` or ``mps``.
    seed : int
    arch : str
        Architecture built from config when ``base`` is None.
    base : str or None
        A local checkpoint folder to fine-tune.
    crop : int
        Side of the training crops in pixels.
    patience : int
        Early stopping: epochs without a better validation mean IoU.
    val_fraction : float
        Share of the labelled tiles held out when no validation export is given.
    num_threads : int or None
        Torch CPU threads (default: all cores).
    """

    epochs: int = 60
    batch_size: int = 4
    lr: float | None = None
    max_minutes: float | None = None
    device: str = "auto"
    seed: int = 0
    arch: str = "upernet-convnext"
    base: str | None = None
    crop: int = 256
    patience: int = 12
    val_fraction: float = 0.2
    num_threads: int | None = None
    scale_jitter: tuple[float, float] = (0.8, 1.25)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05


@dataclass
class TrainResult:
    """The finished run: where the model is and its report (``training.json``)."""

    model_dir: Path
    report: dict = field(repr=False)


# --------------------------------------------------------------------------- folders


def _check_folders(model_dir: Path, resume: bool, overwrite: bool) -> Path:
    """The run's ``.partial`` folder, after checking what is there (nothing is written)."""
    partial = model_dir.with_name(model_dir.name + PARTIAL_SUFFIX)
    if model_dir.exists() and not model_dir.is_dir():
        raise TrainingError(f"{model_dir}: exists and is not a folder")
    if model_dir.is_dir() and any(model_dir.iterdir()) and not overwrite:
        raise TrainingError(f"{model_dir}: already exists and is not empty; choose another -o "
                            "or add --overwrite")
    if resume and not (partial / "run.json").is_file():
        raise TrainingError(f"{partial}: no interrupted training run to resume")
    if not resume and partial.exists():
        raise TrainingError(f"{partial}: an interrupted training run is there; continue it with "
                            "--resume, or delete that folder")
    return partial


def _make_partial(model_dir: Path, partial: Path) -> None:
    """Create ``partial/state``; one line when the place is not writable."""
    try:
        (partial / "state").mkdir(parents=True, exist_ok=True)
        probe = partial / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"{model_dir}: cannot write there "
                            f"({exc.strerror or type(exc).__name__})") from None


def _write_json(path: Path, doc) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=_json_default), encoding="utf-8")
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def _complete_checkpoints(state: Path) -> list[Path]:
    """Checkpoints whose ``trainer_state.json`` (written last) parses, oldest first."""
    out = []
    for p in state.glob("checkpoint-*"):
        try:
            step = int(p.name.split("-", 1)[1])
            json.loads((p / "trainer_state.json").read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        out.append((step, p))
    return [p for _, p in sorted(out)]


# --------------------------------------------------------------------------- data in memory


class _Tiles:
    """Labelled tiles in memory: ``images[i]`` (H, W, 3) uint8, ``labels[i]`` (H, W) uint8."""

    def __init__(self, tiles, classes: ClassTable):
        self.tiles = tiles
        self.images, self.labels = [], []
        for t in tiles:
            im, lab = load_tile(t, classes)
            self.images.append(im)
            self.labels.append(lab)

    def class_counts(self, n: int) -> list[int]:
        counts = np.zeros(n, np.int64)
        for lab in self.labels:
            counts += np.bincount(lab.ravel(), minlength=n)[:n]
        return counts.tolist()


def _datasets(train: _Tiles, val: _Tiles, opts: TrainOptions, norm):
    import torch

    from .augment import Augment

    scale, mean, std = norm
    aug = Augment(crop=opts.crop, scale=opts.scale_jitter)
    areas = [im.shape[0] * im.shape[1] for im in train.images]
    per_tile = max(1, int(round(np.mean(areas) / (opts.crop * opts.crop))))

    class TrainSet(torch.utils.data.Dataset):
        def __len__(self):
            return len(train.images) * per_tile

        def __getitem__(self, i):
            k = i % len(train.images)
            im = torch.from_numpy(train.images[k]).permute(2, 0, 1).float()
            lab = torch.from_numpy(train.labels[k]).long()
            im, lab = aug(im, lab)
            return {"pixel_values": (im * scale - mean) / std, "labels": lab}

    class ValSet(torch.utils.data.Dataset):
        def __len__(self):
            return len(val.images)

        def __getitem__(self, i):
            im = torch.from_numpy(val.images[i]).permute(2, 0, 1).float()
            return {"pixel_values": (im * scale - mean) / std,
                    "labels": torch.from_numpy(val.labels[i]).long()}

    return TrainSet(), ValSet()


# --------------------------------------------------------------------------- loss and metrics


def _confusion(pred, target, n: int):
    """``(n, n)`` int64 counts, rows = truth, columns = prediction (ignored pixels dropped)."""
    import torch

    valid = target >= 0
    idx = target[valid] * n + pred[valid]
    return torch.bincount(idx.reshape(-1), minlength=n * n).reshape(n, n).cpu()


def _iou(conf) -> list[float | None]:
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - tp
    return [float(t / u) if u > 0 else None for t, u in zip(tp, union, strict=True)]


def _mean_fg(iou: list[float | None]) -> float:
    vals = [v for v in iou[1:] if v is not None]
    return float(np.mean(vals)) if vals else 0.0


class _Loss:
    """Cross-entropy with class weights + soft Dice over the foreground classes.

    Keeps the running loss and confusion matrix of training steps (those run
    with gradients) for the epoch's report.
    """

    def __init__(self, weights, n: int):
        self.weights = weights
        self.n = n
        self.reset()

    def reset(self):
        import torch

        self.sum = 0.0
        self.count = 0
        self.conf = torch.zeros(self.n, self.n, dtype=torch.int64)

    def __call__(self, outputs, labels, num_items_in_batch=None):
        import torch
        import torch.nn.functional as F

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        logits = logits.float()
        if logits.shape[-2:] != labels.shape[-2:]:
            logits = F.interpolate(logits, size=labels.shape[-2:], mode="bilinear",
                                   align_corners=False)
        w = self.weights.to(logits.device)
        ce = F.cross_entropy(logits, labels, weight=w, ignore_index=-100)
        prob = logits.softmax(1)
        valid = (labels >= 0).unsqueeze(1)
        onehot = F.one_hot(labels.clamp(min=0), self.n).permute(0, 3, 1, 2).float() * valid
        prob = prob * valid
        dims = (0, 2, 3)
        inter = (prob * onehot).sum(dims)
        denom = prob.sum(dims) + onehot.sum(dims)
        dice = 1 - (2 * inter + 1.0) / (denom + 1.0)
        loss = ce + dice[1:].mean()
        if torch.is_grad_enabled():
            self.sum += float(loss.detach()) * labels.shape[0]
            self.count += labels.shape[0]
            self.conf += _confusion(logits.detach().argmax(1), labels, self.n)
        return loss


class _EvalMetrics:
    """``compute_metrics`` for ``batch_eval_metrics``: a confusion matrix over batches."""

    def __init__(self, classes: ClassTable):
        self.classes = classes
        self.conf = None

    def __call__(self, eval_pred, compute_result: bool = True):
        import torch

        n = len(self.classes)
        preds = torch.as_tensor(eval_pred.predictions)
        labels = torch.as_tensor(eval_pred.label_ids)
        c = _confusion(preds, labels.to(preds.device), n)
        self.conf = c if self.conf is None else self.conf + c
        if not compute_result:
            return {}
        iou = _iou(self.conf.numpy())
        self.last_conf = self.conf.numpy()
        self.conf = None
        out = {"miou": _mean_fg(iou)}
        for name, v in zip(self.classes.names, iou, strict=True):
            out[f"iou_{name}"] = v if v is not None else float("nan")
        return out


def _argmax_logits(logits, labels):
    import torch.nn.functional as F

    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    if logits.shape[-2:] != labels.shape[-2:]:
        logits = F.interpolate(logits.float(), size=labels.shape[-2:], mode="bilinear",
                               align_corners=False)
    return logits.argmax(1)


# --------------------------------------------------------------------------- the run


def _class_weights(counts: list[int]):
    """Median-frequency balancing, clipped to [0.25, 4]; absent classes weigh 1."""
    import torch

    c = np.asarray(counts, np.float64)
    present = c > 0
    w = np.ones_like(c)
    if present.any():
        freq = c[present] / c[present].sum()
        w[present] = np.clip(np.median(freq) / freq, 0.25, 4.0)
    return torch.tensor(w, dtype=torch.float32)


def _resolve_device(name: str) -> str:
    from ..segment import ModelError, resolve_device

    try:
        return resolve_device(name)
    except ModelError as exc:
        raise TrainingError(str(exc)) from None


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
        Where the finished checkpoint goes (see the module docstring).
    val_exports : sequence of path, optional
        Validation exports; without them a share of the labelled tiles is held
        out, overlapping tiles kept on one side.
    options : TrainOptions, optional
    classes : ClassTable, optional
        Class names when the exports do not name them (mask PNGs only).
    resume : bool
        Continue the interrupted run in ``model_dir.partial`` (its recorded
        settings; ``options.max_minutes`` and ``options.device`` may change).
    overwrite : bool
        Replace an existing ``model_dir`` at the end.
    progress : callable, optional
        Called with each epoch's record (a dict, as in ``training.json``).
    should_stop : callable, optional
        Polled every step; True stops training, and the best epoch so far
        becomes the model (a GUI's Cancel).
    verbose : bool
        Print a progress bar and one line per epoch to stderr.

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
    try:
        import accelerate  # noqa: F401  (transformers' Trainer needs it)
    except ImportError:
        raise TrainingError("training needs the 'accelerate' package: "
                            "pip install 'napari-axons[train]'") from None
    partial = _check_folders(model_dir, resume, overwrite)
    run_path = partial / "run.json"
    if resume:
        run = json.loads(run_path.read_text(encoding="utf-8"))
        saved = TrainOptions(**{**run["options"],
                                "scale_jitter": tuple(run["options"]["scale_jitter"])})
        saved.max_minutes, saved.device = opts.max_minutes, opts.device
        opts = saved
        exports, val_exports = run["exports"], run["val_exports"]
        classes = ClassTable.from_json(run["classes"])
    data = collect(exports, classes=classes)
    classes = data.classes
    if val_exports:
        vdata = collect(val_exports, classes=classes)
        if vdata.classes.names != classes.names:
            raise TrainingDataError(
                f"{val_exports[0]}: its classes ({', '.join(vdata.classes.names)}) disagree with "
                f"the training exports' ({', '.join(classes.names)})")
        train_tiles, val_tiles = data.tiles, vdata.tiles
    else:
        vdata = None
        train_tiles, val_tiles = split_tiles(data.tiles, val_fraction=opts.val_fraction,
                                             seed=opts.seed)
    if opts.arch not in ARCHITECTURES and not opts.base:
        raise TrainingError(f"unknown architecture {opts.arch!r}; choose one of "
                            f"{', '.join(ARCHITECTURES)}")
    device = _resolve_device(opts.device)
    model = processor = None
    if opts.base:  # checked before anything is written
        import torch

        from .models import load_base

        _quiet_transformers()
        torch.manual_seed(opts.seed)  # the new classifier's weights, when replaced
        model, processor = load_base(opts.base, classes.names)
    if not resume:
        _make_partial(model_dir, partial)
        _write_json(run_path, {"options": asdict(opts), "exports": [str(e) for e in exports],
                               "val_exports": [str(e) for e in val_exports or []],
                               "classes": classes.to_json()})
    try:
        return _run(data, vdata, train_tiles, val_tiles, classes, opts, model_dir, partial,
                    resume, overwrite, progress, should_stop, verbose, device, model, processor)
    except BaseException:
        # failed before a first epoch was saved (e.g. a bad mask found while reading the
        # tiles): there is nothing to resume, so leave no folder that blocks the next run
        if not resume and not _complete_checkpoints(partial / "state"):
            shutil.rmtree(partial, ignore_errors=True)
        raise


def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # "Writing model shards" at every save


def _run(data: TrainingData, vdata, train_tiles, val_tiles, classes, opts, model_dir, partial,
         resume, overwrite, progress, should_stop, verbose, device, model,
         processor) -> TrainResult:
    import torch
    from transformers import TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from ..segment import default_num_threads
    from .models import build_model, new_processor, normalisation
    from .report import History, write_report

    _quiet_transformers()
    on_cpu = device == "cpu"
    if on_cpu:
        torch.set_num_threads(int(opts.num_threads or default_num_threads()))
    n = len(classes)
    train_set, val_set = _Tiles(train_tiles, classes), _Tiles(val_tiles, classes)
    counts = {"train": train_set.class_counts(n), "validation": val_set.class_counts(n)}
    torch.manual_seed(opts.seed)
    if model is None:
        model, processor = build_model(opts.arch, classes.names), new_processor()
    lr = opts.lr if opts.lr is not None else (2e-4 if opts.base else 1e-3)
    norm = normalisation(processor)
    ds_train, ds_val = _datasets(train_set, val_set, opts, norm)
    loss = _Loss(_class_weights(counts["train"]), n)
    metrics = _EvalMetrics(classes)
    state = partial / "state"
    sizes = {im.shape[:2] for im in val_set.images}
    bf16 = not on_cpu and device.startswith("cuda") and torch.cuda.is_bf16_supported()
    fp16 = not on_cpu and device.startswith("cuda") and not bf16
    # a progress bar on a terminal; in a log (a batch job) the per-epoch lines suffice
    bar = verbose and sys.stderr.isatty()
    args = TrainingArguments(
        output_dir=str(state), num_train_epochs=opts.epochs,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.batch_size if len(sizes) == 1 else 1,
        learning_rate=lr, weight_decay=opts.weight_decay, lr_scheduler_type="cosine",
        warmup_steps=opts.warmup_ratio, eval_strategy="epoch", save_strategy="epoch",
        save_total_limit=1, logging_strategy="epoch", report_to=[], seed=opts.seed,
        data_seed=opts.seed, dataloader_num_workers=0, use_cpu=on_cpu, bf16=bf16, fp16=fp16,
        batch_eval_metrics=True, disable_tqdm=not bar,
        remove_unused_columns=False, label_names=["labels"],
    )
    history = History(state / "history.json", classes, verbose=verbose, progress=progress)
    stopper = _Stopper(opts.max_minutes, should_stop)
    best = _Best(partial, opts.patience)
    schedule = _Schedule(opts.warmup_ratio)
    trainer = _trainer_class()(
        schedule,
        model=model, args=args, train_dataset=ds_train, eval_dataset=ds_val,
        compute_loss_func=loss, compute_metrics=metrics,
        preprocess_logits_for_metrics=_argmax_logits,
        callbacks=[history.callback(loss, metrics), best.callback, stopper.callback,
                   schedule.callback(opts.max_minutes)],
    )
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)  # added instead of the bar: prints log dicts
    if bar:
        trainer.add_callback(_QuietProgress())
    checkpoint = None
    if resume:
        done = _complete_checkpoints(state)
        for p in state.glob("checkpoint-*"):
            if p not in done:
                shutil.rmtree(p, ignore_errors=True)  # half-written when the run died
        checkpoint = str(done[-1]) if done else None
        step = int(done[-1].name.split("-")[1]) if done else 0
        history.load(upto_step=step)
        best.load(history.records)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
    minutes = (time.perf_counter() - start) / 60
    model = best.restore(trainer.model).eval()
    if stopper.reason is None and best.stopped_early:
        stopper.reason = "early stopping"
    if stopper.reason is None and schedule.total < schedule.planned \
            and trainer.state.global_step >= schedule.total:
        stopper.reason = "time limit"  # the schedule was fitted to --max-minutes and ran out

    # the report's validation masks: through the processor, as the loader does
    val_pred = _predict(model, processor, val_set.images, device)
    final = partial / "model"
    if final.exists():
        shutil.rmtree(final)
    final.mkdir()
    model.save_pretrained(final, safe_serialization=True)
    processor.save_pretrained(final)
    report = write_report(final, history, classes, val_pred, val_set, train_set, data, vdata,
                          counts, opts, lr, minutes, stopper.reason, device,
                          base=opts.base)
    _publish(final, model_dir, partial, overwrite)
    return TrainResult(model_dir, report)


def _predict(model, processor, images, device) -> list[np.ndarray]:
    import torch
    import torch.nn.functional as F

    out = []
    with torch.inference_mode():
        for im in images:
            pv = processor(images=[im], return_tensors="pt",
                           input_data_format="channels_last")["pixel_values"].to(device)
            logits = model(pixel_values=pv).logits.float()
            if logits.shape[-2:] != im.shape[:2]:
                logits = F.interpolate(logits, size=im.shape[:2], mode="bilinear",
                                       align_corners=False)
            out.append(logits.argmax(1)[0].to("cpu").numpy().astype(np.uint8))
    return out


def _publish(final: Path, model_dir: Path, partial: Path, overwrite: bool) -> None:
    """Move the finished model into place in one rename, then drop the run's folder."""
    old = None
    if model_dir.exists():
        if not overwrite and any(model_dir.iterdir()):
            raise TrainingError(f"{model_dir}: appeared while training; the model is in {final}")
        old = model_dir.with_name(model_dir.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(model_dir, old)
    os.replace(final, model_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)


class _Schedule:
    """Linear warm-up then cosine decay to 0 at ``total`` steps, as a LambdaLR factor.

    With ``--max-minutes``, ``total`` is cut after the first epoch to the steps
    that fit in the time limit (its duration, evaluation and save included), so
    the learning rate still decays fully before time runs out; training stops
    at ``total``. A callable object: ``LambdaLR.state_dict`` saves its
    attributes, so a resumed run keeps the cut.
    """

    def __init__(self, warmup_ratio: float):
        self.warmup_ratio = float(warmup_ratio)
        self.total = 1
        self.planned = 1

    def __call__(self, step: int) -> float:
        import math

        warm = max(1, int(round(self.warmup_ratio * self.total)))
        if step < warm:
            return (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, self.total - warm))
        return 0.5 * (1.0 + math.cos(math.pi * t))

    def callback(self, max_minutes):
        from transformers import TrainerCallback

        outer = self
        limit = None if max_minutes is None else float(max_minutes) * 60

        class _CB(TrainerCallback):
            t0 = None

            def on_train_begin(self, args, state, control, **kw):
                self.t0 = time.perf_counter()
                self.step0 = state.global_step

            def on_epoch_begin(self, args, state, control, **kw):
                steps = state.global_step - self.step0
                if limit is None or steps == 0 or self.step0 or outer.total != outer.planned:
                    return  # first epoch not done yet; a resumed run keeps its plan
                per_step = (time.perf_counter() - self.t0) / steps
                fit = int(0.97 * limit / per_step)
                if fit < outer.total:
                    outer.total = max(fit, steps + 1)

            def on_step_end(self, args, state, control, **kw):
                if state.global_step >= outer.total:
                    control.should_training_stop = True
                    control.should_evaluate = True
                    control.should_save = True
                return control

        return _CB()


def _trainer_class():
    from transformers import Trainer

    class _Trainer(Trainer):
        """The Trainer with our learning-rate schedule (:class:`_Schedule`)."""

        def __init__(self, schedule, *a, **kw):
            super().__init__(*a, **kw)
            self._schedule = schedule

        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None:
                import torch

                if self._schedule.planned == 1:  # not restored from a checkpoint
                    self._schedule.total = self._schedule.planned = int(num_training_steps)
                self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
                    optimizer if optimizer is not None else self.optimizer, self._schedule)
            return self.lr_scheduler

    return _Trainer


class _Best:
    """Keeps the weights of the best epoch (validation mean IoU) and stops early.

    The best weights are written (safetensors, atomically) to
    ``partial/best.safetensors`` whenever the validation mean IoU improves;
    training stops after ``patience`` evaluations without improvement.
    """

    def __init__(self, partial: Path, patience: int):
        from transformers import TrainerCallback

        self.path = partial / "best.safetensors"
        self.patience = int(patience)
        self.best = -1.0
        self.since = 0
        self.stopped_early = False
        self.last_step = -1
        outer = self

        class _CB(TrainerCallback):
            def on_evaluate(self, args, state, control, metrics=None, model=None, **kw):
                if state.global_step == outer.last_step:
                    return control  # evaluated twice at one step (a stop mid-epoch)
                outer.last_step = state.global_step
                miou = float((metrics or {}).get("eval_miou", 0.0))
                if miou > outer.best:
                    outer.best, outer.since = miou, 0
                    outer._save(model)
                else:
                    outer.since += 1
                    if outer.since >= outer.patience:
                        outer.stopped_early = True
                        control.should_training_stop = True
                return control

        self.callback = _CB()

    def _save(self, model) -> None:
        from safetensors.torch import save_model

        tmp = self.path.with_name(".best.tmp.safetensors")
        save_model(model, str(tmp))
        os.replace(tmp, self.path)

    def load(self, records: list[dict]) -> None:
        """Continue from a resumed run's history."""
        for r in records:
            miou = r.get("val_miou") or 0.0
            if miou > self.best:
                self.best, self.since = miou, 0
            else:
                self.since += 1

    def restore(self, model):
        """``model`` with the best epoch's weights (as it is when none were saved)."""
        if self.path.is_file():
            from safetensors.torch import load_model

            load_model(model, str(self.path), device=str(next(model.parameters()).device))
        return model


class _Stopper:
    """Stops training after ``max_minutes`` or when ``should_stop()`` says so (evaluated, saved)."""

    def __init__(self, max_minutes, should_stop):
        from transformers import TrainerCallback

        self.limit = None if max_minutes is None else float(max_minutes) * 60
        self.should_stop = should_stop
        self.reason = None
        self.t0 = None
        outer = self

        class _CB(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                outer.t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                why = None
                if outer.limit is not None and time.perf_counter() - outer.t0 > outer.limit:
                    why = "time limit"
                elif outer.should_stop is not None and outer.should_stop():
                    why = "stopped"
                if why:
                    outer.reason = why
                    control.should_training_stop = True
                    control.should_evaluate = True
                    control.should_save = True
                return control

        self.callback = _CB()


def _quiet_progress_class():
    from transformers.trainer_callback import ProgressCallback

    class _QuietProgress(ProgressCallback):
        """Trainer's tqdm bar without the dict lines (the history prints per-epoch lines)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            return None

        def on_evaluate(self, args, state, control, **kwargs):
            return None

    return _QuietProgress


def _QuietProgress():  # noqa: N802 - builds the callback lazily (transformers imported in functions)
    return _quiet_progress_class()()
