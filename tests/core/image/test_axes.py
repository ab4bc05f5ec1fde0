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


# --------------------------------------------------------------------------- named axes win

N = 3  # entries of the named axis that is not y/x


def _data(rng, names):
    return rng.integers(0, 255, tuple({"y": H, "x": W}.get(n, N) for n in names)).astype(np.uint8)


def _expected(data, names):
    """The image the names describe: plane 0 of every axis but y, x and the colour axis."""
    letters = [{"band": "c", "channel": "c"}.get(n, n) for n in names]
    keep = [a for a in letters if a in "yxc"]
    index = tuple(slice(None) if a in "yxc" else 0 for a in letters)
    out = data[index]
    order = [keep.index(a) for a in "yxc" if a in keep]
    return np.transpose(out, order)


def _write_named(path, data, names, fmt):
    tag = "".join(names).upper()
    if fmt == "zarr-v3":  # dimension_names
        zarr.create_array(path, shape=data.shape, dtype="u1", dimension_names=list(names),
                          zarr_format=3)[:] = data
    elif fmt == "zarr-v2":  # _ARRAY_DIMENSIONS (the xarray convention)
        a = zarr.create_array(path, shape=data.shape, dtype="u1", zarr_format=2)
        a[:] = data
        a.attrs["_ARRAY_DIMENSIONS"] = list(names)
    elif fmt == "xarray-dataset":  # a group: the variable plus 1-D coordinate arrays
        g = zarr.open_group(path, mode="w", zarr_format=2)
        a = g.create_array("image", shape=data.shape, dtype="u1")
        a[:] = data
        a.attrs["_ARRAY_DIMENSIONS"] = list(names)
        for n, size in zip(names, data.shape, strict=True):
            c = g.create_array(n, shape=(size,), dtype="f8")
            c[:] = np.arange(size) * 0.5
            c.attrs["_ARRAY_DIMENSIONS"] = [n]
    elif fmt in ("ome-zarr-0.4", "ome-zarr-0.5"):
        _write_ome_zarr(path, data, fmt[-3:], _named(names, fmt[-3:]))
    elif fmt == "ome-tiff":
        tifffile.imwrite(path, data, ome=True, metadata={"axes": tag}, photometric="minisblack")
    elif fmt == "imagej":
        tifffile.imwrite(path, data, imagej=True, metadata={"axes": tag})
    else:  # tifffile's shaped description
        tifffile.imwrite(path, data, metadata={"axes": tag}, photometric="minisblack")


NAMED = [("c", "y", "x"), ("y", "x", "c"), ("y", "x", "z"), ("z", "y", "x"), ("t", "c", "y", "x")]
FORMATS = ["zarr-v3", "zarr-v2", "xarray-dataset", "ome-zarr-0.4", "ome-zarr-0.5", "ome-tiff", "imagej",
           "tiff-shaped"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("names", NAMED, ids="".join)
def test_named_axes_win_in_every_format(tmp_path, rng, fmt, names):
    if fmt in ("ome-tiff", "imagej") and names[-2:] != ("y", "x"):
        pytest.skip(f"{fmt} keeps y, x last")
    data = _data(rng, names)
    path = tmp_path / ("img.tif" if "tif" in fmt or fmt == "imagej" else "img.zarr")
    _write_named(path, data, names, fmt)
    want = _expected(data, names)
    with open_image(path) as src:
        assert src.shape == want.shape
        np.testing.assert_array_equal(src.read_region(0, 0, H, W), want)
        others = [n for n in names if n not in "yxc"]
        if not others:
            assert src.notes == []  # ["c", "y", "x"]: a colour image, nothing to say
        else:
            dropped = ", ".join(f"{n.upper()}={N}" for n in others)
            assert src.notes == [f"{path.name}: {len(others)} extra axis/axes ({dropped}): "
                                 "using the first plane only"]


@pytest.mark.parametrize(("names", "shape", "note"), [
    (["band", "y", "x"], (H, W, 3), None),  # rioxarray's colour axis
    (["channel", "rows", "cols"], (H, W, 3), None),
    (["angle", "y", "x"], (H, W), "1 extra axis/axes (angle=3): using the first plane only"),
    # names that do not say which axes are y, x: the rule for unnamed axes
    (["a", "b", "c2"], (H, W), "1 extra axis/axes (Q=3): using the first plane only (axes not "
                               "named in the file: the last two are y, x)"),
])
def test_zarr_axis_names_by_meaning(tmp_path, rng, names, shape, note):
    data = rng.integers(0, 255, (N, H, W)).astype(np.uint8)
    zarr.create_array(tmp_path / "n.zarr", shape=data.shape, dtype="u1", dimension_names=names,
                      zarr_format=3)[:] = data
    with open_image(tmp_path / "n.zarr") as src:
        assert src.shape == shape
        want = np.moveaxis(data, 0, -1) if len(shape) == 3 else data[0]
        np.testing.assert_array_equal(src.read_region(0, 0, H, W), want)
        assert src.notes == ([] if note is None else [f"n.zarr: {note}"])
