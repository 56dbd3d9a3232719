"""Model folders with untrained random weights, for tests and benchmarks, through the one writer.

`write_untrained_model` records what `cfipt train` records for a run of zero epochs (model.json through
`ModelRecord`, the weights through `save_model`), so that predict can be exercised and timed without a
training run. Free of scipy and the vector libraries (the GPU machine's benchmarks use it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfipt_cli.contracts.model import build_network, save_model
from cfipt_cli.contracts.model_json import ModelRecord
from cfipt_cli.contracts.scene import Scene

__all__ = ["write_untrained_model"]


def write_untrained_model(
    root: Path, scene: Scene, model_config: dict[str, Any], seed: int = 0, scene_fingerprint: str = "test"
) -> Path:
    """Write a complete model folder for `scene` at `root` and return `root`.

    Args:
        root: The model folder (created, with its parents, if missing).
        scene: The scene the model is for (its classes and bands are recorded).
        model_config: CFIPTConfig settings; ``clip_model`` and ``patch_size`` are required.
        seed: Seed of the random initialisation, recorded as the training seed.
        scene_fingerprint: Recorded in place of the scene's fingerprint (predict does not check it).
    """
    model = build_network(model_config, seed)
    train_config = {
        "epochs": 0,
        "clip_model": model_config["clip_model"],
        "pretrained": "none",
        "seed": seed,
        "patch_size": model_config["patch_size"],
    }
    record = ModelRecord(
        model_config=model_config,
        classes=scene.classes,
        scene=scene,
        backbone_fingerprint=model.backbone_fingerprint(),
        train_config=train_config,
        scene_fingerprint=scene_fingerprint,
        counts={},
        dropped_classes=[],
        status="complete",
        epochs_done=0,
        summary={},
    )
    root.mkdir(parents=True, exist_ok=True)
    save_model(root, model, record)
    return root
