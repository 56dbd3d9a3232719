"""The study's results as the paper prints them: mean ± std over the seeds, the paper's figures beside.

Table 1: per-class accuracy (producer's accuracy, the paper's per-class figure), OA, AA and kappa, one
column per variant; the paper's full-model OA / AA / kappa and our difference to them. Table 2: the
ablation, OA per variant with the paper's OA and the difference. Figures are percent (kappa x 100, as
the paper prints it); std is the sample standard deviation (n - 1) of `cfipt evaluate --summary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cfipt_cli import __version__
from cfipt_cli.evaluate.summary import summarise_runs
from cfipt_cli.io.files import utc_now
from cfipt_cli.reproduce.study import Run, Study

RESULTS_FORMAT = "cfipt-study-results"
METRICS = (("OA", "overall_accuracy"), ("AA", "average_accuracy"), ("kappa", "kappa"))


def _percent(stat: Mapping[str, Any]) -> dict[str, Any]:
    scale = lambda v: None if v is None else round(100.0 * v, 4)  # noqa: E731
    return {"mean": scale(stat["mean"]), "std": scale(stat["std"]), "n": stat["n"]}


def _variant_figures(runs: Sequence[Run]) -> dict[str, Any]:
    summary = summarise_runs([r.report for r in runs])
    figures = {label: _percent(summary[key]) for label, key in METRICS}
    classes = [
        {"id": c["id"], "name": c["name"], **_percent(c["producer_accuracy"])} for c in summary["classes"]
    ]
    return {"runs": [r.id for r in runs], **figures, "classes": classes}


def _difference(ours: Any, paper: float | None) -> float | None:
    return None if ours is None or paper is None else round(ours - paper, 4)


def missing_runs(
    planned: Sequence[Run], finished: Sequence[Run], failed: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The planned runs without results: "failed" (with its error line) in this call, else "not run"."""
    done = {r.id for r in finished}
    return [
        {"run": r.id, "variant": r.variant, "state": "failed" if r.id in failed else "not run",
         "error": failed.get(r.id)}
        for r in planned if r.id not in done
    ]  # fmt: skip


