"""``python -m bench``: generate inputs, run every scenario for napari-axons and the
seed's per-tile reference (each in its own process), print one table.

Columns: wall s is the whole run; setup s the part of it spent importing torch /
transformers and loading the model (segmentation scenarios, the same work for
both); tiles/s is measured over the rest (wall - setup): reading, the model,
masks, polygons and writes.

Options: ``--only NAME [NAME ...]`` to run some scenarios; ``--skip-seed`` to
run only napari-axons; ``--no-polygons`` to skip the mask -> JSON cost table
(:mod:`bench.bench_polygons`). Opening a 40000^2 slide in napari is measured by
``python bench/bench_open.py`` and the widget (first view, clicks, grid redraws, paint
strokes) by ``python bench/bench_gui.py`` (both need a display: run them under ``xvfb-run``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from .run import SCENARIOS

#: scenarios the seed cannot run on this machine (40000^2 needs > 9 GB) or that
#: compare against another scenario's seed figure.
AXONS_ONLY = {"export-tiff-40000": None, "cluster-2-workers": "tile-tiff-20000",
              "gpu-segformer-b0": None, "gpu-upernet-convnext-tiny": None,
              "seg-3class-binary": None, "seg-3class-all": None}
#: (scenario, its reference, what is compared, the most it may cost)
COSTS = [("seg-3class-all", "seg-3class-binary", "--classes all vs the one-class rule", 0.15)]
#: pairs of runs behind each COSTS figure (its median is the figure)
PAIR_ROUNDS = 5
GPU_ONLY = {"gpu-segformer-b0", "gpu-upernet-convnext-tiny"}


def has_cuda() -> bool:
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def run_one(scenario: str, impl: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.run", scenario, impl],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"scenario": scenario, "impl": impl, "error": tail}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare_in_turns(scenario: str, ref: str, done: dict, rounds: int = PAIR_ROUNDS) -> list:
    """Extra time per tile of ``scenario`` over ``ref``: the pair from the table, then
    ``rounds - 1`` more pairs run in turns (order swapped each time), so that a
    machine busy for a while slows both sides alike."""
    extras = [done[ref]["tiles_per_s"] / done[scenario]["tiles_per_s"] - 1.0]
    for k in range(1, rounds):
        order = (scenario, ref) if k % 2 else (ref, scenario)
        pair = {name: run_one(name, "axons") for name in order}
        if any("error" in r for r in pair.values()):
            break
        extras.append(pair[ref]["tiles_per_s"] / pair[scenario]["tiles_per_s"] - 1.0)
    return extras


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--no-polygons", action="store_true",
                        help="skip the mask -> JSON vs PNG cost table")
    args = parser.parse_args(argv)
    seed_results: dict[str, dict] = {}
    rows = []
    print(f"{'scenario':28} {'impl':6} {'tiles':>6} {'wall s':>8} {'setup s':>8} {'tiles/s':>8} "
          f"{'peak RSS MB':>11} {'x seed tiles/s':>14}", flush=True)
    cuda = has_cuda() if GPU_ONLY & set(args.only) else False
    for scenario in args.only:
        if scenario in GPU_ONLY and not cuda:
            print(f"{scenario:28} skipped: no CUDA GPU here", flush=True)
            continue
        impls = ["axons"] if (scenario in AXONS_ONLY or args.skip_seed) else ["seed", "axons"]
        for impl in impls:
            r = run_one(scenario, impl)
            rows.append(r)
            if impl == "seed":
                seed_results[scenario] = r
            ref_name = AXONS_ONLY.get(scenario, scenario)
            ref = seed_results.get(ref_name) if ref_name else None
            if "error" in r:
                print(f"{scenario:28} {impl:6} ERROR {r['error']}", flush=True)
                continue
            ratio = ""
            if impl == "axons" and ref and "error" not in ref:
                ratio = f"{r['tiles_per_s'] / ref['tiles_per_s']:.2f}x"
            print(f"{scenario:28} {impl:6} {r['tiles']:>6} {r['seconds']:>8.1f} {r['setup_s']:>8.1f} "
                  f"{r['tiles_per_s']:>8.1f} {r['peak_rss_mb']:>11} {ratio:>14}", flush=True)
    done = {r["scenario"]: r for r in rows if "error" not in r}
    for scenario, ref, what, limit in COSTS:
        if scenario in done and ref in done:
            extras = compare_in_turns(scenario, ref, done)
            extra = statistics.median(extras)
            verdict = "ok" if extra <= limit else "OVER"
            print(f"{what}: {extra:+.1%} time per tile, whole pipeline, median of "
                  f"{len(extras)} runs in turns ({', '.join(f'{e:+.1%}' for e in extras)}; "
                  f"limit +{limit:.0%}: {verdict}); objects written "
                  f"{done[ref].get('objects')} -> {done[scenario].get('objects')}", flush=True)
    if {"seg-3class-all", "seg-3class-binary"} & set(args.only):
        subprocess.run([sys.executable, "-m", "bench.bench_classes"], check=False)
    if not args.no_polygons:
        print(flush=True)
        subprocess.run([sys.executable, "-m", "bench.bench_polygons"], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
