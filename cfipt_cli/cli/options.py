"""Options shared by several subcommands, defined once as `Annotated` aliases (rasterio `rio/options.py`),
and the conversions and output they share (`parse_creation_options`, `print_summary`, `print_report`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (CUDA when available), cpu, cuda or cuda:N.", metavar="DEVICE")
]
AmpOpt = Annotated[
    bool | None,
    typer.Option(
        "--amp/--no-amp",
        help="bf16 autocast on CUDA; default: on for CUDA, off on CPU (--amp on CPU is ignored).",
        show_default=False,
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.", metavar="N")]
CreationOptions = Annotated[
    list[str] | None,
    typer.Option("--co", help="GDAL creation option NAME=VALUE (repeatable).", metavar="NAME=VALUE"),
]
ExistingPath = Annotated[Path, typer.Argument(help="An existing file or folder.")]


def parse_creation_options(items: list[str] | None) -> dict[str, str]:
    """['TILED=YES', 'COMPRESS=LZW'] -> {'TILED': 'YES', 'COMPRESS': 'LZW'}; bad items are usage errors."""
    from cfipt_cli.errors import CfiptUsageError

    options: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CfiptUsageError(f"--co expects NAME=VALUE, got {item!r}")
        options[name.strip().upper()] = value.strip()
    return options


def print_summary(line: str, summary: dict[str, Any], json_out: bool) -> None:
    """What -q and `--json` ask of a command's summary: `line` on stderr unless -q, the JSON summary
    on stdout with `--json`."""
    import sys

    print_report(summary, json_out, lambda _: print(line, file=sys.stderr))


def print_report(
    summary: dict[str, Any], json_out: bool, print_table: Callable[[dict[str, Any]], None]
) -> None:
    """What -q and `--json` ask of a command's report: `print_table(summary)` (a table on stderr) unless
    -q, the JSON summary on stdout with `--json`."""
    import json
    import logging

    if logging.getLogger("cfipt").getEffectiveLevel() <= logging.WARNING:
        print_table(summary)
    if json_out:
        print(json.dumps(summary, indent=2))
