"""Fixtures of the sample tests: a class map with a class table, and `cfipt sample` run in-process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sample_builders import NAMES, class_map, write_raster

from cfipt_cli.io.classes import ClassTable


@pytest.fixture
def table() -> ClassTable:
    return ClassTable.from_names(NAMES)


@pytest.fixture
def map_path(tmp_path: Path, table: ClassTable) -> Path:
    return write_raster(tmp_path / "map.tif", class_map(), classes=table, colormap=True)


@pytest.fixture
def sample_cli(run_cli: Callable[[list[Any]], tuple[int, str, str]]) -> Callable[..., tuple[int, str, str]]:
    """Run `cfipt sample ARGS` (the root conftest's `run_cli`); returns (exit code, stdout, stderr)."""
    return lambda *args: run_cli(["sample", *args])
