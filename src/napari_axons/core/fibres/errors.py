"""The fibre engine's error for bad input: one line for the user."""

from __future__ import annotations

__all__ = ["FibreInputError"]


class FibreInputError(ValueError):
    """The input cannot be measured (no axon or myelin class, no pixel size, ...): one line."""
