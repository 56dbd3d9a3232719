"""The prepared scene folder: the contract between `cfipt prepare` and train / predict / evaluate.

scene/
  scene.json         metadata (see README "The scene folder")
  stack.tif          float32, HSI bands then auxiliary (LiDAR, then SAR) bands, on the HSI grid,
                     nodata NaN (a pixel invalid in any source is NaN in every band)
  mask.tif           uint8, 1 = valid in every source, 0 = nodata
  train_labels.tif   class ids (uint8, uint16 beyond 255), 0 = unlabelled
  test_labels.tif    class ids, 0 = unlabelled; disjoint from the training pixels

scene.json is written here and only here (`SceneDescription`, `write_scene_meta`) and read back here
(`Scene.open`, key by key with `check_scene_meta`): prepare, the tests and the benchmarks all write it
through `write_scene_meta`, so that the keys and their order are those of one description.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from cfipt_cli import __version__
from cfipt_cli.contracts.folder import FolderFile, OpenedFolder, PerBand
from cfipt_cli.errors import CfiptError, DataError, InputNotFoundError
from cfipt_cli.io.atomic import JsonDocument
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import utc_now
from cfipt_cli.io.schema import Document

SCENE_FORMAT = "cfipt-scene"
SCENE_FORMAT_VERSION = 1
META_NAME = "scene.json"
STACK_NAME = "stack.tif"
MASK_NAME = "mask.tif"
TRAIN_LABELS_NAME = "train_labels.tif"
TEST_LABELS_NAME = "test_labels.tif"
SCENE_DOCUMENT = JsonDocument(
    SCENE_FORMAT,
    DataError,
    unreadable="{path} is unreadable: {exc}",
    foreign="{path} is not a cfipt scene description",
)


SOURCES = ("hsi", "lidar", "sar")
STATISTICS = ("mean", "std", "min", "max")
T = TypeVar("T")


# ------------------------------------------------------------------------------------ the description
@dataclass(frozen=True)
class SceneBand:
    """One band of stack.tif: 1-based `index`, its `source` role, its band in its file, its input."""

    index: int
    source: str  # "hsi", "lidar" or "sar"
    source_band: int
    description: str  # "hsi:1", "lidar:1", ...: the band description in stack.tif
    input: int  # index into `sources`


@dataclass(frozen=True)
class RasterInput:
    """A raster input as scene.json records it (`sources` entry of the HSI, a LiDAR or a SAR file)."""

    role: str
    path: str
    sha256: str
    format: str  # "gdal" or "mat"
    mat_key: str | None
    bands: int
    width: int
    height: int
    dtype: str
    crs: str | None  # WKT
    resolution: tuple[float, float] | None
    nodata: float | str | None  # "nan" for NaN
    resampling: str  # "none" when already on the HSI grid


@dataclass(frozen=True)
class LabelInput:
    """A label input as scene.json records it (`sources` entry with role labels or test_labels)."""

    role: str
    path: str
    sha256: str
    format: str  # "vector" or "raster"
    field: str | None  # vector layers only
    all_touched: bool | None  # vector layers only
    resampling: str  # "rasterize" or "nearest"


@dataclass(frozen=True)
class TrainTest(Generic[T]):
    """A pair of values for the training and the test pixels."""

    train: T
    test: T


@dataclass(frozen=True)
class SplitRecord:
    """How the labelled pixels were split (`cfipt_cli.prepare.split`)."""

    mode: str
    train_per_class: int | str  # or "all": every labelled pixel of the training labels trains
    seed: int
    patch_size: int
    block_size: int | None  # blocks mode only
    test_labels: str | None  # the independent test labels, if any
    excluded: int = 0
    small_classes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # id -> labelled, train


@dataclass(frozen=True)
class BandStatistics:
    """Per stack band over the valid pixels: mean, population std, min, max; and the valid pixels."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    min: tuple[float | None, ...]
    max: tuple[float | None, ...]
    count: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BandStatistics:
        """From the JSON form, e.g. `RunningStats.to_json()`."""
        mean, std, low, high = (tuple(data[key]) for key in STATISTICS)
        return cls(mean, std, low, high, int(data["count"]))


