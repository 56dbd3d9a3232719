"""Class matching: which class of the reference is which class of the map, and the confusion matrix.

Classes are matched by name through the class tables of both sides (ignoring case and runs of blanks),
or by id when either side has no names. A value seen in the data but missing from its table is
reported as '<side> value N', never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeGuard

import numpy as np

from cfipt_cli.errors import DataError
from cfipt_cli.evaluate.result import MatchedClass, warn
from cfipt_cli.io.classes import ClassInfo, ClassTable, default_colour, name_key
from cfipt_cli.log import get_logger

LOG = get_logger(__name__)


def _complete(table: ClassTable, values: set[int], side: str, notes: list[str]) -> ClassTable:
    """Add the values found in the data but missing from the table, named '<side> value N'."""
    missing = sorted(values - set(table.ids))
    if not missing:
        return table
    warn(notes, f"{side} values {missing} have no class name; reported as '{side} value N'")
    extra = [ClassInfo(v, f"{side} value {v}", default_colour(v)) for v in missing]
    return ClassTable([*table, *extra])


def _keyed(table: ClassTable, side: str) -> dict[str, ClassInfo]:
    keyed: dict[str, ClassInfo] = {}
    for c in table:
        if name_key(c.name) in keyed:
            raise DataError(f"the {side} class table has two classes named like {c.name!r}")
        keyed[name_key(c.name)] = c
    return keyed


def _match_by_name(
    ref_table: ClassTable, map_table: ClassTable, ref_values: set[int], map_values: set[int], notes: list[str]
) -> list[MatchedClass]:
    ref_t = _complete(ref_table, ref_values, "reference", notes)
    map_t = _complete(map_table, map_values, "map", notes)
    map_by_key = _keyed(map_t, "map")
    _keyed(ref_t, "reference")
    classes = []
    for c in ref_t:
        hit = map_by_key.pop(name_key(c.name), None)
        classes.append(MatchedClass(c.id, c.name, c.id, hit.id if hit else None))
    if not any(c.map_value is not None for c in classes):
        raise DataError(
            f"no class name of the map ({', '.join(map_t.names)}) is in the reference "
            f"({', '.join(ref_t.names)}); check the class tables"
        )
    used = {c.id for c in classes}
    next_id = max(used | set(map_t.ids)) + 1
    for c in sorted(map_by_key.values(), key=lambda info: info.id):
        uid = c.id
        if uid in used:  # the map's id is taken by another reference class: give it a fresh one
            uid, next_id = next_id, next_id + 1
        used.add(uid)
        classes.append(MatchedClass(uid, c.name, None, c.id))
    unmatched = [c.name for c in classes if c.reference_value is None]
    if unmatched:
        LOG.info("map classes not in the reference's table (absent from reference): %s", ", ".join(unmatched))
    return sorted(classes, key=lambda c: c.id)


def _match_by_id(
    ref_table: ClassTable | None, map_table: ClassTable | None, ref_values: set[int], map_values: set[int]
) -> list[MatchedClass]:
    ids = set(ref_values) | set(map_values)
    names: dict[int, str] = {}
    for table in (map_table, ref_table):  # the reference's names win
        if table is not None:
            ids |= set(table.ids)
            names.update({c.id: c.name for c in table})
    return [MatchedClass(i, names.get(i, f"class {i}"), i, i) for i in sorted(ids)]


def _has_names(table: ClassTable | None) -> TypeGuard[ClassTable]:
    """True when the table names its classes (not only the placeholders 'class <id>')."""
    return table is not None and any(c.name != f"class {c.id}" for c in table)


def match_classes(
    ref_table: ClassTable | None,
    map_table: ClassTable | None,
    ref_values: set[int],
    map_values: set[int],
    notes: list[str],
) -> tuple[list[MatchedClass], str]:
    """Match the classes of reference and map by name, or by id when either side has no names.

    Args:
        ref_table: the reference's class table (None: ids only).
        map_table: the map's class table (None: ids only).
        ref_values: pixel values seen in the reference (evaluated pixels).
        map_values: pixel values seen in the map (evaluated pixels).
        notes: warnings are appended here (and logged).

    Returns:
        The classes sorted by report id, and "name" or "id".
    """
    if _has_names(ref_table) and _has_names(map_table):
        return _match_by_name(ref_table, map_table, ref_values, map_values, notes), "name"
    side = "the map" if not _has_names(map_table) else "the reference"
    warn(notes, f"{side} has no class names; classes are matched by id")
    return _match_by_id(ref_table, map_table, ref_values, map_values), "id"


def confusion_from_pairs(classes: list[MatchedClass], pairs: Mapping[tuple[int, int], int]) -> np.ndarray:
    """The confusion matrix (rows: reference, columns: map, in the order of `classes`) of pair counts."""
    rows = {c.reference_value: i for i, c in enumerate(classes) if c.reference_value is not None}
    cols = {c.map_value: i for i, c in enumerate(classes) if c.map_value is not None}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for (ref_value, map_value), n in pairs.items():
        matrix[rows[ref_value], cols[map_value]] += n
    return matrix
