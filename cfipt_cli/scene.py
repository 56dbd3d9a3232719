"""The prepared scene folder: the contract between `cfipt prepare` and train / predict / evaluate.

scene/
  scene.json         metadata (see README "The scene folder")
  stack.tif          float32, HSI bands then auxiliary (LiDAR, then SAR) bands, on the HSI grid,
                     nodata NaN (a pixel invalid in any source is NaN in every band)
  mask.tif           uint8, 1 = valid in every source, 0 = nodata
  train_labels.tif   class ids (uint8, uint16 beyond 255), 0 = unlabelled
  test_labels.tif    class ids, 0 = unlabelled; disjoint from the training pixels
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.atomic import read_json_document
from cfipt_cli.classes import ClassTable
from cfipt_cli.errors import DataError, InputNotFoundError

SCENE_FORMAT = "cfipt-scene"
SCENE_FORMAT_VERSION = 1
META_NAME = "scene.json"
STACK_NAME = "stack.tif"
MASK_NAME = "mask.tif"
TRAIN_LABELS_NAME = "train_labels.tif"
TEST_LABELS_NAME = "test_labels.tif"


@dataclass
class Scene:
    """A prepared scene folder opened for reading (metadata only; rasters are read by path)."""

    root: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, path: str | Path) -> Scene:
        """Open and validate a scene folder written by `cfipt prepare`."""
        root = Path(path)
        if not root.exists():
            raise InputNotFoundError(f"scene folder {root} does not exist (run 'cfipt prepare' first)")
        meta_path = root / META_NAME
        if not root.is_dir() or not meta_path.exists():
            raise DataError(f"{root} is not a prepared scene folder (no {META_NAME}); run 'cfipt prepare'")
        meta = read_json_document(
            meta_path,
            SCENE_FORMAT,
            DataError,
            unreadable="{path} is unreadable: {exc}",
            foreign="{path} is not a cfipt scene description",
        )
        if int(meta.get("format_version", 0)) > SCENE_FORMAT_VERSION:
            raise DataError(f"{root} was written by a newer cfipt (scene format {meta['format_version']})")
        for name in (STACK_NAME, MASK_NAME, TRAIN_LABELS_NAME, TEST_LABELS_NAME):
            if not (root / name).exists():
                raise DataError(f"scene folder {root} is incomplete: {name} is missing")
        return cls(root=root, meta=meta)

    # Paths
    @property
    def stack_path(self) -> Path:
        return self.root / STACK_NAME

    @property
    def mask_path(self) -> Path:
        return self.root / MASK_NAME

    @property
    def train_labels_path(self) -> Path:
        return self.root / TRAIN_LABELS_NAME

    @property
    def test_labels_path(self) -> Path:
        return self.root / TEST_LABELS_NAME

    # Metadata
    @property
    def width(self) -> int:
        return int(self.meta["width"])

    @property
    def height(self) -> int:
        return int(self.meta["height"])

    @property
    def n_hsi(self) -> int:
        """C: number of HSI bands (the first C bands of the stack)."""
        return int(self.meta["band_roles"]["hsi"])

    @property
    def n_aux(self) -> int:
        """D: number of auxiliary (LiDAR + SAR) bands, after the HSI bands."""
        return int(self.meta["band_roles"]["aux"])

    @property
    def band_layout(self) -> list[str]:
        """Source of each stack band, e.g. ['hsi', 'hsi', ..., 'lidar', 'sar', ...]."""
        return [str(b["source"]) for b in self.meta["bands"]]

    @property
    def classes(self) -> ClassTable:
        return ClassTable.from_json(self.meta.get("classes", []))

    @property
    def band_mean(self) -> np.ndarray:
        return np.asarray(self.meta["statistics"]["mean"], dtype=np.float32)

    @property
    def band_std(self) -> np.ndarray:
        return np.asarray(self.meta["statistics"]["std"], dtype=np.float32)
