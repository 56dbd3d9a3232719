"""Model folders that tests and benchmarks build without training: random weights, saved as train saves.

`write_untrained_model` writes a folder as `cfipt train` does (the trainable weights and model.json,
through `save_model`) for a scene folder and a network configuration, so that predict can be tested and
timed without a training run. Free of scipy and the vector libraries (the GPU machine's benchmarks use it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfipt_cli.contracts.model import build_network, save_model
from cfipt_cli.contracts.model_json import STATUS_COMPLETE, ModelRecord
from cfipt_cli.contracts.scene import Scene

UNTRAINED = "untrained"  # the scene fingerprint it records: no training labels were read


def write_untrained_model(root: Path, scene: Scene, network: Mapping[str, Any], seed: int = 0) -> Path:
    """Write the model folder `root` (created, returned) for `scene`, with untrained random weights.

    Args:
        network: the CFIPTConfig keys beyond the scene's bands and classes; `clip_model` and
            `patch_size` at least (a random backbone: `pretrained` is None unless given).
        seed: initialises the network's random parts.
    """
    config = {
        "hsi_bands": scene.n_hsi,
        "aux_bands": scene.n_aux,
        "class_names": scene.classes.names,
        "pretrained": None,
        **network,
    }
    model = build_network(config, seed)
    train_config = {
        "epochs": 0,
        "clip_model": config["clip_model"],
        "pretrained": "none",
        "seed": seed,
        "patch_size": config["patch_size"],
    }
    record = ModelRecord(
        model_config=config,
        classes=scene.classes,
        scene=scene,
        backbone_fingerprint=model.backbone_fingerprint(),
        train_config=train_config,
        scene_fingerprint=UNTRAINED,
        counts={},
        dropped_classes=[],
        status=STATUS_COMPLETE,
        epochs_done=0,
        summary={},
    )
    root.mkdir(parents=True, exist_ok=True)
    save_model(root, model, record)
    return root
