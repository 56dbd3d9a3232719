"""Finding a benchmark's files in a folder by the public layouts (`datasets`), options overriding them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cfipt_cli.errors import InputNotFoundError
from cfipt_cli.reproduce.datasets import (
    ALL_LABEL_NAMES,
    HSI_NAMES,
    LIDAR_NAMES,
    SAR_NAMES,
    TEST_LABEL_NAMES,
    TRAIN_LABEL_NAMES,
    Dataset,
)


@dataclass(frozen=True)
class GivenFiles:
    """Files named on the command line (`--hsi`, `--lidar`, `--sar`, `--labels`, `--test-labels`)."""

    hsi: Path | None = None
    lidar: Path | None = None
    sar: Path | None = None
    labels: Path | None = None
    test_labels: Path | None = None


@dataclass(frozen=True)
class DatasetFiles:
    """The files of one benchmark: the HSI, its auxiliary source, the training labels and, for an
    official split, the independent test labels (None: the labels are split at random)."""

    hsi: Path
    aux_role: str  # "lidar" or "sar"
    aux: Path
    labels: Path
    test_labels: Path | None

    def named(self) -> list[tuple[str, Path]]:
        """Every file with what it is (the output policy's inputs)."""
        named = [("HSI", self.hsi), ("LiDAR" if self.aux_role == "lidar" else "SAR", self.aux)]
        named.append(("labels", self.labels))
        return named + ([("test labels", self.test_labels)] if self.test_labels is not None else [])

    def to_json(self) -> dict[str, str | None]:
        test = str(self.test_labels) if self.test_labels is not None else None
        aux = {"aux_role": self.aux_role, "aux": str(self.aux)}
        return {"hsi": str(self.hsi), **aux, "labels": str(self.labels), "test_labels": test}


def _find(folder: Path, names: list[str]) -> Path | None:
    """The first of `names` in `folder`: spelt exactly, else compared case-insensitively (public
    layouts differ in case only, and some folders hold both spellings: Houston's TRLabel / TrLabel)."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file())
    exact = {p.name: p for p in files}
    folded: dict[str, Path] = {}
    for p in files:
        folded.setdefault(p.name.lower(), p)
    return next((exact.get(n) or folded[n.lower()] for n in names if n in exact or n.lower() in folded), None)


def _given(path: Path | None, what: str) -> Path | None:
    if path is not None and not path.exists():
        raise InputNotFoundError(f"{what} {path} does not exist")
    return path


def _missing(data: Path, dataset: Dataset, what: str, names: list[str], option: str) -> InputNotFoundError:
    return InputNotFoundError(
        f"no {what} file of {dataset.key} in {data}: looked for {', '.join(names)}; pass {option} FILE"
    )


def _labels(data: Path, dataset: Dataset, given: GivenFiles) -> tuple[Path, Path | None]:
    """The training labels and the test labels: given, an official pair, or one map of all labels."""
    labels = _given(given.labels, "labels")
    test = _given(given.test_labels, "test labels")
    if labels is not None:
        return labels, test
    train_names, test_names = dataset.names(TRAIN_LABEL_NAMES), dataset.names(TEST_LABEL_NAMES)
    found_train, found_test = _find(data, train_names), _find(data, test_names)
    if found_train is not None and (found_test is not None or test is not None):
        return found_train, test or found_test
    all_names = dataset.names(ALL_LABEL_NAMES)
    found_all = _find(data, all_names)
    if found_all is not None:
        return found_all, test
    looked = [f"{a} + {b}" for a, b in zip(train_names, test_names, strict=True)] + all_names
    raise _missing(data, dataset, "label", looked, "--labels")


def discover(data: Path, dataset: Dataset, given: GivenFiles) -> DatasetFiles:
    """The dataset's files in `data` (top level, names case-insensitive), each given file instead of
    the one found.

    Raises:
        InputNotFoundError: a given file that does not exist, or a role with no file found; the line
            lists the names looked for.
    """
    if given.hsi is None and not data.is_dir():
        raise InputNotFoundError(f"data folder {data} does not exist")
    hsi = _given(given.hsi, "HSI") or _find(data, dataset.names(HSI_NAMES))
    if hsi is None:
        raise _missing(data, dataset, "HSI", dataset.names(HSI_NAMES), "--hsi")
    role = "sar" if given.sar is not None else "lidar" if given.lidar is not None else dataset.aux
    aux_given = _given(given.sar if role == "sar" else given.lidar, "SAR" if role == "sar" else "LiDAR")
    aux_names = dataset.names(SAR_NAMES if role == "sar" else LIDAR_NAMES)
    aux = aux_given or _find(data, aux_names)
    if aux is None:
        raise _missing(data, dataset, "SAR" if role == "sar" else "LiDAR", aux_names, f"--{role}")
    labels, test = _labels(data, dataset, given)
    return DatasetFiles(
        hsi.resolve(), role, aux.resolve(), labels.resolve(), test.resolve() if test else None
    )
