"""Fields that belong to one image follow the selected image: export folder, status, pixel size.

Switching images used to leave the first image's export folder in *Export to*
(one "Yes" then replaced that image's export) and its last message in the
status line. :class:`ImageFields` keeps, per image, the folders the user chose
and the last status line, and puts them back when the image is selected again;
a new image gets a proposed export folder beside it (:func:`default_export_folder`)
and an empty status. The pixel size field always shows the session's pixel size
and where it came from, and typing one (Enter) sets it on the session.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ImageFields", "default_export_folder", "pixel_size_text", "set_pixel_size"]


def default_export_folder(session) -> Path | None:
    """``IMAGE_export`` beside the image file (a Zarr image's name without ``.zarr``); None
    for an image without a file."""
    if session is None or session.in_memory:
        return None
    path = Path(session.path)
    name = path.name
    for suffix in (".ome.zarr", ".zarr", ".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem
    return path.parent / f"{name}_export"


def pixel_size_text(pixel_size) -> str:
    """Where the pixel size came from, for the line under the field."""
    if pixel_size is None:
        return "unknown: type it (um per pixel) to record it in exports"
    size = (f"{pixel_size.x:.6g} um" if abs(pixel_size.x - pixel_size.y) < 1e-12 * pixel_size.x
            else f"{pixel_size.x:.6g} x {pixel_size.y:.6g} um")
    return f"{size}, {pixel_size.origin}"


class ImageFields:
    """Saves and restores the per-image fields of a widget's controls.

    Parameters
    ----------
    controls : Controls
    """

    FOLDERS = ("export_dir", "import_dir", "session_dir")

    def __init__(self, controls):
        self.c = controls
        self._saved: dict[str, dict] = {}
        self.key: str | None = None

    def leave(self) -> None:
        """Remember the current image's fields (call before switching images)."""
        if self.key is None:
            return
        self._saved[self.key] = {
            **{name: getattr(self.c, name).value for name in self.FOLDERS},
            "message": self.c.message.value, "tooltip": self.c.message.tooltip,
        }

    def enter(self, key: str | None, session, *, export_dir: Path | None = None) -> None:
        """Show image ``key``'s fields: as left, or proposed for a new image."""
        self.key = key
        saved = self._saved.get(key) if key is not None else None
        if saved is None:
            proposed = export_dir if export_dir is not None else default_export_folder(session)
            saved = {"export_dir": proposed, "import_dir": None, "session_dir": None,
                     "message": "", "tooltip": ""}
        for name in self.FOLDERS:
            edit = getattr(self.c, name)
            edit.value = saved[name]  # None: empty (an empty string would show the cwd)
        self.c.message.value, self.c.message.tooltip = saved["message"], saved["tooltip"]
        self.show_pixel_size(session)

    def forget(self, key: str) -> None:
        self._saved.pop(key, None)

    def show_pixel_size(self, session) -> None:
        """The session's pixel size in the field (0: unknown) and its origin under it."""
        px = None if session is None else session.pixel_size
        with self.c.pixel_size.changed.blocked():
            self.c.pixel_size.value = 0.0 if px is None else round(float(px.x), 4)
        self.c.pixel_origin.value = "" if session is None else pixel_size_text(px)


def set_pixel_size(w, value: float) -> None:
    """The user typed a pixel size (0: unknown): the session has it, the image shows in
    micrometres (layer scale and units, the overlays placed again), the status says so."""
    s = w.session
    if s is None:
        return
    s.set_pixel_size(None if value <= 0 else float(value))
    w.fields.show_pixel_size(s)
    px, layer = s.pixel_size, w.layer
    if layer is not None and px is not None:
        layer.scale = (*tuple(layer.scale[:-2]), px.y, px.x)
        layer.units = (*tuple(layer.units[:-2]), "um", "um")
        w.rebuild_grid()
        w.viewer.reset_view()
    w.say(f"pixel size of {s.path.name}: {px if px is not None else 'unknown'}; exports record it")
