"""File names: nothing escapes the export folder, and every input gets its own names."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image
from reliability_helpers import all_files

from napari_axons.core.common import safe_base_name, unique_base_names

ODD_NAMES = {
    "..\\..\\evil.png": "evil",  # backslashes are legal in Linux file names
    "..png": "png",
    ".hidden.png": "hidden",
    "...dots..png": "dots.",
    " spaced  name .png": "spaced  name",
    "ünïcödé ß 🧠.png": "ünïcödé ß 🧠",
    "e\u0301cole.png": "\u00e9cole",  # NFD in, NFC out
    "new\nline\tand\x7fcontrol.png": "new_line_and_control",
    'quote"star*colon:pipe|.png': "quote_star_colon_pipe_",
    "-dash.png": "-dash",
}
TILE_NAME = re.compile(r"^[^/\\.\x00-\x1f][^/\\\x00-\x1f]*_tile_\d{4}\.png$")


@pytest.mark.parametrize("name", list(ODD_NAMES))
def test_odd_input_names_stay_inside(tmp_path, picture, cli, name):
    inputs = tmp_path / "in"
    inputs.mkdir()
    src = inputs / name
    Image.fromarray(picture(40, 40)).save(src, format="PNG")
    out = tmp_path / "nested" / "out"
    before = set(all_files(tmp_path))
    run = cli("tile", src, "-o", out,
              "--tile-size", "32", "--model", "otsu")
    assert run.code == 0, run.err
    created = set(all_files(tmp_path)) - before
    assert created and all(p.startswith("nested/out/") for p in created), created
    base = ODD_NAMES[name]
    assert safe_base_name(src) == base
    tiles = sorted(p.name for p in out.glob("*.png"))
    assert tiles == [f"{base}_tile_{k:04d}.png" for k in range(4)]
    assert all(TILE_NAME.match(t) for t in tiles), tiles
    assert sorted(p.name for p in (out / "masks").iterdir()) == [
        f"{base}_tile_{k:04d}_mask.png" for k in range(4)]
    doc = json.loads((out / f"{base}_tile_0000__labels.json").read_text(encoding="utf-8"))
    assert doc["image_filename"] == f"{base}_tile_0000.png"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["images"][0]["base"] == base
    assert manifest["images"][0]["source"]["name"] == name


def test_relative_parent_path_input(tmp_path, picture, cli, monkeypatch):
    (tmp_path / "work").mkdir()
    Image.fromarray(picture(40, 40)).save(tmp_path / "x.png")
    monkeypatch.chdir(tmp_path / "work")
    assert cli("tile", "../x.png", "-o", "out", "--tile-size", "32").code == 0
    assert all_files(tmp_path / "work") == ["out/manifest.json"] + [
        f"out/x_tile_{k:04d}.png" for k in range(4)]


def test_same_base_names_get_distinct_names(tmp_path, picture, cli):
    paths = []
    for folder, name in [("a", "x.png"), ("b", "x.png"), ("c", "X.png"), ("d", "x-2.png")]:
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / name)
        Image.fromarray(picture(32, 32)).save(paths[-1])
    expected = ["x", "x-2", "X-3", "x-2-2"]  # case-insensitive, in input order, never reused
    assert unique_base_names(paths) == expected
    out = tmp_path / "out"
    assert cli("tile", *paths, "-o", out, "--tile-size", "32").code == 0
    assert all_files(out) == sorted(["manifest.json"] + [f"{b}_tile_0000.png" for b in expected])
    manifest = json.loads((out / "manifest.json").read_text())
    assert [img["base"] for img in manifest["images"]] == expected
    assert [img["source"]["path"] for img in manifest["images"]] == [str(p) for p in paths]


def test_unique_base_names_rule():
    names = unique_base_names(["a/x.png", "b/x.png", "c/x.tif", "y.png"])
    assert names == ["x", "x-2", "x-3", "y"]
    assert unique_base_names(["x-2.png", "x.png", "x.png"]) == ["x-2", "x", "x-3"]
    assert unique_base_names([".png", "..", "/"]) == ["png", "image", "image-2"]


@pytest.mark.parametrize("evil", ["../victim.txt", "sub/../../victim.txt", "/tmp/../victim.txt",
                                  "link/victim.txt"])
def test_manifest_paths_cannot_reach_outside(tmp_path, picture, cli, evil):
    """--overwrite deletes the files an old manifest lists, but never outside the folder."""
    src = tmp_path / "x.png"
    Image.fromarray(picture(32, 32)).save(src)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    assert cli("tile", src, "-o", out, "--tile-size", "32").code == 0  # a valid manifest ...
    (out / "link").symlink_to(tmp_path, target_is_directory=True)
    if evil.startswith("/tmp"):
        evil = str(tmp_path / "out" / ".." / "victim.txt")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["images"][0]["tiles"][0]["files"]["tile"] = evil  # ... naming a file outside
    (out / "manifest.json").write_text(json.dumps(manifest))
    run = cli("tile", src, "-o", out, "--tile-size", "32", "--overwrite")
    assert run.code == 1
    line = run.one_error(f"{out}: manifest file name {evil!r}")
    assert any(why in line for why in ("leaves the export folder", "is absolute",
                                       "leads outside the export folder")), line
    assert victim.read_text() == "precious"
