"""``napari-axons train``: train a segmentation checkpoint from corrected exports."""

from __future__ import annotations

from ..core.common import ClassTable
from ..core.training import TrainOptions, train
from ..core.training.report import training_summary
from .parser import CliError, add_command, fraction, micrometres, positive, whole_number

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    tr = add_command(
        sub, "train", run, help="train a segmentation checkpoint from corrected exports",
        description="Train a Hugging Face segmentation checkpoint on the labelled tiles of "
                    "EXPORT_DIRs (polygons from __labels.json, else masks/*_mask.png; tiles "
                    "without either are not used) and write it to MODEL_DIR (save_pretrained, "
                    "safetensors, with training.json, training.png and napari_axons.json), "
                    "ready for 'napari-axons tile --model MODEL_DIR'. While it runs, everything "
                    "lives in MODEL_DIR.partial; see docs/training.md.")
    tr.add_argument("exports", nargs="*", metavar="EXPORT_DIR",
                    help="export folders with corrected tiles (not needed with --resume)")
    tr.add_argument("-o", "--output", required=True, metavar="MODEL_DIR",
                    help="where the trained checkpoint goes")
    tr.add_argument("--val", nargs="+", default=None, metavar="EXPORT_DIR",
                    help="validation exports (default: hold out a fifth of the labelled tiles, "
                         "overlapping tiles on one side)")
    tr.add_argument("--base", metavar="CHECKPOINT_DIR", default="auto",
                    help="where to start: a local checkpoint folder or a built-in model's name "
                         "(axon-myelin-sem); 'none' for a new model; default 'auto': the "
                         "built-in axon-myelin-sem model when the classes are axon and myelin, "
                         "else a new model")
    tr.add_argument("--arch", default="upernet-convnext", choices=["upernet-convnext", "segformer"],
                    help="architecture of a new model (default: upernet-convnext)")
    tr.add_argument("--classes", metavar="NAMES",
                    help="class names (e.g. axon,myelin) when the exports have only mask PNGs")
    tr.add_argument("--steps", type=whole_number(1), default=None, metavar="N",
                    help="most optimiser steps (with --max-minutes: whichever ends first)")
    tr.add_argument("--batch-size", type=whole_number(1), default=4, metavar="B",
                    help="crops per step (default: 4)")
    tr.add_argument("--lr", type=positive, default=None,
                    help="peak learning rate (default: 1e-3 new model, 5e-4 from a base)")
    tr.add_argument("--crop", type=whole_number(32), default=256, metavar="N",
                    help="side of the training crops in pixels (default: 256)")
    tr.add_argument("--max-minutes", type=positive, default=None, metavar="M",
                    help="the run's time budget in minutes (default: 10 when --steps is not "
                         "given); the learning rate decays with the clock and the run ends "
                         "in time")
    tr.add_argument("--val-every", type=whole_number(1), default=None, metavar="K",
                    help="validate every K steps (default: about 25 times over the budget)")
    tr.add_argument("--plateau", type=fraction, default=0.3, metavar="SHARE",
                    help="stop when the smoothed validation IoU has not improved for this "
                         "share of the budget, never in its first fifth (default: 0.3; 0: off)")
    tr.add_argument("--pixel-size", type=micrometres, default=None, metavar="UM",
                    help="training pixel size in um: tiles are resampled to it (default: the "
                         "base model's, else the exports')")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                    help="where to train (default: auto; mixed precision on a GPU)")
    tr.add_argument("--seed", type=whole_number(0), default=0, help="random seed (default: 0)")
    tr.add_argument("--torch-threads", type=whole_number(1), default=None, metavar="N",
                    help="CPU threads (default: all cores)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the interrupted run in MODEL_DIR.partial from its last "
                         "checkpoint (saved at each validation)")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing MODEL_DIR")


def run(args) -> int:
    if not args.exports and not args.resume:
        raise CliError("give at least one EXPORT_DIR (or --resume)", 2)
    classes = ClassTable.from_spec(args.classes) if args.classes else None
    opts = TrainOptions(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                        max_minutes=args.max_minutes, device=args.device, seed=args.seed,
                        arch=args.arch, base=args.base, crop=args.crop, val_every=args.val_every,
                        plateau=args.plateau, pixel_size_um=args.pixel_size,
                        num_threads=args.torch_threads)
    result = train(args.exports, args.output, val_exports=args.val, options=opts,
                   classes=classes, resume=args.resume, overwrite=args.overwrite)
    print(training_summary(result.model_dir, result.report))
    return 0
