"""The area-adjusted part of an evaluation report (`area_estimates`), in Markdown, CSV and a PNG.

Rendered from the report's JSON section (`AreaAccuracy.to_json()` plus the design and the points):
- Markdown (appended to the accuracy table): overall, user's and producer's accuracy with SE and 95 %
  CI; per class the mapped area beside the estimated area (pixels, and ha when the pixel area is known)
  with SE and CI; the estimated error matrix in area proportions (rows map, columns reference); the
  sample points used and left out, and the notes of the estimate.
- CSV (`BASE.area.csv`): every figure on one line, `table,class,reference_class,unit,estimate,se,
  ci95_low,ci95_high` (fractions, empty where undefined), so that the OTB-layout matrix of BASE.csv
  stays as it is.
- PNG (`BASE.area.png`): mapped vs estimated area per class, the estimates with 95 % CI error bars.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfipt_cli.evaluate.report_text import MISSING, markdown_grid, md_cell, one_line, quote_csv
from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.mapio import png_metadata
from cfipt_cli.io.output_kinds import AREA_CSV_HEADER

Section = Mapping[str, Any]
AREA_SUFFIXES = (".area.csv", ".area.png")


def _number(value: float | None, scale: float = 1.0, decimals: int = 2) -> str:
    return MISSING if value is None else f"{scale * value:,.{decimals}f}"


def _with_ci(figure: Mapping[str, Any] | None, scale: float = 100.0, decimals: int = 2) -> list[str]:
    """[estimate, ± SE, 95 % CI] as text (percent by default)."""
    if figure is None or figure["estimate"] is None:
        return [MISSING, MISSING, MISSING]
    se = MISSING if figure["se"] is None else f"± {_number(figure['se'], scale, decimals)}"
    ci = figure["ci95"]
    interval = (
        MISSING if ci is None else f"{_number(ci[0], scale, decimals)} – {_number(ci[1], scale, decimals)}"
    )
    return [_number(figure["estimate"], scale, decimals), se, interval]


def _accuracy_table(section: Section) -> str:
    headers = ["id", "class", "UA %", "UA SE", "UA 95 % CI", "PA %", "PA SE", "PA 95 % CI", "units mapped"]
    rows = [
        [
            str(c["id"]),
            md_cell(c["name"]),
            *_with_ci(c["users_accuracy"]),
            *_with_ci(c["producers_accuracy"]),
            str(c["units_mapped"]),
        ]
        for c in section["classes"]
    ]
    return markdown_grid(headers, rows, [True, False, *[True] * 7])


def _overall_line(section: Section) -> str:
    estimate, se, ci = _with_ci(section["overall_accuracy"])
    return f"Overall accuracy: {estimate} % (SE {se.removeprefix('± ')}, 95 % CI {ci})."


def _area_table(section: Section) -> str:
    in_ha = section["pixel_area_m2"] is not None
    unit, key, decimals = ("ha", "ha", 2) if in_ha else ("px", "pixels", 0)
    headers = ["id", "class", "mapped px", f"mapped {unit}", f"estimated {unit}", "SE", "95 % CI"]
    rows = []
    for c in section["classes"]:
        mapped = c["mapped_area"]
        pixels = MISSING if mapped["pixels"] is None else f"{mapped['pixels']:,}"
        shown = mapped["ha"] if in_ha else mapped["pixels"]
        estimate = _with_ci(c["area"][key], 1.0, decimals)
        rows.append([str(c["id"]), md_cell(c["name"]), pixels, _number(shown, 1.0, decimals), *estimate])
    return markdown_grid(headers, rows, [True, False, True, True, True, True, True])


def _matrix_table(section: Section) -> str:
    names = section["error_matrix"]["classes"]
    cells = section["error_matrix"]["proportions"]
    headers = ["map \\ reference", *(md_cell(n) for n in names), "total"]
    rows = []
    for name, row in zip(names, cells, strict=True):
        values = [cell["estimate"] for cell in row]
        total = None if any(v is None for v in values) else sum(values)
        rows.append([md_cell(name), *(_number(v, 1.0, 4) for v in values), _number(total, 1.0, 4)])
    area = [_number(c["area"]["proportion"]["estimate"], 1.0, 4) for c in section["classes"]]
    rows.append(["total", *area, _number(1.0 if section["sample_size"] else None, 1.0, 4)])
    return markdown_grid(headers, rows, [False, *[True] * (len(names) + 1)])


def _points_line(section: Section) -> str:
    points = section.get("points") or {}
    left = ", ".join(
        f"{n} {k.replace('_', ' ')}" for k, n in points.items() if k not in ("total", "used") and n
    )
    base = (
        f"{points.get('used', section['sample_size'])} of {points.get('total', MISSING)} sample points used"
    )
    return base + (f" (left out or flagged: {left})" if left else "")


def area_markdown(section: Section) -> str:
    """The Markdown of the `area_estimates` section (appended to the report's Markdown)."""
    design = section.get("design")
    drawn = (
        f"allocation {design['allocation']}, seed {design['seed']}, map sha256 "
        f"{'matches' if design['map_sha256_matches'] else 'DIFFERS'}"
        if design
        else f"strata {section.get('strata', MISSING)}"
    )
    title = one_line(
        f"Area-adjusted accuracy ({section['method']}; {drawn}): {_points_line(section)}; "
        f"population {section['population_pixels']:,} px."
    )
    notes = "".join(f"- {one_line(n)}\n" for n in section["notes"])
    legend = (
        "UA: user's accuracy, PA: producer's accuracy, OA: overall accuracy, estimated with the strata "
        "weights; SE: standard error; 95 % CI: estimate ± 1.96 SE.\n"
        "Error matrix: estimated share of the area mapped as the row class whose reference is the column "
        "class; column totals are the estimated class areas as shares of the map."
    )
    parts = [
        title,
        _overall_line(section),
        _accuracy_table(section),
        _area_table(section),
        _matrix_table(section),
        legend,
    ]
    return "\n\n".join(parts) + "\n" + (f"\nNotes:\n{notes}" if notes else "")


def _csv_figure(table: str, name: str, reference: str, unit: str, figure: Mapping[str, Any] | None) -> str:
    def cell(value: Any) -> str:
        return "" if value is None else repr(float(value))

    if figure is None:
        return f"{table},{quote_csv(name)},{quote_csv(reference)},{unit},,,,"
    ci = figure.get("ci95") or [None, None]
    values = [cell(figure["estimate"]), cell(figure["se"]), cell(ci[0]), cell(ci[1])]
    return ",".join([table, quote_csv(name), quote_csv(reference), unit, *values])


def area_csv(section: Section) -> str:
    """Every figure of the section on one line (module docstring)."""
    lines = [
        AREA_CSV_HEADER,
        _csv_figure("overall_accuracy", "", "", "proportion", section["overall_accuracy"]),
    ]
    for c in section["classes"]:
        name = c["name"]
        lines.append(_csv_figure("users_accuracy", name, "", "proportion", c["users_accuracy"]))
        lines.append(_csv_figure("producers_accuracy", name, "", "proportion", c["producers_accuracy"]))
        for unit in ("pixels", "ha"):
            mapped = c["mapped_area"][unit]
            lines.append(_csv_figure("mapped_area", name, "", unit, {"estimate": mapped, "se": None}))
        for unit in ("proportion", "pixels", "ha"):
            lines.append(_csv_figure("estimated_area", name, "", unit, c["area"][unit]))
    names = section["error_matrix"]["classes"]
    for name, row in zip(names, section["error_matrix"]["proportions"], strict=True):
        for reference, cell in zip(names, row, strict=True):
            lines.append(_csv_figure("error_matrix", name, reference, "proportion", cell))
    return "\n".join(lines) + "\n"


def plot_area(report: Mapping[str, Any], path: str | Path, overwrite: bool = False, dpi: int = 120) -> Path:
    """Save mapped vs estimated area per class (ha when the pixel area is known, else pixels) with the
    estimates' 95 % CI as error bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    section = report["area_estimates"]
    key = "ha" if section["pixel_area_m2"] is not None else "pixels"
    classes = section["classes"]
    names = [c["name"] for c in classes]
    mapped = [c["mapped_area"][key] or 0.0 for c in classes]
    estimates = [c["area"][key]["estimate"] or 0.0 for c in classes]
    errors = [
        [e - c["area"][key]["ci95"][0], c["area"][key]["ci95"][1] - e]
        if c["area"][key]["ci95"]
        else [0.0, 0.0]
        for c, e in zip(classes, estimates, strict=True)
    ]
    positions = list(range(len(classes)))
    fig = Figure(figsize=(max(5.0, 0.6 * len(classes) + 3.0), 4.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.4
    ax.bar([p - width / 2 for p in positions], mapped, width, label="mapped", color="#9ecae1")
    ax.bar(
        [p + width / 2 for p in positions],
        estimates,
        width,
        yerr=list(zip(*errors, strict=True)) if errors else None,
        capsize=3,
        label="estimated (95 % CI)",
        color="#3182bd",
    )
    ax.set_xticks(positions, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("area (ha)" if key == "ha" else "area (pixels)")
    oa = section["overall_accuracy"]["estimate"]
    ax.set_title(
        f"{Path(str(report['map'])).name}: mapped vs estimated area (OA {_number(oa, 100.0)} %)", fontsize=10
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_file(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", metadata=png_metadata())
    return Path(path)
