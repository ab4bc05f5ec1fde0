"""Class maps <-> mask PNGs, Django-Labeller labels and AxonDeepSeg masks."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage.draw import disk

from napari_axons.core.common import DEFAULT_TABLE, ClassTable, encode_png
from napari_axons.core.labels.class_masks import (
    ClassMaskError,
    axondeepseg_masks,
    class_map_to_labels,
    decode_class_mask,
    encode_class_mask,
    labels_to_class_map,
)
from napari_axons.core.labels.labelfile import LabelFileError, dumps_labels, labels_document

AXON_MYELIN = ClassTable.from_names(["axon", "myelin"])


def myelinated(seed: int, n: int = 256, k: int = 25) -> np.ndarray:
    """A class map of axons (1) in myelin rings (2): touching rings, rings cut by the edge,
    axons filling the rings' holes exactly, and a few stray pixels of each class."""
    rng = np.random.default_rng(seed)
    m = np.zeros((n, n), np.uint8)
    for _ in range(k):
        c = tuple(rng.integers(-10, n + 10, 2))
        r = int(rng.integers(4, 24))
        m[disk(c, r + int(rng.integers(1, 6)), shape=(n, n))] = 2
        m[disk(c, r, shape=(n, n))] = 1
    m[rng.random((n, n)) < 0.002] = 1
    m[rng.random((n, n)) < 0.002] = 2
    return m


def test_binary_mask_png_is_todays_bytes():
    rng = np.random.default_rng(0)
    for values in ((0, 1), (0, 255)):
        m = rng.choice(values, size=(64, 80)).astype(np.uint8)
        for level in (1, 6):
            expected = encode_png(np.where(m > 0, 255, 0).astype(np.uint8), level)
            assert encode_class_mask(m, DEFAULT_TABLE, level) == expected
    # a value the one-class table does not know is refused, never folded into 255
    m = rng.choice((0, 1, 3), size=(64, 80)).astype(np.uint8)
    with pytest.raises(ClassMaskError,
                       match=r"^tile 7: holds value\(s\) 3, but the class table has one class"):
        encode_class_mask(m, DEFAULT_TABLE, 1, where="tile 7")


def test_palette_mask_png_holds_the_class_indices():
    m = myelinated(1)
    data = encode_class_mask(m, AXON_MYELIN, 1)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "P"
        assert im.getpalette()[:9] == [c for rgb in AXON_MYELIN.colours for c in rgb]
        np.testing.assert_array_equal(np.asarray(im), m)
    back, indexed = decode_class_mask(data)
    assert indexed and back.dtype == np.uint8
    np.testing.assert_array_equal(back, m)
    # deterministic bytes
    assert encode_class_mask(m.copy(), AXON_MYELIN, 1) == data


def test_old_grey_masks_read_as_class_one(tmp_path):
    m = (myelinated(2) > 0).astype(np.uint8) * 255
    p = tmp_path / "old_mask.png"
    p.write_bytes(encode_png(m, 6))
    back, indexed = decode_class_mask(p)
    assert not indexed
    np.testing.assert_array_equal(back, (m > 0).astype(np.uint8))
    rgb = np.repeat(m[..., None], 3, axis=2)
    back, _ = decode_class_mask(encode_png(rgb, 1))
    np.testing.assert_array_equal(back, (m > 0).astype(np.uint8))


