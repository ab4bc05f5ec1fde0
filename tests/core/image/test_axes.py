"""Axes are read from the metadata (OME-Zarr 0.1-0.5, OME-TIFF, ImageJ), else one rule."""

import numpy as np
import pytest
import tifffile
import zarr

from napari_axons.core.image.open import open_image

H, W = 60, 70


def _tczyx(rng):
    return rng.integers(0, 255, (2, 3, 4, H, W)).astype(np.uint8)


def _write_ome_zarr(path, data, version, axes):
    fmt = 3 if version == "0.5" else 2
    g = zarr.open_group(path, mode="w", zarr_format=fmt)
    a = g.create_array("0", shape=data.shape, chunks=(1,) * (data.ndim - 2) + (32, 32), dtype="u1")
    a[:] = data
    ms = {"version": version, "datasets": [{"path": "0"}]}
    if axes is not None:
        ms["axes"] = axes
        if version in ("0.4", "0.5"):
            ms["datasets"][0]["coordinateTransformations"] = [
                {"type": "scale", "scale": [1.0] * (data.ndim - 2) + [0.5, 0.25]}]
    if version == "0.5":
        g.attrs["ome"] = {"version": "0.5", "multiscales": [ms]}
    else:
        g.attrs["multiscales"] = [ms]


def _named(names, version):
    if version == "0.3":
        return list(names)
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    return [{"name": n, "type": kinds[n], **({"unit": "micrometer"} if n in "zyx" else {})}
            for n in names]


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3", "0.4", "0.5"])
def test_ome_zarr_every_version_gives_the_colour_image(tmp_path, rng, version):
    data = _tczyx(rng)
    axes = None if version in ("0.1", "0.2") else _named("tczyx", version)
    _write_ome_zarr(tmp_path / "img.zarr", data, version, axes)
    with open_image(tmp_path / "img.zarr") as src:
        assert src.shape == (H, W, 3)
        np.testing.assert_array_equal(src.read_region(0, 0, H, W), np.moveaxis(data[0, :, 0], 0, -1))
        assert src.notes == ["img.zarr: 2 extra axis/axes (T=2, Z=4): using the first plane only"]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_ome_zarr_axes_in_any_order(tmp_path, rng, version):
    data = rng.integers(0, 255, (4, H, W, 3)).astype(np.uint8)  # z, y, x, c
    _write_ome_zarr(tmp_path / "zyxc.zarr", data, version, _named("zyxc", version))
    with open_image(tmp_path / "zyxc.zarr") as src:
        assert src.shape == (H, W, 3)
        np.testing.assert_array_equal(src.read_region(0, 0, H, W), data[0])


@pytest.mark.parametrize(("shape", "kept", "note"), [
    ((H, W), (H, W), None),
    ((H, W, 3), (H, W, 3), None),
    ((H, W, 4), (H, W, 4), None),
    ((3, H, W), (H, W), "1 extra axis/axes (Q=3)"),
    ((5, H, W, 3), (H, W, 3), "1 extra axis/axes (Q=5)"),
    ((2, 3, H, W), (H, W), "2 extra axis/axes (Q=2, Q=3)"),
])
def test_unnamed_axes_follow_one_rule_in_zarr_and_tiff(tmp_path, rng, shape, kept, note):
    data = rng.integers(0, 255, shape).astype(np.uint8)
    z = zarr.open_array(tmp_path / "plain.zarr", mode="w", shape=shape, dtype="u1")
    z[:] = data
    photometric = "rgb" if shape[-1] in (3, 4) and len(shape) >= 3 else "minisblack"
    tifffile.imwrite(tmp_path / "plain.tif", data, photometric=photometric,
                     **({"extrasamples": [2]} if shape[-1] == 4 else {}))
    first = data[(0,) * (len(shape) - len(kept))]
    for name in ("plain.zarr", "plain.tif"):
        with open_image(tmp_path / name) as src:
            assert src.shape == kept, name
            np.testing.assert_array_equal(src.read_region(0, 0, H, W), first)
            if note is None:
                assert src.notes == []
            else:
                assert src.notes == [f"{name}: {note}: using the first plane only "
                                     "(axes not named in the file: the last two are y, x)"]


def test_ome_tiff_and_imagej_axes_come_from_their_metadata(tmp_path, rng):
    data = _tczyx(rng)
    tifffile.imwrite(tmp_path / "a.ome.tif", data, ome=True, metadata={"axes": "TCZYX"})
    tifffile.imwrite(tmp_path / "ij.tif", np.moveaxis(data, 1, 2), imagej=True,
                     metadata={"axes": "TZCYX"})
    for name in ("a.ome.tif", "ij.tif"):
        with open_image(tmp_path / name) as src:
            assert src.shape == (H, W, 3), name
            np.testing.assert_array_equal(src.read_region(0, 0, H, W),
                                          np.moveaxis(data[0, :, 0], 0, -1))
            assert src.notes == [f"{name}: 2 extra axis/axes (T=2, Z=4): using the first plane only"]
