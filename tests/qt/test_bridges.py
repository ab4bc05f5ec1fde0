"""The format bridges in the dock widget: OME-Zarr labels and QuPath GeoJSON in and out, COCO out."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from qt_helpers import wait_idle

pytestmark = pytest.mark.gui

EDIT = "paint here: axons masks"


def _blobs(shape, seed, n):
    """``(H, W)`` uint8 0/1: discs, some across tile borders, some with a hole."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    m = np.zeros(shape, bool)
    for i in range(n):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(5, 40)
        d = (yy - cy) ** 2 + (xx - cx) ** 2
        m |= d <= r * r
        if i % 3 == 0 and r > 12:
            m &= ~(d <= (r // 3) ** 2)
    return m.astype(np.uint8)


def _ome_with_labels(path, shape, cmap, classes):
    """A (c, y, x) RGB OME-Zarr image with 3 levels and a label group "napari-axons"."""
    import zarr
    from ome_zarr.writer import write_image

    from napari_axons.core.formats.ngff_labels import write_ngff_labels

    img = np.zeros((3, *shape), np.uint8)
    img[0] = 90
    write_image(img, zarr.open_group(str(path), mode="w"), axes="cyx", scale_factors=(2, 4))
    write_ngff_labels(path, cmap, classes, chunk=128)
    return path


def _read_labels(image, name):
    """Level 0 and the class names of ``image/labels/name``, through ome-zarr-py's Reader."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Label, Reader

    logging.getLogger("ome_zarr").setLevel(logging.ERROR)
    [node] = [n for n in Reader(parse_url(str(image)))()
              if n.load(Label) and n.metadata.get("name") == name]
    return np.asarray(node.data[0]), node.metadata["properties"]


def test_ome_zarr_labels_load_paint_and_write_back(make_widget, tmp_path, qtbot):
    from napari_axons.core.common import ClassTable

    truth = _blobs((384, 512), seed=6, n=12)
    truth[300:340, 20:90] = 2  # a myelin strip
    image = _ome_with_labels(tmp_path / "slide.zarr", (384, 512), truth,
                             ClassTable.from_names(["myelin", "axon"]))
    viewer, w = make_widget(image)
    # opened: the status line says the labels are there, and Load from points at them
    assert w.messages[-1] == ("slide.zarr has OME-Zarr labels (napari-axons): press Load masks "
                              "to put them into the masks and edit them")
    assert w.controls.import_from.value == "OME-Zarr labels" and w.controls.import_dir.native.isHidden()
    w.controls.tile_size.value = 128
    assert w.load_masks() is not None
    wait_idle(qtbot, w)
    # classes by name: axon stays 1, myelin is appended as 2
    assert w.session.classes.names == ("background", "axon", "myelin")
    assert w.controls.paint_class.choices == (1, 2, 0) and "myelin" in w.controls.legend.value
    in_store = np.array([0, 2, 1], np.uint8)[truth]
    np.testing.assert_array_equal(w.store.read(0, 0, 384, 512), in_store)
    assert w.messages[-1] == (f"the OME-Zarr labels {image / 'labels' / 'napari-axons'} loaded into "
                              f"the masks of {len(w.grid)} tile(s); class(es) added: myelin")

    # paint myelin by hand on tile 0
    w.set_selection([0])
    w.controls.paint_class.value = 2
    edit = viewer.layers[EDIT]
    np.testing.assert_array_equal(edit.data, in_store[:128, :128])  # the window shows the labels
    edit.brush_size = 9
    edit.paint((60, 60), edit.selected_label)
    qtbot.waitUntil(lambda: w.status.get(0) == "edited")
    painted = w.store.read(0, 0, 384, 512)
    assert painted[60, 60] == 2 and (painted != in_store).sum() > 20

    # export every tile, and write them back as the image's labels
    w.controls.export_which.value = "all"
    w.controls.export_dir.value = tmp_path / "export"
    w.controls.also_write.value = "OME-Zarr labels"
    assert w.export() is not None
    wait_idle(qtbot, w)
    assert w.messages[-2] == f"Exporting: done, {len(w.grid)} of {len(w.grid)} tiles"
    assert w.messages[-1] == ("OME-Zarr labels written into the image: "
                              f"{image / 'labels' / 'napari-axons'}")
    level0, props = _read_labels(image, "napari-axons")
    np.testing.assert_array_equal(level0, painted)  # downsample 1: level 0 is the store
    assert props == {1: {"class": "axon"}, 2: {"class": "myelin"}}
    assert sorted(p.name for p in (image / "labels").iterdir() if p.name.startswith(".napari")) == []


def test_geojson_out_and_back_into_a_fresh_session_and_coco(make_widget, axon_tif, tmp_path, qtbot):
    truth = _blobs((768, 1024), seed=8, n=20)
    truth[690:720, 890:930] = 1  # under the hand edit of the second session
    viewer, w = make_widget(axon_tif)
    w.controls.tile_size.value = 256
    w.session.paint(0, 0, truth)  # the masks, as if painted by hand
    w.controls.export_which.value = "all"
    w.controls.export_dir.value = out = tmp_path / "export"
    w.controls.also_write.value = "QuPath GeoJSON"
    assert w.export() is not None
    wait_idle(qtbot, w)
    geo = out / "axons.geojson"
    n = len(json.loads(geo.read_text())["features"])
    assert n > 10 and w.messages[-1] == f"QuPath GeoJSON: {n} objects written to {geo}"

    # the same export folder again, with COCO: tiles kept, then annotations.json
    w.controls.also_write.value = "COCO"
    assert w.export() is not None
    wait_idle(qtbot, w)
    coco = json.loads((out / "annotations.json").read_text())
    assert w.messages[-1] == (f"COCO: {len(coco['annotations'])} objects over 12 tiles written to "
                              f"{out / 'annotations.json'}")

    # OME-Zarr labels for a TIFF: the choice says why not, and Export refuses
    w.controls.also_write.value = "OME-Zarr labels"
    why = ("OME-Zarr labels are written into an OME-Zarr image; axons.tif is not one "
           "(choose QuPath GeoJSON or COCO)")
    assert w.messages[-1] == why
    assert w.export() is None and w.messages[-1] == why
    w.controls.import_from.value = "OME-Zarr labels"
    assert w.load_masks() is None
    assert w.messages[-1] == "axons.tif has no OME-Zarr labels to load (it is not an OME-Zarr image)"

    # a fresh session of the image (another viewer), another grid, one hand edit
    viewer2, w2 = make_widget(axon_tif)
    w2.controls.tile_size.value = 128
    w2.session.paint(700, 900, np.ones((5, 5), np.uint8))
    w2.controls.import_dir.value = geo  # a .geojson picked while "export folder" is chosen counts
    asked = []
    w2.confirm = lambda title, text: asked.append((title, text)) or False
    assert w2.load_masks() is not None
    wait_idle(qtbot, w2)
    assert asked and asked[0][0] == "Replace edits?" and "hold hand edits" in asked[0][1]
    assert w2.messages[-1] == "loading cancelled: the hand edits are kept"
    assert w2.store.read(0, 0, 768, 1024).sum() == 25  # nothing loaded
    w2.controls.import_from.value = "QuPath GeoJSON"
    assert w2.controls.import_dir.mode.value == "r" and not w2.controls.import_dir.native.isHidden()
    w2.confirm = lambda title, text: True
    assert w2.load_masks() is not None
    wait_idle(qtbot, w2)
    np.testing.assert_array_equal(w2.store.read(0, 0, 768, 1024), w.store.read(0, 0, 768, 1024))
    assert w2.session.edits.empty
    assert w2.messages[-1].startswith(f"{n} objects from {geo} loaded into the masks of ")


def test_an_axondeepseg_mask_image_loads_by_class_name(make_widget, axon_tif, tmp_path, qtbot):
    from PIL import Image

    yy, xx = np.mgrid[0:768, 0:1024]
    cmap = np.zeros((768, 1024), np.uint8)  # 0 background, 1 myelin, 2 axon
    for cy, cx, r in ((150, 200, 70), (500, 700, 110), (600, 150, 50)):
        d = np.hypot(yy - cy, xx - cx)
        cmap[d <= r] = 1
        cmap[d <= 0.6 * r] = 2
    mask = tmp_path / "axons_seg-axonmyelin-manual.png"
    Image.fromarray(np.array([0, 127, 255], np.uint8)[cmap]).save(mask)
    viewer, w = make_widget(axon_tif)
    w.controls.import_from.value = "mask image"
    assert w.controls.import_dir.mode.value == "r" and not w.controls.import_dir.native.isHidden()
    assert w.load_masks() is None  # nothing chosen yet
    assert w.messages[-1] == "choose a mask image of the whole image (.png, .tif) to load masks from"
    w.controls.import_dir.value = mask
    assert w.load_masks() is not None
    wait_idle(qtbot, w)
    # the session's classes were background, axon: myelin is added, each pixel by name
    assert w.session.classes.names == ("background", "axon", "myelin")
    np.testing.assert_array_equal(w.store.read(0, 0, 768, 1024), np.array([0, 2, 1], np.uint8)[cmap])
    assert w.messages[-1].startswith(f"the mask image {mask.name} loaded into the masks of ")
    assert w.messages[-1].endswith("; class(es) added: myelin")
    assert "myelin" in w.controls.legend.value


def test_in_thread_reports_progress_stops_on_close_and_raises_errors():
    import threading

    from napari_axons._qt._bridges import PROGRESS, in_thread

    ended, reported = [], []

    def convert(n, *, progress):
        try:
            for i in range(n):
                progress(i + 1, n)
                reported.append(i + 1)
                threading.Event().wait(0.01)
            return "written"
        finally:
            ended.append(threading.current_thread().name)

    gen = in_thread(convert, 3)
    items = []
    try:
        while True:
            items.append(next(gen))
    except StopIteration as stop:
        assert stop.value == "written"
    assert items[-1] == (PROGRESS, 3, 3) and all(i[0] == PROGRESS for i in items)
    gen = in_thread(convert, 1000)  # closed early (Cancel): the converter stops at its next report
    assert next(gen)[0] == PROGRESS
    gen.close()
    assert ended == ["napari-axons-bridge"] * 2 and reported[-1] < 100  # not all 1000

    def broken(*, progress):
        raise ValueError("slide.geojson: cannot write (No space left on device)")

    with pytest.raises(ValueError, match="No space left"):
        list(in_thread(broken))


def test_a_failing_conversion_is_one_line_after_the_export(make_widget, axon_tif, tmp_path, qtbot,
                                                           monkeypatch):
    import napari_axons._qt._bridges as geojson
    from napari_axons.core.common import ExportError

    def full_disk(export_dir, out, *, base=None, progress=None, **kw):
        progress(1, 4)
        raise ExportError(f"{out}: cannot write (No space left on device)")

    monkeypatch.setattr(geojson, "export_geojson", full_disk)
    viewer, w = make_widget(axon_tif)
    w.session.paint(10, 10, np.ones((20, 20), np.uint8))
    w.controls.export_which.value = "all"
    w.controls.export_dir.value = out = tmp_path / "export"
    w.controls.also_write.value = "QuPath GeoJSON"
    assert w.export() is not None
    wait_idle(qtbot, w)
    assert w.messages[-1] == (f"Writing QuPath GeoJSON: failed after 1 of 4 tiles: {out / 'axons.geojson'}: "
                              "cannot write (No space left on device)")
    assert (out / "manifest.json").exists() and not (out / "axons.geojson").exists()
    assert not w.busy and w.controls.export.enabled
