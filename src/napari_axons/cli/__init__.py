"""The ``napari-axons`` command: the headless core from a shell, one module per subcommand.

``main(argv)`` is the entry point (tested in-process with ``main([...])``); each
subcommand module (:mod:`.tile`, :mod:`.sample`, :mod:`.train`, :mod:`.score`, :mod:`.view`,
:mod:`.formats`) has ``add_parser(sub)`` and its handler.
"""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
