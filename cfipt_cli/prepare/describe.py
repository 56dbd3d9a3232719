"""What a prepare run records: its scene.json description (`SceneDescription`) and its summary."""

from __future__ import annotations

from typing import Any

import numpy as np
import rasterio

from cfipt_cli.contracts.scene import (
    BandStatistics,
    LabelInput,
    RasterInput,
    SceneBand,
    SceneDescription,
    SplitRecord,
    TrainTest,
)
from cfipt_cli.io.classes import ClassTable
from cfipt_cli.io.files import sha256_file
from cfipt_cli.io.rasters import RasterSource, crs_label
from cfipt_cli.prepare.inputs import OpenedInputs
from cfipt_cli.prepare.labels import LabelSource, VectorLabels
from cfipt_cli.prepare.merged_labels import label_parts
from cfipt_cli.prepare.request import CheckedRequest
from cfipt_cli.prepare.split import SplitResult
from cfipt_cli.prepare.stack import PassResult


def _raster_input(role: str, source: RasterSource, resampling: str) -> RasterInput:
    nodata, grid = source.nodata, source.grid
    return RasterInput(
        role=role,
        path=str(source.path.resolve()),
        sha256=sha256_file(source.path),
        format=source.kind,
        mat_key=source.mat.key if source.mat is not None else None,
        bands=source.count,
        width=grid.width,
        height=grid.height,
        dtype=str(source.dtype),
        crs=grid.crs.to_wkt() if grid.crs else None,
        resolution=grid.resolution() if grid.crs else None,
        nodata=None if nodata is None else ("nan" if np.isnan(nodata) else nodata),
        resampling=resampling,
    )


def _label_input(role: str, labels: LabelSource, checked: CheckedRequest) -> LabelInput:
    vector = isinstance(labels, VectorLabels)
    options = checked.request.labels
    return LabelInput(
        role=role,
        path=str(labels.path.resolve()),
        sha256=sha256_file(labels.path),
        format=labels.kind,
        field=labels.field if isinstance(labels, VectorLabels) else None,
        all_touched=options.all_touched if vector else None,
        resampling="rasterize" if vector else "nearest",
    )


def _sources(inputs: OpenedInputs, checked: CheckedRequest) -> tuple[RasterInput | LabelInput, ...]:
    """The `sources` entries: the HSI, the auxiliary rasters, then the labels."""
    sources: list[RasterInput | LabelInput] = [_raster_input("hsi", inputs.hsi, "none")]
    for a in inputs.aux:
        used = "none" if a.aligned.direct else checked.resampling.name
        sources.append(_raster_input(a.role, a.source, used))
    if inputs.labels is not None:  # one entry per --labels file
        sources += [_label_input("labels", part, checked) for part in label_parts(inputs.labels)]
    if inputs.test_labels is not None:
        sources.append(_label_input("test_labels", inputs.test_labels, checked))
    return tuple(sources)


def _bands(inputs: OpenedInputs) -> tuple[SceneBand, ...]:
    file_of_band = [0] * inputs.hsi.count + [
        k for k, a in enumerate(inputs.aux, start=1) for _ in range(a.source.count)
    ]
    return tuple(
        SceneBand(i, role, band, f"{role}:{n}", file_of_band[i - 1])
        for i, (role, n, band) in enumerate(inputs.band_descriptions(), start=1)
    )


def _split_record(checked: CheckedRequest, inputs: OpenedInputs, split: SplitResult) -> SplitRecord:
    params = checked.request.split
    return SplitRecord(
        mode=params.mode,
        train_per_class=params.train_per_class,
        seed=params.seed,
        patch_size=params.patch_size,
        block_size=params.block_size if params.mode == "blocks" else None,
        test_labels=str(inputs.test_labels.path.resolve()) if inputs.test_labels is not None else None,
        excluded=split.excluded,
        small_classes={str(c): {"labelled": n, "train": k} for c, (n, k) in split.small_classes.items()},
    )


def describe_scene(
    checked: CheckedRequest, inputs: OpenedInputs, result: PassResult, table: ClassTable, split: SplitResult
) -> SceneDescription:
    """The scene.json description of a prepared scene."""
    grid = inputs.grid
    counts = split.counts(table.ids)
    return SceneDescription(
        width=grid.width,
        height=grid.height,
        crs=grid.crs.to_wkt() if grid.crs is not None else None,
        transform=tuple(grid.transform)[:6],
        bands=_bands(inputs),
        sources=_sources(inputs, checked),
        valid_pixels=result.valid_pixels,
        classes=table,
        counts=TrainTest(counts["train"], counts["test"]),
        labels_on_nodata=TrainTest(result.train.on_nodata, result.test.on_nodata),
        split=_split_record(checked, inputs, split),
        statistics=BandStatistics.from_json(result.stats.to_json()),
    )


def summarise(description: SceneDescription, split: SplitResult) -> dict[str, Any]:
    """The summary `cfipt prepare` prints: size, CRS, bands, valid pixels, per-class train/test counts."""
    counts, roles, crs = description.counts, description.band_roles(), description.crs
    return {
        "width": description.width,
        "height": description.height,
        "crs": crs_label(rasterio.crs.CRS.from_wkt(crs)) if crs else crs_label(None),
        "bands": {k: roles[k] for k in ("hsi", "lidar", "sar")},
        "valid_pixels": description.valid_pixels,
        "total_pixels": description.width * description.height,
        "split": description.split.mode,
        "seed": description.split.seed,
        "train_per_class": description.split.train_per_class,
        "test_labels": description.split.test_labels,
        "classes": [
            {"id": c.id, "name": c.name, "train": counts.train[str(c.id)], "test": counts.test[str(c.id)]}
            for c in description.classes
        ],
        "train_pixels": int(split.train_index.size),
        "test_pixels": int(split.test_index.size),
        "excluded": split.excluded,
    }
