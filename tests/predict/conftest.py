"""Fixtures of the predict tests (helpers live in predict_helpers.py and predict_scenes.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from predict_scenes import write_scene

from cfipt_cli.scene import Scene


@pytest.fixture
def make_scene(tmp_path: Path) -> Callable[..., Scene]:
    """make_scene(name, **write_scene options) -> an opened Scene under tmp_path."""

    def make(name: str = "scene", **options: Any) -> Scene:
        return Scene.open(write_scene(tmp_path / name, **options))

    return make
