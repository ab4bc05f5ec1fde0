"""The headless session: one image, its grid, selection, tile statuses, mask store and hand edits.

The napari dock widget is a view of a :class:`Session`; scripts drive it without Qt.
"""

from .classmerge import merge_classes
from .edits import EditRecord
from .exporting import REFRESH, ExportCounts
from .foreign import LoadSummary
from .loading import LoadableExport
from .maskstore import MaskStore, ZarrMaskReader
from .persist import SESSION_FORMAT
from .rules import HAS_MASK, EditsInTheWay, ExportWouldReplace, SessionError, protected_by_later
from .session import Session

__all__ = ["Session", "SessionError", "EditsInTheWay", "ExportWouldReplace", "HAS_MASK",
           "protected_by_later", "LoadSummary", "MaskStore", "ZarrMaskReader", "EditRecord",
           "SESSION_FORMAT", "REFRESH", "ExportCounts", "LoadableExport", "merge_classes"]
