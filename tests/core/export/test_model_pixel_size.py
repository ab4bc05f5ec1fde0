"""A model that states its training pixel size segments every export at it.

The command line, a cluster export and the session (what the widget's Segment
runs) all go through the tile path, which hands each batch its image's pixel
size: tiles are resampled for the model and the class maps come back on the
export's own tile pixels. The real built-in model (0.1 um/px) on the SEM
fixture, upsampled 1.5x as if imaged at 0.0667 um/px.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from napari_axons.cli import main
from napari_axons.core.export import read_export
from napari_axons.core.segment import load_segmenter
from napari_axons.core.session import Session
from sem_fixture import sem_crop

pytestmark = pytest.mark.model

FINE_UM = 0.1 / 1.5


@pytest.fixture(scope="module")
def fine_png(tmp_path_factory):
    """The fixture crop upsampled 1.5x (576 x 576 px, as if imaged at 0.0667 um/px)."""
    path = tmp_path_factory.mktemp("fine") / "fine.png"
    Image.fromarray(sem_crop()[0]).resize((576, 576), Image.BICUBIC).save(path)
    return path


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _export(fine_png, out, *extra):
    assert main(["tile", str(fine_png), "-o", str(out), "--model", "axon-myelin-sem",
                 "--classes", "all", "--tile-size", "192", "--pixel-size", f"{FINE_UM:.6f}",
                 "--torch-threads", "1", *extra]) == 0
    return read_export(out).images[0].labels


def test_cli_cluster_and_session_segment_at_the_models_pixel_size(fine_png, tmp_path, capsys):
    local = _export(fine_png, tmp_path / "local")
    err = capsys.readouterr().err
    assert "image 0.0667 um/px, model 0.1 um/px: tiles resampled x0.67 for the model" in err
    assert local.shape == (576, 576) and set(np.unique(local)) == {0, 1, 2}

    # what the model gives each tile at its own pixel size, mapped back: the export's maps
    seg = load_segmenter("axon-myelin-sem", classes="all", num_threads=1)
    tiles = np.asarray(Image.open(fine_png))
    tiles = tiles.reshape(3, 192, 3, 192, 3).transpose(0, 2, 1, 3, 4).reshape(9, 192, 192, 3)
    at_model = seg.predict(tiles, FINE_UM)
    as_is = seg.predict(tiles)
    mosaic = at_model.reshape(3, 3, 192, 192).transpose(0, 2, 1, 3).reshape(576, 576)
    np.testing.assert_array_equal(local, mosaic)
    assert (at_model != as_is).mean() > 0.01  # the resampling changes the result

    # on a cluster: the same plan, the same pixel size, the same maps
    np.testing.assert_array_equal(_export(fine_png, tmp_path / "cluster", "--workers", "1"), local)

    # the session (the widget's Segment): the same maps in its Labels store
    session = Session(fine_png, tile_size=192)
    try:
        session.set_pixel_size(FINE_UM)
        session.segment(range(len(session.grid)), seg)
        np.testing.assert_array_equal(session.store.read(0, 0, 576, 576), local)
    finally:
        session.close()
