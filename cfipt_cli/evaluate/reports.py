"""Report formats of `cfipt evaluate`, rendered from the JSON report (`EvaluationResult.to_json()`).

- JSON: everything, fractions in [0, 1], null where a figure is undefined.
- CSV: the confusion matrix in Orfeo ToolBox's ComputeConfusionMatrix layout: `#Reference labels
  (rows):1,2,...`, `#Produced labels (columns):1,2,...`, then one comma-separated row of counts per
  reference label. As OTB does, rows list the labels present in the reference and columns the labels
  present in the map (so the matrix is not square when a class is missing from one side).
- Markdown: the paper's table (percentages with 2 decimals, one row per class, then OA, AA, kappa ×100),
  padded so that it also reads well in a terminal.
- PNG: the row-normalised confusion matrix with class names (matplotlib, Agg backend).
- A report with area estimates (a sample with a design) also gets the sections of `area_reports`:
  appended to the Markdown, and in BASE.area.csv and BASE.area.png.

Every file is written atomically and never replaces an existing file without `overwrite`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.evaluate.area_reports import AREA_SUFFIXES, area_csv, area_markdown, plot_area
from cfipt_cli.evaluate.report_text import (
    MISSING,
    markdown_grid,
    md_cell,
    mean_std,
    one_line,
    percent,
    quote_csv,
)
from cfipt_cli.io.atomic import atomic_file, check_output
from cfipt_cli.io.mapio import png_metadata

REPORT_SUFFIXES = (".json", ".csv", ".md", ".png")
SUMMARY_SUFFIXES = (".json", ".csv", ".md")
FORMATS = ("md", "json", "csv")

Report = Mapping[str, Any]


def _class_note(entry: Mapping[str, Any]) -> str:
    if not entry["in_reference"]:
        return "absent from reference" + ("" if entry["predicted"] else ", never predicted")
    return "" if entry["predicted"] else "never predicted"


# ---------------------------------------------------------------------------------------------------
# One evaluation
# ---------------------------------------------------------------------------------------------------


def report_json(report: Report) -> str:
    """The report as indented JSON text."""
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def confusion_csv(report: Report) -> str:
    """The confusion matrix in Orfeo ToolBox's CSV layout (reference labels = rows)."""
    labels = list(report["confusion_matrix"]["labels"])
    matrix = np.asarray(report["confusion_matrix"]["matrix"], dtype=np.int64).reshape(
        len(labels), len(labels)
    )
    rows = [i for i in range(len(labels)) if matrix[i].sum() > 0]
    cols = [j for j in range(len(labels)) if matrix[:, j].sum() > 0]
    lines = [
        "#Reference labels (rows):" + ",".join(str(labels[i]) for i in rows),
        "#Produced labels (columns):" + ",".join(str(labels[j]) for j in cols),
        *(",".join(str(int(matrix[i, j])) for j in cols) for i in rows),
    ]
    return "\n".join(lines) + "\n"


