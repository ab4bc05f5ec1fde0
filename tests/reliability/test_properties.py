"""Properties under fuzzing (hypothesis): the grid, mask <-> polygons, export -> read back."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from bench.seed_reference import seed_boxes
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from napari_axons.core.export import ExportJob, ExportOptions
from napari_axons.core.geometry import TileGrid
from napari_axons.core.labels.labelfile import (
    dumps_labels,
    labels_document,
    mask_to_labels,
    read_labels_json,
)
from napari_axons.core.labels.render import labels_to_mask


def fast(max_examples: int) -> settings:
    """Bounded, no deadline; the same examples every run (CI) unless NAPARI_AXONS_FUZZ is set."""
    return settings(max_examples=max_examples, deadline=None, database=None,
                    derandomize="NAPARI_AXONS_FUZZ" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


# --------------------------------------------------------------------------- the grid


def _n_tiles(size: int, tile: int, stride: int) -> int:
    return max(0, (size - tile) // stride + 1) + 1


@st.composite
def grids(draw):
    h = draw(st.integers(1, 3000))
    w = draw(st.integers(1, 3000))
    tile = draw(st.integers(16, 600))
    overlap = draw(st.one_of(st.just(0), st.integers(0, tile - 1)))
    assume(_n_tiles(h, tile, tile - overlap) * _n_tiles(w, tile, tile - overlap) <= 40_000)
    return h, w, tile, overlap


@fast(150)
@given(grids())
def test_grid_covers_every_pixel_with_full_tiles(params):
    h, w, tile, overlap = params
    grid = TileGrid.from_shape(h, w, tile_size=tile, overlap=overlap)
    boxes = np.array([(t.index, t.y, t.x, t.height, t.width) for t in grid], np.int64)
    assert boxes[:, 0].tolist() == list(range(len(grid)))  # unique, in order, from 0
    assert (boxes[:, 3] == tile).all() and (boxes[:, 4] == tile).all()  # always full size
    for start, size in ((boxes[:, 1], h), (boxes[:, 2], w)):
        if size >= tile:  # inside the image
            assert (start >= 0).all() and (start + tile <= size).all()
        else:  # one position, hanging over the top/left border: the padded image
            assert (start == size - tile).all()
    origins = set(map(tuple, boxes[:, 1:3].tolist()))
    assert len(origins) == len(grid)  # no tile twice
    # Coverage by a 2-D difference array, clipped to the image.
    acc = np.zeros((h + 1, w + 1), np.int32)
    y0, x0 = np.clip(boxes[:, 1], 0, h), np.clip(boxes[:, 2], 0, w)
    y1, x1 = np.clip(boxes[:, 1] + tile, 0, h), np.clip(boxes[:, 2] + tile, 0, w)
    np.add.at(acc, (y0, x0), 1)
    np.add.at(acc, (y0, x1), -1)
    np.add.at(acc, (y1, x0), -1)
    np.add.at(acc, (y1, x1), 1)
    cover = acc.cumsum(0).cumsum(1)[:h, :w]
    assert (cover >= 1).all()
    if overlap == 0:  # exactly the seed's crop boxes, in the seed's order
        ours = [(t.x, t.y, t.x1, t.y1) for t in grid]
        assert ours == seed_boxes(w, h, tile)
        assert grid.stride == tile


# --------------------------------------------------------------------------- mask <-> polygons


def random_mask(seed: int, h: int, w: int) -> np.ndarray:
    """Blobs, thin lines (straight and diagonal), holes, specks and border-touching parts."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = np.zeros((h, w), bool)
    for _ in range(rng.integers(0, 6)):  # ellipses
        cy, cx = rng.uniform(-5, h + 5), rng.uniform(-5, w + 5)
        ry, rx = rng.uniform(1, max(2, h / 3)), rng.uniform(1, max(2, w / 3))
        mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    for _ in range(rng.integers(0, 6)):  # 1-3 px lines at any angle
        y0, x0, y1, x1 = rng.uniform(0, [h, w, h, w])
        n = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
        ys = np.round(np.linspace(y0, y1, n)).astype(int).clip(0, h - 1)
        xs = np.round(np.linspace(x0, x1, n)).astype(int).clip(0, w - 1)
        mask[ys, xs] = True
        if rng.random() < 0.5:
            mask[ys, np.clip(xs + 1, 0, w - 1)] = True
    for _ in range(rng.integers(0, 8)):  # holes
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.5, max(1, min(h, w) / 6))
        mask &= (yy - cy) ** 2 + (xx - cx) ** 2 > r * r
    specks = rng.random((h, w)) < rng.choice([0, 0.002, 0.02])
    mask |= specks
    if rng.random() < 0.2:  # a checkerboard patch: diagonal-only connections
        y, x = rng.integers(0, h), rng.integers(0, w)
        patch = (yy + xx) % 2 == 0
        mask[y : y + 8, x : x + 8] = patch[y : y + 8, x : x + 8]
    return mask.astype(np.uint8) * 255


def test_random_masks_have_holes_and_thin_parts():
    """The generator really makes what the property test claims to test."""
    from scipy import ndimage

    holes = thin = 0
    for seed in range(40):
        m = random_mask(seed, 96, 128) > 0
        holes += bool((ndimage.binary_fill_holes(m) & ~m).any())
        edge = m & ~ndimage.binary_erosion(m, np.ones((3, 3)))
        thin += bool(edge.sum() > 0.5 * max(m.sum(), 1))
    assert holes >= 10 and thin >= 10


