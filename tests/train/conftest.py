"""Fixtures of the training tests: tiny generated scenes and a tiny, fast configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from train_helpers import write_scene


@pytest.fixture(scope="session")
def scene_dir(tmp_path_factory) -> Path:
    """A 24 x 24 scene, 4 separable classes, 12 training pixels each (read only: tests must not modify it)."""
    return write_scene(tmp_path_factory.mktemp("scene") / "scene", size=24, n_classes=4, n_train=12)


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory) -> Path:
    """Like `scene_dir` with 8 training pixels per class: 2 steps per epoch, for the mechanics tests."""
    return write_scene(tmp_path_factory.mktemp("small") / "scene", size=32, n_classes=4, n_train=8)
