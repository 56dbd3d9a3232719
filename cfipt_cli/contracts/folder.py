"""What an opened scene folder and an opened model folder share: a root, the folder's JSON description
(checked at open), the band roles and class table that a model records from its scene, and two kinds
of read-only attribute: `FolderFile` (a file of the folder) and `PerBand` (a per-band list of the
description as a float32 array)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cfipt_cli.io.classes import ClassTable


class FolderFile:
    """A file of an opened folder as a read-only attribute: `stack_path = FolderFile("stack.tif")` makes
    `scene.stack_path` the path `scene.root / "stack.tif"`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, folder: OpenedFolder, owner: type | None = None) -> Path:
        return folder.root / self.name


class PerBand:
    """A per-band list of an opened folder's description as a read-only float32 array:
    `band_mean = PerBand("statistics", "mean")` makes `scene.band_mean` `meta["statistics"]["mean"]`."""

    def __init__(self, section: str, key: str) -> None:
        self.section, self.key = section, key

    def __get__(self, folder: OpenedFolder, owner: type | None = None) -> np.ndarray:
        return np.asarray(folder.meta[self.section][self.key], dtype=np.float32)


@dataclass
class OpenedFolder:
    """A cfipt folder opened for reading: its path and its parsed description (scene.json, model.json)."""

    root: Path
    meta: dict[str, Any]

    @property
    def n_hsi(self) -> int:
        """C: number of HSI bands (the first C bands of the stack)."""
        return int(self.meta["band_roles"]["hsi"])

    @property
    def n_aux(self) -> int:
        """D: number of auxiliary (LiDAR + SAR) bands, after the HSI bands."""
        return int(self.meta["band_roles"]["aux"])

    @property
    def classes(self) -> ClassTable:
        """The class table, ids ascending (a model's logit index k is its k-th class)."""
        return ClassTable.from_json(self.meta.get("classes", []))
