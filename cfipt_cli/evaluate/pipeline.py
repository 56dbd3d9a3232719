"""`cfipt evaluate`: accuracy of a classification map against a reference, and summaries over runs.

The reference is a prepared scene folder (its test labels), a label raster, a vector file or a benchmark
.mat label array. It is put on the map's grid (nearest resampling, or rasterisation for vectors; a .mat
array has no georeference and must already have the map's shape) and read window by window, so a scene
larger than memory is evaluated in constant memory: only the counts of (reference value, map value)
pairs are kept. Classes are then matched by name through the class tables of both sides (ids when
either side has no names), the confusion matrix is built and the metrics of `cfipt_cli.evaluate.metrics` follow.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from cfipt_cli import __version__
from cfipt_cli.contracts.scene import Scene
from cfipt_cli.errors import CfiptUsageError, DataError, InputNotFoundError
from cfipt_cli.evaluate.metrics import AccuracyMetrics, accuracy_metrics, mean_std
from cfipt_cli.evaluate.report_schema import REPORT_FORMAT, read_reports
from cfipt_cli.io.classes import MAX_CLASS_ID, ClassInfo, ClassTable, default_colour
from cfipt_cli.io.files import utc_now
from cfipt_cli.io.matfiles import MatArray, is_mat, open_mat, variable_names
from cfipt_cli.log import get_logger

LOG = get_logger(__name__)

SUMMARY_FORMAT = "cfipt-evaluation-summary"
FORMAT_VERSION = 1
BLOCK_SIZE = 1024  # window side: a few 8 MB int64 arrays per window
SUMMARY_DDOF = 1
VECTOR_SUFFIXES = {".shp", ".gpkg", ".geojson", ".json", ".fgb", ".kml", ".gml", ".sqlite", ".parquet"}

LabelReader = Callable[[Any], np.ndarray]  # rasterio Window -> int64 class ids, 0 = unlabelled


@dataclass(frozen=True)
class MatchedClass:
    """A class of the evaluation: its id in the report and its pixel value in each map (None: absent)."""

    id: int
    name: str
    reference_value: int | None
    map_value: int | None


@dataclass(frozen=True)
class Grid:
    """The map's pixel grid, on which the reference is read."""

    crs: Any
    transform: Any
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        from rasterio.transform import array_bounds

        west, south, east, north = array_bounds(self.height, self.width, self.transform)
        return (west, south, east, north)


