"""Fixtures of the model tests: a micro open_clip config registered with open_clip at test time."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import open_clip
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from cfipt_model_helpers import MICRO, MICRO_NAME


@pytest.fixture(scope="session", autouse=True)
def micro_clip_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Register `cfipt-test-micro` (3 layers, widths 32/24, 16 x 16 images) with open_clip."""
    path: Path = tmp_path_factory.mktemp("clip_configs") / f"{MICRO_NAME}.json"
    path.write_text(json.dumps(MICRO))
    open_clip.add_model_config(path)
    return MICRO_NAME


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run the micro models on one intra-op thread: their tensors are far too small to gain from more, and
    with pytest-xdist or a busy machine extra threads only spin (10-50x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
