"""Run ONE benchmark scenario in this process and print one JSON line.

``python -m bench.run SCENARIO IMPL`` where IMPL is ``axons`` (napari-axons) or
``seed`` (the seed's per-tile loop, rebuilt in :mod:`bench.seed_reference`).
Peak RSS is this process's (and, for a local cluster, its worker processes').
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from . import inputs

OUT = Path(__file__).resolve().parent / "_out"

#: scenario -> (input factory, export options, model kind or None, seed downsample)
SCENARIOS = {
    "tile-png-8192": (lambda: inputs.png_image(8192), {}, None),
    "tile-tiff-20000": (lambda: inputs.tiled_tiff(20000), {}, None),
    "tile-tiff-20000-downsample": (lambda: inputs.tiled_tiff(20000), {"downsample": 3}, None),
    "seg-segformer-tiny": (lambda: inputs.png_image(8192), {}, "segformer"),
    "seg-upernet-tiny": (lambda: inputs.png_image(8192), {}, "upernet"),
    "seg-segformer-b0": (lambda: inputs.png_image(4096), {}, "segformer-b0"),
    "export-tiff-40000": (lambda: inputs.tiled_tiff(40000), {}, None),
    # --classes all against the seed's one-class rule, on one 3-class model (issue 11)
    "seg-3class-binary": (lambda: inputs.png_image(8192), {}, "segformer-3class"),
    "seg-3class-all": (lambda: inputs.png_image(8192), {"classes": "all"}, "segformer-3class"),
    # GPU scenarios (run only where torch sees CUDA; the model's device is "auto"):
    "gpu-segformer-b0": (lambda: inputs.png_image(8192), {}, "segformer-b0"),
    "gpu-upernet-convnext-tiny": (lambda: inputs.png_image(8192), {}, "upernet-convnext-tiny"),
    "cluster-2-workers": (lambda: inputs.tiled_tiff(20000), {"workers": 2}, None),
}


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM), or its children's (cluster workers) if higher."""
    own = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run_axons(image: Path, out: Path, options: dict, model: str | None, clock: dict) -> int:
    from napari_axons.core.export import ExportJob, ExportOptions
    from napari_axons.core.segment import load_segmenter

    workers = options.pop("workers", None)
    seg_options = {"classes": options.pop("classes")} if "classes" in options else {}
    segmenter = spec = None
    if model is not None:
        spec = (str(inputs.tiny_checkpoint(model)), seg_options)
        segmenter = load_segmenter(spec[0], **spec[1])
        if seg_options:  # the export writes the segmenter's classes (as the CLI does)
            options["classes"] = segmenter.classes
    clock["setup"] = time.perf_counter()
    job = ExportJob([image], out, ExportOptions(**options), segmenter=segmenter)
    if workers:
        from napari_axons.core.export.cluster import run_distributed

        gen = run_distributed(job, segmenter_spec=spec, workers=workers)
    else:
        gen = job.run()
    n = objects = 0
    for result in gen:
        n += 1
        objects += getattr(result, "n_objects", None) or 0
    clock["objects"] = objects
    job.close()
    return n


def run_seed(image: Path, out: Path, options: dict, model: str | None, clock: dict) -> int:
    from . import seed_reference

    segment = None
    if model is not None:
        segment = seed_reference.seed_segmenter(inputs.tiny_checkpoint(model), out)
    clock["setup"] = time.perf_counter()
    return seed_reference.process_images([str(image)], str(out),
                                         downsample=bool(options.get("downsample")),
                                         segment=segment)


def main(argv=None) -> int:
    scenario, impl = (argv or sys.argv[1:])[:2]
    make_input, options, model = SCENARIOS[scenario]
    image = make_input()
    out = OUT / f"{scenario}-{impl}"
    shutil.rmtree(out, ignore_errors=True)
    if model is not None:
        inputs.tiny_checkpoint(model)  # built before the clock starts
    start = time.perf_counter()
    clock = {"setup": start}
    runner = run_axons if impl == "axons" else run_seed
    n = runner(image, out, dict(options), model, clock)
    end = time.perf_counter()
    shutil.rmtree(out, ignore_errors=True)
    # tiles/s over the work itself: from the moment the model is loaded (torch and
    # transformers imported, weights read: the same for both) to the last file.
    work = end - clock["setup"]
    print(json.dumps({"scenario": scenario, "impl": impl, "tiles": n,
                      "seconds": round(end - start, 2), "setup_s": round(clock["setup"] - start, 2),
                      "tiles_per_s": round(n / work, 2), "peak_rss_mb": round(peak_rss_mb()),
                      "objects": clock.get("objects"),
                      "cpus": os.cpu_count()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