@dataclass
class EvaluationResult:
    """What `evaluate_map` found: matched classes, metrics and the warnings raised on the way."""

    map_path: Path
    reference_path: Path
    reference_kind: str
    reference_field: str | None
    class_matching: str
    classes: list[MatchedClass]
    metrics: AccuracyMetrics
    reference_without_prediction: int
    warnings: list[str] = field(default_factory=list)
    reference_mat_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON types (NaN becomes null); the schema every report format reads."""
        m = self.metrics
        classes = []
        for i, c in enumerate(self.classes):
            classes.append(
                {
                    "id": c.id,
                    "name": c.name,
                    "reference_value": c.reference_value,
                    "map_value": c.map_value,
                    "reference_pixels": int(m.reference_pixels[i]),
                    "predicted_pixels": int(m.predicted_pixels[i]),
                    "correct": int(m.correct[i]),
                    "producer_accuracy": _finite(m.producer_accuracy[i]),
                    "user_accuracy": _finite(m.user_accuracy[i]),
                    "f1": _finite(m.f1[i]),
                    "in_reference": bool(m.reference_pixels[i] > 0),
                    "predicted": bool(m.predicted_pixels[i] > 0),
                }
            )
        return {
            "format": REPORT_FORMAT,
            "format_version": FORMAT_VERSION,
            "cfipt_version": __version__,
            "created": utc_now(),
            "map": str(self.map_path),
            "reference": {
                "path": str(self.reference_path),
                "kind": self.reference_kind,
                "field": self.reference_field,
                "mat_key": self.reference_mat_key,
            },
            "class_matching": self.class_matching,
            "pixels": {
                "evaluated": m.n_pixels,
                "reference_without_prediction": self.reference_without_prediction,
            },
            "overall_accuracy": _finite(m.overall_accuracy),
            "average_accuracy": _finite(m.average_accuracy),
            "kappa": _finite(m.kappa),
            "classes": classes,
            "confusion_matrix": {
                "rows": "reference",
                "columns": "prediction",
                "labels": [c.id for c in self.classes],
                "matrix": m.matrix.tolist(),
            },
            "warnings": list(self.warnings),
        }


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _warn(notes: list[str], message: str) -> None:
    notes.append(message)
    LOG.warning(message)


# ---------------------------------------------------------------------------------------------------
# Reading class ids
# ---------------------------------------------------------------------------------------------------


def class_ids(values: np.ndarray, nodata: Sequence[float | None], what: str) -> np.ndarray:
    """Pixel values -> int64 class ids with 0 wherever the pixel is nodata, NaN, 0 or negative.

    Raises:
        DataError: non-integral values or values above 65535 (not class ids).
    """
    arr = np.asarray(values)
    invalid = arr <= 0
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        invalid |= ~finite
        if np.any(arr[finite] != np.round(arr[finite])):
            raise DataError(f"{what} holds non-integer values; a class map must hold integer class ids")
    for value in nodata:
        if value is not None and not math.isnan(value):
            invalid |= arr == value
    ids = np.where(invalid, 0, np.nan_to_num(arr)).astype(np.int64)
    if ids.size and ids.max() > MAX_CLASS_ID:
        raise DataError(f"{what} holds values above {MAX_CLASS_ID}, which are not class ids")
    return ids


def _windows(width: int, height: int, block: int) -> Iterator[Any]:
    from rasterio.windows import Window

    for row in range(0, height, block):
        for col in range(0, width, block):
            yield Window(col, row, min(block, width - col), min(block, height - row))


def _open_raster(path: Path, what: str, stack: contextlib.ExitStack) -> Any:
    """Open a raster for reading. A raster without geotransform is a plain pixel grid (a scene prepared
    from .mat files, its maps), a case `_on_grid` handles and reports itself: rasterio's
    NotGeoreferencedWarning about it is silenced here, and only it."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    if not path.exists():
        raise InputNotFoundError(f"{what} {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
            return stack.enter_context(rasterio.open(path))
    except RasterioIOError as exc:
        raise DataError(f"{what} {path} is not a readable raster: {exc}") from exc


def _same_grid(src: Any, grid: Grid) -> bool:
    return (
        src.width == grid.width
        and src.height == grid.height
        and src.transform.almost_equals(grid.transform)
        and (src.crs == grid.crs or src.crs is None or grid.crs is None)
    )


def _intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two (west, south, east, north) boxes overlap; a pixel grid (rows going down in y) gives
    south > north, so each box is put in order first."""
    ax0, ax1, ay0, ay1 = min(a[0], a[2]), max(a[0], a[2]), min(a[1], a[3]), max(a[1], a[3])
    bx0, bx1, by0, by1 = min(b[0], b[2]), max(b[0], b[2]), min(b[1], b[3]), max(b[1], b[3])
    return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1


def _check_overlap(bounds: tuple[float, ...], grid: Grid, what: str, path: Path) -> None:
    if not _intersects(tuple(bounds), grid.bounds):
        raise DataError(
            f"{what} {path} does not overlap the map; check that both cover the same area and have the right CRS"
        )


def _on_grid(
    src: Any, grid: Grid, what: str, path: Path, notes: list[str], stack: contextlib.ExitStack
) -> Any:
    """The raster as a dataset on the map grid: itself when aligned, else a nearest-resampled WarpedVRT."""
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.warp import transform_bounds

    if _same_grid(src, grid):
        if (src.crs is None) != (grid.crs is None):
            _warn(
                notes, f"{what} {path} and the map share their grid but one has no CRS; assuming they match"
            )
        return src
    if (src.crs is None) != (grid.crs is None):
        raise DataError(
            f"{what} {path} and the map are on different grids and one has no CRS; cannot align them"
        )
    src_crs, dst_crs = src.crs, grid.crs
    if src_crs is None and (src.transform.is_identity or grid.transform.is_identity):
        raise DataError(
            f"{what} {path} ({src.height} x {src.width} px) and the map ({grid.height} x {grid.width} px) "
            "have no georeference and different shapes; without georeference the pixel grids must match"
        )
    if src_crs is None:  # two pixel grids without CRS: compare them in one arbitrary planar CRS
        src_crs = dst_crs = CRS.from_epsg(3857)
        _check_overlap(src.bounds, grid, what, path)
    else:
        _check_overlap(transform_bounds(src_crs, dst_crs, *src.bounds), grid, what, path)
    LOG.info("%s %s is on another grid: resampled to the map grid (nearest)", what, path)
    return stack.enter_context(
        WarpedVRT(
            src,
            src_crs=src_crs,
            crs=dst_crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling.nearest,
            src_nodata=src.nodata,
            nodata=0,
            tolerance=1e-6,  # ~exact transform: the label under each map pixel centre (0 breaks GDAL)
        )
    )


def _raster_reader(
    path: Path, grid: Grid, what: str, notes: list[str], stack: contextlib.ExitStack
) -> LabelReader:
    src = _open_raster(path, what, stack)
    aligned = _on_grid(src, grid, what, path, notes, stack)
    nodata = [src.nodata]

    def read(window: Any) -> np.ndarray:
        return class_ids(aligned.read(1, window=window), nodata, f"{what} {path}")

    return read


# ---------------------------------------------------------------------------------------------------
# References: scene folder, label raster, vector file, .mat label array
# ---------------------------------------------------------------------------------------------------

_KIND_WORDS = {"scene": "scene folder", "raster": "raster", "mat": ".mat file", "vector": "vector file"}


def reference_kind(path: Path, field_name: str | None, mat_keys: Sequence[str] = ()) -> str:
    """'scene' (a folder), 'mat' (a .mat file), 'vector' (with a field) or 'raster'.

    Raises:
        CfiptUsageError: a vector file without --field, --field with a raster, scene or .mat file, or
            --mat-key with anything but a .mat file.
    """
    if path.is_dir():
        kind = "scene"
    elif is_mat(path):
        kind = "mat"
    elif field_name is not None:
        kind = "vector"
    elif path.suffix.lower() in VECTOR_SUFFIXES:
        raise CfiptUsageError(f"{path} looks like a vector file: pass --field with the class attribute")
    else:
        kind = "raster"
    if field_name is not None and kind != "vector":
        raise CfiptUsageError(f"--field applies to vector references only; {path} is a {_KIND_WORDS[kind]}")
    if mat_keys and kind != "mat":
        raise CfiptUsageError(f"--mat-key applies to .mat references only; {path} is a {_KIND_WORDS[kind]}")
    return kind


def _open_mat_labels(
    path: Path, mat_keys: Sequence[str], grid: Grid, stack: contextlib.ExitStack
) -> MatArray:
    """The label array of a .mat file, checked to be one 2-D numeric array with the map's shape."""
    mat = open_mat(path, mat_keys)
    stack.callback(mat.close)
    if mat_keys and mat.key not in mat_keys:
        names = ", ".join(variable_names(path)) or "none"
        raise DataError(
            f"reference {path} has no variable {' or '.join(map(repr, mat_keys))} (--mat-key); "
            f"its variables: {names}"
        )
    bands, rows, cols = mat.shape
    if bands != 1:
        raise DataError(
            f"reference {path} variable {mat.key!r} is a {rows} x {cols} x {bands} cube, not a 2-D label "
            "array; choose the label variable with --mat-key"
        )
    if mat.dtype.kind not in "biuf":
        raise DataError(f"reference {path} variable {mat.key!r} holds {mat.dtype} values, not class ids")
    if (rows, cols) != (grid.height, grid.width):
        raise DataError(
            f"reference {path} variable {mat.key!r} is {rows} x {cols} px but the map is "
            f"{grid.height} x {grid.width} px; a .mat reference has no georeference, so it must have "
            "the map's shape (rows x columns)"
        )
    return mat


def _mat_reader(
    path: Path, mat_keys: Sequence[str], grid: Grid, notes: list[str], stack: contextlib.ExitStack
) -> tuple[LabelReader, str]:
    """A .mat label array (0 = unlabelled) read on the map grid, pixel for pixel, and its variable name."""
    mat = _open_mat_labels(path, mat_keys, grid, stack)
    if grid.crs is not None:
        _warn(notes, f"reference {path} has no georeference; assuming it is on the map's pixel grid")
    what = f"reference {path} ({mat.key})"

    def read(window: Any) -> np.ndarray:
        block = mat.read(int(window.row_off), int(window.col_off), int(window.height), int(window.width))
        return class_ids(block[0], [], what)

    return read, mat.key


class _SceneLabels:
    """The test labels of a scene on the map grid, with any training pixel left out."""

    def __init__(self, test: LabelReader, train: LabelReader):
        self.test, self.train = test, train
        self.training_pixels_dropped = 0

    def __call__(self, window: Any) -> np.ndarray:
        labels = self.test(window)
        overlap = (labels > 0) & (self.train(window) > 0)
        if overlap.any():  # the scene contract says disjoint; never count a training pixel anyway
            self.training_pixels_dropped += int(overlap.sum())
            labels[overlap] = 0
        return labels


def _scene_reader(
    path: Path, grid: Grid, notes: list[str], stack: contextlib.ExitStack
) -> tuple[_SceneLabels, ClassTable | None]:
    scene = Scene.open(path)
    test = _raster_reader(scene.test_labels_path, grid, "scene test labels", notes, stack)
    train = _raster_reader(scene.train_labels_path, grid, "scene training labels", notes, stack)
    classes = scene.classes
    return _SceneLabels(test, train), (classes if len(classes) else None)


def _name_key(name: str) -> str:
    """Names match ignoring case and runs of blanks ('Parking lot 1' == 'parking  lot 1')."""
    return re.sub(r"\s+", " ", name).strip().casefold()


def _vector_ids(
    values: Any, map_table: ClassTable | None, path: Path
) -> tuple[np.ndarray, ClassTable | None]:
    """Field values -> class ids, plus the reference class table when the field holds names."""
    from cfipt_cli.prepare.labels import integer_class_ids

    numbers = integer_class_ids(values, f"the class field of {path}", names_option=None)
    if numbers is not None:
        return numbers, None
    text = values.astype(str).str.strip()
    if map_table is None or not len(map_table):
        raise DataError(f"{path} names its classes but the map has no class names (.aux.xml); pass --classes")
    by_key = {_name_key(c.name): c.id for c in map_table}
    next_id = map_table.max_id + 1
    ids: dict[str, int] = {}
    for name in sorted(set(text)):
        if _name_key(name) in by_key:
            ids[name] = by_key[_name_key(name)]
        else:
            ids[name], next_id = next_id, next_id + 1
    table = ClassTable(ClassInfo(i, n, default_colour(i)) for n, i in ids.items())
    return text.map(ids).to_numpy(dtype=np.int64), table


def _read_vector(path: Path, field_name: str) -> Any:
    import geopandas as gpd
    from pyogrio.errors import DataLayerError, DataSourceError

    if not path.exists():
        raise InputNotFoundError(f"reference {path} does not exist")
    try:
        frame = gpd.read_file(path)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise DataError(f"reference {path} is not a readable vector file: {exc}") from exc
    if field_name not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise DataError(f"{path} has no field {field_name!r}; its fields are: {fields or 'none'}")
    return frame[frame.geometry.notna() & frame[field_name].notna()]


def _vector_reader(
    path: Path,
    field_name: str,
    grid: Grid,
    map_table: ClassTable | None,
    all_touched: bool,
    notes: list[str],
) -> tuple[LabelReader, ClassTable | None]:
    from affine import Affine
    from rasterio.features import rasterize
    from rasterio.transform import array_bounds
    from shapely.geometry import box

    frame = _read_vector(path, field_name)
    if frame.crs is not None and grid.crs is not None:
        frame = frame.to_crs(grid.crs)
    elif frame.crs is not None or grid.crs is not None:
        _warn(notes, f"{path} or the map has no CRS; assuming both use the same coordinates")
    if frame.empty:
        raise DataError(f"{path} has no feature with a geometry and a value in {field_name!r}")
    _check_overlap(tuple(frame.total_bounds), grid, "reference", path)
    ids, table = _vector_ids(frame[field_name], map_table, path)
    geoms = frame.geometry.to_numpy()
    index = frame.sindex

    def read(window: Any) -> np.ndarray:
        shape = (int(window.height), int(window.width))
        window_transform = grid.transform @ Affine.translation(window.col_off, window.row_off)
        hits = index.query(box(*array_bounds(*shape, window_transform)))
        if len(hits) == 0:
            return np.zeros(shape, dtype=np.int64)
        # Later features burn over earlier ones where polygons overlap (file order).
        hits = np.sort(hits)
        burnt = rasterize(
            zip(geoms[hits], ids[hits].tolist(), strict=True),
            out_shape=shape,
            transform=window_transform,
            fill=0,
            all_touched=all_touched,
            dtype="int32",
        )
        return class_ids(burnt, [], f"reference {path}")

    return read, table


# ---------------------------------------------------------------------------------------------------
# Class matching
# ---------------------------------------------------------------------------------------------------


def _complete(table: ClassTable, values: set[int], side: str, notes: list[str]) -> ClassTable:
    """Add the values found in the data but missing from the table, named '<side> value N'."""
    missing = sorted(values - set(table.ids))
    if not missing:
        return table
    _warn(notes, f"{side} values {missing} have no class name; reported as '{side} value N'")
    extra = [ClassInfo(v, f"{side} value {v}", default_colour(v)) for v in missing]
    return ClassTable([*table, *extra])


def _keyed(table: ClassTable, side: str) -> dict[str, ClassInfo]:
    keyed: dict[str, ClassInfo] = {}
    for c in table:
        if _name_key(c.name) in keyed:
            raise DataError(f"the {side} class table has two classes named like {c.name!r}")
        keyed[_name_key(c.name)] = c
    return keyed


def _match_by_name(
    ref_table: ClassTable, map_table: ClassTable, ref_values: set[int], map_values: set[int], notes: list[str]
) -> list[MatchedClass]:
    ref_t = _complete(ref_table, ref_values, "reference", notes)
    map_t = _complete(map_table, map_values, "map", notes)
    map_by_key = _keyed(map_t, "map")
    _keyed(ref_t, "reference")
    classes = []
    for c in ref_t:
        hit = map_by_key.pop(_name_key(c.name), None)
        classes.append(MatchedClass(c.id, c.name, c.id, hit.id if hit else None))
    if not any(c.map_value is not None for c in classes):
        raise DataError(
            f"no class name of the map ({', '.join(map_t.names)}) is in the reference "
            f"({', '.join(ref_t.names)}); check the class tables"
        )
    used = {c.id for c in classes}
    next_id = max(used | set(map_t.ids)) + 1
    for c in sorted(map_by_key.values(), key=lambda info: info.id):
        uid = c.id
        if uid in used:  # the map's id is taken by another reference class: give it a fresh one
            uid, next_id = next_id, next_id + 1
        used.add(uid)
        classes.append(MatchedClass(uid, c.name, None, c.id))
    unmatched = [c.name for c in classes if c.reference_value is None]
    if unmatched:
        LOG.info("map classes not in the reference's table (absent from reference): %s", ", ".join(unmatched))
    return sorted(classes, key=lambda c: c.id)


def _match_by_id(
    ref_table: ClassTable | None, map_table: ClassTable | None, ref_values: set[int], map_values: set[int]
) -> list[MatchedClass]:
    ids = set(ref_values) | set(map_values)
    names: dict[int, str] = {}
    for table in (map_table, ref_table):  # the reference's names win
        if table is not None:
            ids |= set(table.ids)
            names.update({c.id: c.name for c in table})
    return [MatchedClass(i, names.get(i, f"class {i}"), i, i) for i in sorted(ids)]


def _has_names(table: ClassTable | None) -> TypeGuard[ClassTable]:
    """True when the table names its classes (not only the placeholders 'class <id>')."""
    return table is not None and any(c.name != f"class {c.id}" for c in table)


def match_classes(
    ref_table: ClassTable | None,
    map_table: ClassTable | None,
    ref_values: set[int],
    map_values: set[int],
    notes: list[str],
) -> tuple[list[MatchedClass], str]:
    """Match the classes of reference and map by name, or by id when either side has no names.

    Args:
        ref_table: the reference's class table (None: ids only).
        map_table: the map's class table (None: ids only).
        ref_values: pixel values seen in the reference (evaluated pixels).
        map_values: pixel values seen in the map (evaluated pixels).
        notes: warnings are appended here (and logged).

    Returns:
        The classes sorted by report id, and "name" or "id".
    """
    if _has_names(ref_table) and _has_names(map_table):
        return _match_by_name(ref_table, map_table, ref_values, map_values, notes), "name"
    side = "the map" if not _has_names(map_table) else "the reference"
    _warn(notes, f"{side} has no class names; classes are matched by id")
    return _match_by_id(ref_table, map_table, ref_values, map_values), "id"


def _matrix(classes: list[MatchedClass], pairs: Mapping[tuple[int, int], int]) -> np.ndarray:
    rows = {c.reference_value: i for i, c in enumerate(classes) if c.reference_value is not None}
    cols = {c.map_value: i for i, c in enumerate(classes) if c.map_value is not None}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for (ref_value, map_value), n in pairs.items():
        matrix[rows[ref_value], cols[map_value]] += n
    return matrix


# ---------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------


def load_class_table(path: str | Path) -> ClassTable:
    """A class table from a scene or model folder, their scene.json / model.json, or a JSON list.

    Raises:
        InputNotFoundError: the path does not exist.
        DataError: no class table in it.
    """
    source = Path(path)
    if source.is_dir():
        candidates = [source / "scene.json", source / "model.json"]
        source = next((p for p in candidates if p.exists()), candidates[0])
    if not source.exists():
        raise InputNotFoundError(f"class table {source} does not exist")
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{source} is not readable JSON: {exc}") from exc
    items = data.get("classes") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise DataError(f"{source} holds no class table (a 'classes' list of id/name entries)")
    try:
        return ClassTable.from_json(items)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{source} holds no valid class table ({exc!r}); give id/name entries") from exc


def _count_pairs(
    map_src: Any, map_nodata: Sequence[float | None], read_reference: LabelReader, grid: Grid, block: int
) -> tuple[Counter[tuple[int, int]], int]:
    """Counts of (reference value, map value) over pixels valid in both, and labelled pixels lost to
    map nodata."""
    pairs: Counter[tuple[int, int]] = Counter()
    lost = 0
    for window in _windows(grid.width, grid.height, block):
        reference = read_reference(window)
        labelled = reference > 0
        if not labelled.any():
            continue
        predicted = class_ids(map_src.read(1, window=window), map_nodata, "the map")
        valid = labelled & (predicted > 0)
        lost += int(np.count_nonzero(labelled & ~valid))
        keys = reference[valid] * (MAX_CLASS_ID + 1) + predicted[valid]
        for key, n in zip(*np.unique(keys, return_counts=True), strict=True):
            pairs[divmod(int(key), MAX_CLASS_ID + 1)] += int(n)
    return pairs, lost


def evaluate_map(
    map_path: str | Path,
    reference: str | Path,
    field: str | None = None,
    nodata: float | None = None,
    *,
    all_touched: bool = False,
    map_classes: ClassTable | None = None,
    mat_keys: Sequence[str] = (),
    block_size: int = BLOCK_SIZE,
) -> EvaluationResult:
    """Accuracy of a classification map against a reference.

    Args:
        map_path: the classification map (one band of class ids; 0 and its nodata are left out).
        reference: a prepared scene folder (its test labels), a label raster, a vector file, or a .mat
            file holding a 2-D label array of the map's shape (0 = unlabelled; no georeference).
        field: the attribute of a vector reference holding class names or ids.
        nodata: a map value to leave out besides the map's own nodata and 0.
        all_touched: rasterise vector references with every touched pixel (GDAL ALL_TOUCHED).
        map_classes: the map's class table when it has no `.aux.xml` (from the model or scene).
        mat_keys: variables to read from a .mat reference (`--mat-key`); the first one it holds is used.
        block_size: window size of the block-wise read.

    Returns:
        The matched classes, the metrics and any warnings.

    Raises:
        InputNotFoundError, DataError, CfiptUsageError: with one line saying what to do.
    """
    map_file, ref_path = Path(map_path), Path(reference)
    if not ref_path.exists():
        raise InputNotFoundError(f"reference {ref_path} does not exist")
    kind = reference_kind(ref_path, field, mat_keys)
    notes: list[str] = []
    mat_key: str | None = None
    with contextlib.ExitStack() as stack:
        map_src = _open_raster(map_file, "map", stack)
        grid = Grid(map_src.crs, map_src.transform, map_src.width, map_src.height)
        map_table = map_classes or ClassTable.from_aux_xml(map_file)
        read_reference: LabelReader
        ref_table: ClassTable | None
        if kind == "scene":
            read_reference, ref_table = _scene_reader(ref_path, grid, notes, stack)
        elif kind == "mat":  # a benchmark label array: no class names, so classes are matched by id
            read_reference, mat_key = _mat_reader(ref_path, mat_keys, grid, notes, stack)
            ref_table = None
        elif kind == "vector" and field is not None:
            read_reference, ref_table = _vector_reader(ref_path, field, grid, map_table, all_touched, notes)
        else:
            read_reference = _raster_reader(ref_path, grid, "reference", notes, stack)
            ref_table = ClassTable.from_aux_xml(ref_path)
        pairs, lost = _count_pairs(map_src, [map_src.nodata, nodata], read_reference, grid, block_size)
    if isinstance(read_reference, _SceneLabels) and read_reference.training_pixels_dropped:
        n = read_reference.training_pixels_dropped
        _warn(notes, f"{n} test pixels of {ref_path} are also training pixels; left out")
    if not pairs:
        raise DataError(
            f"no labelled pixel of {ref_path} falls on a valid pixel of {map_file}; nothing to evaluate"
        )
    if lost:
        _warn(notes, f"{lost} labelled reference pixels are nodata in the map; left out")
    ref_values = {r for r, _ in pairs}
    map_values = {m for _, m in pairs}
    classes, mode = match_classes(ref_table, map_table, ref_values, map_values, notes)
    metrics = accuracy_metrics(_matrix(classes, pairs))
    return EvaluationResult(
        map_file, ref_path, kind, field, mode, classes, metrics, lost, notes, reference_mat_key=mat_key
    )


# ---------------------------------------------------------------------------------------------------
# Summary over runs
# ---------------------------------------------------------------------------------------------------


def _stat(values: Sequence[float | None]) -> dict[str, Any]:
    mean, std, n = mean_std([v for v in values if v is not None], ddof=SUMMARY_DDOF)
    return {"mean": _finite(mean), "std": _finite(std), "n": n}


def check_class_tables(paths: Sequence[str | Path], reports: Sequence[Mapping[str, Any]]) -> None:
    """Refuse reports whose class tables disagree: one class id with two names (compared as class
    matching does, ignoring case and repeated blanks). A class that only some reports list is fine (a
    class one seed never predicted, a stray map value); averaging runs of other class tables is not.

    Raises:
        DataError: the first report, in the given order, naming a class id differently from an earlier one.
    """
    first: dict[int, tuple[str, str | Path]] = {}
    for path, report in zip(paths, reports, strict=True):
        for c in report["classes"]:
            class_id, name = int(c["id"]), str(c["name"])
            seen_name, seen_path = first.setdefault(class_id, (name, path))
            if _name_key(seen_name) != _name_key(name):
                raise DataError(
                    f"report {path} names class {class_id} {name!r} but {seen_path} names it {seen_name!r}; "
                    "--summary averages runs that share one class table"
                )


def summarise_runs(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Mean and standard deviation (sample, n - 1) of every metric over several runs' JSON reports.

    Per-class figures are matched by class name across runs; a class absent from the reference of a
    run does not count in that run for any figure (`runs` says how many runs count; each figure's `n`
    how many of them define it, fewer for UA when a run never predicted the class). The runs must share their class
    table (`check_class_tables`).

    Raises:
        CfiptUsageError: no report given.
        CfiptUsageError: also when one report file is given twice (`report_schema.read_reports`).
        InputNotFoundError, DataError: a report is missing, not a cfipt evaluation report or has a bad
            key (`report_schema.check_report`), or the reports' class tables differ.
    """
    if not paths:
        raise CfiptUsageError("--summary needs at least one JSON report")
    reports = read_reports(paths)  # checked key by key, each file once
    check_class_tables(paths, reports)
    per_class: dict[str, dict[str, Any]] = {}
    for report in reports:
        for c in report["classes"]:
            entry = per_class.setdefault(
                _name_key(c["name"]),
                {"id": c["id"], "name": c["name"], "producer_accuracy": [], "user_accuracy": [], "f1": []},
            )
            # A run whose reference lacks the class does not count for any of its figures (its UA and F1
            # would only say the class was predicted there), so PA, UA and F1 average the same runs.
            if not c.get("in_reference", c.get("producer_accuracy") is not None):
                continue
            for metric in ("producer_accuracy", "user_accuracy", "f1"):
                entry[metric].append(c.get(metric))
    classes = [
        {
            "id": e["id"],
            "name": e["name"],
            "runs": len(e["f1"]),
            **{m: _stat(e[m]) for m in ("producer_accuracy", "user_accuracy", "f1")},
        }
        for e in sorted(per_class.values(), key=lambda e: (e["id"], e["name"]))
    ]
    return {
        "format": SUMMARY_FORMAT,
        "format_version": FORMAT_VERSION,
        "cfipt_version": __version__,
        "created": utc_now(),
        "runs": [str(p) for p in paths],
        "n_runs": len(reports),
        "std_ddof": SUMMARY_DDOF,
        **{m: _stat([r.get(m) for r in reports]) for m in ("overall_accuracy", "average_accuracy", "kappa")},
        "classes": classes,
    }
