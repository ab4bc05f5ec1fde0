import json

import numpy as np
import pytest
import tifffile
from bench.seed_reference import tile_image
from PIL import Image

from napari_axons.core.common import ExportError
from napari_axons.core.export import JOURNAL_NAME, ExportJob, ExportOptions, read_manifest


def run(paths, out, **kw):
    options = kw.pop("options", ExportOptions(threads=2))
    job = ExportJob([str(p) for p in paths], out, options, **kw)
    try:
        gen = job.run()
        results = []
        while True:
            try:
                results.append(next(gen))
            except StopIteration as stop:
                return job, results, stop.value
    finally:
        job.close()


def png(path):
    return np.asarray(Image.open(path))


@pytest.mark.parametrize(("width", "height", "mode"),
                         [(1000, 700, "RGB"), (513, 512, "L"), (300, 200, "RGB"), (1100, 1030, "L")])
def test_tiles_are_pixel_identical_to_the_seed(tmp_path, rgb_image, width, height, mode):
    image = Image.fromarray(rgb_image(height, width)).convert(mode)
    src = tmp_path / "slide.png"
    image.save(src)
    job, results, manifest = run([src], tmp_path / "out")
    seed_tiles = [t.convert("RGB") for t in tile_image(src, tile_size=(512, 512))]
    assert len(results) == len(seed_tiles) == job.total
    for k, seed in enumerate(seed_tiles):
        ours = png(tmp_path / "out" / f"slide_tile_{k:04d}.png")
        assert ours.shape == (512, 512, 3)
        np.testing.assert_array_equal(ours, np.asarray(seed))
    assert manifest["status"] == "complete"
    assert not (tmp_path / "out" / JOURNAL_NAME).exists()