def read_confusion_csv(text: str) -> tuple[list[int], list[int], np.ndarray]:
    """Parse an OTB-layout confusion matrix: (reference labels, produced labels, counts)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    ref = [int(v) for v in lines[0].split(":", 1)[1].split(",") if v]
    prod = [int(v) for v in lines[1].split(":", 1)[1].split(",") if v]
    counts = np.array([[int(v) for v in ln.split(",")] for ln in lines[2:]], dtype=np.int64)
    return ref, prod, counts.reshape(len(ref), len(prod))


def markdown_report(report: Report) -> str:
    """The paper-style accuracy table: per-class rows, then OA, AA and kappa (x 100), in percent."""
    headers = ["id", "class", "PA %", "UA %", "F1 %", "ref px", "pred px", "note"]
    rows = [
        [
            str(c["id"]),
            md_cell(c["name"]),
            percent(c["producer_accuracy"]),
            percent(c["user_accuracy"]),
            percent(c["f1"]),
            str(c["reference_pixels"]),
            str(c["predicted_pixels"]),
            _class_note(c),
        ]
        for c in report["classes"]
    ]
    n = str(report["pixels"]["evaluated"])
    blank = [""] * 3
    rows += [
        ["", "OA", percent(report["overall_accuracy"]), "", "", n, n, ""],
        ["", "AA", percent(report["average_accuracy"]), *blank, "", ""],
        ["", "Kappa ×100", percent(report["kappa"]), *blank, "", ""],
    ]
    if not any(r[-1] for r in rows):
        headers, rows = headers[:-1], [r[:-1] for r in rows]
    table = markdown_grid(headers, rows, [True, False, True, True, True, True, True, False][: len(headers)])
    ref = report["reference"]
    kind = f"{ref['kind']} {ref['mat_key']}" if ref.get("mat_key") else ref["kind"]
    title = one_line(
        f"Accuracy of {report['map']} against {ref['path']} ({kind}): "
        f"{n} pixels, classes matched by {report['class_matching']}."
    )
    legend = (
        "PA: producer's accuracy (recall), UA: user's accuracy (precision), F1: their harmonic mean;\n"
        "AA: mean PA over the classes present in the reference."
    )
    area = report.get("area_estimates")
    return f"{title}\n\n{table}\n\n{legend}\n" + ("" if area is None else "\n" + area_markdown(area))


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS ('md', 'json', 'csv')."""
    return {"md": markdown_report, "json": report_json, "csv": confusion_csv}[fmt](report)


