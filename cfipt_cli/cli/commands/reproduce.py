"""`cfipt reproduce`: the paper's protocol on a benchmark folder in one command (seeds x variants).

The training options are those of `cfipt train` (built from `TrainConfig`'s fields, without --seed
and --variant, which the study sets per run).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cfipt_cli.cli.commands.train import typed_settings, with_setting_options
from cfipt_cli.cli.options import JsonOut, print_report

PER_RUN = frozenset({"seed", "variant"})


Dataset = Annotated[
    str, typer.Option("--dataset", help="houston, muufl, augsburg or trento.", metavar="NAME")
]
Jobs = Annotated[
    int, typer.Option("--jobs", help="Runs at a time (on GPUs at most one per GPU).", metavar="N")
]
Only = Annotated[
    str | None, typer.Option("--only", help="Run only this run, e.g. full/seed-3.", metavar="RUN")
]


HsiFile = Annotated[Path | None, typer.Option("--hsi", help="HSI file (else found in DATA).", metavar="FILE")]
LidarFile = Annotated[Path | None, typer.Option("--lidar", help="LiDAR file (else found).", metavar="FILE")]
SarFile = Annotated[Path | None, typer.Option("--sar", help="SAR file (else found).", metavar="FILE")]
LabelsFile = Annotated[
    Path | None, typer.Option("--labels", help="Training labels (else found).", metavar="FILE")
]
TestFile = Annotated[
    Path | None, typer.Option("--test-labels", help="Test labels (else found).", metavar="FILE")
]


Out = Annotated[Path, typer.Option("--out", "-o", help="Study folder to write.", metavar="RUNS")]
Config = Annotated[Path | None, typer.Option("--config", help="TOML training options.", metavar="FILE")]
Seeds = Annotated[int, typer.Option("--seeds", help="Seeded splits 0..N-1.", metavar="N")]
TrainPerClass = Annotated[
    int, typer.Option("--train-per-class", help="Training pixels per class.", metavar="N")
]
Variants = Annotated[
    str, typer.Option("--variants", help="Comma list of full,1,2,3,4a,4b,4c,4d.", metavar="LIST")
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan and its cost; write nothing.")]


def _print_plan(summary: dict[str, Any]) -> None:
    """The plan (and after the work, what ran and the OA per variant) on stderr."""
    todo, skip = summary["runs_to_do"], summary["runs_to_skip"]
    verb = "to do" if "results" not in summary else "ran"
    lines = [f"{summary['dataset']}: {len(todo)} runs {verb}, {len(skip)} skipped (finished)"]
    lines += [f"  {verb}: {', '.join(todo)}"] if todo else []
    lines += [f"  skipped: {', '.join(skip)}"] if skip else []
    lines.append(summary["cost_line"])
    for row in (r for r in summary.get("figures", []) if r["mean"] is not None):
        paper = f" (paper {row['paper']:.2f})" if row["paper"] is not None else ""
        std = f" ± {row['std']:.2f}" if row["std"] is not None else ""
        lines.append(f"  OA {row['variant']}: {row['mean']:.2f}{std} over {row['n']} runs{paper}")
    lines += [f"results: {', '.join(summary['results'])}"] if "results" in summary else []
    print("\n".join(lines), file=sys.stderr)


@with_setting_options(PER_RUN)
def command(
    ctx: typer.Context,
    data: Annotated[Path, typer.Argument(help="Folder of the benchmark's files.", metavar="DATA")],
    dataset: Dataset,
    out: Out = Path("runs"),
    config: Config = None,
    seeds: Seeds = 10,
    train_per_class: TrainPerClass = 40,
    variants: Variants = "full",
    hsi: HsiFile = None,
    lidar: LidarFile = None,
    sar: SarFile = None,
    labels: LabelsFile = None,
    test_labels: TestFile = None,
    jobs: Jobs = 1,
    only: Only = None,
    dry_run: DryRun = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Discard the study in RUNS (only what it wrote); start afresh."),
    ] = False,
    json_out: JsonOut = False,
    **settings: Any,  # the training options of `cfipt train` but --seed and --variant
) -> None:
    """Reproduce the paper's protocol: for each variant and seed, prepare (the seed's split of N
    training pixels per class), train, predict the test pixels and evaluate; then the tables of
    mean ± std over seeds beside the paper's figures (RUNS/results.md, .csv, .json, .png).

    Example: cfipt reproduce data/houston --dataset houston --out runs --seeds 10 --device cuda
    """
    from cfipt_cli.reproduce.discovery import GivenFiles
    from cfipt_cli.reproduce.pipeline import reproduce
    from cfipt_cli.reproduce.study import StudyRequest, parse_variants

    request = StudyRequest(
        data=data,
        dataset=dataset,
        out=out,
        files=GivenFiles(hsi, lidar, sar, labels, test_labels),
        seeds=seeds,
        train_per_class=train_per_class,
        variants=parse_variants(variants),
        config_file=config,
        given=typed_settings(ctx, settings),
        jobs=jobs,
        only=only,
        dry_run=dry_run,
        overwrite=overwrite,
        progress=logging.getLogger("cfipt").isEnabledFor(logging.INFO),
    )
    summary = reproduce(request)
    print_report(summary, json_out, _print_plan)
