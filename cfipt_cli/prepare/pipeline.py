"""`cfipt prepare` as a library function: rasters + labels -> a scene folder (see `cfipt_cli.contracts.scene`).

Everything scene-sized goes window by window: each window of the HSI grid is read, every auxiliary
source is warped onto it, the valid mask (valid in every band of every source) and the streaming
per-band statistics are updated, and the window is written. Only the labelled pixels (flat indices and
class ids) are kept in memory for the split. The folder is written under a temporary name beside the
target and renamed at the end.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

from cfipt_cli import __version__
from cfipt_cli.contracts.scene import (
    MASK_NAME,
    META_NAME,
    SCENE_FORMAT,
    SCENE_FORMAT_VERSION,
    STACK_NAME,
    TEST_LABELS_NAME,
    TRAIN_LABELS_NAME,
)
from cfipt_cli.errors import CfiptUsageError, DataError, InputNotFoundError
from cfipt_cli.io import outputs as policy
from cfipt_cli.io.atomic import atomic_dir
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.coreg import AlignedSource, align, parse_resampling
from cfipt_cli.io.creation_options import (
    LOSSLESS_CODECS,
    lossy_options,
    probe_creation_options,
    validate_creation_options,
)
from cfipt_cli.io.files import sha256_file, utc_now
from cfipt_cli.io.gtiff import class_map_dtype, geotiff_profile
from cfipt_cli.io.rasters import (
    DEFAULT_WINDOW,
    Grid,
    RasterSource,
    RunningStats,
    crs_label,
    iter_windows,
    open_raster,
    window_slices,
)
from cfipt_cli.log import get_logger
from cfipt_cli.prepare.labels import LabelSource, build_class_table, is_vector, open_labels, read_class_names
from cfipt_cli.prepare.split import SplitParams, SplitResult, split_pixels

log = get_logger(__name__)

GDAL_CACHE_MB = 256  # bounds GDAL's block cache (its default is 5 % of RAM)
TILE = 256
STACK_OPTIONS = {
    "TILED": "YES",
    "BLOCKXSIZE": str(TILE),
    "BLOCKYSIZE": str(TILE),
    "COMPRESS": "DEFLATE",
    "PREDICTOR": "3",
    "BIGTIFF": "IF_SAFER",
    "INTERLEAVE": "PIXEL",
}
SMALL_OPTIONS = {"TILED": "YES", "BLOCKXSIZE": str(TILE), "BLOCKYSIZE": str(TILE), "COMPRESS": "DEFLATE"}


@dataclass
class _Aux:
    role: str
    source: RasterSource
    aligned: AlignedSource


@dataclass
class _LabelPixels:
    """Labelled pixels met in the windowed pass: valid ones kept, the rest counted."""

    index: list[np.ndarray] = field(default_factory=list)
    classes: list[np.ndarray] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    on_nodata: int = 0

    def add(self, labels: np.ndarray, valid: np.ndarray, row_off: int, col_off: int, width: int) -> None:
        labelled = labels > 0
        self.seen.update(np.unique(labels[labelled]).tolist())
        self.on_nodata += int(np.sum(labelled & ~valid))
        rows, cols = np.nonzero(labelled & valid)
        self.index.append((rows + row_off).astype(np.int64) * width + (cols + col_off))
        self.classes.append(labels[rows, cols].astype(np.uint16))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.index:
            return np.zeros(0, np.int64), np.zeros(0, np.uint16)
        return np.concatenate(self.index), np.concatenate(self.classes)


@dataclass
class _PassResult:
    stats: RunningStats
    band_valid: np.ndarray
    valid_pixels: int
    train: _LabelPixels
    test: _LabelPixels


# ---------------------------------------------------------------------------------------------- checks
def _existing(paths: Sequence[tuple[str, str | Path | None]]) -> None:
    for what, path in paths:
        if path is not None and not Path(path).exists():
            raise InputNotFoundError(f"{what} {path} does not exist")


def _refuse_lossy_stack(creation: dict[str, str]) -> None:
    """Usage error for `--co` options that would store other values than those the statistics describe."""
    lossy = lossy_options(creation, "float32")
    if lossy:
        raise CfiptUsageError(
            f"--co {' '.join(lossy)} is lossy for {STACK_NAME} (float32): the stored values would differ "
            f"from those scene.json's statistics describe; use a lossless COMPRESS "
            f"({', '.join(LOSSLESS_CODECS)}, or LERC with MAX_Z_ERROR=0)"
        )


def _check_options(
    lidar: Sequence[Any], sar: Sequence[Any], labels: Any, test_labels: Any, window: int
) -> None:
    if not lidar and not sar:
        raise CfiptUsageError("give at least one auxiliary source with --lidar and/or --sar")
    if test_labels is not None and labels is None:
        raise CfiptUsageError("--test-labels needs --labels (the training labels)")
    if window < 16:
        raise CfiptUsageError("the window size must be at least 16 pixels")


def _probe_stack_options(grid: Grid, n_bands: int, creation: dict[str, str]) -> None:
    """GDAL creates stack.tif with the `--co` options (over STACK_OPTIONS) without complaint, or exit 2."""
    profile = geotiff_profile(grid, n_bands, "float32", float("nan"), {**STACK_OPTIONS, **creation})
    probe_creation_options(profile, creation, f"{STACK_NAME} (float32, {n_bands} bands)")


# ------------------------------------------------------------------------------------------ open inputs
def _open_aux(
    stack: ExitStack,
    grid: Grid,
    role: str,
    paths: Sequence[str | Path],
    nodata: float | None,
    mat_keys: Sequence[str],
    resampling: Resampling,
) -> list[_Aux]:
    out = []
    for path in paths:
        source = open_raster(path, role, nodata, mat_keys)
        stack.callback(source.close)
        out.append(_Aux(role, source, align(source, grid, resampling)))
    return out


def _name_map(user_table: ClassTable | None, train: LabelSource | None) -> dict[str, int] | None:
    if user_table is not None:
        return {c.name: c.id for c in user_table}
    return {name: i for i, name in train.names.items()} if train is not None else None


def _source_entry(role: str, source: RasterSource, resampling: str) -> dict[str, Any]:
    nodata = source.nodata
    return {
        "role": role,
        "path": str(source.path.resolve()),
        "sha256": sha256_file(source.path),
        "format": source.kind,
        "mat_key": source.mat.key if source.mat is not None else None,
        "bands": source.count,
        "width": source.grid.width,
        "height": source.grid.height,
        "dtype": str(source.dtype),
        "crs": source.grid.crs.to_wkt() if source.grid.crs else None,
        "resolution": list(source.grid.resolution()) if source.grid.crs else None,
        "nodata": None if nodata is None else ("nan" if np.isnan(nodata) else nodata),
        "resampling": resampling,
    }


def _label_entry(role: str, labels: LabelSource, field_name: str | None, all_touched: bool) -> dict[str, Any]:
    vector = labels.kind == "vector"
    return {
        "role": role,
        "path": str(labels.path.resolve()),
        "sha256": sha256_file(labels.path),
        "format": labels.kind,
        "field": field_name if vector else None,
        "all_touched": all_touched if vector else None,
        "resampling": "rasterize" if vector else "nearest",
    }


# ---------------------------------------------------------------------------------------- windowed pass
def _band_descriptions(n_hsi: int, aux: Sequence[_Aux]) -> list[tuple[str, int, int]]:
    """(role, number within the role, band within its file) per stack band."""
    bands = [("hsi", i, i) for i in range(1, n_hsi + 1)]
    per_role: dict[str, int] = {}
    for item in aux:
        for b in range(1, item.source.count + 1):
            per_role[item.role] = per_role.get(item.role, 0) + 1
            bands.append((item.role, per_role[item.role], b))
    return bands


def _windowed_pass(
    folder: Path,
    grid: Grid,
    hsi: AlignedSource,
    aux: Sequence[_Aux],
    labels: LabelSource | None,
    test_labels: LabelSource | None,
    window_size: int,
    creation: dict[str, str],
    progress: bool,
) -> _PassResult:
    bands = _band_descriptions(hsi.count, aux)
    stats = RunningStats(len(bands))
    band_valid = np.zeros(len(bands), dtype=np.int64)
    train, test = _LabelPixels(), _LabelPixels()
    windows = list(iter_windows(grid.height, grid.width, window_size))
    stack_profile = geotiff_profile(grid, len(bands), "float32", float("nan"), {**STACK_OPTIONS, **creation})
    mask_profile = geotiff_profile(grid, 1, "uint8", None, SMALL_OPTIONS)
    with (
        rasterio.open(folder / STACK_NAME, "w", **stack_profile) as stack_ds,
        rasterio.open(folder / MASK_NAME, "w", **mask_profile) as mask_ds,
    ):
        for i, (role, number, _) in enumerate(bands, start=1):
            stack_ds.set_band_description(i, f"{role}:{number}")
        mask_ds.set_band_description(1, "valid")
        for window in _progress(windows, progress):
            block = np.concatenate([hsi.read(window), *(a.aligned.read(window) for a in aux)], axis=0)
            finite = np.isfinite(block)
            band_valid += finite.sum(axis=(1, 2))
            valid = finite.all(axis=0)
            block[:, ~valid] = np.nan
            stack_ds.write(block, window=window)
            mask_ds.write(valid.astype(np.uint8)[None], window=window)
            stats.update(block, valid)
            row_off, col_off, _, _ = window_slices(window)
            for pixels, source in ((train, labels), (test, test_labels)):
                if source is not None:
                    pixels.add(source.read(window), valid, row_off, col_off, grid.width)
    return _PassResult(stats, band_valid, stats.count, train, test)


def _progress(windows: list[Any], enabled: bool) -> Any:
    if not enabled:
        return windows
    from tqdm import tqdm

    return tqdm(windows, desc="prepare", unit="window", leave=False)


def _check_valid_data(result: _PassResult, descriptions: list[str]) -> None:
    empty = [d for d, n in zip(descriptions, result.band_valid.tolist(), strict=True) if n == 0]
    if empty:
        raise DataError(
            f"band(s) {', '.join(empty)} hold no valid pixel (all nodata); drop them or fix the nodata value"
        )
    if result.valid_pixels == 0:
        raise DataError(
            "no pixel is valid in every source (their valid areas do not overlap); check the inputs"
        )


# --------------------------------------------------------------------------------------- classes, split
def _class_table(
    labels: LabelSource, pixels: _LabelPixels, classes: np.ndarray, user_table: ClassTable | None
) -> ClassTable:
    present = {int(c) for c in np.unique(classes)}
    declared = labels.declared_ids()
    expected = declared if declared is not None else pixels.seen
    missing = sorted(expected - present)
    if missing:
        names = build_class_table(missing, labels.names, user_table)
        listed = ", ".join(f"{c.name!r} (id {c.id})" for c in names)
        raise DataError(
            f"class(es) {listed} have no labelled pixel inside the valid footprint of the scene; "
            "remove them from the labels or check their position and CRS"
        )
    if pixels.on_nodata:
        log.warning("%d labelled pixels fall on nodata pixels and are ignored", pixels.on_nodata)
    return build_class_table(sorted(present), labels.names, user_table)


def _test_pixels(pixels: _LabelPixels, table: ClassTable) -> tuple[np.ndarray, np.ndarray]:
    index, classes = pixels.arrays()
    known = np.isin(classes, table.ids)
    if not np.all(known):
        extra = sorted({int(c) for c in np.unique(classes[~known])})
        log.warning("test labels hold class ids %s that the training labels lack; they are ignored", extra)
    if pixels.on_nodata:
        log.warning("%d test pixels fall on nodata pixels and are ignored", pixels.on_nodata)
    return index[known], classes[known]


def _write_labels(
    path: Path, grid: Grid, index: np.ndarray, classes: np.ndarray, table: ClassTable, window_size: int
) -> None:
    """A label raster written window by window from sorted flat indices; colour map and category names."""
    dtype = class_map_dtype(table.max_id)
    order = np.argsort(index, kind="stable")
    index, classes = index[order], classes[order]
    with rasterio.open(path, "w", **geotiff_profile(grid, 1, dtype, 0, SMALL_OPTIONS)) as dst:
        dst.write_colormap(1, table.colormap())
        for window in iter_windows(grid.height, grid.width, window_size):
            row_off, col_off, height, width = window_slices(window)
            lo, hi = np.searchsorted(index, [row_off * grid.width, (row_off + height) * grid.width])
            rows, cols = np.divmod(index[lo:hi], grid.width)
            inside = (cols >= col_off) & (cols < col_off + width)
            block = np.zeros((height, width), dtype=dtype)
            block[rows[inside] - row_off, cols[inside] - col_off] = classes[lo:hi][inside]
            dst.write(block[None], window=window)
    if len(table):
        table.write_aux_xml(path)


# ------------------------------------------------------------------------------------------- the driver
def prepare_scene(
    hsi: str | Path,
    *,
    lidar: Sequence[str | Path] = (),
    sar: Sequence[str | Path] = (),
    labels: str | Path | None = None,
    label_field: str | None = None,
    test_labels: str | Path | None = None,
    out: str | Path = "scene",
    train_per_class: int = 40,
    seed: int = 0,
    split: str = "random",
    patch_size: int = 11,
    block_size: int = 64,
    all_touched: bool = False,
    resampling: str = "bilinear",
    hsi_nodata: float | None = None,
    lidar_nodata: float | None = None,
    sar_nodata: float | None = None,
    class_names: str | Path | None = None,
    mat_keys: Sequence[str] = (),
    creation_options: dict[str, str] | None = None,
    overwrite: bool = False,
    window_size: int = DEFAULT_WINDOW,
    progress: bool = False,
) -> dict[str, Any]:
    """Co-register the sources onto the HSI grid, rasterise and split the labels, write a scene folder.

    Args:
        hsi: hyperspectral raster (GDAL raster or .mat); its grid is the scene grid.
        lidar, sar: auxiliary rasters (at least one in all), warped onto the HSI grid.
        labels: training labels: vector layer (needs `label_field`) or label raster (0 = unlabelled).
        label_field: attribute of a vector layer holding class names or integer ids.
        test_labels: an independent test set (same kind of input); None tests on the other labelled pixels.
        out: the scene folder to write.
        train_per_class, seed, split, patch_size, block_size: the split (see `cfipt_cli.prepare.split`).
        all_touched: rasterise every pixel a polygon touches.
        resampling: resampling of the auxiliary sources (a rasterio Resampling name).
        hsi_nodata, lidar_nodata, sar_nodata: override the files' nodata values.
        class_names: CSV/JSON file of class ids, names and colours.
        mat_keys: variable names to use in .mat inputs (first match per file).
        creation_options: GDAL creation options for stack.tif (override the defaults).
        overwrite: replace an existing `out`.
        window_size: side of the processing windows in pixels.
        progress: show a progress bar on stderr.

    Returns:
        A summary: output folder, size, CRS, band counts, valid pixels, per-class train/test counts.

    Raises:
        CfiptUsageError: contradictory or out-of-range options (exit 2).
        InputNotFoundError, DataError, OutputExistsError: see the README section "Bad input".
    """
    params = SplitParams(split, train_per_class, seed, patch_size, block_size)
    params.validate()
    _check_options(lidar, sar, labels, test_labels, window_size)
    creation = validate_creation_options(creation_options)
    _refuse_lossy_stack(creation)
    aux_resampling = parse_resampling(resampling)
    named = [
        ("HSI", hsi),
        *(("LiDAR", p) for p in lidar),
        *(("SAR", p) for p in sar),
        ("labels", labels),
        ("test labels", test_labels),
        ("class-names file", class_names),
    ]
    _existing(named)
    # Over an input is a usage error with or without --overwrite, so it comes before "already exists".
    out_path = Path(out)
    policy.check_outputs(
        [policy.Output(out_path, "--out", policy.SCENE)],
        [(what, p) for what, p in named if p is not None],
        overwrite,
    )
    user_table = read_class_names(class_names) if class_names is not None else None
    with policy.locked_outputs([out_path]), ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB))
        hsi_source = open_raster(hsi, "hsi", hsi_nodata, mat_keys)
        stack.callback(hsi_source.close)
        grid = hsi_source.grid
        aux = [
            *_open_aux(stack, grid, "lidar", lidar, lidar_nodata, mat_keys, aux_resampling),
            *_open_aux(stack, grid, "sar", sar, sar_nodata, mat_keys, aux_resampling),
        ]
        train_src = _open_label_source(
            stack, labels, grid, label_field, all_touched, user_table, None, mat_keys
        )
        test_src = _open_label_source(
            stack, test_labels, grid, label_field, all_touched, user_table, train_src, mat_keys
        )
        context = _Context(
            grid,
            hsi_source,
            aux,
            train_src,
            test_src,
            label_field,
            all_touched,
            params,
            aux_resampling.name,
            window_size,
        )
        _probe_stack_options(grid, len(_band_descriptions(hsi_source.count, aux)), creation)
        with atomic_dir(out_path, overwrite) as folder:
            summary = _build_scene(folder, context, user_table, creation, progress)
    summary["out"] = str(out_path)
    return summary


def _open_label_source(
    stack: ExitStack,
    path: str | Path | None,
    grid: Grid,
    label_field: str | None,
    all_touched: bool,
    user_table: ClassTable | None,
    train: LabelSource | None,
    mat_keys: Sequence[str],
) -> LabelSource | None:
    if path is None:
        return None
    is_test = train is not None
    if not is_vector(path) and label_field and not is_test:
        log.info("--label-field is ignored for the label raster %s", path)
    name_map = _name_map(user_table, train) if is_test else _name_map(user_table, None)
    source = open_labels(
        path, grid, label_field, all_touched, name_map, strict=not is_test, mat_keys=mat_keys
    )
    stack.callback(source.close)
    return source


@dataclass
class _Context:
    grid: Grid
    hsi: RasterSource
    aux: list[_Aux]
    labels: LabelSource | None
    test_labels: LabelSource | None
    label_field: str | None
    all_touched: bool
    params: SplitParams
    resampling: str
    window_size: int


def _build_scene(
    folder: Path, ctx: _Context, user_table: ClassTable | None, creation: dict[str, str], progress: bool
) -> dict[str, Any]:
    hsi_aligned = align(ctx.hsi, ctx.grid)
    result = _windowed_pass(
        folder,
        ctx.grid,
        hsi_aligned,
        ctx.aux,
        ctx.labels,
        ctx.test_labels,
        ctx.window_size,
        creation,
        progress,
    )
    bands = _band_descriptions(ctx.hsi.count, ctx.aux)
    _check_valid_data(result, [f"{role}:{n}" for role, n, _ in bands])
    table = ClassTable([])
    no_index, no_class = np.zeros(0, np.int64), np.zeros(0, np.uint16)
    split = SplitResult(no_index, no_class, no_index, no_class)
    if ctx.labels is not None:
        index, classes = result.train.arrays()
        table = _class_table(ctx.labels, result.train, classes, user_table)
        test = _test_pixels(result.test, table) if ctx.test_labels is not None else (None, None)
        split = split_pixels(index, classes, ctx.grid.width, ctx.params, *test)
    _write_labels(
        folder / TRAIN_LABELS_NAME, ctx.grid, split.train_index, split.train_class, table, ctx.window_size
    )
    _write_labels(
        folder / TEST_LABELS_NAME, ctx.grid, split.test_index, split.test_class, table, ctx.window_size
    )
    meta = _scene_meta(ctx, result, table, split, bands)
    (folder / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return _summary(meta, table, split)


def _scene_meta(
    ctx: _Context,
    result: _PassResult,
    table: ClassTable,
    split: SplitResult,
    bands: list[tuple[str, int, int]],
) -> dict[str, Any]:
    grid, params = ctx.grid, ctx.params
    sources = [_source_entry("hsi", ctx.hsi, "none")]
    for a in ctx.aux:
        sources.append(_source_entry(a.role, a.source, "none" if a.aligned.direct else ctx.resampling))
    file_of_band = [0] * ctx.hsi.count + [
        k for k, a in enumerate(ctx.aux, start=1) for _ in range(a.source.count)
    ]
    if ctx.labels is not None:
        sources.append(_label_entry("labels", ctx.labels, ctx.label_field, ctx.all_touched))
    if ctx.test_labels is not None:
        sources.append(_label_entry("test_labels", ctx.test_labels, ctx.label_field, ctx.all_touched))
    roles = [role for role, _, _ in bands]
    return {
        "format": SCENE_FORMAT,
        "format_version": SCENE_FORMAT_VERSION,
        "cfipt_version": __version__,
        "created": utc_now(),
        "width": grid.width,
        "height": grid.height,
        "crs": grid.crs.to_wkt() if grid.crs is not None else None,
        "transform": list(grid.transform)[:6],
        "georeferenced": grid.georeferenced,
        "bands": [
            {
                "index": i,
                "source": role,
                "source_band": band,
                "description": f"{role}:{n}",
                "input": file_of_band[i - 1],
            }
            for i, (role, n, band) in enumerate(bands, start=1)
        ],
        "band_roles": {
            "hsi": ctx.hsi.count,
            "aux": len(bands) - ctx.hsi.count,
            "lidar": roles.count("lidar"),
            "sar": roles.count("sar"),
        },
        "sources": sources,
        "nodata": "nan",
        "mask": {"valid_pixels": result.valid_pixels, "total_pixels": grid.width * grid.height},
        "classes": table.to_json(),
        "counts": split.counts(table.ids),
        "labels_on_nodata": {"train": result.train.on_nodata, "test": result.test.on_nodata},
        "split": {
            "mode": params.mode,
            "train_per_class": params.train_per_class,
            "seed": params.seed,
            "patch_size": params.patch_size,
            "block_size": params.block_size if params.mode == "blocks" else None,
            "test_labels": str(ctx.test_labels.path.resolve()) if ctx.test_labels is not None else None,
            "excluded": split.excluded,
            "small_classes": {
                str(c): {"labelled": n, "train": k} for c, (n, k) in split.small_classes.items()
            },
        },
        "statistics": result.stats.to_json(),
    }


def _summary(meta: dict[str, Any], table: ClassTable, split: SplitResult) -> dict[str, Any]:
    counts = meta["counts"]
    return {
        "width": meta["width"],
        "height": meta["height"],
        "crs": crs_label(rasterio.crs.CRS.from_wkt(meta["crs"])) if meta["crs"] else crs_label(None),
        "bands": {k: meta["band_roles"][k] for k in ("hsi", "lidar", "sar")},
        "valid_pixels": meta["mask"]["valid_pixels"],
        "total_pixels": meta["mask"]["total_pixels"],
        "split": meta["split"]["mode"],
        "seed": meta["split"]["seed"],
        "classes": [
            {
                "id": c.id,
                "name": c.name,
                "train": counts["train"][str(c.id)],
                "test": counts["test"][str(c.id)],
            }
            for c in table
        ],
        "train_pixels": int(split.train_index.size),
        "test_pixels": int(split.test_index.size),
        "excluded": split.excluded,
    }
