"""Exports with labelled tiles for the training tests and the benchmark (no download).

An image and its class map are tiled by the product's own export (tiles only);
the chosen tiles then get a ``__labels.json`` beside them, one polygon per
connected component per class with its ``label_class``, as a user's
corrections would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def labelled_export(folder, image: np.ndarray, class_map: np.ndarray, names, *,
                    tile_size: int = 128, labelled=None, base: str = "img",
                    pixel_size: float | None = None) -> list[int]:
    """Export ``image`` into ``folder`` and label the tiles ``labelled`` (all when None).

    Returns the labelled tile indices.
    """
    import tifffile

    from napari_axons.core.export import ExportJob, ExportOptions
    from napari_axons.core.labels.labelfile import dumps_labels, labels_document, mask_to_labels

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    src = folder.parent / f"{base}.tif"
    tifffile.imwrite(src, image, photometric="rgb")
    job = ExportJob([src], folder, ExportOptions(tile_size=tile_size, pixel_size=pixel_size))
    try:
        for _ in job.run():
            pass
    finally:
        job.close()
    import json

    manifest = json.loads((folder / "manifest.json").read_text())
    tiles = manifest["images"][0]["tiles"]
    chosen = [t["index"] for t in tiles] if labelled is None else list(labelled)
    for t in tiles:
        if t["index"] not in chosen:
            continue
        b = t["box"]
        sub = np.zeros((b["height"], b["width"]), class_map.dtype)  # padding: background
        y0, x0 = max(b["y"], 0), max(b["x"], 0)
        part = class_map[y0 : b["y"] + b["height"], x0 : b["x"] + b["width"]]
        sub[y0 - b["y"] : y0 - b["y"] + part.shape[0], x0 - b["x"] : x0 - b["x"] + part.shape[1]] = part
        labels = []
        for k, name in enumerate(names):
            if k == 0:
                continue
            labels += mask_to_labels(sub == k, label_class=name, source="manual",
                                     id_prefix=f"{name}-")
        tile_name = t["files"]["tile"]
        doc = labels_document(tile_name, labels)
        (folder / tile_name.replace(".png", "__labels.json")).write_bytes(dumps_labels(doc))
    return chosen
