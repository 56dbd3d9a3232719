"""`cfipt predict` checks each thing once, before the model loads, and opens the stack once for the run."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import pytest
import rasterio

from cfipt_cli.cli.app import main
from cfipt_cli.contracts import model as model_folder
from cfipt_cli.contracts.model import ModelInfo
from cfipt_cli.io import mapio
from cfipt_cli.io import outputs as policy
from cfipt_cli.predict import plan


def _counting(monkeypatch, calls: Counter, owner: object, name: str, key: str | None = None) -> None:
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls[key or name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


def test_every_check_runs_once_and_the_stack_opens_once(folders, tmp_path, monkeypatch):
    scene, model = folders
    calls: Counter = Counter()
    _counting(monkeypatch, calls, plan, "validate_creation_options")
    _counting(monkeypatch, calls, ModelInfo, "check_scene")
    _counting(monkeypatch, calls, policy, "check_outputs")
    _counting(monkeypatch, calls, mapio, "check_class_map_options")
    _counting(monkeypatch, calls, mapio, "check_creation_options")  # one probe per raster
    _counting(monkeypatch, calls, model_folder, "check_model_meta")  # model.json read and checked once
    opened: list[Path] = []
    original_open = rasterio.open

    def recording_open(path, *args, **kwargs):
        opened.append(Path(str(path)))
        return original_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", recording_open)
    argv = ["-q", "predict", scene, "--model", model, "--out", tmp_path / "map.tif"]
    argv += ["--proba", tmp_path / "proba.tif", "--co", "COMPRESS=LZW", "--block-size", "4"]
    with pytest.raises(SystemExit) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random backbone warns, by design
        main([str(a) for a in argv])
    assert info.value.code in (0, None)
    assert calls == {
        "validate_creation_options": 1,
        "check_scene": 1,
        "check_outputs": 1,
        "check_class_map_options": 1,
        "check_creation_options": 2,
        "check_model_meta": 1,
    }
    # once by Scene.open (the scene folder's own check), once by the run for its checks and every block
    assert opened.count(scene / "stack.tif") == 2
