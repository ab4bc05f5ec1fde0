"""The widget's status line and progress: wrapped text that never widens the dock, n of N, tiles/s.

A QLabel sizes itself to its text: each long message used to widen the dock for
good (the canvas shrank and click targets moved). :func:`keep_narrow` makes the
label wrap instead, and ignore its text's width. Progress of a running job
shows in the widget itself (not only in napari's collapsed activity panel):
:func:`progress_text` while it runs, :func:`outcome_text` when it ends.
"""

from __future__ import annotations

__all__ = ["keep_narrow", "progress_text", "outcome_text", "short", "MAX_SHOWN", "tile_names"]

#: Longer messages are cut in the status line (the tooltip and napari's notification hold all).
MAX_SHOWN = 200


def keep_narrow(*labels) -> None:
    """Make magicgui Labels wrap their text and never ask for more width."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QSizePolicy

    for label in labels:
        native = label.native
        native.setWordWrap(True)
        native.setMinimumWidth(0)
        native.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        policy = native.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        native.setSizePolicy(policy)


def short(text: str) -> str:
    """``text`` cut to :data:`MAX_SHOWN` characters."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def progress_text(desc: str, done: int, total: int, seconds: float, unit: str = "tiles") -> str:
    """``"Segmenting: 37 of 120 tiles, 12.3 tiles/s"`` (no rate before the first tile)."""
    text = f"{desc}: {done} of {total} {unit}"
    if done and seconds > 0:
        rate = done / seconds
        text += f", {rate:.1f} {unit}/s" if rate < 100 else f", {rate:.0f} {unit}/s"
    return text


def outcome_text(desc: str, outcome: str, done: int, total: int, unit: str = "tiles") -> str:
    """What a job did, with its count: ``"Segmenting: cancelled after 37 of 120 tiles (...)"``."""
    if outcome == "cancelled":
        kept = ("nothing was written" if desc.startswith("Writing ") else
                "the masks loaded are kept" if desc.startswith("Loading ") else
                "no fibres were measured" if desc.startswith("Measuring ") else
                {"Exporting": "the files written are kept; Export again resumes"}.get(
                    desc, f"the {done} tile(s) done are kept"))
        return f"{desc}: cancelled after {done} of {total} {unit} ({kept})"
    if outcome == "failed":  # before any item: nothing was done, not "a partial run"
        return f"{desc}: failed" if not done else f"{desc}: failed after {done} of {total} {unit}"
    return f"{desc}: done, {done} of {total} {unit}"


def tile_names(indices, most: int = 10) -> str:
    """``"0, 3, 7"``; past ``most`` tiles, ``" ..."``."""
    indices = list(indices)
    return ", ".join(map(str, indices[:most])) + (" ..." if len(indices) > most else "")
