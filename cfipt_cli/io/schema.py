"""Checks of the JSON documents cfipt reads back (scene.json, model.json), key by key.

`Document` wraps the parsed object with the file it came from: each accessor returns the value when it
has the expected type (and length, range), and otherwise raises the document's error class with one
line naming the file, the key, what was expected and what to do. Used at open (`Scene.open`,
`modelio.read_model_info`), so that a damaged or edited file fails before any work instead of with a
KeyError in the middle of a run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cfipt_cli.errors import CfiptError, DataError


class Document:
    """A JSON object read from `path`; `fix` says what to do about a bad key."""

    def __init__(
        self,
        data: dict[str, Any],
        path: Path,
        fix: str,
        prefix: str = "",
        error: type[CfiptError] = DataError,
    ):
        self.data, self.path, self.fix, self.prefix, self.error_class = data, path, fix, prefix, error

    def error(self, key: str, expected: str, missing: bool = False) -> CfiptError:
        """The one-line error for `key` (relative to this document's prefix)."""
        state = "is missing" if missing else "is wrong"
        return self.error_class(
            f"{self.path}: '{self.prefix}{key}' {state} (expected {expected}); {self.fix}"
        )

    def _get(self, key: str, expected: str) -> Any:
        if key not in self.data:
            raise self.error(key, expected, missing=True)
        return self.data[key]

    def integer(self, key: str, low: int | None = None) -> int:
        expected = "an integer" + (f" >= {low}" if low is not None else "")
        value = self._get(key, expected)
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
            raise self.error(key, expected)
        return value

    def string(self, key: str) -> str:
        value = self._get(key, "a string")
        if not isinstance(value, str) or not value:
            raise self.error(key, "a non-empty string")
        return value

    def numbers(self, key: str, length: int | None = None) -> list[float]:
        expected = "a list of finite numbers" + (f" with {length} entries" if length is not None else "")
        value = self._get(key, expected)
        if (
            not isinstance(value, list)
            or (length is not None and len(value) != length)
            or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
        ):
            raise self.error(key, expected)
        return value

    def items(self, key: str, kind: type, low: int = 0) -> list[Any]:
        expected = f"a list of at least {low} {kind.__name__} entries"
        value = self._get(key, expected)
        if not isinstance(value, list) or len(value) < low or not all(isinstance(v, kind) for v in value):
            raise self.error(key, expected)
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, "an object")
        if not isinstance(value, dict):
            raise self.error(key, "an object")
        return value

    def class_table(self, key: str, required: bool = True) -> list[dict[str, Any]]:
        """The class table under `key`: a list of objects whose `id` is an integer in 1..65535 and whose
        `name` is a non-empty string (a number such as 5 is not a name), neither repeated (`ClassTable`).
        An absent key is an empty table unless `required`."""
        from cfipt_cli.io.classes import MAX_CLASS_ID, ClassInfo, ClassTable, default_colour

        expected = "a list of classes {id, name, ...}"
        if key not in self.data and not required:
            return []
        entries = self._get(key, expected)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.error(key, expected)
        for i, entry in enumerate(entries):
            class_id, name = entry.get("id"), entry.get("name")
            if (
                isinstance(class_id, bool)
                or not isinstance(class_id, int)
                or not 1 <= class_id <= MAX_CLASS_ID
            ):
                raise self.error(
                    f"{key}[{i}].id", f"an integer in 1..{MAX_CLASS_ID}, not {class_id!r}", "id" not in entry
                )
            if not isinstance(name, str) or not name.strip():
                raise self.error(f"{key}[{i}].name", f"a non-empty string, not {name!r}", "name" not in entry)
        try:
            ClassTable(ClassInfo(e["id"], e["name"], default_colour(e["id"])) for e in entries)
        except (CfiptError, ValueError) as exc:
            raise self.error(key, f"a valid class table ({exc})") from exc
        return entries

    def sub(self, key: str) -> Document:
        """The object under `key` as a Document (same file, error class and advice)."""
        return Document(self.mapping(key), self.path, self.fix, f"{self.prefix}{key}.", self.error_class)