def test_a_value_without_a_class_is_refused():
    m = np.zeros((8, 8), np.uint8)
    m[2, 2] = 3
    with pytest.raises(ClassMaskError) as err:
        encode_class_mask(m, AXON_MYELIN, 1, where="t_mask.png")
    assert str(err.value) == ("t_mask.png: holds value 3, but the class table has classes 1-2 "
                              "(axon, myelin)")
    with pytest.raises(ClassMaskError):
        class_map_to_labels(m, AXON_MYELIN)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_polygons_render_back_through_django_labeller(tmp_path, seed):
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    m = myelinated(seed)
    labels = class_map_to_labels(m, AXON_MYELIN, source="auto:test", id_prefix="t-")
    ids = [lab["object_id"] for lab in labels]
    assert len(set(ids)) == len(ids) and ids[0] == "t-0"
    assert {lab["label_class"] for lab in labels} == {"axon", "myelin"}
    path = tmp_path / "t__labels.json"
    path.write_bytes(dumps_labels(labels_document("t.png", labels)))
    wrapped = labelling_tool.WrappedImageLabels.from_file(str(path))
    rendered = wrapped.labels.render_label_classes({"axon": 1, "myelin": 2}, image_shape=m.shape)
    np.testing.assert_array_equal(rendered, m)
    # and our own rendering agrees, with the file's table
    back, table, warnings = labels_to_class_map(json.loads(path.read_bytes()), m.shape)
    assert warnings == []
    assert table.names[0] == "background" and set(table.foreground) == {"axon", "myelin"}
    np.testing.assert_array_equal(
        back, np.vectorize(lambda k: table.index_of(AXON_MYELIN.names[k]) if k else 0)(m))
    back, table, _ = labels_to_class_map(json.loads(path.read_bytes()), m.shape, AXON_MYELIN)
    assert table is AXON_MYELIN
    np.testing.assert_array_equal(back, m)


def test_one_class_labels_are_todays_labels():
    from napari_axons.core.labels.labelfile import mask_to_labels

    m = (myelinated(6) > 0).astype(np.uint8)
    assert class_map_to_labels(m, DEFAULT_TABLE, source="auto:x", id_prefix="p-") == \
        mask_to_labels(m, label_class="axon", source="auto:x", id_prefix="p-")


@pytest.mark.parametrize("names", [["axon", "myelin"], ['é "quoted" \\ ✓', "line\nbreak"]])
@pytest.mark.parametrize("tile", [None, {"source": "s.tif", "x": 512, "y": 0.5, "k": [1, None]}])
def test_label_files_of_traced_labels_are_the_dumped_documents_byte_for_byte(names, tile):
    from napari_axons.core.labels.class_masks import class_map_to_traced
    from napari_axons.core.labels.labelfile import encode_traced_labels

    table = ClassTable.from_names(names)
    m = myelinated(11)
    traced = class_map_to_traced(m, table, source="auto:ü", id_prefix="t-")
    labels = class_map_to_labels(m, table, source="auto:ü", id_prefix="t-")
    assert [t.to_dict() for t in traced] == labels and len(labels) > 20
    assert any(len(lab["regions"]) > 1 for lab in labels)  # holes are in the test
    for name in ("tile_0001.png", None):
        assert encode_traced_labels(name, traced, tile=tile) == \
            dumps_labels(labels_document(name, labels, tile=tile))
    assert encode_traced_labels("e.png", []) == dumps_labels(labels_document("e.png", []))


def square(cls, x0, y0, x1, y1, oid):
    return {"label_type": "polygon", "label_class": cls, "object_id": oid, "source": "manual",
            "anno_data": {}, "regions": [[{"x": x0, "y": y0}, {"x": x1, "y": y0},
                                          {"x": x1, "y": y1}, {"x": x0, "y": y1}]]}


def test_unknown_classes_are_added_never_merged():
    doc = labels_document("t.png", [square("axon", 1, 1, 4, 4, "a"),
                                    square("node", 6, 6, 9, 9, "b"),
                                    square(None, 11, 1, 13, 3, "c")])
    m, table, warnings = labels_to_class_map(doc, (16, 16), DEFAULT_TABLE, path="t__labels.json")
    assert table.names == ("background", "axon", "node", "object")
    assert warnings == [
        "t__labels.json: label class 'node' is not in the export's class table; added as class 2",
        "t__labels.json: label class 'object' is not in the export's class table; added as class 3",
    ]
    assert m[2, 2] == 1 and m[7, 7] == 2 and m[2, 12] == 3 and m[0, 0] == 0
    # without a table: order of first appearance, silently
    _, table, warnings = labels_to_class_map(doc, (16, 16))
    assert table.names == ("background", "axon", "node", "object") and warnings == []


