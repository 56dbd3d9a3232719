"""The record beside a `cfipt suggest` points file: its label field, or None for any other file."""

from __future__ import annotations

import json

from cfipt_cli.contracts.suggestions import recorded_label_field, suggestions_record_path
from cfipt_cli.io.output_kinds import SUGGESTIONS_FORMAT


def test_the_recorded_label_field_of_a_suggestions_file(tmp_path):
    points = tmp_path / "suggestions.gpkg"
    record = suggestions_record_path(points)
    assert record == tmp_path / "suggestions.gpkg.suggest.json"
    assert recorded_label_field(points) is None  # no record: an ordinary vector layer
    record.write_text(
        json.dumps({"format": SUGGESTIONS_FORMAT, "format_version": 1, "label_field": "landcover"})
    )
    assert recorded_label_field(points) == "landcover"
    assert recorded_label_field(tmp_path / "other.gpkg") is None  # a record is per file


def test_a_file_that_is_no_suggestions_record_counts_as_none(tmp_path):
    points = tmp_path / "labels.gpkg"
    record = suggestions_record_path(points)
    for text in ("not json", json.dumps({"format": "cfipt-sample-design", "label_field": "class"}),
                 json.dumps({"format": SUGGESTIONS_FORMAT, "label_field": "  "}), json.dumps([1, 2])):  # fmt: skip
        record.write_text(text)
        assert recorded_label_field(points) is None, text
