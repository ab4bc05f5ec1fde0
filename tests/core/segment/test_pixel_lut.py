"""The image processor as a lookup table: used only where it is bit-identical."""

from __future__ import annotations

import numpy as np
import pytest

from napari_axons.core.segment import load_segmenter
from napari_axons.core.segment.pixel_lut import build_pixel_lut
from tiny_models import save_checkpoint, tiny_segformer

pytestmark = pytest.mark.model


def processor_output(processor, tiles):
    return processor(images=list(tiles), return_tensors="pt",
                     input_data_format="channels_last")["pixel_values"].numpy()


@pytest.fixture(scope="module")
def tiles():
    from napari_axons.core.image.sample import make_axon_sample

    image, _ = make_axon_sample((512, 768), seed=3)
    return np.stack([image[:256, :256], image[256:, 512:], image[:256, 256:512]])


@pytest.mark.parametrize("size", [256, 320])
def test_lut_matches_the_processor_bit_for_bit_or_is_not_used(tmp_path, tiles, size):
    folder = save_checkpoint(tiny_segformer(), tmp_path / "m", processor_size=size)
    seg = load_segmenter(folder, num_threads=1)
    lut = build_pixel_lut(seg.processor, 256, 256)
    if size == 256:  # the processor's resize is the identity: a table, exactly
        assert lut is not None and lut.table.shape == (3, 256)
        assert lut(tiles).tobytes() == processor_output(seg.processor, tiles).tobytes()
    else:  # it resizes 256 -> 320: no table
        assert lut is None
    # either way the segmenter's preprocessing is the processor's, byte for byte
    _, batches, _ = seg.preprocess(tiles)
    ours = np.concatenate([b.numpy() for b in batches])
    assert ours.tobytes() == processor_output(seg.processor, tiles).tobytes()
    used = seg._luts[(256, 256)]  # the table the segmenter built and used, or None
    assert (used is None) == (lut is None)
    if used is not None:
        np.testing.assert_array_equal(used.table, lut.table)


class _PerImageStandardise:
    """A processor whose mapping depends on the image (not a per-pixel table)."""

    def __call__(self, images, return_tensors, input_data_format):
        import torch

        x = np.stack([np.asarray(i, np.float32).transpose(2, 0, 1) for i in images])
        x = (x - x.mean()) / (x.std() + 1e-6)
        return {"pixel_values": torch.from_numpy(x.astype(np.float32))}


class _Broken:
    def __call__(self, **kw):
        raise RuntimeError("no")


def test_lut_refused_for_image_dependent_or_failing_processors():
    assert build_pixel_lut(_PerImageStandardise(), 64, 64) is None
    assert build_pixel_lut(_Broken(), 64, 64) is None
    assert build_pixel_lut(_PerImageStandardise(), 16, 16) is None  # too small to probe
