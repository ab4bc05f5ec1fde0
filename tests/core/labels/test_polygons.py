"""Masks <-> Django-Labeller polygon labels: pixel-exact round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from skimage.draw import bezier_curve, disk
from skimage.morphology import dilation
from skimage.morphology import disk as footprint_disk

from napari_axons.core.labels.labelfile import (
    LabelFileError,
    dumps_labels,
    labels_document,
    mask_to_labels,
    read_labels_json,
)
from napari_axons.core.labels.render import labels_to_mask
from napari_axons.core.labels.trace import mask_to_regions


def realistic_mask(seed: int, n: int = 512) -> np.ndarray:
    """Curved thin and thick filaments (crossing: many holes), ringed blobs, specks."""
    rng = np.random.default_rng(seed)
    m = np.zeros((n, n), bool)
    for _ in range(36):
        pts = rng.integers(-50, n + 50, size=6)
        rr, cc = bezier_curve(*pts, weight=rng.uniform(0.5, 3), shape=(n, n))
        line = np.zeros((n, n), bool)
        line[rr, cc] = True
        r = rng.choice([0, 0, 1, 2, 3])
        m |= dilation(line, footprint_disk(r)) if r else line
    for _ in range(6):
        c = tuple(rng.integers(0, n, 2))
        big = int(rng.integers(8, 30))
        m[disk(c, big, shape=(n, n))] = True
        m[disk(c, big * 0.5, shape=(n, n))] = False
        m[disk(c, big * 0.2, shape=(n, n))] = True
    m |= rng.random((n, n)) < 0.0005
    return m.astype(np.uint8) * 255


def round_trip(mask: np.ndarray) -> np.ndarray:
    out, warnings = labels_to_mask(mask_to_labels(mask), mask.shape)
    assert warnings == []
    return out


def assert_exact(mask: np.ndarray) -> None:
    out = round_trip(mask)
    assert out.dtype == np.uint8 and out.shape == mask.shape
    np.testing.assert_array_equal(out > 0, np.asarray(mask) > 0)


def from_rows(*rows: str) -> np.ndarray:
    return np.array([[c == "#" for c in r] for r in rows], np.uint8)


HARD_CASES = {
    "single pixel": from_rows("...", ".#.", "..."),
    "corner pixel": from_rows("#..", "...", "..#"),
    "horizontal 1px": from_rows(".....", ".###.", "....."),
    "vertical 1px": from_rows("..#..", "..#..", "..#.."),
    "diagonal 1px": from_rows("#....", ".#...", "..#..", "...#.", "....#"),
    "anti-diagonal 1px": from_rows("....#", "...#.", "..#..", ".#...", "#...."),
    "zigzag": from_rows("#.#.#.#", ".#.#.#."),
    "cross": from_rows("..#..", "..#..", "#####", "..#..", "..#.."),
    "X": from_rows("#...#", ".#.#.", "..#..", ".#.#.", "#...#"),
    "ring": from_rows("#####", "#...#", "#...#", "#####"),
    "diamond ring (hole touches diagonally)": from_rows(
        "..#..", ".#.#.", "#...#", ".#.#.", "..#.."
    ),
    # a hole pinched diagonally: the two hole pixels touch only at a corner
    "pinched hole": from_rows("#####", "#.###", "##.##", "#####"),
    "hole next to a diagonal notch": from_rows(
        ".####", "#.#.#", "##.##", "#.#.#", "#####"
    ),
    "object in a hole in an object": from_rows(
        "#######", "#.....#", "#.###.#", "#.#.#.#", "#.###.#", "#.....#", "#######"
    ),
    "touching objects": from_rows("##..", "##..", "..##", "..##"),
    "full tile": np.ones((6, 7), np.uint8),
    "cut by the border": from_rows("###..", "#.#..", "###.#", "....#"),
    "empty": np.zeros((4, 4), np.uint8),
}


@pytest.mark.parametrize("name", list(HARD_CASES))
def test_hard_cases_exact(name):
    assert_exact(HARD_CASES[name])


def test_regions_structure_and_convention():
    m = HARD_CASES["ring"]
    (regions,) = mask_to_regions(m)
    outer, hole = regions
    assert outer.dtype == np.int32 and outer.shape[1] == 2
    # (x, y) = (column, row); vertices are pixel centres of the boundary
    assert {tuple(v) for v in outer} == {(0, 0), (4, 0), (4, 3), (0, 3)}
    # the hole is traced on the hole's own (background) pixels
    assert {tuple(v) for v in hole} == {(1, 1), (3, 1), (3, 2), (1, 2)}
    assert all(len(r) >= 3 for r in mask_to_regions(HARD_CASES["single pixel"])[0])


def test_components_are_8_connected_and_ordered():
    assert len(mask_to_regions(HARD_CASES["diagonal 1px"])) == 1
    assert len(mask_to_regions(HARD_CASES["touching objects"])) == 1
    comps = mask_to_regions(HARD_CASES["object in a hole in an object"])
    assert len(comps) == 2
    assert [len(c) for c in comps] == [2, 2]  # the outer ring + its hole; the inner ring + its hole
    assert tuple(comps[0][0][0]) == (0, 0)


def tile_patches(patches: np.ndarray, per_row: int) -> np.ndarray:
    """Lay out (n, h, w) patches on one image with 1-px background gutters.

    A gutter is background connected to the image border, so each patch is
    converted as if it were a tile of its own (its border included).
    """
    n, h, w = patches.shape
    rows = -(-n // per_row)
    big = np.zeros((rows * (h + 1) + 1, per_row * (w + 1) + 1), np.uint8)
    for i, p in enumerate(patches):
        r, c = divmod(i, per_row)
        big[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = p
    return big


@pytest.mark.parametrize("shape", [(3, 4), (4, 3)])
def test_exhaustive_small(shape):
    n = shape[0] * shape[1]
    bits = np.arange(1 << n)[:, None] >> np.arange(n)
    assert_exact(tile_patches((bits & 1).reshape(-1, *shape).astype(np.uint8), 64))


@pytest.mark.slow
def test_exhaustive_4x4():
    bits = np.arange(1 << 16)[:, None] >> np.arange(16)
    patches = (bits & 1).reshape(-1, 4, 4).astype(np.uint8)
    assert_exact(tile_patches(patches, 256))


def test_each_4x4_is_its_own_tile_sample():
    for bits in range(0, 1 << 16, 97):
        m = ((bits >> np.arange(16)) & 1).reshape(4, 4).astype(np.uint8)
        out, _ = labels_to_mask(mask_to_labels(m), m.shape)
        assert np.array_equal(out > 0, m > 0), m


def test_random_small_masks(rng):
    for _ in range(500):
        m = (rng.random(rng.integers(3, 16, size=2)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
        out, _ = labels_to_mask(mask_to_labels(m), m.shape)
        assert np.array_equal(out > 0, m > 0), m


def test_realistic_tile_exact():
    m = realistic_mask(0)
    assert_exact(m)


def test_input_types():
    m = HARD_CASES["ring"]
    ref = mask_to_labels(m)
    assert mask_to_labels(m.astype(bool)) == ref
    assert mask_to_labels(m.astype(np.int64) * 7) == ref
    assert mask_to_labels(np.asfortranarray(m.astype(bool))) == ref
    with pytest.raises(ValueError, match="2-D"):
        mask_to_regions(np.zeros((2, 2, 3)))


def test_labels_format_and_determinism():
    m = realistic_mask(1, n=128)
    labels = mask_to_labels(m, label_class="axon", source="auto:test", id_prefix="t3_")
    assert labels, "expected some components"
    ids = [lab["object_id"] for lab in labels]
    assert ids == [f"t3_{k}" for k in range(len(labels))]
    for lab in labels:
        assert lab["label_type"] == "polygon"
        assert lab["label_class"] == "axon" and lab["source"] == "auto:test"
        assert lab["anno_data"] == {}
        for region in lab["regions"]:
            assert len(region) >= 3
            for pt in region:
                assert set(pt) == {"x", "y"} and type(pt["x"]) is int and type(pt["y"]) is int
    doc = labels_document("t3.png", labels, tile={"x": 512, "y": 1024})
    assert list(doc) == ["image_filename", "completed_tasks", "labels", "tile"]
    data = dumps_labels(doc)
    assert data == dumps_labels(labels_document("t3.png", mask_to_labels(
        m.copy(), label_class="axon", source="auto:test", id_prefix="t3_"), tile={"x": 512, "y": 1024}))
    assert b" " not in data
    assert json.loads(data) == doc


def test_django_labeller_reads_and_renders_our_files(tmp_path):
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    for seed, n in [(2, 512), (3, 200)]:
        m = realistic_mask(seed, n)
        doc = labels_document(f"tile_{seed}.png", mask_to_labels(m), tile={"x": 0, "y": 0})
        path = tmp_path / f"tile_{seed}__labels.json"
        path.write_bytes(dumps_labels(doc))
        wrapped = labelling_tool.WrappedImageLabels.from_file(str(path))
        assert wrapped.image_filename == f"tile_{seed}.png"
        assert wrapped.metadata == {"tile": {"x": 0, "y": 0}}
        rendered = wrapped.labels.render_label_classes({"axon": 1}, image_shape=m.shape)
        np.testing.assert_array_equal(rendered > 0, m > 0)
    # the hard cases, all in one go
    for name, m in HARD_CASES.items():
        path = tmp_path / "hard__labels.json"
        path.write_bytes(dumps_labels(labels_document("hard.png", mask_to_labels(m))))
        labels = labelling_tool.WrappedImageLabels.from_file(str(path)).labels
        rendered = labels.render_label_classes({"axon": 1}, image_shape=m.shape)
        assert np.array_equal(rendered > 0, m > 0), name


def test_django_labeller_labels_load_here(tmp_path):
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    m = HARD_CASES["object in a hole in an object"]
    regions = [[r.astype(float) for r in comp] for comp in mask_to_regions(m)]
    labs = [labelling_tool.PolygonLabel(r, classification="axon", source="manual")
            for r in regions]
    wrapped = labelling_tool.WrappedImageLabels(
        image_filename="x.png", labels=labelling_tool.ImageLabels(labs))
    path = tmp_path / "x__labels.json"
    with open(path, "w") as f:
        wrapped.write_to_file(f)
    doc = read_labels_json(path)
    assert doc["image_filename"] == "x.png"
    out, warnings = labels_to_mask(doc, m.shape)
    assert warnings == []
    np.testing.assert_array_equal(out > 0, m > 0)


def test_legacy_vertices_and_bare_list(tmp_path):
    square = [{"x": 1, "y": 1}, {"x": 3, "y": 1}, {"x": 3, "y": 2}, {"x": 1, "y": 2}]
    legacy = [{"label_type": "polygon", "label_class": "axon", "object_id": 1,
               "vertices": square}]
    path = tmp_path / "old__labels.json"
    path.write_text(json.dumps(legacy))
    doc = read_labels_json(path)
    assert doc["labels"] == legacy and doc["image_filename"] is None
    assert doc["completed_tasks"] == []
    out, warnings = labels_to_mask(doc, (4, 5))
    expected = np.zeros((4, 5), np.uint8)
    expected[1:3, 1:4] = 255
    np.testing.assert_array_equal(out, expected)
    assert warnings == []
    # old "complete" flag
    path.write_text(json.dumps({"complete": True, "labels": legacy}))
    assert read_labels_json(path)["completed_tasks"] == ["finished"]
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    ref = labelling_tool.ImageLabels.from_json(legacy).render_label_classes(
        {"axon": 1}, image_shape=(4, 5))
    np.testing.assert_array_equal(out > 0, ref > 0)


def test_float_coordinates_match_django_labeller():
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    rng = np.random.default_rng(5)
    labels = []
    for k in range(20):
        pts = rng.uniform(-10, 70, size=(rng.integers(3, 9), 2))
        regions = [[{"x": float(x), "y": float(y)} for x, y in pts]]
        if k % 3 == 0:
            regions.append([{"x": float(x), "y": float(y)}
                            for x, y in rng.uniform(0, 60, size=(5, 2))])
        labels.append({"label_type": "polygon", "label_class": "axon", "object_id": str(k),
                       "source": "manual", "anno_data": {}, "regions": regions})
    out, _ = labels_to_mask({"labels": labels}, (60, 64))
    ref = labelling_tool.ImageLabels.from_json(labels).render_label_classes(
        {"axon": 1}, image_shape=(60, 64))
    np.testing.assert_array_equal(out > 0, ref > 0)


def test_label_classes_filter_and_groups():
    a = mask_to_labels(HARD_CASES["ring"], label_class="axon", id_prefix="a")
    b = mask_to_labels(HARD_CASES["single pixel"], label_class="myelin", id_prefix="b")
    labels = a + b + [{"label_type": "group", "label_class": "axon", "object_id": "g",
                       "component_models": mask_to_labels(np.eye(4, dtype=np.uint8))}]
    out, warnings = labels_to_mask(labels, (4, 5), label_classes=["axon"])
    expected = (HARD_CASES["ring"] > 0) | np.pad(np.eye(4, dtype=bool), ((0, 0), (0, 1)))
    np.testing.assert_array_equal(out > 0, expected)
    assert warnings == []
    out, _ = labels_to_mask(labels, (4, 5), label_classes={"myelin"})
    assert (out > 0).sum() == 1 and out[1, 1] == 255


def test_unrenderable_labels_warn():
    labels = mask_to_labels(HARD_CASES["ring"]) + [
        {"label_type": "point", "label_class": "axon", "object_id": "p1",
         "position": {"x": 1, "y": 1}},
        {"label_type": "box", "label_class": "axon", "object_id": "b1",
         "centre": {"x": 1, "y": 1}, "size": {"x": 2, "y": 2}},
        {"label_type": "oriented_ellipse", "label_class": "axon", "object_id": "e1"},
        {"label_type": "spline_of_doom", "label_class": "axon", "object_id": "u1"},
    ]
    out, warnings = labels_to_mask(labels, HARD_CASES["ring"].shape)
    np.testing.assert_array_equal(out > 0, HARD_CASES["ring"] > 0)
    assert len(warnings) == 4
    for w, (t, oid) in zip(warnings, [("point", "p1"), ("box", "b1"),
                                      ("oriented_ellipse", "e1"), ("spline_of_doom", "u1")], strict=True):
        assert t in w and oid in w and "\n" not in w


def test_points_outside_are_clipped():
    labels = [{"label_type": "polygon", "label_class": "axon", "object_id": "big",
               "regions": [[{"x": -5, "y": -5}, {"x": 50, "y": -5}, {"x": 50, "y": 50},
                            {"x": -5, "y": 50}]]}]
    out, _ = labels_to_mask(labels, (3, 4))
    assert (out == 255).all()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe\x00garbage", "UTF-8"),
        (b"42", "expected a JSON object"),
        (b'{"image_filename": "a.png"}', "no 'labels'"),
        (b'{"labels": {"a": 1}}', "not a list"),
        (b'{"labels": [3]}', "label 0 is not an object"),
        (b'{"labels": [{"object_id": "q"}]}', "label_type"),
        (b'{"labels": [{"label_type": "polygon", "object_id": "q"}]}', "neither"),
        (b'{"labels": [{"label_type": "polygon", "regions": [[{"x": "a", "y": 1}]]}]}',
         "finite number"),
        (b'{"labels": [{"label_type": "polygon", "regions": [[{"x": NaN, "y": 1}]]}]}',
         "finite number"),
        (b'{"labels": [{"label_type": "polygon", "regions": [[[1, 2]]]}]}', "vertex"),
        (b'{"labels": [{"label_type": "polygon", "regions": 5}]}', "'regions'"),
        (b'{"labels": [], "image_filename": 7}', "image_filename"),
        (b'{"labels": [{"label_type": "group", "component_models": [{"label_type": 1}]}]}',
         "label 0.0"),
    ],
)
def test_bad_files_raise_label_file_error(tmp_path, content, problem):
    path = tmp_path / "bad__labels.json"
    path.write_bytes(content)
    with pytest.raises(LabelFileError) as info:
        read_labels_json(path)
    msg = str(info.value)
    assert msg.startswith(str(path) + ": ") and problem in msg and "\n" not in msg


def test_missing_file_and_bad_documents(tmp_path):
    missing = tmp_path / "nope__labels.json"
    with pytest.raises(LabelFileError, match="nope__labels.json: cannot read"):
        read_labels_json(missing)
    with pytest.raises(LabelFileError, match="^somewhere.json: "):
        labels_to_mask({"labels": [{"label_type": "polygon"}]}, (4, 4), path="somewhere.json")
    with pytest.raises(LabelFileError):
        labels_to_mask("not labels", (4, 4))
    assert issubclass(LabelFileError, ValueError)