def build_results(
    study: Study,
    finished: Sequence[Run],
    planned: Sequence[Run] = (),
    failed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The results of the finished runs, by variant, with the paper's figures (JSON-ready); the
    `planned` runs that did not finish are listed in `missing_runs` ("failed" when `failed` names them)."""
    paper = study.dataset.paper
    variants = {}
    for variant in study.request.variants:
        runs = [r for r in finished if r.variant == variant]
        if runs:
            variants[variant] = _variant_figures(runs)
    published = {"OA": paper.oa, "AA": paper.aa, "kappa": paper.kappa} if paper else None
    ablation = []
    for variant, figures in variants.items():
        paper_oa = paper.ablation_oa.get(variant) if paper else None
        oa = figures["OA"]
        row = {"variant": variant, **oa, "paper": paper_oa, "difference": _difference(oa["mean"], paper_oa)}
        ablation.append(row)
    return {
        "format": RESULTS_FORMAT,
        "cfipt_version": __version__,
        "created": utc_now(),
        "dataset": study.dataset.key,
        "title": study.dataset.title,
        "train_per_class": study.request.train_per_class,
        "paper": published,
        "paper_note": None if paper else f"the paper gives no figures for {study.dataset.title}",
        "variants": variants,
        "ablation": ablation,
        "missing_runs": missing_runs(planned, finished, failed or {}),
    }


def _cell(stat: Mapping[str, Any]) -> str:
    if stat["mean"] is None:
        return "-"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}" if stat["std"] is not None else f"{stat['mean']:.2f}"


def _number(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else f"{value:+.2f}" if signed else f"{value:.2f}"


def _table_rows(results: Mapping[str, Any]) -> list[tuple[str, str, list[Mapping[str, Any]]]]:
    """(row kind, row label, the row's statistic per variant) of Table 1."""
    variants = list(results["variants"].values())
    names: dict[str, str] = {}
    for figures in variants:
        for c in figures["classes"]:
            names.setdefault(c["name"], c["name"])
    empty = {"mean": None, "std": None, "n": 0}
    rows = []
    for name in names:
        cells = [next((c for c in f["classes"] if c["name"] == name), empty) for f in variants]
        rows.append(("class", name, cells))
    rows += [("metric", label, [f[label] for f in variants]) for label, _ in METRICS]
    return rows


def _runs_line(results: Mapping[str, Any]) -> str:
    """`Runs: full: 2 runs, 4d: 1 of 2 runs (1 failed).`: the finished runs per variant, and the missing."""
    missing: dict[str, list[Mapping[str, Any]]] = {}
    for m in results.get("missing_runs", []):
        missing.setdefault(m["variant"], []).append(m)
    parts = []
    for variant in dict.fromkeys([*results["variants"], *missing]):
        done = len(results["variants"].get(variant, {}).get("runs", []))
        gone = missing.get(variant, [])
        if not gone:
            parts.append(f"{variant}: {done} runs")
            continue
        failed = sum(m["state"] == "failed" for m in gone)
        states = [f"{failed} failed"] * bool(failed) + [f"{len(gone) - failed} not run"] * (
            len(gone) > failed
        )
        parts.append(f"{variant}: {done} of {done + len(gone)} runs ({', '.join(states)})")
    return f"Runs: {', '.join(parts)}." if parts else "No finished run yet."


def markdown_results(results: Mapping[str, Any]) -> str:
    """Both tables in Markdown."""
    variants = list(results["variants"])
    full = results["variants"].get("full")
    paper = results["paper"]
    lines = [f"Mean ± standard deviation over seeds, {results['title']}, {results['train_per_class']} "
             "training pixels per class (percent; kappa x 100)", ""]  # fmt: skip
    lines += [_runs_line(results), ""]
    missing = results.get("missing_runs", [])
    if missing:
        named = "; ".join(
            f"{m['run']} ({m['state']}{': ' + m['error'] if m['error'] else ''})" for m in missing
        )
        lines += [f"Missing runs, not in the figures: {named}.", ""]
    if results["paper_note"]:
        lines += [f"Note: {results['paper_note']}.", ""]
    head = ["class / metric", *variants] + (["paper (full)", "full - paper"] if paper and full else [])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, label, cells in _table_rows(results):
        row = [label, *(_cell(c) for c in cells)]
        if paper and full:
            published = paper.get(label) if kind == "metric" else None
            ours = full[label]["mean"] if kind == "metric" else None
            row += [_number(published), _number(_difference(ours, published), signed=True)]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Ablation: OA per variant",
        "",
        "| variant | OA | paper OA | difference |",
        "|---|---|---|---|",
    ]
    for row in results["ablation"]:
        entry = [row["variant"], _cell(row), _number(row["paper"]), _number(row["difference"], signed=True)]
        lines.append("| " + " | ".join(entry) + " |")
    return "\n".join(lines) + "\n"


def csv_results(results: Mapping[str, Any]) -> str:
    """Long form: one line per (table, row, variant) with mean, std, n, the paper's figure, difference."""
    lines = ["table,row,variant,mean,std,n,paper,difference"]
    paper = results["paper"] or {}
    for kind, label, cells in _table_rows(results):
        for variant, stat in zip(results["variants"], cells, strict=True):
            published = paper.get(label) if kind == "metric" and variant == "full" else None
            diff = _difference(stat["mean"], published)
            values = [stat["mean"], stat["std"], stat["n"], published, diff]
            text = ["" if v is None else str(v) for v in values]
            lines.append(",".join(["accuracy", _quoted(label), variant, *text]))
    for row in results["ablation"]:
        values = [row["mean"], row["std"], row["n"], row["paper"], row["difference"]]
        lines.append(
            ",".join(["ablation", "OA", row["variant"], *("" if v is None else str(v) for v in values)])
        )
    for m in results.get("missing_runs", []):  # a run without figures: its state in the row column
        lines.append(",".join([m["state"].replace(" ", "_"), m["run"], m["variant"], "", "", "0", "", ""]))
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text
