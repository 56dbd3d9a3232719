"""Fixtures shared by every test folder: tiny seeded synthetic scenes, real data files, a CLI runner with real exit codes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cfipt_cli.cli.app import main
from cfipt_cli.testing.synthetic import SyntheticScene, make_scene

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of the shared real-data folder; the test is skipped when it is not there."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data file {path} is not available")
    return path


@pytest.fixture(scope="session")
def scene_files(tmp_path_factory: pytest.TempPathFactory) -> SyntheticScene:
    """A 48 x 40 px, 16-band HSI (EPSG:32632) + DSM (EPSG:32633, 3 m) + SAR (EPSG:3857) scene, 4 classes."""
    return make_scene(tmp_path_factory.mktemp("synthetic"), with_sar=True)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[Any]], tuple[int, str, str]]:
    """Run `cfipt` through `cfipt_cli.cli.app.main`; the call returns (exit code, stdout, stderr)."""

    def run(argv: list[Any]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as info:
            main([str(a) for a in argv])
        captured = capsys.readouterr()
        return int(info.value.code or 0), captured.out, captured.err

    return run


@pytest.fixture
def tree_digest() -> Callable[[Path], dict[str, str]]:
    """sha256 of every file under a folder (to prove that inputs are left unchanged)."""

    def digest(folder: Path) -> dict[str, str]:
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    return digest


@pytest.fixture
def shared() -> Callable[..., Path]:
    """Path of a file in the shared real-data folder; the test is skipped when it is not there."""
    return shared_file
