"""Make the built-in model ``axon-myelin-sem`` from the shared AxonDeepSeg SEM data.

One command (from the repository root; the data folder defaults to
``../shared/data/axondeepseg-sem``)::

    python bench/train_builtin.py --out MODEL_DIR [--minutes 60] [--clock cpu]
        [--threads 1] [--data DIR] [--work DIR] [--device auto]

What it does, with the product's own code only:

1. every image of the eight (rats 1, 2, 3, 4, 5, 8) becomes a labelled export
   at its own pixel size (``bench/real_data.py``: ``napari-axons tile --masks``,
   512 px tiles, the manual masks as label files);
2. ``napari_axons.core.training.train`` trains a new model on them
   (``--base none``; architecture :data:`ARCH`, every tile resampled to
   :data:`PIXEL_SIZE_UM` um/px, random 256 px crops), holding out a tenth of
   the tiles for validation; the budget is ``--minutes`` of ``--clock`` time
   (``cpu``: this process's CPU time, so that a machine shared with other jobs
   gives the same number of steps; ``wall`` on a machine of your own);
3. the folder's ``napari_axons.json`` gets the model's name, the data's
   credit and licence and this command, and the folder is copied to ``--out``.

The weights are saved in float32 (about 10 MB; the loader upcasts float16).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.real_data import NAMES, RATS, default_data_dir, export_rats  # noqa: E402

#: The training pixel size of the built-in model, um/px.
PIXEL_SIZE_UM = 0.1
#: Its architecture (``napari_axons.core.training.models.ARCHITECTURES``).
ARCH = "upernet-convnext"
NAME = "axon-myelin-sem"
CREDIT = {
    "dataset": "AxonDeepSeg SEM dataset (rat spinal cord; github.com/axondeepseg/"
               "data_axondeepseg_sem), 8 of its 10 samples: rats 1, 2, 3, 4, 5, 8",
    "doi": "10.5281/zenodo.5498378",
    "licence": "MIT",
    "credit": "Data: AxonDeepSeg SEM dataset, NeuroPoly, Polytechnique Montreal "
              "(Zaimi et al., 2018, Scientific Reports 8:3816), DOI 10.5281/zenodo.5498378, MIT "
              "licence. Model trained by napari-axons on that data.",
}


def train_model(exports, model_dir: Path, *, minutes: float | None, steps: int | None,
                clock: str, threads: int, device: str, seed: int = 0, base="none",
                val_fraction: float = 0.1, verbose: bool = True, resume: bool = False):
    """Train a model on ``exports`` as the built-in one is trained (the product's ``train``).

    ``resume``: continue an interrupted run in ``model_dir.partial`` (``minutes``
    and ``steps`` then replace its budget).
    """
    from napari_axons.core.training import TrainOptions, train

    opts = TrainOptions(max_minutes=minutes, steps=steps, clock=clock, num_threads=threads,
                        device=device, seed=seed, base=base, arch=ARCH,
                        pixel_size_um=PIXEL_SIZE_UM, val_fraction=val_fraction)
    return train(exports, model_dir, options=opts, verbose=verbose, overwrite=True,
                 resume=resume)


def _command(argv) -> str:
    """This command as run, folders replaced by placeholders (no machine paths)."""
    out, skip = ["python", "bench/train_builtin.py"], None
    for x in argv:
        if skip:
            out.append(skip)
            skip = None
            continue
        if x == "--resume":
            continue  # the run was interrupted and continued: the same command made it
        if x in ("--out", "--data", "--work"):
            skip = {"--out": "MODEL_DIR", "--data": "../shared/data/axondeepseg-sem",
                    "--work": "WORK_DIR"}[x]
        out.append(shlex.quote(x) if not x.startswith("/") else "PATH")
    return " ".join(out)


def main(argv=None) -> int:
    a = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    a.add_argument("--out", type=Path, required=True, help="where the model folder goes")
    a.add_argument("--data", type=Path, default=default_data_dir())
    a.add_argument("--work", type=Path, default=Path("bench/_data/builtin"))
    a.add_argument("--minutes", type=float, default=60.0)
    a.add_argument("--steps", type=int, default=None)
    a.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--device", default="auto")
    a.add_argument("--resume", action="store_true",
                   help="continue an interrupted run in WORK/model.partial (with this budget)")
    args = a.parse_args(argv)
    t0 = time.perf_counter()
    exports = export_rats(args.data, list(RATS), args.work / "exports")
    res = train_model(exports, args.work / "model", minutes=args.minutes, steps=args.steps,
                      clock=args.clock, threads=args.threads, device=args.device,
                      resume=args.resume)
    model = args.work / "model"
    meta = json.loads((model / "napari_axons.json").read_text(encoding="utf-8"))
    rep = res.report
    meta.update({
        "name": NAME,
        **CREDIT,
        "trained_on": [f"{stem} ({um} um/px)" for rat in RATS for stem, um in RATS[rat]],
        "validated_on": "a tenth of the 512 px tiles of the same images, held out "
                        "(leave-one-rat-out figures: docs/training.md)",
        "command": _command(argv if argv is not None else sys.argv[1:]),
        "training": {"steps": rep["steps"], "stopped": rep["stopped"],
                     "minutes": rep["minutes"], "clock": args.clock,
                     "threads": args.threads, "device": rep["device"]},
    })
    meta["classes"] = meta.get("classes") or list(NAMES)
    (model / "napari_axons.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(model, args.out)
    figs = ", ".join(f"{n} IoU {rep['best']['val_iou'][n]:.3f}" for n in NAMES[1:])
    print(f"{NAME}: {rep['steps']} steps ({rep['stopped']}), held-out tiles: {figs}; "
          f"{(time.perf_counter() - t0) / 60:.1f} min wall; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