@dataclass(frozen=True)
class SceneDescription:
    """What scene.json says (README "The scene folder"); `to_json` gives its keys in their order."""

    width: int
    height: int
    crs: str | None  # WKT, None for a plain pixel grid
    transform: tuple[float, ...]  # a, b, c, d, e, f
    bands: tuple[SceneBand, ...]
    sources: tuple[RasterInput | LabelInput, ...]
    valid_pixels: int
    classes: ClassTable
    counts: TrainTest[Mapping[str, int]]  # {"<id>": n}, every class of the table
    labels_on_nodata: TrainTest[int]  # labelled pixels ignored because they fall on nodata
    split: SplitRecord
    statistics: BandStatistics
    cfipt_version: str = __version__
    created: str = field(default_factory=utc_now)

    def band_roles(self) -> dict[str, int]:
        """{"hsi": C, "aux": D, "lidar": n, "sar": m} from the bands."""
        layout = [band.source for band in self.bands]
        n_hsi = layout.count("hsi")
        return {
            "hsi": n_hsi,
            "aux": len(layout) - n_hsi,
            "lidar": layout.count("lidar"),
            "sar": layout.count("sar"),
        }

    def to_json(self) -> dict[str, Any]:
        """The scene.json object."""
        return {
            "format": SCENE_FORMAT,
            "format_version": SCENE_FORMAT_VERSION,
            "cfipt_version": self.cfipt_version,
            "created": self.created,
            "width": self.width,
            "height": self.height,
            "crs": self.crs,
            "transform": list(self.transform),
            "georeferenced": self.crs is not None,
            "bands": [asdict(band) for band in self.bands],
            "band_roles": self.band_roles(),
            "sources": [asdict(source) for source in self.sources],
            "nodata": "nan",
            "mask": {"valid_pixels": self.valid_pixels, "total_pixels": self.width * self.height},
            "classes": self.classes.to_json(),
            "counts": asdict(self.counts),
            "labels_on_nodata": asdict(self.labels_on_nodata),
            "split": asdict(self.split),
            "statistics": asdict(self.statistics),
        }


