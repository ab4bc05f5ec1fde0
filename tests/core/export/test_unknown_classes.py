"""The one rule for a class value a table does not know (napari_axons.core.common.classes).

Reading an export (napari's read-back, the session, the GeoJSON/COCO/OME-Zarr bridges)
adds the class with one warning naming the file, never dropping or merging it; writing a
class map whose values the table does not know is refused, naming the tile.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from formats_helpers import discs, make_export
from napari_axons.core.common import ClassTable
from napari_axons.core.export import list_exported_tiles, open_export_slides, read_export
from napari_axons.core.formats import export_coco, export_geojson
from napari_axons.core.labels import ClassMaskError, check_class_map

AXON = ClassTable.from_names(["axon"])


@pytest.fixture
def export_with_strangers(tmp_path):
    """A one-class export where tile 0's label file names a class 'node' and tile 1 has only
    a palette mask whose value 3 the manifest's table does not know."""
    truth = discs((300, 420), seed=5, n=14)
    out = make_export(tmp_path, truth, tile_size=256, classes=AXON)
    [listed] = list_exported_tiles(out)
    t0, t1 = listed.tiles[0], listed.tiles[1]
    doc = json.loads(t0.labels.read_text())
    doc["labels"][0]["label_class"] = "node"
    t0.labels.write_text(json.dumps(doc))
    t1.labels.unlink()
    mask = np.zeros((t1.height, t1.width), np.uint8)
    mask[5:25, 5:25] = 3
    im = Image.fromarray(mask, mode="P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    im.save(t1.mask)
    return out, t0, t1


def test_reading_adds_the_unknown_classes_with_a_warning(export_with_strangers, tmp_path):
    out, t0, t1 = export_with_strangers
    contents = read_export(out)
    [img] = contents.images
    assert img.classes.names[:2] == ("background", "axon")
    assert img.classes.names[2:] == ("node", "class_3")  # in the order met, never merged
    assert any(str(t0.labels) in w and "'node'" in w for w in contents.warnings)
    assert any(str(t1.mask) in w and "class_3" in w for w in contents.warnings)
    node = img.classes.index_of("node")
    assert (img.labels == node).any() and (img.labels == img.classes.index_of("class_3")).any()

    # the bridges read the same way: the class is there, by name
    [slide] = open_export_slides(out)
    warnings: list[str] = []
    seen = set()
    for _, cmap in slide.iter_class_maps(warnings):
        if cmap is not None:
            seen |= {slide.classes.names[v] for v in np.unique(cmap) if v}
    assert {"axon", "node", "class_3"} <= seen and len(warnings) >= 2
    geo = export_geojson(out, tmp_path / "s.geojson")
    assert geo.per_class.get("node", 0) >= 1 and geo.per_class.get("class_3", 0) >= 1
    coco = json.loads(export_coco(out, tmp_path / "c.json").path.read_text())
    assert {"axon", "node", "class_3"} <= {c["name"] for c in coco["categories"]}


def test_writing_a_value_the_table_does_not_know_is_refused():
    three = ClassTable.from_names(["myelin", "axon"])
    with pytest.raises(ClassMaskError, match=r"^slide_tile_0004: mask: holds value 3, but the "
                                             r"class table has classes 1-2 \(myelin, axon\)"):
        check_class_map(np.full((4, 4), 3, np.uint8), three, where="slide_tile_0004: mask")
    with pytest.raises(ClassMaskError, match="holds value"):
        check_class_map(np.full((4, 4), 2, np.uint8), AXON, where="slide_tile_0004: mask")
    assert check_class_map(np.full((4, 4), 255, np.uint8), AXON).max() == 255  # the seed's 0/255
