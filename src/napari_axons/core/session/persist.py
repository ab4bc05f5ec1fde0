"""Save a session to a folder and reopen it.

A saved session is a folder::

    session.json        image path + fingerprint, class table, grid, statuses per grid
    masks-{f}.zarr      the mask store of downsample factor f (every level)
    edits.zarr          the hand edits, in full-resolution pixels
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

from ..common import ClassTable
from .edits import EditRecord
from .maskstore import MaskStore
from .rules import SessionError

__all__ = ["Persisting", "SESSION_FORMAT"]

SESSION_FORMAT = "napari-axons-session/1"


class Persisting:
    """:class:`~.session.Session`'s :meth:`save` and :meth:`load` (a mixin)."""

    def save(self, folder) -> Path:
        """Save the session to a new (or empty) folder: masks, edits, statuses, grid, classes.

        Raises
        ------
        SessionError
            ``folder`` exists and is not empty.
        """
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise SessionError(f"{folder}: is not empty; save a session into a new folder")
        folder.mkdir(parents=True, exist_ok=True)
        statuses = dict(self._status_by_grid)
        statuses[self.grid_key] = self.status
        for factor, store in self._stores.items():
            store.save(folder / f"masks-{factor}.zarr")
        self.edits.save(folder / "edits.zarr")
        doc = {
            "format": SESSION_FORMAT,
            "image": {"path": str(self.path.resolve()), "hash": self.source_hash},
            "classes": self.classes.to_json(),
            "grid": dict(zip(("tile_size", "overlap", "downsample"), self.grid_key, strict=True)),
            "stores": sorted(self._stores),
            "statuses": [{"tile_size": k[0], "overlap": k[1], "downsample": k[2],
                          "status": {str(i): s for i, s in sorted(st.items())}}
                         for k, st in statuses.items() if st],
        }
        (folder / "session.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return folder


    @classmethod
    def load(cls, folder, *, path=None, array=None, cache_dir=None) -> Self:
        """Reopen a saved session (its image at ``path``, default: where it was; or ``array``).

        Raises
        ------
        SessionError
            Not a saved self, or the image is not the one it was made on.
        """
        folder = Path(folder)
        meta = folder / "session.json"
        try:
            doc = json.loads(meta.read_text(encoding="utf-8"))
            if doc.get("format") != SESSION_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            image, grid = doc["image"], doc["grid"]
            classes = ClassTable.from_json(doc["classes"], where=str(meta))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SessionError(f"{meta}: not a saved napari-axons session ({exc})") from None
        kwargs = {"cache_dir": cache_dir, "classes": classes, "tile_size": grid["tile_size"],
                  "overlap": grid["overlap"], "downsample": grid["downsample"]}
        if array is not None:
            session = cls.from_array(array, Path(path or image["path"]).name, **kwargs)
        else:
            session = cls(path or image["path"], **kwargs)
        if session.source_hash != image["hash"]:
            session.close()
            raise SessionError(f"{folder}: saved for another image (or {Path(image['path']).name} "
                               "changed since)")
        session.edits.close()
        session.edits = EditRecord(session.source.height, session.source.width, root=cache_dir,
                                   copy_from=folder / "edits.zarr")
        for store in session._stores.values():
            store.close()
        session._stores = {}
        for factor in doc.get("stores", []):
            h, w = session.source.height // factor, session.source.width // factor
            session._stores[factor] = MaskStore(h, w, root=cache_dir, min_side=session.overview_min_side,
                                                copy_from=folder / f"masks-{factor}.zarr")
        for entry in doc.get("statuses", []):
            key = (entry["tile_size"], entry["overlap"], entry["downsample"])
            session._status_by_grid[key] = {int(i): s for i, s in entry["status"].items()}
        session.grid = None  # re-enter the saved grid: statuses and the store come back
        session.working = None
        session.set_grid(grid["tile_size"], grid["overlap"], grid["downsample"])
        return session
