"""Writing a study's results: RUNS/results.md, .csv, .json and results.png (OA per variant, error bars)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfipt_cli.io.atomic import atomic_file
from cfipt_cli.io.mapio import png_metadata
from cfipt_cli.reproduce.tables import csv_results, markdown_results

RESULTS_BASE = "results"


def plot_ablation(results: Mapping[str, Any], path: Path) -> None:
    """OA per variant (mean, error bar = std over the seeds), the paper's OA as markers where it has one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = results["ablation"]
    names = [r["variant"] for r in rows]
    means = [r["mean"] if r["mean"] is not None else 0.0 for r in rows]
    stds = [r["std"] or 0.0 for r in rows]
    fig = Figure(figsize=(max(5.5, 0.8 * len(rows) + 2.5), 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(rows)), means, yerr=stds, capsize=4, color="#4c72b0", label="cfipt (mean ± std)")
    paper = [(i, r["paper"]) for i, r in enumerate(rows) if r["paper"] is not None]
    if paper:
        ax.scatter([i for i, _ in paper], [v for _, v in paper], color="#dd8452", zorder=3, label="paper")
    ax.set_xticks(range(len(rows)), names)
    ax.set_xlabel("variant")
    ax.set_ylabel("OA (%)")
    ax.set_ylim(0, 102)
    ax.set_title(f"{results['title']}: OA per variant", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    with atomic_file(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", metadata=png_metadata())


def write_results(results: Mapping[str, Any], out: Path) -> list[Path]:
    """The four files in the study folder (each written atomically; the folder is the study's own)."""
    texts = {
        ".json": json.dumps(results, indent=2) + "\n",
        ".md": markdown_results(results),
        ".csv": csv_results(results),
    }
    paths = []
    for suffix, text in texts.items():
        path = out / f"{RESULTS_BASE}{suffix}"
        with atomic_file(path, overwrite=True) as tmp:
            tmp.write_text(text, encoding="utf-8")
        paths.append(path)
    png = out / f"{RESULTS_BASE}.png"
    plot_ablation(results, png)
    return [*paths, png]
