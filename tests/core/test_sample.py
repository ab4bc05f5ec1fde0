"""The synthetic axon sample: shape, dtype, determinism, plausibility."""

from __future__ import annotations

import numpy as np
import pytest

from napari_axons.core.sample import make_axon_sample


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
