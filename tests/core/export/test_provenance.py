"""Provenance: each label's source is the segmenter that made it, unless edited by hand (issue 14)."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from napari_axons.core.image.sample import make_axon_sample
from napari_axons.core.segment import load_segmenter
from napari_axons.core.session import Session


def test_auto_and_manual_sources_per_tile(tmp_path):
    image, _ = make_axon_sample((512, 768), seed=4)
    path = tmp_path / "slide.tif"
    tifffile.imwrite(path, image, photometric="rgb")
    s = Session(path, cache_dir=tmp_path / "cache", tile_size=256)
    s.segment([0, 1, 2], load_segmenter("otsu"))
    b = s.grid[1]
    patch = s.store.read(b.y + 10, b.x + 10, b.y + 20, b.x + 20)
    s.paint(b.y + 10, b.x + 10, 1 - patch)  # a hand edit in tile 1
    s.store.write(b.y, b.x, np.zeros((1, 1), np.uint8))  # not an edit: nothing recorded
    assert [s.label_source(i) for i in (0, 1, 2, 3)] == ["auto:otsu", "manual", "auto:otsu",
                                                          "manual"]
    out = tmp_path / "export"
    s.export(out, [0, 1, 2, 3])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["segmenter"]["name"] == "otsu" and manifest["label_source"] == "per tile"
    assert [t["label_source"] for t in manifest["images"][0]["tiles"]] == [
        "auto:otsu", "manual", "auto:otsu", "manual"]
    for index, source in ((0, "auto:otsu"), (1, "manual"), (2, "auto:otsu")):
        labels = json.loads((out / f"slide_tile_{index:04d}__labels.json").read_text())["labels"]
        assert {lab["source"] for lab in labels} <= {source}, index
        assert labels or index == 2  # tiles 0 and 1 hold objects
    # segmenting the edited tile again, replacing the edit: automatic again
    s.segment([1], load_segmenter("otsu"), overwrite_edits=True)
    assert s.label_source(1) == "auto:otsu"
