"""The record of a suggestions file: the contract between `cfipt suggest` and `cfipt prepare`.

`cfipt suggest ... --out suggestions.gpkg` writes, beside the points, `suggestions.gpkg.suggest.json`
(format "cfipt-suggestions"). Its key "label_field" names the empty field the user fills in; the other
fields of the points are the model's own view (`map_class`: its predicted class name, `map_class_id`,
`probability`, `uncertainty`). Reading the points with another class field than the recorded one would
train on the model's guesses, so `prepare` checks the field against `recorded_label_field`.
"""

from __future__ import annotations

import json
from pathlib import Path

from cfipt_cli.io.output_kinds import SUGGESTIONS_FORMAT, SUGGESTIONS_SUFFIX

LAYER = "suggestions"  # the layer of the points
# The fields of a suggestions file holding the model's predictions, not labels.
PREDICTION_FIELDS = ("map_class", "map_class_id", "probability", "uncertainty")
# Every field suggest fills itself (the label field the user fills in comes on top).
POINT_FIELDS = ("rank", *PREDICTION_FIELDS, "row", "col")


def suggestions_record_path(points: str | Path) -> Path:
    """Where `cfipt suggest` puts the record of a points file: `<points>.suggest.json`."""
    path = Path(points)
    return path.with_name(path.name + SUGGESTIONS_SUFFIX)


def recorded_label_field(points: str | Path) -> str | None:
    """The label field recorded for a points file of `cfipt suggest`; None when it has no such record.

    A file beside the points that cannot be read as a record of this format counts as no record: the
    points are then an ordinary vector layer (any field may be read), as before `suggest` existed.
    """
    record = suggestions_record_path(points)
    if not record.is_file():
        return None
    try:
        document = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(document, dict) or document.get("format") != SUGGESTIONS_FORMAT:
        return None
    field = document.get("label_field")
    return field if isinstance(field, str) and field.strip() else None
