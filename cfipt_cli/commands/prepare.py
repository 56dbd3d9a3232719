"""`cfipt prepare` (not built yet)."""

from __future__ import annotations

from typing import Annotated, List

import typer

from cfipt_cli.errors import NotBuiltYetError


def command(args: Annotated[List[str], typer.Argument(help="Arguments of the future command.")]) -> None:
    """Not built yet: see the project's open issues."""
    raise NotBuiltYetError("'cfipt prepare' is not built yet")
