"""The synthetic axon sample: shape, dtype, determinism, plausibility."""

from __future__ import annotations

import numpy as np
import pytest

from napari_axons.core.image.sample import MYELINATED_CLASSES, make_axon_sample, make_myelinated_sample


@pytest.fixture(scope="module")
def sample():
    return make_axon_sample((1024, 1024), seed=0)


def test_types_and_values(sample):
    image, mask = sample
    assert image.shape == (1024, 1024, 3) and image.dtype == np.uint8
    assert mask.shape == (1024, 1024) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    assert 0.01 < (mask > 0).mean() < 0.2


def test_deterministic(sample):
    image, mask = make_axon_sample((1024, 1024), seed=0)
    np.testing.assert_array_equal(image, sample[0])
    np.testing.assert_array_equal(mask, sample[1])
    other, _ = make_axon_sample((1024, 1024), seed=1)
    assert not np.array_equal(other, image)


def test_looks_like_fluorescence(sample):
    image, mask = sample
    fg, bg = image[mask > 0], image[mask == 0]
    assert bg.mean() < 40  # dark background
    assert fg[:, 1].mean() > 3 * bg[:, 1].mean()  # bright filaments
    assert fg[:, 1].mean() >= fg[:, 0].mean()  # green to whitish
    assert bg.std() > 2  # noisy


@pytest.mark.parametrize("shape", [(600, 900), (1, 1), (3, 700), (1500, 40)])
def test_any_shape(shape):
    image, mask = make_axon_sample(shape, seed=3)
    assert image.shape == (*shape, 3) and mask.shape == shape


def test_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        make_axon_sample((0, 10))


# --------------------------------------------------------------------------- myelinated


@pytest.fixture(scope="module")
def myelinated():
    return make_myelinated_sample((768, 1024), seed=0)


def test_myelinated_types_and_classes(myelinated):
    image, classes = myelinated
    assert image.shape == (768, 1024, 3) and image.dtype == np.uint8
    assert classes.shape == (768, 1024) and classes.dtype == np.uint8
    assert set(np.unique(classes)) == {0, 1, 2}
    assert MYELINATED_CLASSES.names == ("background", "myelin", "axon")
    frac = np.bincount(classes.ravel(), minlength=3) / classes.size
    assert 0.3 < frac[0] < 0.7 and 0.15 < frac[1] < 0.45 and 0.1 < frac[2] < 0.35


def test_myelinated_grey_and_contrast(myelinated):
    image, classes = myelinated
    np.testing.assert_array_equal(image[..., 0], image[..., 1])  # SEM: grey
    grey = image[..., 0].astype(float)
    bg, my, ax = (grey[classes == k].mean() for k in range(3))
    assert my + 40 < bg < ax - 40  # dark myelin, grey background, bright axon
    assert grey[classes == 0].std() > 8  # textured, noisy


def test_myelinated_axon_inside_myelin(myelinated):
    """Every axon is ringed by myelin: axon pixels never touch the background."""
    from scipy import ndimage as ndi

    _, classes = myelinated
    grown = ndi.binary_dilation(classes == 2, iterations=1)
    assert not (grown & (classes == 0)).any()
    # and each myelin ring holds one axon: as many axon components as fibres
    n_axons = ndi.label(classes == 2)[1]
    n_fibres = ndi.label(classes > 0)[1]
    assert n_axons > 100 and n_fibres <= n_axons  # touching fibres merge in the union


def test_myelinated_varied_sizes(myelinated):
    from scipy import ndimage as ndi

    _, classes = myelinated
    lab, n = ndi.label(classes == 2)
    areas = np.bincount(lab.ravel())[1:]
    assert areas.max() > 6 * np.median(areas)


def test_myelinated_deterministic(myelinated):
    image, classes = make_myelinated_sample((768, 1024), seed=0)
    np.testing.assert_array_equal(image, myelinated[0])
    np.testing.assert_array_equal(classes, myelinated[1])
    other, _ = make_myelinated_sample((768, 1024), seed=1)
    assert not np.array_equal(other, image)


@pytest.mark.parametrize("shape", [(1, 1), (3, 700), (300, 40)])
def test_myelinated_any_shape(shape):
    image, classes = make_myelinated_sample(shape, seed=3)
    assert image.shape == (*shape, 3) and classes.shape == shape


def test_myelinated_bad_shape():
    with pytest.raises(ValueError, match="shape"):
        make_myelinated_sample((5, 0))


def test_cli_sample_myelinated(tmp_path, capsys):
    import tifffile
    from PIL import Image

    from napari_axons.cli import main

    out = tmp_path / "nerve.tif"
    assert main(["sample", "--kind", "myelinated", "--size", "200", "300", "--seed", "4",
                 str(out)]) == 0
    image, classes = make_myelinated_sample((200, 300), seed=4)
    np.testing.assert_array_equal(tifffile.imread(out), image)
    with Image.open(tmp_path / "nerve_truth.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.asarray(im), classes)
        assert im.getpalette()[:9] == [0, 0, 0, 64, 160, 255, 255, 64, 64]
    assert "nerve_truth.png" in capsys.readouterr().out
