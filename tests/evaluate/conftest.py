"""Fixtures of the evaluate tests; the file builders live in evaluate_builders.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from cfipt_cli.io.classes import ClassTable


@pytest.fixture
def names() -> Sequence[str]:
    return ["Water", "Trees", "Grass", "Road", "Roof"]


@pytest.fixture
def table(names: Sequence[str]) -> ClassTable:
    return ClassTable.from_names(names)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `cfipt ARGS`; returns (exit code, stdout, stderr)."""
    from cfipt_cli.cli.app import main

    def run(*args: str | Path) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in args])
        captured = capsys.readouterr()
        return int(info.value.code or 0), captured.out, captured.err

    return run