def test_overlapping_classes_later_label_wins_as_in_django_labeller():
    labelling_tool = pytest.importorskip("image_labelling_tool.labelling_tool")
    doc = labels_document("t.png", [square("myelin", 2, 2, 12, 12, "m"),
                                    square("axon", 5, 5, 8, 8, "a"),
                                    square("myelin", 7, 7, 9, 9, "m2")])
    m, table, _ = labels_to_class_map(doc, (16, 16))
    ref = labelling_tool.ImageLabels.from_json(doc["labels"]).render_label_classes(
        {n: k for k, n in enumerate(table.names) if k}, image_shape=(16, 16))
    np.testing.assert_array_equal(m, ref)
    assert m[6, 6] == table.index_of("axon") and m[8, 8] == table.index_of("myelin")


def test_unrasterisable_labels_are_reported():
    doc = labels_document("t.png", [square("axon", 1, 1, 4, 4, "a"),
                                    {"label_type": "point", "label_class": "myelin",
                                     "object_id": "p", "position": {"x": 3, "y": 3}}])
    m, table, warnings = labels_to_class_map(doc, (8, 8))
    assert table.names == ("background", "axon", "myelin")
    assert warnings == ["label 1 (object_id 'p'): label type 'point' cannot be rasterised "
                        "(only polygons and groups of polygons); skipped"]
    assert set(np.unique(m)) == {0, 1}


def test_more_than_255_classes_is_one_line():
    doc = labels_document("t.png", [square(f"c{k}", 0, 0, 1, 1, str(k)) for k in range(256)])
    with pytest.raises(LabelFileError) as err:
        labels_to_class_map(doc, (4, 4), path="big__labels.json")
    assert str(err.value) == ("big__labels.json: a class table holds at most 255 classes besides "
                              "the background (class maps are uint8), got 256")


def test_axondeepseg_masks_follow_its_convention():
    m = myelinated(7)
    table = ClassTable.from_names(["myelin", "axon"])  # indices swapped: names decide
    swapped = np.choose(m, [0, 2, 1]).astype(np.uint8)
    out = axondeepseg_masks(swapped, table)
    np.testing.assert_array_equal(out["axon"], np.where(m == 1, 255, 0))
    np.testing.assert_array_equal(out["myelin"], np.where(m == 2, 255, 0))
    np.testing.assert_array_equal(out["axonmyelin"], np.choose(m, [0, 255, 127]))
    assert all(a.dtype == np.uint8 for a in out.values())
    with pytest.raises(ClassMaskError) as err:
        axondeepseg_masks(m, ClassTable.from_names(["axon", "node"]))
    assert str(err.value) == ("--axondeepseg needs classes named 'axon' and 'myelin'; the class "
                              "table has axon, node (no 'myelin')")


def test_a_grey_mask_of_class_indices_is_read_as_classes(tmp_path):
    """Another tool saved a class map as grey 0/1/2: classes, not "non-zero = class 1"."""
    from napari_axons.core.labels.class_masks import decode_class_mask

    cmap = np.zeros((8, 8), np.uint8)
    cmap[2:4, 2:4], cmap[5:7, 5:7] = 1, 2

    def png(arr, mode):
        buf = io.BytesIO()
        Image.fromarray(arr).convert(mode).save(buf, format="PNG")
        return buf.getvalue()

    got, indexed = decode_class_mask(png(cmap, "L"))
    assert indexed and np.array_equal(got, cmap)
    got, indexed = decode_class_mask(png(cmap * 127, "L"))  # 0/127/254: not indices
    assert not indexed and np.array_equal(got, (cmap > 0).astype(np.uint8))
    got, indexed = decode_class_mask(png((cmap > 0).astype(np.uint8) * 255, "L"))  # the seed's
    assert not indexed and np.array_equal(got, (cmap > 0).astype(np.uint8))
    got, indexed = decode_class_mask(png((cmap > 0).astype(np.uint8), "L"))  # 0/1: one class
    assert not indexed and np.array_equal(got, (cmap > 0).astype(np.uint8))
