"""``napari-axons view``: napari with the napari-axons widget docked (the ``napari`` extra)."""

from __future__ import annotations

from .parser import CliError, add_command

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    view = add_command(
        sub, "view", run, help="open napari with the napari-axons widget",
        description="Open napari with the napari-axons widget docked, and IMAGE (if given) "
                    "through the plugin's lazy reader.")
    view.add_argument("image", nargs="?", metavar="IMAGE")


def run(args) -> int:
    try:
        import napari
    except ImportError as exc:
        raise CliError("napari is not installed: pip install 'napari-axons[napari]'") from exc
    viewer = napari.Viewer()
    viewer.window.add_plugin_dock_widget("napari-axons")
    if args.image:
        viewer.open(args.image, plugin="napari-axons")
    napari.run()
    return 0