def test_manifest_boxes_crop_back_to_the_same_pixels(tmp_path, rgb_image):
    image = rgb_image(1100, 1300)
    tifffile.imwrite(tmp_path / "s.tif", image, tile=(256, 256))
    run([tmp_path / "s.tif"], tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    entry = manifest["images"][0]
    assert entry["source"]["width"] == 1300 and entry["source"]["height"] == 1100
    assert entry["source"]["hash"].startswith("blake2b-sampled:")
    assert manifest["software"]["name"] == "napari-axons"
    assert len(entry["tiles"]) == entry["grid"]["n_tiles"] == 9
    for tile in entry["tiles"]:
        y0, x0, y1, x1 = tile["source_box"]["clipped"]
        b = tile["box"]
        assert (y1 - y0, x1 - x0) == (b["height"], b["width"])
        np.testing.assert_array_equal(png(tmp_path / "out" / tile["files"]["tile"]), image[y0:y1, x0:x1])


def test_overlap_export(tmp_path, rgb_image):
    image = rgb_image(700, 1000)
    tifffile.imwrite(tmp_path / "s.tif", image)
    _, results, manifest = run([tmp_path / "s.tif"], tmp_path / "out",
                               options=ExportOptions(tile_size=512, overlap=112, threads=2))
    boxes = [(t["box"]["y"], t["box"]["x"]) for t in manifest["images"][0]["tiles"]]
    assert boxes == [(0, 0), (0, 400), (0, 488), (188, 0), (188, 400), (188, 488)]
    assert manifest["images"][0]["grid"]["stride"] == 400
    np.testing.assert_array_equal(png(tmp_path / "out" / "s_tile_0001.png"), image[0:512, 400:912])


def test_tiny_image_padding_is_recorded(tmp_path, rgb_image):
    image = rgb_image(200, 300)
    Image.fromarray(image).save(tmp_path / "tiny.png")
    _, _, manifest = run([tmp_path / "tiny.png"], tmp_path / "out")
    (tile,) = manifest["images"][0]["tiles"]
    assert tile["padding"] == {"top": 312, "left": 212}
    assert manifest["images"][0]["grid"]["padded"] is True
    out = png(tmp_path / "out" / "tiny_tile_0000.png")
    assert not out[:312].any() and not out[:, :212].any()
    np.testing.assert_array_equal(out[312:, 212:], image)


def test_downsampled_export_is_close_to_the_seed(tmp_path, rgb_image):
    image = rgb_image(1700, 1800)
    Image.fromarray(image).save(tmp_path / "d.png")
    _, results, manifest = run([tmp_path / "d.png"], tmp_path / "out",
                               options=ExportOptions(downsample=3, threads=2))
    seed = [np.asarray(t.convert("RGB")) for t in tile_image(tmp_path / "d.png", (512, 512), True)]
    assert len(results) == len(seed) == 4  # 600 x 566 working image
    for k, ref in enumerate(seed):
        diff = np.abs(png(tmp_path / "out" / f"d_tile_{k:04d}.png").astype(int) - ref)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    working = manifest["images"][0]["working"]
    assert (working["width"], working["height"], working["downsample"]) == (600, 566, 3)
    last = manifest["images"][0]["tiles"][-1]
    assert last["source_box"]["x"] == pytest.approx(88 * 1800 / 600)


def test_same_base_names_do_not_collide(tmp_path, rgb_image):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(rgb_image(512, 512)).save(tmp_path / "a" / "x.png")
    Image.fromarray(rgb_image(512, 512)[::-1].copy()).save(tmp_path / "b" / "x.png")
    _, _, manifest = run([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png"], tmp_path / "out")
    assert [i["base"] for i in manifest["images"]] == ["x", "x-2"]
    assert (tmp_path / "out" / "x-2_tile_0000.png").exists()


def test_non_empty_folder_is_refused_unless_overwrite(tmp_path, rgb_image):
    Image.fromarray(rgb_image(512, 600)).save(tmp_path / "x.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        run([tmp_path / "x.png"], out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    run([tmp_path / "x.png"], out, overwrite=True)
    with pytest.raises(ExportError, match="already holds an export"):
        run([tmp_path / "x.png"], out)
    # overwrite with a bigger tile: the old tiles go, the user's file stays
    run([tmp_path / "x.png"], out, overwrite=True, options=ExportOptions(tile_size=600, threads=1))
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.txt", "x_tile_0000.png"]
    assert (out / "notes.txt").read_text() == "mine"


def test_resume_skips_journalled_tiles_and_matches_a_clean_run(tmp_path, rgb_image):
    Image.fromarray(rgb_image(1100, 1200)).save(tmp_path / "x.png")
    clean = tmp_path / "clean"
    run([tmp_path / "x.png"], clean)
    out = tmp_path / "out"
    job = ExportJob([str(tmp_path / "x.png")], out, ExportOptions(threads=2))
    gen = job.run()
    first = [next(gen) for _ in range(4)]
    gen.close()  # interrupted
    job.close()
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    (out / "x_tile_0008.png").unlink(missing_ok=True)
    _, results, _ = run([tmp_path / "x.png"], out, resume=True)
    assert sum(r.resumed for r in results) >= len(first)
    for f in clean.iterdir():
        assert (out / f.name).read_bytes() == f.read_bytes(), f.name
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in clean.iterdir())


def test_resume_with_other_options_is_refused(tmp_path, rgb_image):
    Image.fromarray(rgb_image(600, 600)).save(tmp_path / "x.png")
    run([tmp_path / "x.png"], tmp_path / "out")
    with pytest.raises(ExportError, match="cannot resume"):
        run([tmp_path / "x.png"], tmp_path / "out", resume=True,
            options=ExportOptions(tile_size=256, threads=1))


def test_bad_inputs_are_reported_and_the_rest_exported(tmp_path, rgb_image):
    Image.fromarray(rgb_image(512, 512)).save(tmp_path / "good.png")
    (tmp_path / "bad.tif").write_text("not a tiff")
    job, results, _ = run([tmp_path / "bad.tif", tmp_path / "good.png"], tmp_path / "out")
    assert len(job.errors) == 1 and "bad.tif" in job.errors[0] and "not a TIFF" in job.errors[0]
    assert len(results) == 1


class _FlakyModel:
    """Masks from pixel values, two batches at once; fails on the tile ``fail_on`` if given."""

    batch_size, streams, name = 1, 2, "flaky"

    def __init__(self, fail_on: np.ndarray | None = None):
        import threading

        self.fail_on, self.calls, self.threads = fail_on, 0, set()
        self._lock = threading.Lock()

    def prepare(self, overview):
        pass

    def predict(self, tiles):
        import threading

        with self._lock:
            self.calls += 1
            self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and np.array_equal(tiles[0], self.fail_on):
            raise RuntimeError("model exploded")
        return np.where(tiles[..., 0] > 128, 255, 0).astype(np.uint8)

    def info(self):
        return {"kind": "test", "name": "flaky"}


def test_model_streams_keep_tile_order_and_a_failure_loses_nothing(tmp_path, rgb_image):
    Image.fromarray(rgb_image(1100, 1200)).save(tmp_path / "x.png")
    model = _FlakyModel()
    _, results, _ = run([tmp_path / "x.png"], tmp_path / "clean", segmenter=model)
    assert [r.box.index for r in results] == list(range(9))  # in order, though 2 ran at once
    assert model.calls == 9 and len(model.threads) == 2
    assert all(t.startswith("napari-axons-model") for t in model.threads)
    mask = png(tmp_path / "clean" / "masks" / "x_tile_0004_mask.png")
    tile = png(tmp_path / "clean" / "x_tile_0004.png")
    np.testing.assert_array_equal(mask > 0, tile[..., 0] > 128)

    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="model exploded"):
        run([tmp_path / "x.png"], out, segmenter=_FlakyModel(fail_on=tile))
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    assert not list(out.glob(".napari-axons-tmp*")) and not list(out.glob("masks/.napari-axons-tmp*"))
    journalled = (out / JOURNAL_NAME).read_text().splitlines()
    assert len(journalled) == 4  # the tiles before the failing one (4) were written and kept
    _, results, manifest = run([tmp_path / "x.png"], out, segmenter=_FlakyModel(), resume=True)
    assert manifest["status"] == "complete" and sum(r.resumed for r in results) == 4
    for f in [*(tmp_path / "clean").rglob("*.png"), *(tmp_path / "clean").glob("*.json")]:
        rel = f.relative_to(tmp_path / "clean")
        assert (out / rel).read_bytes() == f.read_bytes(), rel
