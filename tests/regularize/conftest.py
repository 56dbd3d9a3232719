"""Fixtures of the regularize tests: `cfipt regularize` run in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def regularize_cli(
    run_cli: Callable[[list[Any]], tuple[int, str, str]],
) -> Callable[..., tuple[int, str, str]]:
    """Run `cfipt regularize ARGS` (the root conftest's `run_cli`); returns (exit code, stdout, stderr)."""
    return lambda *args: run_cli(["regularize", *args])