def write_scene_meta(folder: Path, description: SceneDescription) -> Path:
    """Write `folder`/scene.json: the one writer of the file (prepare, tests and benchmarks)."""
    path = Path(folder) / META_NAME
    path.write_text(json.dumps(description.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ the reader


def check_scene_meta(meta: dict[str, Any], path: Path) -> None:
    """Every key of scene.json that cfipt reads, with its type and its consistency, before any work.

    Raises:
        DataError: one line naming the first bad key (the scene folder is damaged: prepare it again).
    """
    doc = Document(meta, path, "the scene folder is damaged or was edited; prepare it again")
    doc.integer("format_version", low=1)
    doc.integer("width", low=1)
    doc.integer("height", low=1)
    crs = meta.get("crs")
    if crs is not None and not isinstance(crs, str):
        raise doc.error("crs", "a WKT string or null")
    doc.numbers("transform", length=6)
    bands = doc.items("bands", dict, low=1)
    n = len(bands)
    for i, band in enumerate(bands, start=1):
        if band.get("index") != i or band.get("source") not in SOURCES:
            raise doc.error(f"bands[{i - 1}]", f"index {i} and a source among {', '.join(SOURCES)}")
    layout = [b["source"] for b in bands]
    roles = doc.mapping("band_roles")  # hsi and aux are read; lidar and sar checked when present
    n_hsi, n_aux = layout.count("hsi"), n - layout.count("hsi")
    if layout[:n_hsi] != ["hsi"] * n_hsi or n_hsi < 1 or n_aux < 1:
        raise doc.error("bands", "at least one hsi band first, then at least one lidar or sar band")
    expected = {"hsi": n_hsi, "aux": n_aux, "lidar": layout.count("lidar"), "sar": layout.count("sar")}
    for key, value in expected.items():
        given = roles.get(key, value if key in ("lidar", "sar") else None)
        if given != value or isinstance(given, bool):
            raise doc.error(f"band_roles.{key}", f"{value}, the number of {key} entries in bands")
    statistics = doc.sub("statistics")
    for key in STATISTICS:
        statistics.numbers(key, length=n)
    if any(v < 0 for v in statistics.data["std"]):
        raise statistics.error("std", "non-negative numbers")
    classes = doc.class_table("classes", required=False)  # ids and names, names strings
    try:
        ClassTable.from_json(classes)
    except (CfiptError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise doc.error("classes", f"a valid class table ({exc})") from exc


def check_scene_rasters(root: Path, meta: dict[str, Any]) -> None:
    """The rasters of the folder have the size scene.json gives; stack.tif one band per `bands` entry."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from cfipt_cli.io.gdal import gdal_errors

    size = (int(meta["width"]), int(meta["height"]))
    for name, count in (
        (STACK_NAME, len(meta["bands"])),
        (MASK_NAME, 1),
        (TRAIN_LABELS_NAME, 1),
        (TEST_LABELS_NAME, 1),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                src = rasterio.open(root / name)
            with src:
                shape = (src.width, src.height, src.count)
        except gdal_errors() as exc:
            raise DataError(f"{root / name} is unreadable ({exc}); prepare the scene again") from exc
        if shape != (*size, count):
            raise DataError(
                f"{root / name} has {shape[2]} band(s) of {shape[0]} x {shape[1]} px but {META_NAME} "
                f"describes {count} of {size[0]} x {size[1]}; the scene folder is damaged: prepare it again"
            )


class Scene(OpenedFolder):
    """A prepared scene folder opened for reading (metadata only; rasters are read by path)."""

    @classmethod
    def open(cls, path: str | Path) -> Scene:
        """Open and validate a scene folder written by `cfipt prepare`."""
        root = Path(path)
        if not root.exists():
            raise InputNotFoundError(f"scene folder {root} does not exist (run 'cfipt prepare' first)")
        meta_path = root / META_NAME
        if not root.is_dir() or not meta_path.exists():
            raise DataError(f"{root} is not a prepared scene folder (no {META_NAME}); run 'cfipt prepare'")
        meta = SCENE_DOCUMENT.read(meta_path)
        version = meta.get("format_version")
        if isinstance(version, int) and version > SCENE_FORMAT_VERSION:
            raise DataError(f"{root} was written by a newer cfipt (scene format {version})")
        for name in (STACK_NAME, MASK_NAME, TRAIN_LABELS_NAME, TEST_LABELS_NAME):
            if not (root / name).exists():
                raise DataError(f"scene folder {root} is incomplete: {name} is missing")
        check_scene_meta(meta, meta_path)
        check_scene_rasters(root, meta)
        return cls(root=root, meta=meta)

    stack_path = FolderFile(STACK_NAME)
    mask_path = FolderFile(MASK_NAME)
    train_labels_path = FolderFile(TRAIN_LABELS_NAME)
    test_labels_path = FolderFile(TEST_LABELS_NAME)

    # Metadata
    @property
    def width(self) -> int:
        return int(self.meta["width"])

    @property
    def height(self) -> int:
        return int(self.meta["height"])

    @property
    def band_layout(self) -> list[str]:
        """Source of each stack band, e.g. ['hsi', 'hsi', ..., 'lidar', 'sar', ...]."""
        return [str(b["source"]) for b in self.meta["bands"]]

    def labelled_pixels(self, part: str) -> int:
        """How many "train" or "test" pixels the scene has (scene.json `counts`)."""
        return sum(int(n) for n in self.meta.get("counts", {}).get(part, {}).values())

    band_mean = PerBand("statistics", "mean")
    band_std = PerBand("statistics", "std")
