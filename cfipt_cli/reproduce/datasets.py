"""The four benchmarks of the paper: their public file layouts, class names, training preset and figures.

File names are those public code of the field ships (shared/data/README.md); class names are in label
order 1..K; the paper's figures (OA / AA / kappa in percent, 40 training pixels per class, and the OA of
the ablations) are those of shared/spec/method.md. The paper reports nothing on Trento.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cfipt_cli.errors import CfiptUsageError

# The files of each role, tried in this order (case-insensitive); {name} is the dataset's name.
HSI_NAMES = ("HSI_data.mat", "HSI.mat", "{name}_hsi.mat", "{name}.mat")
LIDAR_NAMES = ("LiDAR_data.mat", "LiDAR.mat", "{name}_lidar.mat", "DSM.mat")
SAR_NAMES = ("SAR_data.mat", "SAR.mat", "{name}_sar.mat")
# Training and test label maps of an official split (the test map is the independent test set) ...
TRAIN_LABEL_NAMES = ("TRLabel.mat", "{name}_train.mat", "train_label.mat")
TEST_LABEL_NAMES = ("TSLabel.mat", "{name}_test.mat", "test_label.mat")
# ... or one map of every labelled pixel, split at random.
ALL_LABEL_NAMES = ("All_Label.mat", "{name}_gt.mat", "gt.mat", "labels.mat")


@dataclass(frozen=True)
class PaperFigures:
    """What the paper publishes for a dataset: OA, AA and kappa (percent) and the OA of each variant."""

    oa: float
    aa: float
    kappa: float
    ablation_oa: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """One benchmark: its name in file names, the auxiliary source, class names, preset and figures.

    Attributes:
        train_preset: TrainConfig values for this dataset (the patch size of `models/configs/*.json`);
            a typed option wins over them.
    """

    key: str
    title: str
    file_name: str
    aux: str  # "lidar" or "sar"
    class_names: tuple[str, ...]
    train_preset: Mapping[str, Any]
    paper: PaperFigures | None

    def names(self, patterns: tuple[str, ...]) -> list[str]:
        """The file names to look for, in order, without repeats."""
        filled = [p.format(name=self.file_name) for p in patterns]
        return list(dict.fromkeys(filled))


def _ablation(*values: float) -> dict[str, float]:
    return dict(zip(("full", "1", "2", "3", "4a", "4b", "4c", "4d"), values, strict=True))


DATASETS: dict[str, Dataset] = {
    "houston": Dataset(
        "houston",
        "Houston2013 (HSI + LiDAR)",
        "Houston",
        "lidar",
        (
            "Healthy grass",
            "Stressed grass",
            "Synthetic grass",
            "Trees",
            "Soil",
            "Water",
            "Residential",
            "Commercial",
            "Road",
            "Highway",
            "Railway",
            "Parking lot 1",
            "Parking lot 2",
            "Tennis court",
            "Running track",
        ),
        {"patch_size": 11},
        PaperFigures(97.89, 98.23, 97.72, _ablation(97.89, 96.74, 93.28, 92.49, 96.70, 96.22, 96.67, 96.85)),
    ),
    "muufl": Dataset(
        "muufl",
        "MUUFL Gulfport (HSI + LiDAR)",
        "MUUFL",
        "lidar",
        (
            "Trees",
            "Mostly grass",
            "Mixed ground surface",
            "Dirt and sand",
            "Road",
            "Water",
            "Building shadow",
            "Building",
            "Sidewalk",
            "Yellow curb",
            "Cloth panels",
        ),
        {"patch_size": 11},
        PaperFigures(89.25, 88.42, 85.89, _ablation(89.25, 83.94, 86.62, 80.77, 88.02, 88.09, 85.88, 86.37)),
    ),
    "augsburg": Dataset(
        "augsburg",
        "Augsburg (HSI + SAR)",
        "Augsburg",
        "sar",
        (
            "Forest",
            "Residential area",
            "Industrial area",
            "Low plants",
            "Allotment",
            "Commercial area",
            "Water",
        ),
        {"patch_size": 9},
        PaperFigures(89.83, 80.05, 85.64, _ablation(89.83, 84.56, 84.62, 80.60, 86.66, 86.55, 86.34, 86.37)),
    ),
    "trento": Dataset(
        "trento",
        "Trento (HSI + LiDAR)",
        "Trento",
        "lidar",
        ("Apple trees", "Buildings", "Ground", "Woods", "Vineyard", "Roads"),
        {},
        None,  # the paper does not evaluate on Trento
    ),
}


def get_dataset(key: str) -> Dataset:
    """The dataset named `key` (case-insensitive).

    Raises:
        CfiptUsageError: an unknown name, with the valid ones.
    """
    dataset = DATASETS.get(key.strip().lower())
    if dataset is None:
        raise CfiptUsageError(f"unknown --dataset {key!r}; valid: {', '.join(DATASETS)}")
    return dataset
