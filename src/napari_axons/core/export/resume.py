"""An export folder before and after a run: refuse, resume or overwrite it; the journal.

The manifest is written first with ``"status": "running"`` and every finished
tile is appended to a journal (:data:`JOURNAL_NAME`). ``--resume`` skips the
journalled tiles whose files exist (all the listed tiles of a complete export),
after checking that the folder holds an export of the same images, options and
model; ``--overwrite`` deletes the files the previous export listed (never any
other file). Temporary files a killed run left (``.napari-axons-tmp-*``, only
napari-axons makes them) are removed before and after a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from ..common import TMP_PREFIX, ExportError, safe_child
from .files import MANIFEST_NAME, ExportLayout
from .manifest import Manifest, load_manifest

__all__ = ["JOURNAL_NAME", "check_folder", "refuse_occupied", "journalled", "remove_stale", "append_journal",
           "remove_temp_files"]

JOURNAL_NAME = ".napari-axons-journal.jsonl"


def check_folder(layout: ExportLayout, new_manifest: Callable[[], Manifest], *, resume: bool,
                 overwrite: bool, has_segmenter: bool,
                 refresh: bool = False) -> set[tuple[str, int]]:
    """Refuse, resume or overwrite ``layout``'s folder; the ``(base, index)`` of tiles already done.

    ``new_manifest()`` gives the manifest the run would write (compared on resume).
    ``refresh`` (with ``resume``): an export of the same images and grid written with
    other options or image metadata is written again whole, in place (no tile is done).

    Raises
    ------
    ExportError
        A folder that is not empty (without ``resume``/``overwrite``), nothing to
        resume, or an export of other inputs, options or model.
    """
    out = layout.out
    existing = _existing(out)
    old = load_manifest(layout.manifest) if layout.manifest.exists() else None
    if resume:
        if old is None:
            if existing:
                raise ExportError(f"{out}: nothing to resume (no manifest.json), folder not empty")
            return set()
        if refresh:
            return set()
        new = new_manifest()
        # the same images (wherever they lie now) and grid; tile lists may differ: tiles are added
        differ = [key for key, a, b in (
            ("options", old.options, new.options),
            ("images", [i.same_image_and_grid() for i in old.images],
             [i.same_image_and_grid() for i in new.images])) if a != b]
        if differ:
            raise ExportError(
                f"{out}: cannot resume: the existing export used other inputs or options "
                f"({differ[0]} differ); use --overwrite to replace it"
            )
        if _mask_hashes(old) != _mask_hashes(new):  # by content: a renamed mask is the same
            raise ExportError(f"{out}: cannot resume: the existing export's labels came from "
                              "other masks; use --overwrite to replace it")
        old_weights = (old.segmenter or {}).get("weights_sha256")
        if has_segmenter and old_weights != (new.segmenter or {}).get("weights_sha256"):
            raise ExportError(f"{out}: cannot resume: the existing export used another model")
        if old.status == "complete":
            return {(img.base, t.index) for img in old.images for t in img.tiles}
        return journalled(layout)
    if not overwrite:
        refuse_occupied(out)
    if old is not None and overwrite:
        remove_stale(layout, old)
    return set()


def _mask_hashes(manifest: Manifest) -> list | None:
    """The SHA-256 of each mask an export's labels were cut from (``tile --masks``), else None."""
    masks = (manifest.segmenter or {}).get("masks")
    if not isinstance(masks, list):
        return None
    return sorted(str(m.get("sha256")) if isinstance(m, dict) else "" for m in masks)


def _existing(out: Path) -> list[Path]:
    if not out.is_dir():
        return []
    return [p for p in out.iterdir() if not p.name.startswith(".napari-axons")]


def refuse_occupied(out: str | os.PathLike) -> None:
    """Refuse a new export into a folder that is not empty (checked before a model loads).

    Raises
    ------
    ExportError
        ``out`` holds an export or other files: ``--resume`` or ``--overwrite`` say what to do.
    """
    out = Path(out)
    if _existing(out):
        what = "already holds an export" if (out / MANIFEST_NAME).exists() else "is not empty"
        raise ExportError(
            f"{out}: {what}; use --resume to continue it or --overwrite to replace it"
        )


def journalled(layout: ExportLayout) -> set[tuple[str, int]]:
    """The ``(base, index)`` of the tiles the journal lists whose files all exist."""
    done = set()
    journal = layout.out / JOURNAL_NAME
    if not journal.exists():
        return done
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the interruption
        files = rec.get("files", [])
        if all(safe_child(layout.out, f, what="journal file").exists() for f in files):
            done.add((rec["base"], rec["index"]))
    return done


def remove_stale(layout: ExportLayout, old: Manifest) -> None:
    """With --overwrite: delete the files the previous export listed (never others)."""
    for img in old.images:
        for tile in img.tiles:
            for rel in tile.files.values():
                target = safe_child(layout.out, rel, what="manifest file")
                if target.is_file():
                    target.unlink()
    (layout.out / JOURNAL_NAME).unlink(missing_ok=True)


def append_journal(journal, journal_path: Path, base: str, index: int, files: list[str]) -> None:
    """Record one finished tile (flushed at once, so an interruption loses at most a line).

    Raises
    ------
    ExportError
        The journal cannot be written.
    """
    try:
        journal.write(json.dumps({"base": base, "index": index, "files": files}) + "\n")
        journal.flush()
    except OSError as exc:
        raise ExportError(f"{journal_path}: cannot write ({exc.strerror or exc})") from exc


def remove_temp_files(layout: ExportLayout) -> None:
    """Delete ``.napari-axons-tmp-*`` files a killed run left (only napari-axons makes them)."""
    for folder in (layout.out, layout.masks):
        if folder.is_dir():
            for stale in folder.glob(TMP_PREFIX + "*"):
                if stale.is_file():
                    stale.unlink(missing_ok=True)
