"""Fixtures of the predict tests (helpers live in predict_helpers.py and predict_scenes.py)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from predict_scenes import write_model, write_scene

from cfipt_cli.contracts.scene import Scene


@pytest.fixture
def make_scene(tmp_path: Path) -> Callable[..., Scene]:
    """make_scene(name, **write_scene options) -> an opened Scene under tmp_path."""

    def make(name: str = "scene", **options: Any) -> Scene:
        return Scene.open(write_scene(tmp_path / name, **options))

    return make


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small scene folder and a tiny random model folder for it, shared by a module's CLI tests."""
    root = tmp_path_factory.mktemp("cli_folders")
    scene = write_scene(root / "scene", height=11, width=13, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = write_model(root / "model", scene, patch_size=5)
    return scene, model
