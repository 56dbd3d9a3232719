"""`cfipt evaluate`: accuracy of a classification map against a reference, and summaries over runs.

The reference (`EvaluationRequest`) is a prepared scene folder (its test labels), a label raster, a
vector file or a benchmark .mat label array. It is put on the map's grid (`references`) and read window
by window, so a scene larger than memory is evaluated in constant memory: only the counts of
(reference value, map value) pairs are kept (`pixels`). Classes are then matched by name through the
class tables of both sides, ids when either side has no names (`matching`), the confusion matrix is
built and the metrics of `metrics` follow (`result`).

`run_evaluation` and `run_summary` are what the command does: the output policy first, then the work
and the report files under the outputs' locks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfipt_cli.errors import DataError
from cfipt_cli.evaluate import reports
from cfipt_cli.evaluate.area_evaluation import area_section, may_estimate_area
from cfipt_cli.evaluate.area_reports import AREA_SUFFIXES
from cfipt_cli.evaluate.matching import confusion_from_pairs, match_classes
from cfipt_cli.evaluate.metrics import accuracy_metrics
from cfipt_cli.evaluate.pixels import count_pairs
from cfipt_cli.evaluate.references import open_reference
from cfipt_cli.evaluate.request import EvaluationRequest
from cfipt_cli.evaluate.result import EvaluationResult, warn
from cfipt_cli.evaluate.summary import summarise_runs
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.classes import ClassTable, load_class_table
from cfipt_cli.io.rasters import open_raster


def evaluate_map(request: EvaluationRequest) -> EvaluationResult:
    """Accuracy of a classification map against a reference (see `EvaluationRequest`).

    Returns:
        The matched classes, the metrics and any warnings.

    Raises:
        InputNotFoundError, DataError, CfiptUsageError: with one line saying what to do.
    """
    given = request.map_classes
    map_classes = load_class_table(given) if isinstance(given, Path) else given
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        map_source = open_raster(request.map_path, "map")
        stack.callback(map_source.close)
        map_table = map_classes or ClassTable.from_aux_xml(request.map_path)
        reference = open_reference(request, map_source.grid, map_table, notes, stack)
        map_nodata = [map_source.nodata, request.nodata]
        pairs, lost = count_pairs(map_source, map_nodata, reference.read, request.block_size)
    reference.finish(notes)
    if not pairs:
        raise DataError(
            f"no labelled pixel of {request.reference} falls on a valid pixel of {request.map_path}; "
            "nothing to evaluate"
        )
    if lost:
        warn(notes, f"{lost} labelled reference pixels are nodata in the map; left out")
    ref_values = {r for r, _ in pairs}
    map_values = {m for _, m in pairs}
    classes, mode = match_classes(reference.classes, map_table, ref_values, map_values, notes)
    metrics = accuracy_metrics(confusion_from_pairs(classes, pairs))
    area = area_section(request, map_table, classes, notes)
    return EvaluationResult(
        request.map_path,
        request.reference,
        request.kind,
        request.field,
        mode,
        classes,
        metrics,
        lost,
        notes,
        reference_mat_key=reference.mat_key,
        area_estimates=area,
    )


@dataclass(frozen=True)
class ReportOutputs:
    """Where the report goes: BASE plus one suffix per format (`--out`), the confusion-matrix picture
    (`--plot`), and whether files cfipt wrote before may be replaced (`--overwrite`)."""

    base: Path | None = None
    plot: Path | None = None
    overwrite: bool = False

    def planned(self, suffixes: Sequence[str], with_plot: bool) -> list[policy.Output]:
        """The files to write (BASE with each suffix, and the plot if `with_plot`), as the output policy
        sees them."""
        targets = reports.output_paths(self.base, suffixes) if self.base is not None else []
        items = [policy.Output(t, "--out", policy.REPORT_KINDS[t.suffix]) for t in targets]
        plot = self.plot if with_plot else None
        return items + ([policy.Output(plot, "--plot", policy.PNG)] if plot is not None else [])


def run_evaluation(request: EvaluationRequest, outputs: ReportOutputs) -> dict[str, Any]:
    """Evaluate and write the report files; returns the JSON report.

    The output policy comes before any work (no output over an input, existing outputs replaceable);
    the work and the writing happen under the outputs' locks.
    """
    suffixes = reports.REPORT_SUFFIXES + (AREA_SUFFIXES if may_estimate_area(request) else ())
    items = outputs.planned(suffixes, with_plot=True)
    inputs: list[tuple[str, str | Path]] = [("map", request.map_path), ("reference", request.reference)]
    if isinstance(request.map_classes, Path):
        inputs.append(("--classes", request.map_classes))
    if request.strata is not None:
        inputs.append(("--strata", request.strata))
    policy.check_outputs(items, inputs, outputs.overwrite)
    with policy.locked_outputs([i.path for i in items]):
        report = evaluate_map(request).to_json()
        if outputs.base is not None:
            reports.write_report_files(report, outputs.base, outputs.overwrite)
        if outputs.plot is not None:
            reports.plot_confusion(report, outputs.plot, outputs.overwrite)
    return report


def run_summary(paths: Sequence[Path], outputs: ReportOutputs) -> dict[str, Any]:
    """Summarise the runs' reports (`summarise_runs`) and write the summary files (no plot); returns the
    summary."""
    items = outputs.planned(reports.SUMMARY_SUFFIXES, with_plot=False)
    policy.check_outputs(items, [("report", p) for p in paths], outputs.overwrite)  # before any work
    with policy.locked_outputs([i.path for i in items]):
        summary = summarise_runs(paths)
        if outputs.base is not None:
            reports.write_summary_files(summary, outputs.base, outputs.overwrite)
    return summary
