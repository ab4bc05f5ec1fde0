"""``napari-axons train``: train a segmentation checkpoint from corrected exports."""

from __future__ import annotations

from ..core.common import ClassTable
from ..core.training import TrainOptions, train
from .parser import CliError, add_command, positive, whole_number

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
    tr.add_argument("--base", metavar="CHECKPOINT_DIR",
                    help="fine-tune this local segmentation checkpoint (its classifier is "
                         "replaced when the class count differs); default: a new model")
    tr.add_argument("--arch", default="upernet-convnext", choices=["upernet-convnext", "segformer"],
                    help="architecture of a new model (default: upernet-convnext)")
    tr.add_argument("--classes", metavar="NAMES",
                    help="class names (e.g. axon,myelin) when the exports have only mask PNGs")
    tr.add_argument("--epochs", type=whole_number(1), default=60,
                    help="most epochs; the learning-rate schedule spans them (default: 60)")
    tr.add_argument("--batch-size", type=whole_number(1), default=4, metavar="B",
                    help="crops per step (default: 4)")
    tr.add_argument("--lr", type=positive, default=None,
                    help="peak learning rate (default: 1e-3 new model, 2e-4 with --base)")
    tr.add_argument("--crop", type=whole_number(32), default=256, metavar="N",
                    help="side of the training crops in pixels (default: 256)")
    tr.add_argument("--patience", type=whole_number(1), default=12, metavar="N",
                    help="stop after N epochs without a better validation IoU (default: 12)")
    tr.add_argument("--max-minutes", type=positive, default=None, metavar="M",
                    help="stop after M minutes; the best epoch so far becomes the model")
    tr.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                    help="where to train (default: auto; mixed precision on a GPU)")
    tr.add_argument("--seed", type=whole_number(0), default=0, help="random seed (default: 0)")
    tr.add_argument("--torch-threads", type=whole_number(1), default=None, metavar="N",
                    help="CPU threads (default: all cores)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the interrupted run in MODEL_DIR.partial from its last epoch")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing MODEL_DIR")


def run(args) -> int:
    if not args.exports and not args.resume:
        raise CliError("give at least one EXPORT_DIR (or --resume)", 2)
    classes = ClassTable.from_spec(args.classes) if args.classes else None
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                        max_minutes=args.max_minutes, device=args.device, seed=args.seed,
                        arch=args.arch, base=args.base, crop=args.crop, patience=args.patience,
                        num_threads=args.torch_threads)
    result = train(args.exports, args.output, val_exports=args.val, options=opts,
                   classes=classes, resume=args.resume, overwrite=args.overwrite)
    best = result.report["best"]
    figs = ", ".join(f"{k} {v:.3f}" for k, v in best["val_iou"].items() if k != "background")
    print(f"trained {result.model_dir} in {result.report['minutes']:.1f} min: best epoch "
          f"{best['epoch']:g}, validation IoU {figs}")
    return 0
