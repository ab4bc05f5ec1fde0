"""Reading a JSON document field by field, failing with one line that names the file and the field.

Used by the export contract (the manifest) so that a malformed document gives
``out/manifest.json: images[0].tiles[3].box.width: expected an int``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["JsonDoc", "kind_of"]


class JsonDoc:
    """Reads one JSON document, failing with the file and the field's path."""

    def __init__(self, file: str, error: type[Exception] = ValueError):
        self.file = file
        self.error = error

    def fail(self, where: str, what: str):
        """Raise ``error("FILE: WHERE: WHAT")``."""
        raise self.error(f"{self.file}: {where}: {what}")

    def obj(self, value, where: str) -> Mapping:
        if not isinstance(value, Mapping):
            self.fail(where, f"expected an object, got {kind_of(value)}")
        return value

    def get(self, d: Mapping, key: str, where: str, kind: str, *, optional=False, default=None):
        path = f"{where}.{key}" if where else key
        if key not in d or (optional and d[key] is None):
            if optional:
                return default
            self.fail(path, "missing")
        return self.check(d[key], path, kind)

    def check(self, value, path: str, kind: str):
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                self.fail(path, f"expected an int, got {kind_of(value)}")
            return value
        if kind == "factor":  # a positive number, an int when it is one
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                self.fail(path, f"expected a positive number, got {kind_of(value)}")
            return int(value) if float(value).is_integer() else float(value)
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(path, f"expected a number, got {kind_of(value)}")
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                self.fail(path, f"expected a string, got {kind_of(value)}")
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                self.fail(path, f"expected true or false, got {kind_of(value)}")
            return value
        if kind == "list":
            if not isinstance(value, list):
                self.fail(path, f"expected a list, got {kind_of(value)}")
            return value
        if kind == "object":
            return self.obj(value, path)
        if kind == "str?":
            return None if value is None else self.check(value, path, "str")
        raise AssertionError(kind)  # pragma: no cover


def kind_of(value) -> str:
    """What ``value`` is, in words (``an int``, ``null``, ...)."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an int", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
