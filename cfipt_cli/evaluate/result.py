"""What one evaluation found, and its JSON report (the schema every report format reads).

Also the warnings of an evaluation (`warn`): each is logged and kept for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfipt_cli import __version__
from cfipt_cli.evaluate.metrics import AccuracyMetrics
from cfipt_cli.evaluate.report_schema import REPORT_FORMAT
from cfipt_cli.io.files import utc_now
from cfipt_cli.log import get_logger

LOG = get_logger(__name__)

FORMAT_VERSION = 1


def warn(notes: list[str], message: str) -> None:
    """Log a warning and keep it for the report."""
    notes.append(message)
    LOG.warning(message)


def finite(value: float | None) -> float | None:
    """A figure for JSON: None where it is undefined (NaN)."""
    return None if value is None or math.isnan(value) else float(value)


@dataclass(frozen=True)
class MatchedClass:
    """A class of the evaluation: its id in the report and its pixel value in each map (None: absent)."""

    id: int
    name: str
    reference_value: int | None
    map_value: int | None


@dataclass
class EvaluationResult:
    """What `evaluate_map` found: matched classes, metrics and the warnings raised on the way."""

    map_path: Path
    reference_path: Path
    reference_kind: str
    reference_field: str | None
    class_matching: str
    classes: list[MatchedClass]
    metrics: AccuracyMetrics
    reference_without_prediction: int
    warnings: list[str] = field(default_factory=list)
    reference_mat_key: str | None = None
    area_estimates: dict[str, Any] | None = None  # `area_evaluation.area_section`, for a designed sample

    def class_entries(self) -> list[dict[str, Any]]:
        """Per class: its ids, pixel counts and figures, in report order."""
        m = self.metrics
        return [
            {
                "id": c.id,
                "name": c.name,
                "reference_value": c.reference_value,
                "map_value": c.map_value,
                "reference_pixels": int(m.reference_pixels[i]),
                "predicted_pixels": int(m.predicted_pixels[i]),
                "correct": int(m.correct[i]),
                "producer_accuracy": finite(m.producer_accuracy[i]),
                "user_accuracy": finite(m.user_accuracy[i]),
                "f1": finite(m.f1[i]),
                "in_reference": bool(m.reference_pixels[i] > 0),
                "predicted": bool(m.predicted_pixels[i] > 0),
            }
            for i, c in enumerate(self.classes)
        ]

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON types (NaN becomes null); the schema every report format reads.

        `area_estimates` is there only for a sample with a design (or --strata): other reports keep the
        keys they always had."""
        m = self.metrics
        report = {
            "format": REPORT_FORMAT,
            "format_version": FORMAT_VERSION,
            "cfipt_version": __version__,
            "created": utc_now(),
            "map": str(self.map_path),
            "reference": {
                "path": str(self.reference_path),
                "kind": self.reference_kind,
                "field": self.reference_field,
                "mat_key": self.reference_mat_key,
            },
            "class_matching": self.class_matching,
            "pixels": {
                "evaluated": m.n_pixels,
                "reference_without_prediction": self.reference_without_prediction,
            },
            "overall_accuracy": finite(m.overall_accuracy),
            "average_accuracy": finite(m.average_accuracy),
            "kappa": finite(m.kappa),
            "classes": self.class_entries(),
            "confusion_matrix": {
                "rows": "reference",
                "columns": "prediction",
                "labels": [c.id for c in self.classes],
                "matrix": m.matrix.tolist(),
            },
            "warnings": list(self.warnings),
        }
        if self.area_estimates is not None:
            report["area_estimates"] = self.area_estimates
        return report
