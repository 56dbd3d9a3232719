"""Seeded builders of tiny scene folders and model folders for the predict tests.

Written with rasterio and the modelio API directly, so these tests depend on neither `cfipt prepare`
nor `cfipt train`. Scenes are deliberately not square and not a multiple of any block size, in a
projected CRS with a non-trivial origin, and may have nodata pixels (NaN in every band, 0 in the mask).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine

from cfipt_cli.io.classes import ClassTable
from cfipt_cli.testing.scene_folder import write_test_scene_meta

CRS = "EPSG:32633"
TRANSFORM = Affine(2.0, 0.0, 500010.0, 0.0, -2.0, 4000020.0)
CLASS_NAMES = ["Grass", "Trees", "Roads", "Water", "Buildings", "Soil"]


def write_scene(
    root: Path,
    *,
    height: int = 19,
    width: int = 23,
    n_hsi: int = 4,
    n_lidar: int = 1,
    n_sar: int = 0,
    n_classes: int = 3,
    nodata_fraction: float = 0.0,
    seed: int = 0,
) -> Path:
    """Write a scene folder (scene.json, stack.tif, mask.tif, label rasters) and return its path."""
    rng = np.random.default_rng(seed)
    n_bands = n_hsi + n_lidar + n_sar
    stack = rng.normal(size=(n_bands, height, width)).astype(np.float32) * 3 + 10
    valid = rng.random((height, width)) >= nodata_fraction
    stack[:, ~valid] = np.nan
    labels = np.where(valid, rng.integers(1, n_classes + 1, size=(height, width)), 0).astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "crs": CRS,
        "transform": TRANSFORM,
        "tiled": True,
        "blockxsize": 16,
        "blockysize": 16,
    }
    with rasterio.open(
        root / "stack.tif", "w", count=n_bands, dtype="float32", nodata=float("nan"), **profile
    ) as dst:
        dst.write(stack)
    rasters = {"mask.tif": valid.astype(np.uint8), "train_labels.tif": labels, "test_labels.tif": labels}
    for name, data in rasters.items():
        with rasterio.open(root / name, "w", count=1, dtype="uint8", nodata=0, **profile) as dst:
            dst.write(data[None])
    sources = ["hsi"] * n_hsi + ["lidar"] * n_lidar + ["sar"] * n_sar
    classes = ClassTable.from_json(class_table_json(n_classes))
    write_test_scene_meta(root, stack, valid, sources, classes, CRS, TRANSFORM, (labels, labels))
    return root


def class_table_json(n_classes: int) -> list[dict[str, Any]]:
    """Classes with ids 2, 4, 6, ... (not 1..K, so that index -> id mapping is exercised)."""
    return [
        {
            "id": 2 * (k + 1),
            "name": CLASS_NAMES[k],
            "colour": f"#{40 * k + 30:02x}{200 - 50 * k:02x}{60 + 60 * k:02x}",
        }
        for k in range(n_classes)
    ]


def read_stack(scene: Path) -> np.ndarray:
    """The whole stack (bands, h, w) of a tiny test scene."""
    with rasterio.open(scene / "stack.tif") as src:
        return src.read()


def tiny_config(scene: Path, patch_size: int = 5) -> dict[str, Any]:
    """A small CFIPTConfig (cfipt-tiny backbone, random weights) for the scene's bands and classes."""
    meta = json.loads((scene / "scene.json").read_text(encoding="utf-8"))
    return {
        "hsi_bands": meta["band_roles"]["hsi"],
        "aux_bands": meta["band_roles"]["aux"],
        "class_names": [c["name"] for c in sorted(meta["classes"], key=lambda c: c["id"])],
        "patch_size": patch_size,
        "clip_model": "cfipt-tiny",
        "pretrained": None,
        "n_prompt": 2,
        "depth": 2,
    }


def write_model(root: Path, scene: Path, patch_size: int = 5, seed: int = 0) -> Path:
    """A complete model folder for `scene`, as `cfipt train` writes it, with untrained random weights."""
    from cfipt_cli.contracts.model import build_network, save_model
    from cfipt_cli.contracts.model_json import ModelRecord
    from cfipt_cli.contracts.scene import Scene

    opened = Scene.open(scene)
    config = tiny_config(scene, patch_size)
    model = build_network(config, seed)
    train_config = {
        "epochs": 0,
        "clip_model": "cfipt-tiny",
        "pretrained": "none",
        "seed": seed,
        "patch_size": patch_size,
    }
    record = ModelRecord(
        model_config=config,
        classes=ClassTable.from_json(opened.meta["classes"]),
        scene=opened,
        backbone_fingerprint=model.backbone_fingerprint(),
        train_config=train_config,
        scene_fingerprint="test",
        counts={},
        dropped_classes=[],
        status="complete",
        epochs_done=0,
        summary={},
    )
    root.mkdir(parents=True, exist_ok=True)
    save_model(root, model, record)
    return root