def plot_confusion(report: Report, path: str | Path, overwrite: bool = False, dpi: int = 120) -> Path:
    """Save the row-normalised confusion matrix (percent of each reference class) as a PNG.

    Classes neither in the reference nor predicted are left out; rows of classes absent from the
    reference are grey.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = list(report["confusion_matrix"]["labels"])
    matrix = np.asarray(report["confusion_matrix"]["matrix"], dtype=np.float64).reshape(
        len(labels), len(labels)
    )
    keep = [i for i, c in enumerate(report["classes"]) if c["in_reference"] or c["predicted"]]
    names = [report["classes"][i]["name"] for i in keep]
    cm = matrix[np.ix_(keep, keep)]
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(100.0 * cm, rows, out=np.full_like(cm, np.nan), where=rows > 0)

    k = len(keep)
    side = max(4.0, 0.42 * k + 2.5)
    fig = Figure(figsize=(side + 1.6, side), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["Blues"].with_extremes(bad="#d9d9d9")
    image = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0.0, vmax=100.0)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("reference class")
    if k <= 30:  # cell values stay legible up to about 30 classes
        for (i, j), value in np.ndenumerate(share):
            if np.isfinite(value) and cm[i, j] > 0:
                colour = "white" if value > 60 else "black"
                text = f"{value:.0f}" if value >= 9.95 else f"{value:.1f}"  # small shares stay visible
                ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    for i in np.flatnonzero(rows[:, 0] == 0).tolist():  # say why a row is grey
        ax.text(
            (k - 1) / 2, i, "absent from reference", ha="center", va="center", fontsize=8, color="#555555"
        )
    kappa = report["kappa"]
    ax.set_title(
        f"{Path(str(report['map'])).name}:   OA {percent(report['overall_accuracy'])} %   AA {percent(report['average_accuracy'])} %   "
        f"kappa {MISSING if kappa is None else f'{kappa:.4f}'}",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the reference class")
    fig.tight_layout()
    with atomic_file(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", metadata=png_metadata())
    return Path(path)


def _write_text(path: Path, text: str, overwrite: bool) -> Path:
    with atomic_file(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def output_paths(base: str | Path, suffixes: Sequence[str]) -> list[Path]:
    """`report` or `report.json` -> [report.json, report.csv, ...]: one file per suffix."""
    base_path = Path(base)
    if base_path.suffix.lower() in REPORT_SUFFIXES:
        base_path = base_path.with_suffix("")
    return [base_path.with_name(base_path.name + s) for s in suffixes]


def write_report_files(report: Report, base: str | Path, overwrite: bool = False) -> list[Path]:
    """Write report.json, report.csv, report.md and report.png, and for a report with area estimates
    report.area.csv and report.area.png; none is written if one exists already."""
    paths = output_paths(base, REPORT_SUFFIXES)
    area_paths = output_paths(base, AREA_SUFFIXES) if report.get("area_estimates") is not None else []
    for p in [*paths, *area_paths]:
        check_output(p, overwrite)
    json_path, csv_path, md_path, png_path = paths
    _write_text(json_path, report_json(report), overwrite)
    _write_text(csv_path, confusion_csv(report), overwrite)
    _write_text(md_path, markdown_report(report), overwrite)
    plot_confusion(report, png_path, overwrite)
    if area_paths:
        area_csv_path, area_png_path = area_paths
        _write_text(area_csv_path, area_csv(report["area_estimates"]), overwrite)
        plot_area(report, area_png_path, overwrite)
    return [*paths, *area_paths]


# ---------------------------------------------------------------------------------------------------
# Summary over runs
# ---------------------------------------------------------------------------------------------------


def markdown_summary(summary: Report) -> str:
    """Mean ± standard deviation (percent) per class and of OA, AA and kappa (x 100)."""

    def cell(stat: Mapping[str, Any], runs: int) -> str:  # a figure defined in fewer runs says so
        text = mean_std(stat)
        return text if stat["n"] == runs or text == MISSING else f"{text} (n={stat['n']})"

    rows = []
    for c in summary["classes"]:
        runs = int(c.get("runs", c["f1"]["n"]))
        figures = [cell(c[k], runs) for k in ("producer_accuracy", "user_accuracy", "f1")]
        rows.append([str(c["id"]), md_cell(c["name"]), *figures, str(runs)])
    for key, label in (("overall_accuracy", "OA"), ("average_accuracy", "AA"), ("kappa", "Kappa ×100")):
        rows.append(["", label, mean_std(summary[key]), "", "", str(summary[key]["n"])])
    table = markdown_grid(
        ["id", "class", "PA %", "UA %", "F1 %", "runs"], rows, [True, False, True, True, True, True]
    )
    ddof = "n - 1" if summary["std_ddof"] == 1 else "n"
    title = f"Mean ± standard deviation over {summary['n_runs']} runs (standard deviation with {ddof})."
    note = (
        "runs: the runs whose reference holds the class; (n=k): a figure defined in only k of them "
        "(UA needs the class to be predicted)."
    )
    return f"{title}\n\n{table}\n\n{note}\n"


def summary_csv(summary: Report) -> str:
    """One line per figure: metric,class_id,class,mean,std,n (fractions, empty when undefined)."""

    def cell(value: Any) -> str:
        return "" if value is None else repr(value) if isinstance(value, float) else str(value)

    lines = ["metric,class_id,class,mean,std,n"]
    for key in ("overall_accuracy", "average_accuracy", "kappa"):
        s = summary[key]
        lines.append(f"{key},,,{cell(s['mean'])},{cell(s['std'])},{s['n']}")
    for c in summary["classes"]:
        for key in ("producer_accuracy", "user_accuracy", "f1"):
            s = c[key]
            lines.append(
                f"{key},{c['id']},{quote_csv(c['name'])},{cell(s['mean'])},{cell(s['std'])},{s['n']}"
            )
    return "\n".join(lines) + "\n"


def render_summary(summary: Report, fmt: str) -> str:
    """The summary in one of FORMATS ('md', 'json', 'csv')."""
    return {"md": markdown_summary, "json": report_json, "csv": summary_csv}[fmt](summary)


def write_summary_files(summary: Report, base: str | Path, overwrite: bool = False) -> list[Path]:
    """Write summary .json, .csv and .md; none is written if one exists already."""
    paths = output_paths(base, SUMMARY_SUFFIXES)
    for p in paths:
        check_output(p, overwrite)
    for p, fmt in zip(paths, ("json", "csv", "md"), strict=True):
        _write_text(p, render_summary(summary, fmt), overwrite)
    return paths