@fast(300)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 256), w=st.integers(1, 256))
def test_mask_polygons_mask_round_trip(seed, h, w):
    mask = random_mask(seed, h, w)
    labels = mask_to_labels(mask, label_class="axon", source="auto:test")
    back, warnings = labels_to_mask({"labels": labels}, (h, w))
    assert warnings == []
    assert back.dtype == np.uint8 and back.shape == (h, w)
    assert iou(back, mask) >= 0.99, (seed, h, w, iou(back, mask))
    ids = [lab["object_id"] for lab in labels]
    assert len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- export -> read back


def _read_back(out: Path, manifest: dict) -> list[tuple[dict, np.ndarray, np.ndarray, np.ndarray]]:
    """(tile entry, tile pixels, mask PNG, rendered label JSON) for every tile of the export."""
    rows = []
    for image in manifest["images"]:
        for entry in image["tiles"]:
            files = entry["files"]
            tile = np.asarray(Image.open(out / files["tile"]))
            mask = np.asarray(Image.open(out / files["mask"]))
            doc = read_labels_json(out / files["labels"])
            assert doc["image_filename"] == files["tile"]
            rendered, warnings = labels_to_mask(doc, mask.shape, path=out / files["labels"])
            assert warnings == []
            rows.append((entry, tile, mask, rendered))
    return rows


@st.composite
def exports(draw):
    h, w = draw(st.integers(1, 220)), draw(st.integers(1, 220))
    tile = draw(st.integers(16, 96))
    overlap = draw(st.one_of(st.just(0), st.integers(0, tile - 1)))
    s = tile - overlap
    assume(_n_tiles(h, tile, s) * _n_tiles(w, tile, s) <= 40)
    return h, w, tile, overlap, draw(st.integers(0, 2**32 - 1))


@fast(50)
@given(exports())
def test_export_then_read_back_is_the_identity(params):
    """Tiles are the image, masks are the slide mask, labels render back to the masks."""
    h, w, tile, overlap, seed = params
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    slide_mask = random_mask(seed, h, w)

    def mask_reader(plan, box):
        out = np.zeros((box.height, box.width), np.uint8)
        ys, xs = box.valid_slices(h, w)
        y0, x0 = box.y + ys.start, box.x + xs.start
        out[ys, xs] = slide_mask[y0 : y0 + ys.stop - ys.start, x0 : x0 + xs.stop - xs.start]
        return out

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "img.png"
        Image.fromarray(image).save(src)
        out = Path(tmp) / "out"
        job = ExportJob([src], out, ExportOptions(tile_size=tile, overlap=overlap, threads=2),
                        mask_reader=mask_reader)
        try:
            results = list(job.run())
        finally:
            job.close()
        manifest = json.loads((out / "manifest.json").read_text())
        assert len(results) == len(manifest["images"][0]["tiles"]) == job.total
        padded_image = np.zeros((max(h, tile), max(w, tile), 3), np.uint8)
        padded_mask = np.zeros(padded_image.shape[:2], np.uint8)
        oy, ox = padded_image.shape[0] - h, padded_image.shape[1] - w  # padding is top/left
        padded_image[oy:, ox:] = image
        padded_mask[oy:, ox:] = slide_mask
        for entry, tile_px, mask_px, rendered in _read_back(out, manifest):
            b = entry["box"]
            y, x = b["y"] + oy, b["x"] + ox
            np.testing.assert_array_equal(tile_px, padded_image[y : y + tile, x : x + tile])
            np.testing.assert_array_equal(mask_px, padded_mask[y : y + tile, x : x + tile])
            assert iou(rendered, mask_px) >= 0.99
            ys, xs = slice(0, entry["padding"]["top"]), slice(0, entry["padding"]["left"])
            assert not rendered[ys].any() and not rendered[:, xs].any()  # nothing in padding
        # core.export.read_export gives the slide's labels back (the napari reader uses it).
        if importlib.util.find_spec("napari_axons.core.export") is not None:
            from napari_axons.core.export import read_export

            contents = read_export(out)
            (back,) = contents.images
            assert back.origin == (0, 0) and back.labels.shape == (h, w)  # padding cut off
            assert set(np.unique(back.labels)) <= {0, 1}
            assert iou(back.labels, slide_mask) >= 0.99
        # The label files round-trip through dumps/read as well.
        doc = labels_document("t.png", mask_to_labels(slide_mask))
        (Path(tmp) / "t__labels.json").write_bytes(dumps_labels(doc))
        again, _ = labels_to_mask(read_labels_json(Path(tmp) / "t__labels.json"), (h, w))
        assert iou(again, slide_mask) >= 0.99


@pytest.mark.parametrize("shape", [(1, 1), (1, 300), (300, 1), (2, 2)])
def test_degenerate_masks_round_trip(shape):
    for fill in (0, 255):
        mask = np.full(shape, fill, np.uint8)
        back, _ = labels_to_mask({"labels": mask_to_labels(mask)}, shape)
        assert iou(back, mask) == 1.0
    assert math.isclose(iou(np.zeros(shape), np.zeros(shape)), 1.0)
