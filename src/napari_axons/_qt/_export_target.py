"""Where the widget's export runs: local threads, a local dask cluster, or a scheduler.

The "Export on" controls of the dock widget. With a cluster, the export goes
through :func:`napari_axons.core.export.cluster.run_distributed`: the widget first
writes its edit window into the mask store, then copies the store's chunks
under the exported tiles into a snapshot inside the export folder (workers read
it by path, through :class:`~napari_axons.core.session.maskstore.ZarrMaskReader`; they
must see the export folder and the image under the same paths anyway). The
export reads that snapshot, the store as it was when Export was pressed, so
the user can keep selecting tiles and painting while it runs; tiles edited
meanwhile stay "edited" (their export holds the earlier mask).
"""

from __future__ import annotations

import os

from magicgui.widgets import ComboBox, LineEdit, SpinBox

__all__ = ["ExportTarget", "THREADS", "LOCAL_CLUSTER", "SCHEDULER"]

THREADS = "this computer (threads)"
LOCAL_CLUSTER = "local dask cluster"
SCHEDULER = "dask scheduler"


class ExportTarget:
    """The "Export on" choice and its options (a workers count, a scheduler address).

    Attributes
    ----------
    choice : ComboBox
        :data:`THREADS` (default), :data:`LOCAL_CLUSTER` or :data:`SCHEDULER`.
    workers : SpinBox
        Worker processes of a local cluster.
    address : LineEdit
        A scheduler address, e.g. ``tcp://10.0.0.5:8786``.
    """

    def __init__(self):
        self.choice = ComboBox(label="Export on", choices=[THREADS, LOCAL_CLUSTER, SCHEDULER],
                               value=THREADS,
                               tooltip="A cluster export runs while you keep working")
        self.workers = SpinBox(label="Workers", value=min(2, os.cpu_count() or 1), min=1,
                               max=256, tooltip="Worker processes of the local dask cluster")
        self.address = LineEdit(label="Scheduler", value="",
                                tooltip="Address of a running dask scheduler, e.g. "
                                        "tcp://10.0.0.5:8786; its workers must see the image "
                                        "and the export folder under the same paths")
        self.choice.changed.connect(self._update)
        self._update()

    @property
    def widgets(self) -> list:
        return [self.choice, self.workers, self.address]

    def _update(self, _=None) -> None:
        self.workers.visible = self.choice.value == LOCAL_CLUSTER
        self.address.visible = self.choice.value == SCHEDULER

    @property
    def on_cluster(self) -> bool:
        """True when the export runs on dask (in the background)."""
        return self.choice.value != THREADS

    def where(self) -> dict:
        """Keyword arguments for ``run_export``: ``{}``, ``{"workers": n}`` or ``{"scheduler": a}``.

        Raises
        ------
        ValueError
            The scheduler choice without an address.
        """
        if self.choice.value == LOCAL_CLUSTER:
            return {"workers": int(self.workers.value)}
        if self.choice.value == SCHEDULER:
            address = self.address.value.strip()
            if not address:
                raise ValueError("enter the dask scheduler's address (e.g. tcp://10.0.0.5:8786)")
            return {"scheduler": address}
        return {}

    def set_enabled(self, enabled: bool) -> None:
        for w in self.widgets:
            w.enabled = enabled
